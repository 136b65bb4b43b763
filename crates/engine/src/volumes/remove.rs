//! `volume rm` and `volume prune`. The record goes first, then the directory: a crash in
//! between leaves a directory without a record, which the next daemon removes.

use super::list::{dir_size, VolumeFilter};
use crate::{Engine, Error, Result};
use std::collections::HashMap;

/// What `volume prune` removed.
#[derive(Debug, Clone, Default)]
pub struct Pruned {
    pub deleted: Vec<String>,
    pub space_reclaimed: i64,
}

impl Engine {
    /// Removes a volume. One in use by any container is refused (409) even with `force`, as
    /// Docker does; `force` only makes a missing volume a success.
    pub fn volume_remove(&self, name: &str, force: bool) -> Result<()> {
        let _g = self.volumes.lock();
        match self.volume_remove_locked(name) {
            Err(Error::NotFound(_)) if force => Ok(()),
            r => r,
        }
    }

    pub(crate) fn volume_remove_locked(&self, name: &str) -> Result<()> {
        if self.volume_record(name)?.is_none() {
            return Err(Error::NotFound(format!("get {name}: no such volume")));
        }
        let users = self.volume_users(name);
        if !users.is_empty() {
            return Err(Error::Conflict(format!(
                "remove {name}: volume is in use - [{}]",
                users.join(", ")
            )));
        }
        self.local_unmount(name);
        let data = self.volume_data(name);
        if crate::util::is_mountpoint(&data) {
            return Err(Error::Conflict(format!(
                "remove {name}: {} is still mounted",
                data.display()
            )));
        }
        self.store.delete(crate::store::VOLUME_TABLE, name)?;
        remove_volume_dir(&self.volume_dir(name));
        self.volume_event(name, "destroy", HashMap::new());
        Ok(())
    }

    /// Removes unused volumes: with API 1.42+ (Docker 23+) only anonymous ones unless
    /// `all=true`; older API versions (`all_by_default`) remove every unused volume, as dockerd
    /// 20.10 did. Filters: `label`, `label!`, `all`.
    pub fn volume_prune(&self, filter: &VolumeFilter, all_by_default: bool) -> Result<Pruned> {
        filter.validate(&["label", "label!", "all"])?;
        let all = filter
            .filters
            .get("all")
            .and_then(|v| v.last())
            .map(|v| v == "true" || v == "1")
            .unwrap_or(all_by_default);
        let mut labels_only = filter.clone();
        labels_only.filters.remove("all");
        let _g = self.volumes.lock();
        let refs = self.volume_ref_counts();
        let mut out = Pruned::default();
        for v in self.volume_records()? {
            if refs.contains_key(&v.name)
                || (!all && !v.is_anonymous())
                || !labels_only.matches(&v, false)
            {
                continue;
            }
            let size = dir_size(&self.volume_data(&v.name));
            match self.volume_remove_locked(&v.name) {
                Ok(()) => {
                    out.deleted.push(v.name.clone());
                    out.space_reclaimed += size;
                }
                Err(e) => tracing::warn!(volume = %v.name, "prune: {e}"),
            }
        }
        if !out.deleted.is_empty() {
            self.events.publish(
                bollard_stubs::models::EventMessageTypeEnum::VOLUME,
                "prune",
                "",
                [("reclaimed".to_string(), out.space_reclaimed.to_string())].into(),
            );
        }
        Ok(out)
    }

    /// `rm -v` and `--rm`: the container's anonymous volumes that no other container uses.
    pub(crate) fn volumes_remove_anonymous(&self, rec: &crate::containers::ContainerRecord) {
        let _g = self.volumes.lock();
        for m in &rec.mount_points {
            if m.name.is_empty() {
                continue;
            }
            let Ok(Some(v)) = self.volume_record(&m.name) else {
                continue;
            };
            if !v.is_anonymous() || !self.volume_users(&m.name).is_empty() {
                continue;
            }
            if let Err(e) = self.volume_remove_locked(&m.name) {
                tracing::warn!(volume = %m.name, "removing an anonymous volume: {e}");
            }
        }
    }
}

/// Removes a volume's directory without ever crossing into a mount (a bind-mounted device
/// must never be emptied): a directory that is still a mount point is left alone.
pub(super) fn remove_volume_dir(dir: &std::path::Path) {
    let data = dir.join("_data");
    if crate::util::is_mountpoint(&data) {
        tracing::error!("not removing {}: still mounted", data.display());
        return;
    }
    if let Err(e) = std::fs::remove_dir_all(dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!("removing {}: {e}", dir.display());
        }
    }
}

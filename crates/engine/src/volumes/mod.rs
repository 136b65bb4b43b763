//! Volumes: Docker's `local` driver and the container mounts built on it.
//!
//! A volume is a directory `<data-root>/volumes/<name>/_data` and a JSON record in the
//! database's `volumes` table. Creation makes the directory first and commits the record last;
//! removal deletes the record first and the directory after; `restore` removes directories that
//! have no record. So a SIGKILL at any point leaves a volume whole or not at all.
//!
//! The local driver's options (`type`, `o`, `device`) are passed to mount(2) on `_data` when
//! the first container using the volume starts, and it is unmounted when the last one stops
//! (Docker's reference count, kept in memory and rebuilt from the running containers at
//! daemon start).
//!
//! Container side ([`mounts`]): `Binds`, `Mounts`, `VolumesFrom` and the image's `VOLUME`s are
//! resolved at create into [`MountPoint`]s stored in the container record (Docker's
//! `MountPoints`); at start each becomes a bind mount from its host source, after the copy-up
//! of the image's content into an empty volume ([`copyup`]), which reads the rootfs with every
//! path resolved inside it.

mod copyup;
pub mod create;
mod list;
mod local;
pub mod mounts;
mod remove;
mod restore;

pub use list::VolumeFilter;
pub use mounts::MountPoint;
pub use remove::Pruned;

use crate::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Mutex;

/// Docker 23+ marks anonymous volumes with this label; prune without `all` removes only them.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// The only driver there is.
pub const LOCAL_DRIVER: &str = "local";

/// A volume as stored.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeRecord {
    pub name: String,
    pub driver: String,
    pub created_at: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The driver options (`type`, `o`, `device`).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

impl VolumeRecord {
    pub fn is_anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }
}

/// The engine's live volume state.
#[derive(Debug, Default)]
pub struct VolumeState {
    /// Serialises volume create/remove with the in-use checks and with container create, so a
    /// volume cannot be removed between a container's resolution of it and its record.
    pub(crate) lock: Mutex<()>,
    /// For volumes with mount options: the containers holding the mount.
    pub(crate) active: Mutex<HashMap<String, HashSet<String>>>,
}

impl VolumeState {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }
    pub(crate) fn active(&self) -> std::sync::MutexGuard<'_, HashMap<String, HashSet<String>>> {
        self.active.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Docker's rule for local volume names.
pub fn valid_name(name: &str) -> bool {
    let mut c = name.chars();
    match c.next() {
        Some(f) if f.is_ascii_alphanumeric() => {}
        _ => return false,
    }
    name.len() >= 2 && c.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// [`valid_name`] with Docker's error messages.
pub fn check_name(name: &str) -> crate::Result<()> {
    if valid_name(name) {
        return Ok(());
    }
    Err(crate::Error::InvalidArgument(if name.len() < 2 {
        format!("create {name}: volume name is too short, names should be at least two alphanumeric characters")
    } else {
        format!("create {name}: {name:?} includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path")
    }))
}

impl Engine {
    pub(crate) fn volumes_root(&self) -> PathBuf {
        self.paths.data_root.join("volumes")
    }
    pub(crate) fn volume_dir(&self, name: &str) -> PathBuf {
        self.volumes_root().join(name)
    }
    /// Where the volume's data is (Docker's `Mountpoint`).
    pub fn volume_data(&self, name: &str) -> PathBuf {
        self.volume_dir(name).join("_data")
    }

    pub(crate) fn volume_record(&self, name: &str) -> crate::Result<Option<VolumeRecord>> {
        self.store.get(crate::store::VOLUME_TABLE, name)
    }

    /// Docker's volume JSON (`docker volume inspect`).
    pub fn volume_json(&self, v: &VolumeRecord) -> Value {
        json!({
            "CreatedAt": v.created_at,
            "Driver": v.driver,
            "Labels": v.labels,
            "Mountpoint": self.volume_data(&v.name),
            "Name": v.name,
            "Options": if v.options.is_empty() { Value::Null } else { json!(v.options) },
            "Scope": "local",
        })
    }

    /// The ids of containers (any state) whose mounts use volume `name`.
    pub(crate) fn volume_users(&self, name: &str) -> Vec<String> {
        self.containers
            .all()
            .iter()
            .map(|c| c.record())
            .filter(|r| r.mount_points.iter().any(|m| m.name == name))
            .map(|r| r.id)
            .collect()
    }

    fn volume_event(&self, name: &str, action: &str, extra: HashMap<String, String>) {
        let mut attrs = extra;
        attrs.insert("driver".into(), LOCAL_DRIVER.into());
        self.events.publish(
            bollard_stubs::models::EventMessageTypeEnum::VOLUME,
            action,
            name,
            attrs,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_docker() {
        assert!(valid_name("data"));
        assert!(valid_name("my_vol.1-a"));
        assert!(!valid_name("a"));
        assert!(!valid_name("-x"));
        assert!(!valid_name("a/b"));
        assert!(!valid_name("../x"));
        assert!(!valid_name(""));
    }
}

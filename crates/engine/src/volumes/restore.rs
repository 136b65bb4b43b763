//! At daemon start: directories of volumes whose record was never committed (a crash inside
//! `volume create`) or whose removal a crash interrupted are removed; the mount references of
//! re-adopted containers are taken again; mounts nobody holds any more are undone.

use crate::Engine;
use std::collections::HashSet;

impl Engine {
    /// Reconciles volumes with the records and the running containers. Runs after the
    /// containers are restored.
    pub(crate) fn volumes_restore(&self) -> crate::Result<()> {
        let root = self.volumes_root();
        std::fs::create_dir_all(&root)
            .map_err(|e| crate::Error::internal(format!("creating {}", root.display()), e))?;
        let recs = self.volume_records()?;
        let names: HashSet<&str> = recs.iter().map(|v| v.name.as_str()).collect();
        if let Ok(rd) = std::fs::read_dir(&root) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if !names.contains(name.as_str()) {
                    tracing::info!(volume = %name, "removing the directory of a volume without a record");
                    self.local_unmount(&name);
                    super::remove::remove_volume_dir(&e.path());
                }
            }
        }
        for c in self.containers.all() {
            let r = c.record();
            if !r.state.status.is_live() {
                continue;
            }
            for m in r.mount_points.iter().filter(|m| !m.name.is_empty()) {
                self.volumes
                    .active()
                    .entry(m.name.clone())
                    .or_default()
                    .insert(r.id.clone());
            }
        }
        for v in &recs {
            if super::local::has_mount(v) && !self.volumes.active().contains_key(&v.name) {
                self.local_unmount(&v.name);
            }
        }
        Ok(())
    }
}

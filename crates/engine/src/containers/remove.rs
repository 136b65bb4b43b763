//! `rm [-f] [-v]`. The record is first marked `removing` (committed), so a crash part-way is
//! finished by the next daemon's `restore` instead of leaving a half-removed container.

use super::{Container, Status};
use crate::error::{Error, Result};
use crate::Engine;
use std::sync::Arc;

impl Engine {
    /// Removes a container; a running one only with `force` (killed first).
    /// With `volumes`, its anonymous volumes go too (as `docker rm -v`).
    pub async fn container_remove(&self, key: &str, force: bool, volumes: bool) -> Result<()> {
        let c = self.containers.find(key)?;
        let _op = c.op.lock().await;
        let rec = c.record();
        if rec.state.status.is_live() {
            if !force {
                let what = if rec.state.status == Status::Paused {
                    "paused"
                } else {
                    "running"
                };
                return Err(Error::Conflict(format!(
                    "cannot remove container \"/{}\": container is {what}: stop the container before removing or force remove",
                    rec.name
                )));
            }
            self.stop_locked(&c, Some("KILL"), Some(30))
                .await
                .or_else(|e| match e {
                    Error::NotModified(_) => Ok(()),
                    e => Err(e),
                })?;
            // The exit handler runs outside `op`; wait until it has recorded the exit.
            let mut w = c.watch();
            while c.record().state.status.is_live() {
                if w.changed().await.is_err() {
                    break;
                }
            }
        }
        let rec = c.record();
        self.remove_locked(&c).await?;
        if volumes && rec.host_config.auto_remove != Some(true) {
            self.volumes_remove_anonymous(&rec);
        }
        Ok(())
    }

    /// Removes a stopped container's every trace; the caller holds `c.op`.
    pub(crate) async fn remove_locked(&self, c: &Arc<Container>) -> Result<()> {
        let rec = if c.record().state.status == Status::Removing {
            // Already committed (an auto-remove, or a removal a crash interrupted).
            c.record()
        } else {
            c.update(self, |r| {
                r.state.status = Status::Removing;
                r.manually_stopped = true;
                r.clone()
            })?
        };
        self.cleanup_run(&rec).await;
        match self.images.snapshots().remove(&rec.snapshot) {
            Ok(()) => {}
            Err(berth_image::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let dir = self.paths.container_dir(&rec.id);
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(Error::internal(format!("removing {}", dir.display()), e));
            }
        }
        for exec_id in &rec.exec_ids {
            self.exec_forget(exec_id);
        }
        self.store.container_delete(&rec.id, &rec.name)?;
        self.containers.remove(&rec.id);
        self.container_event(&rec, "destroy");
        // Docker removes a `--rm` container's anonymous volumes with it.
        if rec.host_config.auto_remove == Some(true) {
            self.volumes_remove_anonymous(&rec);
        }
        c.exits.send_modify(|e| e.removed = true);
        Ok(())
    }
}

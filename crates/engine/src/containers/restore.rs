//! Re-adopting containers when the daemon starts (live-restore): every record is loaded; a
//! container whose monitor still runs is watched again; one whose monitor ended while the
//! daemon was away gets the exit status the monitor recorded; a removal or a start that a
//! crash interrupted is finished or undone; leftovers of an interrupted create are removed;
//! then the restart policies bring back what Docker would bring back.

use super::{Container, ContainerRecord, Status};
use crate::error::Result;
use crate::monitor::{is_monitor_of, MonitorFiles};
use crate::store::CONTAINER_TABLE;
use crate::Engine;
use std::collections::HashSet;

impl Engine {
    /// Loads every container record and reconciles it with what is running.
    pub(crate) async fn restore(&self) -> Result<()> {
        let records: Vec<(String, ContainerRecord)> = self.store.all(CONTAINER_TABLE)?;
        let mut ids = HashSet::new();
        for (_, rec) in records {
            ids.insert(rec.id.clone());
            let c = Container::new(rec);
            if let Err(e) = self.containers.insert(c) {
                tracing::error!("restoring a container record: {e}");
            }
        }
        for c in self.containers.all() {
            let rec = c.record();
            let alive = is_monitor_of(rec.monitor_pid, &rec.id);
            match rec.state.status {
                Status::Removing => {
                    let _op = c.op.lock().await;
                    if let Err(e) = self.remove_locked(&c).await {
                        tracing::error!(id = %rec.id, "finishing an interrupted removal: {e}");
                    }
                }
                Status::Running | Status::Paused if alive => {
                    tracing::info!(id = %rec.id, "re-adopting running container");
                    self.network_readopt(&rec).await;
                    self.watch_monitor(c.clone(), rec.monitor_pid);
                    self.health_start(&c);
                }
                Status::Running | Status::Paused => {
                    // The monitor ended while we were away: on_exit reads its exit file.
                    self.on_exit(&c).await;
                }
                Status::Restarting => {
                    let _ = c.update(self, |r| r.state.status = Status::Exited);
                    let engine = self.clone();
                    let c2 = c.clone();
                    tokio::spawn(async move { engine.restart_by_policy(c2).await });
                }
                Status::Created | Status::Exited | Status::Dead
                    if rec.monitor_pid != 0 || interrupted_start(self, &rec) =>
                {
                    // A start interrupted before it was recorded (its monitor may still be
                    // waiting with the container created): undo it.
                    tracing::info!(id = %rec.id, "undoing an interrupted start");
                    self.cleanup_run(&rec).await;
                    let _ = c.update(self, |r| {
                        r.monitor_pid = 0;
                        r.state.pid = 0;
                        r.networks.clear_live();
                    });
                }
                _ => {
                    // A stopped container keeps no monitor files.
                    let files = MonitorFiles::new(self.paths.run_dir(&rec.id));
                    if files.dir.exists() && !alive {
                        let _ = std::fs::remove_dir_all(&files.dir);
                    }
                }
            }
        }
        self.remove_create_leftovers(&ids);
        // The published ports and bridges of what is running now, in one write.
        self.networks.sync_firewall().await?;
        // Docker brings back `always` containers, and `unless-stopped` ones a user did not
        // stop, when the daemon starts.
        for c in self.containers.all() {
            let rec = c.record();
            let policy = rec
                .host_config
                .restart_policy
                .as_ref()
                .and_then(|p| p.name)
                .map(|n| n.to_string())
                .unwrap_or_default();
            let wanted = match policy.as_str() {
                "always" => rec.has_been_started,
                "unless-stopped" => rec.has_been_started && !rec.manually_stopped,
                _ => false,
            };
            if wanted && rec.state.status == Status::Exited {
                let _op = c.op.lock().await;
                if let Err(e) = self.start_locked(&c).await {
                    tracing::warn!(id = %rec.id, "restart policy on daemon start: {e}");
                }
            }
        }
        Ok(())
    }

    /// Snapshots and directories of containers whose record was never committed (a crash
    /// inside `create`), and layer snapshots of a pull a crash interrupted.
    fn remove_create_leftovers(&self, ids: &HashSet<String>) {
        let is_container_key = |k: &str| k.len() == 64 && k.bytes().all(|b| b.is_ascii_hexdigit());
        if let Ok(snaps) = self.images.snapshots().list() {
            for s in snaps {
                let unfinished_create = is_container_key(&s.key) && !ids.contains(&s.key);
                // A pull unpacks each layer into an `extract-*` snapshot before committing it;
                // at start no pull runs, so any left is from a pull a crash interrupted (its
                // partial download went with the image store's leftovers, at open).
                let unfinished_pull = s.key.starts_with("extract-");
                if s.kind == berth_image::snapshot::Kind::Active
                    && (unfinished_create || unfinished_pull)
                {
                    tracing::info!(key = %s.key, "removing the snapshot of an interrupted create or pull");
                    let _ = self.images.snapshots().remove(&s.key);
                }
            }
        }
        if let Ok(rd) = std::fs::read_dir(self.paths.data_root.join("containers")) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if is_container_key(&name) && !ids.contains(&name) {
                    let p = e.path();
                    let rootfs = p.join("rootfs");
                    if crate::util::is_mountpoint(&rootfs) {
                        let _ = berth_image::mount::unmount_path(&rootfs);
                    }
                    let _ = std::fs::remove_dir_all(&p);
                }
            }
        }
    }
}

/// Whether a stopped container has a monitor directory with a pid file: a start that a crash
/// interrupted before the Running record was committed.
fn interrupted_start(engine: &Engine, rec: &ContainerRecord) -> bool {
    MonitorFiles::new(engine.paths.run_dir(&rec.id))
        .monitor_pid_file()
        .exists()
}

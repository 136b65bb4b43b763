//! What happens when a container's monitor ends: record the exit (code, time, OOM), undo the
//! run (runtime state, rootfs mount), tell waiters, then remove (`--rm`) or restart by policy.

use super::{Container, Status};
use crate::monitor::{is_monitor_of, read_exit, wait_for_exit, MonitorFiles};
use crate::Engine;
use std::collections::HashMap;
use std::sync::Arc;

impl Engine {
    /// Watches the monitor `monitor_pid` of `c` and handles its end.
    pub(crate) fn watch_monitor(&self, c: Arc<Container>, monitor_pid: i32) {
        let engine = self.clone();
        tokio::spawn(async move {
            if is_monitor_of(monitor_pid, &c.id) {
                wait_for_exit(monitor_pid).await;
            }
            engine.on_exit(&c).await;
        });
    }

    /// Records the exit of `c`'s current run. Does not take `c.op`: `stop` holds it while it
    /// waits for exactly this.
    pub(crate) async fn on_exit(&self, c: &Arc<Container>) {
        let rec = c.record();
        if !rec.state.status.is_live() {
            return;
        }
        let files = MonitorFiles::new(self.paths.run_dir(&rec.id));
        let status = read_exit(&files);
        let oom = oom_killed(&rec.id);
        self.cleanup_run(&rec).await;
        let (code, error) = match &status {
            Some(s) => (s.exit_code, String::new()),
            None => (
                255,
                "the container's monitor ended without recording an exit status".to_string(),
            ),
        };
        let finished = status
            .as_ref()
            .map(|s| s.finished_at.clone())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(crate::util::now_rfc3339);
        // `--rm`: the exit and the start of the removal are one commit (the removal is then
        // finished by `remove_locked`, or by the next daemon after a crash).
        let auto_remove = rec.host_config.auto_remove == Some(true);
        let updated = c.update(self, |r| {
            r.state.status = if auto_remove {
                Status::Removing
            } else {
                Status::Exited
            };
            r.state.exit_code = code;
            r.state.pid = 0;
            r.state.finished_at = finished.clone();
            r.state.oom_killed = oom;
            r.state.error = error.clone();
            r.monitor_pid = 0;
            r.networks.clear_live();
            if let Some(h) = r.state.health.as_mut() {
                h.status = Some(bollard_stubs::models::HealthStatusEnum::UNHEALTHY);
            }
            r.clone()
        });
        let rec = match updated {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(id = %c.id, "recording the exit: {e}");
                return;
            }
        };
        if oom {
            self.container_event(&rec, "oom");
        }
        let mut attrs = HashMap::new();
        attrs.insert("exitCode".to_string(), code.to_string());
        self.container_event_with(&rec, "die", attrs);
        c.exits.send_modify(|e| {
            e.count += 1;
            e.code = code;
            e.error = error.clone();
        });
        self.after_exit(c.clone());
    }

    /// `--rm` or the restart policy, in a task of their own (they take `c.op`).
    fn after_exit(&self, c: Arc<Container>) {
        let engine = self.clone();
        tokio::spawn(async move {
            let rec = c.record();
            if rec.host_config.auto_remove == Some(true) {
                let _op = c.op.lock().await;
                if let Err(e) = engine.remove_locked(&c).await {
                    tracing::warn!(id = %c.id, "auto-remove: {e}");
                }
                return;
            }
            engine.restart_by_policy(c).await;
        });
    }
}

/// Whether the kernel's OOM killer killed a process of the container's cgroup (read before the
/// runtime deletes the cgroup).
fn oom_killed(id: &str) -> bool {
    let path = super::runtime::cgroups_path(id);
    let candidates = [
        format!("/sys/fs/cgroup/memory{path}/memory.oom_control"),
        format!("/sys/fs/cgroup{path}/memory.events"),
    ];
    for f in candidates {
        if let Ok(s) = std::fs::read_to_string(&f) {
            for l in s.lines() {
                if let Some(n) = l.strip_prefix("oom_kill ") {
                    return n.trim().parse::<u64>().unwrap_or(0) > 0;
                }
            }
        }
    }
    false
}

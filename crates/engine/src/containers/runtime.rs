//! Running the OCI runtime's command line for a container (start, kill, pause, delete...),
//! always with the daemon's own `--root` for that runtime so several daemons never share state.

use crate::error::{Error, Result};
use crate::Engine;
use std::path::PathBuf;

/// The cgroup path every container gets: `/berth/<id>` (a directory under each v1 controller
/// or under the v2 root), so `systemd-cgls` and users find Berth's containers in one place.
pub fn cgroups_path(id: &str) -> String {
    format!("/berth/{id}")
}

impl Engine {
    /// The binary and `--root` of a runtime by name.
    pub fn runtime_paths(&self, runtime: &str) -> Result<(PathBuf, PathBuf)> {
        let bin = self.config.runtime_path(runtime)?;
        Ok((bin, self.paths.runtime_root(runtime)))
    }

    /// Whether the runtime still has state for container `id` (runc, crun and berth-runc all
    /// keep a directory per container under their --root).
    pub fn runtime_has_state(&self, runtime: &str, id: &str) -> bool {
        self.runtime_paths(runtime)
            .map(|(_, root)| root.join(id).exists())
            .unwrap_or(true)
    }

    /// Deletes the runtime's state for `id` (killing what is left), if it has any: one exec
    /// less per start and per removal when there is nothing to delete.
    pub async fn runtime_delete(&self, runtime: &str, id: &str) {
        if self.runtime_has_state(runtime, id) {
            if let Err(e) = self.runtime_exec(runtime, &["delete", "--force", id]).await {
                tracing::debug!(%id, "runtime delete: {e}");
            }
        }
    }

    /// Runs `RUNTIME --root R ARGS...` and returns its stdout; a failure is an error carrying
    /// the runtime's own message (its last stderr line), as Docker shows runc's.
    pub async fn runtime_exec(&self, runtime: &str, args: &[&str]) -> Result<Vec<u8>> {
        let (bin, root) = self.runtime_paths(runtime)?;
        let out = tokio::process::Command::new(&bin)
            .arg("--root")
            .arg(&root)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|e| Error::internal(format!("running {}", bin.display()), e))?;
        if out.status.success() {
            return Ok(out.stdout);
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let msg = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim();
        Err(Error::Internal(format!(
            "{} {}: {}",
            bin.file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default(),
            args.first().copied().unwrap_or(""),
            if msg.is_empty() {
                format!("exited with {}", out.status)
            } else {
                msg.to_string()
            }
        )))
    }
}

//! What the runtime remembers about a container between commands, and its status.
//!
//! State lives in `<root>/<id>/state.json`, written atomically (temp file, rename) so a crash
//! of the runtime at any point leaves either the old or the new file. It is not fsynced (nor is
//! runc's or crun's): the root is on /run, whose state does not outlive a reboot any more than
//! the containers it describes, and on a root that is on disk an fsync costs a journal commit
//! per container (milliseconds, more under load). The status is not stored: it is
//! derived each time from facts that cannot go stale (is the init process alive with the same
//! start time, does the exec fifo still exist, is the cgroup frozen), the way runc does it.

use crate::error::{Error, IoContext, Result};
use berth_cgroups::CgroupOptions;
use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// File name of the state inside a container's directory.
pub const STATE_FILE: &str = "state.json";
/// The fifo the container's init waits on until `start`.
pub const EXEC_FIFO: &str = "exec.fifo";
/// Where the init writes why it could not exec after `start` (empty when it did).
pub const EXEC_ERROR: &str = "exec.error";

/// The lifecycle status of a container (OCI runtime spec, plus runc's `paused`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Being created.
    Creating,
    /// Created; init waits for `start`.
    Created,
    /// The user process runs.
    Running,
    /// Frozen by `pause`.
    Paused,
    /// The init process has exited.
    Stopped,
}

impl Status {
    /// Lower-case name, as in `state` output.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
    /// `start` needs a created container.
    pub fn can_start(self) -> bool {
        self == Status::Created
    }
    /// Signals go to created, running or paused containers.
    pub fn can_kill(self) -> bool {
        matches!(self, Status::Created | Status::Running | Status::Paused)
    }
    /// `delete` without --force needs a stopped (or never started) container.
    pub fn can_delete(self) -> bool {
        matches!(self, Status::Stopped | Status::Created)
    }
    /// `exec` needs a live, unfrozen container.
    pub fn can_exec(self) -> bool {
        matches!(self, Status::Created | Status::Running)
    }
    /// `pause` needs a running container.
    pub fn can_pause(self) -> bool {
        self == Status::Running
    }
    /// `resume` needs a paused container.
    pub fn can_resume(self) -> bool {
        self == Status::Paused
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The persisted state of one container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerState {
    /// The OCI version of the config the container was made from.
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// Host pid of the init process.
    pub pid: i32,
    /// Start time of the init process (field 22 of /proc/PID/stat), to detect pid reuse.
    pub init_start_time: u64,
    /// Absolute bundle path.
    pub bundle: PathBuf,
    /// Absolute rootfs path.
    pub rootfs: PathBuf,
    /// Creation time, RFC 3339.
    pub created: String,
    /// Owner user name (runc's `owner` column).
    pub owner: String,
    /// Annotations from the config.
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// How to reopen the container's cgroup.
    pub cgroup: CgroupOptions,
    /// The config the container was created with (hooks for later verbs, process for exec).
    pub config: Box<Spec>,
    /// Set when the container has no mount namespace of its own (it shares the runtime's): the
    /// id of the mount at the rootfs before `create` bound it, so that `delete` can detach
    /// what `create` mounted on top, and nothing else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rootfs_mnt_id: Option<u64>,
}

/// OCI `state` output (runtime spec "State"), plus runc's extra fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateOutput {
    /// OCI version.
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// Lifecycle status.
    pub status: Status,
    /// Init pid (0 when stopped, as runc prints).
    pub pid: i32,
    /// Bundle path.
    pub bundle: PathBuf,
    /// Rootfs path.
    pub rootfs: PathBuf,
    /// Creation time.
    pub created: String,
    /// Owner.
    pub owner: String,
    /// Annotations.
    #[serde(skip_serializing_if = "HashMap::is_empty", default)]
    pub annotations: HashMap<String, String>,
}

impl ContainerState {
    /// Path of the container's state directory.
    pub fn dir(root: &Path, id: &str) -> PathBuf {
        root.join(id)
    }

    /// Loads the state of `id`; `NotFound` if there is none.
    pub fn load(root: &Path, id: &str) -> Result<ContainerState> {
        let path = Self::dir(root, id).join(STATE_FILE);
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(id.to_string()))
            }
            Err(e) => return Err(e).path_ctx("reading", &path),
        };
        serde_json::from_slice(&data).map_err(|e| Error::Io {
            context: format!("parsing {}", path.display()),
            source: std::io::Error::other(e),
        })
    }

    /// Writes the state atomically into `dir`.
    pub fn save(&self, root: &Path) -> Result<()> {
        let dir = Self::dir(root, &self.id);
        let data = serde_json::to_vec(self).map_err(|e| Error::Io {
            context: "encoding state".into(),
            source: std::io::Error::other(e),
        })?;
        write_atomic(&dir.join(STATE_FILE), &data)
    }

    /// The derived status (see the module doc).
    pub fn status(&self, root: &Path) -> Status {
        if self.pid <= 0 || !process_alive(self.pid, self.init_start_time) {
            return Status::Stopped;
        }
        if Self::dir(root, &self.id).join(EXEC_FIFO).exists() {
            return Status::Created;
        }
        match berth_cgroups::open(&self.cgroup).and_then(|m| m.is_frozen()) {
            Ok(true) => Status::Paused,
            _ => Status::Running,
        }
    }

    /// The OCI state document for `state` and hooks.
    pub fn output(&self, status: Status) -> StateOutput {
        StateOutput {
            oci_version: self.oci_version.clone(),
            id: self.id.clone(),
            status,
            pid: if status == Status::Stopped {
                0
            } else {
                self.pid
            },
            bundle: self.bundle.clone(),
            rootfs: self.rootfs.clone(),
            created: self.created.clone(),
            owner: self.owner.clone(),
            annotations: self.annotations.clone(),
        }
    }
}

/// Writes `data` to `path` via a temp file in the same directory and a rename (atomic for
/// readers and against a crash of the process; see the module doc for why there is no fsync).
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(data)?;
        std::fs::rename(&tmp, path)
    };
    write()
        .inspect_err(|_e| {
            let _ = std::fs::remove_file(&tmp);
        })
        .path_ctx("writing", path)
}

/// Start time (in clock ticks since boot) of a process, from /proc/PID/stat field 22.
/// `None` if the process does not exist or is a zombie.
pub fn process_start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    // rest starts at field 3 (state); field 22 is the 20th from here.
    fields.nth(18)?.parse().ok()
}

/// True if `pid` is alive and (when `start_time` is non-zero) still the same process.
pub fn process_alive(pid: i32, start_time: u64) -> bool {
    match process_start_time(pid) {
        Some(t) => start_time == 0 || t == start_time,
        None => false,
    }
}

/// Checks a container id the way runc does: non-empty, no path separators or dot-only names.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidId(id.to_string()))
    }
}

/// RFC 3339 UTC timestamp with nanoseconds, like runc's `created`.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_guards_follow_the_oci_lifecycle() {
        assert!(Status::Created.can_start());
        assert!(!Status::Running.can_start());
        assert!(!Status::Stopped.can_kill());
        assert!(Status::Paused.can_kill());
        assert!(!Status::Running.can_delete());
        assert!(Status::Stopped.can_delete());
        assert!(!Status::Paused.can_exec());
    }

    #[test]
    fn own_process_has_a_start_time() {
        let me = std::process::id() as i32;
        let t = process_start_time(me).expect("self");
        assert!(process_alive(me, t));
        assert!(!process_alive(me, t + 1));
    }

    #[test]
    fn ids_are_checked() {
        assert!(validate_id("abc-1_2.3+x").is_ok());
        for bad in ["", "..", "a/b", "a b"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn timestamp_is_rfc3339() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 30, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'), "{t}");
    }
}

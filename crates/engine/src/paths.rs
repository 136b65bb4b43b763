//! Where the daemon keeps things. Persistent state under data-root, what dies with a reboot
//! under exec-root (a tmpfs on most hosts).
//!
//! ```text
//! <data-root>/berth.db                      the embedded database (redb)
//! <data-root>/image/                        berth-image's store (content, snapshots, records)
//! <data-root>/containers/<id>/              bundle (config.json, rootfs mount point), logs
//! <exec-root>/berth.pid                     the daemon's pid
//! <exec-root>/runtime/<name>/               each OCI runtime's --root
//! <exec-root>/c/<id[..16]>/                 monitor: attach, ctl sockets, exit and pid files
//! <exec-root>/x/<exec-id[..16]>/            exec monitors: the same files per exec
//! ```

use std::path::{Path, PathBuf};

/// The daemon's directory layout.
#[derive(Debug, Clone)]
pub struct Paths {
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
}

impl Paths {
    pub fn new(data_root: &Path, exec_root: &Path) -> Paths {
        Paths {
            data_root: data_root.to_path_buf(),
            exec_root: exec_root.to_path_buf(),
        }
    }
    pub fn database(&self) -> PathBuf {
        self.data_root.join("berth.db")
    }
    pub fn image_root(&self) -> PathBuf {
        self.data_root.join("image")
    }
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.data_root.join("containers").join(id)
    }
    pub fn bundle(&self, id: &str) -> PathBuf {
        self.container_dir(id)
    }
    pub fn rootfs(&self, id: &str) -> PathBuf {
        self.container_dir(id).join("rootfs")
    }
    pub fn log_file(&self, id: &str) -> PathBuf {
        self.container_dir(id).join(format!("{id}-json.log"))
    }
    pub fn runtime_root(&self, runtime: &str) -> PathBuf {
        self.exec_root.join("runtime").join(runtime)
    }
    /// The monitor's directory. Named by the first 16 hex digits of the id: the sockets in it
    /// must fit in a unix socket address (108 bytes), whatever the exec-root.
    pub fn run_dir(&self, id: &str) -> PathBuf {
        self.exec_root.join("c").join(short(id))
    }
    pub fn exec_dir(&self, exec_id: &str) -> PathBuf {
        self.exec_root.join("x").join(short(exec_id))
    }
    pub fn pid_file(&self) -> PathBuf {
        self.exec_root.join("berth.pid")
    }
}

fn short(id: &str) -> &str {
    &id[..id.len().min(16)]
}

//! `berth-runtime`: an OCI runtime (the layer runc, crun and youki fill) as a library.
//!
//! `bins/berth-runc` wraps it in runc's command line; the engine will drive it through that
//! binary. The container's init is a fork of the runtime process (clone3 with the namespace
//! flags), not a re-exec of a helper: the runtime is single-threaded, so the child can run the
//! setup code directly, which is what makes it fast. The child talks to the runtime over a typed
//! channel ([`channel`]), and waits on an exec fifo for `start`.
//!
//! Written by hand, because it is Berth's core and its hot path: the lifecycle (verbs/), the
//! init sequence (init/), path resolution inside the rootfs (init/paths.rs, openat2
//! RESOLVE_IN_ROOT). Taken from crates: OCI types (oci-spec), syscalls (rustix, berth-sys),
//! capabilities (caps), seccomp BPF compilation (libseccomp), cgroups (berth-cgroups).
//!
//! CVE-2019-5736 protection: see [`selfexe`] (sealed memfd re-exec).
#![forbid(unsafe_code)]

mod channel;
pub mod config;
pub mod error;
pub mod features;
pub mod hooks;
mod init;
mod namespaces;
mod passwd;
pub mod selfexe;
mod shared_mountns;
pub mod spec_default;
pub mod state;
pub mod trace;
mod verbs;

pub use error::{Error, Result};
pub use verbs::create::CreateOptions;
pub use verbs::exec::ExecOptions;

use berth_cgroups::CgroupMode;
use error::IoContext;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

/// Default state root, like runc's /run/runc.
pub const DEFAULT_ROOT: &str = "/run/berth-runc";

/// The runtime: where state lives and how cgroups are found.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// State root (`--root`).
    pub root: PathBuf,
    /// Override of the cgroup filesystem root (tests point it at a cgroup2-like directory).
    pub cgroup_root: Option<PathBuf>,
    /// Force cgroup v1 or v2 instead of detecting.
    pub cgroup_mode: Option<CgroupMode>,
    /// `--systemd-cgroup` (refused until supported).
    pub systemd_cgroup: bool,
}

impl Runtime {
    /// A runtime with state under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Runtime {
        Runtime {
            root: root.into(),
            cgroup_root: None,
            cgroup_mode: None,
            systemd_cgroup: false,
        }
    }

    /// Takes the per-container lock (flock on the container's state directory): commands on
    /// one container run one at a time.
    pub(crate) fn lock(&self, id: &str) -> Result<OwnedFd> {
        state::validate_id(id)?;
        let dir = state::ContainerState::dir(&self.root, id);
        let fd = match rustix::fs::open(
            &dir,
            rustix::fs::OFlags::RDONLY
                | rustix::fs::OFlags::DIRECTORY
                | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => return Err(Error::NotFound(id.to_string())),
            Err(e) => return Err(e).path_ctx("opening", &dir),
        };
        rustix::fs::flock(&fd, rustix::fs::FlockOperation::LockExclusive)
            .path_ctx("locking", &dir)?;
        Ok(fd)
    }

    /// The OCI state of a container.
    pub fn state(&self, id: &str) -> Result<state::StateOutput> {
        state::validate_id(id)?;
        let st = state::ContainerState::load(&self.root, id)?;
        Ok(st.output(st.status(&self.root)))
    }

    /// Every container under the root, sorted by id.
    pub fn list(&self) -> Result<Vec<state::StateOutput>> {
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e).path_ctx("reading", &self.root),
        };
        for entry in entries.flatten() {
            let id = entry.file_name().to_string_lossy().into_owned();
            if let Ok(st) = state::ContainerState::load(&self.root, &id) {
                out.push(st.output(st.status(&self.root)));
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }
}

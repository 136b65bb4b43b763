//! The one error type of the crate. Every variant that touches a file names it (and the value
//! for writes) so a failed `update` or `create` can be diagnosed from the message alone.

use std::io;
use std::path::PathBuf;

/// Errors from cgroup management.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// A control file write failed (the kernel refused the value, or the file is missing).
    #[error("writing {value:?} to {}: {source}", path.display())]
    Write {
        /// The control file.
        path: PathBuf,
        /// The value written.
        value: String,
        /// The errno.
        source: io::Error,
    },
    /// A control file (or /proc file) could not be read.
    #[error("reading {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The errno.
        source: io::Error,
    },
    /// A file had content we do not understand.
    #[error("parsing {}: {reason}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// mkdir of a cgroup directory failed.
    #[error("creating cgroup directory {}: {source}", path.display())]
    Mkdir {
        /// The directory.
        path: PathBuf,
        /// The errno.
        source: io::Error,
    },
    /// rmdir of a cgroup directory failed (after retries for EBUSY).
    #[error("removing cgroup directory {}: {source}", path.display())]
    Remove {
        /// The directory.
        path: PathBuf,
        /// The errno.
        source: io::Error,
    },
    /// `linux.cgroupsPath` (or the container id used in its place) is not acceptable.
    #[error("invalid linux.cgroupsPath {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// Why.
        reason: String,
    },
    /// A systemd-style `slice:prefix:name` path: the systemd driver is not implemented.
    #[error("linux.cgroupsPath {path:?} is a systemd slice path (slice:prefix:name); the systemd cgroup driver is not supported yet, use a filesystem path")]
    SystemdNotSupported {
        /// The path as given.
        path: String,
    },
    /// A resource was requested whose cgroup v1 controller is not mounted.
    #[error(
        "linux.resources.{field} needs the {controller:?} cgroup controller, which is not mounted"
    )]
    ControllerMissing {
        /// The controller.
        controller: String,
        /// The resource field.
        field: String,
    },
    /// A resource value that cannot be expressed (checked before anything is written).
    #[error("invalid linux.resources.{field}: {reason}")]
    InvalidResource {
        /// The resource field, e.g. `memory.swap` or `unified["a/b"]`.
        field: String,
        /// Why.
        reason: String,
    },
    /// A device cgroup rule that cannot be expressed.
    #[error("invalid linux.resources.devices[{index}]: {reason}")]
    InvalidDeviceRule {
        /// Index in the rule list.
        index: usize,
        /// Why.
        reason: String,
    },
    /// Loading or attaching the cgroup v2 device eBPF program failed.
    #[error("{action} the device eBPF program for {}: {reason}", path.display())]
    Bpf {
        /// What was being done ("loading", "attaching", ...).
        action: &'static str,
        /// The cgroup directory.
        path: PathBuf,
        /// errno and, for loading, the verifier log.
        reason: String,
    },
    /// The cgroup did not reach the frozen state in time.
    #[error("freezing {}: still {state:?} after {waited_ms} ms", path.display())]
    FreezeTimeout {
        /// The cgroup directory.
        path: PathBuf,
        /// The last state read.
        state: String,
        /// How long we waited.
        waited_ms: u64,
    },
    /// The cgroup mode or hierarchies could not be determined.
    #[error("detecting cgroups under {}: {reason}", path.display())]
    Detect {
        /// The root examined.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The operation needs a controller that is not available (e.g. freezer on v1).
    #[error("{operation} needs the {controller:?} cgroup controller, which is not mounted")]
    Unsupported {
        /// The operation.
        operation: &'static str,
        /// The controller.
        controller: &'static str,
    },
}

//! `berth-cgroups`: one [`CgroupManager`] trait with a cgroup v1 and a cgroup v2 backend, chosen
//! at run time by [`open`].
//!
//! # Design
//! - [`open`] only computes paths: it statfs'es the root to pick the mode (unless given), reads
//!   `/proc/self/mountinfo` once on v1 (to find every mounted hierarchy, `name=systemd` and, on a
//!   hybrid host, the unified cgroup2 mount included) and `/proc/self/cgroup` only when the
//!   cgroups path is relative. Nothing is written, so it is cheap to call again from `state`,
//!   `kill`, `update` or `delete` with the [`CgroupOptions`] stored in the container state.
//! - Control files are written with one `open`+`write` each and only for values the spec sets;
//!   every error names the file and the value ([`CgroupError`]). All values are validated
//!   before the first write, so invalid input changes nothing.
//! - `create` is one `mkdir` per hierarchy (`create_dir_all` only when a parent is missing) plus
//!   the setup each version needs; `add_process` is one write of `cgroup.procs` per hierarchy.
//!
//! # v1 / v2 differences handled here
//! | | v1 | v2 |
//! |---|---|---|
//! | layout | one directory per mounted hierarchy | one directory |
//! | create | `cpuset.cpus`/`cpuset.mems` copied from the parent (a new cpuset is empty, and tasks cannot join an empty cpuset) | controllers enabled in the ancestors' `cgroup.subtree_control` |
//! | memory | `limit_in_bytes`, `memsw.limit_in_bytes` = memory+swap (written in the order that keeps memsw >= limit, as runc), `soft_limit`, `swappiness`, `oom_control` | `memory.max`, `memory.swap.max` = swap - limit, `memory.low` |
//! | cpu | `shares`, `cfs_quota_us`/`cfs_period_us`, `rt_*`, `idle`, `cfs_burst_us` | `cpu.weight` (runc's shares conversion), `cpu.max`, `cpu.idle`, `cpu.max.burst` |
//! | io | `blkio.*weight*`, `blkio.throttle.*` | `io.weight` (runc's conversion), one `io.max` line per device |
//! | devices | `devices.allow`/`devices.deny`: minimal transition from `devices.list` | an eBPF `CGROUP_DEVICE` program attached with `BPF_F_ALLOW_MULTI`, replacing ours on update |
//! | freeze | `freezer.state`, wait for `FROZEN` | `cgroup.freeze`, wait for `frozen 1` in `cgroup.events` |
//! | unified map | refused | written verbatim after key validation |
//!
//! Both backends fold the device rule list through an emulation of the v1 kernel semantics
//! (module `devices`), so `a *:* rwm` deny-all/allow-all rules mean the same on both.
//!
//! Test roots: `CgroupOptions::root` may point at a plain directory laid out like a cgroup
//! hierarchy. Writes there create the files, freezing does not wait for the kernel, removal
//! deletes the files, and on v2 the device eBPF program is not attached (there is no cgroup to
//! attach it to); the rule list is still validated and compiled.
#![forbid(unsafe_code)]

mod devices;
mod error;
mod fsutil;
mod paths;
mod stats;
mod v1;
mod v2;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use error::CgroupError;
pub use stats::{CpuStats, IoDeviceStats, IoStats, MemoryStats, PidsStats, Stats};

/// The default cgroup mount root.
pub const DEFAULT_ROOT: &str = "/sys/fs/cgroup";

/// Which cgroup version manages the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CgroupMode {
    /// Legacy hierarchies (hybrid hosts, v1 controllers plus an empty unified mount, count as V1).
    V1,
    /// The unified hierarchy.
    V2,
}

/// What is needed to find a container's cgroup again; stored in the container state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupOptions {
    /// `linux.cgroupsPath` from config.json; may be empty (then `/<container_id>`).
    pub cgroups_path: String,
    /// The container id.
    pub container_id: String,
    /// Overrides `/sys/fs/cgroup` (tests point it at a tempdir, or at a cgroup2 mount).
    pub root: Option<PathBuf>,
    /// `None` detects: statfs of the root, `CGROUP2_SUPER_MAGIC` means V2, anything else V1.
    pub mode: Option<CgroupMode>,
}

impl CgroupOptions {
    /// Options for a container with the default root and mode detection.
    pub fn new(cgroups_path: impl Into<String>, container_id: impl Into<String>) -> Self {
        CgroupOptions {
            cgroups_path: cgroups_path.into(),
            container_id: container_id.into(),
            root: None,
            mode: None,
        }
    }

    fn root(&self) -> &Path {
        self.root.as_deref().unwrap_or(Path::new(DEFAULT_ROOT))
    }
}

/// Detects the cgroup mode of a root (statfs: cgroup2 → V2, anything else → V1).
pub fn detect_mode(root: &Path) -> Result<CgroupMode, CgroupError> {
    let magic = fsutil::statfs_magic(root).map_err(|e| CgroupError::Detect {
        path: root.to_path_buf(),
        reason: format!("statfs: {}", std::io::Error::from(e)),
    })?;
    Ok(if magic == fsutil::CGROUP2_SUPER_MAGIC {
        CgroupMode::V2
    } else {
        CgroupMode::V1
    })
}

/// Computes where the container's cgroup is (no writes) and returns the manager for it.
pub fn open(opts: &CgroupOptions) -> Result<Box<dyn CgroupManager>, CgroupError> {
    let path = paths::parse_cgroups_path(&opts.cgroups_path, &opts.container_id)?;
    let mode = match opts.mode {
        Some(m) => m,
        None => detect_mode(opts.root())?,
    };
    Ok(match mode {
        CgroupMode::V1 => Box::new(v1::V1Manager::open(opts.clone(), &path)?),
        CgroupMode::V2 => Box::new(v2::V2Manager::open(opts.clone(), &path)?),
    })
}

/// One container's cgroup(s).
///
/// Expected order for a new container: [`create`](Self::create), [`apply`](Self::apply), then
/// the process joins (v2: `clone3(CLONE_INTO_CGROUP)` on [`v2_dir`](Self::v2_dir), or
/// [`add_process`](Self::add_process)). Applying before the process joins matters on v1 for
/// realtime CPU settings and makes limits hold from the first instruction.
pub trait CgroupManager: std::fmt::Debug + Send + Sync {
    /// The backend in use.
    fn mode(&self) -> CgroupMode;
    /// The options this manager was opened with (store them to reopen later).
    fn options(&self) -> &CgroupOptions;
    /// Creates the cgroup directories (existing ones are reused).
    fn create(&self) -> Result<(), CgroupError>;
    /// Moves a process (all its threads) into the cgroup in every hierarchy.
    fn add_process(&self, pid: i32) -> Result<(), CgroupError>;
    /// v2: the directory to open for `clone3(CLONE_INTO_CGROUP)`; `None` on v1.
    fn v2_dir(&self) -> Option<&Path>;
    /// Writes the resources the spec sets (create and `update`), devices included.
    fn apply(&self, r: &oci_spec::runtime::LinuxResources) -> Result<(), CgroupError>;
    /// Freezes every process and waits (bounded) until the kernel reports them frozen.
    fn freeze(&self) -> Result<(), CgroupError>;
    /// Thaws.
    fn thaw(&self) -> Result<(), CgroupError>;
    /// Whether the cgroup is frozen.
    fn is_frozen(&self) -> Result<bool, CgroupError>;
    /// Every process in the cgroup and its child cgroups.
    fn pids(&self) -> Result<Vec<i32>, CgroupError>;
    /// Removes the cgroup directories (children first). Missing directories are fine; EBUSY is
    /// retried for a while (processes still exiting). Never kills anything.
    fn destroy(&self) -> Result<(), CgroupError>;
    /// Resource usage.
    fn stats(&self) -> Result<Stats, CgroupError>;
}

/// Formats OCI's "number, -1 = unlimited" values for v2 files ("max").
pub(crate) fn num_or_max(v: i64) -> String {
    if v < 0 {
        "max".to_string()
    } else {
        v.to_string()
    }
}

/// runc's cpu.shares → cpu.weight conversion (shares 2..=262144 → weight 1..=10000).
pub fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

/// runc's blkio weight (10..=1000) → io.weight (1..=10000) conversion.
pub fn blkio_weight_to_io_weight(weight: u16) -> u64 {
    let w = u64::from(weight.clamp(10, 1000));
    1 + (w - 10) * 9999 / 990
}

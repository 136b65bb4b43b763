//! Resource usage, in one shape for v1 and v2 (what `docker stats` and the engine's metrics need).
//! Values the kernel does not report on a host are 0 / `None`; "unlimited" limits are `None`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{fsutil, CgroupError};

/// Usage of one cgroup (including its child cgroups).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Memory.
    pub memory: MemoryStats,
    /// CPU time and throttling.
    pub cpu: CpuStats,
    /// Process counts.
    pub pids: PidsStats,
    /// Block I/O.
    pub io: IoStats,
}

/// Memory usage in bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryStats {
    /// Current usage (v1 `memory.usage_in_bytes`, v2 `memory.current`).
    pub usage: u64,
    /// Limit; `None` when unlimited.
    pub limit: Option<u64>,
    /// Peak usage (v1 `memory.max_usage_in_bytes`, v2 `memory.peak`, 0 if the kernel lacks it).
    pub max_usage: u64,
    /// Page cache (v1 `total_cache`, v2 `file`).
    pub cache: u64,
    /// Swap usage (v1: memsw usage minus usage; v2 `memory.swap.current`), if accounted.
    pub swap_usage: Option<u64>,
    /// Times the limit was hit (v1 `memory.failcnt`, v2 `memory.events` "max").
    pub failcnt: u64,
    /// The whole `memory.stat` (docker computes usage minus `total_inactive_file` on v1 and
    /// minus `inactive_file` on v2 from it).
    pub stat: BTreeMap<String, u64>,
}

/// CPU time in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuStats {
    /// Total CPU time.
    pub usage_total: u64,
    /// Time in user mode.
    pub usage_user: u64,
    /// Time in kernel mode.
    pub usage_system: u64,
    /// Scheduler periods that elapsed with a quota set.
    pub nr_periods: u64,
    /// Periods in which the cgroup was throttled.
    pub nr_throttled: u64,
    /// Total time throttled.
    pub throttled_time: u64,
}

/// Number of tasks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PidsStats {
    /// Current number of tasks.
    pub current: u64,
    /// `pids.max`; `None` when unlimited.
    pub limit: Option<u64>,
}

/// Block I/O.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoStats {
    /// Bytes read, all devices.
    pub read_bytes: u64,
    /// Bytes written, all devices.
    pub write_bytes: u64,
    /// Per device.
    pub devices: Vec<IoDeviceStats>,
}

/// Block I/O of one device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoDeviceStats {
    /// Device major.
    pub major: u64,
    /// Device minor.
    pub minor: u64,
    /// Bytes read.
    pub read_bytes: u64,
    /// Bytes written.
    pub write_bytes: u64,
    /// Read operations.
    pub read_ios: u64,
    /// Write operations.
    pub write_ios: u64,
}

impl IoStats {
    pub(crate) fn device(&mut self, major: u64, minor: u64) -> &mut IoDeviceStats {
        if let Some(i) = self
            .devices
            .iter()
            .position(|d| d.major == major && d.minor == minor)
        {
            return &mut self.devices[i];
        }
        self.devices.push(IoDeviceStats {
            major,
            minor,
            ..Default::default()
        });
        self.devices.last_mut().expect("just pushed")
    }

    pub(crate) fn total(&mut self) {
        self.read_bytes = self.devices.iter().map(|d| d.read_bytes).sum();
        self.write_bytes = self.devices.iter().map(|d| d.write_bytes).sum();
    }
}

/// Parses a flat-keyed file ("key value" per line); missing file → empty map.
pub(crate) fn read_keyed(path: &Path) -> Result<BTreeMap<String, u64>, CgroupError> {
    let Some(content) = fsutil::read_opt(path)? else {
        return Ok(BTreeMap::new());
    };
    Ok(content
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect())
}

/// Limits at or above this are v1's way of saying "unlimited" (PAGE_COUNTER_MAX pages).
pub(crate) const V1_UNLIMITED: u64 = 0x7fff_ffff_ffff_f000;

pub(crate) fn limit(v: Option<u64>) -> Option<u64> {
    v.filter(|&v| v < V1_UNLIMITED)
}

/// Parses "MAJ:MIN" into numbers.
pub(crate) fn parse_dev(s: &str) -> Option<(u64, u64)> {
    let (a, b) = s.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

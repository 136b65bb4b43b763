//! OCI `linux.resources` → cgroup v2 control files. Everything is validated and converted into a
//! [`Plan`] before the first write, so bad input changes nothing.

use std::collections::BTreeMap;
use std::path::Path;

use oci_spec::runtime::LinuxResources;

use crate::devices::emulator::DeviceState;
use crate::devices::normalize;
use crate::{blkio_weight_to_io_weight, num_or_max, shares_to_weight, CgroupError};

/// One control file write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileWrite {
    pub file: String,
    pub value: String,
    /// A missing file is not an error (swap "max"/"0" on a kernel without swap accounting).
    pub optional: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub writes: Vec<FileWrite>,
    /// The device state to enforce, if the spec has device rules.
    pub devices: Option<DeviceState>,
}

impl Plan {
    fn push(&mut self, file: impl Into<String>, value: impl Into<String>) {
        self.writes.push(FileWrite {
            file: file.into(),
            value: value.into(),
            optional: false,
        });
    }
}

fn invalid(field: &str, reason: impl Into<String>) -> CgroupError {
    CgroupError::InvalidResource {
        field: field.to_string(),
        reason: reason.into(),
    }
}

/// runc's `numToStr`: 0 is "unset", negative is "max".
fn num(v: i64) -> Option<String> {
    match v {
        0 => None,
        v => Some(num_or_max(v)),
    }
}

/// runc's `ConvertMemorySwapToCgroupV2Value`: OCI swap is memory+swap, v2 wants swap alone.
fn swap_v2(swap: i64, memory: i64) -> Result<i64, CgroupError> {
    if memory == -1 && swap == 0 {
        return Ok(-1);
    }
    if swap == -1 || swap == 0 {
        return Ok(swap);
    }
    if memory == 0 || memory == -1 {
        return Err(invalid(
            "memory.swap",
            "a swap limit needs a memory limit (OCI swap is memory+swap)",
        ));
    }
    if memory < 0 {
        return Err(invalid("memory.limit", format!("invalid value {memory}")));
    }
    if swap < memory {
        return Err(invalid(
            "memory.swap",
            format!("memory+swap ({swap}) must be >= the memory limit ({memory})"),
        ));
    }
    Ok(swap - memory)
}

/// Checks a `unified` key: a file name in the cgroup directory, never a path.
pub(crate) fn check_unified_key(key: &str) -> Result<(), CgroupError> {
    let bad = |reason: &str| invalid(&format!("unified[{key:?}]"), reason);
    if key.is_empty() || key == "." || key == ".." {
        return Err(bad("not a control file name"));
    }
    if key.contains('/') || key.contains('\0') {
        return Err(bad(
            "must be a file name in the cgroup directory, without '/'",
        ));
    }
    let Some((controller, rest)) = key.split_once('.') else {
        return Err(bad("must look like <controller>.<file>, e.g. memory.high"));
    };
    if controller.is_empty() || rest.is_empty() {
        return Err(bad("must look like <controller>.<file>, e.g. memory.high"));
    }
    if matches!(
        key,
        "cgroup.procs" | "cgroup.threads" | "cgroup.subtree_control"
    ) {
        return Err(bad(
            "moves processes or controllers, not a resource setting",
        ));
    }
    Ok(())
}

/// Validates `r` and lists the writes, in the order they must happen.
pub(crate) fn plan(dir: &Path, r: &LinuxResources) -> Result<Plan, CgroupError> {
    let mut p = Plan::default();

    if let Some(m) = r.memory() {
        let limit = m.limit().unwrap_or(0);
        let swap_oci = m.swap().unwrap_or(0);
        let swap = swap_v2(swap_oci, limit)?;
        let mut swap_str = num(swap);
        if swap_str.is_none() && swap == 0 && swap_oci > 0 {
            // memory == memory+swap: no swap at all.
            swap_str = Some("0".into());
        }
        if let Some(v) = swap_str {
            let optional = v == "max" || v == "0";
            p.writes.push(FileWrite {
                file: "memory.swap.max".into(),
                value: v,
                optional,
            });
        }
        if let Some(v) = num(limit) {
            p.push("memory.max", v);
        }
        if let Some(v) = m.reservation().and_then(num) {
            p.push("memory.low", v);
        }
        // swappiness, disableOOMKiller, kernel and kernelTCP have no v2 equivalent (runc
        // ignores them too).
    }

    if let Some(c) = r.cpu() {
        if c.realtime_runtime().is_some_and(|v| v != 0)
            || c.realtime_period().is_some_and(|v| v != 0)
        {
            return Err(invalid(
                "cpu.realtimeRuntime",
                "realtime CPU scheduling settings are not supported on cgroup v2",
            ));
        }
        if let Some(shares) = c.shares().filter(|&s| s != 0) {
            p.push("cpu.weight", shares_to_weight(shares).to_string());
        }
        let quota = c.quota().unwrap_or(0);
        let period = c.period().unwrap_or(0);
        if quota != 0 || period != 0 {
            let mut v = if quota > 0 {
                quota.to_string()
            } else {
                "max".to_string()
            };
            if period != 0 {
                v.push(' ');
                v.push_str(&period.to_string());
            }
            p.push("cpu.max", v);
        }
        if let Some(burst) = c.burst() {
            p.push("cpu.max.burst", burst.to_string());
        }
        if let Some(idle) = c.idle() {
            p.push("cpu.idle", idle.to_string());
        }
        if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
            p.push("cpuset.cpus", cpus);
        }
        if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
            p.push("cpuset.mems", mems);
        }
    }

    if let Some(pids) = r.pids() {
        let l = pids.limit();
        p.push("pids.max", if l > 0 { l.to_string() } else { "max".into() });
    }

    if let Some(b) = r.block_io() {
        // With BFQ the weight file takes v1's 10..1000 range unchanged.
        let bfq = dir.join("io.bfq.weight").exists();
        let (wfile, conv): (&str, fn(u16) -> u64) = if bfq {
            ("io.bfq.weight", u64::from)
        } else {
            ("io.weight", blkio_weight_to_io_weight)
        };
        if let Some(w) = b.weight().filter(|&w| w != 0) {
            p.push(wfile, conv(w).to_string());
        }
        for d in b.weight_device().iter().flatten() {
            if let Some(w) = d.weight() {
                p.push(wfile, format!("{}:{} {}", d.major(), d.minor(), conv(w)));
            }
        }
        // One io.max line per device with every limit the spec sets for it; rate 0 = "max".
        let mut max: BTreeMap<(i64, i64), Vec<String>> = BTreeMap::new();
        for (key, list) in [
            ("rbps", b.throttle_read_bps_device()),
            ("wbps", b.throttle_write_bps_device()),
            ("riops", b.throttle_read_iops_device()),
            ("wiops", b.throttle_write_iops_device()),
        ] {
            for d in list.iter().flatten() {
                let rate = if d.rate() == 0 {
                    "max".to_string()
                } else {
                    d.rate().to_string()
                };
                max.entry((d.major(), d.minor()))
                    .or_default()
                    .push(format!("{key}={rate}"));
            }
        }
        for ((ma, mi), parts) in max {
            p.push("io.max", format!("{ma}:{mi} {}", parts.join(" ")));
        }
    }

    for h in r.hugepage_limits().iter().flatten() {
        let size = h.page_size();
        if size.is_empty() || size.contains('/') || size.contains('.') {
            return Err(invalid(
                "hugepageLimits.pageSize",
                format!("{size:?} is not a page size like \"2MB\""),
            ));
        }
        p.push(format!("hugetlb.{size}.max"), num_or_max(h.limit()));
    }

    if let Some(rdma) = r.rdma() {
        for (dev, l) in rdma {
            if dev.contains(char::is_whitespace) || dev.is_empty() {
                return Err(invalid("rdma", format!("bad device name {dev:?}")));
            }
            let mut v = dev.clone();
            if let Some(h) = l.hca_handles() {
                v.push_str(&format!(" hca_handle={h}"));
            }
            if let Some(o) = l.hca_objects() {
                v.push_str(&format!(" hca_object={o}"));
            }
            p.push("rdma.max", v);
        }
    }
    // linux.resources.network (net_cls/net_prio) does not exist on v2; ignored as runc does.

    if let Some(unified) = r.unified() {
        // Sorted so the order of writes does not depend on HashMap iteration.
        let mut keys: Vec<&String> = unified.keys().collect();
        keys.sort();
        for k in &keys {
            check_unified_key(k)?;
        }
        for k in keys {
            p.push(k.as_str(), unified[k].as_str());
        }
    }

    if let Some(rules) = r.devices() {
        let rules = normalize(rules)?;
        if !rules.is_empty() {
            let mut st = DeviceState::allow_all();
            st.apply_all(&rules);
            p.devices = Some(st);
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_conversion_matches_runc() {
        assert_eq!(swap_v2(0, -1).ok(), Some(-1));
        assert_eq!(swap_v2(-1, 100).ok(), Some(-1));
        assert_eq!(swap_v2(0, 100).ok(), Some(0));
        assert_eq!(swap_v2(300, 100).ok(), Some(200));
        assert!(swap_v2(50, 100).is_err());
        assert!(swap_v2(50, 0).is_err());
    }

    #[test]
    fn unified_keys() {
        assert!(check_unified_key("memory.high").is_ok());
        for k in [
            "",
            "..",
            "memory",
            "../memory.max",
            "a/b.c",
            "cgroup.procs",
            ".max",
        ] {
            assert!(check_unified_key(k).is_err(), "{k:?} accepted");
        }
    }

    #[test]
    fn io_max_one_line_per_device() {
        use oci_spec::runtime::{
            LinuxBlockIoBuilder, LinuxResourcesBuilder, LinuxThrottleDeviceBuilder,
        };
        let t = |ma: i64, mi: i64, rate: u64| {
            LinuxThrottleDeviceBuilder::default()
                .major(ma)
                .minor(mi)
                .rate(rate)
                .build()
                .expect("t")
        };
        let r = LinuxResourcesBuilder::default()
            .block_io(
                LinuxBlockIoBuilder::default()
                    .throttle_read_bps_device(vec![t(8, 0, 100), t(8, 16, 0)])
                    .throttle_write_iops_device(vec![t(8, 16, 5)])
                    .build()
                    .expect("blkio"),
            )
            .build()
            .expect("resources");
        let p = plan(Path::new("/nonexistent"), &r).expect("plan");
        let lines: Vec<&str> = p.writes.iter().map(|w| w.value.as_str()).collect();
        assert_eq!(lines, ["8:0 rbps=100", "8:16 rbps=max wiops=5"]);
        assert!(p.writes.iter().all(|w| w.file == "io.max"));
    }

    #[test]
    fn weights() {
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
        assert_eq!(blkio_weight_to_io_weight(500), 4950);
    }
}

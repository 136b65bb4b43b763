//! OCI `linux.resources` → cgroup v1 control files, in runc's subsystem order (cpuset, devices,
//! memory, cpu, pids, blkio, hugetlb, net_cls, net_prio, rdma). Everything that can be checked
//! without the kernel is checked before the first write.

use std::path::Path;

use oci_spec::runtime::{LinuxMemory, LinuxResources};

use super::V1Manager;
use crate::devices::emulator::DeviceState;
use crate::devices::{normalize, Rule};
use crate::fsutil::{self, write_in};
use crate::CgroupError;

fn missing(controller: &str, field: &str) -> CgroupError {
    CgroupError::ControllerMissing {
        controller: controller.to_string(),
        field: field.to_string(),
    }
}

fn invalid(field: &str, reason: impl Into<String>) -> CgroupError {
    CgroupError::InvalidResource {
        field: field.to_string(),
        reason: reason.into(),
    }
}

fn memory_set(m: &LinuxMemory) -> bool {
    m.limit().is_some()
        || m.reservation().is_some()
        || m.swap().is_some()
        || m.swappiness().is_some()
        || m.disable_oom_killer() == Some(true)
}

/// The directories needed by `r`, resolved and validated.
struct Dirs<'a> {
    memory: Option<&'a Path>,
    cpu: Option<&'a Path>,
    cpuset: Option<&'a Path>,
    pids: Option<&'a Path>,
    blkio: Option<&'a Path>,
    devices: Option<(&'a Path, Vec<Rule>)>,
}

fn validate<'a>(m: &'a V1Manager, r: &LinuxResources) -> Result<Dirs<'a>, CgroupError> {
    let need =
        |controller: &str, field: &str| m.dir(controller).ok_or_else(|| missing(controller, field));
    let mut d = Dirs {
        memory: None,
        cpu: None,
        cpuset: None,
        pids: None,
        blkio: None,
        devices: None,
    };
    if let Some(mem) = r.memory().as_ref().filter(|mem| memory_set(mem)) {
        d.memory = Some(need("memory", "memory")?);
        if let Some(s) = mem.swappiness().filter(|&s| s > 100) {
            return Err(invalid(
                "memory.swappiness",
                format!("{s} is outside 0..=100"),
            ));
        }
        let (limit, swap) = (mem.limit().unwrap_or(0), mem.swap().unwrap_or(0));
        if swap > 0 && limit > 0 && swap < limit {
            return Err(invalid(
                "memory.swap",
                format!("memory+swap ({swap}) must be >= the memory limit ({limit})"),
            ));
        }
    }
    if let Some(c) = r.cpu() {
        if c.shares().is_some_and(|v| v != 0)
            || c.quota().is_some_and(|v| v != 0)
            || c.period().is_some_and(|v| v != 0)
            || c.realtime_runtime().is_some_and(|v| v != 0)
            || c.realtime_period().is_some_and(|v| v != 0)
            || c.idle().is_some()
            || c.burst().is_some()
        {
            d.cpu = Some(need("cpu", "cpu")?);
        }
        if c.cpus().as_deref().is_some_and(|s| !s.is_empty())
            || c.mems().as_deref().is_some_and(|s| !s.is_empty())
        {
            d.cpuset = Some(need("cpuset", "cpu.cpus")?);
        }
    }
    if r.pids().is_some() {
        d.pids = Some(need("pids", "pids")?);
    }
    if let Some(b) = r.block_io() {
        let any = b.weight().is_some()
            || b.leaf_weight().is_some()
            || [
                b.throttle_read_bps_device(),
                b.throttle_write_bps_device(),
                b.throttle_read_iops_device(),
                b.throttle_write_iops_device(),
            ]
            .iter()
            .any(|l| l.as_ref().is_some_and(|l| !l.is_empty()))
            || b.weight_device().as_ref().is_some_and(|l| !l.is_empty());
        if any {
            d.blkio = Some(need("blkio", "blockIO")?);
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
    }
    if r.unified().as_ref().is_some_and(|u| !u.is_empty()) {
        return Err(invalid(
            "unified",
            "cgroup v2 settings cannot be applied on a cgroup v1 host",
        ));
    }
    if let Some(rules) = r.devices() {
        let rules = normalize(rules)?;
        if !rules.is_empty() {
            d.devices = Some((need("devices", "devices")?, rules));
        }
    }
    Ok(d)
}

pub(super) fn apply(m: &V1Manager, r: &LinuxResources) -> Result<(), CgroupError> {
    let d = validate(m, r)?;

    if let (Some(dir), Some(c)) = (d.cpuset, r.cpu()) {
        if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
            write_in(dir, "cpuset.cpus", cpus)?;
        }
        if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
            write_in(dir, "cpuset.mems", mems)?;
        }
    }

    if let Some((dir, rules)) = &d.devices {
        apply_devices(dir, rules)?;
    }

    if let (Some(dir), Some(mem)) = (d.memory, r.memory()) {
        apply_memory(dir, mem)?;
    }

    if let (Some(dir), Some(c)) = (d.cpu, r.cpu()) {
        // Realtime budget first: a SCHED_RR task can only join a group that has one.
        if let Some(p) = c.realtime_period().filter(|&v| v != 0) {
            write_in(dir, "cpu.rt_period_us", &p.to_string())?;
        }
        if let Some(rt) = c.realtime_runtime().filter(|&v| v != 0) {
            write_in(dir, "cpu.rt_runtime_us", &rt.to_string())?;
        }
        if let Some(s) = c.shares().filter(|&v| v != 0) {
            write_in(dir, "cpu.shares", &s.to_string())?;
        }
        let quota = c.quota().unwrap_or(0);
        let mut period_pending = None;
        if let Some(p) = c.period().filter(|&v| v != 0) {
            let p = p.to_string();
            match write_in(dir, "cpu.cfs_period_us", &p) {
                Ok(()) => {}
                // A shorter period can be refused while the old quota is in place (old
                // quota/new period exceeding the parent's); retry after writing the quota.
                Err(CgroupError::Write { source, .. })
                    if quota != 0
                        && source.raw_os_error()
                            == Some(rustix::io::Errno::INVAL.raw_os_error()) =>
                {
                    period_pending = Some(p);
                }
                Err(e) => return Err(e),
            }
        }
        if quota != 0 {
            write_in(dir, "cpu.cfs_quota_us", &quota.to_string())?;
            if let Some(p) = period_pending {
                write_in(dir, "cpu.cfs_period_us", &p)?;
            }
        }
        if let Some(b) = c.burst() {
            write_in(dir, "cpu.cfs_burst_us", &b.to_string())?;
        }
        if let Some(i) = c.idle() {
            write_in(dir, "cpu.idle", &i.to_string())?;
        }
    }

    if let (Some(dir), Some(p)) = (d.pids, r.pids()) {
        let l = p.limit();
        write_in(
            dir,
            "pids.max",
            &if l > 0 { l.to_string() } else { "max".into() },
        )?;
    }

    if let (Some(dir), Some(b)) = (d.blkio, r.block_io()) {
        // Kernels with BFQ and without CFQ only have the blkio.bfq.* weight files.
        let bfq = !dir.join("blkio.weight").exists() && dir.join("blkio.bfq.weight").exists();
        let (wfile, wdev) = if bfq {
            ("blkio.bfq.weight", "blkio.bfq.weight_device")
        } else {
            ("blkio.weight", "blkio.weight_device")
        };
        if let Some(w) = b.weight().filter(|&w| w != 0) {
            write_in(dir, wfile, &w.to_string())?;
        }
        if let Some(w) = b.leaf_weight().filter(|&w| w != 0) {
            write_in(dir, "blkio.leaf_weight", &w.to_string())?;
        }
        for wd in b.weight_device().iter().flatten() {
            if let Some(w) = wd.weight() {
                write_in(dir, wdev, &format!("{}:{} {}", wd.major(), wd.minor(), w))?;
            }
            if let Some(w) = wd.leaf_weight() {
                write_in(
                    dir,
                    "blkio.leaf_weight_device",
                    &format!("{}:{} {}", wd.major(), wd.minor(), w),
                )?;
            }
        }
        for (file, list) in [
            (
                "blkio.throttle.read_bps_device",
                b.throttle_read_bps_device(),
            ),
            (
                "blkio.throttle.write_bps_device",
                b.throttle_write_bps_device(),
            ),
            (
                "blkio.throttle.read_iops_device",
                b.throttle_read_iops_device(),
            ),
            (
                "blkio.throttle.write_iops_device",
                b.throttle_write_iops_device(),
            ),
        ] {
            for t in list.iter().flatten() {
                write_in(
                    dir,
                    file,
                    &format!("{}:{} {}", t.major(), t.minor(), t.rate()),
                )?;
            }
        }
    }

    // hugetlb, net_cls, net_prio and rdma are skipped silently when not mounted (runc does
    // the same: they are often compiled out or unused).
    if let Some(dir) = m.dir("hugetlb") {
        for h in r.hugepage_limits().iter().flatten() {
            write_in(
                dir,
                &format!("hugetlb.{}.limit_in_bytes", h.page_size()),
                &h.limit().to_string(),
            )?;
        }
    }
    if let Some(net) = r.network() {
        if let (Some(dir), Some(id)) = (m.dir("net_cls"), net.class_id()) {
            write_in(dir, "net_cls.classid", &id.to_string())?;
        }
        if let Some(dir) = m.dir("net_prio") {
            for p in net.priorities().iter().flatten() {
                write_in(
                    dir,
                    "net_prio.ifpriomap",
                    &format!("{} {}", p.name(), p.priority()),
                )?;
            }
        }
    }
    if let (Some(dir), Some(rdma)) = (m.dir("rdma"), r.rdma()) {
        for (dev, l) in rdma {
            let mut v = dev.clone();
            if let Some(h) = l.hca_handles() {
                v.push_str(&format!(" hca_handle={h}"));
            }
            if let Some(o) = l.hca_objects() {
                v.push_str(&format!(" hca_object={o}"));
            }
            write_in(dir, "rdma.max", &v)?;
        }
    }
    Ok(())
}

/// runc's `setMemoryAndSwap`: memsw (memory+swap) must never be below the memory limit at any
/// moment, so when raising, memsw goes first; when lowering, the memory limit goes first.
fn apply_memory(dir: &Path, m: &LinuxMemory) -> Result<(), CgroupError> {
    let limit = m.limit().unwrap_or(0);
    let mut swap = m.swap().unwrap_or(0);
    let memsw = dir.join("memory.memsw.limit_in_bytes");
    let memsw_exists = memsw.exists();
    // "Unlimited memory" without a swap value means unlimited memory+swap too.
    if limit == -1 && swap == 0 && memsw_exists {
        swap = -1;
    }
    if swap != 0 && !memsw_exists && (swap == -1 || swap == limit) {
        // No swap accounting in this kernel; "no extra swap limit" needs no file.
        swap = 0;
    }
    let set_limit = |v: i64| -> Result<(), CgroupError> {
        if v != 0 {
            write_in(dir, "memory.limit_in_bytes", &v.to_string())?;
        }
        Ok(())
    };
    let set_swap = |v: i64| -> Result<(), CgroupError> {
        if v != 0 {
            fsutil::write(&memsw, &v.to_string())?;
        }
        Ok(())
    };
    let mut done = false;
    if limit != 0 && swap != 0 {
        let current = fsutil::read_u64_opt(&dir.join("memory.limit_in_bytes"))?.unwrap_or(0);
        if swap == -1 || current < swap as u64 {
            set_swap(swap)?;
            set_limit(limit)?;
            done = true;
        }
    }
    if !done {
        set_limit(limit)?;
        set_swap(swap)?;
    }
    if let Some(r) = m.reservation().filter(|&v| v != 0) {
        write_in(dir, "memory.soft_limit_in_bytes", &r.to_string())?;
    }
    if let Some(s) = m.swappiness() {
        write_in(dir, "memory.swappiness", &s.to_string())?;
    }
    if m.disable_oom_killer() == Some(true) {
        write_in(dir, "memory.oom_control", "1")?;
    }
    // kernel and kernelTCP are ignored: deprecated, and refused by kernels >= 5.16.
    Ok(())
}

/// Writes the minimal transition from the cgroup's current `devices.list` to the state the
/// rules describe when applied on top of it (what writing them in order would give).
fn apply_devices(dir: &Path, rules: &[Rule]) -> Result<(), CgroupError> {
    let list_path = dir.join("devices.list");
    let current = match fsutil::read_opt(&list_path)? {
        Some(list) => DeviceState::from_list(&list).ok_or_else(|| CgroupError::Parse {
            path: list_path.clone(),
            reason: "unexpected devices.list line".into(),
        })?,
        // A test root without devices.list: a fresh cgroup allows everything.
        None => DeviceState::allow_all(),
    };
    let mut target = current.clone();
    target.apply_all(rules);
    for w in current.transition(&target) {
        let file = if w.allow {
            "devices.allow"
        } else {
            "devices.deny"
        };
        write_in(dir, file, &w.line)?;
    }
    Ok(())
}

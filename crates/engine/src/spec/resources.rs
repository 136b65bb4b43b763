//! Cgroup limits (memory, CPU, pids, block I/O), ulimits, oom_score_adj and sysctls with
//! Docker's defaults and validation messages (moby `daemon/daemon_unix.go`
//! verifyPlatformContainerResources and `opts.ValidateSysctl`).

use crate::{Error, Result};
use bollard_stubs::models::{HostConfig, ResourcesUlimits};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};

/// CFS period Docker uses with NanoCpus.
pub const DEFAULT_CPU_PERIOD: i64 = 100_000;

/// Docker's lowest memory limit.
pub const MIN_MEMORY: i64 = 6 << 20;

fn invalid(m: impl Into<String>) -> Error {
    Error::InvalidArgument(m.into())
}

/// `linux.resources` without devices.
pub fn build(hc: &HostConfig) -> Result<Value> {
    let mut res = Map::new();

    // Memory.
    let memory = hc.memory.unwrap_or(0);
    let swap = hc.memory_swap.unwrap_or(0);
    let reservation = hc.memory_reservation.unwrap_or(0);
    if memory < 0 {
        return Err(invalid("invalid HostConfig.Memory: must not be negative"));
    }
    if memory > 0 && memory < MIN_MEMORY {
        return Err(invalid(
            "Minimum memory limit allowed is 6MB (HostConfig.Memory)",
        ));
    }
    if memory == 0 && swap > 0 {
        return Err(invalid(
            "You should always set the Memory limit when using Memoryswap limit, see usage (HostConfig.MemorySwap)",
        ));
    }
    if swap > 0 && swap < memory {
        return Err(invalid(
            "Minimum memoryswap limit should be larger than memory limit, see usage (HostConfig.MemorySwap)",
        ));
    }
    if swap < -1 {
        return Err(invalid(
            "invalid HostConfig.MemorySwap: -1 (unlimited) or a size",
        ));
    }
    if memory > 0 && reservation > memory {
        return Err(invalid(
            "Minimum memory limit can not be less than memory reservation limit, see usage (HostConfig.MemoryReservation)",
        ));
    }
    let mut mem = Map::new();
    if memory > 0 {
        mem.insert("limit".into(), json!(memory));
        // Docker: no MemorySwap with a Memory limit = twice the memory; -1 = unlimited.
        let swap = if swap == 0 { memory * 2 } else { swap };
        mem.insert("swap".into(), json!(swap));
    }
    if reservation > 0 {
        mem.insert("reservation".into(), json!(reservation));
    }
    match hc.memory_swappiness {
        None | Some(-1) => {}
        Some(s @ 0..=100) => {
            mem.insert("swappiness".into(), json!(s));
        }
        Some(s) => {
            return Err(invalid(format!(
                "Invalid value: {s}, valid memory swappiness range is 0-100 (HostConfig.MemorySwappiness)"
            )))
        }
    }
    if hc.oom_kill_disable == Some(true) {
        mem.insert("disableOOMKiller".into(), json!(true));
    }
    if !mem.is_empty() {
        res.insert("memory".into(), Value::Object(mem));
    }

    // CPU.
    let mut cpu = Map::new();
    let nano = hc.nano_cpus.unwrap_or(0);
    let quota = hc.cpu_quota.unwrap_or(0);
    let period = hc.cpu_period.unwrap_or(0);
    if nano != 0 {
        if period > 0 {
            return Err(invalid(
                "Conflicting options: Nano CPUs and CPU Period cannot both be set (HostConfig.NanoCpus)",
            ));
        }
        if quota > 0 {
            return Err(invalid(
                "Conflicting options: Nano CPUs and CPU Quota cannot both be set (HostConfig.NanoCpus)",
            ));
        }
        let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get()) as i64;
        if nano < 10_000_000 || nano > ncpu * 1_000_000_000 {
            return Err(invalid(format!(
                "Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available (HostConfig.NanoCpus)"
            )));
        }
        cpu.insert("period".into(), json!(DEFAULT_CPU_PERIOD));
        cpu.insert(
            "quota".into(),
            json!(nano * DEFAULT_CPU_PERIOD / 1_000_000_000),
        );
    }
    if period != 0 {
        if !(1000..=1_000_000).contains(&period) {
            return Err(invalid(
                "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000) (HostConfig.CpuPeriod)",
            ));
        }
        cpu.insert("period".into(), json!(period));
    }
    if quota != 0 {
        if quota > 0 && quota < 1000 {
            return Err(invalid(
                "CPU cfs quota can not be less than 1ms (i.e. 1000) (HostConfig.CpuQuota)",
            ));
        }
        if quota > 0 {
            cpu.insert("quota".into(), json!(quota));
        }
    }
    match hc.cpu_shares.unwrap_or(0) {
        0 => {}
        s if s < 0 => {
            return Err(invalid(
                "invalid HostConfig.CpuShares: must not be negative",
            ))
        }
        // The kernel's minimum and maximum, as Docker clamps them.
        s => {
            cpu.insert("shares".into(), json!(s.clamp(2, 262_144)));
        }
    }
    if let Some(c) = hc.cpuset_cpus.as_deref().filter(|c| !c.is_empty()) {
        check_cpuset(c, "HostConfig.CpusetCpus")?;
        cpu.insert("cpus".into(), json!(c));
    }
    if let Some(m) = hc.cpuset_mems.as_deref().filter(|m| !m.is_empty()) {
        check_cpuset(m, "HostConfig.CpusetMems")?;
        cpu.insert("mems".into(), json!(m));
    }
    if !cpu.is_empty() {
        res.insert("cpu".into(), Value::Object(cpu));
    }

    // Pids: 0 and -1 mean unlimited.
    if let Some(p) = hc.pids_limit.filter(|p| *p > 0) {
        res.insert("pids".into(), json!({"limit": p}));
    }

    // Block I/O.
    match hc.blkio_weight.unwrap_or(0) {
        0 => {}
        w @ 10..=1000 => {
            res.insert("blockIO".into(), json!({"weight": w}));
        }
        _ => {
            return Err(invalid(
                "Range of blkio weight is from 10 to 1000 (HostConfig.BlkioWeight)",
            ))
        }
    }
    Ok(Value::Object(res))
}

/// "0-3,5" style lists.
fn check_cpuset(s: &str, field: &str) -> Result<()> {
    let ok = s.split(',').all(|part| {
        let mut it = part.splitn(2, '-');
        let a = it.next().and_then(|a| a.parse::<u32>().ok());
        match (a, it.next()) {
            (Some(_), None) => true,
            (Some(a), Some(b)) => b.parse::<u32>().is_ok_and(|b| b >= a),
            _ => false,
        }
    });
    if ok {
        Ok(())
    } else {
        Err(invalid(format!("Invalid value {s} for cpuset ({field})")))
    }
}

/// Docker's ulimit names to the runtime spec's rlimit types.
fn rlimit_type(name: &str) -> Option<&'static str> {
    Some(match name {
        "core" => "RLIMIT_CORE",
        "cpu" => "RLIMIT_CPU",
        "data" => "RLIMIT_DATA",
        "fsize" => "RLIMIT_FSIZE",
        "locks" => "RLIMIT_LOCKS",
        "memlock" => "RLIMIT_MEMLOCK",
        "msgqueue" => "RLIMIT_MSGQUEUE",
        "nice" => "RLIMIT_NICE",
        "nofile" => "RLIMIT_NOFILE",
        "nproc" => "RLIMIT_NPROC",
        "rss" => "RLIMIT_RSS",
        "rtprio" => "RLIMIT_RTPRIO",
        "rttime" => "RLIMIT_RTTIME",
        "sigpending" => "RLIMIT_SIGPENDING",
        "stack" => "RLIMIT_STACK",
        "as" => "RLIMIT_AS",
        _ => return None,
    })
}

/// `process.rlimits` from HostConfig.Ulimits (Docker adds none by default).
pub fn rlimits(ulimits: &[ResourcesUlimits]) -> Result<Vec<Value>> {
    let mut out: BTreeMap<&'static str, (u64, u64)> = BTreeMap::new();
    for u in ulimits {
        let name = u.name.as_deref().unwrap_or_default();
        let typ = rlimit_type(name)
            .ok_or_else(|| invalid(format!("invalid ulimit type: {name} (HostConfig.Ulimits)")))?;
        let conv = |v: Option<i64>| -> u64 {
            match v {
                // -1 is "unlimited", RLIM_INFINITY.
                Some(v) if v < 0 => u64::MAX,
                Some(v) => v as u64,
                None => 0,
            }
        };
        let soft = conv(u.soft);
        let hard = if u.hard.is_none() { soft } else { conv(u.hard) };
        if soft > hard {
            return Err(invalid(format!(
                "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard} (HostConfig.Ulimits {name})"
            )));
        }
        out.insert(typ, (soft, hard));
    }
    Ok(out
        .into_iter()
        .map(|(t, (soft, hard))| json!({"type": t, "soft": soft, "hard": hard}))
        .collect())
}

/// HostConfig.OomScoreAdj, checked against the kernel's range.
pub fn oom_score_adj(v: Option<i64>) -> Result<Option<i64>> {
    match v {
        None | Some(0) => Ok(None),
        Some(v @ -1000..=1000) => Ok(Some(v)),
        Some(v) => Err(invalid(format!(
            "Invalid value {v}, range for oom score adj is [-1000, 1000] (HostConfig.OomScoreAdj)"
        ))),
    }
}

const IPC_SYSCTLS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// HostConfig.Sysctls: only namespaced ones, and only when the container has its own
/// namespace for them (a sysctl in a shared namespace would change the host).
pub fn sysctls(
    map: Option<&HashMap<String, String>>,
    host_network: bool,
    ipc_host: bool,
    uts_host: bool,
) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (k, v) in map.into_iter().flatten() {
        let (ns, shared) = if IPC_SYSCTLS.contains(&k.as_str()) || k.starts_with("fs.mqueue.") {
            ("IPC", ipc_host)
        } else if k.starts_with("net.") {
            ("network", host_network)
        } else if k == "kernel.domainname" || k == "kernel.hostname" {
            ("UTS", uts_host)
        } else {
            return Err(invalid(format!(
                "sysctl {k:?} is not allowed: not a namespaced sysctl (HostConfig.Sysctls)"
            )));
        };
        if shared {
            return Err(invalid(format!(
                "sysctl {k:?} is not allowed in the host {ns} namespace (HostConfig.Sysctls)"
            )));
        }
        out.insert(k.clone(), v.clone());
    }
    Ok(out)
}

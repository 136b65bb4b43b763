//! stats: one sample of a container's resource usage in the exact JSON of Docker's
//! `/containers/{id}/stats`, from its cgroup (v1 or v2, through berth-cgroups), `/proc/stat`
//! for the host's CPU time and `/proc/<pid>/net/dev` for its network interfaces.
//!
//! The docker CLI derives its columns from differences between two samples (`cpu_stats` and
//! `precpu_stats`, taken one second apart by a streaming request), so the numbers must be in
//! the units dockerd uses: CPU times in nanoseconds, `system_cpu_usage` as the host's total
//! CPU time in nanoseconds (clock ticks of the first `/proc/stat` line × 1e9 / CLK_TCK), and
//! the memory limit capped at the host's memory when unlimited.

use crate::containers::runtime::cgroups_path;
use crate::error::{Error, Result};
use crate::Engine;
use berth_cgroups::{CgroupMode, Stats};
use bollard_stubs::models::{
    ContainerBlkioStatEntry, ContainerBlkioStats, ContainerCpuStats, ContainerCpuUsage,
    ContainerMemoryStats, ContainerNetworkStats, ContainerPidsStats, ContainerStatsResponse,
    ContainerStorageStats, ContainerThrottlingData,
};
use std::collections::HashMap;

impl Engine {
    /// One sample. `precpu_stats` is zero (Docker's first sample of a stream); use
    /// [`stats_after`] to chain samples. A container that is not running gets Docker's zeroed
    /// sample, not an error.
    pub async fn container_stats(&self, key: &str) -> Result<ContainerStatsResponse> {
        let c = self.containers.find(key)?;
        let rec = c.record();
        let name = format!("/{}", rec.name);
        if !rec.state.status.is_live() {
            return Ok(zeroed(&rec.id, &name));
        }
        let id = rec.id.clone();
        let pid = rec.state.pid;
        tokio::task::spawn_blocking(move || sample(&id, &name, pid))
            .await
            .map_err(|e| Error::internal("stats", e))?
    }
}

/// `cur` with `prev` as its previous sample (`precpu_stats`, `preread`).
pub fn stats_after(
    prev: &ContainerStatsResponse,
    mut cur: ContainerStatsResponse,
) -> ContainerStatsResponse {
    cur.preread = prev.read.clone();
    cur.precpu_stats = prev.cpu_stats.clone();
    cur
}

/// Docker's answer for a container without processes.
pub fn zeroed(id: &str, name: &str) -> ContainerStatsResponse {
    ContainerStatsResponse {
        id: Some(id.to_string()),
        name: Some(name.to_string()),
        os_type: None,
        read: Some(crate::util::ZERO_TIME.to_string()),
        preread: Some(crate::util::ZERO_TIME.to_string()),
        pids_stats: Some(ContainerPidsStats::default()),
        blkio_stats: Some(ContainerBlkioStats::default()),
        num_procs: Some(0),
        storage_stats: Some(ContainerStorageStats::default()),
        cpu_stats: Some(zero_cpu()),
        precpu_stats: Some(zero_cpu()),
        memory_stats: Some(ContainerMemoryStats::default()),
        networks: None,
    }
}

fn zero_cpu() -> ContainerCpuStats {
    ContainerCpuStats {
        cpu_usage: Some(ContainerCpuUsage {
            total_usage: Some(0),
            percpu_usage: None,
            usage_in_kernelmode: Some(0),
            usage_in_usermode: Some(0),
        }),
        system_cpu_usage: None,
        online_cpus: None,
        throttling_data: Some(ContainerThrottlingData {
            periods: Some(0),
            throttled_periods: Some(0),
            throttled_time: Some(0),
        }),
    }
}

/// Reads one sample (blocking: cgroup and /proc files).
fn sample(id: &str, name: &str, pid: i64) -> Result<ContainerStatsResponse> {
    let opts = berth_cgroups::CgroupOptions::new(cgroups_path(id), id);
    let cg = berth_cgroups::open(&opts)
        .map_err(|e| Error::internal(format!("cgroup of container {id}"), e))?;
    let stats = cg
        .stats()
        .map_err(|e| Error::internal(format!("cgroup stats of container {id}"), e))?;
    let mode = cg.mode();
    let read = crate::util::now_rfc3339();
    let proc_stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let host = host_cpu(&proc_stat, clock_ticks());
    let host_memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| mem_total(&m));
    let percpu = match mode {
        CgroupMode::V1 => read_percpu(&cgroups_path(id)),
        CgroupMode::V2 => None,
    };
    let networks = if pid > 0 {
        std::fs::read_to_string(format!("/proc/{pid}/net/dev"))
            .ok()
            .map(|s| net_dev(&s))
            .filter(|n| !n.is_empty())
    } else {
        None
    };
    Ok(ContainerStatsResponse {
        id: Some(id.to_string()),
        name: Some(name.to_string()),
        os_type: None,
        read: Some(read),
        preread: Some(crate::util::ZERO_TIME.to_string()),
        pids_stats: Some(ContainerPidsStats {
            current: Some(stats.pids.current),
            limit: stats.pids.limit,
        }),
        blkio_stats: Some(blkio(&stats, mode)),
        num_procs: Some(0),
        storage_stats: Some(ContainerStorageStats::default()),
        cpu_stats: Some(cpu(&stats, host, percpu)),
        precpu_stats: Some(zero_cpu()),
        memory_stats: Some(memory(&stats, mode, host_memory)),
        networks,
    })
}

fn clock_ticks() -> u64 {
    rustix::param::clock_ticks_per_second().max(1)
}

/// The host's total CPU time in nanoseconds and the number of online CPUs, from `/proc/stat`
/// as dockerd computes them (user..softirq of the `cpu` line; one `cpuN` line per online CPU).
pub(crate) fn host_cpu(proc_stat: &str, ticks_per_second: u64) -> (u64, u32) {
    let mut total = 0u64;
    let mut cpus = 0u32;
    for line in proc_stat.lines() {
        let mut fields = line.split_whitespace();
        let Some(first) = fields.next() else { continue };
        if first == "cpu" {
            let ticks: u64 = fields.take(7).filter_map(|f| f.parse::<u64>().ok()).sum();
            total = ticks.saturating_mul(1_000_000_000) / ticks_per_second.max(1);
        } else if first.len() > 3
            && first.starts_with("cpu")
            && first[3..].bytes().all(|b| b.is_ascii_digit())
        {
            cpus += 1;
        }
    }
    (total, cpus)
}

/// `MemTotal` of `/proc/meminfo` in bytes.
pub(crate) fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// v1's per-CPU usage (`cpuacct.usage_percpu`), which the CLI uses when `online_cpus` is 0.
fn read_percpu(cgroup: &str) -> Option<Vec<u64>> {
    let path = format!(
        "{}/cpuacct{cgroup}/cpuacct.usage_percpu",
        berth_cgroups::DEFAULT_ROOT
    );
    let s = std::fs::read_to_string(path).ok()?;
    let v: Vec<u64> = s
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    (!v.is_empty()).then_some(v)
}

pub(crate) fn cpu(s: &Stats, host: (u64, u32), percpu: Option<Vec<u64>>) -> ContainerCpuStats {
    ContainerCpuStats {
        cpu_usage: Some(ContainerCpuUsage {
            total_usage: Some(s.cpu.usage_total),
            percpu_usage: percpu,
            usage_in_kernelmode: Some(s.cpu.usage_system),
            usage_in_usermode: Some(s.cpu.usage_user),
        }),
        system_cpu_usage: Some(host.0),
        online_cpus: Some(host.1),
        throttling_data: Some(ContainerThrottlingData {
            periods: Some(s.cpu.nr_periods),
            throttled_periods: Some(s.cpu.nr_throttled),
            throttled_time: Some(s.cpu.throttled_time),
        }),
    }
}

/// Memory as dockerd reports it: the whole `memory.stat` (v1 names like `total_inactive_file`,
/// v2 names like `inactive_file`, from which the CLI subtracts the cache), and the limit capped
/// at the host's memory (dockerd's "machine memory" rule for unlimited containers).
pub(crate) fn memory(
    s: &Stats,
    mode: CgroupMode,
    host_memory: Option<u64>,
) -> ContainerMemoryStats {
    let m = &s.memory;
    let limit = match (m.limit, host_memory) {
        (Some(l), Some(h)) => Some(l.min(h)),
        (Some(l), None) => Some(l),
        (None, h) => h,
    };
    let v1 = mode == CgroupMode::V1;
    ContainerMemoryStats {
        usage: Some(m.usage),
        max_usage: v1.then_some(m.max_usage),
        stats: Some(m.stat.iter().map(|(k, v)| (k.clone(), *v)).collect()),
        failcnt: v1.then_some(m.failcnt),
        limit,
        commitbytes: None,
        commitpeakbytes: None,
        privateworkingset: None,
    }
}

/// Block I/O per device: v1 with the kernel's capitalised op names in both byte and operation
/// lists, v2 with dockerd's lowercase `read`/`write` bytes only.
pub(crate) fn blkio(s: &Stats, mode: CgroupMode) -> ContainerBlkioStats {
    let entry = |d: &berth_cgroups::IoDeviceStats, op: &str, value: u64| ContainerBlkioStatEntry {
        major: Some(d.major),
        minor: Some(d.minor),
        op: Some(op.to_string()),
        value: Some(value),
    };
    let mut bytes = Vec::new();
    let mut ios = Vec::new();
    for d in &s.io.devices {
        match mode {
            CgroupMode::V1 => {
                bytes.push(entry(d, "Read", d.read_bytes));
                bytes.push(entry(d, "Write", d.write_bytes));
                bytes.push(entry(d, "Total", d.read_bytes + d.write_bytes));
                ios.push(entry(d, "Read", d.read_ios));
                ios.push(entry(d, "Write", d.write_ios));
                ios.push(entry(d, "Total", d.read_ios + d.write_ios));
            }
            CgroupMode::V2 => {
                bytes.push(entry(d, "read", d.read_bytes));
                bytes.push(entry(d, "write", d.write_bytes));
            }
        }
    }
    ContainerBlkioStats {
        io_service_bytes_recursive: Some(bytes),
        io_serviced_recursive: (mode == CgroupMode::V1).then_some(ios),
        ..Default::default()
    }
}

/// Interfaces of `/proc/<pid>/net/dev`. The loopback is left out, as dockerd reports only the
/// container's network endpoints (and the CLI sums every interface it gets).
pub(crate) fn net_dev(content: &str) -> HashMap<String, ContainerNetworkStats> {
    let mut out = HashMap::new();
    for line in content.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name == "lo" || name.is_empty() {
            continue;
        }
        let f: Vec<u64> = rest
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        if f.len() < 12 {
            continue;
        }
        out.insert(
            name.to_string(),
            ContainerNetworkStats {
                rx_bytes: Some(f[0]),
                rx_packets: Some(f[1]),
                rx_errors: Some(f[2]),
                rx_dropped: Some(f[3]),
                tx_bytes: Some(f[8]),
                tx_packets: Some(f[9]),
                tx_errors: Some(f[10]),
                tx_dropped: Some(f[11]),
                endpoint_id: None,
                instance_id: None,
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_cpu_as_dockerd() {
        let stat = "cpu  100 10 50 1000 5 1 2 7 0 0\ncpu0 50 5 25 500 2 0 1 3 0 0\ncpu1 50 5 25 500 3 1 1 4 0 0\nintr 1 2\nctxt 5\n";
        // user..softirq = 100+10+50+1000+5+1+2 = 1168 ticks; steal (7) is not counted.
        let (total, cpus) = host_cpu(stat, 100);
        assert_eq!(total, 11_680_000_000);
        assert_eq!(cpus, 2);
    }

    #[test]
    fn cpu_percent_from_two_samples_matches_the_cli_formula() {
        let mut a = Stats::default();
        a.cpu.usage_total = 1_000_000_000;
        let mut b = a.clone();
        b.cpu.usage_total = 1_500_000_000; // 0.5 s of CPU
        let prev = cpu(&a, (100_000_000_000, 2), None);
        let cur = cpu(&b, (102_000_000_000, 2), None); // 1 s wall on 2 CPUs
        let du = cur
            .cpu_usage
            .as_ref()
            .and_then(|u| u.total_usage)
            .unwrap_or(0)
            - prev
                .cpu_usage
                .as_ref()
                .and_then(|u| u.total_usage)
                .unwrap_or(0);
        let ds = cur.system_cpu_usage.unwrap_or(0) - prev.system_cpu_usage.unwrap_or(0);
        let percent = du as f64 / ds as f64 * f64::from(cur.online_cpus.unwrap_or(0)) * 100.0;
        assert!((percent - 50.0).abs() < 1e-9, "{percent}");
    }

    #[test]
    fn memory_limit_capped_and_stat_kept() {
        let mut s = Stats::default();
        s.memory.usage = 10 << 20;
        s.memory.stat.insert("total_inactive_file".into(), 1 << 20);
        let m = memory(&s, CgroupMode::V1, Some(8 << 30));
        assert_eq!(m.limit, Some(8 << 30));
        assert_eq!(
            m.stats.as_ref().map(|x| x["total_inactive_file"]),
            Some(1 << 20)
        );
        assert_eq!(m.failcnt, Some(0));
        s.memory.limit = Some(64 << 20);
        let m = memory(&s, CgroupMode::V2, Some(8 << 30));
        assert_eq!(m.limit, Some(64 << 20));
        assert_eq!(m.failcnt, None);
        assert_eq!(
            mem_total("MemTotal:       24576000 kB\nMemFree: 1 kB\n"),
            Some(24_576_000 * 1024)
        );
    }

    #[test]
    fn blkio_ops_per_version() {
        let mut s = Stats::default();
        s.io.devices.push(berth_cgroups::IoDeviceStats {
            major: 8,
            minor: 0,
            read_bytes: 4096,
            write_bytes: 8192,
            read_ios: 1,
            write_ios: 2,
        });
        let v1 = blkio(&s, CgroupMode::V1);
        let b = v1.io_service_bytes_recursive.expect("bytes");
        assert_eq!(b[0].op.as_deref(), Some("Read"));
        assert_eq!(b[2].value, Some(12288));
        assert_eq!(v1.io_serviced_recursive.map(|v| v.len()), Some(3));
        let v2 = blkio(&s, CgroupMode::V2);
        assert_eq!(
            v2.io_service_bytes_recursive.expect("bytes")[1]
                .op
                .as_deref(),
            Some("write")
        );
        assert!(v2.io_serviced_recursive.is_none());
    }

    #[test]
    fn net_dev_skips_lo() {
        let s = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0       0          0
  eth0:    1500      10    1    2    0     0          0         0      700       5    3    4    0     0       0          0
";
        let n = net_dev(s);
        assert_eq!(n.len(), 1);
        let e = &n["eth0"];
        assert_eq!(
            (e.rx_bytes, e.rx_packets, e.rx_errors, e.rx_dropped),
            (Some(1500), Some(10), Some(1), Some(2))
        );
        assert_eq!(
            (e.tx_bytes, e.tx_packets, e.tx_errors, e.tx_dropped),
            (Some(700), Some(5), Some(3), Some(4))
        );
    }

    #[test]
    fn zeroed_and_chained_samples() {
        let z = zeroed("abc", "/web");
        let v = serde_json::to_value(&z).expect("json");
        assert_eq!(v["name"], "/web");
        assert_eq!(v["read"], "0001-01-01T00:00:00Z");
        assert_eq!(v["cpu_stats"]["cpu_usage"]["total_usage"], 0);
        let mut next = z.clone();
        next.read = Some("2024-01-01T00:00:01Z".into());
        let mut prev = z;
        prev.read = Some("2024-01-01T00:00:00Z".into());
        let chained = stats_after(&prev, next);
        assert_eq!(chained.preread.as_deref(), Some("2024-01-01T00:00:00Z"));
    }
}

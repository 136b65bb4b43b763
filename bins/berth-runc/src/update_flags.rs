//! `update`'s flags (or --resources JSON) as a LinuxResources.

use crate::cli::UpdateArgs;
use anyhow::{Context, Result};
use oci_spec::runtime::{LinuxBlockIo, LinuxPids, LinuxResources};
use std::io::Read;

/// Parses "512m", "1g", "1024", "-1".
pub fn bytes(s: &str, flag: &str) -> Result<i64> {
    let t = s.trim().to_ascii_lowercase();
    if t == "-1" {
        return Ok(-1);
    }
    let (num, mult) = match t.trim_end_matches('b').chars().last() {
        Some('k') => (&t[..t.trim_end_matches('b').len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.trim_end_matches('b').len() - 1], 1 << 20),
        Some('g') => (&t[..t.trim_end_matches('b').len() - 1], 1 << 30),
        _ => (t.trim_end_matches('b'), 1),
    };
    let n: i64 = num
        .parse()
        .with_context(|| format!("{flag}: invalid size {s:?}"))?;
    Ok(n * mult)
}

pub fn resources(u: &UpdateArgs) -> Result<LinuxResources> {
    let mut r = match &u.resources {
        Some(p) => {
            let mut data = Vec::new();
            if p.as_os_str() == "-" {
                std::io::stdin()
                    .read_to_end(&mut data)
                    .context("--resources: reading stdin")?;
            } else {
                data = std::fs::read(p)
                    .with_context(|| format!("--resources: reading {}", p.display()))?;
            }
            let de = &mut serde_json::Deserializer::from_slice(&data);
            serde_path_to_error::deserialize(de)
                .map_err(|e| anyhow::anyhow!("--resources: {}: {}", e.path(), e.inner()))?
        }
        None => LinuxResources::default(),
    };
    let mut mem = (*r.memory()).unwrap_or_default();
    let mut touched_mem = false;
    if let Some(m) = &u.memory {
        mem.set_limit(Some(bytes(m, "--memory")?));
        touched_mem = true;
    }
    if let Some(m) = &u.memory_reservation {
        mem.set_reservation(Some(bytes(m, "--memory-reservation")?));
        touched_mem = true;
    }
    if let Some(m) = &u.memory_swap {
        mem.set_swap(Some(bytes(m, "--memory-swap")?));
        touched_mem = true;
    }
    if touched_mem {
        r.set_memory(Some(mem));
    }
    let mut cpu = r.cpu().clone().unwrap_or_default();
    let mut touched_cpu = false;
    if let Some(v) = u.cpu_shares {
        cpu.set_shares(Some(v));
        touched_cpu = true;
    }
    if let Some(v) = u.cpu_quota {
        cpu.set_quota(Some(v));
        touched_cpu = true;
    }
    if let Some(v) = u.cpu_period {
        cpu.set_period(Some(v));
        touched_cpu = true;
    }
    if let Some(v) = &u.cpuset_cpus {
        cpu.set_cpus(Some(v.clone()));
        touched_cpu = true;
    }
    if let Some(v) = &u.cpuset_mems {
        cpu.set_mems(Some(v.clone()));
        touched_cpu = true;
    }
    if touched_cpu {
        r.set_cpu(Some(cpu));
    }
    if let Some(p) = u.pids_limit {
        let mut pids = LinuxPids::default();
        pids.set_limit(p);
        r.set_pids(Some(pids));
    }
    if let Some(w) = u.blkio_weight {
        let mut b: LinuxBlockIo = r.block_io().clone().unwrap_or_default();
        b.set_weight(Some(w));
        r.set_block_io(Some(b));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_docker() {
        assert_eq!(bytes("1024", "x").expect("ok"), 1024);
        assert_eq!(bytes("16m", "x").expect("ok"), 16 << 20);
        assert_eq!(bytes("1G", "x").expect("ok"), 1 << 30);
        assert_eq!(bytes("-1", "x").expect("ok"), -1);
        assert!(bytes("lots", "x").is_err());
    }
}

//! The checks dockerd makes when a container is created or updated (moby's
//! `verifyContainerSettings`: `validateContainerConfig`, `validateHostConfig` and, on Linux,
//! `verifyPlatformContainerSettings`), with its messages, so that a request it refuses with a
//! 400 at create is refused here at create too, not accepted and then failing at start.
//!
//! Everything here works on the request and a description of the host ([`HostFacts`]) only: no
//! daemon state, no filesystem, no root. That is what the fuzz target (`fuzz/`) drives.

use crate::error::{Error, Result};
use berth_image::config::ContainerConfig as ImageConfig;
use bollard_stubs::models::{ContainerConfig, ContainerCreateBody, HostConfig};

/// dockerd's minimum for memory limits and reservations (`linuxMinMemory`).
const MIN_MEMORY: i64 = 6 << 20;

/// What the checks need to know about the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFacts {
    /// CPUs containers may use (the daemon's cpuset), as ranges.
    pub cpus: Vec<(u32, u32)>,
    /// Memory nodes containers may use.
    pub mems: Vec<(u32, u32)>,
    /// Number of online CPUs (for NanoCpus).
    pub ncpu: i64,
}

impl HostFacts {
    /// This host: the root cpuset (cgroup v1, then v2), else the online CPUs and nodes.
    pub fn current() -> HostFacts {
        let read = |paths: &[&str]| {
            paths.iter().find_map(|p| {
                std::fs::read_to_string(p)
                    .ok()
                    .and_then(|s| parse_list(s.trim()).ok())
                    .filter(|l| !l.is_empty())
            })
        };
        let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get() as i64);
        HostFacts {
            cpus: read(&[
                "/sys/fs/cgroup/cpuset/cpuset.effective_cpus",
                "/sys/fs/cgroup/cpuset/cpuset.cpus",
                "/sys/fs/cgroup/cpuset.cpus.effective",
                "/sys/devices/system/cpu/online",
            ])
            .unwrap_or_else(|| vec![(0, (ncpu - 1).max(0) as u32)]),
            mems: read(&[
                "/sys/fs/cgroup/cpuset/cpuset.effective_mems",
                "/sys/fs/cgroup/cpuset/cpuset.mems",
                "/sys/fs/cgroup/cpuset.mems.effective",
                "/sys/devices/system/node/online",
            ])
            .unwrap_or_else(|| vec![(0, 0)]),
            ncpu,
        }
    }
}

fn invalid(m: impl Into<String>) -> Error {
    Error::InvalidArgument(m.into())
}

/// The checks of a create request that come before its image is looked up (dockerd's order):
/// the image reference's format, the Config and the HostConfig.
pub fn verify_create(body: &ContainerCreateBody, host: &HostFacts) -> Result<()> {
    if let Some(image) = body.image.as_deref().filter(|i| !i.is_empty()) {
        verify_image_reference(image)?;
    }
    verify_config(&crate::spec::config_of_create_body(body))?;
    verify_host_config(&body.host_config.clone().unwrap_or_default(), host, false)
}

/// A name, `name:tag`, `name@digest`, an image ID or an ID prefix; anything else is Docker's
/// 400 "invalid reference format" (not a 404 for an image that cannot exist).
pub fn verify_image_reference(image: &str) -> Result<()> {
    if crate::images::resolve::looks_like_id(image) || berth_image::Reference::parse(image).is_ok()
    {
        return Ok(());
    }
    if image.bytes().any(|b| b.is_ascii_uppercase())
        && berth_image::Reference::parse(&image.to_ascii_lowercase()).is_ok()
    {
        return Err(invalid(
            "invalid reference format: repository name must be lowercase",
        ));
    }
    Err(invalid("invalid reference format"))
}

/// The container's Config merged with its image's, the process to run, and the conversions
/// to the runtime spec that start would make from the request alone (resources, rlimits,
/// capabilities, namespaces modes, sysctls, published ports, security options): what start
/// would refuse, create refuses.
pub fn convert_create(
    body: &ContainerCreateBody,
    image: &ImageConfig,
    hc: &HostConfig,
) -> Result<(ContainerConfig, Vec<String>)> {
    let user_config = crate::spec::config_of_create_body(body);
    let config = crate::spec::merge_image_config(image, &user_config);
    let args = crate::spec::process_args(&config)?;
    crate::spec::resources::build(hc)?;
    crate::spec::resources::rlimits(hc.ulimits.as_deref().unwrap_or_default())?;
    crate::spec::resources::oom_score_adj(hc.oom_score_adj)?;
    crate::spec::caps::effective(
        hc.cap_add.as_deref().unwrap_or_default(),
        hc.cap_drop.as_deref().unwrap_or_default(),
        hc.privileged.unwrap_or(false),
    )?;
    let modes = crate::spec::Modes::from_host_config(hc)?;
    crate::spec::resources::sysctls(
        hc.sysctls.as_ref(),
        modes.host_network,
        modes.ipc_host,
        modes.uts_host,
    )?;
    crate::spec::security::parse(hc.security_opt.as_deref().unwrap_or_default())?;
    crate::networks::ports::requests(&config, hc)?;
    Ok((config, args))
}

/// moby's checks of the container's Config (`validateContainerConfig`).
pub fn verify_config(config: &ContainerConfig) -> Result<()> {
    if let Some(wd) = config.working_dir.as_deref().filter(|w| !w.is_empty()) {
        if !wd.starts_with('/') {
            return Err(invalid(format!(
                "the working directory '{wd}' is invalid, it needs to be an absolute path"
            )));
        }
    }
    for env in config.env.iter().flatten() {
        if env.split('=').next().unwrap_or("").is_empty() {
            return Err(invalid(format!("invalid environment variable: {env}")));
        }
    }
    if let Some(h) = &config.healthcheck {
        // Durations are nanoseconds; moby's minimum is 1ms.
        let too_short = |v: Option<i64>| v.is_some_and(|v| v != 0 && v < 1_000_000);
        if too_short(h.interval) {
            return Err(invalid("Interval in Healthcheck cannot be less than 1ms"));
        }
        if too_short(h.timeout) {
            return Err(invalid("Timeout in Healthcheck cannot be less than 1ms"));
        }
        if h.retries.is_some_and(|r| r < 0) {
            return Err(invalid("Retries in Healthcheck cannot be negative"));
        }
        if too_short(h.start_period) {
            return Err(invalid(
                "StartPeriod in Healthcheck cannot be less than 1ms",
            ));
        }
        if too_short(h.start_interval) {
            return Err(invalid(
                "StartInterval in Healthcheck cannot be less than 1ms",
            ));
        }
    }
    Ok(())
}

/// moby's checks of the HostConfig (`validateHostConfig` and the Linux
/// `verifyPlatformContainerSettings`). `update`: the request is an update, where a swap limit
/// alone is allowed (the container's memory limit stays).
pub fn verify_host_config(hc: &HostConfig, host: &HostFacts, update: bool) -> Result<()> {
    verify_port_bindings(hc)?;
    verify_resources(hc, host, update)?;
    if hc.shm_size.is_some_and(|s| s < 0) {
        return Err(invalid("SHM size can not be less than 0"));
    }
    if let Some(v) = hc.oom_score_adj.filter(|v| !(-1000..=1000).contains(v)) {
        return Err(invalid(format!(
            "Invalid value {v}, range for oom score adj is [-1000, 1000]"
        )));
    }
    Ok(())
}

/// moby's `validatePortBindings`: container ports and host ports are port numbers or ranges.
fn verify_port_bindings(hc: &HostConfig) -> Result<()> {
    for (key, bindings) in hc.port_bindings.iter().flatten() {
        let port = key.split_once('/').map_or(key.as_str(), |(p, _)| p);
        if parse_port_range(port).is_none() {
            return Err(invalid(format!("invalid port specification: {port:?}")));
        }
        for b in bindings.iter().flatten() {
            let host_port = b.host_port.as_deref().unwrap_or("");
            let bare = host_port.split_once('/').map_or(host_port, |(p, _)| p);
            if !bare.is_empty() && parse_port_range(bare).is_none() {
                return Err(invalid(format!(
                    "invalid port specification: {host_port:?}"
                )));
            }
        }
    }
    Ok(())
}

/// "80" or "8000-8010", each a 16-bit number, the range not reversed.
fn parse_port_range(s: &str) -> Option<(u16, u16)> {
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (a.parse::<u16>().ok()?, b.parse::<u16>().ok()?);
            (a <= b).then_some((a, b))
        }
        None => s.parse::<u16>().ok().map(|p| (p, p)),
    }
}

/// moby's `verifyPlatformContainerResources`, for what a cgroup v1 or v2 host supports.
fn verify_resources(hc: &HostConfig, host: &HostFacts, update: bool) -> Result<()> {
    let memory = hc.memory.unwrap_or(0);
    let swap = hc.memory_swap.unwrap_or(0);
    let reservation = hc.memory_reservation.unwrap_or(0);
    if memory != 0 && memory < MIN_MEMORY {
        return Err(invalid("Minimum memory limit allowed is 6MB"));
    }
    if memory > 0 && swap > 0 && swap < memory {
        return Err(invalid(
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ));
    }
    if memory == 0 && swap > 0 && !update {
        return Err(invalid(
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        ));
    }
    if let Some(s) = hc.memory_swappiness.filter(|s| *s != -1) {
        if !(0..=100).contains(&s) {
            return Err(invalid(format!(
                "Invalid value: {s}, valid memory swappiness range is 0-100"
            )));
        }
    }
    if reservation > 0 && reservation < MIN_MEMORY {
        return Err(invalid("Minimum memory reservation allowed is 6MB"));
    }
    if memory > 0 && reservation > 0 && memory < reservation {
        return Err(invalid(
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        ));
    }
    let nano = hc.nano_cpus.unwrap_or(0);
    let period = hc.cpu_period.unwrap_or(0);
    let quota = hc.cpu_quota.unwrap_or(0);
    if nano > 0 && period > 0 {
        return Err(invalid(
            "Conflicting options: Nano CPUs and CPU Period cannot both be set",
        ));
    }
    if nano > 0 && quota > 0 {
        return Err(invalid(
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
        ));
    }
    if nano < 0 || nano > host.ncpu.saturating_mul(1_000_000_000) {
        let n = host.ncpu;
        return Err(invalid(format!(
            "Range of CPUs is from 0.01 to {n}.00, as there are only {n} CPUs available"
        )));
    }
    if period != 0 && !(1000..=1_000_000).contains(&period) {
        return Err(invalid(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ));
    }
    if quota > 0 && quota < 1000 {
        return Err(invalid(
            "CPU cfs quota can not be less than 1ms (i.e. 1000)",
        ));
    }
    if let Some(c) = hc.cpuset_cpus.as_deref().filter(|c| !c.is_empty()) {
        let asked = parse_list(c)
            .map_err(|e| invalid(format!("Invalid value {c} for cpuset cpus: {e}")))?;
        if !within(&asked, &host.cpus) {
            return Err(invalid(format!(
                "Requested CPUs are not available - requested {c}, available: {}",
                format_list(&host.cpus)
            )));
        }
    }
    if let Some(m) = hc.cpuset_mems.as_deref().filter(|m| !m.is_empty()) {
        let asked = parse_list(m)
            .map_err(|e| invalid(format!("Invalid value {m} for cpuset mems: {e}")))?;
        if !within(&asked, &host.mems) {
            return Err(invalid(format!(
                "Requested memory nodes are not available - requested {m}, available: {}",
                format_list(&host.mems)
            )));
        }
    }
    if let Some(w) = hc.blkio_weight.filter(|w| *w > 0) {
        if !(10..=1000).contains(&w) {
            return Err(invalid("Range of blkio weight is from 10 to 1000"));
        }
    }
    if hc.io_maximum_bandwidth.unwrap_or(0) != 0 || hc.io_maximum_iops.unwrap_or(0) != 0 {
        return Err(invalid(
            "Invalid QoS settings: linux does not support Maximum IO Bandwidth or Maximum IO IOps",
        ));
    }
    Ok(())
}

/// "0-3,5" (moby's `ParseUintList`) as sorted ranges.
pub(crate) fn parse_list(s: &str) -> std::result::Result<Vec<(u32, u32)>, String> {
    let bad = || format!("invalid format: {s}");
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for part in s.split(',') {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a, b),
            None => (part, part),
        };
        let a = a.parse::<u32>().map_err(|_| bad())?;
        let b = b.parse::<u32>().map_err(|_| bad())?;
        if b < a {
            return Err(bad());
        }
        out.push((a, b));
    }
    out.sort_unstable();
    Ok(out)
}

/// Whether every number of `asked` is in one of the ranges of `have`.
fn within(asked: &[(u32, u32)], have: &[(u32, u32)]) -> bool {
    asked.iter().all(|&(a, b)| {
        // Walk the asked range through `have` without enumerating it (it may be huge).
        let mut next = a;
        loop {
            match have.iter().find(|&&(lo, hi)| lo <= next && next <= hi) {
                Some(&(_, hi)) if hi >= b => return true,
                Some(&(_, hi)) => next = hi + 1,
                None => return false,
            }
        }
    })
}

fn format_list(l: &[(u32, u32)]) -> String {
    l.iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard_stubs::models::PortBinding;
    use std::collections::HashMap;

    fn host() -> HostFacts {
        HostFacts {
            cpus: vec![(0, 1)],
            mems: vec![(0, 0)],
            ncpu: 2,
        }
    }

    fn refused(hc: HostConfig) -> String {
        verify_host_config(&hc, &host(), false)
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn dockerd_messages() {
        assert_eq!(
            refused(HostConfig {
                memory: Some(-5),
                ..Default::default()
            }),
            "Minimum memory limit allowed is 6MB"
        );
        assert_eq!(
            refused(HostConfig {
                cpuset_cpus: Some("99".into()),
                ..Default::default()
            }),
            "Requested CPUs are not available - requested 99, available: 0-1"
        );
        assert_eq!(
            refused(HostConfig {
                cpuset_cpus: Some("1-x".into()),
                ..Default::default()
            }),
            "Invalid value 1-x for cpuset cpus: invalid format: 1-x"
        );
        let mut ports = HashMap::new();
        ports.insert(
            "80/tcp".to_string(),
            Some(vec![PortBinding {
                host_ip: None,
                host_port: Some("99999".into()),
            }]),
        );
        assert_eq!(
            refused(HostConfig {
                port_bindings: Some(ports),
                ..Default::default()
            }),
            "invalid port specification: \"99999\""
        );
        assert_eq!(
            refused(HostConfig {
                memory: Some(20 << 20),
                memory_swap: Some(10 << 20),
                ..Default::default()
            }),
            "Minimum memoryswap limit should be larger than memory limit, see usage"
        );
        // A swap limit alone is an update's business only.
        let swap_only = HostConfig {
            memory_swap: Some(10 << 20),
            ..Default::default()
        };
        assert!(verify_host_config(&swap_only, &host(), true).is_ok());
        assert!(verify_host_config(&swap_only, &host(), false).is_err());
    }

    #[test]
    fn cpusets() {
        assert!(within(&parse_list("0,1").expect("list"), &[(0, 1)]));
        assert!(within(&parse_list("0-3").expect("list"), &[(0, 1), (2, 3)]));
        assert!(!within(
            &parse_list("0-4000000000").expect("list"),
            &[(0, 1)]
        ));
        assert!(parse_list("3-1").is_err() && parse_list("a").is_err());
    }

    #[test]
    fn config_checks() {
        let c = ContainerConfig {
            working_dir: Some("rel".into()),
            ..Default::default()
        };
        assert!(verify_config(&c).is_err());
        let c = ContainerConfig {
            env: Some(vec!["=x".into()]),
            ..Default::default()
        };
        assert_eq!(
            verify_config(&c).expect_err("env").to_string(),
            "invalid environment variable: =x"
        );
    }
}

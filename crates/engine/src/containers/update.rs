//! update: changes a container's resource limits and restart policy. The merged values are
//! kept in the record's HostConfig (so the next start uses them) and, for a running container,
//! applied first through the OCI runtime (`RUNTIME update --resources -`, the OCI
//! LinuxResources JSON on stdin, which berth-runc, runc and crun all accept). If the runtime
//! refuses, nothing is recorded.
//!
//! The merge follows dockerd's rules: a zero or absent field keeps the current value, and
//! Nano CPUs and CPU quota/period cannot replace each other.

use crate::containers::Status;
use crate::error::{Error, Result};
use crate::Engine;
use bollard_stubs::models::{ContainerUpdateBody, HostConfig};
use serde_json::{json, Map, Value};
use std::process::Stdio;
use tokio::io::AsyncWriteExt;

impl Engine {
    /// Updates resources and restart policy; returns Docker's warnings.
    pub async fn container_update(
        &self,
        key: &str,
        update: ContainerUpdateBody,
    ) -> Result<Vec<String>> {
        let c = self.containers.find(key)?;
        let _op = c.op.lock().await;
        let rec = c.record();
        let cannot = |e: Error| -> Error {
            let msg = format!("Cannot update container {}: {e}", rec.id);
            match e {
                Error::InvalidArgument(_) => Error::InvalidArgument(msg),
                Error::Conflict(_) => Error::Conflict(msg),
                _ => Error::Internal(msg),
            }
        };
        let mut hc = merge(&rec.host_config, &update).map_err(cannot)?;
        // The daemon's own checks (memory minimum, swap >= memory, CPU range...), reported
        // as they are, as dockerd does.
        self.validate_host_config(&mut hc, true)?;
        // What the runtime would refuse (a swap limit without a memory limit...) is a 400 now.
        crate::spec::resources::build(&hc)?;
        let mut warnings = Vec::new();
        let running = matches!(rec.state.status, Status::Running | Status::Paused);
        if running {
            let swap = swap_accounting();
            if !swap && hc.memory_swap.unwrap_or(0) > 0 {
                warnings.push(
                    "Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap."
                        .to_string(),
                );
            }
            let resources = linux_resources(&hc, swap);
            self.runtime_update(&rec.runtime, &rec.id, &resources)
                .await
                .map_err(cannot)?;
        }
        let rec = c.update(self, |r| {
            r.host_config = hc;
            r.clone()
        })?;
        self.container_event(&rec, "update");
        Ok(warnings)
    }

    /// `RUNTIME --root R update --resources - ID` with the JSON on stdin.
    async fn runtime_update(&self, runtime: &str, id: &str, resources: &Value) -> Result<()> {
        let (bin, root) = self.runtime_paths(runtime)?;
        let mut child = tokio::process::Command::new(&bin)
            .arg("--root")
            .arg(&root)
            .args(["update", "--resources", "-", id])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| Error::internal(format!("running {}", bin.display()), e))?;
        let body = serde_json::to_vec(resources).map_err(|e| Error::internal("resources", e))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(&body)
                .await
                .map_err(|e| Error::internal("writing resources to the runtime", e))?;
        }
        let out = child
            .wait_with_output()
            .await
            .map_err(|e| Error::internal(format!("running {}", bin.display()), e))?;
        if out.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let msg = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .to_string();
        Err(Error::Internal(format!(
            "{runtime} update: {}",
            if msg.is_empty() {
                format!("exited with {}", out.status)
            } else {
                msg
            }
        )))
    }
}

/// dockerd's merge of an update into the current HostConfig.
pub(crate) fn merge(cur: &HostConfig, u: &ContainerUpdateBody) -> Result<HostConfig> {
    let set = |v: Option<i64>| v.filter(|v| *v != 0);
    let has = |v: Option<i64>| v.unwrap_or(0) > 0;
    let conflict = |m: &str| Err(Error::InvalidArgument(m.to_string()));
    if has(u.nano_cpus) && has(cur.cpu_period) {
        return conflict(
            "Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set",
        );
    }
    if has(u.nano_cpus) && has(cur.cpu_quota) {
        return conflict(
            "Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set",
        );
    }
    if has(u.cpu_period) && has(cur.nano_cpus) {
        return conflict(
            "Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set",
        );
    }
    if has(u.cpu_quota) && has(cur.nano_cpus) {
        return conflict(
            "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set",
        );
    }
    let mut hc = cur.clone();
    if let Some(w) = u.blkio_weight.filter(|w| *w != 0) {
        hc.blkio_weight = Some(w);
    }
    if let Some(v) = set(u.cpu_shares) {
        hc.cpu_shares = Some(v);
    }
    if let Some(v) = set(u.nano_cpus) {
        hc.nano_cpus = Some(v);
    }
    if let Some(v) = set(u.cpu_period) {
        hc.cpu_period = Some(v);
    }
    if let Some(v) = set(u.cpu_quota) {
        hc.cpu_quota = Some(v);
    }
    if let Some(v) = u.cpuset_cpus.clone().filter(|s| !s.is_empty()) {
        hc.cpuset_cpus = Some(v);
    }
    if let Some(v) = u.cpuset_mems.clone().filter(|s| !s.is_empty()) {
        hc.cpuset_mems = Some(v);
    }
    if let Some(m) = set(u.memory) {
        let cur_swap = cur.memory_swap.unwrap_or(0);
        if cur_swap > 0 && m > cur_swap && u.memory_swap.unwrap_or(0) == 0 {
            return conflict("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time");
        }
        hc.memory = Some(m);
    }
    if let Some(v) = set(u.memory_swap) {
        hc.memory_swap = Some(v);
    }
    if let Some(v) = set(u.memory_reservation) {
        hc.memory_reservation = Some(v);
    }
    if let Some(v) = set(u.cpu_realtime_period) {
        hc.cpu_realtime_period = Some(v);
    }
    if let Some(v) = set(u.cpu_realtime_runtime) {
        hc.cpu_realtime_runtime = Some(v);
    }
    if let Some(v) = u.pids_limit {
        hc.pids_limit = Some(v);
    }
    if let Some(rp) = &u.restart_policy {
        let name = rp.name.map(|n| n.to_string()).unwrap_or_default();
        if !name.is_empty() {
            if cur.auto_remove == Some(true) && name != "no" {
                return conflict(
                    "Restart policy cannot be updated because AutoRemove is enabled for the container",
                );
            }
            hc.restart_policy = Some(rp.clone());
        }
    }
    Ok(hc)
}

/// The OCI LinuxResources of a HostConfig's limits (only the ones set).
pub(crate) fn linux_resources(hc: &HostConfig, swap_accounting: bool) -> Value {
    let pos = |v: Option<i64>| v.filter(|v| *v > 0);
    let mut memory = Map::new();
    if let Some(m) = pos(hc.memory) {
        memory.insert("limit".into(), json!(m));
    }
    if let Some(r) = pos(hc.memory_reservation) {
        memory.insert("reservation".into(), json!(r));
    }
    if swap_accounting {
        match hc.memory_swap {
            Some(s) if s > 0 || s == -1 => {
                memory.insert("swap".into(), json!(s));
            }
            _ => {}
        }
    }
    let mut cpu = Map::new();
    if let Some(s) = pos(hc.cpu_shares) {
        cpu.insert("shares".into(), json!(s));
    }
    if let Some(n) = pos(hc.nano_cpus) {
        // dockerd: a 100ms period and the matching quota.
        const PERIOD: i64 = 100_000;
        cpu.insert("period".into(), json!(PERIOD));
        cpu.insert("quota".into(), json!(n * PERIOD / 1_000_000_000));
    } else {
        if let Some(p) = pos(hc.cpu_period) {
            cpu.insert("period".into(), json!(p));
        }
        if let Some(q) = hc.cpu_quota.filter(|q| *q != 0) {
            cpu.insert("quota".into(), json!(q));
        }
    }
    if let Some(p) = pos(hc.cpu_realtime_period) {
        cpu.insert("realtimePeriod".into(), json!(p));
    }
    if let Some(r) = pos(hc.cpu_realtime_runtime) {
        cpu.insert("realtimeRuntime".into(), json!(r));
    }
    if let Some(c) = hc.cpuset_cpus.as_ref().filter(|s| !s.is_empty()) {
        cpu.insert("cpus".into(), json!(c));
    }
    if let Some(m) = hc.cpuset_mems.as_ref().filter(|s| !s.is_empty()) {
        cpu.insert("mems".into(), json!(m));
    }
    let mut out = Map::new();
    if !memory.is_empty() {
        out.insert("memory".into(), Value::Object(memory));
    }
    if !cpu.is_empty() {
        out.insert("cpu".into(), Value::Object(cpu));
    }
    if let Some(p) = hc.pids_limit {
        // Docker: 0 and -1 both mean unlimited.
        out.insert(
            "pids".into(),
            json!({ "limit": if p > 0 { p } else { -1 } }),
        );
    }
    if let Some(w) = hc.blkio_weight.filter(|w| *w != 0) {
        out.insert("blockIO".into(), json!({ "weight": w }));
    }
    Value::Object(out)
}

/// Whether the kernel accounts swap (v1: the memsw files exist; v2: always with memory).
fn swap_accounting() -> bool {
    let root = std::path::Path::new(berth_cgroups::DEFAULT_ROOT);
    match berth_cgroups::detect_mode(root) {
        Ok(berth_cgroups::CgroupMode::V1) => {
            root.join("memory/memory.memsw.limit_in_bytes").exists()
        }
        Ok(berth_cgroups::CgroupMode::V2) => true,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard_stubs::models::{RestartPolicy, RestartPolicyNameEnum};

    #[test]
    fn zero_keeps_and_values_replace() {
        let cur = HostConfig {
            memory: Some(64 << 20),
            memory_swap: Some(128 << 20),
            cpu_shares: Some(512),
            ..Default::default()
        };
        let u = ContainerUpdateBody {
            memory: Some(100 << 20),
            memory_swap: Some(200 << 20),
            cpu_shares: Some(0),
            pids_limit: Some(50),
            ..Default::default()
        };
        let hc = merge(&cur, &u).expect("merge");
        assert_eq!(hc.memory, Some(100 << 20));
        assert_eq!(hc.memory_swap, Some(200 << 20));
        assert_eq!(hc.cpu_shares, Some(512));
        let r = linux_resources(&hc, true);
        assert_eq!(r["memory"]["limit"], 100 << 20);
        assert_eq!(r["memory"]["swap"], 200 << 20);
        assert_eq!(r["cpu"]["shares"], 512);
        assert_eq!(r["pids"]["limit"], 50);
        assert!(linux_resources(&hc, false)["memory"].get("swap").is_none());
    }

    #[test]
    fn dockerd_conflicts() {
        let cur = HostConfig {
            memory: Some(64 << 20),
            memory_swap: Some(128 << 20),
            ..Default::default()
        };
        let e = merge(
            &cur,
            &ContainerUpdateBody {
                memory: Some(256 << 20),
                ..Default::default()
            },
        )
        .expect_err("memory above swap");
        assert!(e
            .to_string()
            .contains("update the memoryswap at the same time"));
        let cur = HostConfig {
            cpu_quota: Some(50_000),
            ..Default::default()
        };
        let e = merge(
            &cur,
            &ContainerUpdateBody {
                nano_cpus: Some(1_000_000_000),
                ..Default::default()
            },
        )
        .expect_err("nano vs quota");
        assert!(e.to_string().contains("CPU Quota has already been set"));
        let cur = HostConfig {
            auto_remove: Some(true),
            ..Default::default()
        };
        let e = merge(
            &cur,
            &ContainerUpdateBody {
                restart_policy: Some(RestartPolicy {
                    name: Some(RestartPolicyNameEnum::ALWAYS),
                    maximum_retry_count: None,
                }),
                ..Default::default()
            },
        )
        .expect_err("autoremove");
        assert!(e.to_string().contains("AutoRemove"));
    }

    #[test]
    fn nano_cpus_become_quota_and_period() {
        let hc = HostConfig {
            nano_cpus: Some(1_500_000_000),
            pids_limit: Some(0),
            ..Default::default()
        };
        let r = linux_resources(&hc, true);
        assert_eq!(r["cpu"]["period"], 100_000);
        assert_eq!(r["cpu"]["quota"], 150_000);
        assert_eq!(r["pids"]["limit"], -1);
    }
}

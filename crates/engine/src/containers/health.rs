//! HEALTHCHECK: while a container runs, its test runs inside it every interval, and the result
//! is kept in the record as Docker's `State.Health` (status, failing streak, last five
//! results), with a `health_status: healthy|unhealthy` event on every change.
//!
//! The probe runs through the OCI runtime (`RUNTIME exec --process P.json ID`) with the
//! container's own process settings (user, env, cwd, capabilities from the bundle's
//! config.json) and only the arguments replaced, as dockerd runs it as an exec. Output
//! (stdout and stderr together) is kept up to 4096 bytes; a probe that outlives its timeout is
//! killed and counts as a failure.
//!
//! The rules are dockerd's (daemon/health.go): exit 0 is healthy and resets the streak; any
//! other result increments the streak unless the container is still `starting` within its
//! start period; `retries` consecutive failures make it unhealthy. During the start period
//! probes run every `StartInterval` when set.

use crate::containers::{Container, Status};
use crate::error::{Error, Result};
use crate::Engine;
use bollard_stubs::models::{Health, HealthConfig, HealthStatusEnum, HealthcheckResult};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::io::AsyncReadExt;

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_RETRIES: i64 = 3;
const MAX_LOG_ENTRIES: usize = 5;
const MAX_OUTPUT: usize = 4096;

/// A container's health check, with Docker's defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Probe {
    pub args: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    /// Set only when the user asked for one (API 1.44+).
    pub start_interval: Option<Duration>,
    pub retries: i64,
}

impl Probe {
    /// The probe of a HEALTHCHECK config; None when there is none or it is disabled (`NONE`).
    pub(crate) fn from_config(h: &HealthConfig) -> Result<Option<Probe>> {
        let test = h.test.clone().unwrap_or_default();
        let args = match test.first().map(String::as_str) {
            None | Some("NONE") => return Ok(None),
            Some("CMD") => test[1..].to_vec(),
            Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), test[1..].join(" ")],
            Some(other) => {
                return Err(Error::InvalidArgument(format!(
                    "Healthcheck.Test: unknown type {other:?} (use CMD, CMD-SHELL or NONE)"
                )))
            }
        };
        if args.is_empty() || args[0].is_empty() {
            return Ok(None);
        }
        let dur = |ns: Option<i64>, default: Duration| match ns {
            Some(n) if n > 0 => Duration::from_nanos(n as u64),
            _ => default,
        };
        Ok(Some(Probe {
            args,
            interval: dur(h.interval, DEFAULT_INTERVAL),
            timeout: dur(h.timeout, DEFAULT_TIMEOUT),
            start_period: dur(h.start_period, Duration::ZERO),
            start_interval: h
                .start_interval
                .filter(|n| *n > 0)
                .map(|n| Duration::from_nanos(n as u64)),
            retries: h.retries.filter(|r| *r > 0).unwrap_or(DEFAULT_RETRIES),
        }))
    }

    /// How long to wait before the next probe.
    fn next_wait(&self, status: Option<HealthStatusEnum>, since_start: Duration) -> Duration {
        match self.start_interval {
            Some(si)
                if status == Some(HealthStatusEnum::STARTING)
                    && since_start < self.start_period =>
            {
                si
            }
            _ => self.interval,
        }
    }
}

/// Health at a first start: `starting`, no streak, no log (dockerd's initHealthMonitor).
pub(crate) fn starting() -> Health {
    Health {
        status: Some(HealthStatusEnum::STARTING),
        failing_streak: Some(0),
        log: Some(Vec::new()),
    }
}

/// Records one probe result; returns the new status when it changed.
pub(crate) fn record_result(
    h: &mut Health,
    result: HealthcheckResult,
    retries: i64,
    within_start_period: bool,
) -> Option<HealthStatusEnum> {
    let old = h.status;
    let log = h.log.get_or_insert_with(Vec::new);
    if log.len() >= MAX_LOG_ENTRIES {
        log.drain(..log.len() + 1 - MAX_LOG_ENTRIES);
    }
    let healthy = result.exit_code == Some(0);
    log.push(result);
    if healthy {
        h.failing_streak = Some(0);
        h.status = Some(HealthStatusEnum::HEALTHY);
    } else {
        let starting = h.status == Some(HealthStatusEnum::STARTING);
        if !(starting && within_start_period) {
            let streak = h.failing_streak.unwrap_or(0) + 1;
            h.failing_streak = Some(streak);
            if streak >= retries {
                h.status = Some(HealthStatusEnum::UNHEALTHY);
            }
        }
    }
    (h.status != old).then_some(h.status).flatten()
}

/// Go's `time.Duration` text for whole milliseconds ("500ms", "30s", "1m30s").
fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (h, m, s, frac) = (
        ms / 3_600_000,
        (ms / 60_000) % 60,
        (ms / 1000) % 60,
        ms % 1000,
    );
    let secs = if frac == 0 {
        format!("{s}s")
    } else {
        format!("{s}.{}s", format!("{frac:03}").trim_end_matches('0'))
    };
    match (h, m) {
        (0, 0) => secs,
        (0, m) => format!("{m}m{secs}"),
        (h, m) => format!("{h}h{m}m{secs}"),
    }
}

impl Engine {
    /// Starts the health monitor of a container that has just started (no-op without a
    /// HEALTHCHECK). It ends by itself when this run of the container ends.
    pub fn health_start(&self, c: &Arc<Container>) {
        let rec = c.record();
        let probe = match rec.config.healthcheck.as_ref().map(Probe::from_config) {
            Some(Ok(Some(p))) => p,
            Some(Err(e)) => {
                tracing::warn!(container = %rec.id, error = %e, "health check not started");
                return;
            }
            _ => return,
        };
        // dockerd keeps the log of earlier runs and resets status and streak.
        let reset = c.update(self, |r| {
            r.state.health = Some(match r.state.health.take() {
                Some(mut h) => {
                    h.status = Some(HealthStatusEnum::STARTING);
                    h.failing_streak = Some(0);
                    h
                }
                None => starting(),
            })
        });
        if let Err(e) = reset {
            tracing::warn!(container = %rec.id, error = %e, "health check not started");
            return;
        }
        let engine = self.clone();
        let c = c.clone();
        tokio::spawn(async move { engine.health_monitor(c, probe, rec.state.started_at).await });
    }

    async fn health_monitor(&self, c: Arc<Container>, probe: Probe, run: String) {
        let started = Instant::now();
        let started_at = crate::util::parse_rfc3339(&run).unwrap_or_else(SystemTime::now);
        let mut changes = c.watch();
        // This run of the container: same start time, process still there.
        let alive = |c: &Container| {
            let r = c.record();
            r.state.status.is_live() && r.state.started_at == run
        };
        loop {
            let status = c.record().state.health.and_then(|h| h.status);
            let deadline = tokio::time::Instant::now() + probe.next_wait(status, started.elapsed());
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => break,
                    r = changes.changed() => {
                        if r.is_err() || !alive(&c) {
                            return;
                        }
                    }
                }
            }
            if !alive(&c) {
                return;
            }
            if c.record().state.status == Status::Paused {
                continue;
            }
            let result = self.health_probe(&c.id, &probe).await;
            let within = result
                .start
                .as_deref()
                .and_then(crate::util::parse_rfc3339)
                .and_then(|t| t.duration_since(started_at).ok())
                .map(|d| d < probe.start_period)
                .unwrap_or(false);
            if !alive(&c) {
                return;
            }
            let changed = c.update(self, |r| {
                let h = r.state.health.get_or_insert_with(starting);
                let changed = record_result(h, result, probe.retries, within);
                (changed, r.clone())
            });
            match changed {
                Ok((Some(s), rec)) => {
                    self.container_event(&rec, &format!("health_status: {s}"));
                }
                Ok((None, _)) => {}
                Err(e) => tracing::warn!(container = %c.id, error = %e, "recording health"),
            }
        }
    }

    /// Runs the probe once inside the container.
    async fn health_probe(&self, id: &str, probe: &Probe) -> HealthcheckResult {
        let start = crate::util::now_rfc3339();
        let (exit_code, output) = match self.health_exec(id, probe).await {
            Ok(r) => r,
            Err(e) => (-1, e.to_string()),
        };
        HealthcheckResult {
            start: Some(start),
            end: Some(crate::util::now_rfc3339()),
            exit_code: Some(exit_code),
            output: Some(output),
        }
    }

    async fn health_exec(&self, id: &str, probe: &Probe) -> Result<(i64, String)> {
        let c = self.containers.find(id)?;
        let runtime = c.record().runtime;
        let (bin, root) = self.runtime_paths(&runtime)?;
        let config = std::fs::read(self.paths.bundle(id).join("config.json"))
            .map_err(|e| Error::internal(format!("reading the bundle of {id}"), e))?;
        let process = probe_process(&config, &probe.args)?;
        let dir = self.paths.run_dir(id);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::internal(format!("creating {}", dir.display()), e))?;
        let tag = &crate::util::new_id()[..12];
        let files = ProbeFiles {
            process: dir.join(format!("health-{tag}.json")),
            pid: dir.join(format!("health-{tag}.pid")),
        };
        std::fs::write(&files.process, process)
            .map_err(|e| Error::internal(format!("writing {}", files.process.display()), e))?;
        let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| Error::internal("pipe", e))?;
        let w2 = w.try_clone().map_err(|e| Error::internal("pipe", e))?;
        let mut child = {
            // The command (and its copies of the write end) is dropped right after the spawn,
            // so the read end sees EOF when the probe exits.
            let mut cmd = tokio::process::Command::new(&bin);
            cmd.arg("--root")
                .arg(&root)
                .arg("exec")
                .arg("--process")
                .arg(&files.process)
                .arg("--pid-file")
                .arg(&files.pid)
                .arg(id)
                .stdin(Stdio::null())
                .stdout(Stdio::from(w))
                .stderr(Stdio::from(w2))
                .kill_on_drop(true);
            cmd.spawn()
                .map_err(|e| Error::internal(format!("running {}", bin.display()), e))?
        };
        let mut rx = tokio::net::unix::pipe::Receiver::from_owned_fd(r)
            .map_err(|e| Error::internal("pipe", e))?;
        let run = async {
            let mut out = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                match rx.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let room = MAX_OUTPUT.saturating_sub(out.len());
                        out.extend_from_slice(&buf[..n.min(room)]);
                    }
                }
            }
            let status = child.wait().await;
            (status, out)
        };
        match tokio::time::timeout(probe.timeout, run).await {
            Ok((status, out)) => {
                let status = status.map_err(|e| Error::internal("waiting for the probe", e))?;
                let code = status.code().map(i64::from).unwrap_or(-1);
                Ok((code, String::from_utf8_lossy(&out).to_string()))
            }
            Err(_) => {
                // The runtime does not stop the process when it is killed itself: kill the
                // probe by its pid (the runtime's pid file), then the runtime.
                if let Some(pid) = std::fs::read_to_string(&files.pid)
                    .ok()
                    .and_then(|s| s.trim().parse::<i32>().ok())
                    .and_then(rustix::process::Pid::from_raw)
                {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
                Ok((
                    -1,
                    format!(
                        "Health check exceeded timeout ({})",
                        go_duration(probe.timeout)
                    ),
                ))
            }
        }
    }
}

/// The probe's process and pid files, removed when the probe is done.
struct ProbeFiles {
    process: PathBuf,
    pid: PathBuf,
}

impl Drop for ProbeFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.process);
        let _ = std::fs::remove_file(&self.pid);
    }
}

/// The container's `process` from config.json with `args` replaced and no terminal.
pub(crate) fn probe_process(config_json: &[u8], args: &[String]) -> Result<Vec<u8>> {
    let spec: serde_json::Value =
        serde_json::from_slice(config_json).map_err(|e| Error::internal("config.json", e))?;
    let mut process = spec
        .get("process")
        .cloned()
        .filter(|p| p.is_object())
        .ok_or_else(|| Error::Internal("config.json has no process".into()))?;
    process["args"] = serde_json::json!(args);
    process["terminal"] = serde_json::json!(false);
    if let Some(o) = process.as_object_mut() {
        o.remove("consoleSize");
    }
    serde_json::to_vec(&process).map_err(|e| Error::internal("probe process", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(code: i64) -> HealthcheckResult {
        HealthcheckResult {
            start: Some("2024-01-01T00:00:00Z".into()),
            end: Some("2024-01-01T00:00:01Z".into()),
            exit_code: Some(code),
            output: Some(format!("exit {code}")),
        }
    }

    #[test]
    fn probe_from_config() {
        let p = Probe::from_config(&HealthConfig {
            test: Some(vec!["CMD-SHELL".into(), "test -f /tmp/ok".into()]),
            interval: Some(1_000_000_000),
            ..Default::default()
        })
        .expect("valid")
        .expect("enabled");
        assert_eq!(p.args, ["/bin/sh", "-c", "test -f /tmp/ok"]);
        assert_eq!(p.interval, Duration::from_secs(1));
        assert_eq!(p.timeout, DEFAULT_TIMEOUT);
        assert_eq!(p.retries, 3);
        let none = HealthConfig {
            test: Some(vec!["NONE".into()]),
            ..Default::default()
        };
        assert!(Probe::from_config(&none).expect("valid").is_none());
        let cmd = HealthConfig {
            test: Some(vec!["CMD".into(), "true".into(), "x y".into()]),
            ..Default::default()
        };
        assert_eq!(
            Probe::from_config(&cmd).expect("valid").expect("on").args,
            ["true", "x y"]
        );
        let bad = HealthConfig {
            test: Some(vec!["SHELL".into(), "x".into()]),
            ..Default::default()
        };
        assert!(Probe::from_config(&bad).is_err());
    }

    #[test]
    fn state_machine_as_dockerd() {
        let mut h = starting();
        // Failures within the start period do not count.
        assert_eq!(record_result(&mut h, result(1), 2, true), None);
        assert_eq!(h.failing_streak, Some(0));
        assert_eq!(record_result(&mut h, result(1), 2, false), None);
        assert_eq!(h.failing_streak, Some(1));
        assert_eq!(
            record_result(&mut h, result(1), 2, false),
            Some(HealthStatusEnum::UNHEALTHY)
        );
        assert_eq!(
            record_result(&mut h, result(0), 2, false),
            Some(HealthStatusEnum::HEALTHY)
        );
        assert_eq!(h.failing_streak, Some(0));
        // Once healthy, the start period no longer shields failures.
        assert_eq!(record_result(&mut h, result(1), 2, true), None);
        assert_eq!(h.failing_streak, Some(1));
        assert_eq!(h.status, Some(HealthStatusEnum::HEALTHY));
        // The log keeps the last five results.
        for _ in 0..4 {
            record_result(&mut h, result(0), 2, false);
        }
        let log = h.log.as_ref().expect("log");
        assert_eq!(log.len(), 5);
        assert_eq!(log[0].exit_code, Some(1));
        let h2 = serde_json::to_value(&h).expect("json");
        assert_eq!(h2["Status"], "healthy");
        assert_eq!(h2["Log"][4]["ExitCode"], 0);
    }

    #[test]
    fn start_interval_only_while_starting() {
        let p = Probe {
            args: vec!["true".into()],
            interval: Duration::from_secs(30),
            timeout: DEFAULT_TIMEOUT,
            start_period: Duration::from_secs(10),
            start_interval: Some(Duration::from_secs(1)),
            retries: 3,
        };
        let s = Some(HealthStatusEnum::STARTING);
        assert_eq!(
            p.next_wait(s, Duration::from_secs(2)),
            Duration::from_secs(1)
        );
        assert_eq!(
            p.next_wait(s, Duration::from_secs(12)),
            Duration::from_secs(30)
        );
        assert_eq!(
            p.next_wait(Some(HealthStatusEnum::HEALTHY), Duration::ZERO),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn timeout_text_and_process() {
        assert_eq!(go_duration(Duration::from_secs(30)), "30s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(go_duration(Duration::from_millis(200)), "200ms");
        let cfg = br#"{"ociVersion":"1.0.2","process":{"terminal":true,"args":["sleep","9"],"env":["A=1"],"cwd":"/w","consoleSize":{"height":1,"width":1}}}"#;
        let p: serde_json::Value =
            serde_json::from_slice(&probe_process(cfg, &["true".into()]).expect("process"))
                .expect("json");
        assert_eq!(p["args"], serde_json::json!(["true"]));
        assert_eq!(p["terminal"], false);
        assert_eq!(p["env"][0], "A=1");
        assert!(p.get("consoleSize").is_none());
    }
}

//! `inspect` in Docker's JSON shape, and the human status line of `ps`.

use super::{ContainerRecord, Status};
use crate::error::Result;
use crate::Engine;
use serde_json::{json, Value};

impl Engine {
    /// The container as `docker inspect` shows it.
    pub fn container_inspect(&self, key: &str, size: bool) -> Result<Value> {
        let c = self.containers.find(key)?;
        let rec = c.record();
        let mut v = inspect_json(self, &rec);
        if size {
            let rw = self.images.snapshots().usage(&rec.snapshot).unwrap_or(0) as i64;
            v["SizeRw"] = json!(rw);
            v["SizeRootFs"] = json!(rw);
        }
        Ok(v)
    }
}

fn inspect_json(engine: &Engine, rec: &ContainerRecord) -> Value {
    let s = &rec.state;
    let dir = engine.paths.container_dir(&rec.id);
    let mut state = json!({
        "Status": s.status.as_str(),
        "Running": s.status.is_live(),
        "Paused": s.status == Status::Paused,
        "Restarting": s.status == Status::Restarting,
        "OOMKilled": s.oom_killed,
        "Dead": s.status == Status::Dead,
        "Pid": s.pid,
        "ExitCode": s.exit_code,
        "Error": s.error,
        "StartedAt": s.started_at,
        "FinishedAt": s.finished_at,
    });
    if let Some(h) = &s.health {
        state["Health"] = serde_json::to_value(h).unwrap_or(Value::Null);
    }
    let mut host_config = serde_json::to_value(&rec.host_config).unwrap_or(json!({}));
    // Fields clients index without checking (docker-py, compose).
    for (k, d) in [
        ("NetworkMode", json!("bridge")),
        ("PortBindings", json!({})),
        ("Binds", Value::Null),
        (
            "RestartPolicy",
            json!({"Name": "no", "MaximumRetryCount": 0}),
        ),
        ("AutoRemove", json!(false)),
        ("Privileged", json!(false)),
        ("Init", Value::Null),
        ("CapAdd", Value::Null),
        ("CapDrop", Value::Null),
        ("DeviceCgroupRules", Value::Null),
        ("DeviceRequests", Value::Null),
        ("ExtraHosts", Value::Null),
        ("GroupAdd", Value::Null),
        ("KernelMemory", json!(0)),
        ("KernelMemoryTCP", json!(0)),
        ("Links", Value::Null),
        ("SecurityOpt", Value::Null),
        ("VolumesFrom", Value::Null),
    ] {
        if host_config.get(k).is_none() {
            host_config[k] = d;
        }
    }
    // dockerd records its default masked and read-only paths at create (none if privileged).
    let privileged = rec.host_config.privileged == Some(true);
    for (k, d) in [
        ("MaskedPaths", crate::spec::DEFAULT_MASKED_PATHS),
        ("ReadonlyPaths", crate::spec::DEFAULT_READONLY_PATHS),
    ] {
        let d = if privileged { Value::Null } else { json!(d) };
        if host_config.get(k).is_none() {
            host_config[k] = d;
        }
    }
    // dockerd stores its default /dev/shm size (64 MiB) at create; the spec applies the same.
    if host_config["ShmSize"].as_i64().unwrap_or(0) == 0 {
        host_config["ShmSize"] = json!(64 * 1024 * 1024);
    }
    let mut config = serde_json::to_value(&rec.config).unwrap_or(json!({}));
    for (k, d) in [
        ("User", json!("")),
        ("Entrypoint", Value::Null),
        ("OnBuild", Value::Null),
        ("Volumes", Value::Null),
    ] {
        if config.get(k).is_none() {
            config[k] = d;
        }
    }
    let upper = engine
        .images
        .snapshots()
        .active_dir(&rec.snapshot)
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    json!({
        "Id": rec.id,
        "Created": rec.created,
        "Path": rec.path,
        "Args": rec.args,
        "State": state,
        "Image": rec.image,
        "ResolvConfPath": dir.join("resolv.conf"),
        "HostnamePath": dir.join("hostname"),
        "HostsPath": dir.join("hosts"),
        "LogPath": if log_driver(rec) == "none" { String::new() } else { rec.log_path.clone() },
        "Name": format!("/{}", rec.name),
        "RestartCount": rec.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": if rec.exec_ids.is_empty() { Value::Null } else { json!(rec.exec_ids) },
        "HostConfig": host_config,
        "GraphDriver": {
            "Name": "overlay2",
            "Data": {
                "MergedDir": engine.paths.rootfs(&rec.id),
                "UpperDir": upper,
            }
        },
        "Mounts": [],
        "Config": config,
        "NetworkSettings": engine.network_settings_json(rec),
    })
}

/// The container's log driver.
pub fn log_driver(rec: &ContainerRecord) -> String {
    rec.host_config
        .log_config
        .as_ref()
        .and_then(|l| l.typ.clone())
        .unwrap_or_else(|| "json-file".into())
}

/// Docker's `ps` status column: "Up 5 minutes (healthy)", "Exited (0) 2 hours ago".
pub fn status_line(rec: &ContainerRecord, now: std::time::SystemTime) -> String {
    let since = |t: &str| {
        crate::util::parse_rfc3339(t)
            .and_then(|t| now.duration_since(t).ok())
            .map(human_duration)
            .unwrap_or_else(|| "Less than a second".into())
    };
    let s = &rec.state;
    match s.status {
        Status::Running | Status::Paused => {
            let mut out = format!("Up {}", since(&s.started_at));
            if s.status == Status::Paused {
                out.push_str(" (Paused)");
            } else if let Some(h) = s.health.as_ref().and_then(|h| h.status) {
                let h = h.to_string();
                if h == "starting" {
                    out.push_str(" (health: starting)");
                } else if !h.is_empty() && h != "none" {
                    out.push_str(&format!(" ({h})"));
                }
            }
            out
        }
        Status::Restarting => format!("Restarting ({}) {} ago", s.exit_code, since(&s.finished_at)),
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
        Status::Created => "Created".into(),
        Status::Exited => {
            if s.finished_at == crate::util::ZERO_TIME {
                "Created".into()
            } else {
                format!("Exited ({}) {} ago", s.exit_code, since(&s.finished_at))
            }
        }
    }
}

/// go-units' HumanDuration, as docker prints it (the same thresholds and rounding).
pub fn human_duration(d: std::time::Duration) -> String {
    let seconds = d.as_secs();
    let minutes = seconds / 60;
    let hours = (d.as_secs_f64() / 3600.0 + 0.5) as u64;
    if seconds < 1 {
        "Less than a second".into()
    } else if seconds == 1 {
        "1 second".into()
    } else if seconds < 60 {
        format!("{seconds} seconds")
    } else if minutes == 1 {
        "About a minute".into()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".into()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", seconds / 3600 / 24 / 365)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations_read_like_docker() {
        assert_eq!(
            human_duration(Duration::from_millis(300)),
            "Less than a second"
        );
        assert_eq!(human_duration(Duration::from_secs(5)), "5 seconds");
        assert_eq!(human_duration(Duration::from_secs(70)), "About a minute");
        assert_eq!(human_duration(Duration::from_secs(600)), "10 minutes");
        assert_eq!(human_duration(Duration::from_secs(3700)), "About an hour");
        assert_eq!(human_duration(Duration::from_secs(5 * 3600)), "5 hours");
        assert_eq!(human_duration(Duration::from_secs(3 * 86400)), "3 days");
        // go-units' edges: 47.6 h rounds to 48 hours = 2 days; 65 days is 2 months.
        assert_eq!(human_duration(Duration::from_secs(171_360)), "2 days");
        assert_eq!(human_duration(Duration::from_secs(65 * 86400)), "2 months");
        assert_eq!(human_duration(Duration::from_secs(20 * 86400)), "2 weeks");
    }

    #[test]
    fn status_lines() {
        let mut r = ContainerRecord::default();
        r.state.status = Status::Created;
        r.state.finished_at = crate::util::ZERO_TIME.into();
        let now = std::time::SystemTime::now();
        assert_eq!(status_line(&r, now), "Created");
        r.state.status = Status::Exited;
        r.state.exit_code = 3;
        r.state.finished_at =
            humantime::format_rfc3339_nanos(now - Duration::from_secs(7)).to_string();
        assert_eq!(status_line(&r, now), "Exited (3) 7 seconds ago");
    }
}

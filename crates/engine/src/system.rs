//! /info and /version with real figures from this host and this daemon.

use crate::containers::Status;
use crate::Engine;
use serde_json::{json, Value};

/// Berth's version, shown as the Engine version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

fn read_trim(p: &str) -> String {
    std::fs::read_to_string(p)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn os_release() -> (String, String) {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_default()
    };
    (get("PRETTY_NAME"), get("VERSION_ID"))
}

fn mem_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// cgroup version of the host ("1" or "2").
pub fn cgroup_version() -> &'static str {
    match berth_cgroups::detect_mode(std::path::Path::new("/sys/fs/cgroup")) {
        Ok(berth_cgroups::CgroupMode::V2) => "2",
        _ => "1",
    }
}

impl Engine {
    /// `/version`.
    pub fn version(&self, api_version: &str, min_api_version: &str) -> Value {
        let kernel = read_trim("/proc/sys/kernel/osrelease");
        json!({
            "Platform": {"Name": "Berth Engine"},
            "Components": [{
                "Name": "Engine",
                "Version": VERSION,
                "Details": {
                    "ApiVersion": api_version,
                    "MinAPIVersion": min_api_version,
                    "GitCommit": option_env!("BERTH_GIT_COMMIT").unwrap_or("unknown"),
                    "GoVersion": "rust",
                    "Os": "linux",
                    "Arch": std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64"),
                    "KernelVersion": kernel,
                    "Experimental": "false",
                    "BuildTime": "",
                }
            }],
            "Version": VERSION,
            "ApiVersion": api_version,
            "MinAPIVersion": min_api_version,
            "GitCommit": option_env!("BERTH_GIT_COMMIT").unwrap_or("unknown"),
            "GoVersion": "rust",
            "Os": "linux",
            "Arch": std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64"),
            "KernelVersion": kernel,
            "BuildTime": "",
        })
    }

    /// `/info`.
    pub fn info(&self) -> Value {
        let recs: Vec<_> = self.containers.all().iter().map(|c| c.record()).collect();
        let running = recs
            .iter()
            .filter(|r| r.state.status == Status::Running)
            .count();
        let paused = recs
            .iter()
            .filter(|r| r.state.status == Status::Paused)
            .count();
        let images = self.images.list().map(|l| l.len()).unwrap_or(0);
        let (os, os_version) = os_release();
        let cgv = cgroup_version();
        let v1_has = |ctrl: &str, file: &str| {
            std::path::Path::new(&format!("/sys/fs/cgroup/{ctrl}/{file}")).exists()
        };
        let v2 = cgv == "2";
        let mut runtimes = serde_json::Map::new();
        for name in self.config.runtime_names() {
            if let Ok(p) = self.config.runtime_path(&name) {
                runtimes.insert(name, json!({"path": p}));
            }
        }
        let threads = std::fs::read_dir("/proc/self/task")
            .map(|d| d.count())
            .unwrap_or(0);
        let fds = std::fs::read_dir("/proc/self/fd")
            .map(|d| d.count())
            .unwrap_or(0);
        json!({
            "ID": self.daemon_id(),
            "Containers": recs.len(),
            "ContainersRunning": running,
            "ContainersPaused": paused,
            "ContainersStopped": recs.len() - running - paused,
            "Images": images,
            "Driver": "overlay2",
            "DriverStatus": [["Backing Filesystem", "extfs"], ["Snapshotter", format!("{:?}", self.images.snapshots().driver()).to_lowercase()]],
            "Plugins": {"Volume": ["local"], "Network": ["host", "null"], "Authorization": null, "Log": ["json-file", "local", "none"]},
            "MemoryLimit": if v2 { true } else { v1_has("memory", "memory.limit_in_bytes") },
            "SwapLimit": if v2 { true } else { v1_has("memory", "memory.memsw.limit_in_bytes") },
            "CpuCfsPeriod": if v2 { true } else { v1_has("cpu", "cpu.cfs_period_us") },
            "CpuCfsQuota": if v2 { true } else { v1_has("cpu", "cpu.cfs_quota_us") },
            "CPUShares": true,
            "CPUSet": true,
            "PidsLimit": true,
            "IPv4Forwarding": read_trim("/proc/sys/net/ipv4/ip_forward") == "1",
            "BridgeNfIptables": false,
            "BridgeNfIp6tables": false,
            "Debug": self.config.debug,
            "NFd": fds,
            "OomKillDisable": !v2,
            "NGoroutines": threads,
            "SystemTime": crate::util::now_rfc3339(),
            "LoggingDriver": self.config.log_driver,
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": cgv,
            "NEventsListener": 0,
            "KernelVersion": read_trim("/proc/sys/kernel/osrelease"),
            "OperatingSystem": os,
            "OSVersion": os_version,
            "OSType": "linux",
            "Architecture": std::env::consts::ARCH,
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": {
                "InsecureRegistryCIDRs": ["127.0.0.0/8"],
                "IndexConfigs": {},
                "Mirrors": self.config.registry_mirrors,
            },
            "NCPU": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            "MemTotal": mem_total(),
            "DockerRootDir": self.paths.data_root,
            "HttpProxy": std::env::var("HTTP_PROXY").unwrap_or_default(),
            "HttpsProxy": std::env::var("HTTPS_PROXY").unwrap_or_default(),
            "NoProxy": std::env::var("NO_PROXY").unwrap_or_default(),
            "Name": read_trim("/proc/sys/kernel/hostname"),
            "Labels": [],
            "ExperimentalBuild": false,
            "ServerVersion": VERSION,
            "Runtimes": runtimes,
            "DefaultRuntime": self.config.default_runtime,
            "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false, "Error": "", "RemoteManagers": null},
            "LiveRestoreEnabled": self.config.live_restore,
            "Isolation": "",
            "InitBinary": "berth-init",
            "ContainerdCommit": {"ID": "", "Expected": ""},
            "RuncCommit": {"ID": "", "Expected": ""},
            "InitCommit": {"ID": "", "Expected": ""},
            "SecurityOptions": ["name=seccomp,profile=builtin"],
            "Warnings": [],
        })
    }

    /// A stable daemon id, kept in the data root.
    pub fn daemon_id(&self) -> String {
        let p = self.paths.data_root.join("engine-id");
        if let Ok(s) = std::fs::read_to_string(&p) {
            return s.trim().to_string();
        }
        let id = crate::util::new_id();
        let _ = crate::util::write_atomic(&p, id.as_bytes());
        id
    }
}

impl Engine {
    /// `/system/df`: images (with how many containers use each), containers (with the size of
    /// their writable layer), volumes (with their sizes and users) and build cache (none yet).
    pub async fn system_df(&self) -> crate::Result<Value> {
        let images = self.image_list(Default::default()).await?;
        let recs: Vec<_> = self.containers.all().iter().map(|c| c.record()).collect();
        let mut layers_size: i64 = 0;
        let images: Vec<Value> = images
            .into_iter()
            .map(|i| {
                layers_size += i.size;
                let users = recs.iter().filter(|r| r.image == i.id).count();
                let mut v = serde_json::to_value(&i).unwrap_or_else(|_| json!({}));
                v["Containers"] = json!(users);
                v["SharedSize"] = json!(0);
                v
            })
            .collect();
        let containers = self.container_list(&crate::containers::list::ListOptions {
            all: true,
            size: true,
            ..Default::default()
        })?;
        Ok(json!({
            "LayersSize": layers_size,
            "Images": images,
            "Containers": containers,
            "Volumes": self.volume_df()?,
            "BuildCache": [],
        }))
    }
}

//! The daemon's configuration: `/etc/berth/daemon.json` with Docker's keys where they apply,
//! overridden by command-line flags. Validated as a whole before the daemon binds anything.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A named OCI runtime (`"runtimes": {"crun": {"path": "/usr/bin/crun"}}` in daemon.json).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    pub path: PathBuf,
    #[serde(default, rename = "runtimeArgs")]
    pub runtime_args: Vec<String>,
}

/// daemon.json, with Docker's key names. Unknown keys are an error naming the key, as in
/// dockerd ("the following directives don't match any configuration option").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DaemonConfig {
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub hosts: Vec<String>,
    pub log_level: String,
    pub insecure_registries: Vec<String>,
    pub registry_mirrors: Vec<String>,
    pub log_driver: String,
    pub log_opts: BTreeMap<String, String>,
    pub default_runtime: String,
    pub runtimes: BTreeMap<String, RuntimeConfig>,
    pub live_restore: bool,
    /// Where berth-monitor is (default: next to the running `berth` binary, then PATH).
    pub monitor_path: Option<PathBuf>,
    /// Where the `--init` binary is (default: `berth-init` next to `berth`, then PATH).
    pub init_path: Option<PathBuf>,
    /// Seconds to wait for containers' monitors when shutting down without live-restore.
    pub shutdown_timeout: u64,
    pub debug: bool,
    /// The default bridge's interface (Docker's `bridge`, `-b`); "none" means no default bridge.
    pub bridge: String,
    /// The default bridge's address and prefix, e.g. "172.17.0.1/16" (Docker's `bip`). Unset:
    /// 172.17.0.1/16, or the first of Docker's default pools free on this host.
    pub bip: Option<String>,
    /// Docker's `fixed-cidr`: the default bridge hands out addresses from this range only.
    pub fixed_cidr: Option<String>,
    /// Where user networks without `--subnet` get their subnets (Docker's key).
    pub default_address_pools: Vec<AddressPool>,
    /// The MTU of bridges and container interfaces (Docker's `mtu`).
    pub mtu: u32,
    /// Write firewall rules (Docker's `iptables`; Berth writes nftables rules).
    pub iptables: bool,
    /// Turn on net.ipv4.ip_forward (Docker's `ip-forward`).
    pub ip_forward: bool,
    /// Masquerade traffic leaving the default bridge (Docker's `ip-masq`).
    pub ip_masq: bool,
    /// Berth's own nftables table (in the `inet` family). One table per daemon: set it when two
    /// daemons share a host (the tests do).
    pub firewall_table: String,
    /// Default DNS servers, search domains and options of containers (Docker's keys).
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_opts: Vec<String>,
    /// Berth's: seconds a client has to send a complete request head, counted from the
    /// connection's start or the first byte of the request.
    pub api_header_timeout: u64,
    /// Berth's: seconds a keep-alive connection may wait for its next request. Streams in
    /// progress (logs -f, events, attach, exec) are never idle.
    pub api_idle_timeout: u64,
    /// Berth's: connections served at once on each TCP listener (`-H tcp://...`); more wait
    /// in the listen queue until one closes.
    pub api_max_tcp_connections: usize,
    /// Berth's: the same for each unix socket.
    pub api_max_unix_connections: usize,
}

/// One entry of `default-address-pools`: subnets of `size` bits cut from `base`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AddressPool {
    pub base: String,
    pub size: u8,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            data_root: PathBuf::from("/var/lib/berth"),
            exec_root: PathBuf::from("/run/berth"),
            hosts: Vec::new(),
            log_level: "info".into(),
            insecure_registries: Vec::new(),
            registry_mirrors: Vec::new(),
            log_driver: "json-file".into(),
            log_opts: BTreeMap::new(),
            default_runtime: "berth-runc".into(),
            runtimes: BTreeMap::new(),
            live_restore: true,
            monitor_path: None,
            init_path: None,
            shutdown_timeout: 15,
            debug: false,
            bridge: "berth0".into(),
            bip: None,
            fixed_cidr: None,
            default_address_pools: Vec::new(),
            mtu: 1500,
            iptables: true,
            ip_forward: true,
            ip_masq: true,
            firewall_table: "berth".into(),
            dns: Vec::new(),
            dns_search: Vec::new(),
            dns_opts: Vec::new(),
            api_header_timeout: 60,
            api_idle_timeout: 120,
            api_max_tcp_connections: 1024,
            api_max_unix_connections: 8192,
        }
    }
}

pub const LOG_DRIVERS: &[&str] = &["json-file", "local", "none"];
const LOG_LEVELS: &[&str] = &["debug", "info", "warn", "error", "fatal"];

impl DaemonConfig {
    /// Reads daemon.json. A missing file at the default path is the default configuration; a
    /// missing file named explicitly is an error.
    pub fn load(path: &Path, explicit: bool) -> Result<DaemonConfig> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                return Ok(DaemonConfig::default())
            }
            Err(e) => {
                return Err(Error::InvalidArgument(format!(
                    "config file {}: {e}",
                    path.display()
                )))
            }
        };
        let mut de = serde_json::Deserializer::from_str(&text);
        let partial: serde_json::Value = serde_path_to_error_free(&mut de, path)?;
        let mut cfg = DaemonConfig::default();
        cfg.merge_json(partial, path)?;
        Ok(cfg)
    }

    fn merge_json(&mut self, v: serde_json::Value, path: &Path) -> Result<()> {
        let serde_json::Value::Object(map) = v else {
            return Err(Error::InvalidArgument(format!(
                "config file {}: must be a JSON object",
                path.display()
            )));
        };
        let mut base = serde_json::to_value(&*self)
            .map_err(|e| Error::internal("encoding the default configuration", e))?;
        let base_map = base
            .as_object_mut()
            .expect("DaemonConfig serializes to an object");
        for (k, v) in map {
            if !base_map.contains_key(&k) {
                return Err(Error::InvalidArgument(format!(
                    "config file {}: unknown key {k:?} (the following directives don't match any configuration option)",
                    path.display()
                )));
            }
            base_map.insert(k, v);
        }
        *self = serde_path_to_error::deserialize(base).map_err(|e| {
            Error::InvalidArgument(format!(
                "config file {}: {}: {}",
                path.display(),
                e.path(),
                e.inner()
            ))
        })?;
        Ok(())
    }

    /// Checks the values that can be checked before anything is bound or created.
    pub fn validate(&self) -> Result<()> {
        if !self.data_root.is_absolute() {
            return Err(Error::InvalidArgument(format!(
                "data-root must be an absolute path, got {}",
                self.data_root.display()
            )));
        }
        if !self.exec_root.is_absolute() {
            return Err(Error::InvalidArgument(format!(
                "exec-root must be an absolute path, got {}",
                self.exec_root.display()
            )));
        }
        if !LOG_LEVELS.contains(&self.log_level.as_str()) {
            return Err(Error::InvalidArgument(format!(
                "log-level {:?}: must be one of {}",
                self.log_level,
                LOG_LEVELS.join(", ")
            )));
        }
        if !LOG_DRIVERS.contains(&self.log_driver.as_str()) {
            return Err(Error::InvalidArgument(format!(
                "log-driver {:?}: supported drivers are {}",
                self.log_driver,
                LOG_DRIVERS.join(", ")
            )));
        }
        crate::containers::logs::LogOptions::parse(&self.log_driver, &self.log_opts)
            .map_err(|e| Error::InvalidArgument(format!("log-opts: {e}")))?;
        self.runtime_path(&self.default_runtime).map_err(|_| {
            Error::InvalidArgument(format!(
                "default-runtime {:?}: no such runtime (known: {})",
                self.default_runtime,
                self.runtime_names().join(", ")
            ))
        })?;
        for (name, rt) in &self.runtimes {
            if rt.path.as_os_str().is_empty() {
                return Err(Error::InvalidArgument(format!(
                    "runtimes.{name}.path must not be empty"
                )));
            }
        }
        self.registry_config()
            .validate()
            .map_err(|e| Error::InvalidArgument(format!("registry configuration: {e}")))?;
        crate::networks::settings::NetworkSettings::from_config(self)?;
        for (key, v) in [
            ("api-header-timeout", self.api_header_timeout as usize),
            ("api-idle-timeout", self.api_idle_timeout as usize),
            ("api-max-tcp-connections", self.api_max_tcp_connections),
            ("api-max-unix-connections", self.api_max_unix_connections),
        ] {
            if v == 0 {
                return Err(Error::InvalidArgument(format!("{key}: must be at least 1")));
            }
        }
        Ok(())
    }

    /// The image crate's registry settings. Docker's `registry-mirrors` apply to Docker Hub only.
    pub fn registry_config(&self) -> berth_image::RegistryConfig {
        let mut mirrors = std::collections::HashMap::new();
        if !self.registry_mirrors.is_empty() {
            mirrors.insert("docker.io".to_string(), self.registry_mirrors.clone());
        }
        berth_image::RegistryConfig {
            insecure: self.insecure_registries.clone(),
            mirrors,
        }
    }

    /// Every runtime name a container may ask for.
    pub fn runtime_names(&self) -> Vec<String> {
        let mut names: Vec<String> = ["berth-runc", "runc", "crun"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for k in self.runtimes.keys() {
            if !names.contains(k) {
                names.push(k.clone());
            }
        }
        names
    }

    /// The binary of a named runtime: configured ones first, then the built-in names.
    pub fn runtime_path(&self, name: &str) -> Result<PathBuf> {
        if let Some(rt) = self.runtimes.get(name) {
            return Ok(rt.path.clone());
        }
        match name {
            "berth-runc" => Ok(crate::util::sibling_or_path("berth-runc")),
            "runc" | "crun" => Ok(PathBuf::from(name)),
            _ => Err(Error::InvalidArgument(format!(
                "unknown or invalid runtime name: {name}"
            ))),
        }
    }
}

fn serde_path_to_error_free(
    de: &mut serde_json::Deserializer<serde_json::de::StrRead<'_>>,
    path: &Path,
) -> Result<serde_json::Value> {
    serde::Deserialize::deserialize(de)
        .map_err(|e| Error::InvalidArgument(format!("config file {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(s: &str) -> Result<DaemonConfig> {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("daemon.json");
        std::fs::write(&p, s).expect("write");
        DaemonConfig::load(&p, true)
    }

    #[test]
    fn docker_keys_are_read() {
        let c = load_str(
            r#"{"data-root":"/srv/b","insecure-registries":["127.0.0.1:5000"],
                "log-driver":"local","log-opts":{"max-size":"10m"},"live-restore":false,
                "runtimes":{"crun":{"path":"/usr/bin/crun"}},"default-runtime":"crun"}"#,
        )
        .expect("valid");
        assert_eq!(c.data_root, PathBuf::from("/srv/b"));
        assert_eq!(c.log_driver, "local");
        assert!(!c.live_restore);
        assert_eq!(
            c.runtime_path("crun").expect("crun"),
            PathBuf::from("/usr/bin/crun")
        );
        c.validate().expect("validates");
    }

    #[test]
    fn unknown_key_is_named() {
        let e = load_str(r#"{"data-rot":"/x"}"#).expect_err("unknown key");
        assert!(e.to_string().contains("\"data-rot\""), "{e}");
    }

    #[test]
    fn bad_values_are_named() {
        let c = load_str(r#"{"log-driver":"syslog"}"#).expect("parses");
        assert!(c
            .validate()
            .expect_err("bad driver")
            .to_string()
            .contains("log-driver"));
        let c = load_str(r#"{"default-runtime":"nope"}"#).expect("parses");
        assert!(c
            .validate()
            .expect_err("bad runtime")
            .to_string()
            .contains("default-runtime"));
        let c = load_str(r#"{"exec-root":"relative"}"#).expect("parses");
        assert!(c
            .validate()
            .expect_err("relative")
            .to_string()
            .contains("exec-root"));
        assert!(load_str("{").is_err());
        assert!(DaemonConfig::load(Path::new("/nonexistent/daemon.json"), true).is_err());
        assert!(DaemonConfig::load(Path::new("/nonexistent/daemon.json"), false).is_ok());
    }
}

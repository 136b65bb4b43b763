//! The OCI runtime spec for a container, from its image configuration and Docker's Config and
//! HostConfig, with Docker's defaults (capabilities, seccomp profile, mounts, masked paths,
//! device rules), as moby's `daemon/oci_linux.go` and `oci/defaults.go` build it.
//!
//! The spec is assembled as JSON in the runtime-spec's own field names and parsed once into
//! [`oci_spec::runtime::Spec`] at the end: absent fields stay absent (oci-spec's `Default`
//! impls carry runc's defaults, which are not Docker's), and the code reads like the config.json
//! it produces.
//!
//! One file per concept: [`merge`] (image config + user config, process args), [`user`]
//! (User / GroupAdd resolved in the rootfs), [`caps`], [`security`] (SecurityOpt),
//! [`seccomp`] (Docker's default profile), [`mounts`], [`etc_files`] (hostname, hosts,
//! resolv.conf), [`resources`] (cgroup limits, ulimits, sysctls), [`devices`].

pub mod caps;
pub mod devices;
pub mod etc_files;
pub mod merge;
pub mod mounts;
pub mod recursive_ro;
pub mod resources;
pub mod seccomp;
pub mod security;
pub mod user;

use crate::{Error, Result};
use bollard_stubs::models::{ContainerConfig, HostConfig};
use serde_json::{json, Value};
use std::path::Path;

pub use merge::{config_of_create_body, merge_image_config, process_args};

/// The `PATH` Docker gives a Linux container whose config has none.
pub const DEFAULT_PATH_ENV: &str =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Where Docker mounts its init inside the container (`docker run --init`).
pub const INIT_PATH_IN_CONTAINER: &str = "/sbin/docker-init";

/// Everything [`build`] needs.
#[derive(Debug)]
pub struct SpecInput<'a> {
    /// The container's full id (the default hostname is its first 12 characters).
    pub id: &'a str,
    /// Image config merged with the user's Config ([`merge_image_config`]).
    pub config: &'a ContainerConfig,
    pub host_config: &'a HostConfig,
    /// Process args (entrypoint + cmd, [`process_args`]).
    pub args: &'a [String],
    /// The container's mounted rootfs; /etc/passwd and /etc/group are read from it without
    /// following symlinks out of it.
    pub rootfs: &'a Path,
    /// A directory of the container's own where hostname, hosts and resolv.conf are written,
    /// then bind-mounted into the container.
    pub etc_dir: &'a Path,
    /// The berth-init binary, required when HostConfig.Init is true.
    pub init_path: Option<&'a Path>,
    /// linux.cgroupsPath, chosen by the caller.
    pub cgroups_path: String,
    /// What the network layer decided for this run.
    pub network: NetworkInput,
    /// Whether read-only binds can be made recursively read-only (`rro`).
    pub recursive_readonly: recursive_ro::Support,
}

/// The network side of a spec: the namespace and the contents of the /etc files.
#[derive(Debug, Clone, Default)]
pub struct NetworkInput {
    /// Join this network namespace (`--network container:NAME`) instead of a new one.
    pub join: Option<std::path::PathBuf>,
    /// That container's /etc files and hostname, shared rather than written.
    pub shared_files: Option<etc_files::EtcFiles>,
    pub shared_hostname: Option<String>,
    /// The container's own addresses, written into /etc/hosts with its hostname.
    pub addresses: Vec<std::net::IpAddr>,
    /// On a user network: resolv.conf names the embedded DNS server (127.0.0.11).
    pub embedded_dns: bool,
    /// The daemon's `dns`, `dns-search` and `dns-opts`, for containers that set none.
    pub default_dns: Vec<String>,
    pub default_dns_search: Vec<String>,
    pub default_dns_opts: Vec<String>,
}

/// Builds the OCI runtime spec of a container and writes its generated /etc files into
/// `etc_dir`. Bad input is an [`Error::InvalidArgument`] naming the field.
pub fn build(input: &SpecInput) -> Result<oci_spec::runtime::Spec> {
    let cfg = input.config;
    let hc = input.host_config;
    let privileged = hc.privileged.unwrap_or(false);
    let modes = Modes::from_host_config(hc)?;
    let sec = security::parse(hc.security_opt.as_deref().unwrap_or_default())?;

    let hostname = hostname(input, &modes)?;
    let domainname = cfg.domainname.clone().unwrap_or_default();

    // Process.
    let mut args: Vec<String> = input.args.to_vec();
    if args.is_empty() {
        return Err(Error::InvalidArgument("No command specified".into()));
    }
    let init = hc.init.unwrap_or(false);
    if init {
        let mut with_init = vec![INIT_PATH_IN_CONTAINER.to_string(), "--".to_string()];
        with_init.append(&mut args);
        args = with_init;
    }
    let tty = cfg.tty.unwrap_or(false);
    let env = process_env(cfg.env.as_deref().unwrap_or_default(), &hostname, tty);
    let cwd = match cfg.working_dir.as_deref() {
        None | Some("") => "/".to_string(),
        Some(w) if w.starts_with('/') => w.to_string(),
        Some(w) => {
            return Err(Error::InvalidArgument(format!(
                "the working directory '{w}' is invalid, it needs to be an absolute path"
            )))
        }
    };
    if cwd != "/" {
        user::mkdir_in_root(input.rootfs, &cwd)?;
    }
    let user = user::resolve(
        input.rootfs,
        cfg.user.as_deref().unwrap_or_default(),
        hc.group_add.as_deref().unwrap_or_default(),
    )?;
    let capabilities = caps::effective(
        hc.cap_add.as_deref().unwrap_or_default(),
        hc.cap_drop.as_deref().unwrap_or_default(),
        privileged,
    )?;
    let rlimits = resources::rlimits(hc.ulimits.as_deref().unwrap_or_default())?;
    let oom_score_adj = resources::oom_score_adj(hc.oom_score_adj)?;

    let mut process = json!({
        "terminal": tty,
        "user": user.to_json(),
        "args": args,
        "env": env,
        "cwd": cwd,
        "capabilities": {
            "bounding": capabilities,
            "effective": capabilities,
            "permitted": capabilities,
        },
        "noNewPrivileges": sec.no_new_privileges,
    });
    if !rlimits.is_empty() {
        process["rlimits"] = Value::Array(rlimits);
    }
    if let Some(adj) = oom_score_adj {
        process["oomScoreAdj"] = json!(adj);
    }

    // Mounts and the generated /etc files.
    let etc = match &input.network.shared_files {
        Some(shared) => shared.clone(),
        None => etc_files::write(
            input.etc_dir,
            &hostname,
            &domainname,
            hc,
            modes.host_network,
            &input.network,
        )?,
    };
    let mounts = mounts::build(&mounts::MountInput {
        host_config: hc,
        privileged,
        readonly_rootfs: hc.readonly_rootfs.unwrap_or(false),
        etc: &etc,
        init_path: if init {
            Some(input.init_path.ok_or_else(|| {
                Error::Internal(
                    "HostConfig.Init is set but the daemon has no init binary (berth-init)".into(),
                )
            })?)
        } else {
            None
        },
        ipc_host: modes.ipc_host,
        ipc_none: modes.ipc_none,
        recursive_readonly: &input.recursive_readonly,
    })?;

    // Linux.
    let mut namespaces = vec![json!({"type": "mount"})];
    match &input.network.join {
        Some(path) => namespaces.push(json!({"type": "network", "path": path})),
        None if !modes.host_network => namespaces.push(json!({"type": "network"})),
        None => {}
    }
    if !modes.uts_host {
        namespaces.push(json!({"type": "uts"}));
    }
    if !modes.pid_host {
        namespaces.push(json!({"type": "pid"}));
    }
    if !modes.ipc_host {
        namespaces.push(json!({"type": "ipc"}));
    }
    if modes.cgroupns_private {
        namespaces.push(json!({"type": "cgroup"}));
    }

    let devs = devices::build(hc, privileged)?;
    let mut res = resources::build(hc)?;
    res["devices"] = Value::Array(devs.cgroup_rules);
    let sysctl = resources::sysctls(
        hc.sysctls.as_ref(),
        modes.host_network,
        modes.ipc_host,
        modes.uts_host,
    )?;

    let mut linux = json!({
        "namespaces": namespaces,
        "resources": res,
        "cgroupsPath": input.cgroups_path,
        "devices": devs.devices,
    });
    if !sysctl.is_empty() {
        linux["sysctl"] = json!(sysctl);
    }
    if !privileged {
        linux["maskedPaths"] = json!(masked_paths(hc));
        linux["readonlyPaths"] = json!(readonly_paths(hc));
    }
    // Privileged containers run unconfined unless a profile is named explicitly (moby).
    let profile = match &sec.seccomp {
        security::Seccomp::Default if privileged => None,
        security::Seccomp::Default => Some(seccomp::default_profile()?),
        security::Seccomp::Unconfined => None,
        security::Seccomp::Custom(p) => Some(p.clone()),
    };
    if let Some(p) = profile {
        linux["seccomp"] = seccomp::to_oci(&p, &capabilities)?;
    }

    let mut spec = json!({
        "ociVersion": "1.0.2-dev",
        "process": process,
        "root": {
            "path": input.rootfs,
            "readonly": hc.readonly_rootfs.unwrap_or(false),
        },
        "mounts": mounts,
        "linux": linux,
    });
    if !modes.uts_host {
        spec["hostname"] = json!(hostname);
        if !domainname.is_empty() {
            spec["domainname"] = json!(domainname);
        }
    }
    serde_json::from_value(spec).map_err(|e| Error::internal("assembling the OCI runtime spec", e))
}

/// The namespace modes from HostConfig (PidMode, IpcMode, UTSMode, NetworkMode, CgroupnsMode,
/// UsernsMode), validated.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Modes {
    pub host_network: bool,
    pub pid_host: bool,
    pub ipc_host: bool,
    pub ipc_none: bool,
    pub uts_host: bool,
    pub cgroupns_private: bool,
}

impl Modes {
    pub(crate) fn from_host_config(hc: &HostConfig) -> Result<Modes> {
        let net = hc.network_mode.as_deref().unwrap_or_default();
        let host_network = match net {
            "host" => true,
            // Every other network is a new network namespace (bridge and user networks are
            // connected by the network layer, "none" keeps only lo), or another container's
            // (`container:NAME`, NetworkInput::join).
            _ => false,
        };
        let pid_host = match hc.pid_mode.as_deref().unwrap_or_default() {
            "" | "private" => false,
            "host" => true,
            other => {
                return Err(Error::InvalidArgument(format!(
                    "HostConfig.PidMode {other:?} is not supported (\"host\" or empty)"
                )))
            }
        };
        let (ipc_host, ipc_none) = match hc.ipc_mode.as_deref().unwrap_or_default() {
            "" | "private" | "shareable" => (false, false),
            "host" => (true, false),
            "none" => (false, true),
            other => {
                return Err(Error::InvalidArgument(format!(
                    "HostConfig.IpcMode {other:?} is not supported (\"private\", \"shareable\", \"host\" or \"none\")"
                )))
            }
        };
        let uts_host = match hc.uts_mode.as_deref().unwrap_or_default() {
            "" => false,
            "host" => true,
            other => {
                return Err(Error::InvalidArgument(format!(
                    "HostConfig.UTSMode {other:?} is not supported (\"host\" or empty)"
                )))
            }
        };
        match hc.userns_mode.as_deref().unwrap_or_default() {
            "" | "host" => {}
            other => {
                return Err(Error::InvalidArgument(format!(
                    "HostConfig.UsernsMode {other:?} is not supported yet"
                )))
            }
        }
        use bollard_stubs::models::HostConfigCgroupnsModeEnum as C;
        let cgroupns_private = match hc.cgroupns_mode {
            Some(C::PRIVATE) => true,
            Some(C::HOST) => false,
            // Docker's default: private on a cgroup v2 host, host on v1.
            Some(C::EMPTY) | None => host_is_cgroup_v2(),
        };
        Ok(Modes {
            host_network,
            pid_host,
            ipc_host,
            ipc_none,
            uts_host,
            cgroupns_private,
        })
    }
}

fn host_is_cgroup_v2() -> bool {
    rustix::fs::statfs("/sys/fs/cgroup")
        .map(|s| s.f_type == libc::CGROUP2_SUPER_MAGIC)
        .unwrap_or(false)
}

/// Config.Hostname, else the host's with a host network or UTS namespace, else the first 12
/// characters of the id (Docker's rules).
fn hostname(input: &SpecInput, modes: &Modes) -> Result<String> {
    if let Some(h) = &input.network.shared_hostname {
        return Ok(h.clone());
    }
    if let Some(h) = input.config.hostname.as_deref().filter(|h| !h.is_empty()) {
        if h.len() > 253 || h.chars().any(|c| c.is_whitespace() || c == '/') {
            return Err(Error::InvalidArgument(format!(
                "invalid Config.Hostname {h:?}: must be a valid RFC 1123 hostname"
            )));
        }
        return Ok(h.to_string());
    }
    if modes.host_network || modes.uts_host {
        return std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .map_err(|e| Error::internal("reading the host's hostname", e));
    }
    Ok(input.id.chars().take(12).collect())
}

/// The container's environment, Docker's way: PATH, HOSTNAME and (with a terminal) TERM first,
/// then Config.Env replacing by key; an entry without '=' removes the key.
pub fn process_env(config_env: &[String], hostname: &str, tty: bool) -> Vec<String> {
    let mut env = vec![DEFAULT_PATH_ENV.to_string(), format!("HOSTNAME={hostname}")];
    if tty {
        env.push("TERM=xterm".to_string());
    }
    merge::replace_or_append_env(&mut env, config_env);
    env
}

/// Docker's masked paths (`oci/defaults.go`), plus HostConfig.MaskedPaths when given (the API
/// lets a client replace the list).
fn masked_paths(hc: &HostConfig) -> Vec<String> {
    if let Some(p) = &hc.masked_paths {
        return p.clone();
    }
    DEFAULT_MASKED_PATHS.iter().map(|s| s.to_string()).collect()
}

fn readonly_paths(hc: &HostConfig) -> Vec<String> {
    if let Some(p) = &hc.readonly_paths {
        return p.clone();
    }
    DEFAULT_READONLY_PATHS
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// Paths Docker hides from unprivileged containers.
pub const DEFAULT_MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths Docker makes read-only in unprivileged containers.
pub const DEFAULT_READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

#[cfg(test)]
mod tests;

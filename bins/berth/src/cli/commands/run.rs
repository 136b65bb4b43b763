//! `run` and `create`: docker's container flags turned into the create body (Config +
//! HostConfig + NetworkingConfig), the pull-on-missing fallback, and run's sequence: wait
//! (next-exit, or removed with --rm) and attach before start, so neither output nor the exit
//! status can be missed; the container's exit status becomes ours.

use super::super::client::{enc, is_not_found, query, ApiError};
use super::super::stream::{self, End};
use super::super::{exit_code, Ctx, StatusError};
use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Map, Value};
use std::io::IsTerminal;

/// The flags `run` and `create` share.
#[derive(clap::Args, Debug, Clone)]
pub struct ContainerOpts {
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Attach to STDIN, STDOUT or STDERR
    #[arg(short = 'a', long = "attach")]
    pub attach: Vec<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Container NIS domain name
    #[arg(long)]
    pub domainname: Option<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
    /// Memory limit
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<f64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota")]
    pub cpu_quota: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Ulimit options
    #[arg(long)]
    pub ulimit: Vec<String>,
    /// Add Linux capabilities
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Security Options
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Add a host device to the container
    #[arg(long)]
    pub device: Vec<String>,
    /// Mount a tmpfs directory
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Size of /dev/shm
    #[arg(long = "shm-size")]
    pub shm_size: Option<String>,
    /// Sysctl options
    #[arg(long)]
    pub sysctl: Vec<String>,
    /// Add additional groups to join
    #[arg(long = "group-add")]
    pub group_add: Vec<String>,
    /// Tune host's OOM preferences (-1000 to 1000)
    #[arg(long = "oom-score-adj", allow_hyphen_values = true)]
    pub oom_score_adj: Option<i64>,
    /// Disable OOM Killer
    #[arg(long = "oom-kill-disable")]
    pub oom_kill_disable: bool,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label")]
    pub label: Vec<String>,
    /// Read in a line delimited file of labels
    #[arg(long = "label-file")]
    pub label_file: Vec<String>,
    /// Restart policy to apply when a container exits
    #[arg(long, default_value = "no")]
    pub restart: String,
    /// Command to run to check health
    #[arg(long = "health-cmd")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h)
    #[arg(long = "health-interval")]
    pub health_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h)
    #[arg(long = "health-timeout")]
    pub health_timeout: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long = "health-retries")]
    pub health_retries: Option<i64>,
    /// Start period for the container to initialize before starting health-retries countdown
    #[arg(long = "health-start-period")]
    pub health_start_period: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
    /// Logging driver for the container
    #[arg(long = "log-driver")]
    pub log_driver: Option<String>,
    /// Log driver options
    #[arg(long = "log-opt")]
    pub log_opt: Vec<String>,
    /// Runtime to use for this container
    #[arg(long)]
    pub runtime: Option<String>,
    /// Connect a container to a network
    #[arg(long = "network", visible_alias = "net")]
    pub network: Vec<String>,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias")]
    pub network_alias: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long)]
    pub ip: Option<String>,
    /// IPv6 address (e.g., 2001:db8::33)
    #[arg(long)]
    pub ip6: Option<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long = "mac-address")]
    pub mac_address: Option<String>,
    /// Container IPv4/IPv6 link-local addresses
    #[arg(long = "link-local-ip")]
    pub link_local_ip: Vec<String>,
    /// Bind mount a volume
    #[arg(short = 'v', long = "volume")]
    pub volume: Vec<String>,
    /// Attach a filesystem mount to the container
    #[arg(long)]
    pub mount: Vec<String>,
    /// Mount volumes from the specified container(s)
    #[arg(long = "volumes-from")]
    pub volumes_from: Vec<String>,
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Expose a port or a range of ports
    #[arg(long)]
    pub expose: Vec<String>,
    /// Set custom DNS servers
    #[arg(long)]
    pub dns: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option")]
    pub dns_option: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// PID namespace to use
    #[arg(long)]
    pub pid: Option<String>,
    /// IPC mode to use
    #[arg(long)]
    pub ipc: Option<String>,
    /// UTS namespace to use
    #[arg(long)]
    pub uts: Option<String>,
    /// User namespace to use
    #[arg(long)]
    pub userns: Option<String>,
    /// Cgroup namespace to use (host|private)
    #[arg(long)]
    pub cgroupns: Option<String>,
    /// Optional parent cgroup for the container
    #[arg(long = "cgroup-parent")]
    pub cgroup_parent: Option<String>,
    /// Signal to stop the container
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout")]
    pub stop_timeout: Option<i64>,
    /// Pull image before running ("always", "missing", "never")
    #[arg(long, default_value = "missing")]
    pub pull: String,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// Suppress the pull output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Print help
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// IMAGE [COMMAND] [ARG...]
    #[arg(
        required = true,
        trailing_var_arg = true,
        value_name = "IMAGE [COMMAND] [ARG...]"
    )]
    pub args: Vec<String>,
}

#[derive(clap::Args, Debug)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Automatically remove the container and its associated anonymous volumes when it exits
    #[arg(long)]
    pub rm: bool,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set)]
    pub sig_proxy: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    #[command(flatten)]
    pub opts: ContainerOpts,
}

#[derive(clap::Args, Debug)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    /// Automatically remove the container and its associated anonymous volumes when it exits
    #[arg(long)]
    pub rm: bool,
    #[command(flatten)]
    pub opts: ContainerOpts,
}

/// docker's `RAMInBytes`: 512m, 1g, 100k, 1024 (bytes), with an optional trailing b.
pub fn ram_in_bytes(s: &str) -> Result<i64> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        Some('p') => (&t[..t.len() - 1], 1 << 50),
        _ => (t, 1),
    };
    let n: f64 = num.parse().map_err(|_| anyhow!("invalid size: '{s}'"))?;
    if n < 0.0 {
        bail!("invalid size: '{s}'");
    }
    Ok((n * mult as f64) as i64)
}

/// [`ram_in_bytes`] of a flag's value, the error naming the flag as docker does.
fn size_flag(flag: &str, v: &str) -> Result<i64> {
    ram_in_bytes(v).map_err(|e| anyhow!("invalid argument {v:?} for \"{flag}\" flag: {e}"))
}

/// A Go duration (`30s`, `1m30s`, `500ms`) in nanoseconds.
fn go_duration(flag: &str, s: &str) -> Result<i64> {
    let d = humantime::parse_duration(s)
        .map_err(|e| anyhow!("invalid argument {s:?} for \"{flag}\" flag: {e}"))?;
    Ok(d.as_nanos() as i64)
}

fn key_values(flag: &str, items: &[String]) -> Result<Map<String, Value>> {
    let mut m = Map::new();
    for it in items {
        let (k, v) = it.split_once('=').unwrap_or((it.as_str(), ""));
        if k.is_empty() {
            bail!("invalid argument {it:?} for \"{flag}\" flag: empty key");
        }
        m.insert(k.to_string(), Value::String(v.to_string()));
    }
    Ok(m)
}

/// `-e KEY=VAL`, or `-e KEY` taking the value from our environment (dropped when unset), after
/// the `--env-file` lines.
fn environment(o: &ContainerOpts) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut push = |item: &str| {
        if item.contains('=') {
            out.push(item.to_string());
        } else if let Ok(v) = std::env::var(item) {
            out.push(format!("{item}={v}"));
        }
    };
    for f in &o.env_file {
        let text = std::fs::read_to_string(f).with_context(|| format!("open {f}"))?;
        for line in text.lines() {
            let l = line.trim_start();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            push(l);
        }
    }
    for e in &o.env {
        if e.starts_with('=') {
            bail!("invalid argument {e:?} for \"-e, --env\" flag: invalid environment variable");
        }
        push(e);
    }
    Ok(out)
}

fn labels(o: &ContainerOpts) -> Result<Map<String, Value>> {
    let mut items = Vec::new();
    for f in &o.label_file {
        let text = std::fs::read_to_string(f).with_context(|| format!("open {f}"))?;
        items.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(String::from),
        );
    }
    items.extend(o.label.iter().cloned());
    key_values("--label", &items)
}

fn ulimits(items: &[String]) -> Result<Vec<Value>> {
    items
        .iter()
        .map(|u| {
            let bad = || anyhow!("invalid argument {u:?} for \"--ulimit\" flag: invalid ulimit argument: {u}");
            let (name, vals) = u.split_once('=').ok_or_else(bad)?;
            let (soft, hard) = match vals.split_once(':') {
                Some((s, h)) => (s, h),
                None => (vals, vals),
            };
            let soft: i64 = soft.parse().map_err(|_| bad())?;
            let hard: i64 = hard.parse().map_err(|_| bad())?;
            if soft > hard {
                bail!("invalid argument {u:?} for \"--ulimit\" flag: ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}");
            }
            Ok(json!({"Name": name, "Soft": soft, "Hard": hard}))
        })
        .collect()
}

fn devices(items: &[String]) -> Result<Vec<Value>> {
    items
        .iter()
        .map(|d| {
            let parts: Vec<&str> = d.split(':').collect();
            let (host, cont, perms) = match parts.as_slice() {
                [h] => (*h, *h, "rwm"),
                [h, c] if c.chars().all(|x| "rwm".contains(x)) => (*h, *h, *c),
                [h, c] => (*h, *c, "rwm"),
                [h, c, p] => (*h, *c, *p),
                _ => bail!("invalid argument {d:?} for \"--device\" flag: bad format"),
            };
            Ok(json!({"PathOnHost": host, "PathInContainer": cont, "CgroupPermissions": perms}))
        })
        .collect()
}

fn restart_policy(s: &str) -> Result<Value> {
    let (name, count) = match s.split_once(':') {
        Some((n, c)) => (
            n,
            c.parse::<i64>().map_err(|_| {
                anyhow!("invalid restart policy format: maximum retry count must be an integer")
            })?,
        ),
        None => (s, 0),
    };
    match name {
        "" | "no" if count == 0 => Ok(json!({"Name": "no", "MaximumRetryCount": 0})),
        "always" | "unless-stopped" if count == 0 => {
            Ok(json!({"Name": name, "MaximumRetryCount": 0}))
        }
        "on-failure" => Ok(json!({"Name": name, "MaximumRetryCount": count})),
        "no" | "always" | "unless-stopped" => bail!(
            "invalid restart policy format: maximum retry count can only be used with 'on-failure'"
        ),
        _ => bail!("invalid restart policy format: unknown policy '{name}'"),
    }
}

/// The create body for `image` and its command.
pub fn create_body(o: &ContainerOpts, auto_remove: bool, attach: bool) -> Result<Value> {
    let image = &o.args[0];
    let cmd: Vec<String> = o.args[1..].to_vec();
    let mut config = Map::new();
    let mut host = Map::new();
    config.insert("Image".into(), json!(image));
    if let Some(h) = &o.hostname {
        config.insert("Hostname".into(), json!(h));
    }
    if let Some(d) = &o.domainname {
        config.insert("Domainname".into(), json!(d));
    }
    if let Some(u) = &o.user {
        config.insert("User".into(), json!(u));
    }
    let streams: Vec<String> = o.attach.iter().map(|s| s.to_lowercase()).collect();
    for s in &streams {
        if !["stdin", "stdout", "stderr"].contains(&s.as_str()) {
            bail!("invalid argument {s:?} for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR");
        }
    }
    let (a_in, a_out, a_err) = if !attach {
        (false, false, false)
    } else if streams.is_empty() {
        (o.interactive, true, true)
    } else {
        (
            streams.iter().any(|s| s == "stdin"),
            streams.iter().any(|s| s == "stdout"),
            streams.iter().any(|s| s == "stderr"),
        )
    };
    config.insert("AttachStdin".into(), json!(a_in));
    config.insert("AttachStdout".into(), json!(a_out));
    config.insert("AttachStderr".into(), json!(a_err));
    config.insert("Tty".into(), json!(o.tty));
    config.insert("OpenStdin".into(), json!(o.interactive));
    config.insert("StdinOnce".into(), json!(o.interactive && a_in));
    config.insert("Env".into(), json!(environment(o)?));
    if !cmd.is_empty() {
        config.insert("Cmd".into(), json!(cmd));
    }
    if let Some(ep) = &o.entrypoint {
        config.insert("Entrypoint".into(), json!([ep]));
    }
    if let Some(w) = &o.workdir {
        if !w.starts_with('/') {
            bail!("the working directory '{w}' is invalid, it needs to be an absolute path");
        }
        config.insert("WorkingDir".into(), json!(w));
    }
    config.insert("Labels".into(), Value::Object(labels(o)?));
    if let Some(s) = &o.stop_signal {
        config.insert("StopSignal".into(), json!(s));
    }
    if let Some(t) = o.stop_timeout {
        config.insert("StopTimeout".into(), json!(t));
    }
    let health_set = o.health_cmd.is_some()
        || o.health_interval.is_some()
        || o.health_timeout.is_some()
        || o.health_retries.is_some()
        || o.health_start_period.is_some();
    if o.no_healthcheck {
        if health_set {
            bail!("--no-healthcheck conflicts with --health-* options");
        }
        config.insert("Healthcheck".into(), json!({"Test": ["NONE"]}));
    } else if health_set {
        let mut hc = Map::new();
        if let Some(c) = &o.health_cmd {
            hc.insert("Test".into(), json!(["CMD-SHELL", c]));
        }
        for (flag, val, key) in [
            ("--health-interval", &o.health_interval, "Interval"),
            ("--health-timeout", &o.health_timeout, "Timeout"),
            (
                "--health-start-period",
                &o.health_start_period,
                "StartPeriod",
            ),
        ] {
            if let Some(v) = val {
                hc.insert(key.into(), json!(go_duration(flag, v)?));
            }
        }
        if let Some(r) = o.health_retries {
            if r < 0 {
                bail!("--health-retries cannot be negative");
            }
            hc.insert("Retries".into(), json!(r));
        }
        config.insert("Healthcheck".into(), Value::Object(hc));
    }
    let (exposed, bindings) = super::publish::ports(&o.expose, &o.publish)?;
    if !exposed.is_empty() {
        config.insert("ExposedPorts".into(), Value::Object(exposed));
    }
    host.insert("PortBindings".into(), Value::Object(bindings));
    host.insert("PublishAllPorts".into(), json!(o.publish_all));
    let (binds, volumes) = super::mounts::volumes(&o.volume)?;
    if !volumes.is_empty() {
        config.insert("Volumes".into(), Value::Object(volumes));
    }
    host.insert("Binds".into(), json!(binds));
    let mounts = o
        .mount
        .iter()
        .map(|m| super::mounts::parse_mount(m))
        .collect::<Result<Vec<Value>>>()?;
    if !mounts.is_empty() {
        host.insert("Mounts".into(), json!(mounts));
    }
    host.insert("VolumesFrom".into(), json!(o.volumes_from));
    let (network_mode, endpoints) = networks(o)?;
    host.insert("NetworkMode".into(), json!(network_mode));
    host.insert("RestartPolicy".into(), restart_policy(&o.restart)?);
    host.insert("AutoRemove".into(), json!(auto_remove));
    host.insert("CapAdd".into(), json!(o.cap_add));
    host.insert("CapDrop".into(), json!(o.cap_drop));
    host.insert("Privileged".into(), json!(o.privileged));
    host.insert("ReadonlyRootfs".into(), json!(o.read_only));
    host.insert("SecurityOpt".into(), json!(o.security_opt));
    host.insert("GroupAdd".into(), json!(o.group_add));
    host.insert("Dns".into(), json!(o.dns));
    host.insert("DnsSearch".into(), json!(o.dns_search));
    host.insert("DnsOptions".into(), json!(o.dns_option));
    host.insert("ExtraHosts".into(), json!(o.add_host));
    if let Some(v) = o.oom_score_adj {
        if !(-1000..=1000).contains(&v) {
            bail!("invalid value for --oom-score-adj: {v}: must be in range [-1000, 1000]");
        }
        host.insert("OomScoreAdj".into(), json!(v));
    }
    if o.init {
        host.insert("Init".into(), json!(true));
    }
    for (key, val) in [
        ("PidMode", &o.pid),
        ("IpcMode", &o.ipc),
        ("UTSMode", &o.uts),
        ("UsernsMode", &o.userns),
        ("CgroupnsMode", &o.cgroupns),
        ("CgroupParent", &o.cgroup_parent),
        ("Runtime", &o.runtime),
    ] {
        if let Some(v) = val {
            host.insert(key.into(), json!(v));
        }
    }
    let mut tmpfs = Map::new();
    for t in &o.tmpfs {
        let (path, opts) = t.split_once(':').unwrap_or((t.as_str(), ""));
        tmpfs.insert(path.into(), json!(opts));
    }
    if !tmpfs.is_empty() {
        host.insert("Tmpfs".into(), Value::Object(tmpfs));
    }
    if let Some(s) = &o.shm_size {
        host.insert("ShmSize".into(), json!(size_flag("--shm-size", s)?));
    }
    if !o.sysctl.is_empty() {
        host.insert(
            "Sysctls".into(),
            Value::Object(key_values("--sysctl", &o.sysctl)?),
        );
    }
    if o.log_driver.is_some() || !o.log_opt.is_empty() {
        host.insert(
            "LogConfig".into(),
            json!({"Type": o.log_driver.clone().unwrap_or_default(),
                   "Config": key_values("--log-opt", &o.log_opt)?}),
        );
    }
    // Resources live directly in HostConfig on the wire.
    if let Some(m) = &o.memory {
        host.insert("Memory".into(), json!(size_flag("-m, --memory", m)?));
    }
    if let Some(m) = &o.memory_reservation {
        host.insert(
            "MemoryReservation".into(),
            json!(size_flag("--memory-reservation", m)?),
        );
    }
    if let Some(m) = &o.memory_swap {
        let v = if m == "-1" {
            -1
        } else {
            size_flag("--memory-swap", m)?
        };
        host.insert("MemorySwap".into(), json!(v));
    }
    if let Some(c) = o.cpus {
        if c < 0.0 {
            bail!(
                "invalid argument \"{c}\" for \"--cpus\" flag: range is [0, {}]",
                num_cpus()
            );
        }
        host.insert("NanoCpus".into(), json!((c * 1e9).round() as i64));
    }
    for (key, val) in [
        ("CpuShares", o.cpu_shares),
        ("CpuPeriod", o.cpu_period),
        ("CpuQuota", o.cpu_quota),
        ("PidsLimit", o.pids_limit),
    ] {
        if let Some(v) = val {
            host.insert(key.into(), json!(v));
        }
    }
    if let Some(c) = &o.cpuset_cpus {
        host.insert("CpusetCpus".into(), json!(c));
    }
    if let Some(c) = &o.cpuset_mems {
        host.insert("CpusetMems".into(), json!(c));
    }
    if o.oom_kill_disable {
        host.insert("OomKillDisable".into(), json!(true));
    }
    host.insert("Ulimits".into(), json!(ulimits(&o.ulimit)?));
    host.insert("Devices".into(), json!(devices(&o.device)?));
    let mut body = config;
    body.insert("HostConfig".into(), Value::Object(host));
    body.insert(
        "NetworkingConfig".into(),
        json!({"EndpointsConfig": endpoints}),
    );
    Ok(Value::Object(body))
}

/// One `--network` value: a name, or docker's advanced `name=N,alias=A,ip=...` form.
#[derive(Default, Debug)]
struct Attachment {
    target: String,
    aliases: Vec<String>,
    ipv4: String,
    ipv6: String,
    mac: String,
    link_local: Vec<String>,
    driver_opts: Map<String, Value>,
    gw_priority: Option<i64>,
}

fn parse_attachment(v: &str) -> Result<Attachment> {
    let mut a = Attachment::default();
    if !v.contains('=') {
        a.target = v.to_string();
        return Ok(a);
    }
    for field in v.split(',') {
        let Some((key, val)) = field.split_once('=') else {
            bail!("invalid argument {v:?} for \"--network\" flag: invalid field {field}");
        };
        match key.trim().to_lowercase().as_str() {
            "name" => a.target = val.to_string(),
            "alias" => a.aliases.push(val.to_string()),
            "ip" => a.ipv4 = val.to_string(),
            "ip6" => a.ipv6 = val.to_string(),
            "mac-address" => a.mac = val.to_string(),
            "link-local-ip" => a.link_local.push(val.to_string()),
            "driver-opt" => {
                let (k, v) = val.split_once('=').unwrap_or((val, ""));
                a.driver_opts.insert(k.into(), json!(v));
            }
            "gw-priority" => {
                a.gw_priority = Some(val.parse().map_err(|_| {
                    anyhow!(
                        "invalid argument {v:?} for \"--network\" flag: invalid gw-priority {val}"
                    )
                })?)
            }
            _ => bail!("invalid argument {v:?} for \"--network\" flag: invalid field key {key}"),
        }
    }
    Ok(a)
}

/// Docker's `container.NetworkMode.IsUserDefined`.
fn user_defined(n: &str) -> bool {
    !matches!(n, "default" | "bridge" | "host" | "none") && !n.starts_with("container:")
}

/// Go's `net.ParseMAC` for the 6-octet forms (`aa:bb:..`, `aa-bb-..`, `aabb.ccdd.eeff`).
fn valid_mac(s: &str) -> bool {
    let hex = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit());
    let colon: Vec<&str> = s.split(':').collect();
    let dash: Vec<&str> = s.split('-').collect();
    let dot: Vec<&str> = s.split('.').collect();
    (colon.len() == 6 && colon.iter().all(|p| hex(p, 2)))
        || (dash.len() == 6 && dash.iter().all(|p| hex(p, 2)))
        || (dot.len() == 3 && dot.iter().all(|p| hex(p, 4)))
}

/// HostConfig.NetworkMode and NetworkingConfig.EndpointsConfig as docker CLI 28 builds them
/// (`parseNetworkOpts`): the first `--network` is the mode and takes `--ip`, `--ip6`,
/// `--network-alias`, `--mac-address` and `--link-local-ip`; a lone network without options
/// sends no endpoint.
fn networks(o: &ContainerOpts) -> Result<(String, Map<String, Value>)> {
    let mut list = o
        .network
        .iter()
        .map(|n| parse_attachment(n))
        .collect::<Result<Vec<_>>>()?;
    let implicit = list.is_empty();
    if implicit {
        list.push(Attachment {
            target: "default".into(),
            ..Attachment::default()
        });
    }
    let first = &mut list[0];
    let conflict = |what: &str| anyhow!("conflicting options: cannot specify both {what}");
    if !first.aliases.is_empty() && !o.network_alias.is_empty() {
        return Err(conflict("--network-alias and per-network alias"));
    }
    if !first.ipv4.is_empty() && o.ip.is_some() {
        return Err(conflict("--ip and per-network IPv4 address"));
    }
    if !first.ipv6.is_empty() && o.ip6.is_some() {
        return Err(conflict("--ip6 and per-network IPv6 address"));
    }
    if !first.mac.is_empty() && o.mac_address.is_some() {
        return Err(conflict("--mac-address and per-network MAC address"));
    }
    if !first.link_local.is_empty() && !o.link_local_ip.is_empty() {
        return Err(conflict(
            "--link-local-ip and per-network link-local IP addresses",
        ));
    }
    if !o.network_alias.is_empty() {
        first.aliases = o.network_alias.clone();
    }
    if let Some(ip) = &o.ip {
        first.ipv4 = ip.clone();
    }
    if let Some(ip) = &o.ip6 {
        first.ipv6 = ip.clone();
    }
    if let Some(m) = &o.mac_address {
        first.mac = m.clone();
    }
    if !o.link_local_ip.is_empty() {
        first.link_local = o.link_local_ip.clone();
    }
    let mode = list[0].target.clone();
    let (mut user, mut builtin) = (false, false);
    let mut endpoints = Map::new();
    let count = list.len();
    for (i, a) in list.into_iter().enumerate() {
        if !implicit {
            if user_defined(&a.target) {
                user = true;
            } else {
                builtin = true;
            }
        }
        if a.target.trim().is_empty() {
            bail!("no name set for network");
        }
        if !user_defined(&a.target) && !a.aliases.is_empty() {
            bail!("network-scoped aliases are only supported for user-defined networks");
        }
        let mut ep = Map::new();
        if !a.aliases.is_empty() {
            ep.insert("Aliases".into(), json!(a.aliases));
        }
        if !a.driver_opts.is_empty() {
            ep.insert("DriverOpts".into(), Value::Object(a.driver_opts));
        }
        if !a.ipv4.is_empty() || !a.ipv6.is_empty() || !a.link_local.is_empty() {
            let mut ipam = Map::new();
            if !a.ipv4.is_empty() {
                ipam.insert("IPv4Address".into(), json!(a.ipv4));
            }
            if !a.ipv6.is_empty() {
                ipam.insert("IPv6Address".into(), json!(a.ipv6));
            }
            if !a.link_local.is_empty() {
                ipam.insert("LinkLocalIPs".into(), json!(a.link_local));
            }
            ep.insert("IPAMConfig".into(), Value::Object(ipam));
        }
        if !a.mac.is_empty() {
            if !valid_mac(a.mac.trim()) {
                bail!("{} is not a valid mac address", a.mac);
            }
            ep.insert("MacAddress".into(), json!(a.mac));
        }
        if let Some(p) = a.gw_priority {
            ep.insert("GwPriority".into(), json!(p));
        }
        if endpoints.contains_key(&a.target) {
            bail!("network {:?} is specified multiple times", a.target);
        }
        // A single network without options: the daemon makes the endpoint itself.
        if i == 0 && count == 1 && ep.is_empty() {
            continue;
        }
        endpoints.insert(a.target, Value::Object(ep));
    }
    if user && builtin {
        bail!("conflicting options: cannot attach both user-defined and non-user-defined network-modes");
    }
    Ok((mode, endpoints))
}

fn num_cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// `busybox` -> `busybox:latest`, as docker names it in "Unable to find image".
pub fn with_default_tag(image: &str) -> String {
    if image.contains('@') {
        return image.to_string();
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    if last.contains(':') {
        image.to_string()
    } else {
        format!("{image}:latest")
    }
}

/// Creates the container, pulling its image first as `--pull` says; returns its id.
async fn create_container(ctx: &Ctx, o: &ContainerOpts, body: &Value) -> Result<String> {
    let image = &o.args[0];
    if !["always", "missing", "never"].contains(&o.pull.as_str()) {
        bail!(
            "invalid pull option: '{}': must be one of \"always\", \"missing\" or \"never\"",
            o.pull
        );
    }
    let mut q = Vec::new();
    if let Some(n) = &o.name {
        q.push(("name", n.clone()));
    }
    if let Some(p) = &o.platform {
        q.push(("platform", p.clone()));
    }
    let path = format!("/containers/create{}", query(&q));
    let per_network_mac = body["NetworkingConfig"]["EndpointsConfig"]
        .as_object()
        .is_some_and(|m| m.values().any(|e| e.get("MacAddress").is_some()));
    let version = ctx.client.api_version();
    if per_network_mac && super::super::client::version_lt(version, "1.44") {
        return Err(StatusError {
            code: 1,
            message: Some(format!(
                "\"specify mac-address per network\" requires API version 1.44, but the Berth daemon API version is {version}"
            )),
        }
        .into());
    }
    let pull = || super::images::pull_image(ctx, image.clone(), o.platform.clone(), o.quiet, true);
    if o.pull == "always" {
        pull().await?;
    }
    let resp = match ctx.client.post_json(&path, Some(body)).await {
        Ok(r) => r,
        Err(e) if is_not_found(&e) && o.pull == "missing" && no_such_image(&e) => {
            eprintln!("Unable to find image '{}' locally", with_default_tag(image));
            pull().await?;
            ctx.client.post_json(&path, Some(body)).await?
        }
        Err(e) => return Err(e),
    };
    if let Some(ws) = resp.get("Warnings").and_then(Value::as_array) {
        for w in ws.iter().filter_map(Value::as_str) {
            eprintln!("WARNING: {w}");
        }
    }
    resp.get("Id")
        .and_then(Value::as_str)
        .map(String::from)
        .context("the daemon's create answer has no Id")
}

fn no_such_image(e: &anyhow::Error) -> bool {
    e.downcast_ref::<ApiError>().is_some_and(|a| {
        let m = a.message.to_lowercase();
        m.contains("no such image") || m.contains("not found") || m.contains("unable to find")
    })
}

pub async fn create(ctx: &Ctx, a: CreateArgs) -> Result<()> {
    let body = create_body(&a.opts, a.rm, false)?;
    let id = create_container(ctx, &a.opts, &body).await?;
    println!("{id}");
    Ok(())
}

/// docker's mapping of a start failure to an exit status: 127 for a missing command, 126 for
/// one that cannot be run, 125 otherwise.
pub fn start_error_code(msg: &str) -> i32 {
    if msg.contains("executable file not found")
        || msg.contains("no such file or directory")
        || msg.contains("system cannot find the file specified")
    {
        127
    } else if msg.contains("permission denied") || msg.contains("is a directory") {
        126
    } else {
        125
    }
}

pub async fn run(ctx: &Ctx, a: RunArgs) -> Result<()> {
    let o = &a.opts;
    let detach_keys = stream::detach_keys(a.detach_keys.as_deref())?;
    if a.detach && !o.attach.is_empty() {
        bail!("conflicting options: cannot specify both --attach and --detach");
    }
    if !a.detach && o.tty && o.interactive && !std::io::stdin().is_terminal() {
        return Err(StatusError {
            code: 1,
            message: Some("the input device is not a TTY".into()),
        }
        .into());
    }
    let body = create_body(o, a.rm, !a.detach)?;
    let id = create_container(ctx, o, &body).await?;
    let client = &ctx.client;

    if a.detach {
        start_or_code(ctx, &id).await?;
        println!("{id}");
        return Ok(());
    }

    let attach_stdin = body["AttachStdin"].as_bool().unwrap_or(false);
    let mut q = vec![("stream", "1".to_string())];
    for (k, key) in [
        ("stdin", "AttachStdin"),
        ("stdout", "AttachStdout"),
        ("stderr", "AttachStderr"),
    ] {
        if body[key].as_bool().unwrap_or(false) {
            q.push((k, "1".to_string()));
        }
    }
    if let Some(k) = &a.detach_keys {
        q.push(("detachKeys", k.clone()));
    }
    let conn = client
        .upgrade(
            &format!("/containers/{}/attach{}", enc(&id), query(&q)),
            None,
        )
        .await?;
    // Ask for the exit status before starting, so a fast container cannot be missed.
    let condition = if a.rm { "removed" } else { "next-exit" };
    let wait_client = client.clone();
    let wait_path = format!("/containers/{}/wait?condition={condition}", enc(&id));
    let waiter = tokio::spawn(async move { wait_client.post_json(&wait_path, None).await });
    // Give the wait request a moment to reach the daemon before the container can exit.
    tokio::task::yield_now().await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;

    let _raw = (o.tty && attach_stdin).then(stream::RawTerminal::enable);
    if let Err(e) = start_or_code(ctx, &id).await {
        drop(_raw);
        if a.rm {
            // As docker: the daemon removes the container; return once it is gone.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(30), waiter).await;
        }
        return Err(e);
    }
    if o.tty && std::io::stdout().is_terminal() {
        stream::monitor_size(client, format!("/containers/{}/resize", enc(&id)));
    }
    if a.sig_proxy && !o.tty {
        proxy_signals(client.clone(), id.clone());
    }
    let end = stream::pump(conn, o.tty, attach_stdin, &detach_keys).await?;
    if end == End::Detached {
        drop(_raw);
        eprintln!("\r\nread escape sequence\r");
        return Ok(());
    }
    let status = waiter
        .await
        .map_err(|e| anyhow!("waiting for the container: {e}"))??;
    drop(_raw);
    if let Some(m) = status
        .get("Error")
        .and_then(|e| e.get("Message"))
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
    {
        eprintln!("berth: {m}");
    }
    let code = status
        .get("StatusCode")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if code != 0 {
        return Err(exit_code(code as i32));
    }
    Ok(())
}

async fn start_or_code(ctx: &Ctx, id: &str) -> Result<()> {
    match ctx
        .client
        .post_json(&format!("/containers/{}/start", enc(id)), None)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => {
            let msg = e.to_string();
            Err(StatusError {
                code: start_error_code(&msg),
                message: Some(format!(
                    "berth: {msg}\n\nRun 'berth run --help' for more information"
                )),
            }
            .into())
        }
    }
}

/// Forwards the signals a user sends us to the container (docker's --sig-proxy).
pub fn proxy_signals(client: super::super::client::Client, id: String) {
    use tokio::signal::unix::{signal, SignalKind};
    for (kind, name) in [
        (SignalKind::interrupt(), "SIGINT"),
        (SignalKind::terminate(), "SIGTERM"),
        (SignalKind::hangup(), "SIGHUP"),
        (SignalKind::quit(), "SIGQUIT"),
        (SignalKind::user_defined1(), "SIGUSR1"),
        (SignalKind::user_defined2(), "SIGUSR2"),
    ] {
        let Ok(mut s) = signal(kind) else { continue };
        let c = client.clone();
        let path = format!("/containers/{}/kill?signal={name}", enc(&id));
        tokio::spawn(async move {
            while s.recv().await.is_some() {
                let _ = c.post_json(&path, None).await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_docker() {
        assert_eq!(ram_in_bytes("512m").expect("parses"), 512 << 20);
        assert_eq!(ram_in_bytes("1g").expect("parses"), 1 << 30);
        assert_eq!(ram_in_bytes("64MB").expect("parses"), 64 << 20);
        assert_eq!(ram_in_bytes("1000").expect("parses"), 1000);
        assert!(ram_in_bytes("lots").is_err());
    }

    #[test]
    fn restart_policies() {
        assert_eq!(
            restart_policy("on-failure:3").expect("parses")["MaximumRetryCount"],
            3
        );
        assert!(restart_policy("always:3").is_err());
        assert!(restart_policy("sometimes").is_err());
    }

    #[test]
    fn default_tag() {
        assert_eq!(with_default_tag("busybox"), "busybox:latest");
        assert_eq!(
            with_default_tag("127.0.0.1:5000/a"),
            "127.0.0.1:5000/a:latest"
        );
        assert_eq!(with_default_tag("a:1"), "a:1");
    }

    #[test]
    fn start_errors_map_to_docker_codes() {
        assert_eq!(
            start_error_code("exec: \"x\": executable file not found in $PATH"),
            127
        );
        assert_eq!(start_error_code("exec /etc: permission denied"), 126);
        assert_eq!(start_error_code("something else"), 125);
    }
}

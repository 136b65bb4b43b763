//! `berth daemon`: a thin main. Reads and validates the whole configuration before binding
//! anything, opens the engine (re-adopting running containers), serves the Docker Engine API,
//! and on SIGTERM/SIGINT stops accepting, drains requests in flight and exits, leaving the
//! containers running (live-restore).

use anyhow::{bail, Context, Result};
use berth_api_docker::serve::Listener;
use berth_engine::config::DaemonConfig;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

/// dockerd's flags, where they apply.
#[derive(clap::Args, Debug)]
pub struct DaemonArgs {
    /// Daemon socket(s) to listen on: unix:///path or tcp://127.0.0.1:PORT
    #[arg(short = 'H', long = "host", env = "BERTH_HOST")]
    pub hosts: Vec<String>,
    /// Root of persistent state (images, containers, database)
    #[arg(long = "data-root", env = "BERTH_DATA_ROOT")]
    pub data_root: Option<PathBuf>,
    /// Root of runtime state (sockets, monitors' files)
    #[arg(long = "exec-root", env = "BERTH_EXEC_ROOT")]
    pub exec_root: Option<PathBuf>,
    /// Daemon configuration file
    #[arg(long = "config-file", env = "BERTH_CONFIG_FILE")]
    pub config_file: Option<PathBuf>,
    /// Log level: debug, info, warn, error, fatal
    #[arg(short = 'l', long = "log-level")]
    pub log_level: Option<String>,
    /// Debug mode (log level debug)
    #[arg(short = 'D', long = "debug")]
    pub debug: bool,
    /// Default OCI runtime for containers (berth-runc, runc, crun or one from daemon.json)
    #[arg(long = "default-runtime")]
    pub default_runtime: Option<String>,
    /// Registries reachable over plain HTTP
    #[arg(long = "insecure-registry")]
    pub insecure_registries: Vec<String>,
    /// Preferred Docker Hub mirrors
    #[arg(long = "registry-mirror")]
    pub registry_mirrors: Vec<String>,
}

const DEFAULT_CONFIG: &str = "/etc/berth/daemon.json";
const DEFAULT_SOCKET: &str = "/run/berth/berth.sock";

/// Flags over daemon.json over defaults.
pub fn resolve_config(args: &DaemonArgs) -> Result<DaemonConfig> {
    let (path, explicit) = match &args.config_file {
        Some(p) => (p.clone(), true),
        None => (PathBuf::from(DEFAULT_CONFIG), false),
    };
    let mut cfg = DaemonConfig::load(&path, explicit)?;
    if let Some(d) = &args.data_root {
        cfg.data_root = std::path::absolute(d)?;
    }
    if let Some(d) = &args.exec_root {
        cfg.exec_root = std::path::absolute(d)?;
    }
    if !args.hosts.is_empty() {
        cfg.hosts = args.hosts.clone();
    }
    if cfg.hosts.is_empty() {
        cfg.hosts = vec![format!("unix://{DEFAULT_SOCKET}")];
    }
    if let Some(l) = &args.log_level {
        cfg.log_level = l.clone();
    }
    if args.debug {
        cfg.debug = true;
        cfg.log_level = "debug".into();
    }
    if let Some(r) = &args.default_runtime {
        cfg.default_runtime = r.clone();
    }
    cfg.insecure_registries
        .extend(args.insecure_registries.iter().cloned());
    cfg.registry_mirrors
        .extend(args.registry_mirrors.iter().cloned());
    cfg.validate()?;
    for h in &cfg.hosts {
        parse_host(h)?;
    }
    Ok(cfg)
}

enum Host {
    Unix(PathBuf),
    Tcp(String),
}

fn parse_host(h: &str) -> Result<Host> {
    if let Some(p) = h.strip_prefix("unix://") {
        if !p.starts_with('/') {
            bail!("--host {h:?}: unix socket path must be absolute");
        }
        return Ok(Host::Unix(PathBuf::from(p)));
    }
    if let Some(a) = h.strip_prefix("tcp://") {
        a.parse::<std::net::SocketAddr>()
            .with_context(|| format!("--host {h:?}: expected tcp://IP:PORT"))?;
        return Ok(Host::Tcp(a.to_string()));
    }
    if h.starts_with('/') {
        return Ok(Host::Unix(PathBuf::from(h)));
    }
    bail!("--host {h:?}: expected unix:///path or tcp://IP:PORT")
}

/// Runs the daemon until SIGTERM or SIGINT.
pub fn run(args: DaemonArgs) -> Result<()> {
    let cfg = resolve_config(&args)?;
    init_tracing(&cfg.log_level);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(serve(cfg))
}

fn init_tracing(level: &str) {
    let level = if level == "fatal" { "error" } else { level };
    let filter = tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn serve(cfg: DaemonConfig) -> Result<()> {
    // Bind first (but after validation), so a second daemon on the same socket fails before
    // it touches the state of the first.
    let mut listeners = Vec::new();
    let mut sockets = Vec::new();
    let limits = |max_connections| berth_api_docker::ConnLimits {
        header_timeout: std::time::Duration::from_secs(cfg.api_header_timeout),
        idle_timeout: std::time::Duration::from_secs(cfg.api_idle_timeout),
        max_connections,
    };
    for h in &cfg.hosts {
        match parse_host(h)? {
            Host::Unix(p) => {
                if let Some(dir) = p.parent() {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("creating {}", dir.display()))?;
                }
                if std::os::unix::net::UnixStream::connect(&p).is_ok() {
                    bail!(
                        "{}: another daemon is already listening on this socket",
                        p.display()
                    );
                }
                let _ = std::fs::remove_file(&p);
                let l = tokio::net::UnixListener::bind(&p)
                    .with_context(|| format!("listening on {}", p.display()))?;
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o660))
                    .with_context(|| format!("chmod {}", p.display()))?;
                sockets.push(p);
                listeners.push(Listener::Unix(l, limits(cfg.api_max_unix_connections)));
            }
            Host::Tcp(a) => {
                let l = tokio::net::TcpListener::bind(&a)
                    .await
                    .with_context(|| format!("listening on tcp://{a}"))?;
                listeners.push(Listener::Tcp(l, limits(cfg.api_max_tcp_connections)));
            }
        }
    }
    let engine = berth_engine::Engine::open(cfg.clone())
        .await
        .context("opening the engine")?;
    let pid_file = engine.paths.pid_file();
    berth_engine::util::write_atomic(&pid_file, std::process::id().to_string().as_bytes())
        .with_context(|| format!("writing {}", pid_file.display()))?;
    tracing::info!(hosts = ?cfg.hosts, data_root = %cfg.data_root.display(), "berth daemon ready");

    let shutdown = async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
        let mut int = signal(SignalKind::interrupt()).expect("installing a SIGINT handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("shutting down: draining requests; containers keep running");
    };
    berth_api_docker::serve(
        listeners,
        berth_api_docker::router(engine.clone()),
        shutdown,
        std::time::Duration::from_secs(10),
    )
    .await;
    engine.shutdown().await;
    for s in sockets {
        let _ = std::fs::remove_file(s);
    }
    let _ = std::fs::remove_file(&pid_file);
    Ok(())
}

//! The client side of `berth`: docker's verbs and flags over the Docker Engine API.
//!
//! Written by hand on hyper (not bollard) so that the wire stays exactly docker's: the same
//! endpoints, query strings, hijacked attach/exec streams, JSON message streams and error texts,
//! which lets one client drive either dockerd or `berth daemon`.

pub mod client;
pub mod commands;
pub mod config;
pub mod format;
pub mod progress;
pub mod stream;

use client::Client;
use std::path::PathBuf;

/// Where the client connects and keeps its configuration (docker's global flags).
#[derive(clap::Args, Debug, Clone)]
pub struct GlobalOpts {
    /// Daemon socket to connect to (unix:///path or tcp://host:port)
    #[arg(short = 'H', long = "host", global = false)]
    pub host: Option<String>,
    /// Location of client config files
    #[arg(long = "config", value_name = "DIR")]
    pub config: Option<PathBuf>,
    /// Enable debug mode
    #[arg(short = 'D', long = "debug")]
    pub debug: bool,
    /// Set the logging level ("debug", "info", "warn", "error", "fatal")
    #[arg(short = 'l', long = "log-level", value_name = "LEVEL")]
    pub log_level: Option<String>,
}

/// An error that ends the command with a given exit status (docker's `StatusError`).
#[derive(Debug)]
pub struct StatusError {
    pub code: i32,
    /// Printed to stderr when set (already formatted).
    pub message: Option<String>,
}

impl std::fmt::Display for StatusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.message {
            Some(m) => f.write_str(m),
            None => write!(f, "exit status {}", self.code),
        }
    }
}
impl std::error::Error for StatusError {}

/// Exit with `code`, printing nothing more.
pub fn exit_code(code: i32) -> anyhow::Error {
    StatusError {
        code,
        message: None,
    }
    .into()
}

/// What the verbs share: the connection and the client config directory.
pub struct Ctx {
    pub client: Client,
    pub config_dir: PathBuf,
}

/// The daemon address: `-H`, then `BERTH_HOST`, then `DOCKER_HOST`, then the default.
pub fn resolve_host(flag: Option<&str>) -> String {
    if let Some(h) = flag {
        return h.to_string();
    }
    for var in ["BERTH_HOST", "DOCKER_HOST"] {
        if let Ok(h) = std::env::var(var) {
            if !h.is_empty() {
                return h;
            }
        }
    }
    client::DEFAULT_HOST.to_string()
}

/// Runs one client verb and returns the process exit code (errors already printed).
pub fn main(global: GlobalOpts, cmd: commands::Command) -> i32 {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth: starting the async runtime: {e}");
            return 1;
        }
    };
    let verb = cmd.verb();
    // A closed stdout (`berth ps | head -1`) ends us quietly with SIGPIPE's status, as it ends
    // docker; Rust ignores SIGPIPE, so print! would otherwise panic with a message.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.to_string().contains("Broken pipe") {
            std::process::exit(141);
        }
        default_hook(info);
    }));
    let result = rt.block_on(async move {
        let host = resolve_host(global.host.as_deref());
        let client = Client::new(&host)?;
        let ctx = Ctx {
            client,
            config_dir: config::config_dir(global.config.as_deref()),
        };
        commands::dispatch(ctx, cmd).await
    });
    // A blocking stdin read may still be pending; do not wait for it.
    rt.shutdown_background();
    match result {
        Ok(()) => 0,
        Err(e) => report(&e, verb),
    }
}

/// Prints an error as docker does and picks the exit code: run/create failures before the
/// container starts are 125; a missing or non-executable command 127/126.
fn report(e: &anyhow::Error, verb: &str) -> i32 {
    if e.chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    {
        return 141;
    }
    if let Some(s) = e.downcast_ref::<StatusError>() {
        if let Some(m) = &s.message {
            eprintln!("{m}");
        }
        return s.code;
    }
    let msg = format!("{e:#}");
    // docker create passes the daemon's refusal on as it is, with status 1 (run says 125).
    if verb == "create" && e.downcast_ref::<client::ApiError>().is_some() {
        eprintln!("{msg}");
        return 1;
    }
    if verb == "run" || verb == "create" {
        // A flag value docker's flag parser refuses: no prefix, and the usage line.
        if msg.starts_with("invalid argument ") {
            eprintln!("{msg}\n\nUsage:  berth {verb} [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nRun 'berth {verb} --help' for more information");
            return 125;
        }
        eprintln!("berth: {msg}\n\nRun 'berth {verb} --help' for more information");
        return 125;
    }
    eprintln!("{msg}");
    1
}

/// A command line clap refused: help and version go to stdout with status 0; anything else is
/// printed as docker does ("unknown flag: --x", usage, "Run 'berth VERB --help'") with 125.
pub fn usage_error(e: clap::Error) -> i32 {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            return 0;
        }
        _ => {}
    }
    let verb: Vec<String> = std::env::args()
        .skip(1)
        .take_while(|a| !a.starts_with('-'))
        .take(2)
        .filter(|a| is_group(a) || a.chars().all(|c| c.is_ascii_lowercase()))
        .collect();
    let verb = match verb.as_slice() {
        [g, v] if is_group(g) => format!("{g} {v}"),
        [v, ..] => v.clone(),
        [] => String::new(),
    };
    let invalid = e.get(ContextKind::InvalidArg).and_then(|v| match v {
        ContextValue::String(s) => Some(s.clone()),
        _ => None,
    });
    let msg = match (e.kind(), invalid) {
        (ErrorKind::UnknownArgument, Some(flag)) => {
            let flag = flag.split('=').next().unwrap_or(&flag).to_string();
            if flag.starts_with("--") {
                format!("unknown flag: {flag}")
            } else {
                format!(
                    "unknown shorthand flag: '{}' in {flag}",
                    flag.trim_start_matches('-').chars().next().unwrap_or('?')
                )
            }
        }
        _ => {
            // clap's own wording, first line, without its "error: " prefix.
            let text = e.render().to_string();
            text.lines()
                .next()
                .unwrap_or("")
                .trim_start_matches("error: ")
                .to_string()
        }
    };
    let help = if verb.is_empty() {
        "berth --help".to_string()
    } else {
        format!("berth {verb} --help")
    };
    eprintln!("{msg}\n\nRun '{help}' for more information");
    125
}

fn is_group(s: &str) -> bool {
    matches!(s, "container" | "image" | "system" | "network" | "volume")
}

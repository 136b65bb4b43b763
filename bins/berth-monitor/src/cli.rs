//! Command line. Paths are made absolute before the monitor leaves the caller's directory.
//!
//! Container mode is the command without a subcommand (as before `exec` existed, so existing
//! callers keep working); `berth-monitor exec` supervises one `RUNTIME exec` process.

use anyhow::{bail, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "berth-monitor",
    version,
    about = "Runs one container through an OCI runtime and stays with it: logs its output, serves attach clients, records its exit status",
    subcommand_negates_reqs = true,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub container: ContainerArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Runs `RUNTIME exec --detach` in a running container and supervises the new process.
    Exec(ExecArgs),
}

/// Where the container's output is logged.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogDriver {
    /// Docker's json-file: one JSON object per line.
    #[value(name = "json-file")]
    JsonFile,
    /// Docker's local driver: length-framed protobuf LogEntry records.
    Local,
    /// No log file.
    None,
}

/// What the container and exec modes share: the runtime and the stdio wiring.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// The OCI runtime binary (berth-runc, runc, crun).
    #[arg(long, required = true)]
    pub runtime: Option<PathBuf>,
    /// The runtime's state directory (`--root` of the runtime).
    #[arg(long = "runtime-root")]
    pub runtime_root: Option<PathBuf>,
    /// The container id.
    #[arg(long, required = true)]
    pub id: Option<String>,
    /// Where the exit status is written (JSON) when the supervised process has exited.
    #[arg(long = "exit-file", required = true)]
    pub exit_file: Option<PathBuf>,
    /// Unix socket (mode 0600) for attach clients: output as Docker's multiplexed frames,
    /// input as raw stdin bytes.
    #[arg(long = "attach-socket")]
    pub attach_socket: Option<PathBuf>,
    /// Unix socket for control messages, one JSON object per line: `{"resize":{..}}`,
    /// `{"close_stdin":true}`.
    #[arg(long = "ctl-socket")]
    pub ctl_socket: Option<PathBuf>,
    /// Give the process a stdin (a pipe, or the terminal); without it stdin is /dev/null.
    #[arg(long)]
    pub stdin: bool,
    /// Close the process's stdin when the first attach client that used stdin goes away.
    #[arg(long = "stdin-once")]
    pub stdin_once: bool,
    /// Give the process a terminal (`--console-socket`); its output is then one stream.
    #[arg(long)]
    pub tty: bool,
    /// The pid file the runtime writes.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// An inherited descriptor that gets one JSON line with the monitor's and the process's
    /// pids once the process exists, then is closed.
    #[arg(long = "ready-fd")]
    pub ready_fd: Option<i32>,
}

#[derive(Args, Debug, Clone)]
pub struct ContainerArgs {
    #[command(flatten)]
    pub common: Common,
    /// The OCI bundle directory.
    #[arg(long, required = true)]
    pub bundle: Option<PathBuf>,
    /// The log file (json-file or local format).
    #[arg(long = "log-file")]
    pub log_file: Option<PathBuf>,
    /// The log format.
    #[arg(long = "log-driver", value_enum, default_value_t = LogDriver::JsonFile)]
    pub log_driver: LogDriver,
    /// Rotate the log file when it would grow past this many bytes (0: never).
    #[arg(long = "log-max-size", default_value_t = 0)]
    pub log_max_size: u64,
    /// Log files kept in all, the live one included (Docker's max-file).
    #[arg(long = "log-max-files", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub log_max_files: u32,
    /// The monitor's own pid, written once the container exists.
    #[arg(long = "monitor-pid-file")]
    pub monitor_pid_file: Option<PathBuf>,
    /// Run `RUNTIME create` only; the caller runs `RUNTIME start` after attaching.
    #[arg(long = "no-start")]
    pub no_start: bool,
}

#[derive(Args, Debug, Clone)]
pub struct ExecArgs {
    #[command(flatten)]
    pub common: Common,
    /// The process definition (an OCI `process` object in JSON) given to `RUNTIME exec`.
    #[arg(long, required = true)]
    pub process: PathBuf,
    /// Do not run `exec` until the first attach client has connected.
    #[arg(long = "attach-wait")]
    pub attach_wait: bool,
}

/// The validated settings of one run, whichever the mode.
#[derive(Debug, Clone)]
pub struct Settings {
    pub runtime: PathBuf,
    pub runtime_root: Option<PathBuf>,
    pub id: String,
    pub exit_file: PathBuf,
    pub attach_socket: Option<PathBuf>,
    pub ctl_socket: Option<PathBuf>,
    pub stdin: bool,
    pub stdin_once: bool,
    pub tty: bool,
    pub pid_file: Option<PathBuf>,
    pub ready_fd: Option<i32>,
    pub mode: Mode,
}

#[derive(Debug, Clone)]
pub enum Mode {
    Container {
        bundle: PathBuf,
        log: Option<LogSettings>,
        monitor_pid_file: Option<PathBuf>,
        no_start: bool,
    },
    Exec {
        process: PathBuf,
        attach_wait: bool,
    },
}

#[derive(Debug, Clone)]
pub struct LogSettings {
    pub path: PathBuf,
    pub driver: LogDriver,
    /// `None`: never rotate.
    pub max_size: Option<u64>,
    pub max_files: u32,
}

fn abs(p: PathBuf) -> Result<PathBuf> {
    Ok(if p.is_relative() {
        std::path::absolute(&p)?
    } else {
        p
    })
}

impl Cli {
    /// Checks the flags that clap cannot and makes every path absolute against the current
    /// directory. The runtime stays as given when it is a bare name, to be looked up in PATH.
    pub fn settings(self) -> Result<Settings> {
        let (common, mode) = match self.command {
            Some(Command::Exec(e)) => {
                if e.attach_wait && e.common.attach_socket.is_none() {
                    bail!("--attach-wait needs --attach-socket");
                }
                (
                    e.common,
                    Mode::Exec {
                        process: abs(e.process)?,
                        attach_wait: e.attach_wait,
                    },
                )
            }
            None => {
                let c = self.container;
                let log = match (c.log_driver, c.log_file) {
                    (LogDriver::None, _) => None,
                    (_, None) => bail!(
                        "--log-file is required with --log-driver {}",
                        if c.log_driver == LogDriver::Local {
                            "local"
                        } else {
                            "json-file"
                        }
                    ),
                    (driver, Some(path)) => Some(LogSettings {
                        path: abs(path)?,
                        driver,
                        max_size: (c.log_max_size > 0).then_some(c.log_max_size),
                        max_files: c.log_max_files,
                    }),
                };
                (
                    c.common,
                    Mode::Container {
                        bundle: abs(c.bundle.expect("clap requires --bundle"))?,
                        log,
                        monitor_pid_file: c.monitor_pid_file.map(abs).transpose()?,
                        no_start: c.no_start,
                    },
                )
            }
        };
        if common.stdin_once && !common.stdin {
            bail!("--stdin-once needs --stdin");
        }
        let runtime = common.runtime.expect("clap requires --runtime");
        let runtime = if runtime.components().count() > 1 {
            abs(runtime)?
        } else {
            runtime
        };
        let id = common.id.expect("clap requires --id");
        if id.is_empty() || id.contains('/') {
            bail!("--id {id:?} is not a valid container id");
        }
        Ok(Settings {
            runtime,
            runtime_root: common.runtime_root.map(abs).transpose()?,
            id,
            exit_file: abs(common.exit_file.expect("clap requires --exit-file"))?,
            attach_socket: common.attach_socket.map(abs).transpose()?,
            ctl_socket: common.ctl_socket.map(abs).transpose()?,
            stdin: common.stdin,
            stdin_once: common.stdin_once,
            tty: common.tty,
            pid_file: common.pid_file.map(abs).transpose()?,
            ready_fd: common.ready_fd,
            mode,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flags every container-mode invocation needs, then `extra`.
    fn container_cli(extra: &[&str]) -> Result<Cli, clap::Error> {
        let base = [
            "m",
            "--runtime",
            "runc",
            "--id",
            "a",
            "--bundle",
            "/b",
            "--exit-file",
            "/e",
        ];
        Cli::try_parse_from(base.iter().chain(extra))
    }

    #[test]
    fn container_mode_without_subcommand_and_exec_mode() {
        let c =
            container_cli(&["--log-driver", "none", "--no-start"]).expect("container flags parse");
        let s = c.settings().expect("valid");
        assert!(matches!(
            s.mode,
            Mode::Container {
                log: None,
                no_start: true,
                ..
            }
        ));
        let c = Cli::try_parse_from([
            "m",
            "exec",
            "--runtime",
            "runc",
            "--id",
            "a",
            "--process",
            "/p.json",
            "--exit-file",
            "/e",
            "--attach-socket",
            "/s",
            "--attach-wait",
            "--tty",
        ])
        .expect("exec flags parse");
        let s = c.settings().expect("valid");
        assert!(s.tty);
        assert!(matches!(
            s.mode,
            Mode::Exec {
                attach_wait: true,
                ..
            }
        ));
    }

    #[test]
    fn log_file_needed_unless_driver_none() {
        let c = container_cli(&[]).expect("parses");
        let e = c.settings().expect_err("no --log-file");
        assert!(e.to_string().contains("--log-file"), "{e}");
    }
}

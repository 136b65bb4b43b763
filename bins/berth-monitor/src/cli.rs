//! Command line. Paths are made absolute before the monitor leaves the caller's directory.

use clap::Parser;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "berth-monitor",
    version,
    about = "Runs one container through an OCI runtime and stays with it: logs its output, records its exit status"
)]
pub struct Cli {
    /// The OCI runtime binary (berth-runc, runc, crun).
    #[arg(long)]
    pub runtime: PathBuf,
    /// The runtime's state directory (`--root` of the runtime).
    #[arg(long = "runtime-root")]
    pub runtime_root: Option<PathBuf>,
    /// The OCI bundle directory.
    #[arg(long)]
    pub bundle: PathBuf,
    /// The container id.
    #[arg(long)]
    pub id: String,
    /// Where the container's exit status is written (JSON) when its init has exited.
    #[arg(long = "exit-file")]
    pub exit_file: PathBuf,
    /// The container's stdout and stderr, in Docker's json-file format.
    #[arg(long = "log-file")]
    pub log_file: PathBuf,
    /// Rotate the log file when it would grow past this many bytes (0: never).
    #[arg(long = "log-max-size", default_value_t = 0)]
    pub log_max_size: u64,
    /// Log files kept in all, the live one included (Docker's max-file).
    #[arg(long = "log-max-files", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub log_max_files: u32,
    /// The container init's pid file, written by the runtime.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// The monitor's own pid, written once the container has started.
    #[arg(long = "monitor-pid-file")]
    pub monitor_pid_file: Option<PathBuf>,
    /// An inherited descriptor that gets `{"monitor_pid":..,"container_pid":..}` once the
    /// container has started, then is closed (for callers that do not wait for the monitor).
    #[arg(long = "ready-fd")]
    pub ready_fd: Option<i32>,
}

impl Cli {
    /// Makes every path absolute against the current directory. The runtime stays as given when
    /// it is a bare name, to be looked up in PATH.
    pub fn absolutize(&mut self) -> anyhow::Result<()> {
        let abs = |p: &mut PathBuf| -> anyhow::Result<()> {
            if p.is_relative() {
                *p = std::path::absolute(&*p)?;
            }
            Ok(())
        };
        if self.runtime.components().count() > 1 {
            abs(&mut self.runtime)?;
        }
        abs(&mut self.bundle)?;
        abs(&mut self.exit_file)?;
        abs(&mut self.log_file)?;
        for p in [
            &mut self.runtime_root,
            &mut self.pid_file,
            &mut self.monitor_pid_file,
        ]
        .into_iter()
        .flatten()
        {
            abs(p)?;
        }
        Ok(())
    }
}

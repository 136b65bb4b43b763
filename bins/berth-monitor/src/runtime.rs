//! Driving the OCI runtime through its standard command line (`create`, `start`, `delete`), as
//! containerd's shim and conmon do, so any runc-compatible runtime works.
//!
//! The container's stdout and stderr are the stdio of `RUNTIME create` (the runtime hands them
//! to the container's init), so the runtime's own errors cannot be told apart on stderr. They are
//! read instead from its `--log` file in JSON, which is a memfd of the monitor named by its
//! `/proc/<pid>/fd/<n>` path: nothing to clean up, nothing inherited by the container.

use crate::cli::Cli;
use anyhow::{bail, Context, Result};
use rustix::fs::{memfd_create, MemfdFlags};
use rustix::pipe::{pipe_with, PipeFlags};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// A container that `create` and `start` have set running.
pub struct Started {
    /// The container's init, now our child (we are its subreaper).
    pub init: rustix::process::Pid,
    /// Read ends of the container's stdout and stderr.
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// The runtime command line with the global flags.
pub struct Runtime<'a> {
    cli: &'a Cli,
    log: File,
    log_path: String,
}

impl<'a> Runtime<'a> {
    pub fn new(cli: &'a Cli) -> Result<Runtime<'a>> {
        let fd = memfd_create("berth-monitor-runtime-log", MemfdFlags::CLOEXEC)
            .context("memfd for the runtime's log")?;
        let log_path = format!("/proc/{}/fd/{}", std::process::id(), fd.as_raw_fd());
        Ok(Runtime {
            cli,
            log: File::from(fd),
            log_path,
        })
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.cli.runtime);
        if let Some(root) = &self.cli.runtime_root {
            c.arg("--root").arg(root);
        }
        c.args(["--log", &self.log_path, "--log-format", "json"]);
        c.stdin(Stdio::null());
        c
    }

    /// `create` with the container's stdio on fresh pipes, then `start`. On any failure nothing
    /// is left: a created container is force-deleted.
    pub fn create_and_start(&mut self) -> Result<Started> {
        let cli = self.cli;
        let (out_r, out_w) = pipe_with(PipeFlags::CLOEXEC).context("pipe for stdout")?;
        let (err_r, err_w) = pipe_with(PipeFlags::CLOEXEC).context("pipe for stderr")?;
        let (pid_file, own_pid_file) = match &cli.pid_file {
            Some(p) => (p.clone(), false),
            None => {
                let mut p = cli.exit_file.clone().into_os_string();
                p.push(".init-pid");
                (PathBuf::from(p), true)
            }
        };
        let status = {
            // The write ends live in the Command and close when it is dropped, so that only the
            // container holds them afterwards and EOF means it (and its children) are done.
            let mut c = self.command();
            c.arg("create")
                .arg("--bundle")
                .arg(&cli.bundle)
                .arg("--pid-file")
                .arg(&pid_file)
                .arg(&cli.id)
                .stdout(Stdio::from(out_w))
                .stderr(Stdio::from(err_w));
            c.status()
                .with_context(|| format!("running {} create", cli.runtime.display()))?
        };
        if !status.success() {
            let msg = self.error_message(Some(&err_r));
            bail!("{} create failed ({status}): {msg}", cli.runtime.display());
        }
        let pid = std::fs::read_to_string(&pid_file)
            .with_context(|| format!("reading the pid file {}", pid_file.display()));
        if own_pid_file {
            let _ = std::fs::remove_file(&pid_file);
        }
        let init = pid.and_then(|s| {
            s.trim()
                .parse::<i32>()
                .ok()
                .and_then(rustix::process::Pid::from_raw)
                .with_context(|| format!("pid file {} holds no pid: {s:?}", pid_file.display()))
        });
        let init = match init {
            Ok(p) => p,
            Err(e) => {
                self.force_delete();
                return Err(e);
            }
        };
        self.clear_log();
        let status = self
            .command()
            .arg("start")
            .arg(&cli.id)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .with_context(|| format!("running {} start", cli.runtime.display()))?;
        if !status.success() {
            let msg = self.error_message(None);
            self.force_delete();
            bail!("{} start failed ({status}): {msg}", cli.runtime.display());
        }
        Ok(Started {
            init,
            stdout: out_r,
            stderr: err_r,
        })
    }

    fn force_delete(&self) {
        let _ = self
            .command()
            .args(["delete", "--force", &self.cli.id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    fn clear_log(&mut self) {
        let _ = self.log.set_len(0);
        let _ = self.log.seek(SeekFrom::Start(0));
    }

    /// The runtime's error: the `msg` of its JSON log's error lines, else whatever it wrote on
    /// stderr, else a note that it said nothing.
    fn error_message(&mut self, stderr: Option<&OwnedFd>) -> String {
        let mut text = String::new();
        let _ = self.log.seek(SeekFrom::Start(0));
        let _ = self.log.read_to_string(&mut text);
        let errors: Vec<String> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["level"] == "error" || v["level"] == "fatal")
            .filter_map(|v| v["msg"].as_str().map(str::to_string))
            .collect();
        if !errors.is_empty() {
            return errors.join("; ");
        }
        let said = stderr.map(read_available).unwrap_or_default();
        let said = String::from_utf8_lossy(&said).trim().to_string();
        if said.is_empty() {
            "the runtime gave no error message".to_string()
        } else {
            said
        }
    }
}

/// Reads what a pipe holds now, without waiting for writers that may still hold it.
fn read_available(fd: &OwnedFd) -> Vec<u8> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let zero = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    while out.len() < 64 * 1024 {
        let mut fds = [PollFd::new(fd, PollFlags::IN)];
        if !matches!(poll(&mut fds, Some(&zero)), Ok(n) if n > 0) {
            break;
        }
        match rustix::io::read(fd, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    out
}

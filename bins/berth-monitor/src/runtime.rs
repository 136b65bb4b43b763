//! Driving the OCI runtime through its standard command line (`create`, `start`, `exec`,
//! `delete`), as containerd's shim and conmon do, so any runc-compatible runtime works.
//!
//! Without a terminal, the process's stdio are the stdio of `RUNTIME create`/`exec` (the
//! runtime hands them over); with one, the runtime sends the pty master to a console socket of
//! the monitor. In the first case the runtime's own errors cannot be told apart on stderr. They are
//! read instead from its `--log` file in JSON, which is a memfd of the monitor named by its
//! `/proc/<pid>/fd/<n>` path: nothing to clean up, nothing inherited by the container.

use crate::cli::Settings;
use crate::sockets;
use anyhow::{bail, Context, Result};
use rustix::fs::{memfd_create, MemfdFlags};
use rustix::pipe::{pipe_with, PipeFlags};
use rustix::process::Pid;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The monitor's ends of the process's stdio, all nonblocking and close-on-exec.
pub struct Ends {
    /// Read ends of stdout and stderr; with a terminal, `stdout` is the master and there is no
    /// `stderr`.
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    /// Write end of stdin (with a terminal: the master again), if the process has a stdin.
    pub stdin: Option<OwnedFd>,
    /// The terminal's master, for resizing.
    pub master: Option<OwnedFd>,
}

/// What one `create` or `exec` gives the runtime as stdio, and what the monitor keeps.
struct Wiring {
    stdin: Stdio,
    stdout: Stdio,
    stderr: Stdio,
    /// The read end of the runtime's stderr: its error message when it fails. Without a
    /// terminal this is also the container's stderr.
    err_r: OwnedFd,
    ends: Ends,
    console: Option<(UnixListener, PathBuf)>,
}

fn nonblocking(fd: &OwnedFd) -> Result<()> {
    let fl = rustix::fs::fcntl_getfl(fd).context("F_GETFL")?;
    rustix::fs::fcntl_setfl(fd, fl | rustix::fs::OFlags::NONBLOCK).context("F_SETFL O_NONBLOCK")
}

/// The runtime command line with the global flags.
pub struct Runtime<'a> {
    s: &'a Settings,
    log: File,
    log_path: String,
    /// `create` succeeded: on a later failure the container is force-deleted.
    created: bool,
}

impl<'a> Runtime<'a> {
    pub fn new(s: &'a Settings) -> Result<Runtime<'a>> {
        let fd = memfd_create("berth-monitor-runtime-log", MemfdFlags::CLOEXEC)
            .context("memfd for the runtime's log")?;
        let log_path = format!("/proc/{}/fd/{}", std::process::id(), fd.as_raw_fd());
        Ok(Runtime {
            s,
            log: File::from(fd),
            log_path,
            created: false,
        })
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.s.runtime);
        if let Some(root) = &self.s.runtime_root {
            c.arg("--root").arg(root);
        }
        c.args(["--log", &self.log_path, "--log-format", "json"]);
        c.stdin(Stdio::null());
        c
    }

    /// Pipes (or a console socket) for one `create`/`exec`.
    fn wire(&self) -> Result<Wiring> {
        let s = self.s;
        let (err_r, err_w) = pipe_with(PipeFlags::CLOEXEC).context("pipe for stderr")?;
        if s.tty {
            let dir = s.exit_file.parent().unwrap_or(Path::new("/"));
            let path = dir.join(format!(".console-{}.sock", std::process::id()));
            let l = sockets::listen(&path, "console socket")?;
            return Ok(Wiring {
                stdin: Stdio::null(),
                stdout: Stdio::null(),
                stderr: Stdio::from(err_w),
                err_r,
                ends: Ends {
                    stdout: None,
                    stderr: None,
                    stdin: None,
                    master: None,
                },
                console: Some((l, path)),
            });
        }
        let (out_r, out_w) = pipe_with(PipeFlags::CLOEXEC).context("pipe for stdout")?;
        let (stdin, stdin_w) = if s.stdin {
            let (r, w) = pipe_with(PipeFlags::CLOEXEC).context("pipe for stdin")?;
            nonblocking(&w)?;
            (Stdio::from(r), Some(w))
        } else {
            (Stdio::null(), None)
        };
        nonblocking(&out_r)?;
        Ok(Wiring {
            stdin,
            stdout: Stdio::from(out_w),
            stderr: Stdio::from(err_w),
            err_r,
            ends: Ends {
                stdout: Some(out_r),
                stderr: None,
                stdin: stdin_w,
                master: None,
            },
            console: None,
        })
    }

    fn pid_file(&self, suffix: &str) -> (PathBuf, bool) {
        match &self.s.pid_file {
            Some(p) => (p.clone(), false),
            None => {
                let mut p = self.s.exit_file.clone().into_os_string();
                p.push(suffix);
                (PathBuf::from(p), true)
            }
        }
    }

    /// Runs `verb` (create or exec) with the process's stdio, then reads the pid file and, with
    /// a terminal, takes the master from the console socket.
    fn run_with_stdio(&mut self, verb: &str, args: &[&std::ffi::OsStr]) -> Result<(Pid, Ends)> {
        let s = self.s;
        let suffix = if verb == "create" {
            ".init-pid"
        } else {
            ".exec-pid"
        };
        let (pid_file, own_pid_file) = self.pid_file(suffix);
        let Wiring {
            stdin,
            stdout,
            stderr,
            err_r,
            mut ends,
            console,
        } = self.wire()?;
        // Removed however this ends; the runtime is done with it when it returns.
        let _console_guard = console.as_ref().map(|(_, p)| RemoveOnDrop(p.clone()));
        let status = {
            // The write ends live in the Command and close when it is dropped, so that only the
            // process holds them afterwards and EOF means it (and its children) are done.
            let mut c = self.command();
            c.arg(verb).args(args).arg("--pid-file").arg(&pid_file);
            if let Some((_, p)) = &console {
                c.arg("--console-socket").arg(p);
            }
            c.arg(&s.id).stdin(stdin).stdout(stdout).stderr(stderr);
            c.status()
                .with_context(|| format!("running {} {verb}", s.runtime.display()))?
        };
        if !status.success() {
            let msg = self.error_message(Some(&err_r));
            bail!("{} {verb} failed ({status}): {msg}", s.runtime.display());
        }
        if verb == "create" {
            self.created = true;
        }
        let pid = std::fs::read_to_string(&pid_file)
            .with_context(|| format!("reading the pid file {}", pid_file.display()));
        if own_pid_file {
            let _ = std::fs::remove_file(&pid_file);
        }
        let pid = pid.and_then(|text| {
            text.trim()
                .parse::<i32>()
                .ok()
                .and_then(Pid::from_raw)
                .with_context(|| format!("pid file {} holds no pid: {text:?}", pid_file.display()))
        })?;
        match &console {
            Some((l, _)) => {
                let master = sockets::receive_master(l)?;
                nonblocking(&master)?;
                let dup = |what| master.try_clone().context(what);
                ends.stdout = Some(dup("dup of the terminal master")?);
                if s.stdin {
                    ends.stdin = Some(dup("dup of the terminal master")?);
                }
                ends.master = Some(master);
            }
            None => {
                nonblocking(&err_r)?;
                ends.stderr = Some(err_r);
            }
        }
        self.clear_log();
        Ok((pid, ends))
    }

    /// `create` with the container's stdio. On failure nothing is left: a created container is
    /// force-deleted by [`Runtime::undo`].
    pub fn create(&mut self, bundle: &Path) -> Result<(Pid, Ends)> {
        self.run_with_stdio("create", &["--bundle".as_ref(), bundle.as_os_str()])
    }

    /// `exec --detach` of the process in `process` (a JSON file).
    pub fn exec(&mut self, process: &Path) -> Result<(Pid, Ends)> {
        self.run_with_stdio(
            "exec",
            &[
                "--detach".as_ref(),
                "--process".as_ref(),
                process.as_os_str(),
            ],
        )
    }

    /// `start` of the created container.
    pub fn start(&mut self) -> Result<()> {
        let s = self.s;
        let status = self
            .command()
            .arg("start")
            .arg(&s.id)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .with_context(|| format!("running {} start", s.runtime.display()))?;
        if !status.success() {
            let msg = self.error_message(None);
            bail!("{} start failed ({status}): {msg}", s.runtime.display());
        }
        Ok(())
    }

    /// After a failure: force-deletes the container if this run created it.
    pub fn undo(&mut self) {
        if self.created {
            self.force_delete();
            self.created = false;
        }
    }

    fn force_delete(&self) {
        let _ = self
            .command()
            .args(["delete", "--force", &self.s.id])
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

/// Removes a path when dropped.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
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

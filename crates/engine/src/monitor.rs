//! The daemon's side of the berth-monitor protocol (the contract is in berth-monitor's crate
//! doc): spawning a monitor for a container start or an exec, and learning when it ends.
//!
//! A monitor is watched through a pidfd: readable once the process has exited, with no race
//! against pid reuse. After a daemon restart the pid comes from the monitor's pid file and is
//! only trusted if /proc/PID/cmdline still names this container.

use crate::containers::logs::LogOptions;
use crate::error::{Error, Result};
use crate::Engine;
use std::path::{Path, PathBuf};

/// The files of one monitor in its run directory.
#[derive(Debug, Clone)]
pub struct MonitorFiles {
    pub dir: PathBuf,
}

impl MonitorFiles {
    pub fn new(dir: PathBuf) -> MonitorFiles {
        MonitorFiles { dir }
    }
    pub fn attach_socket(&self) -> PathBuf {
        self.dir.join("attach.sock")
    }
    pub fn ctl_socket(&self) -> PathBuf {
        self.dir.join("ctl.sock")
    }
    pub fn exit_file(&self) -> PathBuf {
        self.dir.join("exit.json")
    }
    pub fn pid_file(&self) -> PathBuf {
        self.dir.join("pid")
    }
    pub fn monitor_pid_file(&self) -> PathBuf {
        self.dir.join("monitor.pid")
    }
}

/// How a monitor should run a container or an exec.
#[derive(Debug)]
pub struct MonitorSpec<'a> {
    pub container_id: &'a str,
    pub runtime: &'a str,
    pub files: &'a MonitorFiles,
    /// Container mode: the bundle. Exec mode: None.
    pub bundle: Option<&'a Path>,
    /// Exec mode: the process.json.
    pub exec_process: Option<&'a Path>,
    pub log: Option<(&'a Path, &'a LogOptions)>,
    pub tty: bool,
    pub stdin: bool,
    pub stdin_once: bool,
    /// Exec mode: wait for the first attach client before running the process.
    pub attach_wait: bool,
}

/// What a successful spawn reports.
#[derive(Debug, Clone, Copy)]
pub struct Spawned {
    pub monitor_pid: i32,
    /// The container's init (container mode) or the exec'd process (exec mode).
    pub pid: i32,
}

/// How a monitored process ended (the monitor's exit file).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ExitStatus {
    pub exit_code: i64,
    #[serde(default)]
    pub signal: Option<i64>,
    #[serde(default)]
    pub finished_at: String,
}

impl Engine {
    fn monitor_binary(&self) -> PathBuf {
        self.config
            .monitor_path
            .clone()
            .unwrap_or_else(|| crate::util::sibling_or_path("berth-monitor"))
    }

    /// Starts a monitor. [`MonitorChild::finish`] then waits until it has created the container
    /// (container mode; the caller then runs `RUNTIME start`) or started the exec'd process
    /// (with `attach_wait`, only once a client has connected to the attach socket).
    pub(crate) async fn spawn_monitor(&self, m: &MonitorSpec<'_>) -> Result<MonitorChild> {
        std::fs::create_dir_all(&m.files.dir)
            .map_err(|e| Error::internal(format!("creating {}", m.files.dir.display()), e))?;
        for f in [
            m.files.exit_file(),
            m.files.pid_file(),
            m.files.monitor_pid_file(),
        ] {
            let _ = std::fs::remove_file(f);
        }
        let (bin, root) = self.runtime_paths(m.runtime)?;
        std::fs::create_dir_all(&root)
            .map_err(|e| Error::internal(format!("creating {}", root.display()), e))?;
        let mut cmd = tokio::process::Command::new(self.monitor_binary());
        if m.exec_process.is_some() {
            cmd.arg("exec");
        }
        cmd.arg("--runtime")
            .arg(&bin)
            .arg("--runtime-root")
            .arg(&root)
            .arg("--id")
            .arg(m.container_id)
            .arg("--exit-file")
            .arg(m.files.exit_file())
            .arg("--pid-file")
            .arg(m.files.pid_file())
            .arg("--attach-socket")
            .arg(m.files.attach_socket())
            .arg("--ctl-socket")
            .arg(m.files.ctl_socket());
        if let Some(b) = m.bundle {
            cmd.arg("--bundle")
                .arg(b)
                .arg("--no-start")
                .arg("--monitor-pid-file")
                .arg(m.files.monitor_pid_file());
            match m.log {
                Some((path, opts)) => {
                    cmd.arg("--log-file")
                        .arg(path)
                        .arg("--log-driver")
                        .arg(&opts.driver)
                        .arg("--log-max-size")
                        .arg(opts.max_size.to_string())
                        .arg("--log-max-files")
                        .arg(opts.max_files.to_string());
                }
                None => {
                    cmd.arg("--log-file")
                        .arg(m.files.dir.join("unused.log"))
                        .arg("--log-driver")
                        .arg("none");
                }
            }
        }
        if let Some(p) = m.exec_process {
            cmd.arg("--process").arg(p);
            if m.attach_wait {
                cmd.arg("--attach-wait");
            }
        }
        if m.tty {
            cmd.arg("--tty");
        }
        if m.stdin {
            cmd.arg("--stdin");
        }
        if m.stdin_once {
            cmd.arg("--stdin-once");
        }
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(false);
        tracing::debug!(?cmd, "spawning monitor");
        let child = cmd
            .spawn()
            .map_err(|e| Error::internal("starting berth-monitor", e))?;
        Ok(MonitorChild {
            child,
            files: m.files.clone(),
        })
    }
}

/// A monitor that has been started and has not reported yet.
#[derive(Debug)]
pub struct MonitorChild {
    child: tokio::process::Child,
    files: MonitorFiles,
}

impl MonitorChild {
    /// Waits for the monitor's report. Errors carry the monitor's message, which carries the
    /// runtime's.
    pub async fn finish(self) -> Result<Spawned> {
        let out = self
            .child
            .wait_with_output()
            .await
            .map_err(|e| Error::internal("waiting for berth-monitor", e))?;
        if !out.status.success() {
            let msg = String::from_utf8_lossy(&out.stderr);
            let msg = msg.trim().trim_start_matches("berth-monitor: ").to_string();
            return Err(Error::Internal(if msg.is_empty() {
                format!("berth-monitor exited with {}", out.status)
            } else {
                msg
            }));
        }
        let pid = read_pid(&self.files.pid_file())?;
        let monitor_pid = read_pid(&self.files.monitor_pid_file()).unwrap_or(0);
        Ok(Spawned { monitor_pid, pid })
    }
}

/// Reads a pid file.
pub fn read_pid(p: &Path) -> Result<i32> {
    let s = std::fs::read_to_string(p)
        .map_err(|e| Error::internal(format!("reading {}", p.display()), e))?;
    s.trim()
        .parse()
        .map_err(|e| Error::internal(format!("pid file {}", p.display()), e))
}

/// Reads a monitor's exit file, if it has been written.
pub fn read_exit(files: &MonitorFiles) -> Option<ExitStatus> {
    let bytes = std::fs::read(files.exit_file()).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Whether `pid` is a live berth-monitor for `id` (guards against pid reuse after a restart).
pub fn is_monitor_of(pid: i32, id: &str) -> bool {
    if pid <= 0 {
        return false;
    }
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(c) => {
            let args: Vec<&[u8]> = c.split(|b| *b == 0).collect();
            args.first()
                .map(|a| a.ends_with(b"berth-monitor"))
                .unwrap_or(false)
                && args.contains(&id.as_bytes())
        }
        Err(_) => false,
    }
}

/// Resolves when process `pid` has exited. Uses a pidfd; if the process is already gone,
/// resolves at once.
pub async fn wait_for_exit(pid: i32) {
    let Some(p) = rustix::process::Pid::from_raw(pid) else {
        return;
    };
    let fd = match rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()) {
        Ok(fd) => fd,
        Err(_) => return,
    };
    // Deprecated because a borrowed fd could be closed while registered; here the AsyncFd owns
    // the pidfd (moved in), so it stays open exactly as long as it is registered.
    #[allow(deprecated)]
    let afd = tokio::io::unix::AsyncFd::with_interest(fd, tokio::io::Interest::READABLE);
    match afd {
        Ok(afd) => {
            let _ = afd.readable().await;
        }
        Err(_) => {
            // Not pollable (very old kernel): poll the pid.
            while rustix::process::test_kill_process(p).is_ok() {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

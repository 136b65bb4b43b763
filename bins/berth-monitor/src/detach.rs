//! Leaving the caller: fork, let the parent wait for one status message on a pipe and exit with
//! it, while the child starts a new session and becomes a child subreaper so the container's
//! init (orphaned when `RUNTIME create` exits) is reparented to it.

use anyhow::{Context, Result};
use berth_sys::process::{clone3, exit_immediately, Forked};
use rustix::pipe::{pipe_with, PipeFlags};
use std::fs::File;
use std::io::{Read, Write};

/// The child's end: report the outcome to the waiting caller once.
pub struct Reporter(Option<File>);

impl Reporter {
    /// The container runs.
    pub fn ok(&mut self) {
        self.send(b"ok\n");
    }

    /// Setting up failed; the caller prints `msg` and exits 1.
    pub fn fail(&mut self, msg: &str) {
        self.send(format!("error: {msg}\n").as_bytes());
    }

    fn send(&mut self, msg: &[u8]) {
        if let Some(mut f) = self.0.take() {
            // The caller may be gone (killed): nobody is left to tell, so a write error is moot.
            let _ = f.write_all(msg);
        }
    }
}

/// Forks. In the caller this never returns: it exits 0 once the child reports success, or
/// prints the child's error and exits 1. In the child it returns the [`Reporter`]; the child
/// then calls [`become_daemon`].
pub fn detach() -> Result<Reporter> {
    let (rd, wr) = pipe_with(PipeFlags::CLOEXEC).context("pipe for the monitor's status")?;
    match clone3(0, None).context("forking the monitor")? {
        Forked::Parent(_) => {
            drop(wr);
            let mut msg = String::new();
            let read = File::from(rd).read_to_string(&mut msg);
            match (read, msg.strip_prefix("error: ")) {
                (Ok(_), None) if msg == "ok\n" => exit_immediately(0),
                (Ok(_), Some(err)) => eprintln!("berth-monitor: {}", err.trim_end()),
                (Ok(_), None) => {
                    eprintln!("berth-monitor: the monitor died before the container started")
                }
                (Err(e), _) => eprintln!("berth-monitor: reading the monitor's status: {e}"),
            }
            exit_immediately(1)
        }
        Forked::Child => {
            drop(rd);
            Ok(Reporter(Some(File::from(wr))))
        }
    }
}

/// New session, child subreaper, stdio on /dev/null, cwd `/`.
pub fn become_daemon() -> Result<()> {
    rustix::process::setsid().context("setsid")?;
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
        .context("becoming a child subreaper")?;
    // The caller's stdio may be pipes it reads to EOF: holding them would make it wait for the
    // container's whole life.
    let null = File::options()
        .read(true)
        .write(true)
        .open("/dev/null")
        .context("opening /dev/null")?;
    rustix::stdio::dup2_stdin(&null).context("stdin to /dev/null")?;
    rustix::stdio::dup2_stdout(&null).context("stdout to /dev/null")?;
    rustix::stdio::dup2_stderr(&null).context("stderr to /dev/null")?;
    std::env::set_current_dir("/").context("chdir /")?;
    Ok(())
}

//! The monitor's one loop: poll the container's stdout, stderr and a signalfd for SIGCHLD; copy
//! output into the json-file log; reap every child (we are a subreaper, so orphans land here)
//! and remember how the container's init ended.

use crate::json_log::{JsonLog, LineSplitter};
use crate::runtime::Started;
use anyhow::{Context, Result};
use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use rustix::process::{waitpid, WaitOptions};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

/// After init has exited, how long to wait for the pipes to reach EOF: a process that escaped
/// the container (host pid namespace) may hold them forever.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);

/// How the container's init ended: (exit code if it exited, signal if it was killed).
pub type Ended = (Option<i32>, Option<i32>);

struct Stream {
    fd: Option<OwnedFd>,
    lines: LineSplitter,
}

impl Stream {
    /// Reads once; on EOF flushes the partial line and closes the pipe.
    fn pump(&mut self, log: &mut JsonLog) {
        let Some(fd) = &self.fd else { return };
        let mut buf = [0u8; 64 * 1024];
        match rustix::io::read(fd, &mut buf) {
            Ok(0) => {
                let _ = self.lines.finish(log);
                self.fd = None;
            }
            // Logging is best effort: a full disk must not stop the monitor from draining the
            // pipe (the container would block on write) or from recording the exit status.
            Ok(n) => {
                let _ = self.lines.feed(&buf[..n], log);
            }
            Err(Errno::INTR) | Err(Errno::AGAIN) => {}
            Err(_) => {
                let _ = self.lines.finish(log);
                self.fd = None;
            }
        }
    }
}

/// Runs until init has exited and its output is drained; returns how init ended.
pub fn supervise(started: Started, sigchld: &OwnedFd, log: &mut JsonLog) -> Result<Ended> {
    let init = started.init;
    let mut streams = [
        Stream {
            fd: Some(started.stdout),
            lines: LineSplitter::new("stdout"),
        },
        Stream {
            fd: Some(started.stderr),
            lines: LineSplitter::new("stderr"),
        },
    ];
    let mut ended: Option<Ended> = None;
    let mut deadline: Option<Instant> = None;
    loop {
        // Init may have ended before the loop began: its SIGCHLD is pending on the signalfd,
        // but reaping first costs one syscall and covers every order of events.
        if ended.is_none() {
            ended = reap_all(init);
            if ended.is_some() {
                deadline = Some(Instant::now() + DRAIN_AFTER_EXIT);
            }
        }
        let open = streams.iter().any(|s| s.fd.is_some());
        if ended.is_some() && !open {
            break;
        }
        let timeout = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                Some(Timespec {
                    tv_sec: left.as_secs() as i64,
                    tv_nsec: i64::from(left.subsec_nanos()),
                })
            }
            None => None,
        };
        let ready = {
            let mut fds: Vec<PollFd<'_>> = vec![PollFd::new(sigchld, PollFlags::IN)];
            for s in &streams {
                if let Some(fd) = &s.fd {
                    fds.push(PollFd::new(fd, PollFlags::IN));
                }
            }
            match poll(&mut fds, timeout.as_ref()) {
                Ok(_) => fds.iter().map(|f| !f.revents().is_empty()).collect(),
                Err(Errno::INTR) => continue,
                Err(e) => return Err(e).context("poll"),
            }
        };
        let ready: Vec<bool> = ready;
        if ready[0] {
            drain_signalfd(sigchld);
            if ended.is_none() {
                ended = reap_all(init);
                if ended.is_some() {
                    deadline = Some(Instant::now() + DRAIN_AFTER_EXIT);
                }
            } else {
                let _ = reap_all(init);
            }
        }
        let mut i = 1;
        for s in &mut streams {
            if s.fd.is_some() {
                if ready[i] {
                    s.pump(log);
                }
                i += 1;
            }
        }
    }
    for s in &mut streams {
        let _ = s.lines.finish(log);
    }
    let _ = reap_all(init);
    ended.context("the container's init vanished without an exit status")
}

fn drain_signalfd(fd: &OwnedFd) {
    let mut buf = [0u8; 128];
    while matches!(rustix::io::read(fd, &mut buf), Ok(n) if n > 0) {}
}

/// Reaps every child that has ended; returns init's end if it was among them.
fn reap_all(init: rustix::process::Pid) -> Option<Ended> {
    let mut found = None;
    loop {
        match waitpid(None, WaitOptions::NOHANG) {
            Ok(Some((pid, status))) => {
                if pid == init {
                    found = Some((status.exit_status(), status.terminating_signal()));
                }
            }
            Err(Errno::INTR) => {}
            // No child has ended (Ok(None)) or we have no children at all (ECHILD).
            _ => return found,
        }
    }
}

//! Waiting for a foreground container process (`run`, `exec` without --detach): forward every
//! signal we get to it, proxy a terminal if it has one, and return its exit code (128+N when
//! killed by signal N, as shells report it).

use crate::error::{IoContext, Result};
use berth_sys::signal::{self, SigSet};
use rustix::event::{poll, PollFd, PollFlags};
use rustix::process::{Pid, WaitOptions, WaitStatus};
use std::os::fd::{AsFd, OwnedFd};

/// Signals `run`/`exec` block before they clone, so none is lost before the wait loop.
pub(crate) fn forwarded_signals() -> SigSet {
    let mut s = SigSet::all();
    // Never block the synchronous fault signals: a fault while they are blocked kills us.
    for sig in [
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGILL,
        libc::SIGFPE,
        libc::SIGTRAP,
    ] {
        s.remove(sig);
    }
    s
}

fn code(status: WaitStatus) -> Option<i32> {
    if let Some(c) = status.exit_status() {
        return Some(c);
    }
    status.terminating_signal().map(|s| 128 + s)
}

/// Reaps `pid` without blocking; `Some(code)` once it is gone.
fn try_reap(pid: Pid) -> Option<i32> {
    loop {
        match rustix::process::waitpid(Some(pid), WaitOptions::NOHANG) {
            Ok(Some((_, st))) => {
                if let Some(c) = code(st) {
                    return Some(c);
                }
            }
            Ok(None) => return None,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return Some(255),
        }
    }
}

/// Restores the terminal mode of our stdin when dropped.
struct RawMode {
    saved: Option<rustix::termios::Termios>,
}

impl RawMode {
    fn enable() -> RawMode {
        let stdin = rustix::stdio::stdin();
        let saved = rustix::termios::tcgetattr(stdin).ok();
        if let Some(t) = &saved {
            let mut raw = t.clone();
            raw.make_raw();
            let _ = rustix::termios::tcsetattr(stdin, rustix::termios::OptionalActions::Now, &raw);
        }
        RawMode { saved }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = rustix::termios::tcsetattr(
                rustix::stdio::stdin(),
                rustix::termios::OptionalActions::Now,
                t,
            );
        }
    }
}

fn copy_winsize(master: &OwnedFd) {
    if let Ok(ws) = rustix::termios::tcgetwinsize(rustix::stdio::stdin()) {
        let _ = rustix::termios::tcsetwinsize(master, ws);
    }
}

/// Runs the wait loop for our child `pid` (signals must already be blocked).
pub(crate) fn wait(pid_raw: i32, master: Option<OwnedFd>) -> Result<i32> {
    let pid =
        Pid::from_raw(pid_raw).ok_or_else(|| crate::Error::Usage(format!("bad pid {pid_raw}")))?;
    let sfd = signal::signalfd(&forwarded_signals()).ctx(|| "creating signalfd".into())?;
    let _raw = master.as_ref().map(|m| {
        copy_winsize(m);
        RawMode::enable()
    });
    let mut stdin_open = master.is_some();
    let mut master_open = master.is_some();
    loop {
        if let Some(c) = try_reap(pid) {
            if let Some(m) = &master {
                drain(m);
            }
            return Ok(c);
        }
        let stdin = rustix::stdio::stdin();
        let mut fds = vec![PollFd::new(&sfd, PollFlags::IN)];
        if let (Some(m), true) = (&master, master_open) {
            fds.push(PollFd::new(m, PollFlags::IN));
        }
        if stdin_open {
            fds.push(PollFd::from_borrowed_fd(stdin, PollFlags::IN));
        }
        match poll(&mut fds, None) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e).ctx(|| "poll".into()),
        }
        let ready: Vec<PollFlags> = fds.iter().map(|f| f.revents()).collect();
        drop(fds);
        if !ready[0].is_empty() {
            let mut buf = [0u8; 128];
            while let Ok(128) = rustix::io::read(&sfd, &mut buf) {
                let r = signal::decode_signalfd(&buf);
                match r.signo {
                    libc::SIGCHLD => {}
                    libc::SIGWINCH => {
                        if let Some(m) = &master {
                            copy_winsize(m);
                        }
                    }
                    s => {
                        let _ = berth_sys::signal::kill(pid.as_raw_nonzero().get(), s);
                    }
                }
            }
        }
        let mut idx = 1;
        if let (Some(m), true) = (&master, master_open) {
            if !ready[idx].is_empty() && !pump(m.as_fd(), rustix::stdio::stdout()) {
                master_open = false;
            }
            idx += 1;
        }
        if stdin_open
            && !ready
                .get(idx)
                .copied()
                .unwrap_or(PollFlags::empty())
                .is_empty()
        {
            if let Some(m) = &master {
                if !pump(stdin, m.as_fd()) {
                    stdin_open = false;
                }
            }
        }
    }
}

/// Copies one chunk; false on EOF or error.
fn pump(from: std::os::fd::BorrowedFd<'_>, to: std::os::fd::BorrowedFd<'_>) -> bool {
    let mut buf = [0u8; 16384];
    match rustix::io::read(from, &mut buf) {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            let mut off = 0;
            while off < n {
                match rustix::io::write(to, &buf[off..n]) {
                    Ok(w) => off += w,
                    Err(rustix::io::Errno::INTR) => {}
                    Err(_) => return false,
                }
            }
            true
        }
    }
}

fn drain(master: &OwnedFd) {
    let _ = rustix::fs::fcntl_setfl(master, rustix::fs::OFlags::NONBLOCK);
    while pump(master.as_fd(), rustix::stdio::stdout()) {}
}

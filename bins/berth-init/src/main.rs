//! berth-init: the init Berth bind-mounts at /sbin/docker-init for `docker run --init` (tini's
//! role). As pid 1 of a container it runs its arguments (after an optional `--`) as its only
//! child, forwards every signal it can catch to that child, reaps every zombie re-parented to
//! it, and exits with the child's exit code, or 128 + the signal that killed it.
//!
//! It is bind-mounted into images that may have no libc at all (busybox), so it is built as a
//! static-pie: `cargo rustc -p berth-init --bin berth-init -- -C target-feature=+crt-static`
//! (scripts/install.sh and scripts/test.sh do it). Single-threaded: signals are blocked before
//! anything else and read from a signalfd, so none is lost; the child is berth-init itself
//! re-executed, which restores the default signal state and execs the program.
#![forbid(unsafe_code)]

use berth_sys::signal::{self, SigSet};
use std::os::fd::AsFd;
use std::process::{Command, ExitCode};

/// Signals the kernel raises synchronously for a fault of this process: left unblocked so a
/// bug here crashes instead of spinning.
const SYNCHRONOUS: &[i32] = &[
    libc::SIGFPE,
    libc::SIGILL,
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGABRT,
    libc::SIGTRAP,
    libc::SIGSYS,
];

fn main() -> ExitCode {
    match run() {
        Ok(code) => ExitCode::from(code),
        Err(msg) => {
            eprintln!("berth-init: {msg}");
            ExitCode::from(1)
        }
    }
}

/// The first argument of berth-init re-executed as the child (see [`exec_child`]).
const EXEC_CHILD: &str = "--berth-init-exec-child";

fn run() -> Result<u8, String> {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if args.first().is_some_and(|a| a == EXEC_CHILD) {
        exec_child(&args[1..]);
    }
    if args.first().is_some_and(|a| a == "--") {
        args.remove(0);
    }
    if args.is_empty() {
        return Err("usage: berth-init [--] PROGRAM [ARGS...]".into());
    }

    let mut set = SigSet::all();
    for s in SYNCHRONOUS {
        set.remove(*s);
    }
    signal::block(&set).map_err(|e| format!("blocking signals: {e}"))?;
    let sfd = signal::signalfd(&set).map_err(|e| format!("signalfd: {e}"))?;

    // Outside a new pid namespace (e.g. --pid=host) orphans would go to the host's init:
    // become their reaper, as tini does.
    if rustix::process::getpid().as_raw_nonzero().get() != 1 {
        let _ = rustix::process::set_child_subreaper(Some(rustix::process::getpid()));
    }

    // The child must start with no signal blocked, but std's spawn passes on this process's
    // mask, and unblocking around the spawn would let a signal meet the default disposition.
    // So the child is this binary again, which unblocks and execs the program: a signal sent
    // before that waits, pending, and then reaches it.
    let me = std::env::current_exe().map_err(|e| format!("finding /proc/self/exe: {e}"))?;
    let child_pid = Command::new(me)
        .arg(EXEC_CHILD)
        .args(&args)
        .spawn()
        .map_err(|e| format!("re-executing berth-init: {e}"))?
        .id() as i32;

    loop {
        let mut fds = [rustix::event::PollFd::new(
            &sfd,
            rustix::event::PollFlags::IN,
        )];
        match rustix::event::poll(&mut fds, None) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(format!("poll: {e}")),
        }
        loop {
            let mut buf = [0u8; 128];
            match rustix::io::read(sfd.as_fd(), &mut buf) {
                Ok(128) => {}
                Ok(_) | Err(rustix::io::Errno::AGAIN) => break,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(format!("reading signals: {e}")),
            }
            let sig = signal::decode_signalfd(&buf).signo;
            if sig == libc::SIGCHLD {
                if let Some(code) = reap(child_pid)? {
                    return Ok(code);
                }
            } else {
                // The child may be gone already; its exit is handled with its SIGCHLD.
                let _ = signal::kill(child_pid, sig);
            }
        }
    }
}

/// The child side: default signal state, then exec the program (with PATH lookup). Never
/// returns; a failure exits with the shell's codes, 127 not found, 126 not executable.
fn exec_child(args: &[std::ffi::OsString]) -> ! {
    use std::os::unix::process::CommandExt;
    let _ = signal::reset_default(libc::SIGPIPE);
    let _ = signal::set_mask(&SigSet::empty());
    let e = Command::new(&args[0]).args(&args[1..]).exec();
    let what = args[0].to_string_lossy();
    let code = if e.kind() == std::io::ErrorKind::NotFound {
        eprintln!("berth-init: exec {what}: not found");
        127
    } else {
        eprintln!("berth-init: exec {what}: {e}");
        126
    };
    std::process::exit(code)
}

/// Reaps every exited process; the child's exit code once it has exited. Zombies left after
/// it are reaped too, so none outlives the container's init.
fn reap(child_pid: i32) -> Result<Option<u8>, String> {
    use rustix::process::{waitpid, WaitOptions};
    let mut result = None;
    loop {
        match waitpid(None, WaitOptions::NOHANG) {
            Ok(Some((pid, status))) => {
                if pid.as_raw_nonzero().get() == child_pid {
                    let code = match (status.exit_status(), status.terminating_signal()) {
                        (Some(c), _) => c,
                        (None, Some(s)) => 128 + s,
                        (None, None) => 1,
                    };
                    result = Some((code & 0xff) as u8);
                }
            }
            Ok(None) | Err(rustix::io::Errno::CHILD) => return Ok(result),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(format!("waitpid: {e}")),
        }
    }
}

//! `berth-monitor`: the process that stays beside one container for its whole life, in the role
//! of podman's conmon and containerd's shim.
//!
//! Why it exists: the daemon must be able to restart, upgrade or crash without taking its
//! containers down or losing what they print and how they end. So the daemon never is the
//! parent of a container. It starts one monitor per container; the monitor detaches (fork, new
//! session, child subreaper), runs `RUNTIME create` with pipes as the container's stdout and
//! stderr, then `RUNTIME start`, reports to its caller, and from then on
//! - copies the container's output into a log file in Docker's json-file format, rotated by
//!   size like Docker's, so the daemon (or anyone) can serve `logs` from it at any time;
//! - reaps the container's init, which is reparented to the monitor when `create` exits, and
//!   writes its exit status atomically to the exit file, where the daemon finds it even if it
//!   was not running at that moment. Deleting the container is left to the daemon, which
//!   decides about restart policies.
//!
//! Why single-threaded and without an async runtime: it forks (only sound single-threaded, and
//! `berth_sys::process::clone3` refuses otherwise), it must be small because there is one per
//! container, and its work is one poll(2) loop over two pipes and a signalfd.
//!
//! Written by hand: the json-file writer and rotation (a few lines, Docker's exact format), the
//! RFC 3339 clock (one format; no date crate needed). The runtime is driven by its standard
//! command line so runc and crun work as well as berth-runc.
#![forbid(unsafe_code)]

mod cli;
mod clock;
mod detach;
mod exit_file;
mod json_log;
mod runtime;
mod supervise;

use anyhow::{Context, Result};
use clap::Parser;
use std::io::Write;

fn main() {
    let mut cli = cli::Cli::parse();
    // Everything that can be checked before leaving the caller is, so errors come back on the
    // caller's stderr at once.
    let resolved = cli.absolutize().context("resolving paths");
    // A log file this run creates is removed again if the container never runs.
    let log_existed = cli.log_file.exists();
    let log = resolved.and_then(|()| {
        json_log::JsonLog::open(
            &cli.log_file,
            (cli.log_max_size > 0).then_some(cli.log_max_size),
            cli.log_max_files,
        )
    });
    let mut log = match log {
        Ok(l) => l,
        Err(e) => {
            eprintln!("berth-monitor: {e:#}");
            std::process::exit(1);
        }
    };
    let mut reporter = match detach::detach() {
        Ok(r) => r,
        Err(e) => {
            if !log_existed {
                let _ = std::fs::remove_file(&cli.log_file);
            }
            eprintln!("berth-monitor: {e:#}");
            std::process::exit(1);
        }
    };
    // From here on we are the detached monitor; our stderr is /dev/null once detached, so
    // errors before the container runs go to the caller through the reporter.
    match run(&cli, &mut log, &mut reporter) {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            if !log_existed {
                let _ = std::fs::remove_file(&cli.log_file);
            }
            reporter.fail(&format!("{e:#}"));
            std::process::exit(1);
        }
    }
}

fn run(cli: &cli::Cli, log: &mut json_log::JsonLog, reporter: &mut detach::Reporter) -> Result<()> {
    detach::become_daemon()?;
    // Descriptors the caller let us inherit must not reach the runtime or the container.
    berth_sys::fd::cloexec_from(3).context("marking inherited descriptors close-on-exec")?;
    // SIGCHLD is taken from a signalfd in the poll loop, so it must be blocked before any child
    // exists. Children started with std's Command get an empty mask back before exec.
    let mut set = berth_sys::signal::SigSet::empty();
    set.add(libc::SIGCHLD);
    berth_sys::signal::block(&set).context("blocking SIGCHLD")?;
    let sigchld = berth_sys::signal::signalfd(&set).context("signalfd for SIGCHLD")?;

    let mut rt = runtime::Runtime::new(cli)?;
    let started = rt.create_and_start()?;
    let init_pid = started.init.as_raw_nonzero().get();
    if let Some(p) = &cli.monitor_pid_file {
        exit_file::write_atomic(p, std::process::id().to_string().as_bytes())?;
    }
    if let Some(fd) = cli.ready_fd {
        tell_ready(fd, init_pid);
    }
    reporter.ok();

    let ended = supervise::supervise(started, &sigchld, log)?;
    let doc = exit_file::document(ended.0, ended.1, &clock::now_rfc3339_nanos());
    exit_file::write_atomic(
        &cli.exit_file,
        serde_json::to_string(&doc)
            .context("encoding the exit status")?
            .as_bytes(),
    )?;
    Ok(())
}

/// Writes the ready message to the inherited descriptor `fd`, then closes it for good (by
/// putting /dev/null in its place: outside berth-sys nothing may close a descriptor it does not
/// own), so a reader sees EOF.
fn tell_ready(fd: i32, container_pid: i32) {
    let msg =
        serde_json::json!({"monitor_pid": std::process::id(), "container_pid": container_pid});
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/self/fd/{fd}"))
    {
        let _ = writeln!(f, "{msg}");
    }
    if let Ok(null) = std::fs::File::open("/dev/null") {
        use std::os::fd::AsRawFd;
        let _ = berth_sys::fd::dup_onto(null.as_raw_fd(), fd);
        let _ = berth_sys::fd::cloexec_from(3);
    }
}

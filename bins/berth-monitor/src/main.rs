//! `berth-monitor`: the process that stays beside one container (or one exec'd process) for its
//! whole life, in the role of podman's conmon and containerd's shim.
//!
//! Why it exists: the daemon must be able to restart, upgrade or crash without taking its
//! containers down or losing what they print and how they end. So the daemon never is the
//! parent of a container. It starts one monitor per container start and one per exec; the
//! monitor detaches (fork, new session, child subreaper), runs the OCI runtime, reports to its
//! caller, and from then on
//! - copies the process's output into a log file in Docker's json-file or local format,
//!   rotated by size like Docker's, so the daemon (or anyone) can serve `logs` from it;
//! - fans the output out to any number of attach clients and feeds their input to the
//!   process's stdin;
//! - reaps the process, which is reparented to the monitor when the runtime exits, and writes
//!   its exit status atomically to the exit file, where the daemon finds it even if it was not
//!   running at that moment. Deleting the container is left to the daemon, which decides about
//!   restart policies.
//!
//! Why single-threaded and without an async runtime: it forks (only sound single-threaded, and
//! `berth_sys::process::clone3` refuses otherwise), it must be small because there is one per
//! container, and its work is one poll(2) loop over a few pipes, sockets and a signalfd.
//!
//! Written by hand: the json-file writer and rotation (a few lines, Docker's exact format), the
//! `local` format's protobuf encoder (four fields; a protobuf crate and a build step would be
//! more than the encoder), Docker's 8-byte attach frame header. The runtime is driven by its
//! standard command line so runc and crun work as well as berth-runc.
//!
//! # Protocol between the daemon and the monitor
//!
//! The daemon spawns one `berth-monitor` per container start and one per exec. The monitor talks
//! to the daemon only through files and unix sockets in a per-container directory the daemon
//! gives it (`<exec-root>/containers/<id>/`, exec: `<exec-root>/execs/<execid>/`). Every path
//! is a flag.
//!
//! ## Container mode (no subcommand)
//! `berth-monitor --runtime R [--runtime-root RR] --bundle B --id ID --exit-file F
//! [--log-file L] [--log-driver json-file|local|none] [--log-max-size N] [--log-max-files N]
//! [--pid-file P] [--monitor-pid-file M] [--ready-fd N] [--attach-socket S] [--ctl-socket C]
//! [--stdin] [--stdin-once] [--tty] [--no-start]`
//!
//! - `--no-start`: run `R create` only. After create, write the ready message
//!   `{"monitor_pid":N,"container_pid":M}` to `--ready-fd` and keep supervising. The daemon
//!   then runs `R --root RR start ID` itself (after it has connected attach clients, so no
//!   output is lost). Without `--no-start` the monitor runs create and start, and sends the
//!   ready message after start.
//! - `--attach-socket PATH`: listen (SOCK_STREAM, mode 0600, created before `create`) for any
//!   number of attach clients. Removed when the monitor exits.
//! - `--ctl-socket PATH`: listen for control clients: newline-separated JSON messages
//!   `{"resize":{"height":H,"width":W}}` (TIOCSWINSZ on the pty master) and
//!   `{"close_stdin":true}` (closes the container's stdin). No answer is sent. Removed when
//!   the monitor exits.
//! - `--stdin`: the container gets stdin: a pipe (or the pty). Without it: /dev/null.
//! - `--stdin-once`: close the container's stdin when the first attach client that has written
//!   stdin (or half-closed) goes away: Docker's StdinOnce.
//! - `--tty`: `R create --console-socket SOCK`: the monitor receives the pty master
//!   (SCM_RIGHTS) and uses it for stdin and stdout; output is one stream. "Closing" a
//!   terminal's stdin types end-of-file (^D) on it, as a user would. The console socket is
//!   `.console-<monitor pid>.sock` beside the exit file, removed once the master is received.
//! - `--log-driver json-file|local|none` (default json-file). `local` is Docker's local driver
//!   format (protobuf `LogEntry{source=1, time_nano=2, line=3, partial=4}` framed by its
//!   4-byte big-endian length before and after, as moby's daemon/logger/local). `none`: no file
//!   at all, and `--log-file` is not needed.
//!
//! Attach stream, monitor -> client: Docker's multiplexed frames, always:
//! `[stream: 1=stdout 2=stderr][0 0 0][u32 big-endian length][payload]` (with `--tty` every
//! frame is stream 1; the daemon strips headers for TTY clients). Output produced while no
//! client is connected is only logged, not kept for later. A client that does not read is
//! dropped once 4 MiB are queued for it: it never stalls the container. When the container's
//! output ends (process gone and pipes drained), the monitor gives each client up to 2 s to take
//! what is queued, then closes every attach connection (EOF) BEFORE writing the exit file.
//!
//! Attach stream, client -> monitor: raw stdin bytes. The client's shutdown(SHUT_WR) or close
//! means that client is done with stdin (with `--stdin-once`, the container's stdin is closed).
//!
//! Exit file: atomic JSON `{"exit_code":N,"signal":S|null,"finished_at":"RFC3339nano"}`;
//! `exit_code` is 128+S when killed by signal S.
//!
//! ## Exec mode: `berth-monitor exec`
//! `--runtime R [--runtime-root RR] --id CONTAINER_ID --process PROCESS_JSON --exit-file F
//! [--attach-socket S] [--ctl-socket C] [--tty] [--stdin] [--stdin-once] [--attach-wait]
//! [--ready-fd N] [--pid-file P]`
//!
//! Runs `R --root RR exec --detach --pid-file P --process PROCESS_JSON [--console-socket X] ID`
//! with its stdio wired as in container mode, supervises the exec'd process (reparented to the
//! monitor, which is a subreaper) and writes the exit file when it ends. `--attach-wait`: do
//! not run `exec` until the first attach client has connected (so nothing is lost); the caller
//! therefore must connect while it waits for the monitor's command to return. Ready message
//! `{"monitor_pid":N,"exec_pid":M}` after the process runs. No log file in exec mode.
//!
//! ## Errors
//! Errors before the container or process runs come back on the caller's stderr with exit 1,
//! and nothing is left: the sockets and the log file this run created are removed, and if
//! `create` succeeded but something later failed the monitor runs `R delete --force ID`.
#![forbid(unsafe_code)]

mod attach;
mod cli;
mod clock;
mod detach;
mod exit_file;
mod local_format;
mod log_file;
mod runtime;
mod sockets;
mod supervise;

use anyhow::{Context, Result};
use clap::Parser;
use cli::{Mode, Settings};
use std::io::Write;
use std::path::PathBuf;

/// Files this run created that must not outlive it: the sockets always go when the monitor
/// ends; the log file only if the container never ran.
#[derive(Default)]
struct Leftovers {
    sockets: Vec<PathBuf>,
    new_log: Option<PathBuf>,
}

impl Leftovers {
    fn remove_sockets(&mut self) {
        for p in self.sockets.drain(..) {
            let _ = std::fs::remove_file(p);
        }
    }

    fn remove_all(&mut self) {
        self.remove_sockets();
        if let Some(p) = self.new_log.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("berth-monitor: {msg}");
    std::process::exit(1);
}

fn main() {
    // Everything that can be checked before leaving the caller is, so errors come back on the
    // caller's stderr at once.
    let s = match cli::Cli::parse().settings() {
        Ok(s) => s,
        Err(e) => fail(&format!("{e:#}")),
    };
    let mut leftovers = Leftovers::default();
    let log = match &s.mode {
        Mode::Container { log: Some(l), .. } => {
            let existed = l.path.exists();
            let format = match l.driver {
                cli::LogDriver::Local => log_file::Format::Local,
                _ => log_file::Format::JsonFile,
            };
            match log_file::LogFile::open(&l.path, format, l.max_size, l.max_files) {
                Ok(f) => {
                    if !existed {
                        leftovers.new_log = Some(l.path.clone());
                    }
                    Some(f)
                }
                Err(e) => fail(&format!("{e:#}")),
            }
        }
        _ => None,
    };
    let mut reporter = match detach::detach() {
        Ok(r) => r,
        Err(e) => {
            leftovers.remove_all();
            fail(&format!("{e:#}"));
        }
    };
    // From here on we are the detached monitor; our stderr is /dev/null once detached, so
    // errors before the process runs go to the caller through the reporter.
    match run(&s, log, &mut reporter, &mut leftovers) {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            leftovers.remove_all();
            reporter.fail(&format!("{e:#}"));
            std::process::exit(1);
        }
    }
}

fn run(
    s: &Settings,
    log: Option<log_file::LogFile>,
    reporter: &mut detach::Reporter,
    leftovers: &mut Leftovers,
) -> Result<()> {
    detach::become_daemon()?;
    // Descriptors the caller let us inherit must not reach the runtime or the container.
    berth_sys::fd::cloexec_from(3).context("marking inherited descriptors close-on-exec")?;
    // SIGCHLD is taken from a signalfd in the poll loop, so it must be blocked before any child
    // exists. Children started with std's Command get an empty mask back before exec.
    let mut set = berth_sys::signal::SigSet::empty();
    set.add(libc::SIGCHLD);
    berth_sys::signal::block(&set).context("blocking SIGCHLD")?;
    let sigchld = berth_sys::signal::signalfd(&set).context("signalfd for SIGCHLD")?;

    let mut listen = |path: &Option<PathBuf>, flag: &str| -> Result<_> {
        path.as_ref()
            .map(|p| {
                let l = sockets::listen(p, flag)?;
                leftovers.sockets.push(p.clone());
                Ok(l)
            })
            .transpose()
    };
    let attach = listen(&s.attach_socket, "--attach-socket")?;
    let ctl = listen(&s.ctl_socket, "--ctl-socket")?;

    let mut rt = runtime::Runtime::new(s)?;
    let mut first_client = None;
    let started = match &s.mode {
        Mode::Container {
            bundle,
            monitor_pid_file,
            no_start,
            ..
        } => (|| {
            let (pid, ends) = rt.create(bundle)?;
            if !no_start {
                rt.start()?;
            }
            if let Some(p) = monitor_pid_file {
                exit_file::write_atomic(p, std::process::id().to_string().as_bytes())?;
            }
            Ok((pid, ends))
        })(),
        Mode::Exec {
            process,
            attach_wait,
        } => (|| {
            if *attach_wait {
                let l = attach
                    .as_ref()
                    .context("--attach-wait needs --attach-socket")?;
                let c = sockets::accept_within(l, None).context("--attach-wait")?;
                c.set_nonblocking(true).context("attach client")?;
                first_client = Some(attach::Client::new(c));
            }
            rt.exec(process)
        })(),
    };
    let (pid, ends) = match started {
        Ok(x) => x,
        Err(e) => {
            rt.undo();
            return Err(e);
        }
    };
    if let Some(fd) = s.ready_fd {
        let key = match s.mode {
            Mode::Container { .. } => "container_pid",
            Mode::Exec { .. } => "exec_pid",
        };
        tell_ready(fd, key, pid.as_raw_nonzero().get());
    }
    reporter.ok();
    // The process runs: the log file stays whatever happens now.
    leftovers.new_log = None;

    let mut sup = supervise::Supervisor::new(pid, ends, s.tty, s.stdin_once, log, attach, ctl);
    if let Some(c) = first_client {
        sup.add_client(c);
    }
    let ended = sup.run(&sigchld)?;
    leftovers.remove_sockets();
    let doc = exit_file::document(ended.0, ended.1, &clock::now_rfc3339_nanos());
    exit_file::write_atomic(
        &s.exit_file,
        serde_json::to_string(&doc)
            .context("encoding the exit status")?
            .as_bytes(),
    )?;
    Ok(())
}

/// Writes the ready message to the inherited descriptor `fd`, then closes it for good (by
/// putting /dev/null in its place: outside berth-sys nothing may close a descriptor it does not
/// own), so a reader sees EOF.
fn tell_ready(fd: i32, key: &str, pid: i32) {
    let msg = serde_json::json!({"monitor_pid": std::process::id(), key: pid});
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

//! The monitor's one loop: poll the process's output, its stdin, the attach and control
//! sockets and a signalfd for SIGCHLD; copy output into the log and to every attach client;
//! move attach clients' input to the process's stdin; reap every child (we are a subreaper, so
//! orphans land here) and remember how the supervised process ended.
//!
//! When it has ended and its output is drained, every attach client gets what is queued for it
//! (for a bounded time) and then EOF; the caller writes the exit file after that.

use crate::attach::{Client, Ctl, CtlClient};
use crate::log_file::{LineSplitter, LogFile};
use crate::runtime::Ends;
use anyhow::{Context, Result};
use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use rustix::process::{wait, Pid, WaitOptions};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

/// After the process has exited, how long to wait for the pipes to reach EOF: a process that
/// escaped the container (host pid namespace) may hold them forever.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);

/// How long attach clients get, once output has ended, to take what is queued for them.
const FLUSH_AFTER_EXIT: Duration = Duration::from_secs(2);

/// Stdin bytes queued for the process beyond this: attach clients are not read until it drains,
/// so a process that does not read its stdin pushes back on the clients.
const MAX_STDIN_BUFFER: usize = 1 << 20;

/// The EOF character of a terminal in canonical mode: how a terminal's stdin is "closed".
const VEOF: u8 = 0x04;
/// Bytes read from the container's output, or from a client's stdin, at a time.
pub const READ_CHUNK: usize = 16 * 1024;

/// How the process ended: (exit code if it exited, signal if it was killed).
pub type Ended = (Option<i32>, Option<i32>);

struct Output {
    fd: Option<OwnedFd>,
    /// 1 stdout, 2 stderr (Docker's stream numbers).
    stream: u8,
    lines: LineSplitter,
}

/// Everything the loop watches.
pub struct Supervisor {
    pid: Pid,
    outputs: Vec<Output>,
    stdin: Option<OwnedFd>,
    stdin_buf: Vec<u8>,
    /// Close stdin once `stdin_buf` is written.
    stdin_closing: bool,
    stdin_once: bool,
    tty: bool,
    master: Option<OwnedFd>,
    log: Option<LogFile>,
    attach: Option<UnixListener>,
    clients: Vec<Client>,
    ctl: Option<UnixListener>,
    ctls: Vec<CtlClient>,
}

#[derive(Clone, Copy)]
enum Slot {
    Signal,
    Output(usize),
    Stdin,
    AttachListener,
    Client(usize),
    CtlListener,
    Ctl(usize),
}

impl Supervisor {
    pub fn new(
        pid: Pid,
        ends: Ends,
        tty: bool,
        stdin_once: bool,
        log: Option<LogFile>,
        attach: Option<UnixListener>,
        ctl: Option<UnixListener>,
    ) -> Supervisor {
        let mut outputs = Vec::new();
        for (fd, stream, name) in [(ends.stdout, 1, "stdout"), (ends.stderr, 2, "stderr")] {
            if let Some(fd) = fd {
                outputs.push(Output {
                    fd: Some(fd),
                    stream,
                    lines: LineSplitter::new(name),
                });
            }
        }
        Supervisor {
            pid,
            outputs,
            stdin: ends.stdin,
            stdin_buf: Vec::new(),
            stdin_closing: false,
            stdin_once,
            tty,
            master: ends.master,
            log,
            attach,
            clients: Vec::new(),
            ctl,
            ctls: Vec::new(),
        }
    }

    /// Adds a client accepted before the loop (exec --attach-wait).
    pub fn add_client(&mut self, c: Client) {
        self.clients.push(c);
    }

    /// Runs until the process has exited, its output is drained and the attach clients have
    /// been closed; returns how the process ended.
    pub fn run(mut self, sigchld: &OwnedFd) -> Result<Ended> {
        let mut ended: Option<Ended> = None;
        let mut drain_deadline: Option<Instant> = None;
        let mut flush_deadline: Option<Instant> = None;
        loop {
            // The process may have ended before the loop began: its SIGCHLD is pending on the
            // signalfd, but reaping first costs one syscall and covers every order of events.
            if ended.is_none() {
                ended = reap_all(self.pid);
                if ended.is_some() {
                    drain_deadline = Some(Instant::now() + DRAIN_AFTER_EXIT);
                }
            }
            let now = Instant::now();
            let output_open = self.outputs.iter().any(|o| o.fd.is_some());
            if ended.is_some()
                && (!output_open || drain_deadline.is_some_and(|d| now >= d))
                && flush_deadline.is_none()
            {
                // Output is over: stop taking clients and input, give clients the rest.
                for o in &mut self.outputs {
                    o.fd = None;
                }
                self.attach = None;
                self.ctl = None;
                self.ctls.clear();
                flush_deadline = Some(now + FLUSH_AFTER_EXIT);
            }
            if let Some(d) = flush_deadline {
                self.clients.retain(|c| !c.dead && !c.out.is_empty());
                if self.clients.is_empty() || now >= d {
                    break;
                }
            }
            let deadline = flush_deadline.or(drain_deadline.filter(|_| output_open));
            let timeout = deadline.map(|d| {
                let left = d.saturating_duration_since(now);
                Timespec {
                    tv_sec: left.as_secs() as i64,
                    tv_nsec: i64::from(left.subsec_nanos()),
                }
            });
            let events = match self.poll_once(sigchld, timeout.as_ref()) {
                Ok(e) => e,
                Err(Errno::INTR) => continue,
                Err(e) => return Err(e).context("poll"),
            };
            for (slot, revents) in events {
                self.handle(slot, revents, sigchld, &mut ended, &mut drain_deadline);
            }
            self.after_turn();
        }
        for o in &mut self.outputs {
            if let Some(log) = &mut self.log {
                let _ = o.lines.finish(log);
            }
        }
        // Dropping the clients closes them: EOF, before the caller writes the exit file.
        self.clients.clear();
        let _ = reap_all(self.pid);
        ended.context("the supervised process vanished without an exit status")
    }

    fn poll_once(
        &self,
        sigchld: &OwnedFd,
        timeout: Option<&Timespec>,
    ) -> rustix::io::Result<Vec<(Slot, PollFlags)>> {
        let mut slots = vec![Slot::Signal];
        let mut fds = vec![PollFd::new(sigchld, PollFlags::IN)];
        for (i, o) in self.outputs.iter().enumerate() {
            if let Some(fd) = &o.fd {
                slots.push(Slot::Output(i));
                fds.push(PollFd::new(fd, PollFlags::IN));
            }
        }
        if let Some(fd) = &self.stdin {
            if !self.stdin_buf.is_empty() {
                slots.push(Slot::Stdin);
                fds.push(PollFd::new(fd, PollFlags::OUT));
            }
        }
        if let Some(l) = &self.attach {
            slots.push(Slot::AttachListener);
            fds.push(PollFd::new(l, PollFlags::IN));
        }
        let take_input = self.stdin_buf.len() < MAX_STDIN_BUFFER;
        for (i, c) in self.clients.iter().enumerate() {
            let mut flags = PollFlags::empty();
            if c.reading && take_input {
                flags |= PollFlags::IN;
            }
            if !c.out.is_empty() {
                flags |= PollFlags::OUT;
            }
            if !flags.is_empty() {
                slots.push(Slot::Client(i));
                fds.push(PollFd::new(&c.sock, flags));
            }
        }
        if let Some(l) = &self.ctl {
            slots.push(Slot::CtlListener);
            fds.push(PollFd::new(l, PollFlags::IN));
        }
        for (i, c) in self.ctls.iter().enumerate() {
            slots.push(Slot::Ctl(i));
            fds.push(PollFd::new(&c.sock, PollFlags::IN));
        }
        poll(&mut fds, timeout)?;
        Ok(slots
            .into_iter()
            .zip(fds.iter().map(PollFd::revents))
            .filter(|(_, r)| !r.is_empty())
            .collect())
    }

    fn handle(
        &mut self,
        slot: Slot,
        revents: PollFlags,
        sigchld: &OwnedFd,
        ended: &mut Option<Ended>,
        drain_deadline: &mut Option<Instant>,
    ) {
        match slot {
            Slot::Signal => {
                drain_signalfd(sigchld);
                let reaped = reap_all(self.pid);
                if ended.is_none() && reaped.is_some() {
                    *ended = reaped;
                    *drain_deadline = Some(Instant::now() + DRAIN_AFTER_EXIT);
                }
            }
            Slot::Output(i) => self.pump(i),
            Slot::Stdin => self.write_stdin(),
            Slot::AttachListener => self.accept_clients(),
            Slot::Client(i) => {
                let c = &mut self.clients[i];
                if revents.contains(PollFlags::OUT) {
                    c.flush();
                }
                if revents.intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR) && c.reading
                {
                    let mut input = Vec::new();
                    let more = c.read_stdin(&mut input);
                    if !input.is_empty() {
                        c.used_stdin = true;
                    }
                    if !more {
                        c.reading = false;
                        c.used_stdin = true;
                    }
                    let done = !more;
                    if self.stdin.is_some() && !self.stdin_closing {
                        self.stdin_buf.extend_from_slice(&input);
                    }
                    if done && self.stdin_once {
                        self.close_stdin();
                    }
                }
            }
            Slot::CtlListener => {
                if let Some(l) = &self.ctl {
                    while let Ok((s, _)) = l.accept() {
                        if s.set_nonblocking(true).is_ok() {
                            self.ctls.push(CtlClient::new(s));
                        }
                    }
                }
            }
            Slot::Ctl(i) => {
                for req in self.ctls[i].read() {
                    match req {
                        Ctl::Resize { height, width } => {
                            if let Some(m) = &self.master {
                                let ws = rustix::termios::Winsize {
                                    ws_row: height,
                                    ws_col: width,
                                    ws_xpixel: 0,
                                    ws_ypixel: 0,
                                };
                                let _ = rustix::termios::tcsetwinsize(m, ws);
                            }
                        }
                        Ctl::CloseStdin => self.close_stdin(),
                    }
                }
            }
        }
    }

    /// Clients that died this turn: with --stdin-once, one that had used stdin closes it.
    fn after_turn(&mut self) {
        if self.stdin_once && self.clients.iter().any(|c| c.dead && c.used_stdin) {
            self.close_stdin();
        }
        self.clients.retain(|c| !c.dead);
        self.ctls.retain(|c| !c.dead);
        if !self.stdin_buf.is_empty() {
            self.write_stdin();
        }
    }

    /// Closes the process's stdin once what is queued for it is written; with a terminal it
    /// types end-of-file instead (the terminal stays the process's stdout).
    fn close_stdin(&mut self) {
        if self.stdin.is_none() || self.stdin_closing {
            return;
        }
        if self.tty {
            self.stdin_buf.push(VEOF);
        }
        self.stdin_closing = true;
        if self.stdin_buf.is_empty() {
            self.stdin = None;
        }
    }

    fn write_stdin(&mut self) {
        let Some(fd) = &self.stdin else {
            self.stdin_buf.clear();
            return;
        };
        while !self.stdin_buf.is_empty() {
            match rustix::io::write(fd, &self.stdin_buf) {
                Ok(n) => {
                    self.stdin_buf.drain(..n);
                }
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => return,
                // The process closed its stdin or is gone: what is queued cannot be delivered.
                Err(_) => {
                    self.stdin_buf.clear();
                    self.stdin = None;
                    return;
                }
            }
        }
        if self.stdin_closing {
            self.stdin = None;
        }
    }

    /// Reads once from output `i`: into the log and to every attach client. On EOF (or EIO, a
    /// terminal whose other side is closed) flushes the partial line and closes it.
    fn pump(&mut self, i: usize) {
        // A client whose connect() returned before this output was produced must get it, even
        // if poll reported the output first: the daemon connects its attach clients before it
        // runs `RUNTIME start`, and a short-lived container's only output would be lost.
        self.accept_clients();
        let o = &mut self.outputs[i];
        let Some(fd) = &o.fd else { return };
        // 16 KiB per read: every stack page touched stays resident for the container's life,
        // and a busy pipe is simply read more often.
        let mut buf = [0u8; READ_CHUNK];
        match rustix::io::read(fd, &mut buf) {
            Ok(0) => {}
            Ok(n) => {
                // Logging is best effort: a full disk must not stop the monitor from draining
                // the pipe (the process would block on write) or from recording the exit status.
                if let Some(log) = &mut self.log {
                    let _ = o.lines.feed(&buf[..n], log);
                }
                for c in &mut self.clients {
                    c.send_frame(o.stream, &buf[..n]);
                }
                return;
            }
            Err(Errno::INTR) | Err(Errno::AGAIN) => return,
            Err(_) => {}
        }
        if let Some(log) = &mut self.log {
            let _ = o.lines.finish(log);
        }
        o.fd = None;
    }
}

impl Supervisor {
    /// Accepts every attach client waiting in the listen queue.
    fn accept_clients(&mut self) {
        if let Some(l) = &self.attach {
            while let Ok((s, _)) = l.accept() {
                if s.set_nonblocking(true).is_ok() {
                    self.clients.push(Client::new(s));
                }
            }
        }
    }
}

fn drain_signalfd(fd: &OwnedFd) {
    let mut buf = [0u8; 128];
    while matches!(rustix::io::read(fd, &mut buf), Ok(n) if n > 0) {}
}

/// Reaps every child that has ended; returns the supervised process's end if it was among them.
pub fn reap_all(pid: Pid) -> Option<Ended> {
    let mut found = None;
    loop {
        // wait4(-1): `waitpid(None)` would be wait4(0), this process group only, and a process
        // with a terminal leads its own session.
        match wait(WaitOptions::NOHANG) {
            Ok(Some((p, status))) => {
                if p == pid {
                    found = Some((status.exit_status(), status.terminating_signal()));
                }
            }
            Err(Errno::INTR) => {}
            // No child has ended (Ok(None)) or we have no children at all (ECHILD).
            _ => return found,
        }
    }
}

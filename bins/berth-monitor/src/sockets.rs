//! The monitor's listening unix sockets: the attach and control sockets the daemon connects to,
//! and the console socket on which the runtime hands over a terminal's master (runc's
//! `--console-socket` protocol: one message whose body is the terminal's name and whose
//! SCM_RIGHTS ancillary data carries the master).

use anyhow::{bail, Context, Result};
use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::net::{recvmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
use std::io::{ErrorKind, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::Duration;

/// Binds a nonblocking, close-on-exec listener at `path` with mode 0600 (only the daemon's user
/// may attach). A socket left there by a dead monitor is replaced; a live one is an error.
pub fn listen(path: &Path, flag: &str) -> Result<UnixListener> {
    if let Ok(m) = std::fs::symlink_metadata(path) {
        if !m.file_type().is_socket() {
            bail!("{flag} {}: exists and is not a socket", path.display());
        }
        match UnixStream::connect(path) {
            Ok(_) => bail!(
                "{flag} {}: another process is listening there",
                path.display()
            ),
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                std::fs::remove_file(path)
                    .with_context(|| format!("{flag}: removing stale {}", path.display()))?;
            }
            Err(e) => return Err(e).with_context(|| format!("{flag} {}", path.display())),
        }
    }
    // The umask makes the socket 0600 from the moment it exists (chmod after bind would leave
    // a window). We are single-threaded, so nothing else sees the changed umask.
    let old = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o177));
    let bound = UnixListener::bind(path);
    rustix::process::umask(old);
    let l = bound.with_context(|| format!("{flag}: binding {}", path.display()))?;
    l.set_nonblocking(true)
        .with_context(|| format!("{flag}: {}", path.display()))?;
    Ok(l)
}

/// Waits up to `timeout` for `l` to have a connection to accept.
pub fn accept_within(l: &UnixListener, timeout: Option<Duration>) -> Result<UnixStream> {
    let ts = timeout.map(|t| Timespec {
        tv_sec: t.as_secs() as i64,
        tv_nsec: i64::from(t.subsec_nanos()),
    });
    loop {
        match l.accept() {
            Ok((s, _)) => return Ok(s),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("accept"),
        }
        let mut fds = [PollFd::new(l, PollFlags::IN)];
        match poll(&mut fds, ts.as_ref()) {
            Ok(0) => bail!("nobody connected within {timeout:?}"),
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e).context("poll"),
        }
    }
}

/// Receives the terminal master the runtime sent to the console socket `l` during `create` or
/// `exec` (both have returned by now, so the message is already queued).
pub fn receive_master(l: &UnixListener) -> Result<OwnedFd> {
    let conn = accept_within(l, Some(Duration::from_secs(10)))
        .context("the runtime did not connect to the console socket")?;
    conn.set_nonblocking(false).context("console socket")?;
    let mut buf = [0u8; 4096];
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut anc = RecvAncillaryBuffer::new(&mut space);
    loop {
        match recvmsg(
            &conn,
            &mut [IoSliceMut::new(&mut buf)],
            &mut anc,
            RecvFlags::CMSG_CLOEXEC,
        ) {
            Ok(_) => break,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e).context("receiving the terminal master"),
        }
    }
    let mut master = None;
    for m in anc.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = m {
            for fd in fds {
                master.get_or_insert(fd);
            }
        }
    }
    master.context("the runtime's console message carried no descriptor")
}

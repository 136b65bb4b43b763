//! The container's terminal: a pty made inside the container's own devpts, the slave as
//! /dev/console and stdio, the master handed to whoever holds the other side (the
//! --console-socket, or `run` itself in the foreground).

use super::paths::touch;
use crate::error::{Error, Result};
use rustix::pty::{ioctl_tiocgptpeer, openpt, ptsname, unlockpt, OpenptFlags};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Creates the pty, makes the slave the controlling terminal on fds 0-2 and /dev/console, and
/// returns the master.
pub fn setup(size: Option<(u16, u16)>, bind_console: bool) -> Result<OwnedFd> {
    let e = |what: &str, err: rustix::io::Errno| {
        Error::Init(format!("process.terminal: {what}: {err}"))
    };
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
        .map_err(|x| e("opening /dev/ptmx", x))?;
    unlockpt(&master).map_err(|x| e("unlockpt", x))?;
    let name = ptsname(&master, Vec::new()).map_err(|x| e("ptsname", x))?;
    let slave = ioctl_tiocgptpeer(
        &master,
        OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC,
    )
    .map_err(|x| e("opening the pty peer", x))?;
    if let Some((rows, cols)) = size {
        let ws = rustix::termios::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(&slave, ws).map_err(|x| e("setting the size", x))?;
    }
    if bind_console {
        let root = rustix::fs::open(
            "/",
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY,
            rustix::fs::Mode::empty(),
        )
        .map_err(|x| e("opening /", x))?;
        if let Ok(console) = touch(root.as_fd(), Path::new("/dev/console")) {
            let pts = Path::new(std::ffi::OsStr::from_bytes(name.as_bytes()));
            rustix::mount::mount_bind(pts, super::paths::fd_path(&console))
                .map_err(|x| e("binding /dev/console", x))?;
        }
    }
    rustix::process::setsid().map_err(|x| e("setsid", x))?;
    rustix::process::ioctl_tiocsctty(&slave).map_err(|x| e("TIOCSCTTY", x))?;
    make_stdio(slave.as_fd())
        .map_err(|x| Error::Init(format!("process.terminal: dup to stdio: {x}")))?;
    Ok(master)
}

/// With process.terminal set: makes the pty (see [`setup`]) and hands the master to `console`
/// (the --console-socket, or the runtime over `chan`). `bind_console` binds the slave on
/// /dev/console (the init does; `exec` does not).
pub fn attach(
    process: &oci_spec::runtime::Process,
    console: super::ConsoleTarget,
    chan: &crate::channel::Channel,
    bind_console: bool,
) -> Result<()> {
    if !process.terminal().unwrap_or(false) {
        return Ok(());
    }
    let size = process
        .console_size()
        .as_ref()
        .map(|b| (b.height() as u16, b.width() as u16));
    let master = setup(size, bind_console)?;
    match console {
        super::ConsoleTarget::Socket(sock) => {
            crate::channel::send_fd_to_socket(sock.as_fd(), "/dev/ptmx", master.as_fd()).map_err(
                |e| Error::Init(format!("sending the pty master to --console-socket: {e}")),
            )
        }
        super::ConsoleTarget::Parent => chan
            .send_with_fd(&crate::channel::Msg::ConsoleMaster, Some(master.as_fd()))
            .map_err(|e| Error::Init(format!("sending the pty master to the runtime: {e}"))),
        super::ConsoleTarget::None => Ok(()),
    }
}

/// Places `fd` on 0, 1 and 2.
pub fn make_stdio(fd: BorrowedFd<'_>) -> std::io::Result<()> {
    for n in 0..3 {
        berth_sys::fd::dup_onto(fd.as_raw_fd(), n)?;
    }
    Ok(())
}

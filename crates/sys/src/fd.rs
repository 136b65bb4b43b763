//! File descriptor hygiene: nothing but what the spec asks for may cross into a container.

use std::io;

const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;

/// Marks every descriptor `>= first` close-on-exec (`close_range(first, ~0, CLOSE_RANGE_CLOEXEC)`,
/// Linux 5.11). Nothing is closed now, so Rust objects that own those fds stay valid until exec.
pub fn cloexec_from(first: u32) -> io::Result<()> {
    // SAFETY: with CLOSE_RANGE_CLOEXEC the kernel only sets a flag on the descriptors; it closes
    // none, so no owned fd in this process is invalidated.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Clears `FD_CLOEXEC` on a raw descriptor number we do not own (the `--preserve-fds` range,
/// which the caller of the runtime handed us). Returns `EBADF` if it is not open.
pub fn clear_cloexec_raw(fd: i32) -> io::Result<()> {
    // SAFETY: fcntl F_GETFD/F_SETFD only read and write the descriptor flag; an fd number that
    // is not open yields EBADF and no effect.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFD);
        if flags == -1 {
            return Err(io::Error::last_os_error());
        }
        if libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// `dup3(old, new, 0)` on raw numbers: used to place the container's stdio on 0, 1, 2.
pub fn dup_onto(old: i32, new: i32) -> io::Result<()> {
    if old == new {
        return clear_cloexec_raw(new);
    }
    // SAFETY: dup3 atomically replaces `new`; the descriptors 0-2 it targets are not owned by
    // any Rust object in the process that calls this (the container's init before exec).
    let ret = unsafe { libc::dup3(old, new, 0) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

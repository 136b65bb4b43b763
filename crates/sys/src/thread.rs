//! Namespace changes confined to the calling thread, for a short-lived helper thread that
//! builds a private view of mounts (the daemon's `docker cp` view of a container) and exits.

use std::io;
use std::os::fd::BorrowedFd;

/// Gives the calling thread its own file-system attributes (root, cwd, umask: `CLONE_FS`)
/// and, with `new_mount_ns`, its own copy of the mount namespace (`CLONE_NEWNS`). Other
/// threads keep theirs; the thread must not return to a pool afterwards.
pub fn unshare_fs(new_mount_ns: bool) -> io::Result<()> {
    let mut flags = rustix::thread::UnshareFlags::FS;
    if new_mount_ns {
        flags |= rustix::thread::UnshareFlags::NEWNS;
    }
    // SAFETY: CLONE_FS and CLONE_NEWNS only change this thread's root, cwd, umask and mount
    // namespace; the file descriptor table (CLONE_FILES, the one rustix warns about) stays
    // shared, so every fd remains valid in every thread.
    unsafe { rustix::thread::unshare_unsafe(flags) }.map_err(io::Error::from)
}

/// Moves the calling thread into the mount namespace of the process behind `pidfd`. The
/// thread must have unshared its file-system attributes first ([`unshare_fs`]).
pub fn enter_mount_ns_of(pidfd: BorrowedFd<'_>) -> io::Result<()> {
    rustix::thread::move_into_thread_name_spaces(pidfd, rustix::thread::ThreadNameSpaceType::MOUNT)
        .map_err(io::Error::from)
}

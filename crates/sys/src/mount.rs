//! mount_setattr(2), which rustix does not wrap yet.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// `MOUNT_ATTR_RDONLY`: read-only.
pub const MOUNT_ATTR_RDONLY: u64 = 0x0000_0001;
/// `MOUNT_ATTR_NOSUID`: ignore set-user-id and set-group-id bits.
pub const MOUNT_ATTR_NOSUID: u64 = 0x0000_0002;
/// `MOUNT_ATTR_NODEV`: no access to device files.
pub const MOUNT_ATTR_NODEV: u64 = 0x0000_0004;
/// `MOUNT_ATTR_NOEXEC`: no program execution.
pub const MOUNT_ATTR_NOEXEC: u64 = 0x0000_0008;
/// `MOUNT_ATTR__ATIME`: the mask of the atime mode (set it in `attr_clr` to change the mode).
pub const MOUNT_ATTR_ATIME_MASK: u64 = 0x0000_0070;
/// `MOUNT_ATTR_RELATIME` (the atime mode 0).
pub const MOUNT_ATTR_RELATIME: u64 = 0x0000_0000;
/// `MOUNT_ATTR_NOATIME`: do not update access times.
pub const MOUNT_ATTR_NOATIME: u64 = 0x0000_0010;
/// `MOUNT_ATTR_STRICTATIME`: always update access times.
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x0000_0020;
/// `MOUNT_ATTR_NODIRATIME`: do not update directory access times.
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x0000_0080;
/// `MOUNT_ATTR_NOSYMFOLLOW`: do not follow symlinks (Linux 5.14).
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

const AT_RECURSIVE: libc::c_uint = 0x8000;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

fn mount_setattr(
    dirfd: libc::c_int,
    path: &std::ffi::CStr,
    flags: libc::c_uint,
    attr: &MountAttr,
) -> io::Result<()> {
    // SAFETY: attr is a valid mount_attr of the size passed; path is NUL-terminated and lives
    // across the call; dirfd is AT_FDCWD or a descriptor the caller borrows for the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dirfd,
            path.as_ptr(),
            flags,
            attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Makes the (detached or attached) mount behind `fd` read-only, recursively
/// (`mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, {attr_set: MOUNT_ATTR_RDONLY})`).
pub fn set_readonly(fd: BorrowedFd<'_>) -> io::Result<()> {
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    mount_setattr(
        fd.as_raw_fd(),
        c"",
        (libc::AT_EMPTY_PATH as libc::c_uint) | AT_RECURSIVE,
        &attr,
    )
}

/// Sets and clears `MOUNT_ATTR_*` flags on the mount at `path` and on every mount below it
/// (`mount_setattr(AT_FDCWD, path, AT_RECURSIVE, {set, clr})`, Linux 5.12): what runc does for
/// the OCI options `rro`, `rnosuid`, ... ENOSYS on older kernels, EINVAL for a flag the kernel
/// does not know.
pub fn set_attr_recursive(path: &Path, set: u64, clr: u64) -> io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clr,
        propagation: 0,
        userns_fd: 0,
    };
    mount_setattr(libc::AT_FDCWD, &c, AT_RECURSIVE, &attr)
}

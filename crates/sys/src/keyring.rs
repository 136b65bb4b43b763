//! Session keyrings: each container gets its own, so it cannot read the host's keys.

use std::ffi::CString;
use std::io;

const KEYCTL_JOIN_SESSION_KEYRING: libc::c_int = 1;

/// `keyctl(KEYCTL_JOIN_SESSION_KEYRING, name)`: create and join a new named session keyring.
pub fn join_session_keyring(name: &str) -> io::Result<i64> {
    let name = CString::new(name).map_err(io::Error::other)?;
    // SAFETY: keyctl reads the NUL-terminated name for the duration of the call only.
    let ret =
        unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(ret)
}

//! Process creation and replacement: clone3 (fork with namespaces), exec, personality.
//!
//! `fork`-like calls are only sound in a single-threaded process (the child of a threaded parent
//! may inherit locks held by threads that do not exist in it). Every wrapper here checks that the
//! caller is single-threaded and refuses otherwise, which is what makes them safe functions.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr;

/// `CLONE_INTO_CGROUP` (Linux 5.7): place the child in the cgroup v2 directory given by fd.
pub const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Which side of a fork the caller is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forked {
    /// In the new process.
    Child,
    /// In the caller; the value is the child's pid (as seen from the caller's pid namespace).
    Parent(i32),
}

/// Kernel `struct clone_args` (v2, with `cgroup`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Returns how many threads this process has (from the link count of `/proc/self/task`).
fn thread_count() -> io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata("/proc/self/task")?;
    // procfs reports nlink = threads + 2 ("." and "..").
    Ok(meta.nlink().saturating_sub(2))
}

fn ensure_single_threaded() -> io::Result<()> {
    match thread_count()? {
        0 | 1 => Ok(()),
        n => Err(io::Error::other(format!(
            "refusing to fork from a process with {n} threads"
        ))),
    }
}

/// `clone3(2)` without `CLONE_VM`: a fork that can create namespaces (`flags` takes `CLONE_NEW*`)
/// and, with `cgroup`, start the child directly inside a cgroup v2 directory.
/// The child receives `SIGCHLD` semantics (exit_signal = SIGCHLD) so `waitpid` works as usual.
pub fn clone3(flags: u64, cgroup: Option<BorrowedFd<'_>>) -> io::Result<Forked> {
    ensure_single_threaded()?;
    let mut args = CloneArgs {
        flags,
        exit_signal: libc::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd.as_raw_fd() as u64;
    }
    // SAFETY: args is a valid, initialized clone_args of the size we pass. Without CLONE_VM
    // and with no stack given, clone3 behaves like fork: the child gets a copy of the address
    // space and continues on its own copy of the current stack. We checked above that the
    // process is single-threaded, so no other thread can hold a lock the child would inherit.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match ret {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as i32)),
    }
}

fn to_ptrs(items: &[CString]) -> Vec<*const libc::c_char> {
    items
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(ptr::null()))
        .collect()
}

/// `execve(2)`. Returns only on failure.
pub fn execve(path: &CStr, argv: &[CString], envp: &[CString]) -> io::Error {
    let argv_p = to_ptrs(argv);
    let envp_p = to_ptrs(envp);
    // SAFETY: path is NUL-terminated; argv_p and envp_p are NULL-terminated arrays of pointers
    // to NUL-terminated strings that outlive the call (borrowed from argv/envp).
    unsafe { libc::execve(path.as_ptr(), argv_p.as_ptr(), envp_p.as_ptr()) };
    io::Error::last_os_error()
}

/// `execveat(fd, "", argv, envp, AT_EMPTY_PATH)`: execute the file behind `fd` (e.g. a memfd).
/// Returns only on failure.
pub fn fexecve(fd: BorrowedFd<'_>, argv: &[CString], envp: &[CString]) -> io::Error {
    let argv_p = to_ptrs(argv);
    let envp_p = to_ptrs(envp);
    let empty = c"";
    // SAFETY: as for execve; fd is a valid open descriptor borrowed for the call, and the empty
    // path with AT_EMPTY_PATH makes the kernel execute the fd itself.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            empty.as_ptr(),
            argv_p.as_ptr(),
            envp_p.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    io::Error::last_os_error()
}

/// `personality(2)`: set the execution domain (e.g. `PER_LINUX32`).
pub fn set_personality(persona: u64) -> io::Result<()> {
    // SAFETY: personality takes a plain integer and has no memory effects.
    let ret = unsafe { libc::personality(persona as libc::c_ulong) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `unshare(2)` for the given `CLONE_NEW*` flags.
pub fn unshare(flags: i32) -> io::Result<()> {
    // Unsharing CLONE_FILES/CLONE_FS/CLONE_NEWUSER from a threaded process has thread-wide
    // effects the other threads do not expect; we only use it single-threaded.
    ensure_single_threaded()?;
    // SAFETY: unshare takes flags only; it does not touch our memory.
    let ret = unsafe { libc::unshare(flags) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `setns(2)` with a namespace fd.
pub fn setns(fd: BorrowedFd<'_>, nstype: i32) -> io::Result<()> {
    // SAFETY: setns takes an fd we borrow for the call and flags; no memory is shared.
    let ret = unsafe { libc::setns(fd.as_raw_fd(), nstype) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `setgroups(2)` for the calling thread (the process is single-threaded when we call it).
pub fn setgroups(gids: &[u32]) -> io::Result<()> {
    // Raw syscall on purpose: glibc's setgroups broadcasts to all threads with signals, which
    // is neither needed (single-threaded) nor wanted between fork and exec.
    // SAFETY: gids points to gids.len() valid gid_t values for the duration of the call.
    let ret = unsafe { libc::syscall(libc::SYS_setgroups, gids.len(), gids.as_ptr()) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `capset(2)` of the calling thread's three sets at once (one syscall: the init calls it after
/// the container's seccomp filter is loaded, where every syscall counts against the profile).
pub fn capset(effective: u64, permitted: u64, inheritable: u64) -> io::Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    let header = Header {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let split = |v: u64, i: u32| (v >> (32 * i)) as u32;
    let data = [0, 1].map(|i| Data {
        effective: split(effective, i),
        permitted: split(permitted, i),
        inheritable: split(inheritable, i),
    });
    // SAFETY: header and data are valid for the duration of the call; version 3 takes an array
    // of two data structs, which `data` is.
    let ret = unsafe { libc::syscall(libc::SYS_capset, &header as *const Header, data.as_ptr()) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `_exit(2)`: leave the process at once, without running atexit handlers or flushing
/// stdio buffers that belong to the parent's copy of them.
pub fn exit_immediately(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no memory of ours.
    unsafe { libc::_exit(code) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_test_process_counts_threads() {
        assert!(thread_count().expect("procfs") >= 1);
    }

    #[test]
    fn fork_refuses_in_threaded_process() {
        // The test harness runs tests on threads, so the process has at least two threads.
        let _t = std::thread::spawn(|| std::thread::sleep(std::time::Duration::from_millis(200)));
        let err = clone3(0, None).expect_err("must refuse");
        assert!(err.to_string().contains("threads"), "{err}");
    }
}

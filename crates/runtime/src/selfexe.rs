//! Protection of the runtime binary against CVE-2019-5736.
//!
//! The attack: a process inside the container gets hold of the runtime's own executable (through
//! `/proc/PID/exe` of a runtime process that entered the container, or by making the container's
//! entrypoint `#!/proc/self/exe`) and writes to it, replacing the host's runtime binary.
//!
//! Berth's answer: before `create`, `run` or `exec` does anything with a container, the process
//! re-executes itself from a copy of its binary that cannot be written, so every process that
//! later enters a container has an unwritable file as `/proc/self/exe`:
//!
//! 1. **Read-only re-exec** (the default, no copy): `open_tree(OPEN_TREE_CLONE)` of
//!    `/proc/self/exe` gives a private, detached bind mount of just the binary;
//!    `mount_setattr(MOUNT_ATTR_RDONLY)` makes it read-only; `execveat` runs it. Opening that
//!    executable for writing fails with EROFS, and nothing in the container can reach the mount to
//!    change it (it is detached, and dissolved when the fd closes at exec). Needs CAP_SYS_ADMIN.
//! 2. **Sealed memfd** (the fallback, e.g. rootless): copy the binary into a memfd, seal it
//!    (`F_SEAL_WRITE | GROW | SHRINK | SEAL`) and execute that; writes fail with EPERM.
//!
//! Copying a 4-5 MB binary costs about 2 ms per container on the test machine, which is why the
//! read-only re-exec comes first; `bench/runtime` measures the whole start.

use rustix::fs::{fcntl_add_seals, fcntl_get_seals, memfd_create, MemfdFlags, SealFlags};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

const SEALS: SealFlags = SealFlags::SEAL
    .union(SealFlags::SHRINK)
    .union(SealFlags::GROW)
    .union(SealFlags::WRITE);

/// How the running executable is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// Running from a sealed memfd.
    SealedMemfd,
    /// Running from a read-only mount.
    ReadOnlyMount,
}

/// How this process's executable is protected, if it is.
pub fn protection() -> Option<Protection> {
    let f = std::fs::File::open("/proc/self/exe").ok()?;
    if fcntl_get_seals(&f).is_ok_and(|s| s.contains(SEALS)) {
        return Some(Protection::SealedMemfd);
    }
    let ro = rustix::fs::fstatvfs(&f)
        .is_ok_and(|s| s.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY));
    ro.then_some(Protection::ReadOnlyMount)
}

/// Makes sure the process runs from an unwritable copy of its binary, re-executing if needed.
/// Returns `Ok(())` only when already protected; otherwise does not return (or returns the
/// error of the last method tried).
pub fn ensure_protected() -> io::Result<()> {
    if protection().is_some() {
        return Ok(());
    }
    let (argv, envp) = args_and_env()?;
    // BERTH_RUNC_SEALED_COPY=1 skips the read-only mount (tests cover the fallback with it).
    let readonly = std::env::var_os("BERTH_RUNC_SEALED_COPY").is_none();
    if let Some(fd) = readonly.then(readonly_binary).and_then(Result::ok) {
        // Only returns on failure; fall through to the memfd then.
        let _ = berth_sys::process::fexecve(fd.as_fd(), &argv, &envp);
    }
    let memfd = sealed_copy()?;
    Err(berth_sys::process::fexecve(memfd.as_fd(), &argv, &envp))
}

/// A read-only, detached bind mount of our own executable, as an fd to execute.
fn readonly_binary() -> io::Result<OwnedFd> {
    use rustix::mount::{open_tree, OpenTreeFlags};
    let tree = open_tree(
        rustix::fs::CWD,
        "/proc/self/exe",
        OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
    )?;
    berth_sys::mount::set_readonly(tree.as_fd())?;
    Ok(tree)
}

/// A sealed memfd holding a copy of our own executable.
fn sealed_copy() -> io::Result<OwnedFd> {
    let exe = std::fs::File::open("/proc/self/exe")?;
    let len = exe.metadata()?.len();
    let memfd = memfd_create(
        "berth-runc",
        MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
    )?;
    let mut copied = 0u64;
    while copied < len {
        let n = rustix::fs::sendfile(&memfd, &exe, None, (len - copied) as usize)?;
        if n == 0 {
            return Err(io::Error::other("short copy of /proc/self/exe"));
        }
        copied += n as u64;
    }
    fcntl_add_seals(&memfd, SEALS)?;
    Ok(memfd)
}

fn args_and_env() -> io::Result<(Vec<CString>, Vec<CString>)> {
    let argv: Vec<CString> = std::env::args_os()
        .map(|a| CString::new(a.as_bytes()).map_err(io::Error::other))
        .collect::<io::Result<_>>()?;
    let envp: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).map_err(io::Error::other)
        })
        .collect::<io::Result<_>>()?;
    Ok((argv, envp))
}

//! Protection of the runtime binary against CVE-2019-5736.
//!
//! The attack: a process inside the container gets hold of the runtime's own executable (through
//! `/proc/PID/exe` of a runtime process that entered the container, or by making the container's
//! entrypoint `#!/proc/self/exe`) and writes to it, replacing the host's runtime binary.
//!
//! Berth's answer is the sealed memfd (as runc >= 1.0 and crun do): before `create`, `run` or
//! `exec` does anything with a container, the process copies its executable into a memfd, seals
//! it against any write, grow or shrink (`F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK |
//! F_SEAL_SEAL`) and re-executes itself from that memfd. Every process that later enters a
//! container therefore has a sealed, anonymous in-memory file as `/proc/self/exe`: opening it for
//! write fails with EPERM, and the host binary is never reachable from inside. The copy costs one
//! `sendfile` of the (page-cached) binary plus one exec; `bench/runtime` measures it.

use rustix::fs::{fcntl_add_seals, fcntl_get_seals, memfd_create, MemfdFlags, SealFlags};
use std::ffi::CString;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;

const SEALS: SealFlags = SealFlags::SEAL
    .union(SealFlags::SHRINK)
    .union(SealFlags::GROW)
    .union(SealFlags::WRITE);

/// True if this process runs from a sealed memfd.
pub fn running_sealed() -> bool {
    let Ok(f) = std::fs::File::open("/proc/self/exe") else {
        return false;
    };
    fcntl_get_seals(&f).is_ok_and(|s| s.contains(SEALS))
}

/// Makes sure the process runs from a sealed copy of its binary, re-executing if needed.
/// Returns `Ok(())` only when already sealed; otherwise does not return (or returns the error).
pub fn ensure_sealed() -> io::Result<()> {
    if running_sealed() {
        return Ok(());
    }
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
    Err(berth_sys::process::fexecve(memfd.as_fd(), &argv, &envp))
}

//! Signal masks and synchronous waiting: `run` blocks signals before it clones the container so
//! that none (SIGCHLD above all) can be lost, then forwards them from a sigtimedwait loop.

use std::io;

/// A set of signals.
#[derive(Clone, Copy)]
pub struct SigSet(libc::sigset_t);

impl std::fmt::Debug for SigSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigSet")
    }
}

impl SigSet {
    /// The empty set.
    pub fn empty() -> Self {
        // SAFETY: sigset_t is a plain bit array; zeroed is a valid value that sigemptyset then
        // initializes properly.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: set is a valid sigset_t we own.
        unsafe { libc::sigemptyset(&mut set) };
        SigSet(set)
    }

    /// Every signal.
    pub fn all() -> Self {
        let mut s = Self::empty();
        // SAFETY: s.0 is a valid sigset_t we own.
        unsafe { libc::sigfillset(&mut s.0) };
        s
    }

    /// Removes one signal.
    pub fn remove(&mut self, sig: i32) {
        // SAFETY: s.0 is a valid sigset_t; an invalid signal number only yields EINVAL.
        unsafe { libc::sigdelset(&mut self.0, sig) };
    }

    /// Adds one signal.
    pub fn add(&mut self, sig: i32) {
        // SAFETY: s.0 is a valid sigset_t; an invalid signal number only yields EINVAL.
        unsafe { libc::sigaddset(&mut self.0, sig) };
    }
}

fn sigprocmask(how: i32, set: &SigSet) -> io::Result<SigSet> {
    let mut old = SigSet::empty();
    // SAFETY: both pointers refer to valid sigset_t values for the duration of the call.
    let ret = unsafe { libc::pthread_sigmask(how, &set.0, &mut old.0) };
    if ret != 0 {
        return Err(io::Error::from_raw_os_error(ret));
    }
    Ok(old)
}

/// Blocks the signals in `set`; returns the previous mask.
pub fn block(set: &SigSet) -> io::Result<SigSet> {
    sigprocmask(libc::SIG_BLOCK, set)
}

/// Replaces the signal mask; returns the previous mask.
pub fn set_mask(set: &SigSet) -> io::Result<SigSet> {
    sigprocmask(libc::SIG_SETMASK, set)
}

/// A signal read from a [`signalfd`].
#[derive(Debug, Clone, Copy)]
pub struct Received {
    /// The signal number.
    pub signo: i32,
    /// The sender's pid (for SIGCHLD, the child that changed state).
    pub pid: i32,
}

/// A signalfd that receives the (blocked) signals in `set`, so signals can be waited on with
/// poll(2) beside other fds (`run` with a terminal proxies I/O while it forwards signals).
pub fn signalfd(set: &SigSet) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: set.0 is a valid sigset_t; -1 asks for a new descriptor.
    let fd = unsafe { libc::signalfd(-1, &set.0, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) };
    if fd == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: signalfd returned a fresh descriptor that nothing else owns.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// Decodes one `struct signalfd_siginfo` (128 bytes) read from a signalfd.
pub fn decode_signalfd(buf: &[u8; 128]) -> Received {
    let word =
        |off: usize| u32::from_ne_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]]);
    // ssi_signo at offset 0, ssi_pid at offset 12.
    Received {
        signo: word(0) as i32,
        pid: word(12) as i32,
    }
}

/// kill(2) with a raw signal number: real-time signals included (systemd in a container stops on
/// SIGRTMIN+3, which Docker sends by number).
pub fn kill(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: kill takes two integers and touches no memory of ours.
    if unsafe { libc::kill(pid, sig) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// pidfd_send_signal(2) with a raw signal number (immune to pid reuse).
pub fn pidfd_send(pidfd: std::os::fd::BorrowedFd<'_>, sig: i32) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: a NULL siginfo asks the kernel to fill it as kill(2) would; the fd is borrowed for
    // the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Resets `sig` to its default disposition. The Rust runtime ignores SIGPIPE at start-up, and an
/// ignored signal stays ignored across exec, so the container's init must undo it.
pub fn reset_default(sig: i32) -> io::Result<()> {
    // SAFETY: installing SIG_DFL involves no handler code of ours.
    let ret = unsafe { libc::signal(sig, libc::SIG_DFL) };
    if ret == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Signal number from a name (`KILL`, `SIGKILL`, `sigterm`) or a number (`9`).
pub fn parse_signal(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let n = match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" | "IOT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "STKFLT" => libc::SIGSTKFLT,
        "CHLD" | "CLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        "VTALRM" => libc::SIGVTALRM,
        "PROF" => libc::SIGPROF,
        "WINCH" => libc::SIGWINCH,
        "IO" | "POLL" => libc::SIGIO,
        "PWR" => libc::SIGPWR,
        "SYS" => libc::SIGSYS,
        other => {
            let rt = other.strip_prefix("RTMIN")?;
            let base = libc::SIGRTMIN();
            if rt.is_empty() {
                base
            } else {
                base + rt.strip_prefix('+')?.parse::<i32>().ok()?
            }
        }
    };
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_signal_names_like_runc() {
        assert_eq!(parse_signal("KILL"), Some(9));
        assert_eq!(parse_signal("SIGTERM"), Some(15));
        assert_eq!(parse_signal("sigusr1"), Some(libc::SIGUSR1));
        assert_eq!(parse_signal("9"), Some(9));
        assert_eq!(parse_signal("0"), None);
        assert_eq!(parse_signal("NOPE"), None);
    }
}

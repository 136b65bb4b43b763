//! `kill`: signal the init (through a pidfd, immune to pid reuse) or every process (--all).

use crate::error::{Error, IoContext, Result};
use crate::state::ContainerState;
use crate::Runtime;
use std::os::fd::AsFd;

impl Runtime {
    /// `kill`.
    pub fn kill(&self, id: &str, signal: i32, all: bool) -> Result<()> {
        let _lock = self.lock(id)?;
        let st = ContainerState::load(&self.root, id)?;
        let status = st.status(&self.root);
        if !status.can_kill() {
            return Err(Error::BadStatus(format!(
                "cannot kill container {id}: container not running ({status})"
            )));
        }
        if all {
            signal_all(&st, signal)
        } else {
            signal_init(&st, signal)
        }
    }
}

/// Sends `signal` to the container's init.
pub(crate) fn signal_init(st: &ContainerState, signal: i32) -> Result<()> {
    if !(1..=64).contains(&signal) {
        return Err(Error::Usage(format!("invalid signal {signal}")));
    }
    let pid = rustix::process::Pid::from_raw(st.pid)
        .ok_or_else(|| Error::Usage(format!("bad pid {}", st.pid)))?;
    match rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()) {
        Ok(fd) => {
            // The start time check in status() already ruled out a recycled pid before we
            // opened the pidfd; from here the pidfd pins the process.
            if !crate::state::process_alive(st.pid, st.init_start_time) {
                return Ok(());
            }
            match berth_sys::signal::pidfd_send(fd.as_fd(), signal) {
                Ok(()) => Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
                Err(e) => Err(e).ctx(|| format!("signalling init of {}", st.id)),
            }
        }
        Err(rustix::io::Errno::SRCH) => Ok(()),
        Err(e) => Err(e).ctx(|| format!("pidfd_open of init of {}", st.id)),
    }
}

/// Sends `signal` to every process of the container's cgroup. For SIGKILL the cgroup is
/// frozen first so nothing can fork away, then thawed so the signals are delivered.
pub(crate) fn signal_all(st: &ContainerState, signal: i32) -> Result<()> {
    if !(1..=64).contains(&signal) {
        return Err(Error::Usage(format!("invalid signal {signal}")));
    }
    let mgr = super::create::cgroup_of(st)?;
    let freeze = signal == libc::SIGKILL;
    if freeze {
        let _ = mgr.freeze();
    }
    let pids = mgr.pids();
    for pid in pids.iter().flatten() {
        let _ = berth_sys::signal::kill(*pid, signal);
    }
    if freeze {
        let _ = mgr.thaw();
    }
    pids.map(|_| ()).map_err(Error::from)
}

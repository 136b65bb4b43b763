//! `delete`: remove a stopped (or never started) container; with --force, kill it first.

use crate::error::{Error, IoContext, Result};
use crate::state::{ContainerState, Status};
use crate::Runtime;
use oci_spec::runtime::LinuxNamespaceType;
use std::time::Duration;

impl Runtime {
    /// `delete [--force]`.
    pub fn delete(&self, id: &str, force: bool) -> Result<()> {
        let _lock = match self.lock(id) {
            Err(Error::NotFound(_)) if force => return Ok(()),
            r => r?,
        };
        let st = match ContainerState::load(&self.root, id) {
            // A directory without state: a create that crashed half-way. Clean it.
            Err(Error::NotFound(_)) => {
                let dir = ContainerState::dir(&self.root, id);
                return std::fs::remove_dir_all(&dir).path_ctx("removing", &dir);
            }
            r => r?,
        };
        let status = st.status(&self.root);
        match status {
            Status::Stopped => {}
            Status::Created | Status::Creating => {
                super::kill::signal_init(&st, libc::SIGKILL)?;
                wait_exit(st.pid, st.init_start_time);
            }
            Status::Running | Status::Paused if force => {
                super::kill::signal_all(&st, libc::SIGKILL)?;
                super::kill::signal_init(&st, libc::SIGKILL)?;
                wait_exit(st.pid, st.init_start_time);
            }
            s => {
                return Err(Error::BadStatus(format!(
                    "cannot delete container {id} that is not stopped: {s}"
                )))
            }
        }
        self.destroy(&st)
    }

    /// Removes what a dead container leaves: stray processes (when it shares the host's pid
    /// namespace), the cgroup, the state directory; then runs the poststop hooks.
    pub(crate) fn destroy(&self, st: &ContainerState) -> Result<()> {
        let own_pidns = st
            .config
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_ref())
            .is_some_and(|ns| {
                ns.iter()
                    .any(|n| n.typ() == LinuxNamespaceType::Pid && n.path().is_none())
            });
        let mgr = super::create::cgroup_of(st)?;
        if !own_pidns {
            let _ = super::kill::signal_all(st, libc::SIGKILL);
        }
        let mut res = mgr.destroy().map_err(Error::from);
        if res.is_err() {
            // A process still on its way out keeps the cgroup busy: give it a moment, once.
            let _ = super::kill::signal_all(st, libc::SIGKILL);
            std::thread::sleep(Duration::from_millis(50));
            res = mgr.destroy().map_err(Error::from);
        }
        if let Some(h) = st.config.hooks() {
            if let Err(e) = crate::hooks::run(
                "poststop",
                h.poststop().as_deref().unwrap_or_default(),
                &st.output(Status::Stopped),
            ) {
                eprintln!("berth-runc: warning: {e}");
            }
        }
        if let Some(base) = st.rootfs_mnt_id {
            crate::shared_mountns::detach_above(&st.rootfs, base);
        }
        let dir = ContainerState::dir(&self.root, &st.id);
        std::fs::remove_dir_all(&dir).path_ctx("removing", &dir)?;
        res
    }
}

/// Waits (up to 10 s) until the process is gone; a pidfd becomes readable when it exits.
pub(crate) fn wait_exit(pid: i32, start_time: u64) {
    let Some(p) = rustix::process::Pid::from_raw(pid) else {
        return;
    };
    let Ok(fd) = rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()) else {
        return;
    };
    if !crate::state::process_alive(pid, start_time) {
        return;
    }
    let mut pfd = [rustix::event::PollFd::new(
        &fd,
        rustix::event::PollFlags::IN,
    )];
    let timeout = rustix::event::Timespec {
        tv_sec: 10,
        tv_nsec: 0,
    };
    let _ = rustix::event::poll(&mut pfd, Some(&timeout));
}

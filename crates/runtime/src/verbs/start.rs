//! `start`: release the init waiting on the exec fifo, then run the poststart hooks.

use crate::error::{Error, IoContext, Result};
use crate::state::{ContainerState, Status, EXEC_ERROR, EXEC_FIFO};
use crate::Runtime;

impl Runtime {
    /// `start`.
    pub fn start(&self, id: &str) -> Result<()> {
        let _lock = self.lock(id)?;
        let st = ContainerState::load(&self.root, id)?;
        match st.status(&self.root) {
            Status::Created => self.start_created(&st),
            Status::Stopped => Err(Error::BadStatus(format!(
                "cannot start container {id}: it has stopped"
            ))),
            s => Err(Error::BadStatus(format!(
                "cannot start container {id}: it is already {s}"
            ))),
        }
    }

    pub(crate) fn start_created(&self, st: &ContainerState) -> Result<()> {
        let fifo = ContainerState::dir(&self.root, &st.id).join(EXEC_FIFO);
        let fd = match rustix::fs::open(
            &fifo,
            rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NXIO) => {
                return Err(Error::BadStatus(format!(
                    "cannot start container {}: its init is no longer waiting (it exited)",
                    st.id
                )))
            }
            Err(e) => return Err(e).path_ctx("opening", &fifo),
        };
        // Unlink first: from here on `state` says running, even before init reaches exec.
        std::fs::remove_file(&fifo).path_ctx("removing", &fifo)?;
        rustix::io::write(&fd, b"0").path_ctx("writing", &fifo)?;
        wait_for_exec(&fd, &fifo)?;
        drop(fd);
        let error_path = ContainerState::dir(&self.root, &st.id).join(EXEC_ERROR);
        match std::fs::read_to_string(&error_path) {
            Ok(e) if !e.is_empty() => {
                return Err(Error::Init(format!(
                    "cannot start container {}: {}",
                    st.id,
                    e.trim_end()
                )))
            }
            _ => {}
        }
        if let Some(h) = st.config.hooks() {
            // OCI: a failing poststart hook is a warning; the container keeps running.
            if let Err(e) = crate::hooks::run(
                "poststart",
                h.poststart().as_deref().unwrap_or_default(),
                &st.output(Status::Running),
            ) {
                eprintln!("berth-runc: warning: {e}");
            }
        }
        Ok(())
    }
}

/// Waits until the init has exec'd the container's program or died: its end of the exec fifo
/// is close-on-exec, so our write end reports POLLERR once no reader is left. What went wrong
/// in between (an exec that failed, a startContainer hook) is then in the exec-error file.
fn wait_for_exec(fd: &std::os::fd::OwnedFd, fifo: &std::path::Path) -> Result<()> {
    let mut pfd = [rustix::event::PollFd::new(
        fd,
        rustix::event::PollFlags::empty(),
    )];
    loop {
        match rustix::event::poll(&mut pfd, None) {
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e).path_ctx("waiting on", fifo),
        }
    }
}

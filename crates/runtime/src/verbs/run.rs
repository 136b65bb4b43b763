//! `run`: create + start, then (unless --detach) wait for the container, forward signals, and
//! delete it when it exits, returning its exit code.

use super::create::CreateOptions;
use crate::error::{IoContext, Result};
use crate::Runtime;

impl Runtime {
    /// `run [--detach]`. Returns the container's exit code (0 when detached).
    pub fn run(&self, id: &str, opts: &CreateOptions, detach: bool) -> Result<i32> {
        // Block the signals we forward before the container exists, so that none (above all
        // SIGCHLD of a container that exits at once) can be lost; the init restores the mask
        // before exec.
        let saved = if detach {
            berth_sys::signal::block(&berth_sys::signal::SigSet::empty())
        } else {
            berth_sys::signal::block(&super::foreground::forwarded_signals())
        }
        .ctx(|| "blocking signals".into())?;
        let spawned = self.spawn(id, opts, !detach, saved)?;
        let started = self.start_created(&spawned.state);
        if detach {
            return started.map(|()| 0);
        }
        if let Err(e) = started {
            let _ = super::kill::signal_init(&spawned.state, libc::SIGKILL);
            let _ = rustix::process::waitpid(
                rustix::process::Pid::from_raw(spawned.state.pid),
                rustix::process::WaitOptions::empty(),
            );
            let _ = self.destroy(&spawned.state);
            return Err(e);
        }
        crate::trace::mark("run: started");
        let code = super::foreground::wait(spawned.state.pid, spawned.console_master);
        crate::trace::mark("run: exited");
        let _lock = self.lock(id);
        let cleaned = self.destroy(&spawned.state);
        crate::trace::mark("run: destroyed");
        let code = code?;
        cleaned?;
        Ok(code)
    }
}

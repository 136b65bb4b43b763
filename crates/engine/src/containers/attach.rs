//! Attaching to a container's stdio. The monitor serves attach clients on a unix socket; a
//! client that attaches before the container runs (as `docker run` and `docker start -a` do)
//! waits here and is handed the socket at the next start, which waits until it has connected
//! so not a byte of output is missed.

use crate::error::Result;
use crate::monitor::MonitorFiles;
use crate::Engine;
use std::path::PathBuf;
use std::sync::Mutex;
use tokio::sync::oneshot;

/// Where an attach client connects.
#[derive(Debug)]
pub struct AttachTarget {
    pub socket: PathBuf,
    pub ctl: PathBuf,
    pub tty: bool,
    /// Tell the starter that the client has connected (dropping it says the same).
    pub connected: Option<oneshot::Sender<()>>,
}

/// An attach that is ready now or at the next start.
#[derive(Debug)]
pub enum AttachWait {
    Now(AttachTarget),
    Later(oneshot::Receiver<AttachTarget>),
}

/// Attach clients waiting for the next start.
#[derive(Debug, Default)]
pub(crate) struct Attachments {
    pub(crate) pending: Mutex<Vec<oneshot::Sender<AttachTarget>>>,
}

impl Engine {
    /// Where to attach to a container's stdio: now if it runs, else at its next start.
    pub fn container_attach(&self, key: &str) -> Result<AttachWait> {
        let c = self.containers.find(key)?;
        let rec = c.record();
        let files = MonitorFiles::new(self.paths.run_dir(&rec.id));
        let tty = rec.config.tty.unwrap_or(false);
        if rec.state.status.is_live() && files.attach_socket().exists() {
            return Ok(AttachWait::Now(AttachTarget {
                socket: files.attach_socket(),
                ctl: files.ctl_socket(),
                tty,
                connected: None,
            }));
        }
        let (tx, rx) = oneshot::channel();
        c.attach
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(tx);
        Ok(AttachWait::Later(rx))
    }
}

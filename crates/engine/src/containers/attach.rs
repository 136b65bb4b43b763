//! Attach streams: clients that attach before `start` wait here and are connected to the
//! monitor's attach socket when the container starts.

use std::sync::Mutex;

/// Attach streams waiting for the next start.
#[derive(Debug, Default)]
pub(crate) struct Attachments {
    pub(crate) pending: Mutex<Vec<PendingAttach>>,
}

/// One client waiting for the container to start.
#[derive(Debug)]
pub(crate) struct PendingAttach {
    pub(crate) ready: tokio::sync::oneshot::Sender<std::path::PathBuf>,
}

//! Progress reports from long operations (pull, push), for callers that show them (the daemon
//! turns them into Docker's JSON progress messages). A report is a plain callback: it runs on
//! whichever task or thread made progress, so it must be cheap and must not block.

use crate::digest::Digest;
use crate::manifest::Descriptor;
use std::sync::Arc;

/// A progress callback, or none.
pub struct Reporter<E>(Option<Arc<dyn Fn(E) + Send + Sync>>);

impl<E> Reporter<E> {
    /// Reports every event to `f`.
    pub fn new(f: impl Fn(E) + Send + Sync + 'static) -> Reporter<E> {
        Reporter(Some(Arc::new(f)))
    }
    /// Reports nothing.
    pub fn none() -> Reporter<E> {
        Reporter(None)
    }
    pub(crate) fn report(&self, e: E) {
        if let Some(f) = &self.0 {
            f(e)
        }
    }
}

impl<E> Clone for Reporter<E> {
    fn clone(&self) -> Self {
        Reporter(self.0.clone())
    }
}

impl<E> Default for Reporter<E> {
    fn default() -> Self {
        Reporter(None)
    }
}

impl<E> std::fmt::Debug for Reporter<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Reporter(callback)"
        } else {
            "Reporter(none)"
        })
    }
}

/// What a pull reports, in order per layer: `LayerExists`, or `Downloading`... then
/// `Downloaded` then `LayerDone`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullEvent {
    /// The platform manifest is known: its digest and its layers, bottom first.
    Resolved {
        manifest_digest: Digest,
        layers: Vec<Descriptor>,
    },
    /// The layer's blob and snapshot are already in the store.
    LayerExists { digest: Digest },
    /// Bytes of the layer's blob written so far (a resumed download starts above zero).
    Downloading {
        digest: Digest,
        current: u64,
        total: u64,
    },
    /// The blob is complete and verified; unpacking may still be going on.
    Downloaded { digest: Digest },
    /// The layer is unpacked and committed as a snapshot.
    LayerDone { digest: Digest },
}

/// What a push reports for each blob (layers, then the config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushEvent {
    /// Upload of a blob starts (or its presence is checked).
    Pushing { digest: Digest, size: u64 },
    /// The blob is in the registry: uploaded (or mounted) when `uploaded`, else it was there.
    Pushed { digest: Digest, uploaded: bool },
}

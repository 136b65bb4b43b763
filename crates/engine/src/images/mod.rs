//! Images through the daemon: pull, push, tag, remove, list, inspect, history, save, load,
//! import, prune, and registry login. One file per verb; the image store itself is
//! `berth-image`'s, the engine adds Docker's names, messages, events and the checks against
//! containers.

pub mod archive;
pub mod auth;
pub mod history;
pub mod inspect;
pub mod list;
pub mod progress;
pub mod prune;
pub mod pull;
pub mod push;
pub mod remove;
pub mod resolve;
pub mod tag;

pub use archive::TmpFile;
pub use auth::RegistryAuth;
pub use progress::ProgressTx;
pub use resolve::ResolvedImage;

use crate::Engine;
use bollard_stubs::models::EventMessageTypeEnum;
use std::collections::HashMap;

impl Engine {
    /// Publishes an image event (`pull`, `push`, `tag`, `untag`, `delete`, `load`, `import`,
    /// `save`) about `id` with the image `name` as attribute, as dockerd does.
    pub(crate) fn image_event(&self, action: &str, id: &str, name: Option<&str>) {
        let mut attrs = HashMap::new();
        attrs.insert("name".to_string(), name.unwrap_or(id).to_string());
        self.events
            .publish(EventMessageTypeEnum::IMAGE, action, id, attrs);
    }

    /// Runs blocking image-store work off the async threads.
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(Engine) -> crate::Result<T> + Send + 'static,
    ) -> crate::Result<T> {
        let engine = self.clone();
        tokio::task::spawn_blocking(move || f(engine))
            .await
            .map_err(|e| crate::Error::internal("image task", e))?
    }
}

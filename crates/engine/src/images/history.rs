//! `docker history` (`GET /images/{name}/history`): the config's history, newest first.

use super::inspect::not_found;
use crate::error::Result;
use crate::util::unix_seconds;
use crate::Engine;
use bollard_stubs::models::ImageHistoryResponseItem;

impl Engine {
    /// One entry per history step, newest first; the newest carries the image ID and tags,
    /// the others `<missing>` (as for any pulled image in dockerd). A step that made a layer
    /// shows that layer's size.
    pub async fn image_history(&self, name: &str) -> Result<Vec<ImageHistoryResponseItem>> {
        let name = name.to_string();
        self.blocking(move |e| {
            let d = e
                .images
                .inspect(&name)
                .map_err(|err| not_found(err, &name))?;
            let mut layers = d.manifest.layers.iter();
            let mut out: Vec<ImageHistoryResponseItem> = Vec::new();
            let history = if d.config.history.is_empty() {
                // No history recorded: one step per layer.
                d.manifest
                    .layers
                    .iter()
                    .map(|_| Default::default())
                    .collect()
            } else {
                d.config.history.clone()
            };
            for h in &history {
                let size = if h.empty_layer.unwrap_or(false) {
                    0
                } else {
                    layers.next().map_or(0, |l| l.size as i64)
                };
                out.push(ImageHistoryResponseItem {
                    id: "<missing>".into(),
                    created: h.created.as_deref().map_or(0, unix_seconds),
                    created_by: h.created_by.clone().unwrap_or_default(),
                    tags: Vec::new(),
                    size,
                    comment: h.comment.clone().unwrap_or_default(),
                });
            }
            out.reverse();
            if let Some(top) = out.first_mut() {
                top.id = d.id.to_string();
                top.tags = d.repo_tags.clone();
            } else {
                out.push(ImageHistoryResponseItem {
                    id: d.id.to_string(),
                    tags: d.repo_tags.clone(),
                    ..Default::default()
                });
            }
            Ok(out)
        })
        .await
    }
}

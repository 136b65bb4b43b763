//! `docker image prune` (`POST /images/prune`): dangling images, or with `dangling=false`
//! every image no container uses; then garbage collection.

use crate::error::{Error, Result};
use crate::Engine;
use bollard_stubs::models::{ImageDeleteResponseItem, ImagePruneResponse};
use std::collections::{HashMap, HashSet};

impl Engine {
    /// Removes unused images: dangling ones only unless the `dangling` filter is `false`;
    /// `label` filters (`k`, `k=v`, `label!=`) narrow the choice.
    pub async fn image_prune(
        &self,
        filters: HashMap<String, Vec<String>>,
    ) -> Result<ImagePruneResponse> {
        for key in filters.keys() {
            if !matches!(key.as_str(), "dangling" | "label" | "label!" | "until") {
                return Err(Error::InvalidArgument(format!("invalid filter '{key}'")));
            }
        }
        let dangling_only = filters
            .get("dangling")
            .and_then(|v| v.first())
            .is_none_or(|v| !matches!(v.as_str(), "false" | "0"));
        let used: HashSet<String> = self
            .containers
            .all()
            .iter()
            .map(|c| c.record().image)
            .collect();
        let (resp, events) = self
            .blocking(move |e| {
                let mut deleted = Vec::new();
                let mut events = Vec::new();
                let mut reclaimed = 0i64;
                for d in e.images.list()? {
                    let id = d.id.to_string();
                    if used.contains(&id) || (dangling_only && !d.repo_tags.is_empty()) {
                        continue;
                    }
                    let labels = d
                        .config
                        .config
                        .as_ref()
                        .and_then(|c| c.labels.clone())
                        .unwrap_or_default();
                    let has = |l: &String| match l.split_once('=') {
                        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
                        None => labels.contains_key(l.as_str()),
                    };
                    if filters.get("label").is_some_and(|ls| !ls.iter().all(has))
                        || filters.get("label!").is_some_and(|ls| ls.iter().any(has))
                    {
                        continue;
                    }
                    for t in &d.repo_tags {
                        deleted.push(ImageDeleteResponseItem {
                            untagged: Some(t.clone()),
                            deleted: None,
                        });
                        events.push(("untag", id.clone(), Some(t.clone())));
                    }
                    e.images.delete(id.strip_prefix("sha256:").unwrap_or(&id))?;
                    deleted.push(ImageDeleteResponseItem {
                        untagged: None,
                        deleted: Some(id.clone()),
                    });
                    events.push(("delete", id.clone(), None));
                    reclaimed += d.size as i64;
                }
                Ok((
                    ImagePruneResponse {
                        images_deleted: Some(deleted),
                        space_reclaimed: Some(reclaimed),
                    },
                    events,
                ))
            })
            .await?;
        for (action, id, name) in events {
            self.image_event(action, &id, name.as_deref());
        }
        self.image_event("prune", "", None);
        Ok(resp)
    }
}

//! `docker images` (`GET /images/json`): one summary per image with Docker's filters.

use crate::error::{Error, Result};
use crate::util::unix_seconds;
use crate::Engine;
use berth_image::store::ImageDetails;
use berth_image::Reference;
use bollard_stubs::models::ImageSummary;
use std::collections::HashMap;

impl Engine {
    /// Every image (`all` changes nothing: there are no intermediate images), filtered by
    /// `dangling`, `label`, `reference`, `before` and `since`, newest first.
    pub async fn image_list(
        &self,
        filters: HashMap<String, Vec<String>>,
    ) -> Result<Vec<ImageSummary>> {
        self.blocking(move |e| e.image_list_blocking(&filters))
            .await
    }

    fn image_list_blocking(
        &self,
        filters: &HashMap<String, Vec<String>>,
    ) -> Result<Vec<ImageSummary>> {
        for key in filters.keys() {
            if !matches!(
                key.as_str(),
                "dangling" | "label" | "reference" | "before" | "since" | "until"
            ) {
                return Err(Error::InvalidArgument(format!("invalid filter '{key}'")));
            }
        }
        let created_of = |name: &str| -> Result<i64> {
            let d = self.images.inspect(name).map_err(|e| match e {
                berth_image::Error::NotFound { .. } => super::resolve::no_such_image(name),
                e => Error::Image(e),
            })?;
            Ok(created(&d))
        };
        let before = filters
            .get("before")
            .and_then(|v| v.first())
            .map(|n| created_of(n))
            .transpose()?;
        let since = filters
            .get("since")
            .and_then(|v| v.first())
            .map(|n| created_of(n))
            .transpose()?;
        let mut out = Vec::new();
        for d in self.images.list()? {
            let s = summary(&d);
            if let Some(v) = filters.get("dangling") {
                let want = v.iter().any(|x| x == "true" || x == "1");
                if want != s.repo_tags.is_empty() {
                    continue;
                }
            }
            if let Some(labels) = filters.get("label") {
                let ok = labels.iter().all(|l| match l.split_once('=') {
                    Some((k, v)) => s.labels.get(k).is_some_and(|x| x == v),
                    None => s.labels.contains_key(l.as_str()),
                });
                if !ok {
                    continue;
                }
            }
            if let Some(patterns) = filters.get("reference") {
                if !patterns
                    .iter()
                    .any(|p| s.repo_tags.iter().any(|t| reference_matches(p, t)))
                {
                    continue;
                }
            }
            if before.is_some_and(|b| s.created >= b) || since.is_some_and(|b| s.created <= b) {
                continue;
            }
            out.push(s);
        }
        out.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
        Ok(out)
    }
}

/// Seconds since the epoch of the image's `created`.
pub(crate) fn created(d: &ImageDetails) -> i64 {
    d.config.created.as_deref().map_or(0, unix_seconds)
}

/// Docker's `ImageSummary` of one image.
pub(crate) fn summary(d: &ImageDetails) -> ImageSummary {
    ImageSummary {
        id: d.id.to_string(),
        parent_id: String::new(),
        repo_tags: d.repo_tags.clone(),
        repo_digests: d.repo_digests.iter().map(|r| familiar_digest(r)).collect(),
        created: created(d),
        size: d.size as i64,
        shared_size: -1,
        labels: d
            .config
            .config
            .as_ref()
            .and_then(|c| c.labels.clone())
            .unwrap_or_default()
            .into_iter()
            .collect(),
        containers: -1,
        manifests: None,
        descriptor: None,
    }
}

/// `docker.io/library/busybox@sha256:..` as Docker shows it (`busybox@sha256:..`).
pub(crate) fn familiar_digest(r: &str) -> String {
    Reference::parse(r).map_or_else(|_| r.to_string(), |x| x.familiar())
}

/// Docker's `reference` filter: a glob (`*` within one path component, `?`) against the
/// familiar name with and without its tag.
pub(crate) fn reference_matches(pattern: &str, repo_tag: &str) -> bool {
    let name =
        repo_tag.rsplit_once(':').map_or(
            repo_tag,
            |(n, t)| {
                if t.contains('/') {
                    repo_tag
                } else {
                    n
                }
            },
        );
    glob(pattern.as_bytes(), repo_tag.as_bytes()) || glob(pattern.as_bytes(), name.as_bytes())
}

fn glob(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob(&p[1..], s) || (!s.is_empty() && s[0] != b'/' && glob(p, &s[1..])),
        (Some(b'?'), Some(c)) if *c != b'/' => glob(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => glob(&p[1..], &s[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_filter() {
        assert!(reference_matches("busybox", "busybox:latest"));
        assert!(reference_matches("busy*", "busybox:latest"));
        assert!(reference_matches("busybox:lat*", "busybox:latest"));
        assert!(!reference_matches("busybox", "other:latest"));
        assert!(!reference_matches("*", "localhost:5000/a:1"));
        assert!(reference_matches("localhost:5000/*", "localhost:5000/a:1"));
    }
}

//! `docker pull`: berth-image's pull, reported as Docker's progress messages.

use super::auth::RegistryAuth;
use super::progress::{self, ProgressTx};
use crate::error::{Error, Result};
use crate::Engine;
use berth_image::manifest::Platform;
use berth_image::progress::{PullEvent, Reporter};
use berth_image::pull::PullOptions;
use berth_image::Reference;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Docker's answer to a malformed name.
pub(crate) fn invalid_reference(name: &str) -> Error {
    Error::InvalidArgument(format!(
        "invalid reference format: repository name ({name}) must be lowercase"
    ))
}

/// Parses a user-given name like Docker (`invalid reference format` when it does not parse).
pub(crate) fn parse_reference(name: &str) -> Result<Reference> {
    Reference::parse(name).map_err(|_| {
        if name.chars().any(|c| c.is_ascii_uppercase()) {
            invalid_reference(name)
        } else {
            Error::InvalidArgument("invalid reference format".into())
        }
    })
}

/// `fromImage` and `tag` of `POST /images/create` as one reference (the tag may be a digest).
pub fn pull_reference(from_image: &str, tag: Option<&str>) -> Result<Reference> {
    let name = match tag.filter(|t| !t.is_empty()) {
        Some(t) if t.contains(':') => format!("{from_image}@{t}"),
        Some(t) => format!("{from_image}:{t}"),
        None => from_image.to_string(),
    };
    parse_reference(&name)
}

impl Engine {
    /// Pulls `reference`, sending Docker's progress messages to `tx`. Nothing is sent before
    /// the manifest is found, so an error before the first message can still be an HTTP error
    /// (dockerd's rule); later errors are for the caller to put in the stream.
    pub async fn image_pull(
        &self,
        reference: &Reference,
        platform: Option<&str>,
        auth: Option<&RegistryAuth>,
        tx: ProgressTx,
    ) -> Result<()> {
        let platform = platform
            .filter(|p| !p.is_empty())
            .map(Platform::parse)
            .transpose()
            .map_err(|e| Error::InvalidArgument(format!("invalid platform: {e}")))?;
        let client = self.registry_client(reference.registry(), auth)?;
        let before = self
            .images
            .find(&reference.to_string())
            .ok()
            .map(|r| r.target.digest);
        let (etx, erx) = tokio::sync::mpsc::unbounded_channel();
        let opts = PullOptions {
            platform,
            progress: Reporter::new(move |e| {
                let _ = etx.send(e);
            }),
            ..Default::default()
        };
        let forward = tokio::spawn(forward(erx, tx.clone(), reference.clone()));
        let pulled = berth_image::pull::pull(&self.images, &client, reference, &opts).await;
        // The reporter's sender goes with the options: the forwarder then drains and ends.
        drop(opts);
        let _ = forward.await;
        let pulled = pulled.map_err(|e| pull_error(e, reference))?;
        let familiar = reference.familiar();
        let _ = tx
            .send(progress::status(
                None,
                &format!("Digest: {}", pulled.target.digest),
            ))
            .await;
        let fresh = before.as_ref() != Some(&pulled.target.digest);
        let _ = tx
            .send(progress::status(
                None,
                &if fresh {
                    format!("Status: Downloaded newer image for {familiar}")
                } else {
                    format!("Status: Image is up to date for {familiar}")
                },
            ))
            .await;
        self.image_event("pull", &familiar, Some(&familiar));
        Ok(())
    }
}

/// Turns pull events into Docker's messages; download progress at most every 100 ms per
/// layer.
async fn forward(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<PullEvent>,
    tx: ProgressTx,
    reference: Reference,
) {
    let mut last: HashMap<String, Instant> = HashMap::new();
    let mut sizes: HashMap<String, u64> = HashMap::new();
    while let Some(e) = rx.recv().await {
        let msg = match e {
            PullEvent::Resolved { layers, .. } => {
                let tag = reference
                    .tag()
                    .map(str::to_string)
                    .or_else(|| reference.digest().map(|d| d.to_string()))
                    .unwrap_or_default();
                let repo = Reference::parse(&reference.name())
                    .map(|r| r.familiar())
                    .unwrap_or_else(|_| reference.name());
                let repo = repo.strip_suffix(":latest").unwrap_or(&repo).to_string();
                let _ = tx
                    .send(progress::status(
                        Some(&tag),
                        &format!("Pulling from {repo}"),
                    ))
                    .await;
                for l in &layers {
                    sizes.insert(l.digest.to_string(), l.size);
                    let _ = tx
                        .send(progress::status(
                            Some(&progress::short_id(&l.digest.to_string())),
                            "Pulling fs layer",
                        ))
                        .await;
                }
                continue;
            }
            PullEvent::LayerExists { digest } => progress::status(
                Some(&progress::short_id(&digest.to_string())),
                "Already exists",
            ),
            PullEvent::Downloading {
                digest,
                current,
                total,
            } => {
                let key = digest.to_string();
                let now = Instant::now();
                let due = last
                    .get(&key)
                    .is_none_or(|t| now.duration_since(*t) >= Duration::from_millis(100));
                if !due && current < total {
                    continue;
                }
                last.insert(key.clone(), now);
                progress::bar(&progress::short_id(&key), "Downloading", current, total)
            }
            PullEvent::Downloaded { digest } => {
                let id = progress::short_id(&digest.to_string());
                let _ = tx
                    .send(progress::status(Some(&id), "Verifying Checksum"))
                    .await;
                let _ = tx
                    .send(progress::status(Some(&id), "Download complete"))
                    .await;
                let size = sizes.get(&digest.to_string()).copied().unwrap_or(0);
                progress::bar(&id, "Extracting", size, size)
            }
            PullEvent::LayerDone { digest } => progress::status(
                Some(&progress::short_id(&digest.to_string())),
                "Pull complete",
            ),
        };
        let _ = tx.send(msg).await;
    }
}

/// Docker's messages for the errors users meet when pulling.
fn pull_error(e: berth_image::Error, reference: &Reference) -> Error {
    let familiar = reference.familiar();
    match e {
        berth_image::Error::NotFound {
            kind: "manifest", ..
        }
        | berth_image::Error::Registry { status: 404, .. } => Error::NotFound(format!(
            "manifest for {familiar} not found: manifest unknown: manifest unknown"
        )),
        berth_image::Error::Auth { reason, .. } => {
            let repo = Reference::parse(&reference.name())
                .map(|r| r.familiar())
                .unwrap_or_else(|_| reference.name());
            let repo = repo.strip_suffix(":latest").unwrap_or(&repo).to_string();
            // NotFound as in dockerd: a 401 would make the docker CLI prompt for a login.
            Error::NotFound(format!(
                "pull access denied for {repo}, repository does not exist or may require 'docker login': {reason}"
            ))
        }
        e => Error::Image(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_image_and_tag() {
        let r = pull_reference("busybox", Some("1.36")).expect("ok");
        assert_eq!(r.to_string(), "docker.io/library/busybox:1.36");
        let r = pull_reference("localhost:5000/a/b", None).expect("ok");
        assert_eq!(r.to_string(), "localhost:5000/a/b:latest");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = pull_reference("busybox", Some(&d)).expect("ok");
        assert_eq!(r.digest().map(|x| x.to_string()), Some(d));
        assert!(pull_reference("BusyBox", None)
            .expect_err("upper case")
            .to_string()
            .contains("invalid reference format"));
    }
}

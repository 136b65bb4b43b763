//! `docker push`: berth-image's push, reported as Docker's progress messages.

use super::auth::RegistryAuth;
use super::progress::{self, ProgressTx};
use super::pull::parse_reference;
use crate::error::{Error, Result};
use crate::Engine;
use berth_image::progress::{PushEvent, Reporter};
use berth_image::push::PushOptions;
use berth_image::Reference;
use std::collections::HashSet;

impl Engine {
    /// Pushes `name` (with `tag`, or every local tag of the repository when neither gives
    /// one), sending Docker's progress messages to `tx`. A missing local image is an error
    /// before any message.
    pub async fn image_push(
        &self,
        name: &str,
        tag: Option<&str>,
        auth: Option<&RegistryAuth>,
        tx: ProgressTx,
    ) -> Result<()> {
        let tag = tag.filter(|t| !t.is_empty());
        let base = parse_reference(name)?;
        let explicit_tag =
            tag.is_some() || name.rsplit('/').next().is_some_and(|l| l.contains(':'));
        let targets: Vec<Reference> = if let Some(t) = tag {
            vec![base
                .with_tag(t)
                .map_err(|e| Error::InvalidArgument(e.to_string()))?]
        } else if explicit_tag || base.digest().is_some() {
            vec![base.clone()]
        } else {
            let repo = base.name();
            let mut v: Vec<Reference> = self
                .images
                .records()?
                .into_iter()
                .filter_map(|r| Reference::parse(&r.name).ok())
                .filter(|r| r.name() == repo && r.tag().is_some() && r.digest().is_none())
                .collect();
            v.sort_by_key(|r| r.to_string());
            v
        };
        let familiar_repo = {
            let f = base.familiar();
            f.strip_suffix(&format!(":{}", base.tag().unwrap_or("latest")))
                .unwrap_or(&f)
                .to_string()
        };
        if targets.is_empty()
            || targets
                .iter()
                .any(|t| self.images.find(&t.to_string()).is_err())
        {
            return Err(Error::NotFound(format!(
                "An image does not exist locally with the tag: {familiar_repo}"
            )));
        }
        let client = self.registry_client(base.registry(), auth)?;
        let _ = tx
            .send(progress::status(
                None,
                &format!("The push refers to repository [{}]", base.name()),
            ))
            .await;
        for target in targets {
            let details = self.images.inspect(&target.to_string())?;
            let layers: HashSet<String> = details
                .manifest
                .layers
                .iter()
                .map(|l| l.digest.to_string())
                .collect();
            // Docker lists layers top first.
            for l in details.manifest.layers.iter().rev() {
                let _ = tx
                    .send(progress::status(
                        Some(&progress::short_id(&l.digest.to_string())),
                        "Preparing",
                    ))
                    .await;
            }
            let (etx, mut erx) = tokio::sync::mpsc::unbounded_channel();
            let opts = PushOptions {
                progress: Reporter::new(move |e| {
                    let _ = etx.send(e);
                }),
                ..Default::default()
            };
            let fwd_tx = tx.clone();
            let forward = tokio::spawn(async move {
                while let Some(e) = erx.recv().await {
                    let msg = match e {
                        PushEvent::Pushing { digest, size }
                            if layers.contains(&digest.to_string()) =>
                        {
                            progress::bar(
                                &progress::short_id(&digest.to_string()),
                                "Pushing",
                                0,
                                size,
                            )
                        }
                        PushEvent::Pushed { digest, uploaded }
                            if layers.contains(&digest.to_string()) =>
                        {
                            progress::status(
                                Some(&progress::short_id(&digest.to_string())),
                                if uploaded {
                                    "Pushed"
                                } else {
                                    "Layer already exists"
                                },
                            )
                        }
                        _ => continue,
                    };
                    let _ = fwd_tx.send(msg).await;
                }
            });
            let pushed =
                berth_image::push::push(&self.images, &client, &target.to_string(), &target, &opts)
                    .await;
            drop(opts);
            let _ = forward.await;
            let digest = pushed.map_err(|e| match e {
                berth_image::Error::Auth { reason, .. } => Error::Unauthorized(reason),
                e => Error::Image(e),
            })?;
            let size = self.images.content().size(&digest).unwrap_or(0);
            let tag = target.tag().unwrap_or("latest").to_string();
            let _ = tx
                .send(progress::status(
                    None,
                    &format!("{tag}: digest: {digest} size: {size}"),
                ))
                .await;
            let _ = tx
                .send(serde_json::json!({
                    "progressDetail": {},
                    "aux": {"Tag": tag, "Digest": digest.to_string(), "Size": size},
                }))
                .await;
            let familiar = target.familiar();
            self.image_event("push", &familiar, Some(&familiar));
        }
        Ok(())
    }
}

//! Push: blobs (HEAD check, cross-repository mount, POST + PUT or chunked PATCH), then the
//! manifest's exact bytes under the tag with its own media type.

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::manifest::{parse_document, Descriptor, Document, MAX_MANIFEST_BYTES};
use crate::progress::{PushEvent, Reporter};
use crate::reference::Reference;
use crate::registry::{Client, Repository};
use crate::store::ImageStore;
use std::io::{Read, Seek, SeekFrom};

/// How to push.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Blobs larger than this go up in PATCH chunks of this size; smaller ones in one PUT.
    pub chunk_size: usize,
    /// A repository on the same registry to mount blobs from (cross-repository mount).
    pub mount_from: Option<String>,
    /// Where progress goes.
    pub progress: Reporter<PushEvent>,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            chunk_size: 16 << 20,
            mount_from: None,
            progress: Reporter::none(),
        }
    }
}

/// Pushes local image `local` to `dest`; returns the pushed manifest (or index) digest.
pub async fn push(
    store: &ImageStore,
    client: &Client,
    local: &str,
    dest: &Reference,
    opts: &PushOptions,
) -> Result<Digest> {
    let rec = store.find(local)?;
    let repo = client.repository(dest, true).await?;
    let target = rec.target.clone();
    let bytes = store
        .content()
        .read_limited(&target.digest, MAX_MANIFEST_BYTES as u64)?;
    let (doc_bytes, doc_type, doc_digest) =
        match parse_document(&bytes, Some(&target.media_type), local)? {
            Document::Manifest(m) => {
                push_manifest_blobs(store, &repo, &m.config, &m.layers, opts).await?;
                (bytes, target.media_type.clone(), target.digest.clone())
            }
            Document::Index(index) => {
                let all_local = index
                    .manifests
                    .iter()
                    .all(|d| store.content().exists(&d.digest));
                if all_local {
                    for d in &index.manifests {
                        let mb = store
                            .content()
                            .read_limited(&d.digest, MAX_MANIFEST_BYTES as u64)?;
                        if let Document::Manifest(m) =
                            parse_document(&mb, Some(&d.media_type), local)?
                        {
                            push_manifest_blobs(store, &repo, &m.config, &m.layers, opts).await?;
                        }
                        repo.put_manifest(&d.digest.to_string(), &mb, &d.media_type)
                            .await?;
                    }
                    (bytes, target.media_type.clone(), target.digest.clone())
                } else {
                    // Only this platform was pulled: push its manifest alone.
                    let details = store.details_of(&rec, None)?;
                    let mb = store
                        .content()
                        .read_limited(&details.manifest_digest, MAX_MANIFEST_BYTES as u64)?;
                    push_manifest_blobs(
                        store,
                        &repo,
                        &details.manifest.config,
                        &details.manifest.layers,
                        opts,
                    )
                    .await?;
                    let mt = details
                        .manifest
                        .media_type
                        .clone()
                        .unwrap_or_else(|| crate::media::OCI_MANIFEST.into());
                    (mb, mt, details.manifest_digest)
                }
            }
        };
    let tag = dest
        .tag()
        .map_or_else(|| doc_digest.to_string(), str::to_string);
    repo.put_manifest(&tag, &doc_bytes, &doc_type).await?;
    Ok(doc_digest)
}

async fn push_manifest_blobs(
    store: &ImageStore,
    repo: &Repository,
    config: &Descriptor,
    layers: &[Descriptor],
    opts: &PushOptions,
) -> Result<()> {
    for d in layers.iter().chain(std::iter::once(config)) {
        let path = store.content().blob_path(&d.digest);
        let mut file = store.content().open_blob(&d.digest)?;
        let size = file.metadata().io("stat", &path)?.len();
        if size != d.size {
            return Err(Error::Verification {
                digest: d.digest.to_string(),
                reason: format!("local blob has {size} bytes, manifest says {}", d.size),
            });
        }
        let read = |offset: u64, len: usize| -> Result<Vec<u8>> {
            let mut buf = vec![0u8; len];
            file.seek(SeekFrom::Start(offset)).io("seek", &path)?;
            file.read_exact(&mut buf).io("read", &path)?;
            Ok(buf)
        };
        opts.progress.report(PushEvent::Pushing {
            digest: d.digest.clone(),
            size,
        });
        let uploaded = repo
            .push_blob(
                &d.digest,
                size,
                read,
                opts.mount_from.as_deref(),
                opts.chunk_size,
            )
            .await?;
        opts.progress.report(PushEvent::Pushed {
            digest: d.digest.clone(),
            uploaded,
        });
    }
    Ok(())
}

//! Pull: manifest (platform chosen from an index), config, then layers in parallel.
//!
//! Each layer is downloaded into the content store's resumable ingest while a blocking thread
//! follows the same file as it grows, decompressing and unpacking into a fresh snapshot; so
//! download, decompression and file writes overlap and no blob is ever held in memory. A layer
//! is committed (blob and snapshot) only when its digest, size and diffID all check out; on any
//! failure the snapshots made so far by this pull that are not committed are removed.

use crate::config::ImageConfig;
use crate::content::Ingest;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::layer::{chain_ids, commit_layer, unpack_layer, Prepared};
use crate::manifest::{parse_document, Descriptor, Document, Platform};
use crate::progress::{PullEvent, Reporter};
use crate::reference::Reference;
use crate::registry::{Client, Repository};
use crate::snapshot::Driver;
use crate::store::{ImageStore, MAX_CONFIG_BYTES};
use crate::unpack::Compression;
use std::fs::File;
use std::io::Read;
use std::sync::{Arc, Condvar, Mutex};

/// How to pull.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// Platform to pick from an index (default: the host's).
    pub platform: Option<Platform>,
    /// Layers downloaded at once.
    pub parallel: usize,
    /// Unpack into snapshots (false: content only, like `skopeo copy`).
    pub unpack: bool,
    /// Where progress goes.
    pub progress: Reporter<PullEvent>,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            platform: None,
            parallel: 3,
            unpack: true,
            progress: Reporter::none(),
        }
    }
}

/// What a pull produced.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The manifest or index the reference resolved to (recorded under the name).
    pub target: Descriptor,
    /// The platform manifest's digest.
    pub manifest_digest: Digest,
    /// Image ID (config digest).
    pub id: Digest,
    /// Top layer chain ID (the snapshot to prepare a container on).
    pub chain_id: Option<Digest>,
}

/// Pulls `reference` into `store` and names it.
pub async fn pull(
    store: &ImageStore,
    client: &Client,
    reference: &Reference,
    opts: &PullOptions,
) -> Result<Pulled> {
    let _writing = store.writing_lock()?;
    let repo = client.repository(reference, false).await?;
    let display = reference.to_string();
    let (bytes, ct, digest) = repo.get_manifest(&reference.object()).await?;
    let doc = parse_document(&bytes, Some(&ct), &display)?;
    let top = Descriptor::new(doc.media_type(), digest.clone(), bytes.len() as u64);
    let (manifest_digest, manifest, manifest_bytes) = match doc {
        Document::Manifest(m) => (digest, m, bytes.clone()),
        Document::Index(index) => {
            let host = Platform::host();
            let d = index
                .select(opts.platform.as_ref().unwrap_or(&host), &display)?
                .clone();
            let (mb, mct, md) = repo.get_manifest(&d.digest.to_string()).await?;
            match parse_document(
                &mb,
                Some(if mct.is_empty() { &d.media_type } else { &mct }),
                &display,
            )? {
                Document::Manifest(m) => (md, m, mb),
                Document::Index(_) => {
                    return Err(Error::InvalidDocument {
                        what: format!("{display} {}", d.digest),
                        reason: "an index inside an index".into(),
                    })
                }
            }
        }
    };
    for l in &manifest.layers {
        Compression::from_media_type(&l.media_type).map_err(|e| match e {
            Error::UnsupportedMediaType { media_type, .. } => Error::UnsupportedMediaType {
                media_type,
                context: format!("layer {} of {display}", l.digest),
            },
            e => e,
        })?;
    }
    let config_bytes = if store.content().exists(&manifest.config.digest) {
        store
            .content()
            .read_limited(&manifest.config.digest, MAX_CONFIG_BYTES)?
    } else {
        if manifest.config.size > MAX_CONFIG_BYTES {
            return Err(Error::InvalidDocument {
                what: format!("config of {display}"),
                reason: format!("{} bytes is too large", manifest.config.size),
            });
        }
        repo.get_blob_bytes(&manifest.config.digest, MAX_CONFIG_BYTES as usize)
            .await?
    };
    let config: ImageConfig =
        serde_json::from_slice(&config_bytes).map_err(|e| Error::InvalidDocument {
            what: format!("config {} of {display}", manifest.config.digest),
            reason: e.to_string(),
        })?;
    if config.rootfs.diff_ids.len() != manifest.layers.len() {
        return Err(Error::InvalidDocument {
            what: display.clone(),
            reason: format!(
                "manifest has {} layers but config lists {} diffIDs",
                manifest.layers.len(),
                config.rootfs.diff_ids.len()
            ),
        });
    }
    let chains = chain_ids(&config.rootfs.diff_ids);
    opts.progress.report(PullEvent::Resolved {
        manifest_digest: manifest_digest.clone(),
        layers: manifest.layers.clone(),
    });
    if opts.unpack {
        pull_layers(
            store,
            &repo,
            &manifest.layers,
            &config.rootfs.diff_ids,
            &chains,
            opts.parallel.max(1),
            &opts.progress,
        )
        .await?;
    } else {
        for l in &manifest.layers {
            if download(store, &repo, l, &opts.progress).await? {
                opts.progress.report(PullEvent::Downloaded {
                    digest: l.digest.clone(),
                });
            } else {
                opts.progress.report(PullEvent::LayerExists {
                    digest: l.digest.clone(),
                });
            }
        }
    }
    // Documents last, so a manifest in the store means its blobs are there too.
    store
        .content()
        .write_blob(&config_bytes, Some(&manifest.config.digest))?;
    store
        .content()
        .write_blob(&manifest_bytes, Some(&manifest_digest))?;
    store.content().write_blob(&bytes, Some(&top.digest))?;
    store.set(&reference.to_string(), top.clone())?;
    Ok(Pulled {
        target: top,
        manifest_digest,
        id: manifest.config.digest.clone(),
        chain_id: chains.last().cloned(),
    })
}

/// Progress shared between a download and the unpacker following it.
#[derive(Debug, Default)]
struct Progress {
    written: u64,
    /// Some(true): complete; Some(false): failed.
    done: Option<bool>,
}

type Shared = Arc<(Mutex<Progress>, Condvar)>;

fn publish(shared: &Shared, f: impl FnOnce(&mut Progress)) {
    let (m, cv) = &**shared;
    f(&mut m.lock().expect("progress lock"));
    cv.notify_all();
}

/// Reads a file that a download is still appending to, up to `total` bytes.
struct Follow {
    file: File,
    pos: u64,
    total: u64,
    shared: Shared,
}

impl Read for Follow {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.total || buf.is_empty() {
            return Ok(0);
        }
        let avail = {
            let (m, cv) = &*self.shared;
            let mut p = m.lock().expect("progress lock");
            while p.written <= self.pos && p.done.is_none() {
                p = cv.wait(p).expect("progress lock");
            }
            if p.done == Some(false) {
                return Err(std::io::Error::other("download failed"));
            }
            p.written
        };
        if avail <= self.pos {
            return Ok(0);
        }
        let want = ((avail - self.pos) as usize).min(buf.len());
        let n = self.file.read(&mut buf[..want])?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// A writer for the blob, waiting while another pull writes it; None when it is committed.
async fn acquire(
    store: &ImageStore,
    desc: &Descriptor,
) -> Result<Option<Box<crate::content::Writer>>> {
    let key = desc.digest.to_string();
    loop {
        match store
            .content()
            .try_writer(&key, Some(&desc.digest), Some(desc.size))?
        {
            Ingest::Exists => return Ok(None),
            Ingest::Locked => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            Ingest::Writer(w) => return Ok(Some(w)),
        }
    }
}

/// Fetches into `writer` and commits it (digest and size checked), publishing progress.
async fn fetch_into(
    repo: &Repository,
    desc: &Descriptor,
    mut writer: Box<crate::content::Writer>,
    shared: Option<&Shared>,
    reporter: &Reporter<PullEvent>,
) -> Result<()> {
    let progress = |n: u64| {
        if let Some(s) = shared {
            publish(s, |p| p.written = n);
        }
        reporter.report(PullEvent::Downloading {
            digest: desc.digest.clone(),
            current: n,
            total: desc.size,
        });
    };
    let fetched = repo
        .fetch_blob(&desc.digest, desc.size, &mut writer, &progress)
        .await;
    if let Some(s) = shared {
        publish(s, |p| p.done = Some(fetched.is_ok()));
    }
    fetched?;
    writer.commit()?;
    reporter.report(PullEvent::Downloaded {
        digest: desc.digest.clone(),
    });
    Ok(())
}

/// Downloads one blob into the store unless it is there; true when it was downloaded.
async fn download(
    store: &ImageStore,
    repo: &Repository,
    desc: &Descriptor,
    reporter: &Reporter<PullEvent>,
) -> Result<bool> {
    match acquire(store, desc).await? {
        Some(w) => fetch_into(repo, desc, w, None, reporter)
            .await
            .map(|()| true),
        None => Ok(false),
    }
}

async fn pull_layers(
    store: &ImageStore,
    repo: &Repository,
    layers: &[Descriptor],
    diff_ids: &[Digest],
    chains: &[Digest],
    parallel: usize,
    reporter: &Reporter<PullEvent>,
) -> Result<()> {
    let sn = store.snapshots().clone();
    let done = |l: &Descriptor| {
        reporter.report(PullEvent::LayerDone {
            digest: l.digest.clone(),
        })
    };
    if sn.driver() == Driver::Copy {
        // Each copy snapshot starts as a copy of its parent: strictly in order.
        for (i, l) in layers.iter().enumerate() {
            if sn.stat(&chains[i].to_string()).is_ok() {
                reporter.report(PullEvent::LayerExists {
                    digest: l.digest.clone(),
                });
                continue;
            }
            download(store, repo, l, reporter).await?;
            let parent = i.checked_sub(1).map(|p| chains[p].to_string());
            let prepared = unpack_blob(store, l, &diff_ids[i], parent.as_deref()).await?;
            commit_layer(&sn, prepared, &chains[i], parent.as_deref())?;
            done(l);
        }
        return Ok(());
    }
    let sem = Arc::new(tokio::sync::Semaphore::new(parallel));
    let mut tasks = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        if sn.stat(&chains[i].to_string()).is_ok() && store.content().exists(&l.digest) {
            reporter.report(PullEvent::LayerExists {
                digest: l.digest.clone(),
            });
            tasks.push(None);
            continue;
        }
        let (store, repo, l, diff_id, sem, reporter) = (
            store.clone(),
            repo.clone(),
            l.clone(),
            diff_ids[i].clone(),
            sem.clone(),
            reporter.clone(),
        );
        tasks.push(Some(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await.map_err(|_| Error::Snapshot {
                key: l.digest.to_string(),
                reason: "pull cancelled".into(),
            })?;
            fetch_and_unpack(&store, &repo, &l, &diff_id, &reporter).await
        })));
    }
    let mut result = Ok(());
    let mut pending: Vec<Prepared> = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        let Some(task) = task else { continue };
        let prepared = match task.await {
            Ok(r) => r,
            Err(e) => Err(Error::Snapshot {
                key: chains[i].to_string(),
                reason: format!("layer task failed: {e}"),
            }),
        };
        match (prepared, &result) {
            (Ok(p), Ok(())) => {
                let parent = i.checked_sub(1).map(|p| chains[p].to_string());
                match commit_layer(&sn, p, &chains[i], parent.as_deref()) {
                    Ok(()) => done(&layers[i]),
                    Err(e) => result = Err(e),
                }
            }
            (Ok(p), Err(_)) => pending.push(p),
            (Err(e), Ok(())) => result = Err(e),
            (Err(_), Err(_)) => {}
        }
    }
    for p in pending {
        let _ = sn.remove(&p.key);
    }
    result
}

/// Downloads a layer while unpacking it (overlay driver: no parent needed).
async fn fetch_and_unpack(
    store: &ImageStore,
    repo: &Repository,
    l: &Descriptor,
    diff_id: &Digest,
    reporter: &Reporter<PullEvent>,
) -> Result<Prepared> {
    let Some(writer) = acquire(store, l).await? else {
        reporter.report(PullEvent::Downloaded {
            digest: l.digest.clone(),
        });
        return unpack_blob(store, l, diff_id, None).await;
    };
    let file = File::open(writer.data_path()).map_err(|e| Error::Io {
        op: "open",
        path: writer.data_path().to_path_buf(),
        source: e,
    })?;
    let shared: Shared = Arc::new((
        Mutex::new(Progress {
            written: writer.offset(),
            done: None,
        }),
        Condvar::new(),
    ));
    let unpacker = {
        let (sn, shared, l, diff_id) = (
            store.snapshots().clone(),
            shared.clone(),
            l.clone(),
            diff_id.clone(),
        );
        tokio::task::spawn_blocking(move || {
            let follow = Follow {
                file,
                pos: 0,
                total: l.size,
                shared,
            };
            let c = Compression::from_media_type(&l.media_type)?;
            unpack_layer(&sn, None, follow, c, Some(&diff_id), &l.digest.to_string())
        })
    };
    let dl = fetch_into(repo, l, writer, Some(&shared), reporter).await;
    let unpacked = unpacker.await.map_err(|e| Error::Snapshot {
        key: l.digest.to_string(),
        reason: format!("unpack thread: {e}"),
    })?;
    match (dl, unpacked) {
        (Ok(()), Ok(p)) => Ok(p),
        (Err(e), Ok(p)) => {
            let _ = store.snapshots().remove(&p.key);
            Err(e)
        }
        (Err(e), Err(_)) | (Ok(()), Err(e)) => Err(e),
    }
}

/// Unpacks a committed blob into a new snapshot (copy driver: on `parent`).
async fn unpack_blob(
    store: &ImageStore,
    l: &Descriptor,
    diff_id: &Digest,
    parent: Option<&str>,
) -> Result<Prepared> {
    let (sn, content, l, diff_id, parent) = (
        store.snapshots().clone(),
        store.content().clone(),
        l.clone(),
        diff_id.clone(),
        parent.map(str::to_string),
    );
    tokio::task::spawn_blocking(move || {
        let f = content.open_blob(&l.digest)?;
        let c = Compression::from_media_type(&l.media_type)?;
        unpack_layer(
            &sn,
            parent.as_deref(),
            std::io::BufReader::with_capacity(1 << 17, f),
            c,
            Some(&diff_id),
            &l.digest.to_string(),
        )
    })
    .await
    .map_err(|e| Error::Snapshot {
        key: "unpack".into(),
        reason: e.to_string(),
    })?
}

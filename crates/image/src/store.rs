//! The image store: content + snapshots + image records (name -> manifest/index descriptor),
//! with list, inspect, tag, untag, delete, prune of dangling images and garbage collection.
//!
//! Records live in `images.json`, rewritten atomically under an exclusive `flock`. Garbage
//! collection marks everything reachable from the records (index -> manifests -> config and
//! layers; config diffIDs -> snapshot chain IDs) and removes the rest; pulls and imports hold a
//! shared `gc.lock` so a collection never removes what they are in the middle of writing.

use crate::config::ImageConfig;
use crate::content::ContentStore;
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{write_atomic, FileLock};
use crate::layer::chain_ids;
use crate::manifest::{parse_document, Descriptor, Document, Manifest, Platform};
use crate::reference::Reference;
use crate::snapshot::{Driver, Snapshotter};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Largest config document read.
pub const MAX_CONFIG_BYTES: u64 = 8 << 20;

/// One name in the store.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageRecord {
    /// `registry/repo:tag`, `registry/repo@digest`, or `<none>@digest` for a dangling image.
    pub name: String,
    /// The manifest or index the name points to.
    pub target: Descriptor,
    /// Seconds since the epoch when the name was set.
    pub created: u64,
}

/// A resolved image: the platform manifest, its config and layer chain.
#[derive(Debug, Clone)]
pub struct ImageDetails {
    /// Image ID: the config digest (Docker's convention).
    pub id: Digest,
    pub manifest_digest: Digest,
    pub manifest: Manifest,
    pub config: ImageConfig,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    /// Compressed size of config + layers.
    pub size: u64,
    /// Chain ID of the top layer (the parent for a container snapshot); None for no layers.
    pub chain_id: Option<Digest>,
}

/// The whole image store.
#[derive(Debug, Clone)]
pub struct ImageStore {
    root: PathBuf,
    content: ContentStore,
    snapshots: Snapshotter,
}

impl ImageStore {
    /// Opens (creating) a store at `root` (`content/`, `snapshots/`, `images.json`).
    pub fn open(root: impl Into<PathBuf>, driver: Option<Driver>) -> Result<ImageStore> {
        let root = root.into();
        fs::create_dir_all(&root).io("create directory", &root)?;
        Ok(ImageStore {
            content: ContentStore::open(root.join("content"))?,
            snapshots: Snapshotter::open(root.join("snapshots"), driver)?,
            root,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Removes what only a running operation owns: partial downloads (`content/ingest/`),
    /// request files (`tmp/`), extracted and exported archives (`.import-*`, `.export-*`) and
    /// interrupted atomic writes. Call it when no operation can be under way, i.e. when the
    /// one process that uses the store starts (the daemon does, before it serves anything);
    /// after a crash they would otherwise stay forever. Returns the paths removed.
    pub fn remove_leftovers(&self) -> Result<Vec<PathBuf>> {
        let mut removed = Vec::new();
        let mut remove = |p: PathBuf| -> Result<()> {
            let r = if p.is_dir() && !p.is_symlink() {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
            match r {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).io("remove", p),
                _ => {
                    removed.push(p);
                    Ok(())
                }
            }
        };
        for dir in [self.content.root().join("ingest"), self.root.join("tmp")] {
            let entries = match fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e).io("read directory", dir),
            };
            for e in entries {
                remove(e.io("read directory", &dir)?.path())?;
            }
        }
        for e in fs::read_dir(&self.root).io("read directory", &self.root)? {
            let e = e.io("read directory", &self.root)?;
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(".import-")
                || name.starts_with(".export-")
                || (name.starts_with('.') && name.contains(".tmp-"))
            {
                remove(e.path())?;
            }
        }
        Ok(removed)
    }
    pub fn content(&self) -> &ContentStore {
        &self.content
    }
    pub fn snapshots(&self) -> &Snapshotter {
        &self.snapshots
    }

    /// Held (shared) while writing content that no record points to yet.
    pub(crate) fn writing_lock(&self) -> Result<FileLock> {
        FileLock::shared(&self.root.join("gc.lock"))
    }

    fn with_records<T>(
        &self,
        f: impl FnOnce(&mut BTreeMap<String, ImageRecord>) -> Result<(T, bool)>,
    ) -> Result<T> {
        let _lock = FileLock::exclusive(&self.root.join("images.lock"))?;
        let path = self.root.join("images.json");
        let mut records: BTreeMap<String, ImageRecord> = match fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| Error::InvalidDocument {
                what: path.display().to_string(),
                reason: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e).io("read", path),
        };
        let (out, changed) = f(&mut records)?;
        if changed {
            write_atomic(
                &path,
                &serde_json::to_vec_pretty(&records).expect("records always serialize"),
            )?;
        }
        Ok(out)
    }

    /// Points `name` at `target`; an image that loses its last name is kept as dangling.
    pub fn set(&self, name: &str, target: Descriptor) -> Result<()> {
        self.set_all(&[(name.to_string(), target)])
    }

    /// Points every name at its target in one atomic write of the records (a crash leaves
    /// all of them moved or none).
    pub fn set_all(&self, names: &[(String, Descriptor)]) -> Result<()> {
        self.with_records(|r| {
            for (name, target) in names {
                set_one(r, name, target);
            }
            Ok(((), true))
        })
    }

    /// Every record.
    pub fn records(&self) -> Result<Vec<ImageRecord>> {
        self.with_records(|r| Ok((r.values().cloned().collect(), false)))
    }

    /// Finds the record for a user-given name (`busybox`, full reference, image ID or prefix).
    pub fn find(&self, name: &str) -> Result<ImageRecord> {
        let records = self.records()?;
        if let Ok(r) = Reference::parse(name) {
            if let Some(rec) = records.iter().find(|x| x.name == r.to_string()) {
                return Ok(rec.clone());
            }
            if let Some(d) = r.digest() {
                if let Some(rec) = records
                    .iter()
                    .find(|x| &x.target.digest == d && x.name.starts_with(&r.name()))
                {
                    return Ok(rec.clone());
                }
            }
        }
        // An image ID (config digest) or manifest digest, full or a hex prefix of 12+.
        let hex = name.strip_prefix("sha256:").unwrap_or(name);
        if hex.len() >= 12 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            for rec in &records {
                if rec.target.digest.hex().starts_with(hex) {
                    return Ok(rec.clone());
                }
                if let Ok(d) = self.details_of(rec, None) {
                    if d.id.hex().starts_with(hex) {
                        return Ok(rec.clone());
                    }
                }
            }
        }
        Err(Error::NotFound {
            kind: "image",
            name: name.into(),
        })
    }

    /// Resolves a record to its platform manifest (the host's, or `platform`) and config.
    pub fn details_of(
        &self,
        rec: &ImageRecord,
        platform: Option<&Platform>,
    ) -> Result<ImageDetails> {
        let (manifest_digest, manifest) =
            self.platform_manifest(&rec.target, platform, &rec.name)?;
        let config_bytes = self
            .content
            .read_limited(&manifest.config.digest, MAX_CONFIG_BYTES)?;
        let config: ImageConfig =
            serde_json::from_slice(&config_bytes).map_err(|e| Error::InvalidDocument {
                what: format!("config {}", manifest.config.digest),
                reason: e.to_string(),
            })?;
        let id = manifest.config.digest.clone();
        let size = manifest.config.size + manifest.layers.iter().map(|l| l.size).sum::<u64>();
        let records = self.records()?;
        let mut repo_tags = Vec::new();
        let mut repo_digests = BTreeSet::new();
        for r in &records {
            if r.target.digest != rec.target.digest || r.name.starts_with("<none>") {
                continue;
            }
            if let Ok(reference) = Reference::parse(&r.name) {
                if reference.tag().is_some() && reference.digest().is_none() {
                    repo_tags.push(reference.familiar());
                }
                repo_digests.insert(format!("{}@{}", reference.name(), r.target.digest));
            }
        }
        let chain_id = chain_ids(&config.rootfs.diff_ids).pop();
        Ok(ImageDetails {
            id,
            manifest_digest,
            manifest,
            config,
            repo_tags,
            repo_digests: repo_digests.into_iter().collect(),
            size,
            chain_id,
        })
    }

    /// Inspect by user-given name.
    pub fn inspect(&self, name: &str) -> Result<ImageDetails> {
        let rec = self.find(name)?;
        self.details_of(&rec, None)
    }

    /// One entry per image ID with its names (`docker images`).
    pub fn list(&self) -> Result<Vec<ImageDetails>> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for rec in self.records()? {
            if !seen.insert(rec.target.digest.clone()) {
                continue;
            }
            if let Ok(d) = self.details_of(&rec, None) {
                out.push(d);
            }
        }
        Ok(out)
    }

    fn platform_manifest(
        &self,
        target: &Descriptor,
        platform: Option<&Platform>,
        name: &str,
    ) -> Result<(Digest, Manifest)> {
        let bytes = self
            .content
            .read_limited(&target.digest, crate::manifest::MAX_MANIFEST_BYTES as u64)?;
        match parse_document(&bytes, Some(&target.media_type), name)? {
            Document::Manifest(m) => Ok((target.digest.clone(), m)),
            Document::Index(i) => {
                let host = Platform::host();
                let d = i.select(platform.unwrap_or(&host), name)?;
                let bytes = self
                    .content
                    .read_limited(&d.digest, crate::manifest::MAX_MANIFEST_BYTES as u64)?;
                match parse_document(&bytes, Some(&d.media_type), name)? {
                    Document::Manifest(m) => Ok((d.digest.clone(), m)),
                    Document::Index(_) => Err(Error::InvalidDocument {
                        what: name.into(),
                        reason: "nested index".into(),
                    }),
                }
            }
        }
    }

    /// Adds name `new` for the image `src`.
    pub fn tag(&self, src: &str, new: &str) -> Result<()> {
        let rec = self.find(src)?;
        let r = Reference::parse(new)?;
        if r.digest().is_some() {
            return Err(Error::InvalidReference {
                input: new.into(),
                reason: "a tag cannot contain a digest".into(),
            });
        }
        self.set(&r.to_string(), rec.target)
    }

    /// Removes one name; the image becomes dangling when it was the last one. Returns whether
    /// the image has no names left.
    pub fn untag(&self, name: &str) -> Result<bool> {
        let rec = self.find(name)?;
        self.with_records(|r| {
            r.remove(&rec.name);
            let left = r.values().any(|x| x.target.digest == rec.target.digest);
            Ok((!left, true))
        })
    }

    /// Removes an image: by name, that name (the image goes once no name is left); by ID, every
    /// name of it. Then collects garbage. Returns the removed names.
    pub fn delete(&self, name: &str) -> Result<Vec<String>> {
        let rec = self.find(name)?;
        let by_id = Reference::parse(name)
            .map_or(true, |r| r.to_string() != rec.name && !name.contains(':'));
        let removed = self.with_records(|r| {
            let names: Vec<String> = if by_id {
                r.values()
                    .filter(|x| x.target.digest == rec.target.digest)
                    .map(|x| x.name.clone())
                    .collect()
            } else {
                vec![rec.name.clone()]
            };
            for n in &names {
                r.remove(n);
            }
            Ok((names, true))
        })?;
        self.gc()?;
        Ok(removed)
    }

    /// Removes dangling images (no name but `<none>`) and collects garbage.
    pub fn prune_dangling(&self) -> Result<Vec<Digest>> {
        let removed = self.with_records(|r| {
            let gone: Vec<String> = r
                .keys()
                .filter(|k| k.starts_with("<none>@"))
                .cloned()
                .collect();
            let digests = gone
                .iter()
                .filter_map(|k| r.remove(k))
                .map(|x| x.target.digest)
                .collect::<Vec<_>>();
            let changed = !digests.is_empty();
            Ok((digests, changed))
        })?;
        self.gc()?;
        Ok(removed)
    }

    /// Removes blobs and committed snapshots no record reaches. Returns (blobs, snapshots) removed.
    pub fn gc(&self) -> Result<(usize, usize)> {
        let _gc = FileLock::exclusive(&self.root.join("gc.lock"))?;
        self.gc_locked()
    }

    /// [`ImageStore::gc`] unless a pull, import or collection is under way (then None: that
    /// operation's own end, or the next collection, takes the garbage). For failed operations
    /// that must not wait for others to undo their own leftovers.
    pub fn try_gc(&self) -> Result<Option<(usize, usize)>> {
        match FileLock::try_exclusive(&self.root.join("gc.lock"))? {
            Some(_gc) => self.gc_locked().map(Some),
            None => Ok(None),
        }
    }

    fn gc_locked(&self) -> Result<(usize, usize)> {
        let mut blobs: HashSet<Digest> = HashSet::new();
        let mut chains: HashSet<String> = HashSet::new();
        for rec in self.records()? {
            let mut stack = vec![rec.target.clone()];
            while let Some(d) = stack.pop() {
                if !blobs.insert(d.digest.clone()) || !self.content.exists(&d.digest) {
                    continue;
                }
                if crate::media::is_index(&d.media_type) || crate::media::is_manifest(&d.media_type)
                {
                    let bytes = self
                        .content
                        .read_limited(&d.digest, crate::manifest::MAX_MANIFEST_BYTES as u64)?;
                    match parse_document(&bytes, Some(&d.media_type), &rec.name)? {
                        Document::Index(i) => stack.extend(i.manifests),
                        Document::Manifest(m) => {
                            if let Ok(cfg) = self
                                .content
                                .read_limited(&m.config.digest, MAX_CONFIG_BYTES)
                            {
                                if let Ok(c) = serde_json::from_slice::<ImageConfig>(&cfg) {
                                    chains.extend(
                                        chain_ids(&c.rootfs.diff_ids).iter().map(Digest::to_string),
                                    );
                                }
                            }
                            stack.push(m.config);
                            stack.extend(m.layers);
                        }
                    }
                }
            }
        }
        let mut removed_blobs = 0;
        for (d, _) in self.content.list()? {
            if !blobs.contains(&d) {
                self.content.delete(&d)?;
                removed_blobs += 1;
            }
        }
        let removed_snaps = self.snapshots.prune(&chains)?.len();
        self.content
            .prune_ingests(std::time::Duration::from_secs(24 * 3600))?;
        Ok((removed_blobs, removed_snaps))
    }
}

fn set_one(r: &mut BTreeMap<String, ImageRecord>, name: &str, target: &Descriptor) {
    let old = r.insert(
        name.to_string(),
        ImageRecord {
            name: name.into(),
            target: target.clone(),
            created: now(),
        },
    );
    if let Some(old) = old.filter(|o| o.target.digest != target.digest) {
        if !r.values().any(|x| x.target.digest == old.target.digest) {
            let dangling = format!("<none>@{}", old.target.digest);
            r.insert(
                dangling.clone(),
                ImageRecord {
                    name: dangling,
                    ..old
                },
            );
        }
    }
}

pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

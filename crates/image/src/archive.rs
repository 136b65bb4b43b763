//! Import and export: OCI image layout (directory or tar), docker-archive tars (`docker save`
//! output, legacy and OCI-in-tar), and a plain rootfs tar as a one-layer image.
//!
//! Archives are untrusted: tars are extracted with the same confined unpacker as layers, and
//! every blob is verified against its digest before it is stored.

use crate::config::{ContainerConfig, ImageConfig};
use crate::create::{create_image, ingest_file, unpack_target, NewLayer};
use crate::error::{Error, IoContext, Result};
use crate::manifest::{parse_document, Descriptor, Document, Index, Manifest, MAX_MANIFEST_BYTES};
use crate::media;
use crate::reference::Reference;
use crate::store::{ImageStore, MAX_CONFIG_BYTES};
use crate::unpack::{unpack, Compression, UnpackOptions, WhiteoutMode};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

const REF_NAME: &str = "org.opencontainers.image.ref.name";
const CONTAINERD_NAME: &str = "io.containerd.image.name";

fn bad(path: &Path, reason: impl Into<String>) -> Error {
    Error::Archive {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

fn extract(tar_path: &Path, into: &Path) -> Result<()> {
    let f = File::open(tar_path).io("open", tar_path)?;
    let mut magic = [0u8; 4];
    let n = File::open(tar_path)
        .and_then(|mut f| f.read(&mut magic))
        .io("read", tar_path)?;
    let opts = UnpackOptions {
        whiteouts: WhiteoutMode::Apply,
        same_owner: false,
        layer: tar_path.display().to_string(),
    };
    unpack(
        std::io::BufReader::new(f),
        Compression::detect(&magic[..n]),
        into,
        &opts,
    )?;
    Ok(())
}

/// Imports an OCI layout directory or tar (`path`), or a docker-archive tar; names each image
/// from the archive (or `name` when the archive has none). Returns the names set.
///
/// All or nothing: every blob is verified and every image unpacked into snapshots (each layer
/// checked entry by entry and against its diffID) before any name is set; when anything is
/// refused, no name moves and what this import stored is collected.
pub fn import(store: &ImageStore, path: &Path, name: Option<&str>) -> Result<Vec<String>> {
    let result = (|| {
        let _writing = store.writing_lock()?;
        let pending = if path.is_dir() {
            stage_dir(store, path, name)?
        } else {
            let tmp = tempfile::Builder::new()
                .prefix(".import-")
                .tempdir_in(store.root())
                .io("create temp dir", store.root())?;
            extract(path, tmp.path())?;
            stage_dir(store, tmp.path(), name).map_err(|e| match e {
                Error::Archive { reason, .. } => bad(path, reason),
                e => e,
            })?
        };
        let mut unpacked = Vec::new();
        for (n, desc) in &pending {
            if !unpacked.contains(&desc.digest) {
                unpack_target(store, n, desc)?;
                unpacked.push(desc.digest.clone());
            }
        }
        store.set_all(&pending)?;
        Ok(pending.into_iter().map(|(n, _)| n).collect())
    })();
    if result.is_err() {
        let _ = store.try_gc();
    }
    result
}

/// Stores the blobs of an extracted archive; returns the names to set and their targets.
fn stage_dir(store: &ImageStore, dir: &Path, name: Option<&str>) -> Result<Pending> {
    // An OCI layout (also what `docker save` writes since Docker 25, beside its manifest.json)
    // keeps the manifests' exact bytes and digests: prefer it.
    if dir.join("index.json").is_file() && dir.join("oci-layout").is_file() {
        import_oci(store, dir, name)
    } else if dir.join("manifest.json").is_file() {
        import_docker(store, dir, name)
    } else {
        Err(bad(
            dir,
            "neither an OCI layout (index.json) nor a docker-archive (manifest.json)",
        ))
    }
}

/// Names and the images they will point to once everything is in.
type Pending = Vec<(String, Descriptor)>;

fn copy_blob(store: &ImageStore, dir: &Path, d: &Descriptor) -> Result<()> {
    if store.content().exists(&d.digest) {
        return Ok(());
    }
    let p = dir
        .join("blobs")
        .join(d.digest.algorithm().as_str())
        .join(d.digest.hex());
    let mut f = File::open(&p).map_err(|_| bad(dir, format!("blob {} is missing", d.digest)))?;
    let crate::content::Ingest::Writer(mut w) =
        store
            .content()
            .writer(&d.digest.to_string(), Some(&d.digest), Some(d.size))?
    else {
        return Ok(());
    };
    w.truncate()?;
    std::io::copy(&mut f, &mut w).io("copy blob", &p)?;
    w.commit()?;
    Ok(())
}

fn import_oci(store: &ImageStore, dir: &Path, name: Option<&str>) -> Result<Pending> {
    let index_path = dir.join("index.json");
    let index: Index = serde_json::from_slice(&fs::read(&index_path).io("read", &index_path)?)
        .map_err(|e| bad(&index_path, e.to_string()))?;
    let mut names = Vec::new();
    for top in &index.manifests {
        let mut stack = vec![top.clone()];
        while let Some(d) = stack.pop() {
            if !(media::is_manifest(&d.media_type) || media::is_index(&d.media_type)) {
                copy_blob(store, dir, &d)?;
                continue;
            }
            let p = dir
                .join("blobs")
                .join(d.digest.algorithm().as_str())
                .join(d.digest.hex());
            let bytes = match fs::read(&p) {
                Ok(b) => b,
                // Children of an index may be absent (one platform exported).
                Err(_) if d.digest != top.digest => continue,
                Err(_) => return Err(bad(dir, format!("blob {} is missing", d.digest))),
            };
            if bytes.len() > MAX_MANIFEST_BYTES {
                return Err(bad(dir, format!("manifest {} is over 4 MiB", d.digest)));
            }
            d.digest.verify(&bytes)?;
            match parse_document(&bytes, Some(&d.media_type), &dir.display().to_string())? {
                Document::Index(i) => stack.extend(i.manifests),
                Document::Manifest(m) => {
                    Compression::from_media_type(&m.config.media_type).ok();
                    for l in &m.layers {
                        Compression::from_media_type(&l.media_type)?;
                    }
                    stack.push(m.config);
                    stack.extend(m.layers);
                }
            }
            copy_blob(store, dir, &d)?;
        }
        let annotated = top
            .annotations
            .as_ref()
            .and_then(|a| a.get(CONTAINERD_NAME).or_else(|| a.get(REF_NAME)))
            .cloned();
        let full = match (annotated, name) {
            (Some(a), _) if Reference::parse(&a).is_ok() && a.contains(['/', ':']) => {
                Reference::parse(&a)?.to_string()
            }
            (Some(tag), Some(n)) => Reference::parse(n)?.with_tag(&tag)?.to_string(),
            (None, Some(n)) => Reference::parse(n)?.to_string(),
            (Some(a), None) => Reference::parse(&a)?.to_string(),
            (None, None) => format!("<none>@{}", top.digest),
        };
        let mut desc = top.clone();
        desc.annotations = None;
        names.push((full, desc));
    }
    Ok(names)
}

#[derive(serde::Deserialize, serde::Serialize)]
struct DockerEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// A path inside the archive, refusing escapes.
fn inside(dir: &Path, rel: &str) -> Result<PathBuf> {
    let p = Path::new(rel);
    if p.is_absolute()
        || p.components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(bad(dir, format!("path {rel:?} leaves the archive")));
    }
    Ok(dir.join(p))
}

fn import_docker(store: &ImageStore, dir: &Path, name: Option<&str>) -> Result<Pending> {
    let mpath = dir.join("manifest.json");
    let entries: Vec<DockerEntry> = serde_json::from_slice(&fs::read(&mpath).io("read", &mpath)?)
        .map_err(|e| bad(&mpath, e.to_string()))?;
    let mut names = Vec::new();
    for e in entries {
        let cpath = inside(dir, &e.config)?;
        let cbytes =
            fs::read(&cpath).map_err(|_| bad(dir, format!("config {} is missing", e.config)))?;
        if cbytes.len() as u64 > MAX_CONFIG_BYTES {
            return Err(bad(dir, "config too large"));
        }
        let cfg: ImageConfig =
            serde_json::from_slice(&cbytes).map_err(|err| bad(&cpath, err.to_string()))?;
        if cfg.rootfs.diff_ids.len() != e.layers.len() {
            return Err(bad(
                dir,
                format!(
                    "{} lists {} layers, its config {} diffIDs",
                    e.config,
                    e.layers.len(),
                    cfg.rootfs.diff_ids.len()
                ),
            ));
        }
        let cdigest = store.content().write_blob(&cbytes, None)?;
        let mut layers = Vec::new();
        for l in &e.layers {
            let lp = inside(dir, l)?;
            let mut magic = [0u8; 4];
            let n = File::open(&lp)
                .and_then(|mut f| f.read(&mut magic))
                .map_err(|_| bad(dir, format!("layer {l} is missing")))?;
            let mt = match Compression::detect(&magic[..n]) {
                Compression::None => media::DOCKER_LAYER_TAR,
                Compression::Gzip => media::DOCKER_LAYER_GZIP,
                Compression::Zstd => media::DOCKER_LAYER_ZSTD,
            };
            let (digest, size) = ingest_file(store, &lp)?;
            layers.push(Descriptor::new(mt, digest, size));
        }
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(media::DOCKER_MANIFEST.into()),
            config: Descriptor::new(media::DOCKER_CONFIG, cdigest, cbytes.len() as u64),
            layers,
            annotations: None,
        };
        let mbytes = serde_json::to_vec(&manifest).expect("manifest always serializes");
        let mdigest = store.content().write_blob(&mbytes, None)?;
        let desc = Descriptor::new(media::DOCKER_MANIFEST, mdigest.clone(), mbytes.len() as u64);
        let tags = e.repo_tags.clone().unwrap_or_default();
        let tags: Vec<String> = if tags.is_empty() {
            name.map(|n| vec![n.to_string()]).unwrap_or_default()
        } else {
            tags
        };
        if tags.is_empty() {
            names.push((format!("<none>@{mdigest}"), desc.clone()));
        }
        for t in tags {
            let full = Reference::parse(&t)?.to_string();
            names.push((full, desc.clone()));
        }
    }
    Ok(names)
}

/// Imports a plain rootfs tar (optionally gzip/zstd) as a one-layer image named `name`.
pub fn import_rootfs(
    store: &ImageStore,
    tar_path: &Path,
    name: &str,
    config: ContainerConfig,
) -> Result<Descriptor> {
    let mut magic = [0u8; 4];
    let n = File::open(tar_path)
        .and_then(|mut f| f.read(&mut magic))
        .io("read", tar_path)?;
    let mt = match Compression::detect(&magic[..n]) {
        Compression::None => media::OCI_LAYER,
        Compression::Gzip => media::OCI_LAYER_GZIP,
        Compression::Zstd => media::OCI_LAYER_ZSTD,
    };
    create_image(
        store,
        Some(name),
        &[NewLayer {
            path: tar_path,
            media_type: mt,
            comment: None,
        }],
        config,
        None,
    )
}

/// Exports images as an OCI layout directory at `dir` (created).
pub fn export_oci_dir(store: &ImageStore, names: &[&str], dir: &Path) -> Result<()> {
    fs::create_dir_all(dir.join("blobs/sha256")).io("create directory", dir)?;
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).io("write", dir)?;
    let mut manifests = Vec::new();
    for name in names {
        let rec = store.find(name)?;
        let mut top = rec.target.clone();
        let bytes = store
            .content()
            .read_limited(&top.digest, MAX_MANIFEST_BYTES as u64)?;
        let mut todo = vec![top.clone()];
        if let Document::Index(i) = parse_document(&bytes, Some(&top.media_type), name)? {
            if !i
                .manifests
                .iter()
                .all(|d| store.content().exists(&d.digest))
            {
                let d = store.details_of(&rec, None)?;
                top = Descriptor::new(
                    d.manifest
                        .media_type
                        .as_deref()
                        .unwrap_or(media::OCI_MANIFEST),
                    d.manifest_digest.clone(),
                    store.content().size(&d.manifest_digest)?,
                );
                todo = vec![top.clone()];
            }
        }
        while let Some(d) = todo.pop() {
            let src = store.content().blob_path(&d.digest);
            let dst = dir.join("blobs").join(d.digest.algorithm().as_str());
            fs::create_dir_all(&dst).io("create directory", &dst)?;
            let dst = dst.join(d.digest.hex());
            if !dst.exists() {
                // Hard link when on one filesystem, else copy.
                if fs::hard_link(&src, &dst).is_err() {
                    fs::copy(&src, &dst).io("copy", &dst)?;
                }
            }
            if media::is_manifest(&d.media_type) || media::is_index(&d.media_type) {
                let b = store
                    .content()
                    .read_limited(&d.digest, MAX_MANIFEST_BYTES as u64)?;
                match parse_document(&b, Some(&d.media_type), name)? {
                    Document::Index(i) => todo.extend(i.manifests),
                    Document::Manifest(m) => {
                        todo.push(m.config);
                        todo.extend(m.layers);
                    }
                }
            }
        }
        let mut ann = BTreeMap::new();
        if !rec.name.starts_with("<none>") {
            ann.insert(CONTAINERD_NAME.to_string(), rec.name.clone());
            if let Ok(r) = Reference::parse(&rec.name) {
                if let Some(t) = r.tag() {
                    ann.insert(REF_NAME.to_string(), t.to_string());
                }
            }
        }
        top.annotations = Some(ann);
        manifests.push(top);
    }
    let index = Index {
        schema_version: 2,
        media_type: Some(media::OCI_INDEX.into()),
        manifests,
        annotations: None,
    };
    fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&index).expect("index always serializes"),
    )
    .io("write", dir.join("index.json"))
}

/// Exports images as a tar: an OCI layout that is also a docker-archive (`manifest.json`
/// pointing into `blobs/`), which is what `docker save` writes since Docker 25.
pub fn export_tar(store: &ImageStore, names: &[&str], out: &Path) -> Result<()> {
    let tmp = tempfile::Builder::new()
        .prefix(".export-")
        .tempdir_in(store.root())
        .io("create temp dir", store.root())?;
    export_oci_dir(store, names, tmp.path())?;
    let mut entries = Vec::new();
    for name in names {
        let rec = store.find(name)?;
        let d = store.details_of(&rec, None)?;
        entries.push(DockerEntry {
            config: format!("blobs/sha256/{}", d.id.hex()),
            repo_tags: Some(d.repo_tags.clone()),
            layers: d
                .manifest
                .layers
                .iter()
                .map(|l| format!("blobs/sha256/{}", l.digest.hex()))
                .collect(),
        });
    }
    fs::write(
        tmp.path().join("manifest.json"),
        serde_json::to_vec(&entries).expect("serializes"),
    )
    .io("write", tmp.path())?;
    let part = out.with_extension("partial");
    let result = (|| {
        let f = File::create(&part).io("create", &part)?;
        let mut b = tar::Builder::new(std::io::BufWriter::new(f));
        b.follow_symlinks(false);
        b.append_dir_all(".", tmp.path()).io("write tar", &part)?;
        let w = b.into_inner().io("finish tar", &part)?;
        w.into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_all())
            .io("fsync", &part)?;
        fs::rename(&part, out).io("rename", out)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&part);
    }
    result
}

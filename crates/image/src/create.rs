//! Making images locally (imports, the builder, tests): store layer blobs, write config and
//! manifest, name the image; and unpacking an image whose content is already in the store.

use crate::config::{ContainerConfig, History, ImageConfig, RootFs};
use crate::digest::{Digest, HashingReader};
use crate::error::{Error, IoContext, Result};
use crate::layer::{apply_layer, chain_ids};
use crate::manifest::{Descriptor, Manifest, Platform};
use crate::media;
use crate::store::ImageStore;
use crate::unpack::Compression;
use std::path::Path;

/// One layer to add: a (compressed) tar file already on disk and its media type.
#[derive(Debug, Clone)]
pub struct NewLayer<'a> {
    pub path: &'a Path,
    pub media_type: &'a str,
    /// The history entry's comment (`docker import` records "Imported from -").
    pub comment: Option<&'a str>,
}

/// Stores `layers`, a config built from `config`, and an OCI manifest, and names it `name`
/// (if given); returns the manifest descriptor. All or nothing: the layers are unpacked (so the
/// tars are checked entry by entry) before the name is set. On failure no name moves and what
/// this call stored is collected (unless a pull or import is under way: the next collection
/// then takes it). `docker import` and [`crate::archive::import_rootfs`] go through here.
pub fn create_image(
    store: &ImageStore,
    name: Option<&str>,
    layers: &[NewLayer<'_>],
    config: ContainerConfig,
    platform: Option<Platform>,
) -> Result<Descriptor> {
    let result = (|| {
        let _writing = store.writing_lock()?;
        let desc = write_image(store, layers, config, platform)?;
        let record = record_name(name, &desc)?;
        unpack_target(store, &record, &desc)?;
        store.set(&record, desc.clone())?;
        Ok(desc)
    })();
    if result.is_err() {
        let _ = store.try_gc();
    }
    result
}

fn record_name(name: Option<&str>, desc: &Descriptor) -> Result<String> {
    Ok(match name {
        Some(n) => crate::Reference::parse(n)?.to_string(),
        None => format!("<none>@{}", desc.digest),
    })
}

/// Stores layers, config and manifest; names nothing. The caller holds the writing lock.
fn write_image(
    store: &ImageStore,
    layers: &[NewLayer<'_>],
    config: ContainerConfig,
    platform: Option<Platform>,
) -> Result<Descriptor> {
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    for l in layers {
        let compression = Compression::from_media_type(l.media_type)?;
        let (digest, size) = ingest_file(store, l.path)?;
        let f = store.content().open_blob(&digest)?;
        let mut hr = HashingReader::new(
            compression.decoder(std::io::BufReader::new(f))?,
            crate::Algorithm::Sha256,
        );
        std::io::copy(&mut hr, &mut std::io::sink()).io("read layer", l.path)?;
        diff_ids.push(hr.finish().0);
        descs.push(Descriptor::new(l.media_type, digest, size));
    }
    let platform = platform.unwrap_or_else(Platform::host);
    let cfg = ImageConfig {
        created: Some(rfc3339_now()),
        author: None,
        architecture: platform.architecture.clone(),
        os: platform.os.clone(),
        variant: platform.variant.clone(),
        config: Some(config),
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids,
        },
        history: layers
            .iter()
            .map(|l| match l.comment {
                Some(c) => History {
                    created: Some(rfc3339_now()),
                    comment: Some(c.to_string()),
                    ..Default::default()
                },
                None => History {
                    created_by: Some("berth".into()),
                    ..Default::default()
                },
            })
            .collect(),
    };
    let cfg_bytes = serde_json::to_vec(&cfg).expect("config always serializes");
    let cfg_digest = store.content().write_blob(&cfg_bytes, None)?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(media::OCI_MANIFEST.into()),
        config: Descriptor::new(media::OCI_CONFIG, cfg_digest, cfg_bytes.len() as u64),
        layers: descs,
        annotations: None,
    };
    let mbytes = serde_json::to_vec(&manifest).expect("manifest always serializes");
    let mdigest = store.content().write_blob(&mbytes, None)?;
    Ok(Descriptor::new(
        media::OCI_MANIFEST,
        mdigest,
        mbytes.len() as u64,
    ))
}

/// Copies a file into the content store, returning its digest and size.
pub fn ingest_file(store: &ImageStore, path: &Path) -> Result<(Digest, u64)> {
    let mut f = std::fs::File::open(path).io("open", path)?;
    let key = format!("file-{}-{}", path.display(), crate::fsutil::unique_suffix());
    let crate::content::Ingest::Writer(mut w) = store.content().writer(&key, None, None)? else {
        return Err(Error::Archive {
            path: path.display().to_string(),
            reason: "ingest busy".into(),
        });
    };
    std::io::copy(&mut f, &mut w).io("copy into store", path)?;
    let size = w.offset();
    Ok((w.commit()?, size))
}

/// Unpacks every layer of image `name` into snapshots (skipping those already there) and
/// returns the top chain ID.
pub fn unpack_image(store: &ImageStore, name: &str) -> Result<Option<Digest>> {
    let _writing = store.writing_lock()?;
    let rec = store.find(name)?;
    unpack_target(store, name, &rec.target)
}

/// Unpacks the image `target` (a manifest or index in the store, named or not yet; `name` is
/// for messages) into snapshots. The caller holds the writing lock.
pub(crate) fn unpack_target(
    store: &ImageStore,
    name: &str,
    target: &Descriptor,
) -> Result<Option<Digest>> {
    let rec = crate::store::ImageRecord {
        name: name.to_string(),
        target: target.clone(),
        created: 0,
    };
    let d = store.details_of(&rec, None)?;
    let chains = chain_ids(&d.config.rootfs.diff_ids);
    if chains.len() != d.manifest.layers.len() {
        return Err(Error::InvalidDocument {
            what: name.into(),
            reason: "layer count differs from diffID count".into(),
        });
    }
    for (i, l) in d.manifest.layers.iter().enumerate() {
        let f = store.content().open_blob(&l.digest)?;
        let mut r = std::io::BufReader::with_capacity(1 << 17, f);
        let c = Compression::from_media_type(&l.media_type)?;
        let parent = i.checked_sub(1).map(|p| &chains[p]);
        apply_layer(
            store.snapshots(),
            parent,
            &chains[i],
            &mut r,
            c,
            Some(&d.config.rootfs.diff_ids[i]),
        )?;
    }
    Ok(chains.last().cloned())
}

fn rfc3339_now() -> String {
    let secs = crate::store::now() as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant), to avoid a date crate for one timestamp.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

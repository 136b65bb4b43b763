//! A small driver for bench/pull (and manual use): pull into a store, import a rootfs tar or a
//! stack of layer tars and push it.
//!
//! ```text
//! image-tool pull REF --root DIR [--no-unpack] [--platform os/arch]
//! image-tool push-layers REF LAYER.tar[.gz|.zst]... [--root DIR]
//! ```

use anyhow::{bail, Context, Result};
use berth_image::config::ContainerConfig;
use berth_image::create::{create_image, NewLayer};
use berth_image::manifest::Platform;
use berth_image::pull::{pull, PullOptions};
use berth_image::push::{push, PushOptions};
use berth_image::registry::{Client, Credentials};
use berth_image::store::ImageStore;
use berth_image::unpack::Compression;
use berth_image::{media, Reference, RegistryConfig};
use std::io::Read;
use std::path::{Path, PathBuf};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let positional: Vec<&String> = {
        let mut out = Vec::new();
        let mut skip = false;
        for a in &args {
            if skip {
                skip = false;
                continue;
            }
            if a == "--root" || a == "--platform" {
                skip = true;
                continue;
            }
            if !a.starts_with("--") {
                out.push(a);
            }
        }
        out
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let client = Client::new(RegistryConfig::default(), Credentials::from_docker_config())?;
    match positional.first().map(|s| s.as_str()) {
        Some("pull") => {
            let reference = Reference::parse(positional.get(1).context("pull REF")?)?;
            let root = PathBuf::from(flag("--root").context("--root DIR")?);
            let store = ImageStore::open(&root, None)?;
            let opts = PullOptions {
                unpack: !args.iter().any(|a| a == "--no-unpack"),
                platform: flag("--platform")
                    .map(|p| Platform::parse(&p))
                    .transpose()?,
                ..Default::default()
            };
            let start = std::time::Instant::now();
            let pulled = rt.block_on(pull(&store, &client, &reference, &opts))?;
            eprintln!(
                "pulled {reference} {} chain {:?} in {:.3}s",
                pulled.manifest_digest,
                pulled.chain_id.map(|c| c.to_string()),
                start.elapsed().as_secs_f64()
            );
        }
        Some("push-layers") => {
            let reference =
                Reference::parse(positional.get(1).context("push-layers REF LAYER...")?)?;
            let tmp;
            let root = match flag("--root") {
                Some(r) => PathBuf::from(r),
                None => {
                    tmp = tempfile::tempdir()?;
                    tmp.path().to_path_buf()
                }
            };
            let store = ImageStore::open(&root, None)?;
            let paths: Vec<PathBuf> = positional[2..].iter().map(PathBuf::from).collect();
            if paths.is_empty() {
                bail!("no layers given");
            }
            let types: Vec<&str> = paths.iter().map(|p| media_type(p)).collect::<Result<_>>()?;
            let layers: Vec<NewLayer<'_>> = paths
                .iter()
                .zip(&types)
                .map(|(path, mt)| NewLayer {
                    path,
                    media_type: mt,
                    comment: None,
                })
                .collect();
            let cfg = ContainerConfig {
                cmd: Some(vec!["/bin/sh".into()]),
                ..Default::default()
            };
            create_image(&store, Some(&reference.to_string()), &layers, cfg, None)?;
            let d = rt.block_on(push(
                &store,
                &client,
                &reference.to_string(),
                &reference,
                &PushOptions::default(),
            ))?;
            println!("{d}");
        }
        _ => {
            bail!("usage: image-tool pull REF --root DIR [--no-unpack] | push-layers REF LAYER...")
        }
    }
    Ok(())
}

fn media_type(p: &Path) -> Result<&'static str> {
    let mut magic = [0u8; 4];
    let n = std::fs::File::open(p)
        .with_context(|| format!("open {}", p.display()))?
        .read(&mut magic)?;
    Ok(match Compression::detect(&magic[..n]) {
        Compression::None => media::OCI_LAYER,
        Compression::Gzip => media::OCI_LAYER_GZIP,
        Compression::Zstd => media::OCI_LAYER_ZSTD,
    })
}

//! `cp`: files between a container and the host through the archive endpoints, as tar streams
//! (the `tar` crate; unpacking refuses entries that would land outside the destination).
//! docker's naming rules: into an existing directory the source keeps its name; otherwise the
//! copy takes the destination's name. `-` is a tar stream on stdin or stdout.

use super::super::client::{empty, enc, full, next_chunk, query};
use super::super::Ctx;
use anyhow::{anyhow, bail, Context, Result};
use base64::Engine as _;
use hyper::Method;
use serde_json::Value;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct CpArgs {
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// Archive mode (copy all uid/gid information)
    #[arg(short = 'a', long)]
    pub archive: bool,
    /// Suppress progress output during copy
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// SRC (CONTAINER:SRC_PATH, a host path or -)
    pub src: String,
    /// DEST (CONTAINER:DEST_PATH, a host path or -)
    pub dest: String,
}

/// `CONTAINER:PATH` -> (container, path); a local path (absolute, ./, or without a colon) -> None.
fn split_container(arg: &str) -> Option<(String, String)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    let (c, p) = arg.split_once(':')?;
    if c.is_empty() {
        return None;
    }
    Some((c.to_string(), p.to_string()))
}

/// The path stat the daemon sends in `X-Docker-Container-Path-Stat` (base64 JSON).
fn path_stat(headers: &hyper::HeaderMap) -> Option<Value> {
    let h = headers.get("x-docker-container-path-stat")?.to_str().ok()?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(h)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(h))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

pub async fn run(ctx: &Ctx, a: CpArgs) -> Result<()> {
    match (split_container(&a.src), split_container(&a.dest)) {
        (Some(_), Some(_)) => bail!("copying between containers is not supported"),
        (None, None) => bail!("must specify at least one container source"),
        (Some((c, p)), None) => from_container(ctx, &c, &p, &a.dest, a.quiet).await,
        (None, Some((c, p))) => to_container(ctx, &a.src, &c, &p, a.archive, a.quiet).await,
    }
}

async fn from_container(ctx: &Ctx, c: &str, src: &str, dest: &str, quiet: bool) -> Result<()> {
    let resp = ctx
        .client
        .request(
            Method::GET,
            &format!(
                "/containers/{}/archive{}",
                enc(c),
                query(&[("path", src.to_string())])
            ),
            empty(),
            &[],
        )
        .await?;
    let stat = path_stat(resp.headers());
    let mut body = resp.into_body();
    let mut data = Vec::new();
    while let Some(chunk) = next_chunk(&mut body).await? {
        data.extend_from_slice(&chunk);
    }
    if dest == "-" {
        std::io::stdout().write_all(&data)?;
        return Ok(());
    }
    let name = stat
        .as_ref()
        .and_then(|s| s["name"].as_str())
        .map(String::from)
        .unwrap_or_else(|| {
            Path::new(src)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
    let dest_path = PathBuf::from(dest);
    let size = data.len();
    tokio::task::spawn_blocking(move || extract(&data, &name, &dest_path))
        .await
        .map_err(|e| anyhow!("extracting: {e}"))??;
    if !quiet && std::io::stderr().is_terminal() {
        eprintln!(
            "Successfully copied {} to {dest}",
            super::super::format::human_size(size as f64)
        );
    }
    Ok(())
}

/// Unpacks `data` (whose top entry is `name`) to `dest`: into it when it is a directory,
/// otherwise as it (through a temporary directory beside it, then a rename).
fn extract(data: &[u8], name: &str, dest: &Path) -> Result<()> {
    if dest.is_dir() {
        let mut ar = tar::Archive::new(data);
        ar.set_preserve_permissions(true);
        ar.unpack(dest)
            .with_context(|| format!("extracting into {}", dest.display()))?;
        return Ok(());
    }
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        bail!("no such directory: {}", parent.display());
    }
    let tmp = parent.join(format!(".berth-cp-{}", std::process::id()));
    std::fs::create_dir(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let result = (|| -> Result<()> {
        let mut ar = tar::Archive::new(data);
        ar.set_preserve_permissions(true);
        ar.unpack(&tmp)
            .with_context(|| format!("extracting into {}", parent.display()))?;
        std::fs::rename(tmp.join(name), dest)
            .with_context(|| format!("creating {}", dest.display()))?;
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

/// A tar of `src` with its top entry named `name`.
fn archive(src: &Path, name: &str, keep_owner: bool) -> Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    if !keep_owner {
        b.mode(tar::HeaderMode::Deterministic);
    }
    let meta = std::fs::symlink_metadata(src)
        .with_context(|| format!("lstat {}: no such file or directory", src.display()))?;
    if meta.is_dir() {
        b.append_dir_all(name, src)
    } else {
        b.append_path_with_name(src, name)
    }
    .with_context(|| format!("archiving {}", src.display()))?;
    b.into_inner().context("finishing the archive")
}

async fn to_container(
    ctx: &Ctx,
    src: &str,
    c: &str,
    dest: &str,
    keep_owner: bool,
    quiet: bool,
) -> Result<()> {
    // Where the destination stands decides the directory to extract into and the entry name.
    let stat = ctx
        .client
        .request(
            Method::HEAD,
            &format!(
                "/containers/{}/archive{}",
                enc(c),
                query(&[("path", dest.to_string())])
            ),
            empty(),
            &[],
        )
        .await;
    let dest_stat = match stat {
        Ok(r) => path_stat(r.headers()),
        Err(e) if super::super::client::is_not_found(&e) => None,
        Err(e) => return Err(e),
    };
    let dest_is_dir = dest_stat
        .as_ref()
        .and_then(|s| s["mode"].as_u64())
        // Go's os.ModeDir is bit 31.
        .is_some_and(|m| m & (1 << 31) != 0);
    let (data, dir) = if src == "-" {
        let mut data = Vec::new();
        std::io::stdin().read_to_end(&mut data)?;
        (data, dest.to_string())
    } else {
        let src_path = PathBuf::from(src);
        let src_name = src_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| ".".into());
        let (dir, name) = if dest_is_dir || dest.ends_with('/') {
            (dest.to_string(), src_name)
        } else {
            let d = Path::new(dest);
            (
                d.parent()
                    .map(|p| p.to_string_lossy().into_owned())
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| "/".into()),
                d.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or(src_name),
            )
        };
        let p = src_path.clone();
        let data = tokio::task::spawn_blocking(move || archive(&p, &name, keep_owner))
            .await
            .map_err(|e| anyhow!("archiving: {e}"))??;
        (data, dir)
    };
    let size = data.len();
    ctx.client
        .request(
            Method::PUT,
            &format!(
                "/containers/{}/archive{}",
                enc(c),
                query(&[("path", dir), ("noOverwriteDirNonDir", "true".into())])
            ),
            full(data),
            &[("content-type", "application/x-tar".into())],
        )
        .await?;
    if !quiet && std::io::stderr().is_terminal() {
        eprintln!(
            "Successfully copied {} to {c}:{dest}",
            super::super::format::human_size(size as f64)
        );
    }
    Ok(())
}

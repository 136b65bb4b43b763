//! `docker save` (`GET /images/get`), `docker load` (`POST /images/load`) and `docker import`
//! (`POST /images/create?fromSrc=-`): berth-image's archive code, with Docker's messages and
//! the images unpacked so containers can start from them at once.

use super::inspect::not_found;
use super::pull::parse_reference;
use crate::error::{Error, Result};
use crate::Engine;
use berth_image::config::ContainerConfig;
use berth_image::create::{create_image, NewLayer};
use berth_image::manifest::Platform;
use berth_image::unpack::Compression;
use berth_image::Reference;
use std::io::Read;
use std::path::PathBuf;

/// A request body or archive on the image store's filesystem whose file has no name: nothing
/// outlives the request, even a SIGKILL of the daemon. Code that wants a path reads it through
/// `/proc/self/fd` while this is alive.
#[derive(Debug)]
pub struct TmpFile {
    file: std::fs::File,
}

impl TmpFile {
    /// The open file (for writing the body).
    pub fn file(&self) -> &std::fs::File {
        &self.file
    }

    /// A path that opens this file while it is open.
    fn path(&self) -> PathBuf {
        use std::os::fd::AsRawFd;
        PathBuf::from(format!("/proc/self/fd/{}", self.file.as_raw_fd()))
    }
}

impl Engine {
    /// An unnamed file under the image root's `tmp/` (same filesystem as the store, so a
    /// large upload never fills another one), for a request body.
    pub fn image_tmp_file(&self) -> Result<TmpFile> {
        let root = self.images.root().join("tmp");
        std::fs::create_dir_all(&root)
            .map_err(|e| Error::internal(format!("creating {}", root.display()), e))?;
        let file = tempfile::tempfile_in(&root)
            .map_err(|e| Error::internal(format!("temp file in {}", root.display()), e))?;
        Ok(TmpFile { file })
    }

    /// A directory for archives being written, under the image root (same filesystem, so
    /// blobs can be hard-linked). A crash leaves it to the next daemon's start.
    pub fn image_tmp_dir(&self) -> Result<tempfile::TempDir> {
        let root = self.images.root().join("tmp");
        std::fs::create_dir_all(&root)
            .map_err(|e| Error::internal(format!("creating {}", root.display()), e))?;
        tempfile::Builder::new()
            .prefix("req-")
            .tempdir_in(&root)
            .map_err(|e| Error::internal(format!("temp dir in {}", root.display()), e))
    }

    /// Writes `docker save`'s tar of `names` (an OCI layout that is also a docker-archive)
    /// and returns it opened; the file has no name left, so nothing outlives the reader.
    pub async fn image_save(&self, names: Vec<String>) -> Result<std::fs::File> {
        if names.is_empty() {
            return Err(Error::InvalidArgument(
                "no image names given (names=...)".into(),
            ));
        }
        let (file, ids) = self
            .blocking(move |e| {
                let mut ids = Vec::new();
                for n in &names {
                    let d = e.images.inspect(n).map_err(|err| not_found(err, n))?;
                    ids.push((d.id.to_string(), n.clone()));
                }
                let dir = e.image_tmp_dir()?;
                let out = dir.path().join("save.tar");
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                berth_image::archive::export_tar(&e.images, &refs, &out)?;
                let f = std::fs::File::open(&out)
                    .map_err(|err| Error::internal(format!("open {}", out.display()), err))?;
                drop(dir);
                Ok((f, ids))
            })
            .await?;
        for (id, name) in ids {
            self.image_event("save", &id, Some(&name));
        }
        Ok(file)
    }

    /// Loads a `docker save` tar (or OCI layout tar) at `path`; returns Docker's lines
    /// (`Loaded image: busybox:latest`, or `Loaded image ID: sha256:...` for an unnamed one).
    pub async fn image_load(&self, body: TmpFile) -> Result<Vec<String>> {
        let (lines, events) = self
            .blocking(move |e| {
                let names = berth_image::archive::import(&e.images, &body.path(), None)
                    .map_err(load_error)?;
                let mut lines = Vec::new();
                let mut events = Vec::new();
                for n in &names {
                    let d = e.images.inspect(n)?;
                    let id = d.id.to_string();
                    if n.starts_with("<none>") {
                        lines.push(format!("Loaded image ID: {id}"));
                        events.push((id, None));
                    } else {
                        let familiar =
                            Reference::parse(n).map_or_else(|_| n.clone(), |r| r.familiar());
                        lines.push(format!("Loaded image: {familiar}"));
                        events.push((id, Some(familiar)));
                    }
                }
                Ok((lines, events))
            })
            .await?;
        for (id, name) in events {
            self.image_event("load", &id, name.as_deref());
        }
        Ok(lines)
    }

    /// `docker import`: a rootfs tar (plain, gzip or zstd) at `path` as a one-layer image,
    /// named `repo[:tag]` when given, with Dockerfile `changes` (CMD, ENTRYPOINT, ENV,
    /// WORKDIR, USER, LABEL, EXPOSE, VOLUME, STOPSIGNAL). Returns the image ID.
    pub async fn image_import(
        &self,
        body: TmpFile,
        repo: Option<&str>,
        tag: Option<&str>,
        changes: &[String],
        platform: Option<&str>,
    ) -> Result<String> {
        let name = match repo.filter(|r| !r.is_empty()) {
            Some(r) => {
                let full = match tag.filter(|t| !t.is_empty()) {
                    Some(t) => format!("{r}:{t}"),
                    None => r.to_string(),
                };
                Some(parse_reference(&full)?.to_string())
            }
            None => None,
        };
        let mut config = ContainerConfig::default();
        for c in changes {
            apply_change(&mut config, c)?;
        }
        let platform = platform
            .filter(|p| !p.is_empty())
            .map(Platform::parse)
            .transpose()
            .map_err(|e| Error::InvalidArgument(format!("invalid platform: {e}")))?;
        let event_name = name.clone();
        let id = self
            .blocking(move |e| {
                let path = body.path();
                let mut magic = [0u8; 4];
                let n = std::fs::File::open(&path)
                    .and_then(|mut f| f.read(&mut magic))
                    .map_err(|err| Error::internal("reading the imported tar", err))?;
                let media_type = match Compression::detect(&magic[..n]) {
                    Compression::None => berth_image::media::OCI_LAYER,
                    Compression::Gzip => berth_image::media::OCI_LAYER_GZIP,
                    Compression::Zstd => berth_image::media::OCI_LAYER_ZSTD,
                };
                // Docker's comment for `import -` (URL sources are refused above).
                let comment = "Imported from -";
                // Unpacked before it is named: a tar that cannot be unpacked moves no name.
                let desc = create_image(
                    &e.images,
                    name.as_deref(),
                    &[NewLayer {
                        path: &path,
                        media_type,
                        comment: Some(comment),
                    }],
                    config,
                    platform,
                )
                .map_err(|err| match err {
                    berth_image::Error::Io { .. } => Error::Image(err),
                    err => Error::InvalidArgument(format!("importing the tar: {err}")),
                })?;
                let record = name.unwrap_or_else(|| format!("<none>@{}", desc.digest));
                Ok(e.images.inspect(&record)?.id.to_string())
            })
            .await?;
        let familiar = event_name.and_then(|n| Reference::parse(&n).ok().map(|r| r.familiar()));
        self.image_event("import", &id, familiar.as_deref());
        Ok(id)
    }
}

/// What is wrong with the archive is the client's error (400 before any output, as the
/// message of the stream's errorDetail after); the daemon's own failures stay 500.
fn load_error(e: berth_image::Error) -> Error {
    use berth_image::Error as E;
    match e {
        E::Archive { reason, .. } => {
            Error::InvalidArgument(format!("invalid image archive: {reason}"))
        }
        E::UnsafeEntry { .. }
        | E::Verification { .. }
        | E::InvalidDocument { .. }
        | E::InvalidReference { .. }
        | E::InvalidDigest { .. }
        | E::UnsupportedMediaType { .. }
        | E::NoMatchingPlatform { .. }
        | E::Schema1 { .. } => Error::InvalidArgument(format!("invalid image archive: {e}")),
        e => Error::Image(e),
    }
}

/// Applies one `--change` Dockerfile instruction to the config.
fn apply_change(c: &mut ContainerConfig, change: &str) -> Result<()> {
    let change = change.trim();
    let (instr, rest) = change
        .split_once(char::is_whitespace)
        .unwrap_or((change, ""));
    let rest = rest.trim();
    let list = |s: &str| -> Vec<String> {
        if s.starts_with('[') {
            serde_json::from_str::<Vec<String>>(s).unwrap_or_else(|_| vec![s.to_string()])
        } else {
            vec!["/bin/sh".into(), "-c".into(), s.to_string()]
        }
    };
    match instr.to_ascii_uppercase().as_str() {
        "CMD" => c.cmd = Some(list(rest)),
        "ENTRYPOINT" => c.entrypoint = Some(list(rest)),
        "WORKDIR" => c.working_dir = Some(rest.to_string()),
        "USER" => c.user = Some(rest.to_string()),
        "STOPSIGNAL" => c.stop_signal = Some(rest.to_string()),
        "ENV" => {
            let env = c.env.get_or_insert_with(Vec::new);
            let pairs: Vec<String> = if rest.contains('=') {
                rest.split_whitespace()
                    .map(|p| p.trim_matches('"').to_string())
                    .collect()
            } else {
                let (k, v) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
                vec![format!("{k}={}", v.trim())]
            };
            for p in pairs {
                let key = p.split('=').next().unwrap_or("").to_string();
                env.retain(|e| e.split('=').next() != Some(key.as_str()));
                env.push(p);
            }
        }
        "LABEL" => {
            let labels = c.labels.get_or_insert_with(Default::default);
            for p in rest.split_whitespace() {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                labels.insert(k.trim_matches('"').into(), v.trim_matches('"').into());
            }
        }
        "EXPOSE" => {
            let ports = c.exposed_ports.get_or_insert_with(Default::default);
            for p in rest.split_whitespace() {
                let p = if p.contains('/') {
                    p.to_string()
                } else {
                    format!("{p}/tcp")
                };
                ports.insert(p, serde_json::json!({}));
            }
        }
        "VOLUME" => {
            let vols = c.volumes.get_or_insert_with(Default::default);
            let paths = if rest.starts_with('[') {
                serde_json::from_str::<Vec<String>>(rest).unwrap_or_default()
            } else {
                rest.split_whitespace().map(str::to_string).collect()
            };
            for v in paths {
                vols.insert(v, serde_json::json!({}));
            }
        }
        other => {
            return Err(Error::InvalidArgument(format!(
                "{other} is not a valid change command"
            )))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes() {
        let mut c = ContainerConfig::default();
        apply_change(&mut c, r#"CMD ["/bin/sh","-c","echo hi"]"#).expect("cmd");
        apply_change(&mut c, "ENV A=1 B=2").expect("env");
        apply_change(&mut c, "WORKDIR /w").expect("workdir");
        apply_change(&mut c, "EXPOSE 80").expect("expose");
        assert_eq!(c.cmd.as_deref().map(|v| v.len()), Some(3));
        assert_eq!(c.env, Some(vec!["A=1".to_string(), "B=2".to_string()]));
        assert_eq!(c.working_dir.as_deref(), Some("/w"));
        assert!(c
            .exposed_ports
            .as_ref()
            .expect("ports")
            .contains_key("80/tcp"));
        assert!(apply_change(&mut c, "RUN x").is_err());
    }
}

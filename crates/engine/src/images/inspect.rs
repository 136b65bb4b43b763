//! `docker image inspect` (`GET /images/{name}/json`) in Docker's shape.

use super::list::familiar_digest;
use crate::error::{Error, Result};
use crate::Engine;
use berth_image::store::ImageDetails;
use serde_json::{json, Value};

impl Engine {
    /// The image as `docker image inspect` shows it. Missing: `No such image: NAME`.
    pub async fn image_inspect(&self, name: &str) -> Result<Value> {
        let name = name.to_string();
        self.blocking(move |e| {
            let rec = e.images.find(&name).map_err(|err| not_found(err, &name))?;
            let d = e
                .images
                .details_of(&rec, None)
                .map_err(|err| not_found(err, &name))?;
            Ok(e.inspect_value(&d, rec.created))
        })
        .await
    }

    fn inspect_value(&self, d: &ImageDetails, tagged: u64) -> Value {
        let cfg = d.config.config.clone().unwrap_or_default();
        let config = json!({
            "Hostname": "",
            "Domainname": "",
            "User": cfg.user.clone().unwrap_or_default(),
            "AttachStdin": false,
            "AttachStdout": false,
            "AttachStderr": false,
            "ExposedPorts": cfg.exposed_ports,
            "Tty": false,
            "OpenStdin": false,
            "StdinOnce": false,
            "Env": cfg.env,
            "Cmd": cfg.cmd,
            "Healthcheck": cfg.healthcheck,
            "Image": "",
            "Volumes": cfg.volumes,
            "WorkingDir": cfg.working_dir.clone().unwrap_or_default(),
            "Entrypoint": cfg.entrypoint,
            "OnBuild": cfg.on_build,
            "Labels": cfg.labels,
            "StopSignal": cfg.stop_signal,
            "Shell": cfg.shell,
        });
        let config = strip_nulls_except(config, &["Cmd", "Entrypoint", "OnBuild", "Labels", "Env"]);
        let mut graph = serde_json::Map::new();
        if let Some(top) = &d.chain_id {
            if let Ok(dir) = self.images.snapshots().committed_dir(&top.to_string()) {
                graph.insert("UpperDir".into(), json!(dir.display().to_string()));
            }
        }
        let created_str = d
            .config
            .created
            .clone()
            .unwrap_or_else(|| crate::util::ZERO_TIME.to_string());
        json!({
            "Id": d.id.to_string(),
            "RepoTags": d.repo_tags,
            "RepoDigests": d.repo_digests.iter().map(|r| familiar_digest(r)).collect::<Vec<_>>(),
            "Parent": "",
            "Comment": d.config.history.last().and_then(|h| h.comment.clone()).unwrap_or_default(),
            "Created": created_str,
            "DockerVersion": "",
            "Author": d.config.author.clone().unwrap_or_default(),
            "Config": config,
            "Architecture": d.config.architecture,
            "Variant": d.config.variant,
            "Os": d.config.os,
            "Size": d.size,
            "GraphDriver": {"Name": "overlay2", "Data": graph},
            "RootFS": {
                "Type": if d.config.rootfs.kind.is_empty() { "layers" } else { d.config.rootfs.kind.as_str() },
                "Layers": d.config.rootfs.diff_ids.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
            },
            "Metadata": {"LastTagTime": humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(tagged)
            ).to_string()},
        })
    }
}

/// Docker leaves out empty optional fields but keeps `null` for a few.
fn strip_nulls_except(v: Value, keep: &[&str]) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(k, v)| !v.is_null() || keep.contains(&k.as_str()))
                .collect(),
        ),
        v => v,
    }
}

pub(crate) fn not_found(e: berth_image::Error, name: &str) -> Error {
    match e {
        berth_image::Error::NotFound { kind: "image", .. } => super::resolve::no_such_image(name),
        e => Error::Image(e),
    }
}

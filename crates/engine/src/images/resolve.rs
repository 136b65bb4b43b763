//! Resolving a user-given image name (`busybox`, `localhost:5000/app:1`, an ID or ID prefix)
//! to what a container is created from.

use crate::error::{Error, Result};
use crate::Engine;
use berth_image::config::ImageConfig;
use berth_image::Reference;

/// An image as the container side needs it.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// Image ID, `sha256:...` (the config digest).
    pub id: String,
    /// The normalized name the image was found under (`docker.io/library/busybox:latest`), or
    /// the ID when the image has no name.
    pub name: String,
    /// The image configuration (Env, Cmd, Entrypoint, WorkingDir, User, ...).
    pub config: ImageConfig,
    /// Chain ID of the top layer: the snapshot key a container's snapshot is prepared on.
    /// None for an image without layers.
    pub chain_id: Option<String>,
}

impl Engine {
    /// Finds an image by name, ID or ID prefix. A missing image is `NotFound` with Docker's
    /// message (`No such image: busybox:latest`).
    pub fn image_resolve(&self, name: &str) -> Result<ResolvedImage> {
        let rec = self
            .images
            .find(name)
            .map_err(|e| not_found_as_docker(e, name))?;
        let d = self
            .images
            .details_of(&rec, None)
            .map_err(|e| not_found_as_docker(e, name))?;
        let id = d.id.to_string();
        let name = if rec.name.starts_with("<none>") {
            id.clone()
        } else {
            rec.name.clone()
        };
        Ok(ResolvedImage {
            id,
            name,
            config: d.config,
            chain_id: d.chain_id.map(|c| c.to_string()),
        })
    }
}

/// Docker names a missing image by its familiar form with the tag (`busybox:latest`), or as
/// given when it is an ID.
pub(crate) fn no_such_image(name: &str) -> Error {
    Error::NotFound(format!("No such image: {}", familiar_name(name)))
}

/// The familiar form (`busybox:latest`) of a name, or the name itself when it is an ID or
/// does not parse.
pub(crate) fn familiar_name(name: &str) -> String {
    if looks_like_id(name) {
        return name.to_string();
    }
    Reference::parse(name).map_or_else(|_| name.to_string(), |r| r.familiar())
}

/// `sha256:<hex>` or a bare hex string of 12 or more digits.
pub(crate) fn looks_like_id(name: &str) -> bool {
    let hex = name.strip_prefix("sha256:").unwrap_or(name);
    (name.starts_with("sha256:") || hex.len() >= 12)
        && !hex.is_empty()
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

fn not_found_as_docker(e: berth_image::Error, name: &str) -> Error {
    match e {
        berth_image::Error::NotFound { kind: "image", .. } => no_such_image(name),
        e => Error::Image(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_names_in_not_found() {
        assert_eq!(
            no_such_image("busybox").to_string(),
            "No such image: busybox:latest"
        );
        assert_eq!(
            no_such_image("localhost:5000/a/b").to_string(),
            "No such image: localhost:5000/a/b:latest"
        );
        assert_eq!(
            no_such_image("0123456789ab").to_string(),
            "No such image: 0123456789ab"
        );
        assert!(looks_like_id("sha256:abcdef"));
        assert!(!looks_like_id("busybox"));
    }
}

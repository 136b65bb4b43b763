//! `docker tag` (`POST /images/{name}/tag?repo=&tag=`).

use super::inspect::not_found;
use super::pull::parse_reference;
use crate::error::{Error, Result};
use crate::Engine;

impl Engine {
    /// Names the image `source` as `repo:tag` (tag `latest` when empty).
    pub async fn image_tag(&self, source: &str, repo: &str, tag: Option<&str>) -> Result<()> {
        if repo.is_empty() {
            return Err(Error::InvalidArgument(
                "repository name must have at least one component".into(),
            ));
        }
        let tag = tag.filter(|t| !t.is_empty()).unwrap_or("latest");
        if repo.contains('@') {
            return Err(Error::InvalidArgument(
                "refusing to create a tag with a digest reference".into(),
            ));
        }
        let target = parse_reference(&format!("{repo}:{tag}"))?;
        let (source, target_s) = (source.to_string(), target.to_string());
        let id = self
            .blocking(move |e| {
                let d = e
                    .images
                    .inspect(&source)
                    .map_err(|err| not_found(err, &source))?;
                e.images.tag(&source, &target_s).map_err(Error::Image)?;
                Ok(d.id.to_string())
            })
            .await?;
        self.image_event("tag", &id, Some(&target.familiar()));
        Ok(())
    }
}

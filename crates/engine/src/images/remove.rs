//! `docker rmi` (`DELETE /images/{name}?force=&noprune=`) with dockerd's rules: a name is
//! untagged and the image deleted with its last name; an image a container uses is kept
//! (409 unless forced, and then only untagged).

use super::inspect::not_found;
use super::resolve::looks_like_id;
use crate::error::{Error, Result};
use crate::Engine;
use berth_image::Reference;
use bollard_stubs::models::ImageDeleteResponseItem;

fn short(id: &str) -> String {
    super::progress::short_id(id)
}

impl Engine {
    /// Removes `name` as `docker rmi` does; returns the `Untagged` and `Deleted` entries.
    pub async fn image_remove(
        &self,
        name: &str,
        force: bool,
        _noprune: bool,
    ) -> Result<Vec<ImageDeleteResponseItem>> {
        let name = name.to_string();
        // Container records are read here, on the async side: the registry is shared.
        let users: Vec<(String, String, bool)> = self
            .containers
            .all()
            .iter()
            .map(|c| {
                let r = c.record();
                (r.id.clone(), r.image.clone(), r.state.status.is_live())
            })
            .collect();
        let (items, events) = self
            .blocking(move |e| e.image_remove_blocking(&name, force, &users))
            .await?;
        for (action, id, n) in events {
            self.image_event(action, &id, n.as_deref());
        }
        Ok(items)
    }

    #[allow(clippy::type_complexity)]
    fn image_remove_blocking(
        &self,
        name: &str,
        force: bool,
        users: &[(String, String, bool)],
    ) -> Result<(
        Vec<ImageDeleteResponseItem>,
        Vec<(&'static str, String, Option<String>)>,
    )> {
        let rec = self.images.find(name).map_err(|e| not_found(e, name))?;
        let d = self
            .images
            .details_of(&rec, None)
            .map_err(|e| not_found(e, name))?;
        let id = d.id.to_string();
        let all_names: Vec<String> = self
            .images
            .records()?
            .into_iter()
            .filter(|r| r.target.digest == rec.target.digest)
            .map(|r| r.name)
            .collect();
        let tagged: Vec<&String> = all_names
            .iter()
            .filter(|n| !n.starts_with("<none>"))
            .collect();
        // A bare ID is never a name, even though `0123456789ab` parses as a repository.
        let by_ref = (name.contains('/') || !looks_like_id(name))
            && Reference::parse(name).is_ok_and(|r| r.to_string() == rec.name);
        let using: Vec<&(String, String, bool)> =
            users.iter().filter(|(_, img, _)| *img == id).collect();
        let mut items = Vec::new();
        let mut events = Vec::new();
        let untag = |n: &str, items: &mut Vec<ImageDeleteResponseItem>, events: &mut Vec<_>| {
            if n.starts_with("<none>") {
                return;
            }
            let familiar = Reference::parse(n).map_or_else(|_| n.to_string(), |r| r.familiar());
            items.push(ImageDeleteResponseItem {
                untagged: Some(familiar.clone()),
                deleted: None,
            });
            events.push(("untag", id.clone(), Some(familiar)));
        };
        if by_ref {
            if tagged.len() > 1 || (tagged.len() == 1 && rec.name.starts_with("<none>")) {
                // Other names remain: only this one goes.
                self.images.untag(&rec.name)?;
                untag(&rec.name, &mut items, &mut events);
                return Ok((items, events));
            }
            if let Some((cid, _, _)) = using.first() {
                if !force {
                    let repo = Reference::parse(name).map_or_else(
                        |_| name.to_string(),
                        |r| {
                            let f = r.familiar();
                            f.strip_suffix(":latest").unwrap_or(&f).to_string()
                        },
                    );
                    return Err(Error::Conflict(format!(
                        "conflict: unable to remove repository reference \"{repo}\" (must force) - container {} is using its referenced image {}",
                        short(cid),
                        short(&id)
                    )));
                }
                // Forced: untag, and keep the image (dangling) for the container.
                self.images
                    .set(&format!("<none>@{}", rec.target.digest), rec.target.clone())?;
                self.images.untag(&rec.name)?;
                untag(&rec.name, &mut items, &mut events);
                return Ok((items, events));
            }
        } else {
            if let Some((cid, _, live)) = using.iter().find(|(_, _, live)| *live).or(using.first())
            {
                if *live {
                    return Err(Error::Conflict(format!(
                        "conflict: unable to delete {} (cannot be forced) - image is being used by running container {}",
                        short(&id),
                        short(cid)
                    )));
                }
                if !force {
                    return Err(Error::Conflict(format!(
                        "conflict: unable to delete {} (must be forced) - image is being used by stopped container {}",
                        short(&id),
                        short(cid)
                    )));
                }
                // Forced with a stopped container: every name goes, the image stays.
                self.images
                    .set(&format!("<none>@{}", rec.target.digest), rec.target.clone())?;
                for n in &tagged {
                    self.images.untag(n)?;
                    untag(n, &mut items, &mut events);
                }
                return Ok((items, events));
            }
            if tagged.len() > 1 && !force {
                return Err(Error::Conflict(format!(
                    "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                    short(&id)
                )));
            }
        }
        // The image goes with every name it has left.
        for n in &all_names {
            untag(n, &mut items, &mut events);
        }
        self.images
            .delete(id.strip_prefix("sha256:").unwrap_or(&id))?;
        items.push(ImageDeleteResponseItem {
            untagged: None,
            deleted: Some(id.clone()),
        });
        events.push(("delete", id.clone(), None));
        Ok((items, events))
    }
}

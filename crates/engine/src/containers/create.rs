//! `create`: a record, a writable snapshot on the image, nothing running yet.

use super::validate;
use super::{Container, ContainerRecord, RunState, Status};
use crate::containers::logs::LogOptions;
use crate::error::{Error, Result};
use crate::store::NameClaim;
use crate::Engine;
use bollard_stubs::models::{ContainerCreateBody, HostConfig, HostConfigLogConfig};
use std::collections::{BTreeMap, HashMap};

/// What `create` returns.
#[derive(Debug, Clone)]
pub struct Created {
    pub id: String,
    pub warnings: Vec<String>,
}

/// What the API version of the request changes in `create`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CreateOptions {
    /// API < 1.44 (moby's `DefaultReadOnlyNonRecursive`): read-only binds are read-only at the
    /// top only, as every Docker before 25 mounted them.
    pub default_read_only_non_recursive: bool,
}

impl Engine {
    /// Creates a container from `body` (Docker's create request), named `name` or a generated
    /// name. Nothing is left behind when it fails.
    pub async fn container_create(
        &self,
        name: Option<&str>,
        body: ContainerCreateBody,
    ) -> Result<Created> {
        self.container_create_with(name, body, CreateOptions::default())
            .await
    }

    /// [`Engine::container_create`] with the options of an older API version.
    pub async fn container_create_with(
        &self,
        name: Option<&str>,
        body: ContainerCreateBody,
        opts: CreateOptions,
    ) -> Result<Created> {
        // A name asked for is checked now, so a conflict costs no work; the claim that counts
        // is made with the record, in one database transaction. A generated name is only
        // claimed there, and another one is drawn when it is taken (dockerd's retries).
        let requested = match name.filter(|n| !n.is_empty()) {
            Some(n) => {
                let n = n.trim_start_matches('/');
                if !crate::util::valid_container_name(n) {
                    return Err(Error::InvalidArgument(format!(
                        "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                    )));
                }
                if let Some(other) = self.containers.name_taken(n, "") {
                    return Err(conflict(n, &other));
                }
                Some(n.to_string())
            }
            None => None,
        };
        let image_name = body
            .image
            .clone()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::InvalidArgument("Config.Image: no image specified".into()))?;
        // dockerd's order: the request's own checks (400), then the image (404).
        validate::verify_create(&body, &validate::HostFacts::current())?;
        let mut host_config = body.host_config.clone().unwrap_or_default();
        let warnings = self.validate_host_config(&mut host_config, false)?;
        let image = self.image_resolve(&image_name)?;
        let user_config = crate::spec::config_of_create_body(&body);
        let (mut config, args) = validate::convert_create(
            &body,
            &image.config.config.clone().unwrap_or_default(),
            &host_config,
        )?;
        config.image = Some(image_name.clone());
        let runtime = host_config
            .runtime
            .clone()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| self.config.default_runtime.clone());
        self.config.runtime_path(&runtime)?;
        host_config.runtime = Some(runtime.clone());
        let endpoints = body
            .networking_config
            .as_ref()
            .and_then(|n| n.endpoints_config.clone())
            .unwrap_or_default();
        let hostname_set = user_config
            .hostname
            .as_deref()
            .is_some_and(|h| !h.is_empty());
        let attachments =
            self.network_attachments_for_create(&host_config, hostname_set, &endpoints)?;

        // Held until the record is in the registry, so no volume it uses can be removed between.
        let volumes_guard = self.volumes.lock();
        let (mount_points, new_volumes) =
            self.volumes_resolve(&host_config, &config, opts.default_read_only_non_recursive)?;
        let id = crate::util::new_id();
        let mut record = ContainerRecord {
            id: id.clone(),
            name: requested
                .clone()
                .unwrap_or_else(|| super::names::random_name(0)),
            created: crate::util::now_rfc3339(),
            image: image.id.clone(),
            path: args.first().cloned().unwrap_or_default(),
            args: args.iter().skip(1).cloned().collect(),
            config,
            host_config,
            state: RunState {
                status: Status::Created,
                started_at: crate::util::ZERO_TIME.into(),
                finished_at: crate::util::ZERO_TIME.into(),
                ..Default::default()
            },
            restart_count: 0,
            runtime,
            snapshot: id.clone(),
            parent_snapshot: image.chain_id.clone(),
            log_path: self.paths.log_file(&id).display().to_string(),
            mount_points,
            networks: crate::networks::record::ContainerNetworks {
                attachments,
                ports: Vec::new(),
            },
            ..Default::default()
        };

        // The snapshot first: a crash after it and before the record leaves only an orphan
        // snapshot, which `restore` removes; the reverse would leave a record without a layer.
        let dir = self.paths.container_dir(&id);
        let prepared = (|| -> Result<()> {
            std::fs::create_dir_all(self.paths.rootfs(&id))
                .map_err(|e| Error::internal(format!("creating {}", dir.display()), e))?;
            self.images
                .snapshots()
                .prepare(&id, image.chain_id.as_deref())?;
            Ok(())
        })();
        if let Err(e) = prepared {
            let _ = std::fs::remove_dir_all(&dir);
            self.volumes_rollback(&new_volumes);
            return Err(e);
        }
        let inserted = self.claim_name_and_insert(&mut record, requested.is_none());
        if let Err(e) = inserted {
            let _ = self.images.snapshots().remove(&id);
            let _ = std::fs::remove_dir_all(&dir);
            self.volumes_rollback(&new_volumes);
            return Err(e);
        }
        drop(volumes_guard);
        self.container_event(&record, "create");
        Ok(Created { id, warnings })
    }

    /// Checks and completes a HostConfig the way dockerd does at create.
    pub(crate) fn validate_host_config(
        &self,
        hc: &mut HostConfig,
        update: bool,
    ) -> Result<Vec<String>> {
        let warnings = Vec::new();
        // Log driver: the daemon's unless the container names one.
        let lc = hc.log_config.clone().unwrap_or_default();
        let driver = lc
            .typ
            .clone()
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| self.config.log_driver.clone());
        if !crate::config::LOG_DRIVERS.contains(&driver.as_str()) {
            return Err(Error::InvalidArgument(format!(
                "HostConfig.LogConfig.Type: log driver {driver:?} is not supported (supported: {})",
                crate::config::LOG_DRIVERS.join(", ")
            )));
        }
        // dockerd: the request's options if it gives any (with or without a driver name),
        // else the daemon's when the driver is the daemon's.
        let opts: BTreeMap<String, String> = match &lc.config {
            Some(c) if !c.is_empty() => c.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            _ if driver == self.config.log_driver => self.config.log_opts.clone(),
            _ => BTreeMap::new(),
        };
        LogOptions::parse(&driver, &opts)
            .map_err(|e| Error::InvalidArgument(format!("HostConfig.LogConfig.Config: {e}")))?;
        hc.log_config = Some(HostConfigLogConfig {
            typ: Some(driver),
            config: Some(opts.into_iter().collect::<HashMap<_, _>>()),
        });
        // Restart policy.
        if let Some(rp) = &hc.restart_policy {
            let name = rp.name.map(|n| n.to_string()).unwrap_or_default();
            match name.as_str() {
                "" | "no" | "always" | "unless-stopped" => {
                    if rp.maximum_retry_count.unwrap_or(0) != 0 {
                        return Err(Error::InvalidArgument(format!(
                            "invalid restart policy: maximum retry count can only be used with 'on-failure' (got {name:?})"
                        )));
                    }
                }
                "on-failure" => {
                    if rp.maximum_retry_count.unwrap_or(0) < 0 {
                        return Err(Error::InvalidArgument(
                            "invalid restart policy: maximum retry count cannot be negative".into(),
                        ));
                    }
                }
                other => {
                    return Err(Error::InvalidArgument(format!(
                        "invalid restart policy: unknown policy {other:?}; use one of 'no', 'always', 'unless-stopped' or 'on-failure'"
                    )))
                }
            }
            if hc.auto_remove == Some(true) && !matches!(name.as_str(), "" | "no") {
                return Err(Error::InvalidArgument(
                    "can't create 'AutoRemove' container with restart policy".into(),
                ));
            }
        }
        validate::verify_host_config(hc, &validate::HostFacts::current(), update)?;
        // The network mode and endpoints are checked with the attachments (networks module).
        Ok(warnings)
    }

    /// Writes the new record and its name in one transaction, then adds the container to the
    /// registry. A taken generated name is replaced, as dockerd does: five more random names
    /// (with a digit), then the id's first 12 characters.
    fn claim_name_and_insert(&self, record: &mut ContainerRecord, generated: bool) -> Result<()> {
        let mut retry = 0u32;
        loop {
            match self
                .store
                .container_insert(&record.id, &record.name, &*record)?
            {
                NameClaim::Claimed => break,
                NameClaim::TakenBy(other) if !generated => {
                    return Err(conflict(&record.name, &other))
                }
                NameClaim::TakenBy(other) => {
                    if record.name == record.id[..12] {
                        return Err(conflict(&record.name, &other));
                    }
                    retry += 1;
                    record.name = if retry < 6 {
                        super::names::random_name(retry)
                    } else {
                        record.id[..12].to_string()
                    };
                }
            }
        }
        if let Err(e) = self.containers.insert(Container::new(record.clone())) {
            // Only if the registry and the database disagree: undo the write.
            let _ = self.store.container_delete(&record.id, &record.name);
            return Err(e);
        }
        Ok(())
    }

    /// Publishes a container event with Docker's attributes (name, image, labels).
    pub(crate) fn container_event(&self, rec: &ContainerRecord, action: &str) {
        self.container_event_with(rec, action, HashMap::new());
    }

    pub(crate) fn container_event_with(
        &self,
        rec: &ContainerRecord,
        action: &str,
        extra: HashMap<String, String>,
    ) {
        let mut attrs: HashMap<String, String> = rec.config.labels.clone().unwrap_or_default();
        attrs.insert("name".into(), rec.name.clone());
        attrs.insert("image".into(), rec.config.image.clone().unwrap_or_default());
        attrs.extend(extra);
        self.events.publish(
            bollard_stubs::models::EventMessageTypeEnum::CONTAINER,
            action,
            &rec.id,
            attrs,
        );
    }
}

pub(crate) fn conflict(name: &str, other: &str) -> Error {
    Error::Conflict(format!(
        "Conflict. The container name \"/{name}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
    ))
}

//! `volume create`: the directory first, the record last (a crash in between leaves a
//! directory without a record, which the next daemon removes).

use super::{local, VolumeRecord, ANONYMOUS_LABEL, LOCAL_DRIVER};
use crate::{Engine, Error, Result};
use std::collections::{BTreeMap, HashMap};

/// What `volume create` asks for.
#[derive(Debug, Clone, Default)]
pub struct VolumeCreate {
    /// Empty: an anonymous volume with a generated name.
    pub name: String,
    pub driver: String,
    pub driver_opts: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

impl Engine {
    /// Creates a volume, or returns the existing one of that name (as Docker does).
    pub fn volume_create(&self, req: VolumeCreate) -> Result<VolumeRecord> {
        let _g = self.volumes.lock();
        self.volume_create_locked(req).map(|(v, _)| v)
    }

    /// Creates a volume; the caller holds the volume lock. Also says whether it was new.
    pub(crate) fn volume_create_locked(&self, req: VolumeCreate) -> Result<(VolumeRecord, bool)> {
        let driver = if req.driver.is_empty() {
            LOCAL_DRIVER.to_string()
        } else {
            req.driver.clone()
        };
        if driver != LOCAL_DRIVER {
            return Err(Error::NotFound(format!(
                "error looking up volume plugin {driver}: plugin \"{driver}\" not found"
            )));
        }
        let mut labels = req.labels;
        let name = if req.name.is_empty() {
            labels.entry(ANONYMOUS_LABEL.into()).or_default();
            crate::util::new_id()
        } else {
            req.name.clone()
        };
        super::check_name(&name)?;
        if let Some(existing) = self.volume_record(&name)? {
            return Ok((existing, false));
        }
        local::validate(&req.driver_opts).map_err(|e| match e {
            Error::InvalidArgument(m) => Error::InvalidArgument(format!("create {name}: {m}")),
            e => e,
        })?;
        let rec = VolumeRecord {
            name: name.clone(),
            driver,
            created_at: created_at_now(),
            labels,
            options: req.driver_opts,
        };
        let data = self.volume_data(&name);
        std::fs::create_dir_all(&data).map_err(|e| {
            Error::internal(format!("create {name}: creating {}", data.display()), e)
        })?;
        if let Err(e) = self.store.put(crate::store::VOLUME_TABLE, &name, &rec) {
            let _ = std::fs::remove_dir_all(self.volume_dir(&name));
            return Err(e);
        }
        self.volume_event(&name, "create", HashMap::new());
        Ok((rec, true))
    }
}

/// Docker's `CreatedAt`: RFC 3339 to the second.
fn created_at_now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

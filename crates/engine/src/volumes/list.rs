//! `volume ls` with Docker's filters, `volume inspect`, and the sizes for `system df`.

use super::VolumeRecord;
use crate::{Engine, Error, Result};
use serde_json::{json, Value};
use std::collections::HashMap;

/// Docker's volume filters: `dangling`, `name` (substring), `label` (`k` or `k=v`), `label!`,
/// `driver`.
#[derive(Debug, Clone, Default)]
pub struct VolumeFilter {
    pub filters: HashMap<String, Vec<String>>,
}

impl VolumeFilter {
    /// Rejects unknown keys and bad `dangling` values, as Docker does (400).
    pub fn validate(&self, allowed: &[&str]) -> Result<()> {
        for (k, vals) in &self.filters {
            if !allowed.contains(&k.as_str()) {
                return Err(Error::InvalidArgument(format!("invalid filter '{k}'")));
            }
            if k == "dangling" || k == "all" {
                for v in vals {
                    if !matches!(v.as_str(), "true" | "false" | "1" | "0") {
                        return Err(Error::InvalidArgument(format!(
                            "invalid filter '{k}={v}': expected a boolean"
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    fn bool(&self, k: &str) -> Option<bool> {
        self.filters
            .get(k)
            .and_then(|v| v.last())
            .map(|v| v == "true" || v == "1")
    }

    pub(crate) fn matches(&self, v: &VolumeRecord, in_use: bool) -> bool {
        if let Some(d) = self.bool("dangling") {
            if d == in_use {
                return false;
            }
        }
        if let Some(names) = self.filters.get("name") {
            if !names.is_empty() && !names.iter().any(|n| v.name.contains(n.as_str())) {
                return false;
            }
        }
        if let Some(drivers) = self.filters.get("driver") {
            if !drivers.is_empty() && !drivers.contains(&v.driver) {
                return false;
            }
        }
        let label_matches = |want: &str| match want.split_once('=') {
            Some((k, val)) => v.labels.get(k).is_some_and(|x| x == val),
            None => v.labels.contains_key(want),
        };
        if let Some(ls) = self.filters.get("label") {
            if !ls.iter().all(|l| label_matches(l)) {
                return false;
            }
        }
        if let Some(ls) = self.filters.get("label!") {
            if ls.iter().any(|l| label_matches(l)) {
                return false;
            }
        }
        true
    }
}

impl Engine {
    /// Every volume record, by name.
    pub fn volume_records(&self) -> Result<Vec<VolumeRecord>> {
        Ok(self
            .store
            .all::<VolumeRecord>(crate::store::VOLUME_TABLE)?
            .into_iter()
            .map(|(_, v)| v)
            .collect())
    }

    /// How many containers (any state) use each volume.
    pub(crate) fn volume_ref_counts(&self) -> HashMap<String, usize> {
        let mut refs: HashMap<String, usize> = HashMap::new();
        for c in self.containers.all() {
            let r = c.record();
            let mut names: Vec<&String> = r
                .mount_points
                .iter()
                .filter(|m| !m.name.is_empty())
                .map(|m| &m.name)
                .collect();
            names.sort();
            names.dedup();
            for n in names {
                *refs.entry(n.clone()).or_default() += 1;
            }
        }
        refs
    }

    /// `GET /volumes`: Docker's `{"Volumes": [...], "Warnings": []}`.
    pub fn volume_list(&self, filter: &VolumeFilter) -> Result<Value> {
        filter.validate(&["dangling", "name", "label", "label!", "driver"])?;
        let refs = self.volume_ref_counts();
        let vols: Vec<Value> = self
            .volume_records()?
            .iter()
            .filter(|v| filter.matches(v, refs.contains_key(&v.name)))
            .map(|v| self.volume_json(v))
            .collect();
        Ok(json!({"Volumes": vols, "Warnings": []}))
    }

    /// `GET /volumes/{name}`.
    pub fn volume_inspect(&self, name: &str) -> Result<Value> {
        match self.volume_record(name)? {
            Some(v) => Ok(self.volume_json(&v)),
            None => Err(Error::NotFound(format!("get {name}: no such volume"))),
        }
    }

    /// The volumes for `/system/df`: each with `UsageData` (size of its data, containers
    /// using it).
    pub fn volume_df(&self) -> Result<Vec<Value>> {
        let refs = self.volume_ref_counts();
        let recs = self.volume_records()?;
        let mut out = Vec::with_capacity(recs.len());
        for v in &recs {
            let data = self.volume_data(&v.name);
            // A volume with mount options shows its size only while mounted (Docker reports
            // -1 for what it cannot measure).
            let size = if super::local::has_mount(v) && !crate::util::is_mountpoint(&data) {
                0
            } else {
                dir_size(&data)
            };
            let mut j = self.volume_json(v);
            j["UsageData"] =
                json!({"Size": size, "RefCount": refs.get(&v.name).copied().unwrap_or(0)});
            out.push(j);
        }
        Ok(out)
    }
}

/// Bytes of the files and symlinks under `dir`, each inode counted once, symlinks not followed,
/// other filesystems not entered (moby's `directory.Size`).
pub(crate) fn dir_size(dir: &std::path::Path) -> i64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(root) = std::fs::symlink_metadata(dir) else {
        return 0;
    };
    let dev = root.dev();
    let mut seen = std::collections::HashSet::new();
    let mut total: i64 = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.dev() != dev {
                continue;
            }
            if m.is_dir() {
                stack.push(e.path());
            } else if m.nlink() <= 1 || seen.insert(m.ino()) {
                total += m.size() as i64;
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vol(name: &str, labels: &[(&str, &str)]) -> VolumeRecord {
        VolumeRecord {
            name: name.into(),
            driver: "local".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    fn f(kv: &[(&str, &str)]) -> VolumeFilter {
        let mut filters: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in kv {
            filters
                .entry(k.to_string())
                .or_default()
                .push(v.to_string());
        }
        VolumeFilter { filters }
    }

    #[test]
    fn filters_follow_docker() {
        let a = vol("alpha", &[("env", "prod"), ("team", "")]);
        assert!(f(&[("name", "lph")]).matches(&a, false));
        assert!(!f(&[("name", "beta")]).matches(&a, false));
        assert!(f(&[("label", "env=prod")]).matches(&a, false));
        assert!(f(&[("label", "team")]).matches(&a, false));
        assert!(!f(&[("label", "env=dev")]).matches(&a, false));
        assert!(!f(&[("label!", "env")]).matches(&a, false));
        assert!(f(&[("dangling", "true")]).matches(&a, false));
        assert!(!f(&[("dangling", "true")]).matches(&a, true));
        assert!(f(&[("dangling", "false")]).matches(&a, true));
        assert!(f(&[("driver", "local")]).matches(&a, true));
        assert!(f(&[("bogus", "x")]).validate(&["name"]).is_err());
        assert!(f(&[("dangling", "maybe")]).validate(&["dangling"]).is_err());
    }

    #[test]
    fn dir_size_counts_files_once() {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::write(d.path().join("a"), vec![0u8; 1000]).expect("write");
        std::fs::create_dir(d.path().join("sub")).expect("mkdir");
        std::fs::write(d.path().join("sub/b"), vec![0u8; 24]).expect("write");
        std::fs::hard_link(d.path().join("a"), d.path().join("sub/a2")).expect("link");
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("l")).expect("symlink");
        // The symlink counts its own length, as in moby.
        assert_eq!(dir_size(d.path()), 1024 + "/etc/passwd".len() as i64);
    }
}

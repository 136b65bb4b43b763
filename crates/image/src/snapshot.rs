//! Snapshotter: directories keyed by name (committed layers by chain ID), returned as mounts.
//!
//! Two drivers share one metadata file (`metadata.json`, rewritten atomically under an
//! exclusive `flock`): **overlay** (each snapshot holds only its own layer; mounts stack the
//! parents as lower directories) and **copy** (each snapshot is a full copy of its parent plus
//! its layer; mounts are binds), the fallback where overlayfs is missing or we are not root.

use crate::error::{Error, IoContext, Result};
use crate::fsutil::{write_atomic, FileLock};
use crate::mount::Mount;
use crate::unpack::WhiteoutMode;
use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

/// How snapshots are stored and mounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    Overlay,
    Copy,
}

impl Driver {
    /// Overlay when the kernel has it and we may use it (root), else copy.
    pub fn detect() -> Driver {
        let has_overlay = fs::read_to_string("/proc/filesystems")
            .is_ok_and(|s| s.lines().any(|l| l.trim_end().ends_with("overlay")));
        if has_overlay && rustix::process::geteuid().is_root() {
            Driver::Overlay
        } else {
            Driver::Copy
        }
    }
}

/// Snapshot state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Writable, from `prepare`.
    Active,
    /// Read-only, from `view`.
    View,
    /// Immutable, from `commit`; may be a parent.
    Committed,
}

/// What is known about one snapshot.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Info {
    pub key: String,
    pub parent: Option<String>,
    pub kind: Kind,
    /// Directory number under `snapshots/`.
    pub id: u64,
    /// Seconds since the epoch.
    pub created: u64,
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Meta {
    next_id: u64,
    snapshots: BTreeMap<String, Info>,
}

/// A snapshotter rooted at one directory.
#[derive(Debug, Clone)]
pub struct Snapshotter {
    root: PathBuf,
    driver: Driver,
}

impl Snapshotter {
    /// Opens (creating) a snapshotter at `root` with `driver` (or [`Driver::detect`]).
    pub fn open(root: impl Into<PathBuf>, driver: Option<Driver>) -> Result<Snapshotter> {
        let root = root.into();
        let dir = root.join("snapshots");
        fs::create_dir_all(&dir).io("create directory", &dir)?;
        Ok(Snapshotter {
            root,
            driver: driver.unwrap_or_else(Driver::detect),
        })
    }

    /// The driver in use.
    pub fn driver(&self) -> Driver {
        self.driver
    }

    /// How layers must be unpacked into this snapshotter's active snapshots.
    pub fn whiteout_mode(&self) -> WhiteoutMode {
        match self.driver {
            Driver::Overlay => WhiteoutMode::Overlay,
            Driver::Copy => WhiteoutMode::Apply,
        }
    }

    fn with_meta<T>(&self, f: impl FnOnce(&mut Meta) -> Result<(T, bool)>) -> Result<T> {
        let _lock = FileLock::exclusive(&self.root.join("lock"))?;
        let path = self.root.join("metadata.json");
        let mut meta: Meta = match fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| Error::InvalidDocument {
                what: path.display().to_string(),
                reason: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Meta::default(),
            Err(e) => return Err(e).io("read", path),
        };
        let (out, changed) = f(&mut meta)?;
        if changed {
            let bytes = serde_json::to_vec_pretty(&meta).expect("metadata always serializes");
            write_atomic(&path, &bytes)?;
        }
        Ok(out)
    }

    fn dir_of(&self, id: u64) -> PathBuf {
        self.root.join("snapshots").join(id.to_string())
    }

    /// Creates a writable snapshot on top of `parent` (a committed key) and returns its mounts.
    pub fn prepare(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>> {
        self.create(key, parent, Kind::Active)?;
        self.mounts(key)
    }

    /// Creates a read-only snapshot of `parent` and returns its mounts.
    pub fn view(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>> {
        self.create(key, parent, Kind::View)?;
        self.mounts(key)
    }

    fn create(&self, key: &str, parent: Option<&str>, kind: Kind) -> Result<()> {
        if key.is_empty() {
            return Err(Error::Snapshot {
                key: key.into(),
                reason: "empty key".into(),
            });
        }
        let (id, parent_dir) = self.with_meta(|m| {
            if m.snapshots.contains_key(key) {
                return Err(Error::AlreadyExists {
                    kind: "snapshot",
                    name: key.into(),
                });
            }
            let parent_dir = match parent {
                Some(p) => {
                    let info = m.snapshots.get(p).ok_or_else(|| Error::NotFound {
                        kind: "parent snapshot",
                        name: p.into(),
                    })?;
                    if info.kind != Kind::Committed {
                        return Err(Error::Snapshot {
                            key: key.into(),
                            reason: format!("parent {p} is not committed"),
                        });
                    }
                    Some(self.dir_of(info.id).join("fs"))
                }
                None => None,
            };
            m.next_id += 1;
            let id = m.next_id;
            m.snapshots.insert(
                key.to_string(),
                Info {
                    key: key.into(),
                    parent: parent.map(str::to_string),
                    kind,
                    id,
                    created: now(),
                },
            );
            Ok(((id, parent_dir), true))
        })?;
        let dir = self.dir_of(id);
        let made = (|| {
            // A directory left by a crash between an earlier metadata write and cleanup.
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(dir.join("fs")).io("create directory", dir.join("fs"))?;
            if self.driver == Driver::Overlay {
                fs::create_dir_all(dir.join("work")).io("create directory", dir.join("work"))?;
            }
            if let (Driver::Copy, Some(p)) = (self.driver, parent_dir) {
                copy_tree(&p, &dir.join("fs"))?;
            }
            Ok(())
        })();
        if let Err(e) = made {
            let _ = self.remove(key);
            return Err(e);
        }
        Ok(())
    }

    /// Metadata of one snapshot.
    pub fn stat(&self, key: &str) -> Result<Info> {
        self.with_meta(|m| {
            let info = m
                .snapshots
                .get(key)
                .cloned()
                .ok_or_else(|| Error::NotFound {
                    kind: "snapshot",
                    name: key.into(),
                })?;
            Ok((info, false))
        })
    }

    /// Every snapshot.
    pub fn list(&self) -> Result<Vec<Info>> {
        self.with_meta(|m| Ok((m.snapshots.values().cloned().collect(), false)))
    }

    /// The writable directory of an active snapshot (where a layer is unpacked).
    pub fn active_dir(&self, key: &str) -> Result<PathBuf> {
        let info = self.stat(key)?;
        if info.kind != Kind::Active {
            return Err(Error::Snapshot {
                key: key.into(),
                reason: "not an active snapshot".into(),
            });
        }
        Ok(self.dir_of(info.id).join("fs"))
    }

    /// The directory holding a committed snapshot's own content.
    pub fn committed_dir(&self, key: &str) -> Result<PathBuf> {
        let info = self.stat(key)?;
        Ok(self.dir_of(info.id).join("fs"))
    }

    /// How to mount snapshot `key`.
    pub fn mounts(&self, key: &str) -> Result<Vec<Mount>> {
        let (info, chain) = self.with_meta(|m| {
            let info = m
                .snapshots
                .get(key)
                .cloned()
                .ok_or_else(|| Error::NotFound {
                    kind: "snapshot",
                    name: key.into(),
                })?;
            let mut chain = Vec::new();
            let mut next = info.parent.clone();
            while let Some(p) = next {
                let pi = m.snapshots.get(&p).ok_or_else(|| Error::NotFound {
                    kind: "parent snapshot",
                    name: p.clone(),
                })?;
                chain.push(self.dir_of(pi.id).join("fs").display().to_string());
                next = pi.parent.clone();
            }
            Ok(((info, chain), false))
        })?;
        let dir = self.dir_of(info.id);
        let fs_dir = dir.join("fs").display().to_string();
        let bind = |source: String, rw: bool| Mount {
            kind: "bind".into(),
            source,
            options: vec!["rbind".into(), if rw { "rw" } else { "ro" }.into()],
        };
        let mounts = match (self.driver, info.kind) {
            (Driver::Copy, Kind::Active) => bind(fs_dir, true),
            (Driver::Copy, _) => bind(fs_dir, false),
            (Driver::Overlay, Kind::Active) if chain.is_empty() => bind(fs_dir, true),
            (Driver::Overlay, Kind::Active) => Mount {
                kind: "overlay".into(),
                source: "overlay".into(),
                options: vec![
                    format!("lowerdir={}", chain.join(":")),
                    format!("upperdir={fs_dir}"),
                    format!("workdir={}", dir.join("work").display()),
                ],
            },
            (Driver::Overlay, _) if chain.is_empty() => bind(fs_dir, false),
            (Driver::Overlay, Kind::View) if chain.len() == 1 => bind(chain[0].clone(), false),
            (Driver::Overlay, Kind::View) => Mount {
                kind: "overlay".into(),
                source: "overlay".into(),
                options: vec![format!("lowerdir={}", chain.join(":")), "ro".into()],
            },
            (Driver::Overlay, Kind::Committed) => {
                let mut all = vec![fs_dir];
                all.extend(chain);
                if all.len() == 1 {
                    bind(all.remove(0), false)
                } else {
                    Mount {
                        kind: "overlay".into(),
                        source: "overlay".into(),
                        options: vec![format!("lowerdir={}", all.join(":")), "ro".into()],
                    }
                }
            }
        };
        Ok(vec![mounts])
    }

    /// Turns active snapshot `key` into committed snapshot `name`.
    pub fn commit(&self, name: &str, key: &str) -> Result<()> {
        self.with_meta(|m| {
            if m.snapshots.contains_key(name) {
                return Err(Error::AlreadyExists {
                    kind: "snapshot",
                    name: name.into(),
                });
            }
            let mut info = m.snapshots.remove(key).ok_or_else(|| Error::NotFound {
                kind: "snapshot",
                name: key.into(),
            })?;
            if info.kind != Kind::Active {
                let kind = info.kind;
                m.snapshots.insert(key.into(), info);
                return Err(Error::Snapshot {
                    key: key.into(),
                    reason: format!("cannot commit a {kind:?} snapshot"),
                });
            }
            info.kind = Kind::Committed;
            info.key = name.into();
            m.snapshots.insert(name.into(), info);
            Ok(((), true))
        })?;
        Ok(())
    }

    /// Overlay only: commits active `key` (prepared without a parent) as `name` on top of
    /// `parent`. Unpacked layer content does not depend on the parent under overlay, so layers
    /// can be unpacked in parallel and stacked in order as each finishes.
    pub fn commit_onto(&self, name: &str, key: &str, parent: Option<&str>) -> Result<()> {
        if self.driver != Driver::Overlay && parent.is_some() {
            return Err(Error::Snapshot {
                key: key.into(),
                reason: "the copy driver needs the parent at prepare time".into(),
            });
        }
        self.with_meta(|m| {
            if let Some(p) = parent {
                if m.snapshots.get(p).is_none_or(|i| i.kind != Kind::Committed) {
                    return Err(Error::NotFound {
                        kind: "committed parent snapshot",
                        name: p.into(),
                    });
                }
            }
            match m.snapshots.get_mut(key) {
                Some(i) if i.kind == Kind::Active && i.parent.is_none() => {
                    i.parent = parent.map(str::to_string);
                    Ok(((), true))
                }
                Some(_) => Err(Error::Snapshot {
                    key: key.into(),
                    reason: "not a parentless active snapshot".into(),
                }),
                None => Err(Error::NotFound {
                    kind: "snapshot",
                    name: key.into(),
                }),
            }
        })?;
        self.commit(name, key).inspect_err(|_| {
            let _ = self.with_meta(|m| {
                if let Some(i) = m.snapshots.get_mut(key) {
                    i.parent = None;
                }
                Ok(((), true))
            });
        })
    }

    /// Removes snapshot `key` (refused while other snapshots use it as parent).
    pub fn remove(&self, key: &str) -> Result<()> {
        let id = self.with_meta(|m| {
            if let Some(child) = m
                .snapshots
                .values()
                .find(|i| i.parent.as_deref() == Some(key))
            {
                return Err(Error::Snapshot {
                    key: key.into(),
                    reason: format!("in use as the parent of {}", child.key),
                });
            }
            let info = m.snapshots.remove(key).ok_or_else(|| Error::NotFound {
                kind: "snapshot",
                name: key.into(),
            })?;
            Ok((info.id, true))
        })?;
        let dir = self.dir_of(id);
        fs::remove_dir_all(&dir)
            .or_else(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .io("remove", dir)
    }

    /// Removes committed snapshots not in `keep` and not parents of kept ones; returns their keys.
    pub fn prune(&self, keep: &HashSet<String>) -> Result<Vec<String>> {
        let all = self.list()?;
        let mut needed: HashSet<String> = HashSet::new();
        let by_key: BTreeMap<&str, &Info> = all.iter().map(|i| (i.key.as_str(), i)).collect();
        for info in &all {
            if info.kind != Kind::Committed || keep.contains(&info.key) {
                let mut next = Some(info.key.as_str());
                while let Some(k) = next {
                    if !needed.insert(k.to_string()) {
                        break;
                    }
                    next = by_key.get(k).and_then(|i| i.parent.as_deref());
                }
            }
        }
        // Children before parents: deeper chains first.
        let depth = |k: &str| {
            let mut d = 0;
            let mut next = by_key.get(k).and_then(|i| i.parent.as_deref());
            while let Some(p) = next {
                d += 1;
                next = by_key.get(p).and_then(|i| i.parent.as_deref());
            }
            d
        };
        let mut doomed: Vec<&Info> = all.iter().filter(|i| !needed.contains(&i.key)).collect();
        doomed.sort_by_key(|i| std::cmp::Reverse(depth(&i.key)));
        let mut removed = Vec::new();
        for info in doomed {
            self.remove(&info.key)?;
            removed.push(info.key.clone());
        }
        Ok(removed)
    }

    /// Bytes used by the snapshot's own directory.
    pub fn usage(&self, key: &str) -> Result<u64> {
        let info = self.stat(key)?;
        Ok(dir_size(&self.dir_of(info.id).join("fs")))
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn dir_size(p: &Path) -> u64 {
    let Ok(rd) = fs::read_dir(p) else { return 0 };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

/// Copies a tree with ownership, modes, times, xattrs and hardlinks (`cp -a`, reflinks where
/// the filesystem has them): the copy driver's parent content.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let out = std::process::Command::new("cp")
        .arg("-a")
        .arg("--reflink=auto")
        .arg(format!("{}/.", from.display()))
        .arg(to)
        .output()
        .io("run cp", to)?;
    if !out.status.success() {
        return Err(Error::Snapshot {
            key: to.display().to_string(),
            reason: format!(
                "copying parent {}: {}",
                from.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(())
}

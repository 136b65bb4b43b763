//! A container's volumes and bind mounts, as moby's `registerMountPoints` resolves them at
//! create: `VolumesFrom` first, then `Binds` and `Mounts` (which override a volumes-from
//! destination), then an anonymous volume for each `Config.Volumes` entry (the image's
//! `VOLUME`s) that nothing else covers. Bad input is refused before any volume is created.

use super::{VolumeRecord, LOCAL_DRIVER};
use crate::containers::ContainerRecord;
use crate::volumes::create::VolumeCreate;
use crate::{Engine, Error, Result};
use bollard_stubs::models::{
    ContainerConfig, HostConfig, Mount, MountBindOptions, MountBindOptionsPropagationEnum,
    MountType,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// One resolved mount of a container (Docker's `MountPoints` entry), kept in its record.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct MountPoint {
    /// "volume" or "bind".
    #[serde(rename = "Type")]
    pub typ: String,
    /// The volume's name (empty for a bind).
    #[serde(default)]
    pub name: String,
    /// The host path: a bind's source, a volume's `_data`.
    pub source: String,
    pub destination: String,
    #[serde(default)]
    pub driver: String,
    /// The mode string as given (`ro`, `rw,z`...), shown in inspect.
    #[serde(default)]
    pub mode: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    #[serde(default)]
    pub propagation: String,
    /// Copy the image's content into the volume when it is empty.
    #[serde(default)]
    pub copy_data: bool,
    /// `volume-subpath`: mount this directory of the volume.
    #[serde(default)]
    pub sub_path: String,
    /// A `-v` bind whose missing source is created (`--mount` refuses one).
    #[serde(default)]
    pub create_source: bool,
    #[serde(default)]
    pub non_recursive: bool,
    /// `bind-recursive=writable` (and every read-only bind of an API < 1.44 client): read-only
    /// at the top only, submounts stay writable (Docker 24 and older).
    #[serde(default)]
    pub read_only_non_recursive: bool,
    /// `bind-recursive=readonly`: recursively read-only or an error, never a fallback.
    #[serde(default)]
    pub read_only_force_recursive: bool,
}

/// A volume to create if missing, with what a `--mount` asked for it.
#[derive(Debug, Clone, Default)]
struct Wanted {
    labels: BTreeMap<String, String>,
    options: BTreeMap<String, String>,
}

const PROPAGATIONS: &[&str] = &[
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];

fn bad(msg: String) -> Error {
    Error::InvalidArgument(msg)
}

fn clean_dest(d: &str) -> String {
    let t = d.trim_end_matches('/');
    if t.is_empty() {
        "/".into()
    } else {
        t.to_string()
    }
}

fn check_dest(dest: &str, whole: &str) -> Result<()> {
    if !dest.starts_with('/') {
        return Err(bad(format!(
            "invalid mount config: {whole:?}: mount path must be absolute"
        )));
    }
    if clean_dest(dest) == "/" {
        return Err(bad(format!(
            "invalid specification: destination can't be '/' in {whole:?}"
        )));
    }
    Ok(())
}

/// One `HostConfig.Binds` entry: `[SRC:]DST[:MODE]`, SRC a volume name or an absolute path.
fn parse_bind(spec: &str) -> Result<(MountPoint, Option<Wanted>)> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [d] => ("", *d, ""),
        [s, d] if d.starts_with('/') => (*s, *d, ""),
        [d, m] if d.starts_with('/') => ("", *d, *m),
        [s, d, m] => (*s, *d, *m),
        _ => return Err(bad(format!("invalid volume specification: '{spec}'"))),
    };
    check_dest(dst, spec)?;
    let is_bind = src.starts_with('/');
    if !src.is_empty() && !is_bind {
        super::check_name(src)?;
    }
    let mut mp = MountPoint {
        typ: if is_bind { "bind" } else { "volume" }.into(),
        name: if is_bind { String::new() } else { src.into() },
        source: if is_bind { src.into() } else { String::new() },
        destination: dst.into(),
        driver: if is_bind { "" } else { LOCAL_DRIVER }.into(),
        mode: mode.into(),
        rw: true,
        propagation: if is_bind { "rprivate" } else { "" }.into(),
        copy_data: !is_bind,
        create_source: is_bind,
        ..Default::default()
    };
    let (mut seen_rw, mut seen_label, mut seen_prop, mut seen_copy) = (false, false, false, false);
    for m in mode.split(',').filter(|m| !m.is_empty()) {
        let dup = match m {
            "ro" | "rw" => std::mem::replace(&mut seen_rw, true),
            "z" | "Z" => std::mem::replace(&mut seen_label, true),
            "nocopy" => std::mem::replace(&mut seen_copy, true),
            p if PROPAGATIONS.contains(&p) => std::mem::replace(&mut seen_prop, true),
            "consistent" | "cached" | "delegated" => false,
            _ => return Err(bad(format!("invalid mode: {m}"))),
        };
        if dup {
            return Err(bad(format!("invalid mode: {mode}")));
        }
        match m {
            "ro" => mp.rw = false,
            "nocopy" if is_bind => return Err(bad(format!("invalid mode: {mode}"))),
            "nocopy" => mp.copy_data = false,
            p if PROPAGATIONS.contains(&p) => {
                if !is_bind {
                    return Err(bad(format!(
                        "invalid mode: {mode}: propagation applies to bind mounts only"
                    )));
                }
                mp.propagation = p.into();
            }
            _ => {}
        }
    }
    if !is_bind && mp.mode.is_empty() {
        // What dockerd shows for `-v name:/dst` with no mode.
        mp.mode = "z".into();
    }
    let wanted = (!is_bind).then(Wanted::default);
    Ok((mp, wanted))
}

/// One `HostConfig.Mounts` entry of type bind or volume (tmpfs stays with the spec).
fn parse_api_mount(m: &Mount) -> Result<Option<(MountPoint, Option<Wanted>)>> {
    let typ = m.typ.unwrap_or(MountType::VOLUME);
    let target = m.target.clone().unwrap_or_default();
    let source = m.source.clone().unwrap_or_default();
    let rw = !m.read_only.unwrap_or(false);
    if target.is_empty() {
        return Err(bad("invalid mount config: Target must not be empty".into()));
    }
    match typ {
        MountType::BIND => {
            if m.volume_options.is_some() {
                return Err(bad(
                    "invalid mount config for type \"bind\": field VolumeOptions must not be specified".into(),
                ));
            }
            if source.is_empty() {
                return Err(bad(
                    "invalid mount config for type \"bind\": field Source must not be empty".into(),
                ));
            }
            if !source.starts_with('/') {
                return Err(bad(format!(
                    "invalid mount config for type \"bind\": invalid mount path: '{source}' mount path must be absolute"
                )));
            }
            check_dest(&target, &target)?;
            if !Path::new(&source).exists() {
                return Err(bad(format!(
                    "invalid mount config for type \"bind\": bind source path does not exist: {source}"
                )));
            }
            let bo = m.bind_options.as_ref();
            let propagation = match bo.and_then(|b| b.propagation) {
                None | Some(MountBindOptionsPropagationEnum::EMPTY) => "rprivate".to_string(),
                Some(p) => p.to_string(),
            };
            Ok(Some((
                MountPoint {
                    typ: "bind".into(),
                    source,
                    destination: target,
                    rw,
                    propagation,
                    non_recursive: bo.and_then(|b| b.non_recursive).unwrap_or(false),
                    read_only_non_recursive: bo
                        .and_then(|b| b.read_only_non_recursive)
                        .unwrap_or(false),
                    read_only_force_recursive: bo
                        .and_then(|b| b.read_only_force_recursive)
                        .unwrap_or(false),
                    ..Default::default()
                },
                None,
            )))
        }
        MountType::VOLUME => {
            if m.bind_options.is_some() {
                return Err(bad(
                    "invalid mount config for type \"volume\": field BindOptions must not be specified".into(),
                ));
            }
            check_dest(&target, &target)?;
            if !source.is_empty() {
                super::check_name(&source)?;
            }
            let vo = m.volume_options.clone().unwrap_or_default();
            let sub_path = vo.subpath.clone().unwrap_or_default();
            if !sub_path.is_empty()
                && (Path::new(&sub_path).is_absolute() || sub_path.split('/').any(|c| c == ".."))
            {
                return Err(bad(format!(
                    "invalid mount config for type \"volume\": subpath must be a relative path within the volume: {sub_path:?}"
                )));
            }
            let dc = vo.driver_config.clone().unwrap_or_default();
            if let Some(d) = dc.name.as_deref().filter(|d| !d.is_empty() && *d != LOCAL_DRIVER) {
                return Err(Error::NotFound(format!(
                    "error looking up volume plugin {d}: plugin \"{d}\" not found"
                )));
            }
            let wanted = Wanted {
                labels: vo.labels.clone().unwrap_or_default().into_iter().collect(),
                options: dc.options.clone().unwrap_or_default().into_iter().collect(),
            };
            super::local::validate(&wanted.options)?;
            Ok(Some((
                MountPoint {
                    typ: "volume".into(),
                    name: source,
                    destination: target,
                    driver: LOCAL_DRIVER.into(),
                    rw,
                    copy_data: !vo.no_copy.unwrap_or(false),
                    sub_path,
                    ..Default::default()
                },
                Some(wanted),
            )))
        }
        MountType::TMPFS => Ok(None),
        other => Err(bad(format!(
            "HostConfig.Mounts entry type={other},target={target}: mount type {other:?} is not supported"
        ))),
    }
}

/// moby's conflicts between the read-only options of a bind (checked when dockerd builds the
/// spec; here at create, so that a container that cannot start is never created).
fn check_recursion(mp: &MountPoint) -> Result<()> {
    if mp.rw && mp.read_only_non_recursive {
        return Err(bad(format!(
            "invalid mount config for {}: options conflict: Writable && ReadOnlyNonRecursive",
            mp.destination
        )));
    }
    if mp.rw && mp.read_only_force_recursive {
        return Err(bad(format!(
            "invalid mount config for {}: options conflict: Writable && ReadOnlyForceRecursive",
            mp.destination
        )));
    }
    if mp.read_only_non_recursive && mp.read_only_force_recursive {
        return Err(bad(format!(
            "invalid mount config for {}: options conflict: ReadOnlyNonRecursive && ReadOnlyForceRecursive",
            mp.destination
        )));
    }
    Ok(())
}

impl Engine {
    /// Resolves a new container's mounts and creates the volumes it needs (named ones that do
    /// not exist yet, anonymous ones). The caller holds the volume lock until the container's
    /// record is in the registry; on a later failure it calls [`Engine::volumes_rollback`]
    /// with the names returned.
    pub(crate) fn volumes_resolve(
        &self,
        hc: &HostConfig,
        config: &ContainerConfig,
        default_read_only_non_recursive: bool,
    ) -> Result<(Vec<MountPoint>, Vec<String>)> {
        // Parse everything first: bad input creates nothing.
        let mut user: Vec<(MountPoint, Option<Wanted>)> = Vec::new();
        for b in hc.binds.iter().flatten() {
            user.push(parse_bind(b)?);
        }
        let mut tmpfs_dests: Vec<String> = hc
            .tmpfs
            .iter()
            .flatten()
            .map(|(d, _)| clean_dest(d))
            .collect();
        for m in hc.mounts.iter().flatten() {
            match parse_api_mount(m)? {
                Some(p) => user.push(p),
                None => tmpfs_dests.push(clean_dest(m.target.as_deref().unwrap_or_default())),
            }
        }
        for (mp, _) in user.iter_mut() {
            check_recursion(mp)?;
            // moby applies this to binds only: a read-only volume stays recursively so.
            if default_read_only_non_recursive && mp.typ == "bind" && !mp.rw {
                mp.read_only_non_recursive = true;
            }
        }
        let mut seen = std::collections::HashSet::new();
        for d in user
            .iter()
            .map(|(m, _)| clean_dest(&m.destination))
            .chain(tmpfs_dests.iter().cloned())
        {
            if !seen.insert(d.clone()) {
                return Err(bad(format!("Duplicate mount point: {d}")));
            }
        }
        let mut points: Vec<(MountPoint, Option<Wanted>)> = Vec::new();
        for spec in hc.volumes_from.iter().flatten() {
            let (id, mode) = match spec.split_once(':') {
                Some((id, m)) => (id, m),
                None => (spec.as_str(), ""),
            };
            let rw_override = match mode {
                "" => None,
                "rw" => Some(true),
                "ro" => Some(false),
                m => {
                    return Err(bad(format!(
                        "invalid mode for volumes-from: {m} (use ro or rw)"
                    )))
                }
            };
            let from = self
                .containers
                .find(id)
                .map_err(|_| Error::NotFound(format!("No such container: {id}")))?;
            for mut mp in from.record().mount_points {
                if seen.contains(&clean_dest(&mp.destination)) {
                    continue;
                }
                if let Some(rw) = rw_override {
                    mp.rw = rw;
                    mp.mode = mode.into();
                }
                if mp.rw {
                    mp.read_only_non_recursive = false;
                    mp.read_only_force_recursive = false;
                }
                // The volume exists and already has its data.
                mp.copy_data = false;
                points.retain(|(p, _)| clean_dest(&p.destination) != clean_dest(&mp.destination));
                points.push((mp, None));
            }
        }
        for (mp, w) in user {
            points.retain(|(p, _)| clean_dest(&p.destination) != clean_dest(&mp.destination));
            points.push((mp, w));
        }
        for d in config.volumes.iter().flatten() {
            let cd = clean_dest(d);
            if points.iter().any(|(p, _)| clean_dest(&p.destination) == cd)
                || tmpfs_dests.contains(&cd)
            {
                continue;
            }
            check_dest(d, d)?;
            points.push((
                MountPoint {
                    typ: "volume".into(),
                    destination: d.clone(),
                    driver: LOCAL_DRIVER.into(),
                    rw: true,
                    copy_data: true,
                    ..Default::default()
                },
                Some(Wanted::default()),
            ));
        }

        // Then create what is missing.
        let mut created = Vec::new();
        let mut out = Vec::with_capacity(points.len());
        for (mut mp, wanted) in points {
            let res = (|| -> Result<()> {
                if mp.typ == "bind" {
                    if mp.create_source && !Path::new(&mp.source).exists() {
                        std::fs::create_dir_all(&mp.source).map_err(|e| {
                            bad(format!(
                                "invalid volume specification: creating the missing bind source {}: {e}",
                                mp.source
                            ))
                        })?;
                    }
                    return Ok(());
                }
                let v = match (wanted, mp.name.is_empty()) {
                    (Some(w), _) => {
                        let (v, new) = self.volume_create_locked(VolumeCreate {
                            name: mp.name.clone(),
                            driver: LOCAL_DRIVER.into(),
                            driver_opts: w.options,
                            labels: w.labels,
                        })?;
                        if new {
                            created.push(v.name.clone());
                        }
                        v
                    }
                    (None, _) => self.volume_record(&mp.name)?.ok_or_else(|| {
                        Error::NotFound(format!("get {}: no such volume", mp.name))
                    })?,
                };
                mp.name = v.name.clone();
                mp.source = self.volume_data(&v.name).display().to_string();
                Ok(())
            })();
            if let Err(e) = res {
                self.volumes_rollback(&created);
                return Err(e);
            }
            out.push(mp);
        }
        Ok((out, created))
    }

    /// Removes volumes a failed container create made.
    pub(crate) fn volumes_rollback(&self, created: &[String]) {
        for name in created {
            if let Err(e) = self.volume_remove_locked(name) {
                tracing::warn!(volume = %name, "undoing a volume of a failed create: {e}");
            }
        }
    }

    /// At start, with the rootfs mounted: mounts the volumes that have mount options (taking
    /// a reference), copies the image's content into empty volumes, and returns the HostConfig
    /// the spec is built from, where every volume and bind is a bind mount of its host source.
    pub(crate) fn volumes_prepare(&self, rec: &ContainerRecord) -> Result<HostConfig> {
        let rootfs = self.paths.rootfs(&rec.id);
        let mut mounts: Vec<Mount> = rec
            .host_config
            .mounts
            .iter()
            .flatten()
            .filter(|m| m.typ == Some(MountType::TMPFS))
            .cloned()
            .collect();
        for mp in &rec.mount_points {
            let source = if mp.typ == "volume" {
                let v: VolumeRecord = self
                    .volume_record(&mp.name)?
                    .ok_or_else(|| Error::NotFound(format!("get {}: no such volume", mp.name)))?;
                self.local_acquire(&v, &rec.id)?;
                let data = self.volume_data(&v.name);
                if mp.copy_data && is_empty_dir(&data) {
                    super::copyup::copy_image_path(&rootfs, &mp.destination, &data).map_err(
                        |e| {
                            Error::Internal(format!(
                                "copying the image's {} into volume {}: {e}",
                                mp.destination, mp.name
                            ))
                        },
                    )?;
                }
                if mp.sub_path.is_empty() {
                    data
                } else {
                    resolve_subpath(&data, &mp.sub_path)?
                }
            } else {
                let p = std::path::PathBuf::from(&mp.source);
                if mp.create_source && !p.exists() {
                    std::fs::create_dir_all(&p).map_err(|e| {
                        Error::internal(format!("creating bind source {}", p.display()), e)
                    })?;
                }
                p
            };
            let propagation = if mp.propagation.is_empty() {
                "rprivate"
            } else {
                mp.propagation.as_str()
            };
            mounts.push(Mount {
                target: Some(mp.destination.clone()),
                source: Some(source.display().to_string()),
                typ: Some(MountType::BIND),
                read_only: Some(!mp.rw),
                bind_options: Some(MountBindOptions {
                    propagation: serde_json::from_value(json!(propagation)).ok(),
                    non_recursive: Some(mp.non_recursive),
                    read_only_non_recursive: Some(mp.read_only_non_recursive),
                    read_only_force_recursive: Some(mp.read_only_force_recursive),
                    ..Default::default()
                }),
                ..Default::default()
            });
        }
        let mut hc = rec.host_config.clone();
        hc.binds = None;
        hc.mounts = Some(mounts);
        Ok(hc)
    }

    /// The volumes and binds of a container as its `docker cp` view mounts them, sources
    /// included. With `acquire` (a container that does not run), volumes with mount options
    /// are mounted for the view; the names returned are released with
    /// [`Engine::volumes_view_release`].
    pub(crate) fn volumes_for_view(
        &self,
        rec: &ContainerRecord,
        acquire: bool,
    ) -> Result<(Vec<crate::containers::fs_view::ViewMount>, Vec<String>)> {
        let mut out = Vec::new();
        let mut acquired: Vec<String> = Vec::new();
        for mp in &rec.mount_points {
            let source = if mp.typ == "volume" {
                let v = match self.volume_record(&mp.name)? {
                    Some(v) => v,
                    None => {
                        self.volumes_view_release(&rec.id, &acquired);
                        return Err(Error::NotFound(format!("get {}: no such volume", mp.name)));
                    }
                };
                if acquire {
                    if let Err(e) = self.local_acquire(&v, &view_ref(&rec.id)) {
                        self.volumes_view_release(&rec.id, &acquired);
                        return Err(e);
                    }
                    acquired.push(v.name.clone());
                }
                let data = self.volume_data(&v.name);
                if mp.sub_path.is_empty() {
                    Some(data)
                } else {
                    resolve_subpath(&data, &mp.sub_path).ok()
                }
            } else {
                let p = std::path::PathBuf::from(&mp.source);
                p.exists().then_some(p)
            };
            out.push(crate::containers::fs_view::ViewMount {
                destination: mp.destination.clone(),
                source,
                rw: mp.rw,
                non_recursive: mp.non_recursive,
                read_only_non_recursive: mp.read_only_non_recursive,
                is_volume: true,
            });
        }
        Ok((out, acquired))
    }

    /// Drops the references [`Engine::volumes_for_view`] took.
    pub(crate) fn volumes_view_release(&self, id: &str, names: &[String]) {
        for name in names {
            self.local_release(name, &view_ref(id));
        }
    }

    /// Drops the container's references on its volumes (at the end of a run).
    pub(crate) fn volumes_release(&self, rec: &ContainerRecord) {
        for mp in rec.mount_points.iter().filter(|m| !m.name.is_empty()) {
            self.local_release(&mp.name, &rec.id);
        }
    }
}

/// The reference a `docker cp` view of a stopped container holds on its volumes.
fn view_ref(id: &str) -> String {
    format!("{id}/archive")
}

/// Docker's `Mounts` in container inspect and list.
pub fn mounts_json(rec: &ContainerRecord) -> Value {
    let mut out: Vec<Value> = rec
        .mount_points
        .iter()
        .map(|m| {
            let mut j = json!({
                "Type": m.typ,
                "Source": m.source,
                "Destination": m.destination,
                "Mode": m.mode,
                "RW": m.rw,
                "Propagation": m.propagation,
            });
            if m.typ == "volume" {
                j["Name"] = json!(m.name);
                j["Driver"] = json!(m.driver);
            }
            j
        })
        .collect();
    for m in rec.host_config.mounts.iter().flatten() {
        if m.typ == Some(MountType::TMPFS) {
            out.push(json!({
                "Type": "tmpfs",
                "Source": "",
                "Destination": m.target.clone().unwrap_or_default(),
                "Mode": "",
                "RW": !m.read_only.unwrap_or(false),
                "Propagation": "",
            }));
        }
    }
    Value::Array(out)
}

fn is_empty_dir(p: &Path) -> bool {
    std::fs::read_dir(p).is_ok_and(|mut d| d.next().is_none())
}

/// A subpath of a volume, refused when it does not exist, is not reached without symlinks
/// or leaves the volume.
fn resolve_subpath(data: &Path, sub: &str) -> Result<std::path::PathBuf> {
    use rustix::fs::{openat2, Mode, OFlags, ResolveFlags};
    let fail = |e: String| {
        Error::InvalidArgument(format!(
            "cannot access path {}: {e}",
            data.join(sub).display()
        ))
    };
    let dir = rustix::fs::open(
        data,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| fail(e.to_string()))?;
    openat2(
        &dir,
        sub,
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_XDEV,
    )
    .map_err(|e| fail(e.to_string()))?;
    Ok(data.join(sub))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_follow_docker() {
        let (m, w) = parse_bind("data:/srv:ro").expect("named");
        assert_eq!(
            (m.typ.as_str(), m.name.as_str(), m.rw),
            ("volume", "data", false)
        );
        assert!(w.is_some() && m.copy_data);
        let (m, _) = parse_bind("data:/srv").expect("named");
        assert_eq!(m.mode, "z");
        let (m, w) = parse_bind("/host:/c:ro,rshared,Z").expect("bind");
        assert_eq!(
            (m.typ.as_str(), m.propagation.as_str(), m.rw),
            ("bind", "rshared", false)
        );
        assert!(w.is_none() && m.create_source);
        let (m, _) = parse_bind("/anon").expect("anonymous");
        assert_eq!((m.typ.as_str(), m.name.as_str()), ("volume", ""));
        let (m, _) = parse_bind("vv:/x:nocopy").expect("nocopy");
        assert!(!m.copy_data);
        for bad in [
            "a:b",
            "vv:/x:bogus",
            "vv:/x:ro,rw",
            "/h:/x:nocopy",
            "vv:/",
            "a/b:/x",
            "vv:/x:rshared",
            "v:/x",
        ] {
            assert!(parse_bind(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn api_mounts_follow_docker() {
        let m = Mount {
            typ: Some(MountType::BIND),
            source: Some("/nonexistent/berth-test-src".into()),
            target: Some("/x".into()),
            ..Default::default()
        };
        let e = parse_api_mount(&m).expect_err("missing source");
        assert_eq!(
            e.to_string(),
            "invalid mount config for type \"bind\": bind source path does not exist: /nonexistent/berth-test-src"
        );
        let m = Mount {
            typ: Some(MountType::VOLUME),
            source: Some("v1".into()),
            target: Some("/x".into()),
            read_only: Some(true),
            volume_options: Some(bollard_stubs::models::MountVolumeOptions {
                no_copy: Some(true),
                subpath: Some("sub/dir".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let (p, _) = parse_api_mount(&m).expect("ok").expect("volume");
        assert_eq!(
            (p.name.as_str(), p.rw, p.copy_data, p.sub_path.as_str()),
            ("v1", false, false, "sub/dir")
        );
        let mut up = m.clone();
        up.volume_options.as_mut().expect("opts").subpath = Some("../x".into());
        assert!(parse_api_mount(&up).is_err());
    }

    #[test]
    fn subpath_never_follows_symlinks() {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(d.path().join("a/b")).expect("mkdir");
        std::os::unix::fs::symlink("/etc", d.path().join("l")).expect("symlink");
        assert!(resolve_subpath(d.path(), "a/b").is_ok());
        assert!(resolve_subpath(d.path(), "l").is_err());
        assert!(resolve_subpath(d.path(), "missing").is_err());
    }
}

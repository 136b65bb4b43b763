//! Loading and validating a bundle's config.json.
//!
//! Parsing goes through `serde_path_to_error` so a type error names the exact field
//! (`linux.namespaces[2].type: unknown variant ...`). Validation then checks what serde cannot:
//! the supported ociVersion range (1.0.x to 1.3.x), required fields, absolute paths, namespace
//! combinations. Each failure is one line that starts with the field's path.

use crate::error::{Error, Result};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// A validated config with the rootfs resolved to an absolute path.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Absolute path of the bundle directory.
    pub dir: PathBuf,
    /// Absolute, canonical path of the root filesystem.
    pub rootfs: PathBuf,
    /// The parsed config.
    pub spec: Spec,
}

/// Reads `<bundle>/config.json`, parses and validates it.
pub fn load(bundle: &Path) -> Result<Bundle> {
    let dir = std::path::absolute(bundle)
        .map_err(|e| Error::Config(format!("bundle {}: {e}", bundle.display())))?;
    let path = dir.join("config.json");
    let data = std::fs::read(&path)
        .map_err(|e| Error::Config(format!("reading {}: {e}", path.display())))?;
    let spec = parse(&data)?;
    validate(&spec)?;
    let root = spec
        .root()
        .as_ref()
        .map(|r| r.path().clone())
        .unwrap_or_default();
    let rootfs_rel = if root.is_absolute() {
        root.clone()
    } else {
        dir.join(&root)
    };
    let rootfs = std::fs::canonicalize(&rootfs_rel)
        .map_err(|e| Error::Config(format!("root.path: {}: {e}", rootfs_rel.display())))?;
    if !rootfs.is_dir() {
        return Err(Error::Config(format!(
            "root.path: {} is not a directory",
            rootfs.display()
        )));
    }
    Ok(Bundle { dir, rootfs, spec })
}

/// Parses config.json bytes; errors name the JSON path of the offending field.
pub fn parse(data: &[u8]) -> Result<Spec> {
    let de = &mut serde_json::Deserializer::from_slice(data);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            Error::Config(inner.to_string())
        } else {
            Error::Config(format!("{path}: {inner}"))
        }
    })
}

/// True for ociVersion 1.0.x to 1.3.x, 1.3 being the current runtime spec (pre-release
/// suffixes like `-dev` allowed).
pub fn version_supported(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let mut parts = core.split('.');
    let (Some(major), Some(minor), Some(patch), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    major == "1" && matches!(minor, "0" | "1" | "2" | "3") && patch.parse::<u32>().is_ok()
}

fn bad(msg: String) -> Error {
    Error::Config(msg)
}

/// Checks the semantic rules serde cannot express.
pub fn validate(spec: &Spec) -> Result<()> {
    if !version_supported(spec.version()) {
        return Err(bad(format!(
            "ociVersion: unsupported version {:?} (supported: 1.0.x to 1.3.x)",
            spec.version()
        )));
    }
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| bad("root: must be set".into()))?;
    if root.path().as_os_str().is_empty() {
        return Err(bad("root.path: must be set".into()));
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| bad("process: must be set".into()))?;
    validate_process(process)?;
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if !m.destination().is_absolute() {
            return Err(bad(format!(
                "mounts[{i}].destination: must be an absolute path, got {:?}",
                m.destination()
            )));
        }
        let bind = m.typ().as_deref() == Some("bind")
            || m.options()
                .iter()
                .flatten()
                .any(|o| o == "bind" || o == "rbind");
        if bind && m.source().is_none() {
            return Err(bad(format!(
                "mounts[{i}].source: a bind mount needs a source"
            )));
        }
        if m.typ().is_none() && !bind {
            return Err(bad(format!(
                "mounts[{i}].type: must be set for a non-bind mount"
            )));
        }
    }
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    let mut seen = HashSet::new();
    let mut new_ns = HashSet::new();
    for (i, ns) in linux.namespaces().iter().flatten().enumerate() {
        if !seen.insert(ns.typ()) {
            return Err(bad(format!(
                "linux.namespaces[{i}].type: duplicate namespace {}",
                ns.typ()
            )));
        }
        match ns.path() {
            Some(p) if !p.as_os_str().is_empty() => {
                if !p.is_absolute() {
                    return Err(bad(format!(
                        "linux.namespaces[{i}].path: must be absolute, got {p:?}"
                    )));
                }
            }
            _ => {
                new_ns.insert(ns.typ());
            }
        }
    }
    // A uts namespace joined by path is the container's too: the names are set in it (runc,
    // crun); only the runtime's own is refused.
    if spec.hostname().as_deref().is_some_and(|h| !h.is_empty())
        && !seen.contains(&LinuxNamespaceType::Uts)
    {
        return Err(bad(
            "hostname: setting the hostname needs a uts namespace in linux.namespaces".into(),
        ));
    }
    if spec.domainname().as_deref().is_some_and(|h| !h.is_empty())
        && !seen.contains(&LinuxNamespaceType::Uts)
    {
        return Err(bad(
            "domainname: setting the domainname needs a uts namespace in linux.namespaces".into(),
        ));
    }
    let has_maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if new_ns.contains(&LinuxNamespaceType::User) {
        if !has_maps || linux.gid_mappings().as_ref().is_none_or(|m| m.is_empty()) {
            return Err(bad(
                "linux.uidMappings: a new user namespace needs uidMappings and gidMappings".into(),
            ));
        }
    } else if has_maps && !seen.contains(&LinuxNamespaceType::User) {
        return Err(bad(
            "linux.uidMappings: mappings need a user namespace in linux.namespaces".into(),
        ));
    }
    if linux.time_offsets().as_ref().is_some_and(|t| !t.is_empty())
        && !new_ns.contains(&LinuxNamespaceType::Time)
    {
        return Err(bad(
            "linux.timeOffsets: time offsets need a new time namespace".into(),
        ));
    }
    for key in linux.sysctl().iter().flat_map(|m| m.keys()) {
        validate_sysctl(key, &new_ns, &seen)?;
    }
    if let Some(p) = linux.rootfs_propagation() {
        if crate::init::mounts::propagation_flag(p).is_none() {
            return Err(bad(format!(
                "linux.rootfsPropagation: unknown propagation {p:?}"
            )));
        }
    }
    for (i, d) in linux.devices().iter().flatten().enumerate() {
        if !d.path().is_absolute() || !d.path().starts_with("/dev") {
            return Err(bad(format!(
                "linux.devices[{i}].path: must be under /dev, got {:?}",
                d.path()
            )));
        }
    }
    Ok(())
}

fn validate_process(p: &oci_spec::runtime::Process) -> Result<()> {
    if p.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(bad("process.args: must not be empty".into()));
    }
    if !p.cwd().is_absolute() {
        return Err(bad(format!(
            "process.cwd: must be an absolute path, got {:?}",
            p.cwd()
        )));
    }
    for (i, e) in p.env().iter().flatten().enumerate() {
        if !e.contains('=') {
            return Err(bad(format!(
                "process.env[{i}]: expected KEY=VALUE, got {e:?}"
            )));
        }
    }
    Ok(())
}

fn validate_sysctl(
    key: &str,
    new_ns: &HashSet<LinuxNamespaceType>,
    seen: &HashSet<LinuxNamespaceType>,
) -> Result<()> {
    if key.contains("..") || key.contains('/') && key.contains('.') && key.starts_with('/') {
        return Err(bad(format!("linux.sysctl: invalid key {key:?}")));
    }
    let ipc = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    if ipc.contains(&key) || key.starts_with("fs.mqueue.") {
        if !new_ns.contains(&LinuxNamespaceType::Ipc) {
            return Err(bad(format!(
                "linux.sysctl: {key:?} needs a new ipc namespace"
            )));
        }
        return Ok(());
    }
    if key.starts_with("net.") {
        if !seen.contains(&LinuxNamespaceType::Network) {
            return Err(bad(format!(
                "linux.sysctl: {key:?} needs a network namespace"
            )));
        }
        return Ok(());
    }
    if key == "kernel.hostname" || key == "kernel.domainname" {
        if !new_ns.contains(&LinuxNamespaceType::Uts) {
            return Err(bad(format!(
                "linux.sysctl: {key:?} needs a new uts namespace"
            )));
        }
        return Ok(());
    }
    Err(bad(format!(
        "linux.sysctl: {key:?} is not namespaced; it would change the host"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> serde_json::Value {
        serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": {"args": ["true"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]}
        })
    }

    fn check(v: serde_json::Value) -> Result<()> {
        let spec = parse(&serde_json::to_vec(&v).expect("json"))?;
        validate(&spec)
    }

    #[test]
    fn accepts_versions_1_0_to_1_3() {
        for v in ["1.0.0", "1.0.2-dev", "1.1.0", "1.2.0", "1.2.1", "1.3.0"] {
            assert!(version_supported(v), "{v}");
        }
        for v in ["0.9.0", "1.4.0", "2.0.0", "1.0", "x"] {
            assert!(!version_supported(v), "{v}");
        }
    }

    #[test]
    fn minimal_config_is_valid() {
        check(minimal()).expect("valid");
    }

    #[test]
    fn wrong_type_names_the_field() {
        let mut v = minimal();
        v["process"]["args"] = serde_json::json!("true");
        let e = check(v).expect_err("must fail").to_string();
        assert!(e.starts_with("config.json: process.args:"), "{e}");
    }

    #[test]
    fn missing_root_path_names_the_field() {
        let mut v = minimal();
        v["root"] = serde_json::json!({});
        let e = check(v).expect_err("must fail").to_string();
        assert!(e.contains("root.path"), "{e}");
    }

    #[test]
    fn unknown_namespace_names_the_field() {
        let mut v = minimal();
        v["linux"]["namespaces"][1]["type"] = serde_json::json!("bogus");
        let e = check(v).expect_err("must fail").to_string();
        assert!(e.contains("linux.namespaces[1].type"), "{e}");
    }

    #[test]
    fn relative_mount_destination_is_refused() {
        let mut v = minimal();
        v["mounts"] =
            serde_json::json!([{"destination": "tmp", "type": "tmpfs", "source": "tmpfs"}]);
        let e = check(v).expect_err("must fail").to_string();
        assert!(e.contains("mounts[0].destination"), "{e}");
    }

    #[test]
    fn hostname_needs_uts() {
        let mut v = minimal();
        v["hostname"] = serde_json::json!("x");
        let e = check(v).expect_err("must fail").to_string();
        assert!(e.contains("hostname"), "{e}");
    }

    #[test]
    fn hostname_in_a_joined_uts_namespace_is_valid() {
        let mut v = minimal();
        v["hostname"] = serde_json::json!("x");
        v["linux"]["namespaces"] = serde_json::json!([
            {"type": "mount"}, {"type": "uts", "path": "/proc/1/ns/uts"}
        ]);
        check(v).expect("valid");
    }

    #[test]
    fn no_mount_namespace_is_valid() {
        let mut v = minimal();
        v["linux"]["namespaces"] = serde_json::json!([{"type": "pid"}]);
        check(v).expect("valid");
    }

    #[test]
    fn host_sysctl_is_refused() {
        let mut v = minimal();
        v["linux"]["sysctl"] = serde_json::json!({"vm.swappiness": "1"});
        let e = check(v).expect_err("must fail").to_string();
        assert!(e.contains("vm.swappiness"), "{e}");
    }
}

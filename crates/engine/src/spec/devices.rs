//! Devices: Docker's device cgroup rules (`oci/defaults.go`), `--device` mappings,
//! `--device-cgroup-rule`, and every host device for privileged containers.

use crate::{Error, Result};
use bollard_stubs::models::{DeviceMapping, HostConfig};
use serde_json::{json, Value};
use std::path::Path;

/// `linux.devices` and `linux.resources.devices`.
#[derive(Debug, Default)]
pub struct Devices {
    pub devices: Vec<Value>,
    pub cgroup_rules: Vec<Value>,
}

fn rule(
    allow: bool,
    typ: Option<&str>,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> Value {
    let mut r = json!({"allow": allow, "access": access});
    if let Some(t) = typ {
        r["type"] = json!(t);
    }
    if let Some(m) = major {
        r["major"] = json!(m);
    }
    if let Some(m) = minor {
        r["minor"] = json!(m);
    }
    r
}

/// Docker's default rules: deny everything, then allow null, zero, full... and /dev/console;
/// fuse stays denied.
pub fn default_rules() -> Vec<Value> {
    vec![
        rule(false, None, None, None, "rwm"),
        rule(true, Some("c"), Some(1), Some(5), "rwm"),
        rule(true, Some("c"), Some(1), Some(3), "rwm"),
        rule(true, Some("c"), Some(1), Some(9), "rwm"),
        rule(true, Some("c"), Some(1), Some(8), "rwm"),
        rule(true, Some("c"), Some(5), Some(0), "rwm"),
        rule(true, Some("c"), Some(5), Some(1), "rwm"),
        rule(false, Some("c"), Some(10), Some(229), "rwm"),
    ]
}

/// Devices and rules for a container.
pub fn build(hc: &HostConfig, privileged: bool) -> Result<Devices> {
    let mut out = Devices {
        devices: Vec::new(),
        cgroup_rules: default_rules(),
    };
    if privileged {
        out.devices = host_devices(Path::new("/dev"))?;
        out.cgroup_rules = vec![rule(true, None, None, None, "rwm")];
    }
    for m in hc.devices.iter().flatten() {
        let (devs, rules) = mapping(m)?;
        for d in devs {
            // A privileged container already has the host's node at the same path.
            out.devices.retain(|x| x["path"] != d["path"]);
            out.devices.push(d);
        }
        if !privileged {
            out.cgroup_rules.extend(rules);
        }
    }
    for r in hc.device_cgroup_rules.iter().flatten() {
        let parsed = parse_cgroup_rule(r)?;
        if !privileged {
            out.cgroup_rules.push(parsed);
        }
    }
    Ok(out)
}

/// "c 1:3 mr", "a *:* rwm", "b 8:* r".
pub fn parse_cgroup_rule(r: &str) -> Result<Value> {
    let bad = || {
        Error::InvalidArgument(format!(
            "invalid device cgroup format '{r}' (HostConfig.DeviceCgroupRules)"
        ))
    };
    let f: Vec<&str> = r.split_whitespace().collect();
    let [typ, numbers, access] = f.as_slice() else {
        return Err(bad());
    };
    if !matches!(*typ, "a" | "b" | "c") {
        return Err(bad());
    }
    let (maj, min) = numbers.split_once(':').ok_or_else(bad)?;
    let num = |s: &str| -> Result<Option<i64>> {
        if s == "*" {
            Ok(None)
        } else {
            s.parse::<i64>().map(Some).map_err(|_| bad())
        }
    };
    check_access(access).map_err(|_| bad())?;
    Ok(rule(true, Some(typ), num(maj)?, num(min)?, access))
}

fn check_access(a: &str) -> std::result::Result<(), ()> {
    if a.is_empty() || a.len() > 3 || !a.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
        return Err(());
    }
    Ok(())
}

fn device_json(
    path_in_container: &str,
    meta: &std::fs::Metadata,
) -> Option<(Value, &'static str, i64, i64)> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let ft = meta.file_type();
    let typ = if ft.is_char_device() {
        "c"
    } else if ft.is_block_device() {
        "b"
    } else {
        return None;
    };
    let rdev = meta.rdev();
    let (major, minor) = (
        rustix::fs::major(rdev) as i64,
        rustix::fs::minor(rdev) as i64,
    );
    Some((
        json!({
            "path": path_in_container,
            "type": typ,
            "major": major,
            "minor": minor,
            "fileMode": meta.mode() & 0o777,
            "uid": meta.uid(),
            "gid": meta.gid(),
        }),
        typ,
        major,
        minor,
    ))
}

/// One `--device HOST[:CONTAINER[:PERMS]]`; a directory maps every device below it.
fn mapping(m: &DeviceMapping) -> Result<(Vec<Value>, Vec<Value>)> {
    let host = m.path_on_host.as_deref().unwrap_or_default();
    let inside = m
        .path_in_container
        .as_deref()
        .filter(|p| !p.is_empty())
        .unwrap_or(host);
    let perms = m
        .cgroup_permissions
        .as_deref()
        .filter(|p| !p.is_empty())
        .unwrap_or("rwm");
    if check_access(perms).is_err() {
        return Err(Error::InvalidArgument(format!(
            "invalid device mode: {perms} (HostConfig.Devices {host})"
        )));
    }
    if !inside.starts_with('/') {
        return Err(Error::InvalidArgument(format!(
            "invalid HostConfig.Devices entry {host}: the path in the container {inside:?} must be absolute"
        )));
    }
    let gather = |e: String| {
        Error::InvalidArgument(format!(
            "error gathering device information while adding custom device \"{host}\": {e}"
        ))
    };
    let meta = std::fs::metadata(host).map_err(|e| gather(e.to_string()))?;
    let mut devs = Vec::new();
    let mut rules = Vec::new();
    if meta.is_dir() {
        for (p, meta) in walk_devices(Path::new(host))? {
            let rel = p.strip_prefix(host).unwrap_or(&p);
            let target = Path::new(inside).join(rel);
            if let Some((d, t, maj, min)) = device_json(&target.to_string_lossy(), &meta) {
                devs.push(d);
                rules.push(rule(true, Some(t), Some(maj), Some(min), perms));
            }
        }
        return Ok((devs, rules));
    }
    let (d, t, maj, min) =
        device_json(inside, &meta).ok_or_else(|| gather("not a device node".into()))?;
    devs.push(d);
    rules.push(rule(true, Some(t), Some(maj), Some(min), perms));
    Ok((devs, rules))
}

fn walk_devices(dir: &Path) -> Result<Vec<(std::path::PathBuf, std::fs::Metadata)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d)
            .map_err(|e| Error::internal(format!("listing {}", d.display()), e))?;
        for e in entries.flatten() {
            let p = e.path();
            let Ok(meta) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(p);
            } else {
                out.push((p, meta));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Every device node of the host's /dev, as runc's HostDevices: not the container's own
/// pts/shm/mqueue, not /dev/console.
pub fn host_devices(dev: &Path) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for (p, meta) in walk_devices(dev)? {
        let rel = p.strip_prefix(dev).unwrap_or(&p);
        let first = rel
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned());
        if matches!(
            first.as_deref(),
            Some("pts" | "shm" | "fd" | "mqueue" | ".lxc" | ".lxd-mounts" | ".udev" | "console")
        ) {
            continue;
        }
        if let Some((d, ..)) = device_json(&p.to_string_lossy(), &meta) {
            out.push(d);
        }
    }
    Ok(out)
}

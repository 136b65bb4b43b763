//! The local driver's options, as moby's `volume/local` reads them: `type`, `o` and `device`
//! go to mount(2) as filesystem type, flags plus data, and source. Mounted on `_data` when the
//! first container using the volume starts; unmounted when the last one stops.

use super::VolumeRecord;
use crate::{Engine, Error, Result};
use rustix::mount::{MountFlags, UnmountFlags};
use std::collections::BTreeMap;

const KEYS: &[&str] = &["type", "o", "device", "size"];

/// Checks a create request's options (moby's `validateOpts`).
pub(super) fn validate(opts: &BTreeMap<String, String>) -> Result<()> {
    for k in opts.keys() {
        if !KEYS.contains(&k.as_str()) {
            return Err(Error::InvalidArgument(format!("invalid option key: {k:?}")));
        }
    }
    if opts.contains_key("size") {
        return Err(Error::InvalidArgument(
            "quota size requested but no quota support".into(),
        ));
    }
    let typ = opts.get("type").map(String::as_str).unwrap_or("");
    let device = opts.get("device").map(String::as_str).unwrap_or("");
    if !typ.is_empty() && device.is_empty() {
        return Err(Error::InvalidArgument(
            "missing required option: \"device\"".into(),
        ));
    }
    if !device.is_empty() && typ.is_empty() {
        return Err(Error::InvalidArgument(
            "missing required option: \"type\"".into(),
        ));
    }
    if opts.contains_key("o") && typ.is_empty() {
        return Err(Error::InvalidArgument(
            "missing required option: \"type\"".into(),
        ));
    }
    let (flags, _) = parse_o(opts.get("o").map(String::as_str).unwrap_or(""));
    if flags.contains(MountFlags::BIND) && !device.starts_with('/') {
        return Err(Error::InvalidArgument(format!(
            "invalid option \"device\": {device:?}: a bind mount's device must be an absolute path"
        )));
    }
    Ok(())
}

/// Whether the volume needs a mount at all.
pub(super) fn has_mount(v: &VolumeRecord) -> bool {
    v.options.get("type").is_some_and(|t| !t.is_empty())
}

/// moby's `mount.ParseOptions`: flag words become flags, the rest is filesystem data.
pub(super) fn parse_o(o: &str) -> (MountFlags, String) {
    let mut flags = MountFlags::empty();
    let mut data = Vec::new();
    for w in o.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        let (set, clear) = match w {
            "defaults" | "rw" => (MountFlags::empty(), MountFlags::RDONLY),
            "ro" => (MountFlags::RDONLY, MountFlags::empty()),
            "suid" => (MountFlags::empty(), MountFlags::NOSUID),
            "nosuid" => (MountFlags::NOSUID, MountFlags::empty()),
            "dev" => (MountFlags::empty(), MountFlags::NODEV),
            "nodev" => (MountFlags::NODEV, MountFlags::empty()),
            "exec" => (MountFlags::empty(), MountFlags::NOEXEC),
            "noexec" => (MountFlags::NOEXEC, MountFlags::empty()),
            "sync" => (MountFlags::SYNCHRONOUS, MountFlags::empty()),
            "async" => (MountFlags::empty(), MountFlags::SYNCHRONOUS),
            "dirsync" => (MountFlags::DIRSYNC, MountFlags::empty()),
            "atime" => (MountFlags::empty(), MountFlags::NOATIME),
            "noatime" => (MountFlags::NOATIME, MountFlags::empty()),
            "diratime" => (MountFlags::empty(), MountFlags::NODIRATIME),
            "nodiratime" => (MountFlags::NODIRATIME, MountFlags::empty()),
            "bind" => (MountFlags::BIND, MountFlags::empty()),
            "rbind" => (MountFlags::BIND | MountFlags::REC, MountFlags::empty()),
            "relatime" => (MountFlags::RELATIME, MountFlags::empty()),
            "norelatime" => (MountFlags::empty(), MountFlags::RELATIME),
            "strictatime" => (MountFlags::STRICTATIME, MountFlags::empty()),
            "nostrictatime" => (MountFlags::empty(), MountFlags::STRICTATIME),
            _ => {
                data.push(w.to_string());
                continue;
            }
        };
        flags = (flags | set) & !clear;
    }
    (flags, data.join(","))
}

/// moby resolves an `addr=HOST` for network filesystems: the kernel wants an address.
fn resolve_addr(data: &str) -> Result<String> {
    let mut out = Vec::new();
    for w in data.split(',').filter(|w| !w.is_empty()) {
        match w.strip_prefix("addr=") {
            Some(host) if host.parse::<std::net::IpAddr>().is_err() => {
                use std::net::ToSocketAddrs;
                let ip = (host, 0)
                    .to_socket_addrs()
                    .ok()
                    .and_then(|mut a| a.next())
                    .ok_or_else(|| {
                        Error::InvalidArgument(format!(
                            "error resolving passed in network volume address {host:?}"
                        ))
                    })?
                    .ip();
                out.push(format!("addr={ip}"));
            }
            _ => out.push(w.to_string()),
        }
    }
    Ok(out.join(","))
}

impl Engine {
    /// Takes a reference on `v` for container `id`, mounting it if it is the first.
    pub(super) fn local_acquire(&self, v: &VolumeRecord, id: &str) -> Result<()> {
        if !has_mount(v) {
            return Ok(());
        }
        let mut active = self.volumes.active();
        let first = active.get(&v.name).is_none_or(|h| h.is_empty());
        let data = self.volume_data(&v.name);
        let mounted_now = first && !crate::util::is_mountpoint(&data);
        if mounted_now {
            let typ = v.options.get("type").cloned().unwrap_or_default();
            let device = v.options.get("device").cloned().unwrap_or_default();
            let (flags, fsdata) = parse_o(v.options.get("o").map(String::as_str).unwrap_or(""));
            let fsdata = if fsdata.contains("addr=") {
                resolve_addr(&fsdata)?
            } else {
                fsdata
            };
            let cdata = if fsdata.is_empty() {
                None
            } else {
                Some(std::ffi::CString::new(fsdata).map_err(|_| {
                    Error::InvalidArgument(format!("volume {}: option o has a NUL byte", v.name))
                })?)
            };
            rustix::mount::mount(device.as_str(), &data, typ.as_str(), flags, cdata.as_deref())
                .map_err(|e| {
                    Error::Internal(format!(
                        "error while mounting volume '{}': failed to mount local volume: mount {device}:{} (type {typ}): {e}",
                        data.display(),
                        data.display()
                    ))
                })?;
        }
        active
            .entry(v.name.clone())
            .or_default()
            .insert(id.to_string());
        drop(active);
        if mounted_now {
            self.volume_event(
                &v.name,
                "mount",
                [("container".to_string(), id.to_string())].into(),
            );
        }
        Ok(())
    }

    /// Drops container `id`'s reference on volume `name`, unmounting on the last.
    pub(super) fn local_release(&self, name: &str, id: &str) {
        let mut active = self.volumes.active();
        let Some(holders) = active.get_mut(name) else {
            return;
        };
        if !holders.remove(id) || !holders.is_empty() {
            return;
        }
        active.remove(name);
        drop(active);
        self.local_unmount(name);
        self.volume_event(
            name,
            "unmount",
            [("container".to_string(), id.to_string())].into(),
        );
    }

    /// Unmounts `_data` if it is a mount point (busy mounts are detached).
    pub(super) fn local_unmount(&self, name: &str) {
        let data = self.volume_data(name);
        while crate::util::is_mountpoint(&data) {
            if let Err(e) = rustix::mount::unmount(&data, UnmountFlags::empty()) {
                tracing::warn!(volume = name, "unmounting: {e}; detaching");
                if rustix::mount::unmount(&data, UnmountFlags::DETACH).is_err() {
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn options_follow_moby() {
        assert!(validate(&opts(&[])).is_ok());
        assert!(validate(&opts(&[
            ("type", "tmpfs"),
            ("device", "tmpfs"),
            ("o", "size=1m")
        ]))
        .is_ok());
        assert!(validate(&opts(&[
            ("type", "none"),
            ("device", "/srv"),
            ("o", "bind")
        ]))
        .is_ok());
        let e = validate(&opts(&[("foo", "x")])).expect_err("unknown key");
        assert!(e.to_string().contains("invalid option key: \"foo\""), "{e}");
        let e = validate(&opts(&[("type", "tmpfs")])).expect_err("no device");
        assert!(e.to_string().contains("\"device\""), "{e}");
        assert!(validate(&opts(&[("type", "none"), ("device", "rel"), ("o", "bind")])).is_err());
    }

    #[test]
    fn o_splits_flags_from_data() {
        let (f, d) = parse_o("size=10m,ro,uid=1000,noexec");
        assert!(f.contains(MountFlags::RDONLY | MountFlags::NOEXEC));
        assert_eq!(d, "size=10m,uid=1000");
        let (f, d) = parse_o("addr=10.0.0.1,rw,nfsvers=4");
        assert!(!f.contains(MountFlags::RDONLY));
        assert_eq!(d, "addr=10.0.0.1,nfsvers=4");
        assert_eq!(
            resolve_addr("addr=127.0.0.1,x=1").expect("ip"),
            "addr=127.0.0.1,x=1"
        );
        assert!(resolve_addr("addr=localhost")
            .expect("resolves")
            .starts_with("addr="));
    }
}

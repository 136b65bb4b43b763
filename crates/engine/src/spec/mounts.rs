//! The container's mounts: Docker's defaults (`oci/defaults.go`), /dev/shm sized by ShmSize,
//! the generated /etc files, the init binary, and the user's Binds, Mounts and Tmpfs, with
//! moby's rules for overriding defaults, read-only rootfs and privileged containers.

use super::etc_files::EtcFiles;
use super::INIT_PATH_IN_CONTAINER;
use crate::{Error, Result};
use bollard_stubs::models::{HostConfig, Mount, MountBindOptionsPropagationEnum, MountType};
use serde_json::{json, Value};
use std::path::Path;

/// Docker's default /dev/shm size: 64 MiB.
pub const DEFAULT_SHM_SIZE: i64 = 64 << 20;

/// What [`build`] needs.
#[derive(Debug)]
pub struct MountInput<'a> {
    pub host_config: &'a HostConfig,
    pub privileged: bool,
    pub readonly_rootfs: bool,
    pub etc: &'a EtcFiles,
    pub init_path: Option<&'a Path>,
    pub ipc_host: bool,
    pub ipc_none: bool,
    /// Whether `rro` is available ([`super::recursive_ro::support`]).
    pub recursive_readonly: &'a super::recursive_ro::Support,
}

fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> Value {
    json!({"destination": dest, "type": typ, "source": source, "options": options})
}

fn dest_of(m: &Value) -> &str {
    m["destination"].as_str().unwrap_or_default()
}

/// All mounts, in the order the runtime must make them.
pub fn build(input: &MountInput) -> Result<Vec<Value>> {
    let hc = input.host_config;
    let shm_size = hc.shm_size.unwrap_or(0);
    if shm_size < 0 {
        return Err(Error::InvalidArgument(
            "SHM size can not be less than 0 (HostConfig.ShmSize)".into(),
        ));
    }
    let shm_size = if shm_size == 0 {
        DEFAULT_SHM_SIZE
    } else {
        shm_size
    };

    let mut defaults = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["ro", "nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
    ];
    if input.ipc_host {
        defaults.push(mount(
            "/dev/shm",
            "bind",
            "/dev/shm",
            &["rbind", "rprivate"],
        ));
    } else if !input.ipc_none {
        let size = format!("size={shm_size}");
        defaults.push(mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", &size],
        ));
    }
    if input.privileged {
        // moby: /sys and the cgroup mount are writable for privileged containers.
        for m in defaults.iter_mut() {
            if matches!(dest_of(m), "/sys" | "/sys/fs/cgroup") {
                if let Some(opts) = m["options"].as_array_mut() {
                    opts.retain(|o| o != "ro");
                }
            }
        }
    }

    // The user's mounts.
    let mut user: Vec<Value> = Vec::new();
    let rro = input.recursive_readonly;
    for b in hc.binds.iter().flatten() {
        user.push(parse_bind(b, rro)?);
    }
    for m in hc.mounts.iter().flatten() {
        user.push(api_mount(m, rro)?);
    }
    let mut tmpfs: Vec<(&String, &String)> = hc.tmpfs.iter().flatten().collect();
    tmpfs.sort();
    for (dest, data) in tmpfs {
        user.push(tmpfs_mount(dest, data, "HostConfig.Tmpfs")?);
    }
    let mut seen = std::collections::HashSet::new();
    for m in &user {
        let d = dest_of(m).trim_end_matches('/').to_string();
        if !seen.insert(d) {
            return Err(Error::InvalidArgument(format!(
                "Duplicate mount point: {}",
                dest_of(m)
            )));
        }
    }
    let user_has = |d: &str| user.iter().any(|m| dest_of(m).trim_end_matches('/') == d);

    // Generated files, unless the user mounts their own.
    let mut generated = Vec::new();
    for (dest, src) in [
        ("/etc/resolv.conf", &input.etc.resolv_conf),
        ("/etc/hostname", &input.etc.hostname),
        ("/etc/hosts", &input.etc.hosts),
    ] {
        if !user_has(dest) {
            // Read-only with the rootfs, recursively as every read-only bind (moby).
            let mut etc_opts = vec!["rbind", "rprivate"];
            if input.readonly_rootfs {
                etc_opts.push(super::recursive_ro::readonly_option(
                    rro,
                    &src.to_string_lossy(),
                    dest,
                    false,
                    false,
                    true,
                )?);
            }
            generated.push(
                json!({"destination": dest, "type": "bind", "source": src, "options": etc_opts}),
            );
        }
    }

    // Defaults the user replaced go away; a user /dev replaces every default under /dev.
    let user_dev = user_has("/dev");
    defaults.retain(|m| {
        let d = dest_of(m);
        !(user_has(d) || (user_dev && d.starts_with("/dev/")))
    });
    if input.readonly_rootfs {
        for m in defaults.iter_mut() {
            if matches!(
                dest_of(m),
                "/proc" | "/dev" | "/dev/pts" | "/dev/shm" | "/dev/mqueue"
            ) {
                continue;
            }
            if let Some(opts) = m["options"].as_array_mut() {
                if !opts.iter().any(|o| o == "ro") {
                    opts.push(json!("ro"));
                }
            }
        }
    }

    // moby sorts the user's and generated mounts by depth so parents come first.
    let mut rest: Vec<Value> = user.into_iter().chain(generated).collect();
    rest.sort_by_key(|m| {
        Path::new(dest_of(m))
            .components()
            .filter(|c| matches!(c, std::path::Component::Normal(_)))
            .count()
    });
    let mut all = defaults;
    all.extend(rest);
    if let Some(init) = input.init_path {
        all.push(json!({"destination": INIT_PATH_IN_CONTAINER, "type": "bind", "source": init, "options": ["bind", "ro"]}));
    }
    Ok(all)
}

fn check_destination(dest: &str, field: &str, whole: &str) -> Result<()> {
    if !dest.starts_with('/') {
        return Err(Error::InvalidArgument(format!(
            "invalid {field} {whole:?}: mount destination {dest:?} must be an absolute path"
        )));
    }
    if Path::new(dest)
        .components()
        .all(|c| c == std::path::Component::RootDir)
    {
        return Err(Error::InvalidArgument(format!(
            "invalid {field} {whole:?}: destination can't be '/'"
        )));
    }
    Ok(())
}

/// "SRC:DST[:OPTS]" from HostConfig.Binds. A missing host directory is created, as `docker
/// run -v` does.
pub fn parse_bind(spec: &str, rro: &super::recursive_ro::Support) -> Result<Value> {
    let field = "HostConfig.Binds entry";
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [s, d] => (*s, *d, ""),
        [s, d, m] => (*s, *d, *m),
        _ => {
            return Err(Error::InvalidArgument(format!(
                "invalid {field} {spec:?}: expected SRC:DST[:MODE]"
            )))
        }
    };
    if src.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "invalid {field} {spec:?}: empty source"
        )));
    }
    check_destination(dst, field, spec)?;
    if !src.starts_with('/') {
        return Err(Error::InvalidArgument(format!(
            "invalid {field} {spec:?}: named volumes ({src:?}) are not supported yet; use an absolute host path"
        )));
    }
    let mut ro = false;
    let mut propagation = "rprivate";
    for m in mode.split(',').filter(|m| !m.is_empty()) {
        match m {
            "ro" => ro = true,
            "rw" => ro = false,
            // SELinux relabeling and macOS consistency hints: nothing to do here.
            "z" | "Z" | "consistent" | "cached" | "delegated" => {}
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" => propagation = m,
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "invalid {field} {spec:?}: invalid mode: {m}"
                )))
            }
        }
    }
    if !Path::new(src).exists() {
        std::fs::create_dir_all(src).map_err(|e| {
            Error::InvalidArgument(format!(
                "invalid {field} {spec:?}: creating the missing source directory: {e}"
            ))
        })?;
    }
    let mut opts = vec!["rbind", propagation];
    if ro {
        opts.push(super::recursive_ro::readonly_option(
            rro, src, dst, false, false, true,
        )?);
    }
    Ok(json!({"destination": dst, "type": "bind", "source": src, "options": opts}))
}

/// One entry of HostConfig.Mounts (bind and tmpfs; volumes come with the volume store).
fn api_mount(m: &Mount, rro: &super::recursive_ro::Support) -> Result<Value> {
    let target = m.target.as_deref().unwrap_or_default();
    let typ = m.typ.unwrap_or(MountType::VOLUME);
    let whole = format!("type={typ},target={target}");
    check_destination(target, "HostConfig.Mounts entry", &whole)?;
    let ro = m.read_only.unwrap_or(false);
    match typ {
        MountType::BIND => {
            let src = m.source.as_deref().unwrap_or_default();
            if src.is_empty() || !src.starts_with('/') {
                return Err(Error::InvalidArgument(format!(
                    "invalid mount config for type \"bind\": invalid mount path: {src:?} mount path must be absolute"
                )));
            }
            if !Path::new(src).exists() {
                return Err(Error::InvalidArgument(format!(
                    "invalid mount config for type \"bind\": bind source path does not exist: {src}"
                )));
            }
            let bo = m.bind_options.as_ref();
            let recursive = !bo.and_then(|b| b.non_recursive).unwrap_or(false);
            let propagation = match bo.and_then(|b| b.propagation) {
                None | Some(MountBindOptionsPropagationEnum::EMPTY) => "rprivate".to_string(),
                Some(p) => p.to_string(),
            };
            let mut opts = vec![
                if recursive { "rbind" } else { "bind" }.to_string(),
                propagation,
            ];
            if ro {
                opts.push(
                    super::recursive_ro::readonly_option(
                        rro,
                        src,
                        target,
                        bo.and_then(|b| b.read_only_non_recursive).unwrap_or(false),
                        bo.and_then(|b| b.read_only_force_recursive)
                            .unwrap_or(false),
                        recursive,
                    )?
                    .into(),
                );
            }
            Ok(json!({"destination": target, "type": "bind", "source": src, "options": opts}))
        }
        MountType::TMPFS => {
            if m.source.as_deref().is_some_and(|s| !s.is_empty()) {
                return Err(Error::InvalidArgument(
                    "invalid mount config for type \"tmpfs\": source must not be specified".into(),
                ));
            }
            let mut data = Vec::new();
            if let Some(t) = &m.tmpfs_options {
                if let Some(size) = t.size_bytes.filter(|s| *s > 0) {
                    data.push(format!("size={size}"));
                }
                if let Some(mode) = t.mode.filter(|m| *m > 0) {
                    data.push(format!("mode={mode:o}"));
                }
                for kv in t.options.iter().flatten() {
                    data.push(kv.join("="));
                }
            }
            if ro {
                data.push("ro".into());
            }
            tmpfs_mount(target, &data.join(","), "HostConfig.Mounts entry")
        }
        MountType::VOLUME => Err(Error::InvalidArgument(format!(
            "HostConfig.Mounts entry {whole:?}: volume mounts are not supported yet"
        ))),
        other => Err(Error::InvalidArgument(format!(
            "HostConfig.Mounts entry {whole:?}: mount type {other:?} is not supported"
        ))),
    }
}

/// A tmpfs: Docker's noexec,nosuid,nodev then the user's options, a later option overriding
/// its opposite (exec over noexec...).
pub fn tmpfs_mount(dest: &str, data: &str, field: &str) -> Result<Value> {
    check_destination(dest, field, dest)?;
    let mut opts: Vec<String> = vec!["noexec".into(), "nosuid".into(), "nodev".into()];
    let opposite = |o: &str| -> Option<String> {
        match o {
            "exec" | "suid" | "dev" | "atime" | "diratime" | "relatime" => Some(format!("no{o}")),
            "noexec" | "nosuid" | "nodev" | "noatime" | "nodiratime" | "norelatime" => {
                Some(o[2..].to_string())
            }
            "ro" => Some("rw".into()),
            "rw" => Some("ro".into()),
            _ => None,
        }
    };
    for o in data.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        if let Some(opp) = opposite(o) {
            opts.retain(|x| *x != opp && x != o);
        } else if let Some((k, _)) = o.split_once('=') {
            if !matches!(
                k,
                "size"
                    | "mode"
                    | "uid"
                    | "gid"
                    | "nr_inodes"
                    | "nr_blocks"
                    | "mpol"
                    | "huge"
                    | "tmpcopyup"
            ) {
                return Err(Error::InvalidArgument(format!(
                    "invalid {field} {dest:?}: unknown tmpfs option {o:?}"
                )));
            }
            let prefix = format!("{k}=");
            opts.retain(|x| !x.starts_with(&prefix));
        } else if !matches!(
            o,
            "tmpcopyup" | "notmpcopyup" | "strictatime" | "nostrictatime" | "sync" | "async"
        ) {
            return Err(Error::InvalidArgument(format!(
                "invalid {field} {dest:?}: unknown tmpfs option {o:?}"
            )));
        }
        opts.push(o.to_string());
    }
    Ok(json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": opts}))
}

//! The `cgroup` mount inside a container (/sys/fs/cgroup).
//!
//! On a cgroup v2 host: a cgroup2 mount when the container has its own cgroup namespace (the
//! namespace root is then the container's cgroup), else a bind of the container's own cgroup
//! directory. On a v1 (or hybrid) host: a tmpfs with one mount per hierarchy, each either a fresh
//! cgroup mount (with a cgroup namespace) or a bind of the container's directory in that
//! hierarchy, found from /proc/self/cgroup after the runtime placed us in our cgroups.

use super::mounts::MountOptions;
use super::paths::{fd_path, mkdir_all, open_in_root};
use rustix::fs::OFlags;
use rustix::mount::{mount_bind_recursive, MountFlags};
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};

/// A cgroup hierarchy mounted on the host.
#[derive(Debug)]
struct Hierarchy {
    mount_point: PathBuf,
    fstype: String,
    /// Controllers (or `name=systemd`) from the super options; empty for cgroup2.
    controllers: Vec<String>,
}

fn host_hierarchies() -> Vec<Hierarchy> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mount_point = left.split_whitespace().nth(4)?;
            let mut r = right.split_whitespace();
            let fstype = r.next()?;
            if fstype != "cgroup" && fstype != "cgroup2" {
                return None;
            }
            let _source = r.next();
            let opts = r.next().unwrap_or("");
            let controllers = if fstype == "cgroup" {
                opts.split(',')
                    .filter(|o| {
                        !matches!(
                            *o,
                            "rw" | "ro"
                                | "relatime"
                                | "nosuid"
                                | "nodev"
                                | "noexec"
                                | "noatime"
                                | "clone_children"
                                | "xattr"
                        ) && !o.starts_with("release_agent")
                    })
                    .map(str::to_string)
                    .collect()
            } else {
                Vec::new()
            };
            Some(Hierarchy {
                mount_point: PathBuf::from(mount_point),
                fstype: fstype.to_string(),
                controllers,
            })
        })
        .collect()
}

/// Our cgroup path in a hierarchy, from /proc/self/cgroup.
fn own_path(h: &Hierarchy) -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_id, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        let matches = if h.fstype == "cgroup2" {
            ctrls.is_empty()
        } else {
            let set: Vec<&str> = ctrls.split(',').collect();
            h.controllers.iter().all(|c| set.contains(&c.as_str()))
                && set.len() == h.controllers.len()
        };
        matches.then(|| path.to_string())
    })
}

fn sub(p: &Path, rel: &str) -> PathBuf {
    p.join(rel.trim_start_matches('/'))
}

/// Mounts the cgroup filesystem(s) at `dest` inside `root`.
pub fn mount_cgroup(
    root: BorrowedFd<'_>,
    dest: &Path,
    o: &MountOptions,
    cgroupns: bool,
) -> Result<(), String> {
    let flags = o.flags & !(MountFlags::BIND | MountFlags::REC);
    let hier = host_hierarchies();
    let v2_only = hier.iter().all(|h| h.fstype == "cgroup2");
    let target = mkdir_all(root, dest).map_err(|e| format!("creating mount point: {e}"))?;
    if v2_only {
        if cgroupns {
            return super::mounts::mount_fs(
                Path::new("cgroup2"),
                &fd_path(&target),
                "cgroup2",
                flags,
                "",
            )
            .map_err(|e| format!("mount cgroup2: {e}"));
        }
        let h = hier.first().ok_or("no cgroup2 mount on the host")?;
        let src = sub(&h.mount_point, &own_path(h).unwrap_or_default());
        mount_bind_recursive(&src, fd_path(&target))
            .map_err(|e| format!("bind {}: {e}", src.display()))?;
        let mounted = open_in_root(root, dest, OFlags::PATH).map_err(|e| e.to_string())?;
        return super::rootfs::remount_bind(&fd_path(&mounted), flags, true)
            .map_err(|e| format!("remount: {e}"));
    }
    let tmp_flags = flags & !MountFlags::RDONLY;
    super::mounts::mount_fs(
        Path::new("tmpfs"),
        &fd_path(&target),
        "tmpfs",
        tmp_flags,
        "mode=755",
    )
    .map_err(|e| format!("mount tmpfs: {e}"))?;
    drop(target);
    for h in hier
        .iter()
        .filter(|h| h.mount_point.starts_with("/sys/fs/cgroup"))
    {
        let Some(name) = h.mount_point.file_name() else {
            continue;
        };
        let subdir = dest.join(name);
        let t =
            mkdir_all(root, &subdir).map_err(|e| format!("creating {}: {e}", subdir.display()))?;
        let data = h.controllers.join(",");
        let res = if cgroupns {
            super::mounts::mount_fs(
                Path::new("cgroup"),
                &fd_path(&t),
                h.fstype.as_str(),
                flags,
                data.as_str(),
            )
        } else {
            let src = sub(&h.mount_point, &own_path(h).unwrap_or_default());
            mount_bind_recursive(&src, fd_path(&t)).and_then(|()| {
                let m = open_in_root(root, &subdir, OFlags::PATH)?;
                super::rootfs::remount_bind(&fd_path(&m), flags, true)
            })
        };
        res.map_err(|e| format!("mounting {} hierarchy: {e}", name.to_string_lossy()))?;
        // runc's links for co-mounted controllers: cpu -> cpu,cpuacct and cpuacct -> cpu,cpuacct.
        let name = name.to_string_lossy();
        if name.contains(',') {
            let dir = open_in_root(root, dest, OFlags::PATH | OFlags::DIRECTORY)
                .map_err(|e| format!("reopening: {e}"))?;
            for part in name.split(',') {
                match rustix::fs::symlinkat(name.as_ref(), &dir, part) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(format!("linking {part} to {name}: {e}")),
                }
            }
        }
    }
    // The tmpfs that holds the hierarchies is read-only when the mount asks for it (runc), so a
    // container cannot create directories or files beside its cgroups.
    if flags.contains(MountFlags::RDONLY) {
        let mounted = open_in_root(root, dest, OFlags::PATH).map_err(|e| e.to_string())?;
        super::rootfs::remount_bind(
            &fd_path(&mounted),
            MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
            false,
        )
        .map_err(|e| format!("remounting the cgroup tmpfs read-only: {e}"))?;
    }
    Ok(())
}

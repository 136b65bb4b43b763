//! Where a container's cgroup lives: validation of `linux.cgroupsPath`, the runtime's own cgroup
//! from `/proc/self/cgroup`, and cgroup v1 mounts from `/proc/self/mountinfo`.

use std::path::{Component, Path, PathBuf};

use crate::{fsutil, CgroupError};

/// A validated cgroups path: either absolute (below each hierarchy root) or relative (below the
/// runtime's own cgroup). Never contains `..`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CgroupPath {
    pub absolute: bool,
    /// Normalised, without leading '/'; may be empty (the hierarchy root itself).
    pub rel: PathBuf,
}

/// Validates `linux.cgroupsPath` (empty → `/<container_id>`, runc's default).
pub(crate) fn parse_cgroups_path(
    cgroups_path: &str,
    container_id: &str,
) -> Result<CgroupPath, CgroupError> {
    let invalid = |reason: &str| CgroupError::InvalidPath {
        path: cgroups_path.to_string(),
        reason: reason.to_string(),
    };
    let raw = if cgroups_path.is_empty() {
        if container_id.is_empty() {
            return Err(invalid(
                "empty, and no container id to derive a default from",
            ));
        }
        if container_id.contains('/') || container_id == ".." || container_id == "." {
            return Err(CgroupError::InvalidPath {
                path: format!("/{container_id}"),
                reason: "the container id used as default cgroup name must be one path component"
                    .into(),
            });
        }
        format!("/{container_id}")
    } else {
        cgroups_path.to_string()
    };
    if raw.contains('\0') {
        return Err(invalid("contains a NUL byte"));
    }
    // runc's systemd driver syntax: "slice:prefix:name" (never absolute).
    if !raw.starts_with('/') && raw.split(':').count() == 3 {
        return Err(CgroupError::SystemdNotSupported {
            path: cgroups_path.to_string(),
        });
    }
    let mut rel = PathBuf::new();
    for comp in Path::new(&raw).components() {
        match comp {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(c) => rel.push(c),
            Component::ParentDir => {
                return Err(invalid(
                    "contains a '..' component; cgroup paths may not climb out of their root",
                ))
            }
            Component::Prefix(_) => return Err(invalid("unsupported path prefix")),
        }
    }
    Ok(CgroupPath {
        absolute: raw.starts_with('/'),
        rel,
    })
}

/// One line of `/proc/self/cgroup`.
#[derive(Debug, Clone)]
pub(crate) struct OwnCgroup {
    /// Controllers (`cpu,cpuacct` split; `name=systemd` kept as is); empty for the v2 line.
    pub controllers: Vec<String>,
    pub path: String,
}

/// Parses `/proc/self/cgroup`.
pub(crate) fn own_cgroups() -> Result<Vec<OwnCgroup>, CgroupError> {
    let path = Path::new("/proc/self/cgroup");
    let content = fsutil::read(path)?;
    Ok(parse_own_cgroups(&content))
}

pub(crate) fn parse_own_cgroups(content: &str) -> Vec<OwnCgroup> {
    content
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let _id = parts.next()?;
            let ctrls = parts.next()?;
            let path = parts.next()?;
            Some(OwnCgroup {
                controllers: ctrls
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_string)
                    .collect(),
                path: path.to_string(),
            })
        })
        .collect()
}

/// Joins a validated cgroups path to one hierarchy.
///
/// `mountpoint` is where the hierarchy is mounted, `mount_root` the cgroup shown at that mount
/// (not "/" inside a container that got a namespaced view), `own` the runtime's own cgroup in
/// that hierarchy (needed only for relative paths).
pub(crate) fn join(
    mountpoint: &Path,
    mount_root: &str,
    own: Option<&str>,
    p: &CgroupPath,
) -> PathBuf {
    let mut dir = mountpoint.to_path_buf();
    if !p.absolute {
        if let Some(own) = own {
            let own = own
                .strip_prefix(mount_root)
                .filter(|_| mount_root != "/")
                .unwrap_or(own);
            for comp in Path::new(own).components() {
                if let Component::Normal(c) = comp {
                    dir.push(c);
                }
            }
        }
    }
    dir.join(&p.rel)
}

/// A cgroup mount found in mountinfo.
#[derive(Debug, Clone)]
pub(crate) struct Mount {
    pub mountpoint: PathBuf,
    pub root: String,
    /// v1 controllers (incl. `name=...`); empty for cgroup2.
    pub controllers: Vec<String>,
    pub v2: bool,
}

const V1_CONTROLLERS: &[&str] = &[
    "cpuset",
    "cpu",
    "cpuacct",
    "blkio",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "perf_event",
    "net_prio",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
];

/// Cgroup mounts (v1 and v2) whose mountpoint is below `under`, first mount of each wins.
pub(crate) fn cgroup_mounts(mountinfo: &str, under: &Path) -> Vec<Mount> {
    let mut out: Vec<Mount> = Vec::new();
    for line in mountinfo.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let mut post = post.split(' ');
        let fstype = post.next().unwrap_or("");
        let _source = post.next();
        let superopts = post.next().unwrap_or("");
        let v2 = match fstype {
            "cgroup" => false,
            "cgroup2" => true,
            _ => continue,
        };
        let fields: Vec<&str> = pre.split(' ').collect();
        if fields.len() < 5 {
            continue;
        }
        let mountpoint = PathBuf::from(unescape(fields[4]));
        if !mountpoint.starts_with(under) {
            continue;
        }
        let controllers: Vec<String> = if v2 {
            Vec::new()
        } else {
            superopts
                .split(',')
                .filter(|o| V1_CONTROLLERS.contains(o) || o.starts_with("name="))
                .map(str::to_string)
                .collect()
        };
        if out
            .iter()
            .any(|m| m.v2 == v2 && m.controllers == controllers)
        {
            continue;
        }
        out.push(Mount {
            mountpoint,
            root: unescape(fields[3]),
            controllers,
            v2,
        });
    }
    out
}

/// Undoes mountinfo's octal escapes (`\040` for space etc.).
fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroups_path_rules() {
        let p = parse_cgroups_path("", "abc").expect("default path");
        assert!(p.absolute);
        assert_eq!(p.rel, PathBuf::from("abc"));
        let p = parse_cgroups_path("a/./b//c", "x").expect("relative path");
        assert!(!p.absolute);
        assert_eq!(p.rel, PathBuf::from("a/b/c"));
        assert!(matches!(
            parse_cgroups_path("/a/../../etc", "x"),
            Err(CgroupError::InvalidPath { .. })
        ));
        assert!(matches!(
            parse_cgroups_path("", ".."),
            Err(CgroupError::InvalidPath { .. })
        ));
        assert!(matches!(
            parse_cgroups_path("system.slice:docker:abc", "x"),
            Err(CgroupError::SystemdNotSupported { .. })
        ));
    }

    #[test]
    fn mountinfo_and_join() {
        let mi = "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n\
                  40 31 0:37 /docker/x /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n\
                  41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n\
                  42 31 0:38 / /other\\040dir rw,relatime - cgroup cgroup rw,memory\n";
        let m = cgroup_mounts(mi, Path::new("/sys/fs/cgroup"));
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].controllers, vec!["cpu", "cpuacct"]);
        assert_eq!(m[1].controllers, vec!["name=systemd"]);
        assert!(m[2].v2);
        let all = cgroup_mounts(mi, Path::new("/"));
        assert_eq!(all[3].mountpoint, PathBuf::from("/other dir"));
        let rel = parse_cgroups_path("c1", "x").expect("valid");
        assert_eq!(
            join(&m[1].mountpoint, &m[1].root, Some("/docker/x/run"), &rel),
            PathBuf::from("/sys/fs/cgroup/systemd/run/c1")
        );
        let abs = parse_cgroups_path("/berth/c1", "x").expect("valid");
        assert_eq!(
            join(&m[0].mountpoint, "/", Some("/user"), &abs),
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/berth/c1")
        );
    }
}

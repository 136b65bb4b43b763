//! Config.User and HostConfig.GroupAdd resolved against the container's own /etc/passwd and
//! /etc/group (moby/sys/user's GetExecUser rules), read with openat2(RESOLVE_IN_ROOT) so a
//! symlink in the image cannot make the daemon read a host file.

use crate::{Error, Result};
use std::io::Read;
use std::path::Path;

/// The process identity for the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

impl ResolvedUser {
    pub(crate) fn to_json(&self) -> serde_json::Value {
        let mut u = serde_json::json!({"uid": self.uid, "gid": self.gid});
        if !self.additional_gids.is_empty() {
            u["additionalGids"] = serde_json::json!(self.additional_gids);
        }
        u
    }
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
}

struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

const MAX_ID: u64 = i32::MAX as u64;

fn parse_id(s: &str, what: &str) -> Result<Option<u32>> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    match s.parse::<u64>() {
        Ok(n) if n <= MAX_ID => Ok(Some(n as u32)),
        _ => Err(Error::InvalidArgument(format!(
            "invalid {what} {s:?}: uids and gids must be in range 0-{MAX_ID}"
        ))),
    }
}

fn parse_passwd(content: &str) -> Vec<PasswdEntry> {
    content
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.trim().split(':').collect();
            if f.len() < 4 {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
            })
        })
        .collect()
}

fn parse_group(content: &str) -> Vec<GroupEntry> {
    content
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.trim().split(':').collect();
            if f.len() < 3 {
                return None;
            }
            Some(GroupEntry {
                name: f[0].to_string(),
                gid: f[2].parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// Reads `rel` (relative, e.g. "etc/passwd") inside `root` with every path component resolved
/// as if `root` were `/`. A missing file is `None`.
pub fn read_in_root(root: &Path, rel: &str) -> Result<Option<String>> {
    use rustix::fs::{openat2, Mode, OFlags, ResolveFlags};
    let ctx = || {
        format!(
            "reading /{rel} in the container's rootfs {}",
            root.display()
        )
    };
    let dir = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::internal(ctx(), e))?;
    let fd = match openat2(
        &dir,
        rel,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_XDEV,
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) | Err(rustix::io::Errno::NOTDIR) => return Ok(None),
        Err(e) => return Err(Error::internal(ctx(), e)),
    };
    let mut file = std::fs::File::from(fd);
    if !file
        .metadata()
        .map_err(|e| Error::internal(ctx(), e))?
        .is_file()
    {
        return Err(Error::Internal(format!("{}: not a regular file", ctx())));
    }
    // Bounded: a hostile image could ship a huge passwd.
    let mut s = String::new();
    (&mut file)
        .take(16 << 20)
        .read_to_string(&mut s)
        .map_err(|e| Error::internal(ctx(), e))?;
    Ok(Some(s))
}

/// Creates the working directory `abs` (absolute, in the container's view) inside `root`
/// with every component resolved as if `root` were `/` (symlinks cannot lead out), mode 0755
/// owned by root, as Docker does before start. An existing non-directory is an error naming
/// Config.WorkingDir.
pub fn mkdir_in_root(root: &Path, abs: &str) -> Result<()> {
    use rustix::fs::{mkdirat, openat2, Mode, OFlags, ResolveFlags};
    let ctx = || format!("creating the working directory {abs} in {}", root.display());
    let rootfd = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::internal(ctx(), e))?;
    let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_XDEV;
    let open_dir = |rel: &str| {
        openat2(
            &rootfd,
            if rel.is_empty() { "." } else { rel },
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            resolve,
        )
    };
    let comps: Vec<&str> = abs
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if comps.contains(&"..") {
        return Err(Error::InvalidArgument(format!(
            "invalid Config.WorkingDir {abs:?}: must not contain '..'"
        )));
    }
    for i in 0..comps.len() {
        let rel = comps[..=i].join("/");
        match open_dir(&rel) {
            Ok(_) => continue,
            Err(rustix::io::Errno::NOENT) => {
                let parent =
                    open_dir(&comps[..i].join("/")).map_err(|e| Error::internal(ctx(), e))?;
                match mkdirat(&parent, comps[i], Mode::from_raw_mode(0o755)) {
                    Ok(()) => {}
                    // Present but not openable as a directory: a symlink to nothing.
                    Err(rustix::io::Errno::EXIST) => {
                        return Err(Error::InvalidArgument(format!(
                            "invalid Config.WorkingDir {abs:?}: /{rel} is a dangling symlink in the image"
                        )))
                    }
                    Err(e) => return Err(Error::internal(ctx(), e)),
                }
                open_dir(&rel).map_err(|e| Error::internal(ctx(), e))?;
            }
            Err(rustix::io::Errno::NOTDIR) => {
                return Err(Error::InvalidArgument(format!(
                    "invalid Config.WorkingDir {abs:?}: /{rel} is not a directory in the image"
                )))
            }
            Err(e) => return Err(Error::internal(ctx(), e)),
        }
    }
    Ok(())
}

/// Resolves `user` ("", "name", "uid", "name:group", "uid:gid", ...) and `group_add` (names or
/// numbers) in the rootfs, with Docker's errors.
pub fn resolve(rootfs: &Path, user: &str, group_add: &[String]) -> Result<ResolvedUser> {
    let passwd = parse_passwd(&read_in_root(rootfs, "etc/passwd")?.unwrap_or_default());
    // Needed even for a bare user name: its supplementary groups come from /etc/group.
    let groups = parse_group(&read_in_root(rootfs, "etc/group")?.unwrap_or_default());
    resolve_with(&passwd, &groups, user, group_add)
}

fn resolve_with(
    passwd: &[PasswdEntry],
    groups: &[GroupEntry],
    user: &str,
    group_add: &[String],
) -> Result<ResolvedUser> {
    let (user_part, group_part) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    // Defaults when the user is not in passwd: root's group.
    let (mut uid, mut gid, mut name) = (0u32, 0u32, None::<String>);
    if user_part.is_empty() {
        if let Some(e) = passwd.iter().find(|e| e.uid == 0) {
            gid = e.gid;
            name = Some(e.name.clone());
        } else {
            name = Some("root".into());
        }
    } else if let Some(e) = passwd.iter().find(|e| e.name == user_part) {
        (uid, gid, name) = (e.uid, e.gid, Some(e.name.clone()));
    } else if let Some(n) = parse_id(user_part, "Config.User")? {
        uid = n;
        if let Some(e) = passwd.iter().find(|e| e.uid == n) {
            gid = e.gid;
            name = Some(e.name.clone());
        }
    } else {
        return Err(Error::InvalidArgument(format!(
            "unable to find user {user_part}: no matching entries in passwd file"
        )));
    }

    let mut additional = Vec::new();
    match group_part {
        Some(g) if !g.is_empty() => {
            gid = lookup_group(groups, g, "Config.User")?.ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "unable to find group {g}: no matching entries in group file"
                ))
            })?;
        }
        _ => {
            // Supplementary groups only in the implicit form, as moby/sys/user does.
            if let Some(n) = &name {
                for g in groups.iter().filter(|g| g.members.iter().any(|m| m == n)) {
                    if !additional.contains(&g.gid) {
                        additional.push(g.gid);
                    }
                }
            }
        }
    }
    for g in group_add {
        let id = lookup_group(groups, g, "HostConfig.GroupAdd")?
            .ok_or_else(|| Error::InvalidArgument(format!("Unable to find group {g}")))?;
        if !additional.contains(&id) {
            additional.push(id);
        }
    }
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids: additional,
    })
}

/// A group by name, else by number (a number needs no entry).
fn lookup_group(groups: &[GroupEntry], g: &str, field: &str) -> Result<Option<u32>> {
    if let Some(e) = groups.iter().find(|e| e.name == g) {
        return Ok(Some(e.gid));
    }
    parse_id(g, field)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
        # a comment\n\
        app:x:1000:1000:App:/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nwheel:x:10:root,app\naudio:x:29:app\napp:x:1000:\n";

    fn r(user: &str, add: &[&str]) -> Result<ResolvedUser> {
        let add: Vec<String> = add.iter().map(|s| s.to_string()).collect();
        resolve_with(&parse_passwd(PASSWD), &parse_group(GROUP), user, &add)
    }

    #[test]
    fn names_numbers_and_groups() {
        assert_eq!(
            r("app", &[]).expect("ok"),
            ResolvedUser {
                uid: 1000,
                gid: 1000,
                additional_gids: vec![10, 29]
            }
        );
        // A known uid takes the entry's group and memberships.
        assert_eq!(r("1000", &[]).expect("ok").additional_gids, vec![10, 29]);
        // An unknown uid is fine, with gid 0.
        assert_eq!(
            r("4242", &[]).expect("ok"),
            ResolvedUser {
                uid: 4242,
                gid: 0,
                additional_gids: vec![]
            }
        );
        // Explicit group: no supplementary groups from the file.
        assert_eq!(
            r("app:audio", &[]).expect("ok"),
            ResolvedUser {
                uid: 1000,
                gid: 29,
                additional_gids: vec![]
            }
        );
        assert_eq!(r("1:4000", &[]).expect("ok").gid, 4000);
        // Empty = root, with root's memberships.
        assert_eq!(r("", &[]).expect("ok").additional_gids, vec![10]);
        // --group-add by name and number.
        assert_eq!(
            r("daemon", &["audio", "777"]).expect("ok").additional_gids,
            vec![29, 777]
        );
    }

    #[test]
    fn docker_errors() {
        let e = r("nobody", &[]).expect_err("must fail").to_string();
        assert_eq!(
            e,
            "unable to find user nobody: no matching entries in passwd file"
        );
        let e = r("app:nogroup", &[]).expect_err("must fail").to_string();
        assert_eq!(
            e,
            "unable to find group nogroup: no matching entries in group file"
        );
        assert!(r("app", &["video"])
            .expect_err("must fail")
            .to_string()
            .contains("Unable to find group video"));
        assert!(r("99999999999", &[])
            .expect_err("must fail")
            .to_string()
            .contains("Config.User"));
    }

    #[test]
    fn working_dir_is_created_inside_the_rootfs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("rootfs");
        std::fs::create_dir_all(root.join("etc")).expect("mkdir");
        mkdir_in_root(&root, "/srv/app/data").expect("mkdir");
        assert!(root.join("srv/app/data").is_dir());
        mkdir_in_root(&root, "/srv/app").expect("existing is fine");
        // A symlink pointing out of the rootfs is followed inside it.
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&outside).expect("mkdir");
        std::os::unix::fs::symlink(&outside, root.join("escape")).expect("symlink");
        let e = mkdir_in_root(&root, "/escape/x").expect_err("dangling inside the rootfs");
        assert!(e.to_string().contains("dangling symlink"), "{e}");
        assert!(!outside.join("x").exists(), "escaped the rootfs");
        // Once the target exists inside the rootfs, the directory is made there.
        std::fs::create_dir_all(root.join(outside.strip_prefix("/").expect("abs"))).expect("mkdir");
        mkdir_in_root(&root, "/escape/x").expect("mkdir");
        assert!(!outside.join("x").exists(), "escaped the rootfs");
        assert!(root
            .join(outside.strip_prefix("/").expect("abs"))
            .join("x")
            .is_dir());
        // A file in the way names the field.
        std::fs::write(root.join("etc/file"), "").expect("write");
        let e = mkdir_in_root(&root, "/etc/file/sub").expect_err("must fail");
        assert!(e.to_string().contains("Config.WorkingDir"), "{e}");
    }

    #[test]
    fn reads_files_inside_the_rootfs_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("rootfs");
        std::fs::create_dir_all(root.join("etc")).expect("mkdir");
        std::fs::write(root.join("etc/passwd"), PASSWD).expect("write");
        std::fs::write(root.join("etc/group"), GROUP).expect("write");
        assert_eq!(resolve(&root, "app", &[]).expect("ok").uid, 1000);

        // An absolute symlink to a host file resolves inside the rootfs instead.
        let outside = dir.path().join("outside-passwd");
        std::fs::write(&outside, "evil:x:0:0::/:/bin/sh\n").expect("write");
        std::fs::remove_file(root.join("etc/passwd")).expect("rm");
        std::os::unix::fs::symlink(&outside, root.join("etc/passwd")).expect("symlink");
        let e = resolve(&root, "evil", &[])
            .expect_err("must fail")
            .to_string();
        assert!(e.contains("unable to find user evil"), "{e}");
        // A relative ../ escape is clamped at the root too.
        std::fs::remove_file(root.join("etc/passwd")).expect("rm");
        std::os::unix::fs::symlink("../../outside-passwd", root.join("etc/passwd"))
            .expect("symlink");
        assert!(resolve(&root, "evil", &[]).is_err());
        // No passwd at all: numeric users still work.
        std::fs::remove_file(root.join("etc/passwd")).expect("rm");
        assert_eq!(resolve(&root, "5:6", &[]).expect("ok").gid, 6);
    }
}

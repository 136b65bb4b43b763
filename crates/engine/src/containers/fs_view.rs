//! The container's file system as `docker cp` sees it: its root with its volumes, binds, tmpfs
//! mounts and generated /etc files in place, in a private mount namespace that lives exactly
//! as long as the view (as moby's `openContainerFS`).
//!
//! - A running container: a copy of its own mount namespace (entered through a pidfd, after
//!   checking the process's root is the container's rootfs), so tmpfs contents and every
//!   read-only flag are the container's; the runtime's own mounts (/proc, /sys, /dev, masked
//!   paths, the init binary) are detached from the copy, which then shows what dockerd shows.
//! - A created or stopped container: a copy of the daemon's namespace where the rootfs
//!   snapshot is mounted and each volume and bind is bind-mounted from its host source
//!   (recursively read-only where the container would have it so).
//!
//! Each view is built by a short-lived thread that unshares its mount namespace, and is kept
//! alive by an fd of that namespace: nothing is mounted in the daemon's namespace, nothing is
//! left behind after a crash, and dropping the view unmounts everything at once.

use crate::error::{Error, Result};
use rustix::fs::{self as rfs, AtFlags, Mode, OFlags, ResolveFlags, StatxFlags, CWD};
use rustix::io::Errno;
use rustix::mount::{MountPropagationFlags, MoveMountFlags, OpenTreeFlags, UnmountFlags};
use std::collections::{HashMap, HashSet};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

/// One mount of the container, as the view places it.
#[derive(Debug, Clone)]
pub(crate) struct ViewMount {
    pub destination: String,
    /// The host path bound there in a stopped container's view; None for what only a running
    /// container has (its tmpfs mounts).
    pub source: Option<PathBuf>,
    pub rw: bool,
    /// `bind-recursive=disabled`: no submounts.
    pub non_recursive: bool,
    /// `bind-recursive=writable`: read-only at the top only.
    pub read_only_non_recursive: bool,
    /// Counts as a volume for the read-only check of a copy into it (dockerd's MountPoints);
    /// the generated /etc files do not.
    pub is_volume: bool,
}

/// An open view; dropping it tears the mounts down.
#[derive(Debug)]
pub(crate) struct FsView {
    root: OwnedFd,
    /// The private mount namespace; its mounts live as long as this fd.
    _ns: OwnedFd,
    /// For each mount of the view under a user's volume, bind or tmpfs: whether that one is
    /// writable. Mounts absent here belong to the root file system.
    owners: HashMap<u64, bool>,
}

impl FsView {
    /// The container's `/`, an O_PATH directory fd.
    pub fn root(&self) -> BorrowedFd<'_> {
        self.root.as_fd()
    }

    /// dockerd's `checkWritablePath`: a copy into a read-only volume or bind is refused with
    /// "mounted volume is marked read-only", one into a read-only root file system (outside
    /// any volume) with "container rootfs is marked read-only", both 400.
    pub fn check_writable(&self, dir: BorrowedFd<'_>, readonly_rootfs: bool) -> Result<()> {
        let id = mount_id(dir).map_err(|e| Error::internal("archive: mount of the target", e))?;
        match self.owners.get(&id) {
            Some(true) => Ok(()),
            Some(false) => Err(Error::InvalidArgument(
                "mounted volume is marked read-only".into(),
            )),
            None if readonly_rootfs => Err(Error::InvalidArgument(
                "container rootfs is marked read-only".into(),
            )),
            None => Ok(()),
        }
    }
}

fn mount_id(fd: BorrowedFd<'_>) -> rustix::io::Result<u64> {
    Ok(rfs::statx(fd, "", AtFlags::EMPTY_PATH, StatxFlags::MNT_ID)?.stx_mnt_id)
}

fn rel(p: &str) -> &str {
    let r = p.trim_start_matches('/');
    if r.is_empty() {
        "."
    } else {
        r
    }
}

/// `path` resolved under `root` as if `root` were `/` (symlinks included).
fn open_in(root: BorrowedFd<'_>, path: &str, flags: OFlags) -> rustix::io::Result<OwnedFd> {
    loop {
        match rfs::openat2(
            root,
            rel(path),
            flags | OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        ) {
            Err(Errno::AGAIN) => continue,
            r => return r,
        }
    }
}

/// Runs `f` on a fresh thread (namespace changes must not reach a pooled thread).
fn on_own_thread<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    std::thread::Builder::new()
        .name("berth-fs-view".into())
        .spawn(f)
        .map_err(|e| Error::internal("archive: starting the view thread", e))?
        .join()
        .map_err(|_| Error::Internal("archive: the view thread panicked".into()))?
}

/// One line of /proc/PID/mountinfo: mount id, parent id and mount point.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MountInfo {
    id: u64,
    parent: u64,
    point: String,
}

fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(' ');
            let id = f.next()?.parse().ok()?;
            let parent = f.next()?.parse().ok()?;
            let point = crate::util::unescape_mountinfo(f.nth(2)?);
            Some(MountInfo { id, parent, point })
        })
        .collect()
}

/// The mounts to detach so that only `root`, the `kept` mounts and what lies under them stay:
/// the top of each subtree without a kept mount, leaving alone a mount that has a kept one
/// below it.
fn mounts_to_detach(all: &[MountInfo], root: u64, kept: &HashSet<u64>) -> Vec<MountInfo> {
    let mut children: HashMap<u64, Vec<&MountInfo>> = HashMap::new();
    for m in all.iter().filter(|m| m.id != m.parent) {
        children.entry(m.parent).or_default().push(m);
    }
    fn holds_kept(
        id: u64,
        children: &HashMap<u64, Vec<&MountInfo>>,
        kept: &HashSet<u64>,
        depth: usize,
    ) -> bool {
        kept.contains(&id)
            || (depth < 512
                && children.get(&id).is_some_and(|c| {
                    c.iter()
                        .any(|m| holds_kept(m.id, children, kept, depth + 1))
                }))
    }
    let mut out = Vec::new();
    let mut todo = vec![(root, 0usize)];
    while let Some((id, depth)) = todo.pop() {
        for c in children.get(&id).into_iter().flatten() {
            if kept.contains(&c.id) {
                continue;
            }
            if depth < 512 && holds_kept(c.id, &children, kept, 0) {
                todo.push((c.id, depth + 1));
            } else {
                out.push((*c).clone());
            }
        }
    }
    out
}

/// Which kept mount (and so which writability) each mount of the view falls under.
fn owners_of(all: &[MountInfo], kept: &HashMap<u64, bool>) -> HashMap<u64, bool> {
    let parent: HashMap<u64, u64> = all.iter().map(|m| (m.id, m.parent)).collect();
    let mut out = HashMap::new();
    for m in all {
        let mut id = m.id;
        for _ in 0..512 {
            if let Some(rw) = kept.get(&id) {
                out.insert(m.id, *rw);
                break;
            }
            match parent.get(&id) {
                Some(p) if *p != id => id = *p,
                _ => break,
            }
        }
    }
    out
}

/// This thread's /proc/PID/task/TID, opened before any namespace change (the container's
/// /proc, once inside its namespace, does not know the daemon's threads).
fn own_task_dir() -> Result<OwnedFd> {
    rfs::open(
        "/proc/thread-self",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::internal("archive: /proc/thread-self", e))
}

fn read_mountinfo(task: BorrowedFd<'_>) -> Result<Vec<MountInfo>> {
    let fd = rfs::openat(
        task,
        "mountinfo",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::internal("archive: mountinfo", e))?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::fs::File::from(fd), &mut text)
        .map_err(|e| Error::internal("archive: mountinfo", e))?;
    Ok(parse_mountinfo(&text))
}

fn open_ns(task: BorrowedFd<'_>) -> Result<OwnedFd> {
    rfs::openat(
        task,
        "ns/mnt",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::internal("archive: the view's mount namespace", e))
}

/// The view of a running container whose process is `pid`, or None when that process is no
/// longer the container's (it exited and the pid may name another process now).
pub(crate) fn open_running(
    pid: i32,
    rootfs: &Path,
    mounts: Vec<ViewMount>,
) -> Result<Option<FsView>> {
    let rootfs = rootfs.to_path_buf();
    on_own_thread(move || {
        let fail = |what: &str, e: std::io::Error| Error::internal(format!("archive: {what}"), e);
        let Some(pid) = rustix::process::Pid::from_raw(pid) else {
            return Ok(None);
        };
        let pidfd = match rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()) {
            Ok(fd) => fd,
            Err(Errno::SRCH) => return Ok(None),
            Err(e) => return Err(fail("pidfd_open", e.into())),
        };
        // The process behind the pidfd has the container's root: it is the container's, and
        // the pidfd keeps naming it whatever happens to the pid.
        let theirs = rfs::stat(format!("/proc/{}/root", pid.as_raw_nonzero()));
        let ours = rfs::stat(&rootfs).map_err(|e| fail("rootfs", e.into()))?;
        match theirs {
            Ok(st) if (st.st_dev, st.st_ino) == (ours.st_dev, ours.st_ino) => {}
            _ => return Ok(None),
        }
        let mut pfd = [rustix::event::PollFd::new(
            &pidfd,
            rustix::event::PollFlags::IN,
        )];
        let zero = rustix::time::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        if rustix::event::poll(&mut pfd, Some(&zero)).map_err(|e| fail("poll", e.into()))? > 0 {
            return Ok(None);
        }
        let task = own_task_dir()?;
        berth_sys::thread::unshare_fs(false).map_err(|e| fail("unshare", e))?;
        match berth_sys::thread::enter_mount_ns_of(pidfd.as_fd()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Ok(None),
            Err(e) => return Err(fail("entering the container's mount namespace", e)),
        }
        berth_sys::thread::unshare_fs(true).map_err(|e| fail("unshare", e))?;
        // Nothing done in the copy may reach the container (shared mounts would propagate).
        rustix::mount::mount_change(
            "/",
            MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
        )
        .map_err(|e| fail("making the view private", e.into()))?;
        let root = rfs::open(
            "/",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| fail("opening the container's root", e.into()))?;
        let root_id = mount_id(root.as_fd()).map_err(|e| fail("root mount", e.into()))?;
        let mut kept: HashMap<u64, bool> = HashMap::new();
        for m in &mounts {
            let Ok(fd) = open_in(root.as_fd(), &m.destination, OFlags::empty()) else {
                continue;
            };
            match mount_id(fd.as_fd()) {
                Ok(id) if id != root_id => {
                    // A generated /etc file belongs to the root for the read-only check.
                    kept.insert(id, if m.is_volume { m.rw } else { true });
                }
                _ => {}
            }
        }
        let all = read_mountinfo(task.as_fd())?;
        let kept_ids: HashSet<u64> = kept.keys().copied().collect();
        for m in mounts_to_detach(&all, root_id, &kept_ids) {
            if let Err(e) = rustix::mount::unmount(
                m.point.as_str(),
                UnmountFlags::DETACH | UnmountFlags::NOFOLLOW,
            ) {
                tracing::debug!(point = %m.point, error = %e, "archive: detaching a runtime mount");
            }
        }
        let mut owners = owners_of(&read_mountinfo(task.as_fd())?, &kept);
        // The generated files are in `kept` only to survive the pruning.
        for m in mounts.iter().filter(|m| !m.is_volume) {
            if let Ok(fd) = open_in(root.as_fd(), &m.destination, OFlags::empty()) {
                if let Ok(id) = mount_id(fd.as_fd()) {
                    owners.remove(&id);
                }
            }
        }
        let ns = open_ns(task.as_fd())?;
        Ok(Some(FsView {
            root,
            _ns: ns,
            owners,
        }))
    })
}

/// The view of a created or stopped container: `rootfs` (mounted from `snapshot` when it is
/// not mounted yet) with each mount bound from its host source.
pub(crate) fn open_stopped(
    rootfs: &Path,
    snapshot: Vec<berth_image::mount::Mount>,
    mounts: Vec<ViewMount>,
) -> Result<FsView> {
    let rootfs = rootfs.to_path_buf();
    on_own_thread(move || {
        let fail = |what: String, e: std::io::Error| Error::internal(format!("archive: {what}"), e);
        let task = own_task_dir()?;
        berth_sys::thread::unshare_fs(true).map_err(|e| fail("unshare".into(), e))?;
        rustix::mount::mount_change(
            "/",
            MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
        )
        .map_err(|e| fail("making the view private".into(), e.into()))?;
        if !crate::util::is_mountpoint(&rootfs) {
            std::fs::create_dir_all(&rootfs)
                .map_err(|e| fail(format!("creating {}", rootfs.display()), e))?;
            berth_image::mount::mount_all(&snapshot, &rootfs)?;
        }
        let root = rfs::open(
            &rootfs,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| fail(format!("opening {}", rootfs.display()), e.into()))?;
        let mut kept: HashMap<u64, bool> = HashMap::new();
        for m in &mounts {
            let Some(source) = &m.source else { continue };
            let is_dir = rfs::stat(source)
                .map(|st| rfs::FileType::from_raw_mode(st.st_mode) == rfs::FileType::Directory)
                .map_err(|e| fail(format!("mount source {}", source.display()), e.into()))?;
            let target = ensure_in_root(root.as_fd(), &m.destination, is_dir)
                .map_err(|e| fail(format!("mount point {}", m.destination), e.into()))?;
            let mut flags = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
            if !m.non_recursive {
                flags |= OpenTreeFlags::AT_RECURSIVE;
            }
            let tree = rustix::mount::open_tree(CWD, source.as_path(), flags)
                .map_err(|e| fail(format!("binding {}", source.display()), e.into()))?;
            // The kernel's flag backs up `check_writable`, which refuses a copy into any part
            // of a read-only mount on its own (old kernels lack mount_setattr).
            if !m.rw && !m.read_only_non_recursive {
                if let Err(e) = berth_sys::mount::set_readonly(tree.as_fd()) {
                    tracing::debug!(dest = %m.destination, error = %e, "archive: read-only view mount");
                }
            }
            let id = mount_id(tree.as_fd()).map_err(|e| fail("mount id".into(), e.into()))?;
            rustix::mount::move_mount(
                tree.as_fd(),
                "",
                target.as_fd(),
                "",
                MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
            )
            .map_err(|e| fail(format!("mounting {}", m.destination), e.into()))?;
            if m.is_volume {
                kept.insert(id, m.rw);
            }
        }
        let owners = owners_of(&read_mountinfo(task.as_fd())?, &kept);
        let ns = open_ns(task.as_fd())?;
        Ok(FsView {
            root,
            _ns: ns,
            owners,
        })
    })
}

/// `dest` under `root` (symlinks resolved inside it), created as an empty directory or file
/// when missing, as dockerd creates mount points.
fn ensure_in_root(root: BorrowedFd<'_>, dest: &str, is_dir: bool) -> rustix::io::Result<OwnedFd> {
    match open_in(root, dest, OFlags::empty()) {
        Err(Errno::NOENT) => {}
        r => return r,
    }
    let comps: Vec<&str> = dest
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    for i in 0..comps.len() {
        let here = comps[..=i].join("/");
        match open_in(root, &here, OFlags::empty()) {
            Ok(_) => continue,
            Err(Errno::NOENT) => {}
            Err(e) => return Err(e),
        }
        let parent = open_in(root, &comps[..i].join("/"), OFlags::DIRECTORY)?;
        let made = if i + 1 == comps.len() && !is_dir {
            rfs::openat(
                &parent,
                comps[i],
                OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o755),
            )
            .map(drop)
        } else {
            rfs::mkdirat(&parent, comps[i], Mode::from_raw_mode(0o755))
        };
        match made {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(e),
        }
    }
    open_in(root, dest, OFlags::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_mounts_go_user_mounts_stay() {
        let all = parse_mountinfo(
            "10 9 0:1 / / rw - overlay overlay rw\n\
             11 10 0:2 / /proc rw - proc proc rw\n\
             12 11 0:3 /null /proc/kcore rw - tmpfs tmpfs rw\n\
             13 10 0:4 / /dev rw - tmpfs tmpfs rw\n\
             14 13 0:5 / /dev/log rw - ext4 /dev/sda rw\n\
             15 13 0:6 / /dev/pts rw - devpts devpts rw\n\
             16 10 0:7 / /data rw - ext4 /dev/sda rw\n\
             17 16 0:8 / /data/sub rw - tmpfs tmpfs rw\n\
             18 10 0:9 / /my\\040dir rw - tmpfs tmpfs rw\n",
        );
        assert_eq!(all[8].point, "/my dir");
        let kept: HashSet<u64> = [14, 16].into_iter().collect();
        let mut gone: Vec<u64> = mounts_to_detach(&all, 10, &kept)
            .iter()
            .map(|m| m.id)
            .collect();
        gone.sort();
        // /dev stays for the user's /dev/log below it; its other children go.
        assert_eq!(gone, [11, 15, 18]);
        let owners = owners_of(&all, &[(14, true), (16, false)].into_iter().collect());
        assert_eq!(owners.get(&17), Some(&false));
        assert_eq!(owners.get(&16), Some(&false));
        assert_eq!(owners.get(&14), Some(&true));
        assert_eq!(owners.get(&10), None);
        assert_eq!(owners.get(&13), None);
    }

    #[test]
    fn mount_points_are_created_inside_the_root() {
        let d = tempfile::tempdir().expect("tempdir");
        std::os::unix::fs::symlink("/", d.path().join("up")).expect("symlink");
        let root =
            rfs::open(d.path(), OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).expect("root");
        ensure_in_root(root.as_fd(), "/a/b", true).expect("dir");
        assert!(d.path().join("a/b").is_dir());
        ensure_in_root(root.as_fd(), "/up/etc/hostname", false).expect("file");
        assert!(d.path().join("etc/hostname").is_file());
    }
}

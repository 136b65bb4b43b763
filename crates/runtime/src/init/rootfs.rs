//! The container's filesystem view: the config's mounts inside the rootfs, /dev, pivot_root,
//! then masked paths, read-only paths and the read-only root.

use super::mounts::{self, MountOptions};
use super::paths::{fd_path, mkdir_all, open_in_root, touch};
use crate::error::{Error, Result};
use oci_spec::runtime::{Mount, Spec};
use rustix::fs::{Mode, OFlags};
use rustix::mount::{
    mount_bind, mount_bind_recursive, mount_change, mount_remount, unmount, MountFlags,
    MountPropagationFlags, UnmountFlags,
};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

/// What rootfs setup needs to know besides the config.
#[derive(Debug)]
pub struct Ctx<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub userns: bool,
    pub cgroupns: bool,
    /// False when the container shares the runtime's mount namespace: the host's propagation
    /// is then left alone.
    pub own_mountns: bool,
}

fn err(what: String, e: impl std::fmt::Display) -> Error {
    Error::Init(format!("{what}: {e}"))
}

/// Root propagations applied to the container's "/" after pivot_root rather than to the
/// host's "/" before the rootfs is bound.
fn deferred_propagation(p: MountPropagationFlags) -> bool {
    p.intersects(MountPropagationFlags::SHARED | MountPropagationFlags::UNBINDABLE)
}

/// Everything before pivot_root: root propagation, rootfs bind, the config's mounts, /dev.
/// `before_cgroup` runs once before the first cgroup mount (the init waits there until the
/// runtime has placed it in its cgroups).
pub fn prepare(ctx: &Ctx<'_>, before_cgroup: &mut dyn FnMut() -> Result<()>) -> Result<()> {
    let linux = ctx.spec.linux().as_ref();
    let prop = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .and_then(mounts::propagation_flag)
        .unwrap_or(MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC);
    // Make "/" private/slave (never shared) first so nothing we mount leaks to the host. A
    // shared or unbindable rootfsPropagation is applied after pivot_root, where it only affects
    // the container: made now, "shared" would leak, and "unbindable" would forbid the bind of
    // the rootfs just below (EINVAL).
    if ctx.own_mountns {
        let initial = if deferred_propagation(prop) {
            MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC
        } else {
            prop
        };
        mount_change("/", initial).map_err(|e| err("making / private".into(), e))?;
    }
    mount_bind_recursive(ctx.rootfs, ctx.rootfs)
        .map_err(|e| err(format!("bind-mounting rootfs {}", ctx.rootfs.display()), e))?;
    let root = rustix::fs::open(
        ctx.rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| err(format!("opening rootfs {}", ctx.rootfs.display()), e))?;
    let mut dev_bound = false;
    for (i, m) in ctx.spec.mounts().iter().flatten().enumerate() {
        let o = mounts::parse(m.options().as_deref().unwrap_or_default());
        if m.destination() == Path::new("/dev") && o.bind {
            dev_bound = true;
        }
        if matches!(m.typ().as_deref(), Some("cgroup" | "cgroup2")) {
            before_cgroup()?;
        }
        mount_entry(ctx, root.as_fd(), m, &o).map_err(|e| {
            Error::Init(format!(
                "mounts[{i}] ({} on {}, type {}): {e}",
                m.source().as_deref().unwrap_or(Path::new("none")).display(),
                m.destination().display(),
                m.typ().as_deref().unwrap_or("bind")
            ))
        })?;
    }
    if let Some(p) = ctx.spec.process() {
        mkdir_all(root.as_fd(), p.cwd())
            .map_err(|e| err(format!("process.cwd: creating {}", p.cwd().display()), e))?;
    }
    crate::trace::mark("init: config mounts done");
    if !dev_bound {
        super::devices::setup(root.as_fd(), ctx.spec, ctx.userns)?;
    }
    Ok(())
}

fn mount_entry(
    ctx: &Ctx<'_>,
    root: BorrowedFd<'_>,
    m: &Mount,
    o: &MountOptions,
) -> std::result::Result<(), String> {
    let typ = m.typ().as_deref().unwrap_or("");
    let dest = m.destination();
    if typ == "cgroup" || typ == "cgroup2" {
        super::cgroupfs::mount_cgroup(root, dest, o, ctx.cgroupns)?;
        if o.rec_attr.is_empty() {
            return Ok(());
        }
        let mounted =
            open_in_root(root, dest, OFlags::PATH).map_err(|e| format!("reopening: {e}"))?;
        return apply_rec_attr(&mounted, o);
    }
    if o.bind || typ == "bind" {
        let src = m.source().as_deref().ok_or("bind mount without source")?;
        let meta = std::fs::metadata(src).map_err(|e| format!("source {}: {e}", src.display()))?;
        let target = if meta.is_dir() {
            mkdir_all(root, dest)
        } else {
            touch(root, dest)
        }
        .map_err(|e| format!("creating mount point: {e}"))?;
        let tpath = fd_path(&target);
        if o.recursive {
            mount_bind_recursive(src, &tpath)
        } else {
            mount_bind(src, &tpath)
        }
        .map_err(|e| format!("bind mount: {e}"))?;
        drop(target);
        let mounted =
            open_in_root(root, dest, OFlags::PATH).map_err(|e| format!("reopening: {e}"))?;
        let extra = o.flags & !(MountFlags::BIND | MountFlags::REC);
        if !extra.is_empty() {
            remount_bind(&fd_path(&mounted), extra, o.recursive)
                .map_err(|e| format!("remount with options: {e}"))?;
        }
        apply_propagation(&mounted, o)?;
        return apply_rec_attr(&mounted, o);
    }
    let target = mkdir_all(root, dest).map_err(|e| format!("creating mount point: {e}"))?;
    let source = m
        .source()
        .as_deref()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(typ));
    let res = if o.tmpcopyup && typ == "tmpfs" {
        tmpfs_copyup(&fd_path(&target), o)
    } else {
        super::mounts::mount_fs(&source, &fd_path(&target), typ, o.flags, o.data.as_str())
    };
    match res {
        Ok(()) => {}
        // sysfs cannot be mounted in a user namespace that does not own the network namespace:
        // bind the host's /sys instead (read-only when asked), as runc does.
        Err(rustix::io::Errno::PERM) if typ == "sysfs" => {
            mount_bind_recursive("/sys", fd_path(&target))
                .map_err(|e| format!("binding /sys: {e}"))?;
            let mounted =
                open_in_root(root, dest, OFlags::PATH).map_err(|e| format!("reopening: {e}"))?;
            remount_bind(&fd_path(&mounted), o.flags, true)
                .map_err(|e| format!("remount /sys: {e}"))?;
        }
        Err(e) => return Err(format!("mount: {e}")),
    }
    drop(target);
    if !o.propagation.is_empty() || !o.rec_attr.is_empty() {
        let mounted =
            open_in_root(root, dest, OFlags::PATH).map_err(|e| format!("reopening: {e}"))?;
        apply_propagation(&mounted, o)?;
        apply_rec_attr(&mounted, o)?;
    }
    Ok(())
}

/// The recursive options (`rro`, `rnosuid`, ...) on the mount and every mount below it. A
/// kernel without mount_setattr (before 5.12: ENOSYS) or without one of the flags (EINVAL) fails
/// the mount: carrying on would leave the submounts writable (or suid, exec...) while the
/// config asked for them not to be.
fn apply_rec_attr(mounted: &OwnedFd, o: &MountOptions) -> std::result::Result<(), String> {
    let r = &o.rec_attr;
    if r.is_empty() {
        return Ok(());
    }
    berth_sys::mount::set_attr_recursive(&fd_path(mounted), r.set, r.clr)
        .map_err(|e| rec_attr_error(&r.names, &e))
}

/// The error of a failed mount_setattr, saying why the container does not run without it.
fn rec_attr_error(names: &[String], e: &std::io::Error) -> String {
    let why = match e.raw_os_error() {
        Some(libc::ENOSYS) => {
            " (this kernel has no mount_setattr, Linux 5.12+ has it; refusing to leave submounts \
             without them)"
        }
        Some(libc::EINVAL) => {
            " (this kernel cannot set one of them recursively; refusing to leave submounts \
             without them)"
        }
        _ => "",
    };
    format!(
        "option {}: applying recursively with mount_setattr: {e}{why}",
        names.join(",")
    )
}

/// runc's `tmpcopyup` (podman's `--tmpfs`): a tmpfs that starts with what the image has at the
/// mount point. The tmpfs is mounted aside, filled from the still uncovered directory, then
/// moved over it.
fn tmpfs_copyup(target: &Path, o: &MountOptions) -> rustix::io::Result<()> {
    let aside = PathBuf::from(format!("/tmp/.berth-tmpcopyup-{}", std::process::id()));
    std::fs::create_dir(&aside).map_err(io_errno)?;
    let res = (|| {
        super::mounts::mount_fs(
            Path::new("tmpfs"),
            &aside,
            "tmpfs",
            o.flags,
            o.data.as_str(),
        )?;
        let copied = copy_tree(target, &aside).map_err(io_errno);
        if copied.is_err() {
            let _ = unmount(&aside, UnmountFlags::DETACH);
            return copied;
        }
        rustix::mount::mount_move(&aside, target)
    })();
    let _ = std::fs::remove_dir(&aside);
    res
}

fn io_errno(e: std::io::Error) -> rustix::io::Errno {
    rustix::io::Errno::from_io_error(&e).unwrap_or(rustix::io::Errno::IO)
}

/// Copies a directory tree with modes, ownership and symlinks (not followed).
fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{lchown, MetadataExt, PermissionsExt};
    // `src` is a directory, at the top reached through /proc/self/fd/N: follow that link.
    let meta = std::fs::metadata(src)?;
    std::fs::set_permissions(dst, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    lchown(dst, Some(meta.uid()), Some(meta.gid()))?;
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let (from, to) = (entry.path(), dst.join(entry.file_name()));
        let m = entry.metadata()?;
        let ft = m.file_type();
        if ft.is_dir() {
            std::fs::create_dir(&to)?;
            copy_tree(&from, &to)?;
            continue;
        }
        if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&from)?, &to)?;
        } else if ft.is_file() {
            std::fs::copy(&from, &to)?;
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(m.mode() & 0o7777))?;
        } else {
            continue; // devices, fifos and sockets are not copied up (as runc)
        }
        lchown(&to, Some(m.uid()), Some(m.gid()))?;
    }
    Ok(())
}

fn apply_propagation(target: &OwnedFd, o: &MountOptions) -> std::result::Result<(), String> {
    for p in &o.propagation {
        mount_change(fd_path(target), *p).map_err(|e| format!("setting propagation: {e}"))?;
    }
    Ok(())
}

/// Flags the kernel locks on a mount (and that a bind remount must repeat, or get EPERM).
fn locked_flags(path: &Path) -> MountFlags {
    let Ok(st) = rustix::fs::statvfs(path) else {
        return MountFlags::empty();
    };
    use rustix::fs::StatVfsMountFlags as S;
    let f = st.f_flag;
    let mut out = MountFlags::empty();
    for (s, m) in [
        (S::NOSUID, MountFlags::NOSUID),
        (S::NODEV, MountFlags::NODEV),
        (S::NOEXEC, MountFlags::NOEXEC),
        (S::RDONLY, MountFlags::RDONLY),
        (S::NOATIME, MountFlags::NOATIME),
        (S::NODIRATIME, MountFlags::NODIRATIME),
        (S::RELATIME, MountFlags::RELATIME),
    ] {
        if f.contains(s) {
            out |= m;
        }
    }
    out
}

/// Bind-remounts `path` with `flags`; on EPERM (a user namespace locks the source's flags)
/// retries with the flags the mount already has.
pub fn remount_bind(path: &Path, flags: MountFlags, recursive: bool) -> rustix::io::Result<()> {
    let rec = if recursive {
        MountFlags::REC
    } else {
        MountFlags::empty()
    };
    match mount_remount(path, MountFlags::BIND | rec | flags, "") {
        Err(rustix::io::Errno::PERM) => {
            let keep = locked_flags(path) & !MountFlags::RDONLY;
            mount_remount(path, MountFlags::BIND | rec | flags | keep, "")
        }
        r => r,
    }
}

/// pivot_root into the rootfs (runc's `pivot_root(".", ".")` then detach the old root), or with
/// `no_pivot` move the rootfs over / and chroot (for ramdisk roots where pivot_root fails).
pub fn pivot(rootfs: &Path, no_pivot: bool) -> Result<()> {
    if no_pivot {
        rustix::process::chdir(rootfs).map_err(|e| err("chdir rootfs".into(), e))?;
        rustix::mount::mount_move(rootfs, "/").map_err(|e| err("moving rootfs to /".into(), e))?;
        rustix::process::chroot(".").map_err(|e| err("chroot".into(), e))?;
        return rustix::process::chdir("/").map_err(|e| err("chdir /".into(), e));
    }
    let flags = OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC;
    let old = rustix::fs::open("/", flags, Mode::empty())
        .map_err(|e| err("opening old root".into(), e))?;
    let new = rustix::fs::open(rootfs, flags, Mode::empty())
        .map_err(|e| err("opening rootfs".into(), e))?;
    rustix::process::fchdir(&new).map_err(|e| err("fchdir rootfs".into(), e))?;
    rustix::process::pivot_root(".", ".").map_err(|e| err("pivot_root".into(), e))?;
    rustix::process::fchdir(&old).map_err(|e| err("fchdir old root".into(), e))?;
    // The old root must not propagate our unmount to the host.
    mount_change(
        ".",
        MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC,
    )
    .map_err(|e| err("making old root slave".into(), e))?;
    unmount(".", UnmountFlags::DETACH).map_err(|e| err("detaching old root".into(), e))?;
    rustix::process::chdir("/").map_err(|e| err("chdir /".into(), e))
}

/// After pivot_root: rootfs propagation, masked paths, read-only paths, read-only root.
pub fn finalize(spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    if let Some(p) = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .and_then(mounts::propagation_flag)
    {
        if deferred_propagation(p) {
            mount_change("/", p).map_err(|e| err("linux.rootfsPropagation".into(), e))?;
        }
    }
    for p in linux
        .and_then(|l| l.readonly_paths().as_ref())
        .into_iter()
        .flatten()
    {
        readonly_path(Path::new(p)).map_err(|e| err(format!("linux.readonlyPaths: {p}"), e))?;
    }
    for p in linux
        .and_then(|l| l.masked_paths().as_ref())
        .into_iter()
        .flatten()
    {
        mask_path(Path::new(p)).map_err(|e| err(format!("linux.maskedPaths: {p}"), e))?;
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        let keep = locked_flags(Path::new("/"));
        mount_remount("/", MountFlags::BIND | MountFlags::RDONLY | keep, "")
            .map_err(|e| err("root.readonly: remounting / read-only".into(), e))?;
    }
    Ok(())
}

fn readonly_path(p: &Path) -> rustix::io::Result<()> {
    match mount_bind_recursive(p, p) {
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        r => r?,
    }
    let keep = locked_flags(p);
    mount_remount(
        p,
        MountFlags::BIND | MountFlags::REC | MountFlags::RDONLY | keep,
        "",
    )
}

fn mask_path(p: &Path) -> rustix::io::Result<()> {
    let meta = match std::fs::symlink_metadata(p) {
        Ok(m) => m,
        Err(_) => return Ok(()),
    };
    if meta.is_dir() {
        super::mounts::mount_fs(Path::new("tmpfs"), p, "tmpfs", MountFlags::RDONLY, "")
    } else {
        match mount_bind("/dev/null", p) {
            Err(rustix::io::Errno::NOENT) => Ok(()),
            r => r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kernel_without_mount_setattr_is_named_in_the_error() {
        let names = vec!["rro".to_string(), "rnosuid".to_string()];
        let e = rec_attr_error(&names, &std::io::Error::from_raw_os_error(libc::ENOSYS));
        assert!(e.starts_with("option rro,rnosuid: "), "{e}");
        assert!(e.contains("Linux 5.12+") && e.contains("refusing"), "{e}");
        let e = rec_attr_error(&names, &std::io::Error::from_raw_os_error(libc::EINVAL));
        assert!(e.contains("cannot set one of them recursively"), "{e}");
    }
}

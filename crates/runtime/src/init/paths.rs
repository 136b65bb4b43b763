//! Resolving and creating paths inside the container's root without ever leaving it.
//!
//! Every lookup goes through openat2(RESOLVE_IN_ROOT): `..` and absolute symlinks are clamped to
//! the root, so a hostile image (a symlink `/proc -> /host/etc`) cannot make us mount or write
//! outside the rootfs. Mounts then target `/proc/self/fd/N` of the resolved O_PATH fd, so a path
//! cannot be swapped between the check and the mount.

use rustix::fs::{mkdirat, openat, openat2, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

fn resolve_flags() -> ResolveFlags {
    ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS
}

/// Opens `rel` (absolute or relative, interpreted inside `root`) with `flags`.
pub fn open_in_root(
    root: BorrowedFd<'_>,
    rel: &Path,
    flags: OFlags,
) -> rustix::io::Result<OwnedFd> {
    let rel = strip_root(rel);
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel.as_path()
    };
    loop {
        match openat2(
            root,
            rel,
            flags | OFlags::CLOEXEC,
            Mode::empty(),
            resolve_flags(),
        ) {
            Err(Errno::AGAIN) | Err(Errno::INTR) => continue,
            r => return r,
        }
    }
}

fn strip_root(p: &Path) -> PathBuf {
    p.components()
        .filter(|c| !matches!(c, Component::RootDir | Component::CurDir))
        .collect()
}

/// Creates every missing directory of `rel` inside `root` (mode 0755) and returns an O_PATH fd
/// of the final directory.
pub fn mkdir_all(root: BorrowedFd<'_>, rel: &Path) -> rustix::io::Result<OwnedFd> {
    mkdir_all_depth(root, rel, 0)
}

/// Symlinks followed while creating one path, as the kernel's own limit (ELOOP past it).
const MAX_LINKS: u32 = 40;

fn mkdir_all_depth(root: BorrowedFd<'_>, rel: &Path, links: u32) -> rustix::io::Result<OwnedFd> {
    let rel = strip_root(rel);
    let mut prefix = PathBuf::new();
    let mut cur = open_in_root(root, Path::new("."), OFlags::PATH | OFlags::DIRECTORY)?;
    for comp in rel.components() {
        let parent = prefix.clone();
        prefix.push(comp);
        cur = match open_in_root(root, &prefix, OFlags::PATH | OFlags::DIRECTORY) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => {
                match mkdirat(&cur, comp.as_os_str(), Mode::from_raw_mode(0o755)) {
                    Ok(()) => {}
                    // A dangling symlink: create its target, re-rooted like every lookup here
                    // (an absolute target lands inside the root, `..` stops at the root).
                    Err(Errno::EXIST) => {
                        if links >= MAX_LINKS {
                            return Err(Errno::LOOP);
                        }
                        let target = rustix::fs::readlinkat(&cur, comp.as_os_str(), Vec::new())?;
                        let target = PathBuf::from(std::ffi::OsStr::from_bytes(target.as_bytes()));
                        let full = if target.is_absolute() {
                            target
                        } else {
                            parent.join(target)
                        };
                        mkdir_all_depth(root, &full, links + 1)?;
                    }
                    Err(e) => return Err(e),
                }
                open_in_root(root, &prefix, OFlags::PATH | OFlags::DIRECTORY)?
            }
            Err(e) => return Err(e),
        };
    }
    Ok(cur)
}

/// Makes sure a regular file exists at `rel` (creating parents) and returns an O_PATH fd of it.
pub fn touch(root: BorrowedFd<'_>, rel: &Path) -> rustix::io::Result<OwnedFd> {
    match open_in_root(root, rel, OFlags::PATH) {
        Ok(fd) => return Ok(fd),
        Err(Errno::NOENT) => {}
        Err(e) => return Err(e),
    }
    let rel = strip_root(rel);
    let parent = mkdir_all(root, rel.parent().unwrap_or(Path::new("")))?;
    let name = rel.file_name().ok_or(Errno::INVAL)?;
    match openat(
        &parent,
        name,
        OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    ) {
        Ok(_) | Err(Errno::EXIST) => {}
        Err(e) => return Err(e),
    }
    open_in_root(root, &rel, OFlags::PATH)
}

/// `/proc/self/fd/N` for an fd: the path to hand to mount(2).
pub fn fd_path(fd: &impl AsFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_cannot_escape_the_root() {
        let root = tempfile::tempdir().expect("tempdir");
        let outside = tempfile::tempdir().expect("tempdir");
        std::os::unix::fs::symlink(outside.path(), root.path().join("evil")).expect("symlink");
        std::os::unix::fs::symlink("../../../../..", root.path().join("up")).expect("symlink");
        let rfd = rustix::fs::open(root.path(), OFlags::PATH | OFlags::DIRECTORY, Mode::empty())
            .expect("open");
        mkdir_all(rfd.as_fd(), Path::new("/evil/sub")).expect("mkdir");
        touch(rfd.as_fd(), Path::new("/up/file")).expect("touch");
        assert!(
            !outside.path().join("sub").exists(),
            "escaped through an absolute symlink"
        );
        // The absolute symlink target was re-rooted: the directory landed inside the root.
        assert!(root
            .path()
            .join(outside.path().strip_prefix("/").expect("abs"))
            .join("sub")
            .is_dir());
        assert!(
            root.path().join("file").is_file(),
            "`..` symlink must clamp to the root"
        );
    }
}

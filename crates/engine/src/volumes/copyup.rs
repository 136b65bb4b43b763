//! Docker's copy-up: a new, empty volume mounted where the image has content gets that
//! content, with owners, modes and times. The image path is opened with openat2
//! (RESOLVE_IN_ROOT), so a symlink in the image resolves inside the rootfs; below it every
//! entry is opened relative to its directory with O_NOFOLLOW and symlinks are copied as
//! symlinks, never followed.

use rustix::fs::{
    chownat, fchmod, fchown, futimens, mkdirat, mknodat, openat, openat2, readlinkat, statat,
    symlinkat, utimensat, AtFlags, Dir, FileType, Gid, Mode, OFlags, ResolveFlags, Stat,
    Timestamps, Uid,
};
use rustix::io::Errno;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// Copies what `rootfs` has at `dest` (a path in the container) into `volume`, an empty
/// directory. Nothing at `dest`, or a non-directory there, copies nothing.
pub(super) fn copy_image_path(rootfs: &Path, dest: &str, volume: &Path) -> std::io::Result<()> {
    let root = rustix::fs::open(
        rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let rel = dest.trim_start_matches('/');
    let src = match openat2(
        &root,
        if rel.is_empty() { "." } else { rel },
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_XDEV,
    ) {
        Ok(fd) => fd,
        Err(Errno::NOENT) | Err(Errno::NOTDIR) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let dst = rustix::fs::open(
        volume,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    copy_dir(src.as_fd(), dst.as_fd(), 0)?;
    // The volume's root takes the owner and mode of the image's directory (moby's
    // copyOwnership).
    let st = rustix::fs::fstat(&src)?;
    set_owner_mode_times(dst.as_fd(), &st)?;
    Ok(())
}

fn uid_gid(st: &Stat) -> (Option<Uid>, Option<Gid>) {
    (
        Some(Uid::from_raw_unchecked(st.st_uid)),
        Some(Gid::from_raw_unchecked(st.st_gid)),
    )
}

fn times(st: &Stat) -> Timestamps {
    Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: st.st_atime as _,
            tv_nsec: st.st_atime_nsec as _,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: st.st_mtime as _,
            tv_nsec: st.st_mtime_nsec as _,
        },
    }
}

fn set_owner_mode_times(fd: BorrowedFd<'_>, st: &Stat) -> std::io::Result<()> {
    let (u, g) = uid_gid(st);
    fchown(fd, u, g)?;
    fchmod(fd, Mode::from_raw_mode(st.st_mode & 0o7777))?;
    futimens(fd, &times(st))?;
    Ok(())
}

fn copy_dir(src: BorrowedFd<'_>, dst: BorrowedFd<'_>, depth: u32) -> std::io::Result<()> {
    if depth > 256 {
        return Err(std::io::Error::other("directory tree too deep to copy"));
    }
    let reader = openat(
        src,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    for entry in Dir::read_from(&reader)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_bytes() == b"." || name.to_bytes() == b".." {
            continue;
        }
        let st = statat(src, name, AtFlags::SYMLINK_NOFOLLOW)?;
        let perm = Mode::from_raw_mode(st.st_mode & 0o7777);
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                mkdirat(dst, name, Mode::from_raw_mode(0o700))?;
                let from: OwnedFd = openat(
                    src,
                    name,
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                let to: OwnedFd = openat(
                    dst,
                    name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                copy_dir(from.as_fd(), to.as_fd(), depth + 1)?;
                set_owner_mode_times(to.as_fd(), &st)?;
            }
            FileType::RegularFile => {
                let from = openat(
                    src,
                    name,
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                let to = openat(
                    dst,
                    name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )?;
                let (mut r, mut w) = (std::fs::File::from(from), std::fs::File::from(to));
                std::io::copy(&mut r, &mut w)?;
                set_owner_mode_times(w.as_fd(), &st)?;
            }
            FileType::Symlink => {
                let target = readlinkat(src, name, Vec::new())?;
                symlinkat(target.as_c_str(), dst, name)?;
                let (u, g) = uid_gid(&st);
                chownat(dst, name, u, g, AtFlags::SYMLINK_NOFOLLOW)?;
                utimensat(dst, name, &times(&st), AtFlags::SYMLINK_NOFOLLOW)?;
            }
            ft @ (FileType::Fifo
            | FileType::CharacterDevice
            | FileType::BlockDevice
            | FileType::Socket) => {
                mknodat(dst, name, ft, perm, st.st_rdev)?;
                let (u, g) = uid_gid(&st);
                chownat(dst, name, u, g, AtFlags::SYMLINK_NOFOLLOW)?;
                utimensat(dst, name, &times(&st), AtFlags::SYMLINK_NOFOLLOW)?;
            }
            FileType::Unknown => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn copies_tree_and_never_leaves_the_root() {
        let root = tempfile::tempdir().expect("rootfs");
        let outside = tempfile::tempdir().expect("outside");
        std::fs::write(outside.path().join("secret"), "host").expect("write");
        let r = root.path();
        std::fs::create_dir_all(r.join("data/sub")).expect("mkdir");
        std::fs::write(r.join("data/a"), "A").expect("write");
        std::fs::set_permissions(r.join("data/a"), std::fs::Permissions::from_mode(0o640))
            .expect("chmod");
        std::fs::write(r.join("data/sub/b"), "B").expect("write");
        std::os::unix::fs::symlink("/etc/passwd", r.join("data/link")).expect("symlink");
        // A symlink pointing out of the rootfs: resolved inside it, so it finds nothing.
        std::os::unix::fs::symlink(outside.path(), r.join("escape")).expect("symlink");

        let vol = tempfile::tempdir().expect("volume");
        copy_image_path(r, "/data", vol.path()).expect("copy");
        assert_eq!(
            std::fs::read_to_string(vol.path().join("a")).expect("a"),
            "A"
        );
        assert_eq!(
            std::fs::metadata(vol.path().join("a"))
                .expect("meta")
                .mode()
                & 0o777,
            0o640
        );
        assert_eq!(
            std::fs::read_to_string(vol.path().join("sub/b")).expect("b"),
            "B"
        );
        assert_eq!(
            std::fs::read_link(vol.path().join("link")).expect("link"),
            Path::new("/etc/passwd")
        );

        let vol2 = tempfile::tempdir().expect("volume");
        copy_image_path(r, "/escape", vol2.path()).expect("copy through symlink");
        assert!(
            std::fs::read_dir(vol2.path()).expect("ls").next().is_none(),
            "a symlink out of the rootfs must not be followed to the host"
        );
        copy_image_path(r, "/missing", vol2.path()).expect("missing path copies nothing");
    }
}

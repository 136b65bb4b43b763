//! /dev inside the container: the default device nodes, the config's devices, and the
//! standard symlinks. In a user namespace mknod is not allowed, so nodes are bind-mounted from
//! the host instead (runc's behaviour).

use super::paths::{fd_path, mkdir_all, touch};
use crate::error::{Error, Result};
use oci_spec::runtime::{LinuxDeviceType, Spec};
use rustix::fs::{chownat, mknodat, symlinkat, unlinkat, AtFlags, FileType, Mode};
use rustix::process::{Gid, Uid};
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};

/// A device node to create.
#[derive(Debug, Clone)]
pub struct Node {
    pub path: PathBuf,
    pub kind: FileType,
    pub major: u32,
    pub minor: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The devices every container gets (OCI runtime spec "Default Devices").
pub fn defaults() -> Vec<Node> {
    [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ]
    .into_iter()
    .map(|(n, major, minor)| Node {
        path: PathBuf::from("/dev").join(n),
        kind: FileType::CharacterDevice,
        major,
        minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
    })
    .collect()
}

fn from_spec(spec: &Spec) -> Vec<Node> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.devices().as_ref())
        .into_iter()
        .flatten()
        .map(|d| Node {
            path: d.path().clone(),
            kind: match d.typ() {
                LinuxDeviceType::B => FileType::BlockDevice,
                LinuxDeviceType::P => FileType::Fifo,
                _ => FileType::CharacterDevice,
            },
            major: d.major() as u32,
            minor: d.minor() as u32,
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        })
        .collect()
}

/// Creates the nodes and symlinks in `<root>/dev`.
pub fn setup(root: BorrowedFd<'_>, spec: &Spec, userns: bool) -> Result<()> {
    let mut nodes = defaults();
    for d in from_spec(spec) {
        nodes.retain(|n| n.path != d.path);
        nodes.push(d);
    }
    for n in &nodes {
        create(root, n, userns)
            .map_err(|e| Error::Init(format!("creating device {}: {e}", n.path.display())))?;
    }
    let dev = mkdir_all(root, Path::new("/dev"))
        .map_err(|e| Error::Init(format!("opening /dev: {e}")))?;
    // The default symlinks of runc and crun. /dev/core is made whether or not this kernel has
    // /proc/kcore (as crun; runc skips it on kernels built without CONFIG_PROC_KCORE): a
    // dangling link is harmless, and /proc/kcore is a masked path anyway.
    let links = [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("core", "/proc/kcore"),
        ("ptmx", "pts/ptmx"),
    ];
    for (name, target) in links {
        if name == "ptmx" {
            let _ = unlinkat(&dev, name, AtFlags::empty());
        }
        match symlinkat(target, &dev, name) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(Error::Init(format!("creating /dev/{name} symlink: {e}"))),
        }
    }
    Ok(())
}

fn create(root: BorrowedFd<'_>, n: &Node, userns: bool) -> rustix::io::Result<()> {
    if userns {
        let target = touch(root, &n.path)?;
        return rustix::mount::mount_bind(&n.path, fd_path(&target));
    }
    let parent = mkdir_all(root, n.path.parent().unwrap_or(Path::new("/dev")))?;
    let name = n.path.file_name().ok_or(rustix::io::Errno::INVAL)?;
    match unlinkat(&parent, name, AtFlags::empty()) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => {}
        Err(e) => return Err(e),
    }
    let dev = rustix::fs::makedev(n.major, n.minor);
    mknodat(&parent, name, n.kind, Mode::from_raw_mode(n.mode), dev)?;
    // mknod honours the umask; set the exact mode the config asks for.
    rustix::fs::chmodat(&parent, name, Mode::from_raw_mode(n.mode), AtFlags::empty())?;
    chownat(
        &parent,
        name,
        Some(Uid::from_raw(n.uid)),
        Some(Gid::from_raw(n.gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )
}

//! Mount descriptions returned by the snapshotter, and mounting them.
//!
//! Overlay mounts go through the new mount API (`fsopen`/`fsconfig`/`fsmount`/`move_mount`),
//! passing each lower directory with its own `lowerdir+` key (Linux 6.8+), so an image may have
//! more layers than fit in the one-page option string of `mount(2)`. On older kernels we fall
//! back to `mount(2)` when the options fit, and say clearly when they do not.

use crate::error::{Error, Result};
use rustix::fs::CWD;
use rustix::mount::{
    fsconfig_create, fsconfig_set_string, fsmount, fsopen, mount, mount_bind, mount_remount,
    move_mount, unmount, FsMountFlags, FsOpenFlags, MountAttrFlags, MountFlags, MoveMountFlags,
    UnmountFlags,
};
use std::path::Path;

/// One mount, in the shape containerd uses (`type`, `source`, `options`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Mount {
    /// `overlay` or `bind`.
    #[serde(rename = "type")]
    pub kind: String,
    pub source: String,
    /// For overlay: `lowerdir=a:b` (newest first), `upperdir=`, `workdir=`; for bind: `rbind`,
    /// `rw`/`ro`.
    pub options: Vec<String>,
}

impl Mount {
    /// The lower directories of an overlay mount, newest first.
    pub fn lowerdirs(&self) -> Vec<&str> {
        self.option("lowerdir")
            .map(|v| v.split(':').collect())
            .unwrap_or_default()
    }
    /// The value of a `key=value` option.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find_map(|o| o.strip_prefix(key)?.strip_prefix('='))
    }
    fn readonly(&self) -> bool {
        self.options.iter().any(|o| o == "ro")
    }
}

/// Mounts `mounts` (in order) on `target`.
pub fn mount_all(mounts: &[Mount], target: &Path) -> Result<()> {
    for m in mounts {
        mount_one(m, target)?;
    }
    Ok(())
}

/// Unmounts `target` (lazily when busy is not wanted: plain unmount).
pub fn unmount_path(target: &Path) -> Result<()> {
    unmount(target, UnmountFlags::empty()).map_err(|e| Error::Snapshot {
        key: target.display().to_string(),
        reason: format!("unmount: {e}"),
    })
}

fn mount_one(m: &Mount, target: &Path) -> Result<()> {
    let fail = |what: &str, e: rustix::io::Errno| Error::Snapshot {
        key: target.display().to_string(),
        reason: format!("{} mount: {what}: {e}", m.kind),
    };
    match m.kind.as_str() {
        "bind" => {
            mount_bind(m.source.as_str(), target).map_err(|e| fail("bind", e))?;
            if m.readonly() {
                mount_remount(target, MountFlags::BIND | MountFlags::RDONLY, "")
                    .map_err(|e| fail("remount read-only", e))?;
            }
            Ok(())
        }
        "overlay" => match overlay_fsconfig(m, target) {
            Ok(()) => Ok(()),
            // No lowerdir+ (Linux < 6.8) or no new mount API: the classic option string.
            Err(e @ (rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS)) => {
                let data = m.options.join(",");
                if data.len() >= 4096 {
                    return Err(Error::Snapshot {
                        key: target.display().to_string(),
                        reason: format!(
                            "overlay with {} layers needs {} bytes of mount options (over one page) and this kernel lacks lowerdir+ ({e})",
                            m.lowerdirs().len(),
                            data.len()
                        ),
                    });
                }
                let flags = if m.readonly() {
                    MountFlags::RDONLY
                } else {
                    MountFlags::empty()
                };
                let data = std::ffi::CString::new(data).map_err(|_| Error::Snapshot {
                    key: target.display().to_string(),
                    reason: "overlay options contain a NUL byte".into(),
                })?;
                mount("overlay", target, "overlay", flags, data.as_c_str())
                    .map_err(|e| fail("mount", e))
            }
            Err(e) => Err(fail("fsconfig", e)),
        },
        other => Err(Error::Snapshot {
            key: target.display().to_string(),
            reason: format!("unknown mount type {other:?}"),
        }),
    }
}

fn overlay_fsconfig(m: &Mount, target: &Path) -> rustix::io::Result<()> {
    let fs = fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)?;
    for dir in m.lowerdirs() {
        fsconfig_set_string(&fs, "lowerdir+", dir)?;
    }
    for key in ["upperdir", "workdir"] {
        if let Some(v) = m.option(key) {
            fsconfig_set_string(&fs, key, v)?;
        }
    }
    fsconfig_create(&fs)?;
    let attrs = if m.readonly() {
        MountAttrFlags::MOUNT_ATTR_RDONLY
    } else {
        MountAttrFlags::empty()
    };
    let mnt = fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs)?;
    move_mount(
        &mnt,
        "",
        CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
}

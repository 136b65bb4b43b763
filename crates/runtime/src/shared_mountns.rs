//! Containers without a mount namespace of their own share the runtime's (OCI: a namespace not
//! listed in the config is inherited). Their mounts (/proc, /dev, the config's) are then made in
//! that namespace, under a recursive bind of the rootfs onto itself; `delete` (or a failed
//! `create`) detaches that bind and all it holds, and nothing that was there before.

use std::path::Path;

/// The id of the mount `path` is on (the top one when several are stacked there).
pub(crate) fn mount_id(path: &Path) -> Option<u64> {
    rustix::fs::statx(
        rustix::fs::CWD,
        path,
        rustix::fs::AtFlags::empty(),
        rustix::fs::StatxFlags::MNT_ID,
    )
    .ok()
    .map(|s| s.stx_mnt_id)
}

/// Detaches every mount stacked on `rootfs` since its mount id was `base`.
pub(crate) fn detach_above(rootfs: &Path, base: u64) {
    // Bounded: a rootfs cannot hold more than a few binds of ours (one per create).
    for _ in 0..16 {
        match mount_id(rootfs) {
            Some(id) if id != base => {
                if rustix::mount::unmount(rootfs, rustix::mount::UnmountFlags::DETACH).is_err() {
                    return;
                }
            }
            _ => return,
        }
    }
}

//! Mount options as config.json spells them, turned into mount(2) flags, propagation changes
//! and filesystem data (runc's table, so configs written for runc mean the same here).

use rustix::mount::{MountFlags, MountPropagationFlags};

/// A parsed `mounts[].options` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags for the mount(2) call.
    pub flags: MountFlags,
    /// Bind mount (`bind` or `rbind`).
    pub bind: bool,
    /// Recursive bind (`rbind`).
    pub recursive: bool,
    /// Propagation changes applied after mounting, in order.
    pub propagation: Vec<MountPropagationFlags>,
    /// Filesystem-specific data (`mode=755,size=65536k`).
    pub data: String,
    /// runc's `tmpcopyup`: copy what the image has at the target into the new tmpfs.
    pub tmpcopyup: bool,
    /// Recursive attributes (`rro`, `rnosuid`, ...): `MOUNT_ATTR_*` to set and to clear on the
    /// mount and every mount below it.
    pub rec_attr: RecAttr,
}

/// The recursive mount attributes of runc 1.1+ (`mount_setattr` with `AT_RECURSIVE`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecAttr {
    /// `MOUNT_ATTR_*` flags to set.
    pub set: u64,
    /// `MOUNT_ATTR_*` flags to clear.
    pub clr: u64,
    /// The options as the config spells them, for error messages.
    pub names: Vec<String>,
}

impl RecAttr {
    /// True when the config asked for none.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// runc's table (libcontainer/specconv): option → (clear?, flag).
fn rec_attr_flag(name: &str) -> Option<(bool, u64)> {
    use berth_sys::mount as m;
    Some(match name {
        "rro" => (false, m::MOUNT_ATTR_RDONLY),
        "rrw" => (true, m::MOUNT_ATTR_RDONLY),
        "rnosuid" => (false, m::MOUNT_ATTR_NOSUID),
        "rsuid" => (true, m::MOUNT_ATTR_NOSUID),
        "rnodev" => (false, m::MOUNT_ATTR_NODEV),
        "rdev" => (true, m::MOUNT_ATTR_NODEV),
        "rnoexec" => (false, m::MOUNT_ATTR_NOEXEC),
        "rexec" => (true, m::MOUNT_ATTR_NOEXEC),
        "rnodiratime" => (false, m::MOUNT_ATTR_NODIRATIME),
        "rdiratime" => (true, m::MOUNT_ATTR_NODIRATIME),
        "rrelatime" => (false, m::MOUNT_ATTR_RELATIME),
        "rnorelatime" => (true, m::MOUNT_ATTR_RELATIME),
        "rnoatime" => (false, m::MOUNT_ATTR_NOATIME),
        "ratime" => (true, m::MOUNT_ATTR_NOATIME),
        "rstrictatime" => (false, m::MOUNT_ATTR_STRICTATIME),
        "rnostrictatime" => (true, m::MOUNT_ATTR_STRICTATIME),
        "rnosymfollow" => (false, m::MOUNT_ATTR_NOSYMFOLLOW),
        "rsymfollow" => (true, m::MOUNT_ATTR_NOSYMFOLLOW),
        _ => return None,
    })
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MountFlags::empty(),
            bind: false,
            recursive: false,
            propagation: Vec::new(),
            data: String::new(),
            tmpcopyup: false,
            rec_attr: RecAttr::default(),
        }
    }
}

/// mount(2) with filesystem data given as a string (empty = none).
pub fn mount_fs(
    source: &std::path::Path,
    target: &std::path::Path,
    fstype: &str,
    flags: MountFlags,
    data: &str,
) -> rustix::io::Result<()> {
    let data = if data.is_empty() {
        None
    } else {
        Some(std::ffi::CString::new(data).map_err(|_| rustix::io::Errno::INVAL)?)
    };
    rustix::mount::mount(source, target, fstype, flags, data.as_deref())
}

/// The propagation flag for a `rootfsPropagation` / propagation option name.
pub fn propagation_flag(name: &str) -> Option<MountPropagationFlags> {
    let rec = MountPropagationFlags::REC;
    Some(match name {
        "private" => MountPropagationFlags::PRIVATE,
        "rprivate" => MountPropagationFlags::PRIVATE | rec,
        "shared" => MountPropagationFlags::SHARED,
        "rshared" => MountPropagationFlags::SHARED | rec,
        "slave" => MountPropagationFlags::DOWNSTREAM,
        "rslave" => MountPropagationFlags::DOWNSTREAM | rec,
        "unbindable" => MountPropagationFlags::UNBINDABLE,
        "runbindable" => MountPropagationFlags::UNBINDABLE | rec,
        _ => return None,
    })
}

/// Parses an options list.
pub fn parse(options: &[String]) -> MountOptions {
    let mut o = MountOptions::default();
    let mut data: Vec<&str> = Vec::new();
    for opt in options {
        let (set, clear) = match opt.as_str() {
            "async" => (MountFlags::empty(), MountFlags::SYNCHRONOUS),
            "atime" => (MountFlags::empty(), MountFlags::NOATIME),
            "defaults" => (MountFlags::empty(), MountFlags::empty()),
            "dev" => (MountFlags::empty(), MountFlags::NODEV),
            "diratime" => (MountFlags::empty(), MountFlags::NODIRATIME),
            "dirsync" => (MountFlags::DIRSYNC, MountFlags::empty()),
            "exec" => (MountFlags::empty(), MountFlags::NOEXEC),
            "noatime" => (MountFlags::NOATIME, MountFlags::empty()),
            "nodev" => (MountFlags::NODEV, MountFlags::empty()),
            "nodiratime" => (MountFlags::NODIRATIME, MountFlags::empty()),
            "noexec" => (MountFlags::NOEXEC, MountFlags::empty()),
            "norelatime" => (MountFlags::empty(), MountFlags::RELATIME),
            "nostrictatime" => (MountFlags::empty(), MountFlags::STRICTATIME),
            "nosuid" => (MountFlags::NOSUID, MountFlags::empty()),
            "relatime" => (MountFlags::RELATIME, MountFlags::empty()),
            "ro" => (MountFlags::RDONLY, MountFlags::empty()),
            "rw" => (MountFlags::empty(), MountFlags::RDONLY),
            "strictatime" => (MountFlags::STRICTATIME, MountFlags::empty()),
            "suid" => (MountFlags::empty(), MountFlags::NOSUID),
            "sync" => (MountFlags::SYNCHRONOUS, MountFlags::empty()),
            "bind" => {
                o.bind = true;
                continue;
            }
            "rbind" => {
                o.bind = true;
                o.recursive = true;
                continue;
            }
            "tmpcopyup" => {
                o.tmpcopyup = true;
                continue;
            }
            // Handled by the kernel's defaults or not meaningful for mount(2).
            "remount" | "mand" | "nomand" => continue,
            other => {
                if let Some((clear, flag)) = rec_attr_flag(other) {
                    let r = &mut o.rec_attr;
                    if clear {
                        r.clr |= flag;
                    } else {
                        r.set |= flag;
                        // mount_setattr(2): an atime mode is changed only with the whole
                        // atime mask in attr_clr.
                        if flag & !berth_sys::mount::MOUNT_ATTR_ATIME_MASK == 0 {
                            r.clr |= berth_sys::mount::MOUNT_ATTR_ATIME_MASK;
                        }
                    }
                    r.names.push(other.to_string());
                } else if let Some(p) = propagation_flag(other) {
                    o.propagation.push(p);
                } else {
                    data.push(other);
                }
                continue;
            }
        };
        o.flags = (o.flags | set) & !clear;
    }
    o.data = data.join(",");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(list: &[&str]) -> MountOptions {
        parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn flags_data_and_propagation_are_separated() {
        let o = opts(&[
            "nosuid",
            "noexec",
            "mode=755",
            "size=65536k",
            "rslave",
            "ro",
        ]);
        assert_eq!(
            o.flags,
            MountFlags::NOSUID | MountFlags::NOEXEC | MountFlags::RDONLY
        );
        assert_eq!(o.data, "mode=755,size=65536k");
        assert_eq!(
            o.propagation,
            vec![MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC]
        );
        assert!(!o.bind);
    }

    #[test]
    fn recursive_attributes_are_collected_as_runc_does() {
        use berth_sys::mount as m;
        let o = opts(&["rbind", "rro", "rnosuid", "rdev", "rnoatime", "ro"]);
        assert_eq!(
            o.rec_attr.set,
            m::MOUNT_ATTR_RDONLY | m::MOUNT_ATTR_NOSUID | m::MOUNT_ATTR_NOATIME
        );
        assert_eq!(
            o.rec_attr.clr,
            m::MOUNT_ATTR_NODEV | m::MOUNT_ATTR_ATIME_MASK
        );
        assert_eq!(o.rec_attr.names, ["rro", "rnosuid", "rdev", "rnoatime"]);
        assert_eq!(o.data, "", "recursive options are not filesystem data");
        assert!(o.flags.contains(MountFlags::RDONLY));
        let plain = opts(&["rbind", "ro"]);
        assert!(plain.rec_attr.is_empty());
        // relatime is atime mode 0: setting it still clears the mask.
        let r = opts(&["rrelatime"]);
        assert_eq!(
            (r.rec_attr.set, r.rec_attr.clr),
            (0, m::MOUNT_ATTR_ATIME_MASK)
        );
    }

    #[test]
    fn later_options_win() {
        let o = opts(&["ro", "rw", "rbind"]);
        assert!(!o.flags.contains(MountFlags::RDONLY));
        assert!(o.bind && o.recursive);
    }
}

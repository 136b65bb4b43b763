//! Device filtering on v2: the emulated device state compiled to eBPF and attached to the
//! cgroup directory with `BPF_F_ALLOW_MULTI`. On update the new program is attached before the
//! previous Berth program (found by its name) is detached, so there is no unfiltered window.
//!
//! When the directory is not on cgroup2 (a test root) nothing is attached.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::Path;

use berth_sys::bpf;

use crate::devices::bpf_program::compile;
use crate::devices::emulator::DeviceState;
use crate::{fsutil, CgroupError};

/// The name our programs are loaded with (at most 15 bytes); how `update` recognises them.
pub(crate) const PROG_NAME: &str = "berth_devices";

pub(crate) fn apply(dir: &Path, state: &DeviceState) -> Result<(), CgroupError> {
    let insns = compile(state);
    if !fsutil::is_cgroup2fs(dir) {
        return Ok(());
    }
    let err = |action: &'static str, reason: String| CgroupError::Bpf {
        action,
        path: dir.to_path_buf(),
        reason,
    };
    let dirfd = File::open(dir).map_err(|e| err("opening the cgroup for", e.to_string()))?;
    let ids = bpf::prog_query(dirfd.as_fd(), bpf::ATTACH_CGROUP_DEVICE)
        .map_err(|e| err("listing", e.to_string()))?;
    let mut old = Vec::new();
    for id in ids {
        // A program that went away between query and open is simply not ours to detach.
        let Ok(fd) = bpf::prog_get_fd_by_id(id) else {
            continue;
        };
        if bpf::prog_info(fd.as_fd()).is_ok_and(|i| i.name == PROG_NAME) {
            old.push(fd);
        }
    }
    // An allow-all state needs no program: just drop ours.
    if !(state.default_allow && state.exceptions.is_empty()) {
        let prog = bpf::prog_load(
            bpf::PROG_TYPE_CGROUP_DEVICE,
            &insns,
            c"Apache-2.0",
            PROG_NAME,
        )
        .map_err(|e| err("loading", e.to_string()))?;
        bpf::prog_attach(
            dirfd.as_fd(),
            prog.as_fd(),
            bpf::ATTACH_CGROUP_DEVICE,
            bpf::F_ALLOW_MULTI,
        )
        .map_err(|e| err("attaching", e.to_string()))?;
    }
    for fd in old {
        bpf::prog_detach(dirfd.as_fd(), fd.as_fd(), bpf::ATTACH_CGROUP_DEVICE)
            .map_err(|e| err("detaching the previous", e.to_string()))?;
    }
    Ok(())
}

//! Linux security module labels of the container process: an AppArmor profile or an SELinux
//! label, applied at the next exec (runc's `changeOnExec`). A config that asks for one on a
//! host without that LSM is refused (as runc does), never run unconfined in silence.

use crate::error::{Error, Result};
use oci_spec::runtime::Process;
use std::path::Path;

/// True when the host runs AppArmor (runc's test).
pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.starts_with('Y'))
}

/// True when the host runs SELinux.
pub fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

fn set(p: &Option<String>) -> Option<&str> {
    p.as_deref().filter(|s| !s.is_empty())
}

/// Refuses labels this host cannot apply; called by `create` before anything is set up.
pub fn check_host(p: &Process) -> Result<()> {
    if let Some(profile) = set(p.apparmor_profile()) {
        if !apparmor_enabled() {
            return Err(Error::Config(format!(
                "process.apparmorProfile: {profile:?} is set but AppArmor is not enabled on \
                 this host; remove the field (or run on a host with AppArmor)"
            )));
        }
    }
    if let Some(label) = set(p.selinux_label()) {
        if !selinux_enabled() {
            return Err(Error::Config(format!(
                "process.selinuxLabel: {label:?} is set but SELinux is not enabled on this \
                 host; remove the field (or run on a host with SELinux)"
            )));
        }
    }
    Ok(())
}

/// Asks the LSMs to switch the process to its label when it execs.
pub fn set_exec_labels(p: &Process) -> Result<()> {
    if let Some(profile) = set(p.apparmor_profile()) {
        let value = format!("exec {profile}");
        std::fs::write("/proc/self/attr/apparmor/exec", &value)
            .or_else(|_| std::fs::write("/proc/self/attr/exec", &value))
            .map_err(|e| {
                Error::Init(format!(
                    "process.apparmorProfile: applying profile {profile:?}: {e}"
                ))
            })?;
    }
    if let Some(label) = set(p.selinux_label()) {
        std::fs::write("/proc/self/attr/exec", label).map_err(|e| {
            Error::Init(format!(
                "process.selinuxLabel: applying label {label:?}: {e}"
            ))
        })?;
    }
    Ok(())
}

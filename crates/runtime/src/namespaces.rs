//! Which namespaces a container gets: new ones (clone flags) and joined ones (fds to setns).

use crate::error::{Error, IoContext, Result};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::os::fd::OwnedFd;

/// The CLONE_NEW* flag of a namespace type.
pub(crate) fn clone_flag(t: LinuxNamespaceType) -> i32 {
    match t {
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
        LinuxNamespaceType::User => libc::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET,
        LinuxNamespaceType::Time => libc::CLONE_NEWTIME,
    }
}

/// The /proc/PID/ns/ file name of a namespace type.
pub(crate) fn proc_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

/// All namespace types, in the order setns must join them (user first: it grants the rights to
/// join the others; mount last among the path-resolving ones).
pub(crate) const JOIN_ORDER: [LinuxNamespaceType; 8] = [
    LinuxNamespaceType::User,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::Cgroup,
    LinuxNamespaceType::Time,
    LinuxNamespaceType::Mount,
];

/// The namespace plan of a container.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// Types to create.
    pub new: Vec<LinuxNamespaceType>,
    /// Types to join, with an open fd of the namespace file.
    pub join: Vec<(LinuxNamespaceType, OwnedFd)>,
}

impl Plan {
    pub(crate) fn is_new(&self, t: LinuxNamespaceType) -> bool {
        self.new.contains(&t)
    }
    pub(crate) fn joins(&self, t: LinuxNamespaceType) -> bool {
        self.join.iter().any(|(j, _)| *j == t)
    }
    /// Flags for clone3: every new namespace but cgroup (unshared by init once it sits in its
    /// cgroup, so the namespace root is the container's cgroup) and time (unshared by the parent
    /// before clone, so offsets can be written first).
    pub(crate) fn clone_flags(&self) -> u64 {
        self.new
            .iter()
            .filter(|t| !matches!(t, LinuxNamespaceType::Cgroup | LinuxNamespaceType::Time))
            .fold(0u64, |acc, t| acc | clone_flag(*t) as u64)
    }
}

/// Builds the plan from the config, opening every namespace path to join.
pub(crate) fn plan(spec: &Spec) -> Result<Plan> {
    let mut plan = Plan::default();
    let Some(list) = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref()) else {
        return Ok(plan);
    };
    for ns in list {
        match ns.path() {
            Some(p) if !p.as_os_str().is_empty() => {
                let fd = rustix::fs::open(
                    p,
                    rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
                    rustix::fs::Mode::empty(),
                )
                .ctx(|| {
                    format!(
                        "linux.namespaces: opening {} namespace {}",
                        ns.typ(),
                        p.display()
                    )
                })?;
                plan.join.push((ns.typ(), fd));
            }
            _ => plan.new.push(ns.typ()),
        }
    }
    plan.join
        .sort_by_key(|(t, _)| JOIN_ORDER.iter().position(|o| o == t));
    if plan.joins(LinuxNamespaceType::User)
        && plan
            .new
            .iter()
            .any(|t| matches!(t, LinuxNamespaceType::Pid))
    {
        return Err(Error::Unsupported(
            "linux.namespaces: joining a user namespace while creating a new pid namespace is not supported yet".into(),
        ));
    }
    Ok(plan)
}

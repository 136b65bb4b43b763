//! The child of `exec`: joins the namespaces of a running container, then becomes the new
//! process (same identity, capability and seccomp steps as the init).

use super::{process, terminal, ConsoleTarget};
use crate::channel::{Channel, Msg};
use crate::error::{Error, Result};
use oci_spec::runtime::{LinuxNamespaceType, LinuxSeccomp, Process};
use std::os::fd::{AsFd, OwnedFd};

/// What the exec child needs.
#[derive(Debug)]
pub struct ExecChildArgs {
    pub process: Process,
    pub seccomp: Option<LinuxSeccomp>,
    /// The container's state, for a seccomp agent.
    pub state: crate::state::StateOutput,
    pub chan: Channel,
    pub join: Vec<(LinuxNamespaceType, OwnedFd)>,
    pub console: ConsoleTarget,
    pub preserve_fds: u32,
    pub saved_mask: berth_sys::signal::SigSet,
}

/// Entry point of the exec child. Never returns.
pub fn run(mut a: ExecChildArgs) -> ! {
    let err = match setup(&mut a) {
        Ok((plan, filter, held)) => exec(&a, &plan, filter.as_ref(), held),
        Err(e) => e,
    };
    if a.chan.send(&Msg::Error(err.to_string())).is_err() {
        eprintln!("berth-runc exec: {err}");
    }
    berth_sys::process::exit_immediately(127)
}

/// Fds and signal mask first, the seccomp filter last: only execve runs under it (as in the
/// init).
fn exec(
    a: &ExecChildArgs,
    plan: &process::ExecPlan,
    filter: Option<&super::seccomp::Filter>,
    held: Option<process::HeldCaps>,
) -> Error {
    if let Err(e) = super::prepare_exec_fds(a.preserve_fds) {
        return Error::Init(format!("preparing file descriptors: {e}"));
    }
    let _ = berth_sys::signal::reset_default(libc::SIGPIPE);
    let _ = berth_sys::signal::set_mask(&a.saved_mask);
    if let Err(e) = process::load_seccomp(filter, held) {
        return e;
    }
    let e = berth_sys::process::execve(&plan.path, &plan.argv, &plan.envp);
    super::exec_error(plan, &e, filter.is_some())
}

type Prepared = (
    process::ExecPlan,
    Option<super::seccomp::Filter>,
    Option<process::HeldCaps>,
);

fn setup(a: &mut ExecChildArgs) -> Result<Prepared> {
    let _ = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable);
    match a.chan.recv() {
        Ok(Some((Msg::Continue, _))) => {}
        Ok(_) => berth_sys::process::exit_immediately(1),
        Err(e) => return Err(Error::Init(format!("reading from runtime: {e}"))),
    }
    // Built (and its agent connected: listenerPath is a host path) before joining the
    // container's mount namespace.
    let filter = match &a.seccomp {
        Some(s) => Some(super::seccomp::prepare(s, &a.state)?),
        None => None,
    };
    for (t, fd) in &a.join {
        if matches!(t, LinuxNamespaceType::Pid | LinuxNamespaceType::Time) {
            continue;
        }
        berth_sys::process::setns(fd.as_fd(), crate::namespaces::clone_flag(*t))
            .map_err(|e| Error::Init(format!("joining the container's {t} namespace: {e}")))?;
    }
    a.join.clear();
    rustix::process::chdir(a.process.cwd())
        .map_err(|e| Error::Init(format!("cwd: chdir {}: {e}", a.process.cwd().display())))?;
    let console = std::mem::replace(&mut a.console, ConsoleTarget::None);
    terminal::attach(&a.process, console, &a.chan, false)?;
    process::set_rlimits(&a.process)?;
    let plan = process::plan(&a.process)?;
    // As for the init: what fails here fails `exec` itself, with the reason.
    let nnp = a.process.no_new_privileges().unwrap_or(false);
    let held = process::switch_identity(&a.process, filter.is_some() && !nnp, true)?;
    a.chan
        .send(&Msg::Ready)
        .map_err(|e| Error::Init(format!("writing to runtime: {e}")))?;
    Ok((plan, filter, held))
}

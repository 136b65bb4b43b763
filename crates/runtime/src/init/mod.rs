//! What runs in the container's first process between clone and exec.
//!
//! The process is a fork of the runtime (single-threaded, so ordinary Rust code is safe here).
//! It talks to the runtime over a [`Channel`]; any failure is sent back as one line and the
//! process exits, so `create` can report it and clean up. Setup order (runc's):
//! ids mapped + cgroup joined (wait for the parent) → join namespaces → cgroup namespace →
//! hostname → mounts and /dev → prestart/createRuntime hooks (parent) → createContainer hooks →
//! pivot_root → terminal → sysctl → masked/read-only paths → rlimits, cwd, executable lookup,
//! LSM label → user, caps → Ready → wait for `start` → startContainer hooks → fds, signal
//! mask → seccomp → exec. The seccomp filter comes last (runc's order), so a profile only has to
//! allow what the container's program needs; an exec that fails after `start` is written to
//! the exec-error file that `start` reads.

pub mod cgroupfs;
pub mod devices;
pub mod exec_child;
pub mod lsm;
pub mod mounts;
pub mod paths;
pub mod process;
pub mod rootfs;
pub mod seccomp;
pub mod terminal;

use crate::channel::{Channel, Msg};
use crate::error::{Error, Result};
use crate::state::StateOutput;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

/// Where the pty master goes when the process has a terminal.
#[derive(Debug)]
pub enum ConsoleTarget {
    /// No terminal.
    None,
    /// A connected --console-socket.
    Socket(OwnedFd),
    /// Back to the runtime over the channel (`run` in the foreground).
    Parent,
}

/// Everything the init needs; built by the parent before clone.
#[derive(Debug)]
pub struct InitArgs {
    pub spec: Spec,
    pub rootfs: PathBuf,
    pub chan: Channel,
    pub join: Vec<(LinuxNamespaceType, OwnedFd)>,
    pub new_ns: Vec<LinuxNamespaceType>,
    pub fifo: OwnedFd,
    /// Where a failure after `start` (when `create` no longer listens) is written for `start`
    /// to report: the state directory's exec-error file, opened close-on-exec.
    pub exec_error: OwnedFd,
    pub console: ConsoleTarget,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    pub runtime_hooks: bool,
    pub saved_mask: berth_sys::signal::SigSet,
    /// The OCI state for hooks run inside the container (pid filled in from Continue).
    pub hook_state: StateOutput,
}

impl InitArgs {
    fn is_new(&self, t: LinuxNamespaceType) -> bool {
        self.new_ns.contains(&t)
    }
}

/// Entry point in the child. Never returns.
pub fn run(mut args: InitArgs) -> ! {
    let result = setup(&mut args);
    let err = match result {
        Ok(plan) => exec(&args, plan),
        Err(e) => e,
    };
    let msg = err.to_string();
    // For `start` (a write only: it is all a profile that blocked execve may still allow).
    let _ = rustix::io::write(&args.exec_error, msg.as_bytes());
    // Report to the parent if it still listens (create/run); otherwise to our stderr.
    if args.chan.send(&Msg::Error(msg)).is_err() {
        eprintln!("berth-runc init: {err}");
    }
    berth_sys::process::exit_immediately(127)
}

/// Setup result: the exec plan, the (not yet loaded) seccomp filter and the capability held
/// to load it.
struct Prepared {
    exec: process::ExecPlan,
    seccomp: Option<seccomp::Filter>,
    held: Option<process::HeldCaps>,
}

fn wait_for(chan: &Channel, want: &Msg) -> Result<()> {
    match chan.recv() {
        Ok(Some((m, _))) if &m == want => Ok(()),
        Ok(Some((m, _))) => Err(Error::Init(format!(
            "unexpected message from runtime: {m:?}"
        ))),
        Ok(None) => berth_sys::process::exit_immediately(1),
        Err(e) => Err(Error::Init(format!("reading from runtime: {e}"))),
    }
}

fn setup(a: &mut InitArgs) -> Result<Prepared> {
    let _ = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable);
    let spec = a.spec.clone();
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::Config("process: must be set".into()))?;
    let userns = a.is_new(LinuxNamespaceType::User);
    // The parent maps our ids and puts us in our cgroups, then sends Continue. Ids must be
    // mapped before anything else in a new user namespace; otherwise we go ahead with the
    // mounts while the parent writes the cgroup files (on cgroup v1 each attach waits for an
    // RCU grace period), and wait only where the cgroup matters: before the cgroup namespace
    // and the cgroup mount.
    let mut gate = CgroupGate {
        joined: false,
        new_cgroupns: a.is_new(LinuxNamespaceType::Cgroup),
    };
    if userns {
        gate.ensure(&a.chan)?;
    }
    // Hooks get our pid as the host sees it; the host's /proc is still mounted here.
    if let Some(pid) = std::fs::read_link("/proc/self")
        .ok()
        .and_then(|p| p.to_str().and_then(|s| s.parse().ok()))
    {
        a.hook_state.pid = pid;
    }
    if userns {
        rustix::thread::set_thread_res_gid(
            rustix::process::Gid::ROOT,
            rustix::process::Gid::ROOT,
            rustix::process::Gid::ROOT,
        )
        .map_err(|e| {
            Error::Init(format!(
                "linux.gidMappings: becoming gid 0 in the user namespace: {e}"
            ))
        })?;
        rustix::thread::set_thread_res_uid(
            rustix::process::Uid::ROOT,
            rustix::process::Uid::ROOT,
            rustix::process::Uid::ROOT,
        )
        .map_err(|e| {
            Error::Init(format!(
                "linux.uidMappings: becoming uid 0 in the user namespace: {e}"
            ))
        })?;
    }
    let joins_mountns = a.join.iter().any(|(t, _)| *t == LinuxNamespaceType::Mount);
    for (t, fd) in &a.join {
        if *t == LinuxNamespaceType::Pid || *t == LinuxNamespaceType::Time {
            continue; // joined by the parent before clone (they apply to children only)
        }
        berth_sys::process::setns(fd.as_fd(), crate::namespaces::clone_flag(*t))
            .map_err(|e| Error::Init(format!("linux.namespaces: joining {t} namespace: {e}")))?;
    }
    a.join.clear();
    if !a.no_new_keyring {
        // A fresh session keyring keeps the container away from the host's keys; kernels or
        // user namespaces without keyring support are fine to run without one.
        let _ = berth_sys::keyring::join_session_keyring(&format!("_ses.{}", a.hook_state.id));
    }
    process::set_oom_score_adj(process)?;
    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        rustix::system::sethostname(h.as_bytes())
            .map_err(|e| Error::Init(format!("hostname: {e}")))?;
    }
    if let Some(d) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        rustix::system::setdomainname(d.as_bytes())
            .map_err(|e| Error::Init(format!("domainname: {e}")))?;
    }
    if a.is_new(LinuxNamespaceType::Network) {
        // As runc and crun: a new network namespace gets a working 127.0.0.1.
        berth_sys::net::loopback_up().map_err(|e| {
            Error::Init(format!("bringing up lo in the new network namespace: {e}"))
        })?;
    }
    let mountns = a.is_new(LinuxNamespaceType::Mount);
    // No mount namespace in the config: the container shares the runtime's (OCI: a namespace
    // not listed is inherited), and its mounts are made there, under a bind of the rootfs that
    // `delete` detaches.
    let inherited_mountns = !mountns && !joins_mountns;
    if mountns || inherited_mountns {
        let chan = &a.chan;
        rootfs::prepare(
            &rootfs::Ctx {
                spec: &spec,
                rootfs: &a.rootfs,
                userns,
                cgroupns: a.is_new(LinuxNamespaceType::Cgroup),
                own_mountns: mountns,
            },
            &mut || gate.ensure(chan),
        )?;
    }
    crate::trace::mark("init: mounts done");
    gate.ensure(&a.chan)?;
    crate::trace::mark("init: cgroups joined");
    if a.runtime_hooks {
        a.chan
            .send(&Msg::MountsReady)
            .map_err(|e| Error::Init(format!("writing to runtime: {e}")))?;
        wait_for(&a.chan, &Msg::HooksDone)?;
    }
    if let Some(h) = spec.hooks() {
        crate::hooks::run(
            "createContainer",
            h.create_container().as_deref().unwrap_or_default(),
            &a.hook_state,
        )?;
    }
    // Built (and its agent connected: listenerPath is a host path) before pivot_root.
    let seccomp = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(s) => Some(seccomp::prepare(s, &a.hook_state)?),
        None => None,
    };
    if mountns {
        rootfs::pivot(&a.rootfs, a.no_pivot)?;
    } else {
        rustix::process::chroot(&a.rootfs)
            .map_err(|e| Error::Init(format!("chroot {}: {e}", a.rootfs.display())))?;
    }
    let console = std::mem::replace(&mut a.console, ConsoleTarget::None);
    terminal::attach(process, console, &a.chan, true)?;
    for (k, v) in spec
        .linux()
        .as_ref()
        .and_then(|l| l.sysctl().as_ref())
        .into_iter()
        .flatten()
    {
        let path = format!("/proc/sys/{}", k.replace('.', "/"));
        std::fs::write(&path, v)
            .map_err(|e| Error::Init(format!("linux.sysctl: writing {v:?} to {path}: {e}")))?;
    }
    if mountns || inherited_mountns {
        rootfs::finalize(&spec)?;
    }
    crate::trace::mark("init: rootfs finalized");
    process::set_rlimits(process)?;
    if let Some(p) = spec.linux().as_ref().and_then(|l| l.personality().as_ref()) {
        let persona = match p.domain() {
            oci_spec::runtime::LinuxPersonalityDomain::PerLinux32 => 0x0008,
            _ => 0x0000,
        };
        berth_sys::process::set_personality(persona)
            .map_err(|e| Error::Init(format!("linux.personality: {e}")))?;
    }
    rustix::process::chdir(process.cwd()).map_err(|e| {
        Error::Init(format!(
            "process.cwd: chdir {}: {e}",
            process.cwd().display()
        ))
    })?;
    let exec = process::plan(process)?;
    lsm::set_exec_labels(process)?;
    // Drop to the process's identity now, so that what fails here fails `create`.
    let nnp = process.no_new_privileges().unwrap_or(false);
    let held = process::switch_identity(process, seccomp.is_some() && !nnp, true)?;
    crate::trace::mark("init: ready");
    a.chan
        .send(&Msg::Ready)
        .map_err(|e| Error::Init(format!("writing to runtime: {e}")))?;
    wait_for_start(&a.fifo)?;
    if let Some(h) = spec.hooks() {
        crate::hooks::run(
            "startContainer",
            h.start_container().as_deref().unwrap_or_default(),
            &a.hook_state,
        )?;
    }
    Ok(Prepared {
        exec,
        seccomp,
        held,
    })
}

/// Waits (once) for the parent's Continue: ids mapped and cgroups joined. Then creates the
/// cgroup namespace, whose root must be the container's cgroup.
struct CgroupGate {
    joined: bool,
    new_cgroupns: bool,
}

impl CgroupGate {
    fn ensure(&mut self, chan: &Channel) -> Result<()> {
        if self.joined {
            return Ok(());
        }
        wait_for(chan, &Msg::Continue)?;
        self.joined = true;
        if self.new_cgroupns {
            berth_sys::process::unshare(libc::CLONE_NEWCGROUP)
                .map_err(|e| Error::Init(format!("creating cgroup namespace: {e}")))?;
        }
        Ok(())
    }
}

/// Blocks until `start` writes to the exec fifo (we hold its read end, opened by the parent).
fn wait_for_start(fifo: &OwnedFd) -> Result<()> {
    let mut pfd = [rustix::event::PollFd::new(
        fifo,
        rustix::event::PollFlags::IN,
    )];
    loop {
        match rustix::event::poll(&mut pfd, None) {
            Ok(_) => break,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(Error::Init(format!("waiting for start: {e}"))),
        }
    }
    let mut b = [0u8; 1];
    match rustix::io::read(fifo, &mut b) {
        Ok(1) => Ok(()),
        // The fifo was closed without the start byte (delete of a created container).
        _ => berth_sys::process::exit_immediately(0),
    }
}

fn exec(a: &InitArgs, p: Prepared) -> Error {
    if let Err(e) = prepare_exec_fds(a.preserve_fds) {
        return Error::Init(format!("preparing file descriptors: {e}"));
    }
    let _ = berth_sys::signal::reset_default(libc::SIGPIPE);
    let _ = berth_sys::signal::set_mask(&a.saved_mask);
    crate::trace::mark("init: exec");
    if let Err(e) = process::load_seccomp(p.seccomp.as_ref(), p.held) {
        return e;
    }
    let err = berth_sys::process::execve(&p.exec.path, &p.exec.argv, &p.exec.envp);
    exec_error(&p.exec, &err, p.seccomp.is_some())
}

/// The error of a failed execve, with a hint when the seccomp filter (loaded just before) may
/// be what refused it.
pub(crate) fn exec_error(plan: &process::ExecPlan, err: &std::io::Error, seccomp: bool) -> Error {
    let arg0 = plan
        .argv
        .first()
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_default();
    let hint = match err.raw_os_error() {
        Some(libc::EPERM | libc::EACCES | libc::ENOSYS) if seccomp => {
            " (the container's seccomp profile, linux.seccomp, was loaded just before: it must \
             allow execve)"
        }
        _ => "",
    };
    Error::Init(format!("exec {arg0:?}: {err}{hint}"))
}

/// Nothing but stdio and the --preserve-fds range may survive exec.
pub(crate) fn prepare_exec_fds(preserve: u32) -> std::io::Result<()> {
    berth_sys::fd::cloexec_from(3 + preserve)?;
    for fd in 3..3 + preserve {
        berth_sys::fd::clear_cloexec_raw(fd as i32)?;
    }
    Ok(())
}

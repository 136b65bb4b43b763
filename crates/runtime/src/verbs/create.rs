//! `create`: set up the container and leave its init waiting for `start`.

use crate::channel::{self, Msg};
use crate::config;
use crate::error::{Error, IoContext, Result};
use crate::init::{self, ConsoleTarget, InitArgs};
use crate::namespaces;
use crate::state::{self, ContainerState, Status, EXEC_FIFO};
use crate::Runtime;
use berth_cgroups::{CgroupManager, CgroupOptions};
use berth_sys::process::Forked;
use oci_spec::runtime::{
    LinuxDeviceCgroup, LinuxDeviceType, LinuxIdMapping, LinuxNamespaceType, LinuxResources,
};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Options of `create` and `run`.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// Bundle directory (holds config.json).
    pub bundle: PathBuf,
    /// Where to write the init's pid.
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master.
    pub console_socket: Option<PathBuf>,
    /// Use MS_MOVE + chroot instead of pivot_root.
    pub no_pivot: bool,
    /// Do not create a session keyring.
    pub no_new_keyring: bool,
    /// Pass fds 3..3+N to the container.
    pub preserve_fds: u32,
}

/// A created container as `run` continues with it.
#[derive(Debug)]
pub(crate) struct Spawned {
    pub state: ContainerState,
    pub console_master: Option<OwnedFd>,
}

impl Runtime {
    /// `create`.
    pub fn create(&self, id: &str, opts: &CreateOptions) -> Result<()> {
        let mask = berth_sys::signal::SigSet::empty();
        let current = berth_sys::signal::block(&mask).ctx(|| "reading the signal mask".into())?;
        self.spawn(id, opts, false, current).map(|_| ())
    }

    /// Creates the container; `tty_to_parent` sends the pty master back to us (`run`).
    pub(crate) fn spawn(
        &self,
        id: &str,
        opts: &CreateOptions,
        tty_to_parent: bool,
        saved_mask: berth_sys::signal::SigSet,
    ) -> Result<Spawned> {
        state::validate_id(id)?;
        if self.systemd_cgroup {
            return Err(Error::Unsupported(
                "--systemd-cgroup is not supported yet: omit it to use cgroupfs paths".into(),
            ));
        }
        // Relative to where we were called from (runc's rule), not to the bundle we chdir into.
        let pid_file = opts.pid_file.as_deref().map(absolute);
        let bundle = config::load(&opts.bundle)?;
        crate::trace::mark("config loaded");
        let spec = &bundle.spec;
        let process = spec
            .process()
            .as_ref()
            .ok_or_else(|| Error::Config("process: must be set".into()))?;
        let terminal = process.terminal().unwrap_or(false);
        if terminal && opts.console_socket.is_none() && !tty_to_parent {
            return Err(Error::Usage(
                "cannot allocate a tty without --console-socket when the container is detached"
                    .into(),
            ));
        }
        if !terminal && opts.console_socket.is_some() {
            return Err(Error::Usage(
                "--console-socket needs process.terminal set to true".into(),
            ));
        }
        crate::init::lsm::check_host(process)?;
        let plan = namespaces::plan(spec)?;
        // Without a mount namespace in the config, the container's mounts are made in ours.
        let shares_mountns =
            !plan.is_new(LinuxNamespaceType::Mount) && !plan.joins(LinuxNamespaceType::Mount);
        std::fs::create_dir_all(&self.root).path_ctx("creating state root", &self.root)?;
        let dir = ContainerState::dir(&self.root, id);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::Exists(id.to_string()))
            }
            Err(e) => return Err(e).path_ctx("creating", &dir),
        }
        let mut guard = Cleanup {
            dir: dir.clone(),
            pid: None,
            cgroup: None,
            rootfs_mounts: None,
        };
        let fifo_path = dir.join(EXEC_FIFO);
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo_path,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .path_ctx("creating", &fifo_path)?;
        let fifo = rustix::fs::open(
            &fifo_path,
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .path_ctx("opening", &fifo_path)?;
        let exec_error_path = dir.join(state::EXEC_ERROR);
        let exec_error = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&exec_error_path)
            .path_ctx("creating", &exec_error_path)?;

        let linux = spec.linux().as_ref();
        let cg_opts = CgroupOptions {
            cgroups_path: linux
                .and_then(|l| l.cgroups_path().as_ref())
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default(),
            container_id: id.to_string(),
            root: self.cgroup_root.clone(),
            mode: self.cgroup_mode,
        };
        let mgr = berth_cgroups::open(&cg_opts)?;
        let resources = with_default_devices(
            linux
                .and_then(|l| l.resources().clone())
                .unwrap_or_default(),
        );

        let console = match &opts.console_socket {
            Some(path) => ConsoleTarget::Socket(connect(path)?),
            None if terminal && tty_to_parent => ConsoleTarget::Parent,
            None => ConsoleTarget::None,
        };
        let (parent_chan, child_chan) =
            channel::pair().ctx(|| "creating the init channel".into())?;
        let hook_state = state::StateOutput {
            oci_version: spec.version().clone(),
            id: id.to_string(),
            status: Status::Creating,
            pid: 0,
            bundle: bundle.dir.clone(),
            rootfs: bundle.rootfs.clone(),
            created: String::new(),
            owner: String::new(),
            annotations: spec.annotations().clone().unwrap_or_default(),
        };
        let hooks = spec.hooks().clone().unwrap_or_default();
        let runtime_hooks = hooks.prestart().as_ref().is_some_and(|h| !h.is_empty())
            || hooks
                .create_runtime()
                .as_ref()
                .is_some_and(|h| !h.is_empty());
        // Relative bind sources are relative to the bundle, as for runc.
        rustix::process::chdir(&bundle.dir).path_ctx("chdir", &bundle.dir)?;
        for (t, fd) in &plan.join {
            if matches!(t, LinuxNamespaceType::Pid | LinuxNamespaceType::Time) {
                berth_sys::process::setns(fd.as_fd(), namespaces::clone_flag(*t))
                    .ctx(|| format!("linux.namespaces: joining {t} namespace"))?;
            }
        }
        if plan.is_new(LinuxNamespaceType::Time) {
            new_time_namespace(linux.and_then(|l| l.time_offsets().as_ref()))?;
        }
        if mgr.mode() == berth_cgroups::CgroupMode::V2 {
            mgr.create()?;
            guard.cgroup = Some(mgr.options().clone());
        }
        let cgroup_fd = clone_into(mgr.as_ref())?;
        let rootfs_mnt_id = if shares_mountns {
            let id = crate::shared_mountns::mount_id(&bundle.rootfs).ok_or_else(|| {
                Error::Init(format!(
                    "reading the mount id of {}",
                    bundle.rootfs.display()
                ))
            })?;
            guard.rootfs_mounts = Some((bundle.rootfs.clone(), id));
            Some(id)
        } else {
            None
        };
        let forked =
            berth_sys::process::clone3(plan.clone_flags(), cgroup_fd.as_ref().map(|f| f.as_fd()))
                .ctx(|| "clone3 of the container init".into())?;
        let pid = match forked {
            Forked::Child => {
                drop(parent_chan);
                let args = InitArgs {
                    spec: spec.clone(),
                    rootfs: bundle.rootfs.clone(),
                    chan: child_chan,
                    join: plan.join,
                    new_ns: plan.new,
                    fifo,
                    exec_error: OwnedFd::from(exec_error),
                    console,
                    no_pivot: opts.no_pivot,
                    no_new_keyring: opts.no_new_keyring,
                    preserve_fds: opts.preserve_fds,
                    runtime_hooks,
                    saved_mask,
                    hook_state,
                };
                init::run(args)
            }
            Forked::Parent(pid) => pid,
        };
        crate::trace::mark("cloned");
        drop(child_chan);
        drop(fifo);
        drop(exec_error);
        drop(console);
        guard.pid = Some(pid);
        if plan.new.contains(&LinuxNamespaceType::User) {
            write_id_map(
                pid,
                "uid_map",
                linux.and_then(|l| l.uid_mappings().as_ref()),
            )?;
            write_id_map(
                pid,
                "gid_map",
                linux.and_then(|l| l.gid_mappings().as_ref()),
            )?;
        }
        if mgr.mode() == berth_cgroups::CgroupMode::V1 {
            guard.cgroup = Some(mgr.options().clone());
            mgr.create()?;
        }
        if cgroup_fd.is_none() {
            mgr.add_process(pid)?;
        }
        mgr.apply(&resources)?;
        crate::trace::mark("cgroups set");
        if let Err(e) = parent_chan.send(&Msg::Continue) {
            return Err(init_failure(&parent_chan, pid, e));
        }
        let mut hook_state = hook_state;
        hook_state.pid = pid;
        // The state only needs the pid: write it while the init sets the container up.
        let st = ContainerState {
            oci_version: spec.version().clone(),
            id: id.to_string(),
            pid,
            init_start_time: state::process_start_time(pid).unwrap_or(0),
            bundle: bundle.dir.clone(),
            rootfs: bundle.rootfs.clone(),
            created: state::now_rfc3339(),
            owner: owner_name(),
            annotations: hook_state.annotations.clone(),
            cgroup: mgr.options().clone(),
            config: Box::new(bundle.spec.clone()),
            rootfs_mnt_id,
        };
        st.save(&self.root)?;
        let mut console_master = None;
        loop {
            let msg = match parent_chan.recv() {
                Ok(m) => m,
                Err(e) => return Err(init_failure(&parent_chan, pid, e)),
            };
            match msg {
                Some((Msg::Ready, _)) => break,
                Some((Msg::MountsReady, _)) => {
                    crate::hooks::run(
                        "prestart",
                        hooks.prestart().as_deref().unwrap_or_default(),
                        &hook_state,
                    )?;
                    crate::hooks::run(
                        "createRuntime",
                        hooks.create_runtime().as_deref().unwrap_or_default(),
                        &hook_state,
                    )?;
                    if let Err(e) = parent_chan.send(&Msg::HooksDone) {
                        return Err(init_failure(&parent_chan, pid, e));
                    }
                }
                Some((Msg::ConsoleMaster, fd)) => console_master = fd,
                Some((Msg::Error(e), _)) => return Err(Error::Init(e)),
                Some((other, _)) => {
                    return Err(Error::Init(format!(
                        "unexpected message from the container init: {other:?}"
                    )))
                }
                None => {
                    return Err(init_failure(
                        &parent_chan,
                        pid,
                        std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
                    ))
                }
            }
        }
        crate::trace::mark("state saved");
        if let Some(p) = &pid_file {
            state::write_atomic(p, pid.to_string().as_bytes())?;
        }
        guard.disarm();
        Ok(Spawned {
            state: st,
            console_master,
        })
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

fn connect(path: &Path) -> Result<OwnedFd> {
    let s = std::os::unix::net::UnixStream::connect(path)
        .path_ctx("--console-socket: connecting to", path)?;
    Ok(OwnedFd::from(s))
}

fn owner_name() -> String {
    let uid = rustix::process::getuid().as_raw();
    crate::passwd::by_uid(uid).map_or_else(|| uid.to_string(), |e| e.name)
}

/// Why the init stopped talking: the one-line error it sent before it exited (still queued on
/// the channel even when our write failed with EPIPE, or a read with ECONNRESET, because it
/// exited first), else how it ended.
fn init_failure(chan: &channel::Channel, pid: i32, io: std::io::Error) -> Error {
    // A reset is reported once, before the messages still queued: read on.
    for _ in 0..8 {
        match chan.recv() {
            Ok(Some((Msg::Error(e), _))) => return Error::Init(e),
            Ok(Some(_)) => continue,
            Ok(None) => break,
            Err(e) if e.raw_os_error() == Some(libc::ECONNRESET) => continue,
            Err(_) => break,
        }
    }
    // Its end of the channel closes as it exits: give it a moment to become a zombie, but
    // never block on an init that is somehow still alive (the cleanup kills it).
    let how = rustix::process::Pid::from_raw(pid)
        .and_then(|p| {
            if let Ok(fd) = rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()) {
                let mut pfd = [rustix::event::PollFd::new(
                    &fd,
                    rustix::event::PollFlags::IN,
                )];
                let limit = rustix::event::Timespec {
                    tv_sec: 2,
                    tv_nsec: 0,
                };
                let _ = rustix::event::poll(&mut pfd, Some(&limit));
            }
            rustix::process::waitpid(Some(p), rustix::process::WaitOptions::NOHANG).ok()
        })
        .flatten()
        .map(|(_, st)| describe_exit(st))
        .unwrap_or_else(|| format!("its channel failed: {io}"));
    Error::Init(format!(
        "the container init exited before it was ready, without a reason: {how}"
    ))
}

fn describe_exit(st: rustix::process::WaitStatus) -> String {
    if let Some(sig) = st.terminating_signal() {
        return format!("killed by signal {sig}");
    }
    match st.exit_status() {
        Some(code) => format!("exit status {code}"),
        None => format!("{st:?}"),
    }
}

fn write_id_map(pid: i32, file: &str, maps: Option<&Vec<LinuxIdMapping>>) -> Result<()> {
    let text: String = maps
        .into_iter()
        .flatten()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect();
    let path = format!("/proc/{pid}/{file}");
    let field = if file == "uid_map" {
        "linux.uidMappings"
    } else {
        "linux.gidMappings"
    };
    std::fs::write(&path, text.as_bytes())
        .map_err(|e| Error::Config(format!("{field}: writing {path}: {e}")))
}

fn new_time_namespace(
    offsets: Option<&std::collections::HashMap<String, oci_spec::runtime::LinuxTimeOffset>>,
) -> Result<()> {
    berth_sys::process::unshare(libc::CLONE_NEWTIME).ctx(|| "creating time namespace".into())?;
    let mut text = String::new();
    for (clock, off) in offsets.into_iter().flatten() {
        text.push_str(&format!(
            "{clock} {} {}\n",
            off.secs().unwrap_or(0),
            off.nanosecs().unwrap_or(0)
        ));
    }
    if !text.is_empty() {
        std::fs::write("/proc/self/timens_offsets", text)
            .map_err(|e| Error::Config(format!("linux.timeOffsets: {e}")))?;
    }
    Ok(())
}

fn rule(
    typ: LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut r = LinuxDeviceCgroup::default();
    r.set_allow(true);
    r.set_typ(Some(typ));
    r.set_major(major);
    r.set_minor(minor);
    r.set_access(Some(access.to_string()));
    r
}

/// Appends runc's default allowed devices (null, zero, full, tty, random, urandom, console,
/// pts, ptmx, tun, and mknod of anything) to the config's device rules.
pub(crate) fn with_default_devices(mut r: LinuxResources) -> LinuxResources {
    use LinuxDeviceType::{B, C};
    let mut devices = r.devices().clone().unwrap_or_default();
    devices.extend([
        rule(C, None, None, "m"),
        rule(B, None, None, "m"),
        rule(C, Some(1), Some(3), "rwm"),
        rule(C, Some(1), Some(8), "rwm"),
        rule(C, Some(1), Some(7), "rwm"),
        rule(C, Some(5), Some(0), "rwm"),
        rule(C, Some(1), Some(5), "rwm"),
        rule(C, Some(1), Some(9), "rwm"),
        rule(C, Some(5), Some(1), "rwm"),
        rule(C, Some(136), None, "rwm"),
        rule(C, Some(5), Some(2), "rwm"),
        rule(C, Some(10), Some(200), "rwm"),
    ]);
    r.set_devices(Some(devices));
    r
}

/// Undoes a half-made container when `create` fails: kills the init, removes the cgroup and
/// the state directory.
struct Cleanup {
    dir: PathBuf,
    pid: Option<i32>,
    cgroup: Option<CgroupOptions>,
    /// The rootfs and its mount id before create, when the container shares our mount
    /// namespace.
    rootfs_mounts: Option<(PathBuf, u64)>,
}

impl Cleanup {
    fn disarm(&mut self) {
        self.pid = None;
        self.cgroup = None;
        self.rootfs_mounts = None;
        self.dir = PathBuf::new();
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(pid) = self.pid.and_then(rustix::process::Pid::from_raw) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            let _ = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty());
        }
        if let Some((rootfs, base)) = &self.rootfs_mounts {
            crate::shared_mountns::detach_above(rootfs, *base);
        }
        if let Some(opts) = &self.cgroup {
            if let Ok(m) = berth_cgroups::open(opts) {
                let _ = m.destroy();
            }
        }
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The cgroup v2 directory to start a child in with CLONE_INTO_CGROUP (one syscall fewer
/// than writing cgroup.procs, and no window outside the cgroup). `None` on v1 and on a v2 root
/// that is not a real cgroup2 filesystem (tests point the root at a plain directory).
pub(crate) fn clone_into(mgr: &dyn CgroupManager) -> Result<Option<OwnedFd>> {
    const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
    let Some(dir) = mgr
        .v2_dir()
        .filter(|_| mgr.mode() == berth_cgroups::CgroupMode::V2)
    else {
        return Ok(None);
    };
    let fd = rustix::fs::open(
        dir,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .path_ctx("opening cgroup", dir)?;
    let real = rustix::fs::fstatfs(&fd).is_ok_and(|s| s.f_type == CGROUP2_SUPER_MAGIC);
    Ok(real.then_some(fd))
}

/// Used by delete and kill: an open manager for a stored container.
pub(crate) fn cgroup_of(st: &ContainerState) -> Result<Box<dyn CgroupManager>> {
    Ok(berth_cgroups::open(&st.cgroup)?)
}

//! `exec`: run another process inside a live container.

use crate::channel::{self, Msg};
use crate::error::{Error, IoContext, Result};
use crate::init::exec_child::{self, ExecChildArgs};
use crate::init::ConsoleTarget;
use crate::namespaces;
use crate::state::{self, ContainerState};
use crate::Runtime;
use berth_sys::process::Forked;
use oci_spec::runtime::{LinuxNamespaceType, Process};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Options of `exec`.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// The complete process to run (from --process, or the container's process with the
    /// command line's changes).
    pub process: Process,
    /// Where to write the new process's pid.
    pub pid_file: Option<PathBuf>,
    /// Socket that receives the pty master.
    pub console_socket: Option<PathBuf>,
    /// Do not wait for the process.
    pub detach: bool,
    /// Pass fds 3..3+N.
    pub preserve_fds: u32,
}

impl Runtime {
    /// The container's own process definition: the template `exec` starts from.
    pub fn process_template(&self, id: &str) -> Result<Process> {
        state::validate_id(id)?;
        let st = ContainerState::load(&self.root, id)?;
        st.config
            .process()
            .clone()
            .ok_or_else(|| Error::Config("process: must be set".into()))
    }

    /// `exec`. Returns the process's exit code (0 when detached).
    pub fn exec(&self, id: &str, opts: &ExecOptions) -> Result<i32> {
        state::validate_id(id)?;
        let st = ContainerState::load(&self.root, id)?;
        let status = st.status(&self.root);
        if !status.can_exec() {
            return Err(Error::BadStatus(format!(
                "cannot exec in container {id}: it is {status}"
            )));
        }
        let terminal = opts.process.terminal().unwrap_or(false);
        if terminal && opts.detach && opts.console_socket.is_none() {
            return Err(Error::Usage(
                "cannot allocate a tty without --console-socket when detached".into(),
            ));
        }
        if opts.process.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(Error::Usage("exec: no command given".into()));
        }
        let saved = berth_sys::signal::block(&super::foreground::forwarded_signals())
            .ctx(|| "blocking signals".into())?;
        let mut join = Vec::new();
        for ns in st
            .config
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_ref())
            .into_iter()
            .flatten()
        {
            let path = format!("/proc/{}/ns/{}", st.pid, namespaces::proc_name(ns.typ()));
            let fd = rustix::fs::open(
                &path,
                rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .ctx(|| format!("opening {path}"))?;
            join.push((ns.typ(), fd));
        }
        join.sort_by_key(|(t, _)| namespaces::JOIN_ORDER.iter().position(|o| o == t));
        for (t, fd) in &join {
            if matches!(t, LinuxNamespaceType::Pid | LinuxNamespaceType::Time) {
                berth_sys::process::setns(fd.as_fd(), namespaces::clone_flag(*t))
                    .ctx(|| format!("joining the container's {t} namespace"))?;
            }
        }
        let mgr = super::create::cgroup_of(&st)?;
        let cgroup_fd = super::create::clone_into(mgr.as_ref())?;
        let console = match &opts.console_socket {
            Some(p) => ConsoleTarget::Socket(OwnedFd::from(
                std::os::unix::net::UnixStream::connect(p)
                    .path_ctx("--console-socket: connecting to", p)?,
            )),
            None if terminal => ConsoleTarget::Parent,
            None => ConsoleTarget::None,
        };
        let (parent_chan, child_chan) =
            channel::pair().ctx(|| "creating the exec channel".into())?;
        let seccomp = st.config.linux().as_ref().and_then(|l| l.seccomp().clone());
        let forked = berth_sys::process::clone3(0, cgroup_fd.as_ref().map(|f| f.as_fd()))
            .ctx(|| "clone3 of the exec process".into())?;
        let pid = match forked {
            Forked::Child => {
                drop(parent_chan);
                exec_child::run(ExecChildArgs {
                    process: opts.process.clone(),
                    seccomp,
                    state: st.output(status),
                    chan: child_chan,
                    join,
                    console,
                    preserve_fds: opts.preserve_fds,
                    saved_mask: saved,
                })
            }
            Forked::Parent(pid) => pid,
        };
        drop(child_chan);
        drop(console);
        let reap = |pid: i32| {
            if let Some(p) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
                let _ = rustix::process::waitpid(Some(p), rustix::process::WaitOptions::empty());
            }
        };
        if cgroup_fd.is_none() {
            if let Err(e) = mgr.add_process(pid) {
                reap(pid);
                return Err(e.into());
            }
        }
        parent_chan
            .send(&Msg::Continue)
            .ctx(|| "writing to the exec process".into())?;
        let mut master = None;
        loop {
            match parent_chan
                .recv()
                .ctx(|| "reading from the exec process".into())?
            {
                Some((Msg::Ready, _)) => break,
                Some((Msg::ConsoleMaster, fd)) => master = fd,
                Some((Msg::Error(e), _)) => {
                    reap(pid);
                    return Err(Error::Init(e));
                }
                Some((m, _)) => {
                    reap(pid);
                    return Err(Error::Init(format!(
                        "unexpected message from the exec process: {m:?}"
                    )));
                }
                None => {
                    reap(pid);
                    return Err(Error::Init(
                        "the exec process died before it was ready".into(),
                    ));
                }
            }
        }
        if let Some(p) = &opts.pid_file {
            state::write_atomic(
                &std::path::absolute(p).unwrap_or_else(|_| Path::new(p).to_path_buf()),
                pid.to_string().as_bytes(),
            )?;
        }
        if opts.detach {
            return Ok(0);
        }
        // An exec error after Ready (e.g. exec(2) itself failing) arrives as a message and
        // the process exits 127; the exit code carries it.
        super::foreground::wait(pid, master)
    }
}

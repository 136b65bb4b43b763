//! The last steps before the user's program runs: rlimits, the executable's path, the
//! environment, then user and groups, capabilities, no_new_privs, seccomp, and exec.

use super::seccomp::Filter;
use crate::error::{Error, Result};
use oci_spec::runtime::{Capabilities, PosixRlimitType, Process};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// What execve gets.
#[derive(Debug)]
pub struct ExecPlan {
    pub path: CString,
    pub argv: Vec<CString>,
    pub envp: Vec<CString>,
}

fn cstr(s: &str, what: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::Config(format!("{what}: contains a NUL byte")))
}

fn rlimit_resource(t: PosixRlimitType) -> (rustix::process::Resource, &'static str) {
    use rustix::process::Resource as R;
    match t {
        PosixRlimitType::RlimitCpu => (R::Cpu, "RLIMIT_CPU"),
        PosixRlimitType::RlimitFsize => (R::Fsize, "RLIMIT_FSIZE"),
        PosixRlimitType::RlimitData => (R::Data, "RLIMIT_DATA"),
        PosixRlimitType::RlimitStack => (R::Stack, "RLIMIT_STACK"),
        PosixRlimitType::RlimitCore => (R::Core, "RLIMIT_CORE"),
        PosixRlimitType::RlimitRss => (R::Rss, "RLIMIT_RSS"),
        PosixRlimitType::RlimitNproc => (R::Nproc, "RLIMIT_NPROC"),
        PosixRlimitType::RlimitNofile => (R::Nofile, "RLIMIT_NOFILE"),
        PosixRlimitType::RlimitMemlock => (R::Memlock, "RLIMIT_MEMLOCK"),
        PosixRlimitType::RlimitAs => (R::As, "RLIMIT_AS"),
        PosixRlimitType::RlimitLocks => (R::Locks, "RLIMIT_LOCKS"),
        PosixRlimitType::RlimitSigpending => (R::Sigpending, "RLIMIT_SIGPENDING"),
        PosixRlimitType::RlimitMsgqueue => (R::Msgqueue, "RLIMIT_MSGQUEUE"),
        PosixRlimitType::RlimitNice => (R::Nice, "RLIMIT_NICE"),
        PosixRlimitType::RlimitRtprio => (R::Rtprio, "RLIMIT_RTPRIO"),
        PosixRlimitType::RlimitRttime => (R::Rttime, "RLIMIT_RTTIME"),
    }
}

/// Applies process.rlimits. Raising a hard limit needs CAP_SYS_RESOURCE; the error says which.
pub fn set_rlimits(p: &Process) -> Result<()> {
    for (i, r) in p.rlimits().iter().flatten().enumerate() {
        let (res, name) = rlimit_resource(r.typ());
        let lim = rustix::process::Rlimit {
            current: (r.soft() != u64::MAX).then_some(r.soft()),
            maximum: (r.hard() != u64::MAX).then_some(r.hard()),
        };
        rustix::process::setrlimit(res, lim).map_err(|e| {
            Error::Init(format!(
                "process.rlimits[{i}]: error setting rlimit type {name} (soft {}, hard {}): {}",
                r.soft(),
                r.hard(),
                std::io::Error::from(e)
            ))
        })?;
    }
    Ok(())
}

/// Writes process.oomScoreAdj (a negative value needs CAP_SYS_RESOURCE).
pub fn set_oom_score_adj(p: &Process) -> Result<()> {
    if let Some(v) = p.oom_score_adj() {
        std::fs::write("/proc/self/oom_score_adj", v.to_string()).map_err(|e| {
            Error::Init(format!(
                "process.oomScoreAdj: writing {v} to /proc/self/oom_score_adj: {e}"
            ))
        })?;
    }
    Ok(())
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Resolves args[0] against the container's PATH (inside the container, after pivot_root and
/// chdir to the cwd) and builds argv/envp. Fails like runc: `exec: "x": executable file not
/// found in $PATH`.
pub fn plan(p: &Process) -> Result<ExecPlan> {
    let args = p.args().as_deref().unwrap_or_default();
    let arg0 = args
        .first()
        .ok_or_else(|| Error::Config("process.args: must not be empty".into()))?;
    let mut env: Vec<String> = p.env().clone().unwrap_or_default();
    let path_var = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .to_string();
    let resolved: PathBuf = if arg0.contains('/') {
        let p = PathBuf::from(arg0);
        if !p.exists() {
            return Err(Error::Init(format!(
                "exec: {arg0:?}: stat {arg0}: no such file or directory"
            )));
        }
        // runc's wording; Docker and podman map "permission denied" to exit status 126.
        if !is_executable(&p) {
            return Err(Error::Init(format!("exec: {arg0:?}: permission denied")));
        }
        p
    } else {
        path_var
            .split(':')
            .map(|d| Path::new(if d.is_empty() { "." } else { d }).join(arg0))
            .find(|c| is_executable(c))
            .ok_or_else(|| {
                Error::Init(format!(
                    "exec: {arg0:?}: executable file not found in $PATH"
                ))
            })?
    };
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        let home = crate::passwd::by_uid(p.user().uid())
            .map(|e| e.home)
            .unwrap_or_else(|| "/".into());
        env.push(format!("HOME={home}"));
    }
    Ok(ExecPlan {
        path: CString::new(resolved.as_os_str().as_bytes())
            .map_err(|_| Error::Config("process.args[0]: contains a NUL byte".into()))?,
        argv: args
            .iter()
            .enumerate()
            .map(|(i, a)| cstr(a, &format!("process.args[{i}]")))
            .collect::<Result<_>>()?,
        envp: env
            .iter()
            .enumerate()
            .map(|(i, e)| cstr(e, &format!("process.env[{i}]")))
            .collect::<Result<_>>()?,
    })
}

fn to_caps(set: &Option<Capabilities>) -> Result<caps::CapsHashSet> {
    set.iter()
        .flatten()
        .map(|c| {
            let name = format!("CAP_{c}");
            caps::Capability::from_str(&name).map_err(|_| {
                Error::Config(format!("process.capabilities: unknown capability {name}"))
            })
        })
        .collect()
}

fn caps_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Init(format!("process.capabilities: {what}: {e}"))
}

/// Capability sets the process must end with, while it still holds CAP_SYS_ADMIN for one more
/// step: loading its seccomp filter without no_new_privs needs it (Docker's default: a profile
/// and no no_new_privs). Dropped by [`load_seccomp`] right after the filter is in place.
#[derive(Debug, Clone, Copy)]
pub struct HeldCaps {
    effective: u64,
    permitted: u64,
    inheritable: u64,
}

fn mask(set: &caps::CapsHashSet) -> u64 {
    set.iter().fold(0, |m, c| m | c.bitmask())
}

/// Switches to the process's user and capability sets and sets no_new_privs. The seccomp
/// filter is not loaded here but by [`load_seccomp`], the last step before exec (runc's order),
/// so that nothing the runtime does trips over the container's profile; `seccomp_without_nnp`
/// keeps CAP_SYS_ADMIN until then when the process would not have it. The init calls this
/// before it reports Ready, so a failure (capabilities this host cannot grant, say) fails
/// `create`, as with runc.
pub fn switch_identity(
    p: &Process,
    seccomp_without_nnp: bool,
    setgroups_allowed: bool,
) -> Result<Option<HeldCaps>> {
    let nnp = p.no_new_privileges().unwrap_or(false);
    let user = p.user();
    if setgroups_allowed {
        let groups: Vec<u32> = user.additional_gids().clone().unwrap_or_default();
        berth_sys::process::setgroups(&groups)
            .map_err(|e| Error::Init(format!("process.user.additionalGids: setgroups: {e}")))?;
    }
    let wanted = p.capabilities().as_ref();
    let sys_admin = caps::Capability::CAP_SYS_ADMIN;
    // What the process ends with: the config's sets, or without them what setuid leaves (all
    // for root, none for another user).
    let (final_effective, final_permitted, final_inheritable) = match wanted {
        Some(c) => (
            to_caps(c.effective())?,
            to_caps(c.permitted())?,
            to_caps(c.inheritable())?,
        ),
        None if user.uid() == 0 => {
            let read = |s| caps::read(None, s).unwrap_or_default();
            (
                read(caps::CapSet::Effective),
                read(caps::CapSet::Permitted),
                read(caps::CapSet::Inheritable),
            )
        }
        None => (
            caps::CapsHashSet::new(),
            caps::CapsHashSet::new(),
            caps::read(None, caps::CapSet::Inheritable).unwrap_or_default(),
        ),
    };
    let hold = seccomp_without_nnp && !final_effective.contains(&sys_admin);
    let held = hold.then(|| HeldCaps {
        effective: mask(&final_effective),
        permitted: mask(&final_permitted),
        inheritable: mask(&final_inheritable),
    });
    if let Some(c) = wanted {
        let bounding = to_caps(c.bounding())?;
        for cap in caps::runtime::thread_all_supported() {
            if !bounding.contains(&cap) {
                caps::drop(None, caps::CapSet::Bounding, cap)
                    .map_err(|e| caps_err("dropping from the bounding set", e))?;
            }
        }
    }
    if wanted.is_some() || hold {
        caps::securebits::set_keepcaps(true).map_err(|e| caps_err("keepcaps", e))?;
    }
    rustix::thread::set_thread_res_gid(
        rustix::process::Gid::from_raw(user.gid()),
        rustix::process::Gid::from_raw(user.gid()),
        rustix::process::Gid::from_raw(user.gid()),
    )
    .map_err(|e| Error::Init(format!("process.user.gid: setresgid({}): {e}", user.gid())))?;
    rustix::thread::set_thread_res_uid(
        rustix::process::Uid::from_raw(user.uid()),
        rustix::process::Uid::from_raw(user.uid()),
        rustix::process::Uid::from_raw(user.uid()),
    )
    .map_err(|e| Error::Init(format!("process.user.uid: setresuid({}): {e}", user.uid())))?;
    let with_held = |set: &caps::CapsHashSet| {
        let mut s = set.clone();
        if hold {
            s.insert(sys_admin);
        }
        s
    };
    if let Some(c) = wanted {
        let effective = with_held(&final_effective);
        let permitted = with_held(&final_permitted);
        // The kernel wants effective ⊆ permitted at every step: widen permitted first when we
        // are root (nothing to widen after setuid to non-root), then narrow.
        caps::set(
            None,
            caps::CapSet::Effective,
            &effective
                .intersection(&caps::read(None, caps::CapSet::Permitted).unwrap_or_default())
                .copied()
                .collect(),
        )
        .map_err(|e| caps_err("setting effective", e))?;
        caps::set(None, caps::CapSet::Permitted, &permitted)
            .map_err(|e| caps_err("setting permitted", e))?;
        caps::set(None, caps::CapSet::Effective, &effective)
            .map_err(|e| caps_err("setting effective", e))?;
        caps::set(None, caps::CapSet::Inheritable, &final_inheritable)
            .map_err(|e| caps_err("setting inheritable", e))?;
        // The kernel only lets a capability be ambient when it is both permitted and
        // inheritable; runc's default spec lists ambient caps without inheritable ones and runc
        // runs it, so the others are skipped, not an error.
        for cap in to_caps(c.ambient())? {
            if final_permitted.contains(&cap) && final_inheritable.contains(&cap) {
                caps::raise(None, caps::CapSet::Ambient, cap)
                    .map_err(|e| caps_err(&format!("raising ambient {cap}"), e))?;
            }
        }
    } else if hold {
        // A non-root user without configured sets: setuid cleared the effective set, keepcaps
        // kept the permitted one; only CAP_SYS_ADMIN is needed until the filter is loaded.
        caps::set(None, caps::CapSet::Effective, &with_held(&final_effective))
            .map_err(|e| caps_err("setting effective", e))?;
    }
    if wanted.is_some() || hold {
        caps::securebits::set_keepcaps(false).map_err(|e| caps_err("keepcaps", e))?;
    }
    if let Some(mask) = user.umask() {
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(mask));
    } else {
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    }
    if nnp {
        rustix::thread::set_no_new_privs(true)
            .map_err(|e| Error::Init(format!("process.noNewPrivileges: {e}")))?;
    }
    Ok(held)
}

/// The last step before execve: loads the seccomp filter, then drops the capability held for
/// it. Nothing else runs under the filter but execve (and capset when held), so a profile
/// only has to allow what the container's program needs.
pub fn load_seccomp(seccomp: Option<&Filter>, held: Option<HeldCaps>) -> Result<()> {
    if let Some(f) = seccomp {
        f.load()?;
    }
    if let Some(h) = held {
        berth_sys::process::capset(h.effective, h.permitted, h.inheritable).map_err(|e| {
            Error::Init(format!(
                "process.capabilities: dropping CAP_SYS_ADMIN after loading linux.seccomp \
                 (the profile must allow capset without noNewPrivileges): {e}"
            ))
        })?;
    }
    Ok(())
}

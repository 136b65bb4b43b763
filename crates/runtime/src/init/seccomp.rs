//! linux.seccomp → a libseccomp filter: default action with defaultErrnoRet, architectures,
//! flags, per-syscall actions with errnoRet and argument conditions (the full OCI schema).
//!
//! Unknown syscall names are skipped, as runc does: profiles name syscalls newer than the
//! kernel or libseccomp at hand. SCMP_ACT_NOTIFY hands the filter's notify fd to the seccomp
//! agent at linux.seccomp.listenerPath: one connection, the container process state (JSON,
//! `fds: ["seccompFd"]`, `metadata`, `state`) with the fd as SCM_RIGHTS, then closed. The
//! socket is connected before pivot_root (it is a host path) and used right after loading.

use crate::error::{Error, Result};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};
use std::str::FromStr;

const EPERM: u32 = 1;

fn bad(msg: String) -> Error {
    Error::Config(format!("linux.seccomp: {msg}"))
}

fn action(a: LinuxSeccompAction, errno: Option<u32>) -> Result<ScmpAction> {
    Ok(match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno.unwrap_or(EPERM) as i32),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(errno.unwrap_or(EPERM) as u16),
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
    })
}

fn compare(op: LinuxSeccompOperator, value: u64, value_two: Option<u64>) -> (ScmpCompareOp, u64) {
    match op {
        LinuxSeccompOperator::ScmpCmpNe => (ScmpCompareOp::NotEqual, value),
        LinuxSeccompOperator::ScmpCmpLt => (ScmpCompareOp::Less, value),
        LinuxSeccompOperator::ScmpCmpLe => (ScmpCompareOp::LessOrEqual, value),
        LinuxSeccompOperator::ScmpCmpEq => (ScmpCompareOp::Equal, value),
        LinuxSeccompOperator::ScmpCmpGe => (ScmpCompareOp::GreaterEqual, value),
        LinuxSeccompOperator::ScmpCmpGt => (ScmpCompareOp::Greater, value),
        // OCI: value is the mask, valueTwo the datum compared after masking.
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            (ScmpCompareOp::MaskedEqual(value), value_two.unwrap_or(0))
        }
    }
}

/// Builds (but does not load) the filter.
pub fn build(s: &LinuxSeccomp) -> Result<ScmpFilterContext> {
    let lib = |what: &str, e: libseccomp::error::SeccompError| bad(format!("{what}: {e}"));
    let default = action(s.default_action(), s.default_errno_ret())?;
    let mut ctx = ScmpFilterContext::new(default).map_err(|e| lib("creating filter", e))?;
    // We set no_new_privs ourselves when the process asks for it; libseccomp must not force it.
    ctx.set_ctl_nnp(false).map_err(|e| lib("nnp", e))?;
    for (i, arch) in s.architectures().iter().flatten().enumerate() {
        let name = serde_json::to_value(arch)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let a = ScmpArch::from_str(&name)
            .map_err(|_| bad(format!("architectures[{i}]: unknown architecture {name:?}")))?;
        ctx.add_arch(a)
            .map_err(|e| lib(&format!("architectures[{i}] {name}"), e))?;
    }
    for flag in s.flags().iter().flatten() {
        match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => ctx.set_ctl_log(true),
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => ctx.set_ctl_tsync(true),
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => ctx.set_ctl_ssb(true),
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => ctx.set_ctl_waitkill(true),
        }
        .map_err(|e| lib(&format!("flag {flag:?}"), e))?;
    }
    for (i, rule) in s.syscalls().iter().flatten().enumerate() {
        let act = action(rule.action(), rule.errno_ret())?;
        if act == default {
            continue;
        }
        let args: Vec<ScmpArgCompare> = rule
            .args()
            .iter()
            .flatten()
            .map(|a| {
                let (op, datum) = compare(a.op(), a.value(), a.value_two());
                ScmpArgCompare::new(a.index() as u32, op, datum)
            })
            .collect();
        let mut indices: Vec<usize> = rule.args().iter().flatten().map(|a| a.index()).collect();
        indices.sort_unstable();
        indices.dedup();
        let repeated_index = indices.len() != args.len();
        for name in rule.names() {
            let Ok(sys) = ScmpSyscall::from_name(name) else {
                continue;
            };
            let res = if args.is_empty() {
                ctx.add_rule(act, sys)
            } else if repeated_index {
                // libseccomp ANDs conditions on one rule and refuses two on the same argument:
                // conditions on a repeated index mean "any of", so add one rule each.
                args.iter()
                    .try_for_each(|c| {
                        ctx.add_rule_conditional(act, sys, std::slice::from_ref(c))
                            .map(|_| ())
                    })
                    .map(|()| &mut ctx)
            } else {
                ctx.add_rule_conditional(act, sys, &args)
            };
            res.map_err(|e| lib(&format!("syscalls[{i}] {name}"), e))?;
        }
    }
    Ok(ctx)
}

/// A built filter and, when it has notify rules, the connected seccomp agent.
#[derive(Debug)]
pub struct Filter {
    ctx: ScmpFilterContext,
    agent: Option<(std::os::unix::net::UnixStream, Vec<u8>)>,
}

fn uses_notify(s: &LinuxSeccomp) -> bool {
    s.default_action() == LinuxSeccompAction::ScmpActNotify
        || s.syscalls()
            .iter()
            .flatten()
            .any(|r| r.action() == LinuxSeccompAction::ScmpActNotify)
}

/// Builds the filter and connects to the seccomp agent when the filter needs one.
pub fn prepare(s: &LinuxSeccomp, state: &crate::state::StateOutput) -> Result<Filter> {
    let ctx = build(s)?;
    if !uses_notify(s) {
        return Ok(Filter { ctx, agent: None });
    }
    let path = s
        .listener_path()
        .as_ref()
        .ok_or_else(|| bad("listenerPath: SCMP_ACT_NOTIFY needs a seccomp agent socket".into()))?;
    let sock = std::os::unix::net::UnixStream::connect(path).map_err(|e| {
        bad(format!(
            "listenerPath: connecting to {}: {e}",
            path.display()
        ))
    })?;
    let message = serde_json::to_vec(&serde_json::json!({
        "ociVersion": state.oci_version,
        "fds": ["seccompFd"],
        "pid": state.pid,
        "metadata": s.listener_metadata().clone().unwrap_or_default(),
        "state": state,
    }))
    .map_err(|e| bad(format!("encoding the seccomp state: {e}")))?;
    Ok(Filter {
        ctx,
        agent: Some((sock, message)),
    })
}

impl Filter {
    /// Loads the filter into this process and hands the notify fd to the agent, if any.
    pub fn load(&self) -> Result<()> {
        self.ctx
            .load()
            .map_err(|e| Error::Init(format!("linux.seccomp: loading the filter: {e}")))?;
        if let Some((sock, message)) = &self.agent {
            let fd = self
                .ctx
                .get_notify_fd()
                .map_err(|e| Error::Init(format!("linux.seccomp: the notify fd: {e}")))?;
            berth_sys::net::send_fd_number(std::os::fd::AsFd::as_fd(sock), message, fd).map_err(
                |e| {
                    Error::Init(format!(
                        "linux.seccomp: sending the notify fd to listenerPath: {e}"
                    ))
                },
            )?;
            // The kernel made the notify fd close-on-exec: it does not reach the container.
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_style_profile_builds() {
        let s: LinuxSeccomp = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 38,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "flags": ["SECCOMP_FILTER_FLAG_LOG"],
            "syscalls": [
                {"names": ["read", "write", "no_such_syscall_xyz"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                          {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}
            ]
        }))
        .expect("profile");
        build(&s).expect("builds");
    }

    #[test]
    fn unknown_arch_names_the_field() {
        let s: LinuxSeccomp = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_PARISC"]
        }))
        .expect("profile");
        let e = build(&s).expect_err("must fail").to_string();
        assert!(e.contains("architectures[0]"), "{e}");
    }
}

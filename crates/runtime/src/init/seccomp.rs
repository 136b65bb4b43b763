//! linux.seccomp → a libseccomp filter: default action with defaultErrnoRet, architectures,
//! flags, per-syscall actions with errnoRet and argument conditions (the full OCI schema).
//!
//! Unknown syscall names are skipped, as runc does: profiles name syscalls newer than the
//! kernel or libseccomp at hand. SCMP_ACT_NOTIFY needs a listener (linux.seccomp.listenerPath)
//! and is reported as unsupported for now.

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
        LinuxSeccompAction::ScmpActNotify => {
            return Err(Error::Unsupported(
                "linux.seccomp: SCMP_ACT_NOTIFY is not supported yet".into(),
            ))
        }
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

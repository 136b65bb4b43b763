//! HostConfig.SecurityOpt, parsed as moby's `parseSecurityOpt`: no-new-privileges, seccomp,
//! and the LSM options (label, apparmor), which are accepted and have no effect here.

use super::seccomp::Profile;
use crate::{Error, Result};

/// Which seccomp profile applies.
#[derive(Debug, Clone, Default)]
pub enum Seccomp {
    /// Docker's default profile (unconfined for privileged containers).
    #[default]
    Default,
    /// `seccomp=unconfined`.
    Unconfined,
    /// A profile given as JSON content (what the docker CLI sends) or a file path.
    Custom(Profile),
}

/// The parsed options.
#[derive(Debug, Clone, Default)]
pub struct SecurityOpts {
    pub no_new_privileges: bool,
    pub seccomp: Seccomp,
}

fn invalid(n: u8, opt: &str) -> Error {
    Error::InvalidArgument(format!("invalid --security-opt {n}: {opt:?}"))
}

/// Parses every option; unknown keys are Docker's "invalid --security-opt" errors.
pub fn parse(opts: &[String]) -> Result<SecurityOpts> {
    let mut out = SecurityOpts::default();
    for opt in opts {
        if opt == "no-new-privileges" {
            out.no_new_privileges = true;
            continue;
        }
        if opt == "disable" {
            continue;
        }
        let (key, value) = opt
            .split_once('=')
            .or_else(|| opt.split_once(':'))
            .ok_or_else(|| invalid(1, opt))?;
        match key {
            "label" | "apparmor" | "writable-cgroups" => {}
            "no-new-privileges" => {
                out.no_new_privileges = match value {
                    "1" | "t" | "T" | "true" | "TRUE" | "True" => true,
                    "0" | "f" | "F" | "false" | "FALSE" | "False" => false,
                    _ => return Err(invalid(2, opt)),
                }
            }
            "seccomp" => {
                out.seccomp = match value {
                    "unconfined" => Seccomp::Unconfined,
                    "" | "builtin" => Seccomp::Default,
                    v if v.trim_start().starts_with('{') => Seccomp::Custom(Profile::parse(v)?),
                    path => {
                        let content = std::fs::read_to_string(path).map_err(|e| {
                            Error::InvalidArgument(format!(
                                "invalid SecurityOpt seccomp profile {path:?}: {e}"
                            ))
                        })?;
                        Seccomp::Custom(Profile::parse(&content)?)
                    }
                }
            }
            _ => return Err(invalid(2, opt)),
        }
    }
    Ok(out)
}

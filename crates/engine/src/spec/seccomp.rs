//! Seccomp: Docker's profile format (what `--security-opt seccomp=FILE` carries), Docker's
//! default profile, and the conversion to the OCI `linux.seccomp` for one container: rules are
//! kept or dropped by the container's capabilities, the host's architecture and kernel version
//! (moby's `profiles/seccomp/seccomp_linux.go` does the same).
//!
//! The default profile lives in `seccomp_default.json` in a compact form of Docker's rules
//! (one object per rule, conditions as flat keys), so a diff against a new Docker release reads
//! as a list of syscalls.

use crate::{Error, Result};
use serde::Deserialize;
use serde_json::{json, Value};

/// A seccomp profile in Docker's format.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub default_action: String,
    #[serde(default)]
    pub default_errno_ret: Option<u32>,
    #[serde(default)]
    pub architectures: Vec<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub arch_map: Vec<ArchMap>,
    #[serde(default, deserialize_with = "null_default")]
    pub syscalls: Vec<Rule>,
    #[serde(default, deserialize_with = "null_default")]
    pub flags: Vec<String>,
    #[serde(default)]
    pub listener_path: Option<String>,
    #[serde(default)]
    pub listener_metadata: Option<String>,
}

/// One native architecture and the ones its syscalls may also be made through.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMap {
    pub architecture: String,
    #[serde(default, deserialize_with = "null_default")]
    pub sub_architectures: Vec<String>,
}

/// One rule.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// The deprecated single-name form.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub names: Vec<String>,
    pub action: String,
    #[serde(default)]
    pub errno_ret: Option<u32>,
    #[serde(default, deserialize_with = "null_default")]
    pub args: Vec<Arg>,
    #[serde(default)]
    pub includes: Filter,
    #[serde(default)]
    pub excludes: Filter,
}

/// A syscall argument comparison.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Arg {
    pub index: u32,
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
    pub op: String,
}

/// When a rule applies (includes) or does not (excludes).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    #[serde(default, deserialize_with = "null_default")]
    pub arches: Vec<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub caps: Vec<String>,
    #[serde(default)]
    pub min_kernel: Option<String>,
}

fn null_default<'de, D: serde::Deserializer<'de>, T: Default + Deserialize<'de>>(
    d: D,
) -> std::result::Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

impl Profile {
    /// Parses a profile in Docker's format, checking what Docker checks.
    pub fn parse(content: &str) -> Result<Profile> {
        let bad = |m: String| {
            Error::InvalidArgument(format!("invalid seccomp profile in SecurityOpt: {m}"))
        };
        let mut de = serde_json::Deserializer::from_str(content);
        let p: Profile =
            serde_path_to_error::deserialize(&mut de).map_err(|e| bad(e.to_string()))?;
        if !p.architectures.is_empty() && !p.arch_map.is_empty() {
            return Err(bad("use either 'architectures' or 'archMap'".into()));
        }
        for r in &p.syscalls {
            if r.name.is_some() && !r.names.is_empty() {
                return Err(bad("use either 'name' or 'names'".into()));
            }
        }
        Ok(p)
    }
}

/// The compact form of `seccomp_default.json`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Compact {
    #[allow(dead_code)]
    comment: String,
    default_action: String,
    default_errno_ret: u32,
    arch_map: std::collections::BTreeMap<String, Vec<String>>,
    rules: Vec<CompactRule>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CompactRule {
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    errno: Option<u32>,
    #[serde(default)]
    args: Vec<(u32, u64, String)>,
    #[serde(default)]
    caps: Vec<String>,
    #[serde(default)]
    not_caps: Vec<String>,
    #[serde(default)]
    arches: Vec<String>,
    #[serde(default)]
    not_arches: Vec<String>,
    #[serde(default)]
    min_kernel: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    why: Option<String>,
}

const DEFAULT_PROFILE: &str = include_str!("seccomp_default.json");

/// Docker's default profile.
pub fn default_profile() -> Result<Profile> {
    let c: Compact = serde_json::from_str(DEFAULT_PROFILE)
        .map_err(|e| Error::internal("the built-in seccomp profile", e))?;
    let syscalls = c
        .rules
        .into_iter()
        .map(|r| {
            let (names, action, errno_ret) = match r.errno {
                Some(e) => (r.names, "SCMP_ACT_ERRNO".to_string(), Some(e)),
                None => (r.allow, "SCMP_ACT_ALLOW".to_string(), None),
            };
            Rule {
                name: None,
                names,
                action,
                errno_ret,
                args: r
                    .args
                    .into_iter()
                    .map(|(index, value, op)| Arg {
                        index,
                        value,
                        value_two: 0,
                        op,
                    })
                    .collect(),
                includes: Filter {
                    arches: r.arches,
                    caps: r.caps,
                    min_kernel: r.min_kernel,
                },
                excludes: Filter {
                    arches: r.not_arches,
                    caps: r.not_caps,
                    min_kernel: None,
                },
            }
        })
        .collect();
    Ok(Profile {
        default_action: c.default_action,
        default_errno_ret: Some(c.default_errno_ret),
        architectures: Vec::new(),
        arch_map: c
            .arch_map
            .into_iter()
            .map(|(architecture, sub_architectures)| ArchMap {
                architecture,
                sub_architectures,
            })
            .collect(),
        syscalls,
        flags: Vec::new(),
        listener_path: None,
        listener_metadata: None,
    })
}

/// The host as the profile's conditions see it.
#[derive(Debug, Clone)]
pub struct Host {
    /// Go's GOARCH name ("amd64"), as profiles name architectures in conditions.
    pub goarch: &'static str,
    /// libseccomp's name of the native architecture ("SCMP_ARCH_X86_64").
    pub scmp_arch: &'static str,
    /// (major, minor) of the running kernel.
    pub kernel: (u32, u32),
}

impl Host {
    /// The running host.
    pub fn current() -> Host {
        let (goarch, scmp_arch) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", "SCMP_ARCH_X86_64"),
            "aarch64" => ("arm64", "SCMP_ARCH_AARCH64"),
            "x86" => ("386", "SCMP_ARCH_X86"),
            "arm" => ("arm", "SCMP_ARCH_ARM"),
            "s390x" => ("s390x", "SCMP_ARCH_S390X"),
            "riscv64" => ("riscv64", "SCMP_ARCH_RISCV64"),
            "powerpc64" => ("ppc64le", "SCMP_ARCH_PPC64LE"),
            _ => ("unknown", "SCMP_ARCH_NATIVE"),
        };
        let uname = rustix::system::uname();
        let release = uname.release().to_string_lossy().into_owned();
        Host {
            goarch,
            scmp_arch,
            kernel: parse_kernel(&release).unwrap_or((0, 0)),
        }
    }
}

fn parse_kernel(v: &str) -> Option<(u32, u32)> {
    let mut it = v.split(|c: char| !c.is_ascii_digit());
    let major = it.next()?.parse().ok()?;
    let minor = it.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

/// The OCI `linux.seccomp` of `profile` for a container holding `caps` on this host.
pub fn to_oci(profile: &Profile, caps: &[String]) -> Result<Value> {
    to_oci_for(profile, caps, &Host::current())
}

/// [`to_oci`] for a given host (tests use other architectures and kernels).
pub fn to_oci_for(profile: &Profile, caps: &[String], host: &Host) -> Result<Value> {
    let has_cap = |c: &String| caps.iter().any(|x| x == c);
    let kernel_at_least = |v: &str| -> Result<bool> {
        let want = parse_kernel(v).ok_or_else(|| {
            Error::InvalidArgument(format!("invalid seccomp profile: minKernel {v:?}"))
        })?;
        Ok(host.kernel >= want)
    };

    let mut syscalls = Vec::new();
    for rule in &profile.syscalls {
        let inc = &rule.includes;
        let exc = &rule.excludes;
        if !inc.arches.is_empty() && !inc.arches.iter().any(|a| a == host.goarch) {
            continue;
        }
        if !inc.caps.is_empty() && !inc.caps.iter().all(has_cap) {
            continue;
        }
        if let Some(k) = &inc.min_kernel {
            if !kernel_at_least(k)? {
                continue;
            }
        }
        if exc.arches.iter().any(|a| a == host.goarch) || exc.caps.iter().any(has_cap) {
            continue;
        }
        if let Some(k) = &exc.min_kernel {
            if kernel_at_least(k)? {
                continue;
            }
        }
        let names: Vec<String> = match &rule.name {
            Some(n) => vec![n.clone()],
            None => rule.names.clone(),
        };
        let mut s = json!({"names": names, "action": rule.action});
        if let Some(e) = rule.errno_ret {
            s["errnoRet"] = json!(e);
        }
        if !rule.args.is_empty() {
            s["args"] = rule
                .args
                .iter()
                .map(|a| json!({"index": a.index, "value": a.value, "valueTwo": a.value_two, "op": a.op}))
                .collect();
        }
        syscalls.push(s);
    }

    let architectures: Vec<String> = if !profile.architectures.is_empty() {
        profile.architectures.clone()
    } else {
        profile
            .arch_map
            .iter()
            .filter(|m| m.architecture == host.scmp_arch)
            .flat_map(|m| {
                std::iter::once(m.architecture.clone()).chain(m.sub_architectures.clone())
            })
            .collect()
    };
    let mut out = json!({"defaultAction": profile.default_action, "syscalls": syscalls});
    if let Some(e) = profile.default_errno_ret {
        out["defaultErrnoRet"] = json!(e);
    }
    if !architectures.is_empty() {
        out["architectures"] = json!(architectures);
    }
    if !profile.flags.is_empty() {
        out["flags"] = json!(profile.flags);
    }
    if let Some(p) = &profile.listener_path {
        out["listenerPath"] = json!(p);
    }
    if let Some(m) = &profile.listener_metadata {
        out["listenerMetadata"] = json!(m);
    }
    // Fail here, naming the option, rather than in the runtime.
    serde_json::from_value::<oci_spec::runtime::LinuxSeccomp>(out.clone()).map_err(|e| {
        Error::InvalidArgument(format!("invalid seccomp profile in SecurityOpt: {e}"))
    })?;
    Ok(out)
}

//! Device access rules: the OCI rule list is normalised into [`Rule`]s and folded through an
//! emulation of the kernel's cgroup v1 devices controller ([`emulator`]). Both backends start
//! from that emulated end state, so v1 and v2 give a container the same devices:
//! - v1 writes the minimal transition from the cgroup's current `devices.list` to the target
//!   (no "deny all" window on `update` when the default does not change);
//! - v2 compiles the target into a `BPF_PROG_TYPE_CGROUP_DEVICE` program ([`bpf_program`]).

pub(crate) mod bpf_program;
pub(crate) mod emulator;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::CgroupError;

/// Access bits, identical to the kernel's `DEVCG_ACC_*` / `BPF_DEVCG_ACC_*`.
pub(crate) const ACC_MKNOD: u8 = 1;
pub(crate) const ACC_READ: u8 = 2;
pub(crate) const ACC_WRITE: u8 = 4;
pub(crate) const ACC_ALL: u8 = ACC_MKNOD | ACC_READ | ACC_WRITE;

/// Device kind of an exception (`a` rules with numbers are split into one of each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Kind {
    Block,
    Char,
}

impl Kind {
    pub(crate) fn letter(self) -> char {
        match self {
            Kind::Block => 'b',
            Kind::Char => 'c',
        }
    }
}

/// The identity of a kernel device exception: exceptions with the same key merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Key {
    pub kind: Kind,
    /// `None` is the wildcard `*`.
    pub major: Option<u32>,
    pub minor: Option<u32>,
}

/// One normalised rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rule {
    /// `a *:* ...`: resets the cgroup to allow-all or deny-all with no exceptions.
    Reset { allow: bool },
    /// A rule for one key.
    Exception { allow: bool, key: Key, access: u8 },
}

pub(crate) fn access_string(access: u8) -> String {
    let mut s = String::with_capacity(3);
    if access & ACC_READ != 0 {
        s.push('r');
    }
    if access & ACC_WRITE != 0 {
        s.push('w');
    }
    if access & ACC_MKNOD != 0 {
        s.push('m');
    }
    s
}

pub(crate) fn parse_access(s: &str) -> Option<u8> {
    let mut acc = 0;
    for c in s.chars() {
        acc |= match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => return None,
        };
    }
    Some(acc)
}

fn number(index: usize, what: &str, v: Option<i64>) -> Result<Option<u32>, CgroupError> {
    match v {
        None => Ok(None),
        Some(n) if n < 0 => Ok(None), // -1 is how OCI tools spell the wildcard
        Some(n) => u32::try_from(n)
            .map(Some)
            .map_err(|_| CgroupError::InvalidDeviceRule {
                index,
                reason: format!("{what} {n} is out of range"),
            }),
    }
}

/// Normalises the OCI rule list. Missing type means `a`, missing access means `rwm`; type `u`
/// (unbuffered char) is a char device; `p` (FIFO) cannot be controlled by the device cgroup.
pub(crate) fn normalize(rules: &[LinuxDeviceCgroup]) -> Result<Vec<Rule>, CgroupError> {
    let mut out = Vec::with_capacity(rules.len());
    for (index, r) in rules.iter().enumerate() {
        let access = match r.access().as_deref() {
            None | Some("") => ACC_ALL,
            Some(s) => parse_access(s).ok_or_else(|| CgroupError::InvalidDeviceRule {
                index,
                reason: format!("access {s:?} may only contain 'r', 'w' and 'm'"),
            })?,
        };
        let major = number(index, "major", r.major())?;
        let minor = number(index, "minor", r.minor())?;
        let kinds: &[Kind] = match r.typ().unwrap_or(LinuxDeviceType::A) {
            LinuxDeviceType::A => {
                if major.is_none() && minor.is_none() {
                    out.push(Rule::Reset { allow: r.allow() });
                    continue;
                }
                &[Kind::Block, Kind::Char]
            }
            LinuxDeviceType::B => &[Kind::Block],
            LinuxDeviceType::C | LinuxDeviceType::U => &[Kind::Char],
            LinuxDeviceType::P => {
                return Err(CgroupError::InvalidDeviceRule {
                    index,
                    reason: "type 'p' (FIFO) cannot be used in a device cgroup rule".into(),
                })
            }
        };
        for &kind in kinds {
            out.push(Rule::Exception {
                allow: r.allow(),
                key: Key { kind, major, minor },
                access,
            });
        }
    }
    Ok(out)
}

//! An emulation of the kernel's cgroup v1 device controller (`security/device_cgroup.c`), the
//! same idea as runc's `libcontainer/cgroups/devices` emulator:
//! - writing `a` to `devices.allow`/`devices.deny` resets to allow-all/deny-all, no exceptions;
//! - in allow-all mode a deny rule adds a deny exception and an allow rule removes access bits
//!   from the exception with exactly the same key; in deny-all mode the reverse;
//! - exceptions are matched by exact key only, so a rule cannot punch a hole into a wildcard
//!   exception (neither can the kernel).
//!
//! `devices.list` only shows `a *:* rwm` in allow-all mode (the deny exceptions are not listed),
//! so a transition away from an allow-all state always starts with a reset.

use super::{access_string, parse_access, Key, Kind, Rule};

/// The device state of one cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeviceState {
    pub default_allow: bool,
    /// In allow-all mode: denied accesses; in deny-all mode: allowed accesses. Insertion order.
    pub exceptions: Vec<(Key, u8)>,
}

/// A line to write to `devices.allow` (`allow == true`) or `devices.deny`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Write {
    pub allow: bool,
    pub line: String,
}

fn key_line(key: &Key, access: u8) -> String {
    let num = |n: Option<u32>| n.map_or_else(|| "*".to_string(), |n| n.to_string());
    format!(
        "{} {}:{} {}",
        key.kind.letter(),
        num(key.major),
        num(key.minor),
        access_string(access)
    )
}

impl DeviceState {
    /// What a fresh cgroup below an unrestricted parent has (and what v2 means without a filter).
    pub(crate) fn allow_all() -> Self {
        DeviceState {
            default_allow: true,
            exceptions: Vec::new(),
        }
    }

    /// Parses `devices.list`.
    pub(crate) fn from_list(list: &str) -> Option<Self> {
        let mut st = DeviceState {
            default_allow: false,
            exceptions: Vec::new(),
        };
        for line in list.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let mut parts = line.split(' ');
            let (t, nums, acc) = (parts.next()?, parts.next()?, parts.next().unwrap_or(""));
            if t == "a" {
                return Some(DeviceState::allow_all());
            }
            let kind = match t {
                "b" => Kind::Block,
                "c" => Kind::Char,
                _ => return None,
            };
            let (ma, mi) = nums.split_once(':')?;
            let num = |s: &str| -> Option<Option<u32>> {
                if s == "*" {
                    Some(None)
                } else {
                    s.parse().ok().map(Some)
                }
            };
            st.add(
                Key {
                    kind,
                    major: num(ma)?,
                    minor: num(mi)?,
                },
                parse_access(acc)?,
            );
        }
        Some(st)
    }

    fn add(&mut self, key: Key, access: u8) {
        if let Some(e) = self.exceptions.iter_mut().find(|(k, _)| *k == key) {
            e.1 |= access;
        } else {
            self.exceptions.push((key, access));
        }
    }

    fn remove(&mut self, key: Key, access: u8) {
        if let Some(e) = self.exceptions.iter_mut().find(|(k, _)| *k == key) {
            e.1 &= !access;
        }
        self.exceptions.retain(|(_, a)| *a != 0);
    }

    /// Applies one rule with the kernel's semantics.
    pub(crate) fn apply(&mut self, rule: &Rule) {
        match *rule {
            Rule::Reset { allow } => {
                self.default_allow = allow;
                self.exceptions.clear();
            }
            Rule::Exception { allow, key, access } => {
                // An exception records the opposite of the default.
                if allow == self.default_allow {
                    self.remove(key, access);
                } else {
                    self.add(key, access);
                }
            }
        }
    }

    /// Applies a whole rule list.
    pub(crate) fn apply_all(&mut self, rules: &[Rule]) {
        for r in rules {
            self.apply(r);
        }
    }

    /// The writes that take a cgroup from `self` (its current state) to `target`.
    pub(crate) fn transition(&self, target: &DeviceState) -> Vec<Write> {
        let mut out = Vec::new();
        let mut current = self.clone();
        if current.default_allow || current.default_allow != target.default_allow {
            out.push(Write {
                allow: target.default_allow,
                line: "a".to_string(),
            });
            current = DeviceState {
                default_allow: target.default_allow,
                exceptions: Vec::new(),
            };
        }
        // Exceptions are written to the file opposite to the default (deny in allow-all mode);
        // removing one is a write to the other file.
        let add_file = !target.default_allow;
        for (key, acc) in &current.exceptions {
            let keep = target
                .exceptions
                .iter()
                .find(|(k, _)| k == key)
                .map_or(0, |(_, a)| *a);
            let drop = acc & !keep;
            if drop != 0 {
                out.push(Write {
                    allow: !add_file,
                    line: key_line(key, drop),
                });
            }
        }
        for (key, acc) in &target.exceptions {
            let have = current
                .exceptions
                .iter()
                .find(|(k, _)| k == key)
                .map_or(0, |(_, a)| *a);
            let add = acc & !have;
            if add != 0 {
                out.push(Write {
                    allow: add_file,
                    line: key_line(key, add),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::{normalize, ACC_ALL, ACC_MKNOD, ACC_READ, ACC_WRITE};
    use super::*;
    use oci_spec::runtime::{LinuxDeviceCgroupBuilder, LinuxDeviceType};

    fn rule(
        allow: bool,
        t: Option<LinuxDeviceType>,
        ma: Option<i64>,
        mi: Option<i64>,
        acc: &str,
    ) -> oci_spec::runtime::LinuxDeviceCgroup {
        let mut b = LinuxDeviceCgroupBuilder::default().allow(allow).access(acc);
        if let Some(t) = t {
            b = b.typ(t);
        }
        if let Some(m) = ma {
            b = b.major(m);
        }
        if let Some(m) = mi {
            b = b.minor(m);
        }
        b.build().expect("valid rule")
    }

    fn key(kind: Kind, ma: Option<u32>, mi: Option<u32>) -> Key {
        Key {
            kind,
            major: ma,
            minor: mi,
        }
    }

    #[test]
    fn deny_all_then_allow_list() {
        use LinuxDeviceType::{B, C};
        let rules = normalize(&[
            rule(false, None, None, None, "rwm"),
            rule(true, Some(C), None, None, "m"),
            rule(true, Some(B), None, None, "m"),
            rule(true, Some(C), Some(1), Some(3), "rwm"),
            rule(true, Some(C), Some(1), Some(3), "rw"),
            rule(true, Some(C), Some(1), Some(5), "rwm"),
            rule(false, Some(C), Some(1), Some(5), "w"),
        ])
        .expect("valid");
        let mut st = DeviceState::allow_all();
        st.apply_all(&rules);
        assert!(!st.default_allow);
        assert_eq!(
            st.exceptions,
            vec![
                (key(Kind::Char, None, None), ACC_MKNOD),
                (key(Kind::Block, None, None), ACC_MKNOD),
                (key(Kind::Char, Some(1), Some(3)), ACC_ALL),
                (key(Kind::Char, Some(1), Some(5)), ACC_READ | ACC_MKNOD),
            ]
        );
        // From a fresh (allow-all) cgroup: reset, then the allows.
        let w = DeviceState::allow_all().transition(&st);
        let lines: Vec<(bool, &str)> = w.iter().map(|w| (w.allow, w.line.as_str())).collect();
        assert_eq!(
            lines,
            vec![
                (false, "a"),
                (true, "c *:* m"),
                (true, "b *:* m"),
                (true, "c 1:3 rwm"),
                (true, "c 1:5 rm"),
            ]
        );
        // An update that keeps the default writes only the difference: no deny-all window.
        let mut next = DeviceState::allow_all();
        next.apply_all(
            &normalize(&[
                rule(false, None, None, None, "rwm"),
                rule(true, Some(C), Some(1), Some(3), "rwm"),
                rule(true, Some(C), Some(1), Some(5), "rwm"),
            ])
            .expect("valid"),
        );
        let w = st.transition(&next);
        let lines: Vec<(bool, &str)> = w.iter().map(|w| (w.allow, w.line.as_str())).collect();
        assert_eq!(
            lines,
            vec![(false, "c *:* m"), (false, "b *:* m"), (true, "c 1:5 w")]
        );
        // devices.list round trip.
        let list = "c *:* m\nb *:* m\nc 1:3 rwm\nc 1:5 rm\n";
        assert_eq!(DeviceState::from_list(list), Some(st.clone()));
        assert!(DeviceState::from_list(list)
            .expect("parses")
            .transition(&st)
            .is_empty());
    }

    #[test]
    fn allow_all_and_cannot_punch_holes() {
        use LinuxDeviceType::C;
        let rules = normalize(&[
            rule(false, None, None, None, "rwm"),
            rule(true, Some(C), Some(1), Some(3), "rwm"),
            rule(true, None, None, None, "rwm"),
            rule(false, Some(C), Some(10), Some(200), "rwm"),
        ])
        .expect("valid");
        let mut st = DeviceState::allow_all();
        st.apply_all(&rules);
        assert!(st.default_allow);
        assert_eq!(
            st.exceptions,
            vec![(key(Kind::Char, Some(10), Some(200)), ACC_ALL)]
        );
        // Leaving allow-all always resets (devices.list hides deny exceptions).
        let w = st.transition(&st);
        assert_eq!(
            w[0],
            Write {
                allow: true,
                line: "a".into()
            }
        );
        assert_eq!(
            w[1],
            Write {
                allow: false,
                line: "c 10:200 rwm".into()
            }
        );

        // Denying one device out of a wildcard allow has no effect, as in the kernel.
        let mut st = DeviceState::allow_all();
        st.apply_all(
            &normalize(&[
                rule(false, None, None, None, "rwm"),
                rule(true, Some(C), None, None, "rwm"),
                rule(false, Some(C), Some(1), Some(3), "rwm"),
            ])
            .expect("valid"),
        );
        assert_eq!(st.exceptions, vec![(key(Kind::Char, None, None), ACC_ALL)]);
        // Type 'a' with numbers means both kinds.
        let r = normalize(&[rule(true, None, Some(4), None, "rw")]).expect("valid");
        assert_eq!(r.len(), 2);
        assert_eq!(
            r[1],
            Rule::Exception {
                allow: true,
                key: key(Kind::Char, Some(4), None),
                access: ACC_READ | ACC_WRITE
            }
        );
        assert!(normalize(&[rule(true, Some(LinuxDeviceType::P), None, None, "rwm")]).is_err());
        assert!(normalize(&[rule(true, Some(C), Some(1), Some(3), "rwx")]).is_err());
    }
}

//! Capabilities: Docker's default set, CapAdd / CapDrop (moby's `oci/caps` TweakCapabilities),
//! and every capability for privileged containers.

use crate::{Error, Result};

/// Docker's default capabilities (`oci/defaults.go`).
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability Linux defines, by number.
pub const ALL_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The capabilities the running kernel knows (Docker's "ALL" and privileged set): the
/// runtime cannot grant a capability beyond /proc/sys/kernel/cap_last_cap.
pub fn host_capabilities() -> Vec<String> {
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(ALL_CAPABILITIES.len() - 1);
    ALL_CAPABILITIES
        .iter()
        .take(last + 1)
        .map(|s| s.to_string())
        .collect()
}

/// "sys_admin", "CAP_SYS_ADMIN", "Sys_Admin" → "CAP_SYS_ADMIN"; "all" → "ALL".
fn normalize(cap: &str, field: &str) -> Result<String> {
    let upper = cap.trim().to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(upper);
    }
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    if ALL_CAPABILITIES.contains(&full.as_str()) {
        Ok(full)
    } else {
        Err(Error::InvalidArgument(format!(
            "invalid {field}: unknown capability: {cap:?}"
        )))
    }
}

/// The bounding/effective/permitted set: all for privileged; otherwise Docker's defaults
/// tweaked by CapAdd / CapDrop ("ALL" in CapAdd = every capability but the dropped ones; "ALL"
/// in CapDrop = only the added ones).
pub fn effective(cap_add: &[String], cap_drop: &[String], privileged: bool) -> Result<Vec<String>> {
    if privileged {
        return Ok(host_capabilities());
    }
    let add = cap_add
        .iter()
        .map(|c| normalize(c, "HostConfig.CapAdd"))
        .collect::<Result<Vec<_>>>()?;
    let drop = cap_drop
        .iter()
        .map(|c| normalize(c, "HostConfig.CapDrop"))
        .collect::<Result<Vec<_>>>()?;
    let has = |v: &[String], c: &str| v.iter().any(|x| x == c);
    let mut caps: Vec<String> = Vec::new();
    let mut push = |c: String| {
        if c != "ALL" && !caps.contains(&c) {
            caps.push(c);
        }
    };
    if has(&add, "ALL") {
        for c in host_capabilities() {
            if !has(&drop, &c) {
                push(c);
            }
        }
    } else if has(&drop, "ALL") {
        add.into_iter().for_each(&mut push);
    } else {
        for c in DEFAULT_CAPABILITIES {
            if !has(&drop, c) {
                push(c.to_string());
            }
        }
        add.into_iter().for_each(&mut push);
    }
    Ok(caps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn default_set_is_dockers() {
        let c = effective(&[], &[], false).expect("ok");
        assert_eq!(c.len(), 14);
        for want in ["CAP_CHOWN", "CAP_NET_RAW", "CAP_AUDIT_WRITE", "CAP_SETFCAP"] {
            assert!(c.contains(&want.to_string()), "{want}");
        }
        assert!(!c.contains(&"CAP_SYS_ADMIN".to_string()));
        assert!(!c.contains(&"CAP_NET_ADMIN".to_string()));
    }

    #[test]
    fn add_and_drop_any_spelling() {
        let c = effective(
            &s(&["sys_admin", "Cap_Net_Admin"]),
            &s(&["net_raw", "CAP_MKNOD"]),
            false,
        )
        .expect("ok");
        assert!(c.contains(&"CAP_SYS_ADMIN".to_string()));
        assert!(c.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(!c.contains(&"CAP_NET_RAW".to_string()));
        assert!(!c.contains(&"CAP_MKNOD".to_string()));
        assert_eq!(c.len(), 14);
    }

    #[test]
    fn all_in_add_or_drop() {
        let only = effective(&s(&["chown"]), &s(&["all"]), false).expect("ok");
        assert_eq!(only, s(&["CAP_CHOWN"]));
        let none = effective(&[], &s(&["ALL"]), false).expect("ok");
        assert!(none.is_empty());
        let all_but = effective(&s(&["ALL"]), &s(&["SYS_ADMIN"]), false).expect("ok");
        assert!(all_but.contains(&"CAP_SYS_PTRACE".to_string()));
        assert!(!all_but.contains(&"CAP_SYS_ADMIN".to_string()));
        assert_eq!(all_but.len(), host_capabilities().len() - 1);
    }

    #[test]
    fn unknown_capability_names_the_field() {
        let e = effective(&s(&["FLY"]), &[], false).expect_err("must fail");
        assert!(matches!(e, Error::InvalidArgument(_)));
        assert!(e.to_string().contains("HostConfig.CapAdd"), "{e}");
        assert!(e.to_string().contains("FLY"), "{e}");
        let e = effective(&[], &s(&["CAP_NOPE"]), false).expect_err("must fail");
        assert!(e.to_string().contains("HostConfig.CapDrop"), "{e}");
    }

    #[test]
    fn privileged_gets_every_host_capability() {
        let c = effective(&[], &s(&["ALL"]), true).expect("ok");
        assert!(c.contains(&"CAP_SYS_ADMIN".to_string()));
        assert_eq!(c, host_capabilities());
    }
}

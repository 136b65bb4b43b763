//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// Skips (returns false, printing why) when `ok` is false, or panics under BERTH_TEST_STRICT=1.
pub fn require(ok: bool, reason: &str) -> bool {
    if ok {
        return true;
    }
    if std::env::var("BERTH_TEST_STRICT").is_ok_and(|v| v == "1") {
        panic!("required for this test: {reason} (BERTH_TEST_STRICT=1)");
    }
    eprintln!("SKIP: {reason}");
    false
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A cgroup name no other test (or test run) uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "berth-test-{prefix}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Every cgroup hierarchy directory mounted under /sys/fs/cgroup (v1 controllers, named ones,
/// and the unified mount on hybrid hosts).
pub fn hierarchy_mounts() -> Vec<PathBuf> {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out = Vec::new();
    for line in mi.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        if !(post.starts_with("cgroup ") || post.starts_with("cgroup2 ")) {
            continue;
        }
        let Some(mp) = pre.split(' ').nth(4) else {
            continue;
        };
        let mp = PathBuf::from(mp);
        if mp.starts_with("/sys/fs/cgroup")
            && mp != Path::new("/sys/fs/cgroup")
            && !out.contains(&mp)
        {
            out.push(mp);
        }
    }
    out
}

pub fn read(p: impl AsRef<Path>) -> String {
    std::fs::read_to_string(p.as_ref())
        .unwrap_or_else(|e| panic!("reading {}: {e}", p.as_ref().display()))
        .trim()
        .to_string()
}

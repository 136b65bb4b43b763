//! Small shared helpers: ids, time, atomic files, finding sibling binaries.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A new 64-hex-digit id, as Docker's container and exec ids.
pub fn new_id() -> String {
    use sha2::Digest;
    let mut seed = [0u8; 32];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut seed);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut h = sha2::Sha256::new();
    h.update(seed);
    h.update(now.to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    hex::encode(h.finalize())
}

/// Now in RFC 3339 with nanoseconds, UTC (Docker's timestamps).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

/// The zero time Docker shows for "never".
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Parses an RFC 3339 timestamp (as written by [`now_rfc3339`] or the monitor).
pub fn parse_rfc3339(s: &str) -> Option<std::time::SystemTime> {
    humantime::parse_rfc3339_weak(s.trim_end_matches('Z'))
        .ok()
        .or_else(|| humantime::parse_rfc3339(s).ok())
}

/// Seconds since the epoch of an RFC 3339 timestamp (0 when unparsable).
pub fn unix_seconds(s: &str) -> i64 {
    parse_rfc3339(s)
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Writes `bytes` to `path` atomically: temp file, fsync, rename, fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_mode(path, bytes, None)
}

/// [`write_atomic`], the file getting exactly `mode` (whatever the umask) before it is renamed
/// into place, so no reader ever sees it with other permissions.
pub fn write_atomic_mode(path: &Path, bytes: &[u8], mode: Option<u32>) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    // Unique per write, not only per process: two tasks of the daemon may write one file at
    // once (a container's /etc files on start and on network connect).
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.tmp-{}-{seq}", std::process::id()));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        if let Some(mode) = mode {
            f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        }
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// A binary installed next to the running executable, else the bare name for a PATH lookup.
pub fn sibling_or_path(name: &str) -> PathBuf {
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
            // Test binaries live in target/debug/deps; the binaries one level up.
            if let Some(up) = dir.parent() {
                let p = up.join(name);
                if p.is_file() {
                    return p;
                }
            }
        }
    }
    PathBuf::from(name)
}

/// Docker's name rule: `/?[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn valid_container_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphanumeric() => {}
        _ => return false,
    }
    name.len() >= 2 && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// Whether `path` is a mount point, from /proc/self/mountinfo (the 5th field, with the
/// kernel's octal escapes for spaces and the like).
pub fn is_mountpoint(path: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.to_string_lossy();
    info.lines().any(|l| {
        l.split(' ')
            .nth(4)
            .map(|p| unescape_mountinfo(p) == want)
            .unwrap_or(false)
    })
}

pub(crate) fn unescape_mountinfo(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            if let Ok(n) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(n as char);
                i += 4;
                continue;
            }
        }
        out.push(b[i] as char);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_hex() {
        let a = new_id();
        let b = new_id();
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn names_follow_docker() {
        assert!(valid_container_name("web_1.a-b"));
        assert!(!valid_container_name("a"));
        assert!(!valid_container_name("_x"));
        assert!(!valid_container_name("a/b"));
    }

    #[test]
    fn timestamps_round_trip() {
        let now = now_rfc3339();
        assert!(unix_seconds(&now) > 1_700_000_000, "{now}");
        assert_eq!(unix_seconds(ZERO_TIME), 0);
    }

    #[test]
    fn concurrent_atomic_writes_of_one_file_all_land_whole() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("hosts");
        let writers: Vec<_> = (0..8u8)
            .map(|t| {
                let path = path.clone();
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        let body = vec![b'a' + t; 4096];
                        write_atomic_mode(&path, &body, Some(0o644)).expect("atomic write");
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().expect("writer thread");
        }
        let body = std::fs::read(&path).expect("read back");
        assert_eq!(body.len(), 4096);
        assert!(
            body.iter().all(|b| *b == body[0]),
            "one writer's content, whole"
        );
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(
            left,
            vec![std::ffi::OsString::from("hosts")],
            "no temp file left"
        );
    }
}

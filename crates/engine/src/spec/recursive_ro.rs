//! Recursively read-only binds. A plain `ro` bind is read-only at its top only: the mounts
//! below its source (a tmpfs, /dev/shm, a cgroup hierarchy of a `-v /:/host:ro`) stay
//! writable. Docker 25+ asks the runtime for the OCI option `rro` (mount_setattr with
//! AT_RECURSIVE and MOUNT_ATTR_RDONLY) when the kernel (5.12+) and the runtime (its `features`
//! lists `rro`) can do it. Where they cannot, dockerd falls back to `ro` silently; Berth does so
//! only when the source has no submounts, and refuses to start the container otherwise.

use crate::{Error, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// Whether `rro` can be used for this container: Ok, or why not.
pub type Support = std::result::Result<(), String>;

/// The kernel's and the runtime's support, the runtime's answer cached per binary.
pub async fn support(runtime: &Path) -> Support {
    kernel_support()?;
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, Support>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(s) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(runtime) {
        return s.clone();
    }
    let s = runtime_support(runtime).await;
    cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(runtime.to_path_buf(), s.clone());
    s
}

/// mount_setattr(2) came with Linux 5.12.
fn kernel_support() -> Support {
    let uname = rustix::system::uname();
    let release = uname.release().to_string_lossy().to_string();
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse::<u32>().ok());
    let version = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if version >= (5, 12) {
        Ok(())
    } else {
        Err(format!(
            "recursive read-only mounts need Linux 5.12 or newer (this is {release})"
        ))
    }
}

/// `RUNTIME features` lists `rro` among its mount options (runc 1.1+).
async fn runtime_support(runtime: &Path) -> Support {
    let out = tokio::process::Command::new(runtime)
        .arg("features")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| format!("{} features: {e}", runtime.display()))?;
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|_| {
        format!(
            "runtime {} does not describe its features",
            runtime.display()
        )
    })?;
    let listed = doc["mountOptions"]
        .as_array()
        .is_some_and(|o| o.iter().any(|v| v == "rro"));
    if listed {
        Ok(())
    } else {
        Err(format!(
            "runtime {} does not support the mount option rro",
            runtime.display()
        ))
    }
}

/// How a read-only bind of `source` at `dest` is made read-only: `rro`, or `ro` where that is
/// the same thing (nothing mounted below the source) or where the user asked for it
/// (`bind-recursive=writable`); an error where only `rro` would keep submounts read-only.
pub fn readonly_option(
    support: &Support,
    source: &str,
    dest: &str,
    read_only_non_recursive: bool,
    force_recursive: bool,
    recursive_bind: bool,
) -> Result<&'static str> {
    if read_only_non_recursive {
        return Ok("ro");
    }
    let Err(why) = support else {
        return Ok("rro");
    };
    if force_recursive {
        return Err(Error::InvalidArgument(format!(
            "cannot make {dest} recursively read-only (bind-recursive=readonly): {why}"
        )));
    }
    if recursive_bind {
        if let Some(sub) = first_submount(Path::new(source)) {
            return Err(Error::InvalidArgument(format!(
                "cannot mount {source} read-only at {dest}: {} is mounted below it and would stay \
                 writable, and {why}; mount it with bind-recursive=writable to accept that, or \
                 bind-recursive=disabled to leave the submounts out",
                sub.display()
            )));
        }
    }
    Ok("ro")
}

/// A mount point strictly below `source`, from the daemon's mount table.
fn first_submount(source: &Path) -> Option<PathBuf> {
    let source = std::fs::canonicalize(source).unwrap_or_else(|_| source.to_path_buf());
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(crate::util::unescape_mountinfo(p)))
        .find(|p| p != &source && p.starts_with(&source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rro_where_possible_ro_where_equivalent() {
        let yes: Support = Ok(());
        let no: Support = Err("old kernel".into());
        assert_eq!(
            readonly_option(&yes, "/x", "/x", false, false, true).ok(),
            Some("rro")
        );
        assert_eq!(
            readonly_option(&yes, "/x", "/x", true, false, true).ok(),
            Some("ro")
        );
        assert_eq!(
            readonly_option(&no, "/x", "/x", true, false, true).ok(),
            Some("ro")
        );
        assert!(readonly_option(&no, "/x", "/x", false, true, true).is_err());
        // "/" has mounts below it; a non-recursive bind of it does not take them along.
        assert_eq!(
            readonly_option(&no, "/", "/h", false, false, false).ok(),
            Some("ro")
        );
        let e = readonly_option(&no, "/", "/h", false, false, true).expect_err("submounts");
        assert!(e.to_string().contains("bind-recursive=writable"), "{e}");
        let d = tempfile::tempdir().expect("tempdir");
        let src = d.path().to_str().expect("utf-8");
        assert_eq!(
            readonly_option(&no, src, "/d", false, false, true).ok(),
            Some("ro")
        );
    }
}

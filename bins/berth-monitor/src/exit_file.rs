//! The exit status file the daemon reads after the monitor has gone: written atomically (temp +
//! fsync + rename + fsync of the directory) so a reader never sees half of it, even after a crash.

use anyhow::{Context, Result};
use std::io::Write;
use std::path::Path;

/// The JSON document for a wait status: `exit_code` is 128+N when killed by signal N, as shells
/// and Docker report it.
/// `exited` and `killed_by` are what `WIFEXITED`/`WTERMSIG` decode from the wait status.
pub fn document(
    exited: Option<i32>,
    killed_by: Option<i32>,
    finished_at: &str,
) -> serde_json::Value {
    let (code, signal) = match (exited, killed_by) {
        (Some(code), _) => (code, None),
        (None, Some(sig)) => (128 + sig, Some(sig)),
        // Neither exited nor killed cannot come from a plain waitpid without WUNTRACED.
        (None, None) => (255, None),
    };
    serde_json::json!({"exit_code": code, "signal": signal, "finished_at": finished_at})
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .with_context(|| format!("{} has no file name", path.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = (|| -> Result<()> {
        let mut f =
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(bytes)
            .with_context(|| format!("writing {}", tmp.display()))?;
        f.sync_all()
            .with_context(|| format!("fsync of {}", tmp.display()))?;
        std::fs::rename(&tmp, path)
            .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("fsync of directory {}", dir.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_code_and_signal() {
        let exited = document(Some(3), None, "t");
        assert_eq!(exited["exit_code"], 3);
        assert!(exited["signal"].is_null());
        let killed = document(None, Some(9), "t");
        assert_eq!(killed["exit_code"], 137);
        assert_eq!(killed["signal"], 9);
    }
}

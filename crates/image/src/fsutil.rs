//! Small filesystem helpers shared by the stores: atomic writes and a lock file.

use crate::error::{IoContext, Result};
use rustix::fs::{flock, FlockOperation};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name unique within this host for temporary files (pid + counter + time).
pub(crate) fn unique_suffix() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{n}-{t:x}", std::process::id())
}

/// Writes `bytes` to `path` atomically: temp file in the same directory, fsync, rename, fsync
/// of the directory. A crash leaves either the old or the new content.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp: PathBuf = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("state"),
        unique_suffix()
    ));
    let result = (|| {
        let mut f = File::create(&tmp).io("create", &tmp)?;
        f.write_all(bytes).io("write", &tmp)?;
        f.sync_all().io("fsync", &tmp)?;
        fs::rename(&tmp, path).io("rename", path)?;
        File::open(dir).and_then(|d| d.sync_all()).io("fsync", dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// An exclusive or shared `flock` held until dropped.
#[derive(Debug)]
pub(crate) struct FileLock {
    _file: File,
}

impl FileLock {
    pub(crate) fn exclusive(path: &Path) -> Result<FileLock> {
        Self::take(path, FlockOperation::LockExclusive)
    }
    pub(crate) fn shared(path: &Path) -> Result<FileLock> {
        Self::take(path, FlockOperation::LockShared)
    }
    /// The exclusive lock if nobody holds the file, else None (without waiting).
    pub(crate) fn try_exclusive(path: &Path) -> Result<Option<FileLock>> {
        let file = Self::open(path)?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(FileLock { _file: file })),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(e).io("lock", path),
        }
    }
    fn take(path: &Path, op: FlockOperation) -> Result<FileLock> {
        let file = Self::open(path)?;
        flock(&file, op).io("lock", path)?;
        Ok(FileLock { _file: file })
    }
    fn open(path: &Path) -> Result<File> {
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .io("open lock", path)
    }
}

//! Control-file I/O shared by both backends: one open+write per value, typed errors that name the
//! file and the value, and directory helpers that understand cgroupfs (rmdir of a cgroup works
//! while it still "contains" control files; a plain tempdir needs the files removed first).

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::CgroupError;

/// `CGROUP_SUPER_MAGIC` (v1).
pub(crate) const CGROUP_SUPER_MAGIC: i64 = 0x0027_e0eb;
/// `CGROUP2_SUPER_MAGIC`.
pub(crate) const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// Filesystem magic of `path`, or `None` if it cannot be statfs'ed.
pub(crate) fn fs_magic(path: &Path) -> Option<i64> {
    statfs_magic(path).ok()
}

/// statfs(2) `f_type`, whose C type differs between architectures.
#[allow(clippy::unnecessary_cast)]
pub(crate) fn statfs_magic(path: &Path) -> rustix::io::Result<i64> {
    rustix::fs::statfs(path).map(|s| s.f_type as i64)
}

/// True if `path` is on cgroupfs (v1 or v2), false for anything else (e.g. a test tempdir).
pub(crate) fn is_cgroupfs(path: &Path) -> bool {
    matches!(
        fs_magic(path),
        Some(CGROUP_SUPER_MAGIC) | Some(CGROUP2_SUPER_MAGIC)
    )
}

/// True if `path` is on a cgroup2 filesystem.
pub(crate) fn is_cgroup2fs(path: &Path) -> bool {
    fs_magic(path) == Some(CGROUP2_SUPER_MAGIC)
}

/// Writes `value` to the control file `path` with a single write(2).
///
/// Control files always exist on cgroupfs, so the file is not created there (a missing file
/// means a missing controller and must fail). Only when `path` is not on cgroupfs (a test root)
/// is a missing file created, so tests can read back what was written.
pub(crate) fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    let err = |source| CgroupError::Write {
        path: path.to_path_buf(),
        value: value.to_string(),
        source,
    };
    let file = match fs::OpenOptions::new().write(true).truncate(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => match path.parent() {
            Some(dir) if dir.is_dir() && !is_cgroupfs(dir) => fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(path)
                .map_err(err)?,
            _ => return Err(err(e)),
        },
        Err(e) => return Err(err(e)),
    };
    let mut file = file;
    file.write_all(value.as_bytes()).map_err(err)
}

/// Like [`write`], joining `dir` and `name`.
pub(crate) fn write_in(dir: &Path, name: &str, value: &str) -> Result<(), CgroupError> {
    write(&dir.join(name), value)
}

/// Reads a whole control file.
pub(crate) fn read(path: &Path) -> Result<String, CgroupError> {
    let mut s = String::new();
    fs::File::open(path)
        .and_then(|mut f| f.read_to_string(&mut s))
        .map_err(|source| CgroupError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(s)
}

/// Reads a control file; `None` if it does not exist.
pub(crate) fn read_opt(path: &Path) -> Result<Option<String>, CgroupError> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CgroupError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Parses a single-number control file; `None` if it is missing or says "max".
pub(crate) fn read_u64_opt(path: &Path) -> Result<Option<u64>, CgroupError> {
    let Some(s) = read_opt(path)? else {
        return Ok(None);
    };
    let s = s.trim();
    if s == "max" {
        return Ok(None);
    }
    s.parse().map(Some).map_err(|_| CgroupError::Parse {
        path: path.to_path_buf(),
        reason: format!("expected a number, found {s:?}"),
    })
}

/// Creates a cgroup directory: one mkdir in the common case, `create_dir_all` only when a parent
/// is missing. Returns the directories that were created (outermost first) so that a caller that
/// fails later can remove exactly those.
pub(crate) fn mkdir(path: &Path) -> Result<Vec<PathBuf>, CgroupError> {
    let err = |source| CgroupError::Mkdir {
        path: path.to_path_buf(),
        source,
    };
    match fs::create_dir(path) {
        Ok(()) => Ok(vec![path.to_path_buf()]),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(Vec::new()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let mut missing = Vec::new();
            let mut p = path;
            while !p.exists() {
                missing.push(p.to_path_buf());
                match p.parent() {
                    Some(parent) => p = parent,
                    None => break,
                }
            }
            missing.reverse();
            fs::create_dir_all(path).map_err(err)?;
            Ok(missing)
        }
        Err(e) => Err(err(e)),
    }
}

/// Process ids in `dir`'s `cgroup.procs` and in every child cgroup below it.
pub(crate) fn procs_recursive(dir: &Path, out: &mut Vec<i32>) -> Result<(), CgroupError> {
    let path = dir.join("cgroup.procs");
    let Some(content) = read_opt(&path)? else {
        if dir.exists() {
            // A directory without cgroup.procs (a test root where nothing was added yet).
            return children(dir)?
                .iter()
                .try_for_each(|c| procs_recursive(c, out));
        }
        return Ok(());
    };
    for line in content.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        out.push(line.parse().map_err(|_| CgroupError::Parse {
            path: path.clone(),
            reason: format!("expected a pid, found {line:?}"),
        })?);
    }
    for child in children(dir)? {
        procs_recursive(&child, out)?;
    }
    Ok(())
}

/// Child directories of `dir` (empty if `dir` does not exist).
pub(crate) fn children(dir: &Path) -> Result<Vec<PathBuf>, CgroupError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(CgroupError::Read {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|source| CgroupError::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            out.push(entry.path());
        }
    }
    Ok(out)
}

/// How long one `destroy` keeps retrying rmdir on EBUSY (processes that were killed are still
/// exiting) across all its directories, so a cgroup with live processes fails in bounded time.
pub(crate) const RMDIR_PATIENCE: Duration = Duration::from_secs(1);

/// Removes the cgroup `dir` and every child cgroup below it (children first). A missing
/// directory is success. Never kills anything: a cgroup that still has live processes at
/// `deadline` yields the EBUSY error.
pub(crate) fn remove_tree(dir: &Path, deadline: Instant) -> Result<(), CgroupError> {
    for child in children(dir)? {
        remove_tree(&child, deadline)?;
    }
    let mut delay = Duration::from_millis(1);
    let mut cleared_files = false;
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc_ebusy()) && Instant::now() < deadline => {
                std::thread::sleep(delay.min(deadline.saturating_duration_since(Instant::now())));
                delay = (delay * 2).min(Duration::from_millis(100));
            }
            Err(e)
                if e.kind() == io::ErrorKind::DirectoryNotEmpty
                    && !cleared_files
                    && !is_cgroupfs(dir) =>
            {
                // A test root: the "control files" are regular files we wrote.
                cleared_files = true;
                let rd = fs::read_dir(dir).map_err(|source| CgroupError::Remove {
                    path: dir.to_path_buf(),
                    source,
                })?;
                for entry in rd.flatten() {
                    if !entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                        let _ = fs::remove_file(entry.path());
                    }
                }
            }
            Err(source) => {
                return Err(CgroupError::Remove {
                    path: dir.to_path_buf(),
                    source,
                })
            }
        }
    }
}

fn libc_ebusy() -> i32 {
    rustix::io::Errno::BUSY.raw_os_error()
}

/// Removes directories created by a failed `create` (innermost first), ignoring errors: this is
/// cleanup on an error path and the original error is what the caller reports.
pub(crate) fn remove_created(created: &[PathBuf]) {
    for dir in created.iter().rev() {
        let _ = remove_tree(dir, Instant::now());
    }
}

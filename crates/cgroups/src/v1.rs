//! The cgroup v1 backend: one directory per mounted hierarchy (every controller hierarchy,
//! `name=systemd`, and on hybrid hosts the unified cgroup2 mount, which has no controllers but
//! is where systemd and tools look for a process's cgroup).

mod apply;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::paths::{self, CgroupPath};
use crate::stats::{limit, read_keyed, IoStats, Stats};
use crate::{fsutil, CgroupError, CgroupManager, CgroupMode, CgroupOptions};

/// How long `freeze` waits for `FROZEN`.
const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub(crate) struct Hierarchy {
    /// Controllers of this hierarchy (`name=systemd` for named ones, empty for cgroup2).
    pub controllers: Vec<String>,
    pub mountpoint: PathBuf,
    /// The container's directory in this hierarchy.
    pub dir: PathBuf,
}

#[derive(Debug)]
pub(crate) struct V1Manager {
    opts: CgroupOptions,
    hierarchies: Vec<Hierarchy>,
}

/// Finds the hierarchies of a test root that has no cgroup mounts: every real directory below
/// it is one hierarchy named by its controllers ("cpu,cpuacct"), `systemd` is `name=systemd`
/// and `unified` is the cgroup2 one. Symlinks ("cpu" → "cpu,cpuacct") are aliases and skipped.
fn fake_mounts(root: &Path) -> Vec<paths::Mount> {
    let Ok(rd) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut out: Vec<paths::Mount> = rd
        .flatten()
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let v2 = name == "unified";
            let controllers = match name.as_str() {
                "unified" => Vec::new(),
                "systemd" => vec!["name=systemd".to_string()],
                n => n.split(',').map(str::to_string).collect(),
            };
            paths::Mount {
                mountpoint: e.path(),
                root: "/".into(),
                controllers,
                v2,
            }
        })
        .collect();
    out.sort_by(|a, b| a.mountpoint.cmp(&b.mountpoint));
    out
}

impl V1Manager {
    pub(crate) fn open(opts: CgroupOptions, path: &CgroupPath) -> Result<Self, CgroupError> {
        let root = opts.root().to_path_buf();
        let mi_path = Path::new("/proc/self/mountinfo");
        let mountinfo = fsutil::read(mi_path)?;
        let mut mounts = paths::cgroup_mounts(&mountinfo, &root);
        if !mounts.iter().any(|m| !m.v2) && opts.root.is_some() {
            mounts = fake_mounts(&root);
        }
        if !mounts.iter().any(|m| !m.v2) {
            return Err(CgroupError::Detect {
                path: root,
                reason: "no cgroup v1 hierarchy is mounted there".into(),
            });
        }
        let own = if path.absolute {
            Vec::new()
        } else {
            paths::own_cgroups()?
        };
        let hierarchies = mounts
            .into_iter()
            .map(|m| {
                let mine = own.iter().find(|c| {
                    c.controllers.len() == m.controllers.len()
                        && m.controllers.iter().all(|x| c.controllers.contains(x))
                });
                let dir = paths::join(&m.mountpoint, &m.root, mine.map(|c| c.path.as_str()), path);
                Hierarchy {
                    controllers: m.controllers,
                    mountpoint: m.mountpoint,
                    dir,
                }
            })
            .collect();
        Ok(V1Manager { opts, hierarchies })
    }

    /// The container's directory in the hierarchy that has `controller`.
    pub(crate) fn dir(&self, controller: &str) -> Option<&Path> {
        self.hierarchies
            .iter()
            .find(|h| h.controllers.iter().any(|c| c == controller))
            .map(|h| h.dir.as_path())
    }

    fn require(
        &self,
        operation: &'static str,
        controller: &'static str,
    ) -> Result<&Path, CgroupError> {
        self.dir(controller).ok_or(CgroupError::Unsupported {
            operation,
            controller,
        })
    }
}

/// A new cpuset cgroup starts with empty `cpuset.cpus`/`cpuset.mems`, and no task can join it
/// until both are set: copy them from the parent, initialising the parent first if it is empty
/// too (runc's `ensureParent`). `fresh` skips reading a directory we just created.
fn init_cpuset(dir: &Path, mountpoint: &Path, fresh: bool) -> Result<(), CgroupError> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        copy_from_parent(dir, mountpoint, file, fresh)?;
    }
    Ok(())
}

fn copy_from_parent(
    dir: &Path,
    mountpoint: &Path,
    file: &str,
    fresh: bool,
) -> Result<Option<String>, CgroupError> {
    if !fresh {
        if let Some(v) = fsutil::read_opt(&dir.join(file))? {
            if !v.trim().is_empty() {
                return Ok(Some(v));
            }
        }
    }
    let Some(parent) = dir.parent().filter(|_| dir != mountpoint) else {
        return Ok(None);
    };
    let mut value = fsutil::read_opt(&parent.join(file))?;
    if value.as_deref().is_some_and(|v| v.trim().is_empty()) && parent != mountpoint {
        value = copy_from_parent(parent, mountpoint, file, false)?;
    }
    match value {
        Some(v) if !v.trim().is_empty() => {
            let v = v.trim().to_string();
            fsutil::write(&dir.join(file), &v)?;
            Ok(Some(v))
        }
        _ => Ok(None),
    }
}

impl CgroupManager for V1Manager {
    fn mode(&self) -> CgroupMode {
        CgroupMode::V1
    }

    fn options(&self) -> &CgroupOptions {
        &self.opts
    }

    fn create(&self) -> Result<(), CgroupError> {
        let mut created_all = Vec::new();
        let mut result = Ok(());
        for h in &self.hierarchies {
            let created = match fsutil::mkdir(&h.dir) {
                Ok(c) => c,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            if h.controllers.iter().any(|c| c == "cpuset") {
                let r = if created.is_empty() {
                    init_cpuset(&h.dir, &h.mountpoint, false)
                } else {
                    created
                        .iter()
                        .try_for_each(|d| init_cpuset(d, &h.mountpoint, true))
                };
                created_all.extend(created);
                if let Err(e) = r {
                    result = Err(e);
                    break;
                }
            } else {
                created_all.extend(created);
            }
        }
        if result.is_err() {
            fsutil::remove_created(&created_all);
        }
        result
    }

    fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        let pid = pid.to_string();
        for h in &self.hierarchies {
            fsutil::write(&h.dir.join("cgroup.procs"), &pid)?;
        }
        Ok(())
    }

    fn v2_dir(&self) -> Option<&Path> {
        None
    }

    fn apply(&self, r: &oci_spec::runtime::LinuxResources) -> Result<(), CgroupError> {
        apply::apply(self, r)
    }

    fn freeze(&self) -> Result<(), CgroupError> {
        let dir = self.require("freeze", "freezer")?;
        let file = dir.join("freezer.state");
        fsutil::write(&file, "FROZEN")?;
        if !fsutil::is_cgroupfs(dir) {
            return Ok(()); // a test root: the state file is just a file
        }
        let start = Instant::now();
        let mut delay = Duration::from_micros(200);
        loop {
            let state = fsutil::read(&file)?;
            if state.trim() == "FROZEN" {
                return Ok(());
            }
            if start.elapsed() >= FREEZE_TIMEOUT {
                let _ = fsutil::write(&file, "THAWED");
                return Err(CgroupError::FreezeTimeout {
                    path: dir.to_path_buf(),
                    state: state.trim().to_string(),
                    waited_ms: start.elapsed().as_millis() as u64,
                });
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(50));
            // Tasks that were busy (e.g. in vfork) are retried by writing FROZEN again, as runc.
            fsutil::write(&file, "FROZEN")?;
        }
    }

    fn thaw(&self) -> Result<(), CgroupError> {
        let dir = self.require("thaw", "freezer")?;
        fsutil::write(&dir.join("freezer.state"), "THAWED")
    }

    fn is_frozen(&self) -> Result<bool, CgroupError> {
        let dir = self.require("is_frozen", "freezer")?;
        Ok(fsutil::read(&dir.join("freezer.state"))?.trim() == "FROZEN")
    }

    fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        let dir = [
            "pids",
            "freezer",
            "memory",
            "devices",
            "cpu",
            "name=systemd",
        ]
        .iter()
        .find_map(|c| self.dir(c))
        .or_else(|| self.hierarchies.first().map(|h| h.dir.as_path()));
        let mut out = Vec::new();
        if let Some(dir) = dir {
            fsutil::procs_recursive(dir, &mut out)?;
        }
        Ok(out)
    }

    fn destroy(&self) -> Result<(), CgroupError> {
        // Try every hierarchy even if one fails, and report the first failure.
        let mut first = Ok(());
        let deadline = Instant::now() + fsutil::RMDIR_PATIENCE;
        for h in &self.hierarchies {
            if let Err(e) = fsutil::remove_tree(&h.dir, deadline) {
                if first.is_ok() {
                    first = Err(e);
                }
            }
        }
        first
    }

    fn stats(&self) -> Result<Stats, CgroupError> {
        let mut s = Stats::default();
        if let Some(d) = self.dir("memory") {
            let m = &mut s.memory;
            m.usage = fsutil::read_u64_opt(&d.join("memory.usage_in_bytes"))?.unwrap_or(0);
            m.limit = limit(fsutil::read_u64_opt(&d.join("memory.limit_in_bytes"))?);
            m.max_usage = fsutil::read_u64_opt(&d.join("memory.max_usage_in_bytes"))?.unwrap_or(0);
            m.failcnt = fsutil::read_u64_opt(&d.join("memory.failcnt"))?.unwrap_or(0);
            m.stat = read_keyed(&d.join("memory.stat"))?;
            m.cache = m
                .stat
                .get("total_cache")
                .or_else(|| m.stat.get("cache"))
                .copied()
                .unwrap_or(0);
            m.swap_usage = fsutil::read_u64_opt(&d.join("memory.memsw.usage_in_bytes"))?
                .map(|memsw| memsw.saturating_sub(m.usage));
        }
        if let Some(d) = self.dir("cpuacct") {
            s.cpu.usage_total = fsutil::read_u64_opt(&d.join("cpuacct.usage"))?.unwrap_or(0);
            let st = read_keyed(&d.join("cpuacct.stat"))?;
            let ns_per_tick = 1_000_000_000 / rustix::param::clock_ticks_per_second().max(1);
            s.cpu.usage_user = st.get("user").copied().unwrap_or(0) * ns_per_tick;
            s.cpu.usage_system = st.get("system").copied().unwrap_or(0) * ns_per_tick;
        }
        if let Some(d) = self.dir("cpu") {
            let st = read_keyed(&d.join("cpu.stat"))?;
            s.cpu.nr_periods = st.get("nr_periods").copied().unwrap_or(0);
            s.cpu.nr_throttled = st.get("nr_throttled").copied().unwrap_or(0);
            s.cpu.throttled_time = st.get("throttled_time").copied().unwrap_or(0);
        }
        if let Some(d) = self.dir("pids") {
            s.pids.current = fsutil::read_u64_opt(&d.join("pids.current"))?.unwrap_or(0);
            s.pids.limit = fsutil::read_u64_opt(&d.join("pids.max"))?;
        }
        if let Some(d) = self.dir("blkio") {
            let bytes = fsutil::read_opt(&d.join("blkio.throttle.io_service_bytes_recursive"))?
                .unwrap_or_default();
            let ops = fsutil::read_opt(&d.join("blkio.throttle.io_serviced_recursive"))?
                .unwrap_or_default();
            s.io = blkio_stat(&bytes, &ops);
        }
        Ok(s)
    }
}

/// Parses the v1 "8:0 Read 4096" style files.
fn blkio_stat(bytes: &str, ops: &str) -> IoStats {
    let mut io = IoStats::default();
    for (content, is_bytes) in [(bytes, true), (ops, false)] {
        for line in content.lines() {
            let mut parts = line.split_whitespace();
            let (Some(dev), Some(op), Some(v)) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            let Some((ma, mi)) = crate::stats::parse_dev(dev) else {
                continue;
            };
            let v: u64 = v.parse().unwrap_or(0);
            let d = io.device(ma, mi);
            match (op, is_bytes) {
                ("Read", true) => d.read_bytes += v,
                ("Write", true) => d.write_bytes += v,
                ("Read", false) => d.read_ios += v,
                ("Write", false) => d.write_ios += v,
                _ => {}
            }
        }
    }
    io.total();
    io
}

#[cfg(test)]
mod tests {
    #[test]
    fn blkio_parses() {
        let io = super::blkio_stat(
            "8:0 Read 4096\n8:0 Write 8192\n8:0 Total 12288\nTotal 12288\n",
            "8:0 Read 1\n8:0 Write 2\n",
        );
        assert_eq!((io.read_bytes, io.write_bytes), (4096, 8192));
        assert_eq!(io.devices[0].write_ios, 2);
    }
}

//! The cgroup v2 backend: one directory in the unified hierarchy.

mod apply;
mod devices;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::paths::{self, CgroupPath};
use crate::stats::{read_keyed, IoStats, Stats};
use crate::{fsutil, CgroupError, CgroupManager, CgroupMode, CgroupOptions};

/// How long `freeze` waits for `frozen 1` in `cgroup.events`.
const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub(crate) struct V2Manager {
    opts: CgroupOptions,
    root: PathBuf,
    dir: PathBuf,
}

impl V2Manager {
    pub(crate) fn open(opts: CgroupOptions, path: &CgroupPath) -> Result<Self, CgroupError> {
        let root = opts.root().to_path_buf();
        let own = if path.absolute {
            None
        } else {
            paths::own_cgroups()?
                .into_iter()
                .find(|c| c.controllers.is_empty())
                .map(|c| c.path)
        };
        let dir = paths::join(&root, "/", own.as_deref(), path);
        Ok(V2Manager { opts, root, dir })
    }

    /// Enables every controller the root offers in each ancestor's `cgroup.subtree_control`
    /// (runc's behaviour), skipped when the new cgroup already has them all.
    fn enable_controllers(&self) -> Result<(), CgroupError> {
        let available =
            fsutil::read_opt(&self.root.join("cgroup.controllers"))?.unwrap_or_default();
        let wanted: Vec<&str> = available.split_whitespace().collect();
        if wanted.is_empty() {
            return Ok(());
        }
        if let Some(have) = fsutil::read_opt(&self.dir.join("cgroup.controllers"))? {
            let have: Vec<&str> = have.split_whitespace().collect();
            if wanted.iter().all(|c| have.contains(c)) {
                return Ok(());
            }
        }
        let all = wanted
            .iter()
            .map(|c| format!("+{c}"))
            .collect::<Vec<_>>()
            .join(" ");
        let Ok(below_root) = self.dir.strip_prefix(&self.root) else {
            return Ok(());
        };
        let mut ancestor = self.root.clone();
        let comps: Vec<_> = below_root.components().collect();
        for (i, comp) in comps.iter().enumerate() {
            let file = ancestor.join("cgroup.subtree_control");
            if fsutil::write(&file, &all).is_err() {
                // One controller the kernel refuses here (e.g. a threaded subtree, or cpuset
                // busy) must not keep the others from being enabled.
                for c in all.split(' ') {
                    let _ = fsutil::write(&file, c);
                }
            }
            if i + 1 < comps.len() {
                ancestor.push(comp);
            }
        }
        Ok(())
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl CgroupManager for V2Manager {
    fn mode(&self) -> CgroupMode {
        CgroupMode::V2
    }

    fn options(&self) -> &CgroupOptions {
        &self.opts
    }

    fn create(&self) -> Result<(), CgroupError> {
        let created = fsutil::mkdir(&self.dir)?;
        if let Err(e) = self.enable_controllers() {
            fsutil::remove_created(&created);
            return Err(e);
        }
        Ok(())
    }

    fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        fsutil::write(&self.file("cgroup.procs"), &pid.to_string())
    }

    fn v2_dir(&self) -> Option<&Path> {
        Some(&self.dir)
    }

    fn apply(&self, r: &oci_spec::runtime::LinuxResources) -> Result<(), CgroupError> {
        let plan = apply::plan(&self.dir, r)?;
        for w in &plan.writes {
            match fsutil::write(&self.file(&w.file), &w.value) {
                Ok(()) => {}
                Err(CgroupError::Write { source, .. })
                    if w.optional && source.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        if let Some(state) = &plan.devices {
            devices::apply(&self.dir, state)?;
        }
        Ok(())
    }

    fn freeze(&self) -> Result<(), CgroupError> {
        fsutil::write(&self.file("cgroup.freeze"), "1")?;
        if !fsutil::is_cgroup2fs(&self.dir) {
            return Ok(()); // a test root: nothing will ever report "frozen 1"
        }
        let start = Instant::now();
        let mut delay = Duration::from_micros(200);
        loop {
            if self.is_frozen()? {
                return Ok(());
            }
            if start.elapsed() >= FREEZE_TIMEOUT {
                let _ = fsutil::write(&self.file("cgroup.freeze"), "0");
                return Err(CgroupError::FreezeTimeout {
                    path: self.dir.clone(),
                    state: "frozen 0".into(),
                    waited_ms: start.elapsed().as_millis() as u64,
                });
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(50));
        }
    }

    fn thaw(&self) -> Result<(), CgroupError> {
        fsutil::write(&self.file("cgroup.freeze"), "0")
    }

    fn is_frozen(&self) -> Result<bool, CgroupError> {
        if let Some(events) = fsutil::read_opt(&self.file("cgroup.events"))? {
            return Ok(events.lines().any(|l| l.trim() == "frozen 1"));
        }
        Ok(fsutil::read_opt(&self.file("cgroup.freeze"))?.is_some_and(|s| s.trim() == "1"))
    }

    fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        let mut out = Vec::new();
        fsutil::procs_recursive(&self.dir, &mut out)?;
        Ok(out)
    }

    fn destroy(&self) -> Result<(), CgroupError> {
        fsutil::remove_tree(&self.dir, Instant::now() + fsutil::RMDIR_PATIENCE)
    }

    fn stats(&self) -> Result<Stats, CgroupError> {
        let mut s = Stats::default();
        let m = &mut s.memory;
        m.usage = fsutil::read_u64_opt(&self.file("memory.current"))?.unwrap_or(0);
        m.limit = fsutil::read_u64_opt(&self.file("memory.max"))?;
        m.max_usage = fsutil::read_u64_opt(&self.file("memory.peak"))?.unwrap_or(0);
        m.stat = read_keyed(&self.file("memory.stat"))?;
        m.cache = m.stat.get("file").copied().unwrap_or(0);
        m.swap_usage = fsutil::read_u64_opt(&self.file("memory.swap.current"))?;
        m.failcnt = read_keyed(&self.file("memory.events"))?
            .get("max")
            .copied()
            .unwrap_or(0);
        let cpu = read_keyed(&self.file("cpu.stat"))?;
        let us = |k: &str| cpu.get(k).copied().unwrap_or(0);
        s.cpu.usage_total = us("usage_usec") * 1000;
        s.cpu.usage_user = us("user_usec") * 1000;
        s.cpu.usage_system = us("system_usec") * 1000;
        s.cpu.nr_periods = us("nr_periods");
        s.cpu.nr_throttled = us("nr_throttled");
        s.cpu.throttled_time = us("throttled_usec") * 1000;
        s.pids.current = fsutil::read_u64_opt(&self.file("pids.current"))?.unwrap_or(0);
        s.pids.limit = fsutil::read_u64_opt(&self.file("pids.max"))?;
        s.io = io_stat(&fsutil::read_opt(&self.file("io.stat"))?.unwrap_or_default());
        Ok(s)
    }
}

/// Parses `io.stat` ("8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0" per device).
fn io_stat(content: &str) -> IoStats {
    let mut io = IoStats::default();
    for line in content.lines() {
        let mut parts = line.split_whitespace();
        let Some((major, minor)) = parts.next().and_then(crate::stats::parse_dev) else {
            continue;
        };
        let d = io.device(major, minor);
        for kv in parts {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let v: u64 = v.parse().unwrap_or(0);
            match k {
                "rbytes" => d.read_bytes += v,
                "wbytes" => d.write_bytes += v,
                "rios" => d.read_ios += v,
                "wios" => d.write_ios += v,
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
    fn io_stat_parses() {
        let io = super::io_stat("8:0 rbytes=100 wbytes=20 rios=3 wios=4 dbytes=0 dios=0\n8:16 rbytes=1 wbytes=2 rios=1 wios=1\n");
        assert_eq!(io.read_bytes, 101);
        assert_eq!(io.write_bytes, 22);
        assert_eq!(io.devices.len(), 2);
        assert_eq!(io.devices[0].read_ios, 3);
    }
}

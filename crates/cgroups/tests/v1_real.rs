//! The v1 backend on this machine's real hierarchies (root only): create, apply, a real process,
//! freeze/thaw, destroy without leftovers; the memory limit really OOM-kills; kernel refusals
//! come back as typed errors naming file and value.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use berth_cgroups::{detect_mode, open, CgroupError, CgroupManager, CgroupMode, CgroupOptions};
use common::{hierarchy_mounts, read, require, unique};
use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType,
    LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResourcesBuilder,
};

fn v1_available() -> bool {
    if !require(common::is_root(), "needs root to create cgroups") {
        return false;
    }
    let v1 = detect_mode(Path::new("/sys/fs/cgroup")).ok() == Some(CgroupMode::V1)
        && Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists();
    require(
        v1,
        "needs cgroup v1 hierarchies (memory etc.) at /sys/fs/cgroup",
    )
}

/// Opens a manager for a fresh top-level cgroup and the directories it must create.
fn manager(prefix: &str) -> (Box<dyn CgroupManager>, String, Vec<PathBuf>) {
    let name = unique(prefix);
    let m = open(&CgroupOptions::new(format!("/{name}"), name.clone())).expect("open");
    assert_eq!(m.mode(), CgroupMode::V1);
    assert!(m.v2_dir().is_none());
    let dirs: Vec<PathBuf> = hierarchy_mounts().iter().map(|h| h.join(&name)).collect();
    (m, name, dirs)
}

fn assert_gone(dirs: &[PathBuf]) {
    for d in dirs {
        assert!(!d.exists(), "leaked cgroup {}", d.display());
    }
}

fn dev(
    allow: bool,
    t: Option<LinuxDeviceType>,
    ma: Option<i64>,
    mi: Option<i64>,
    acc: &str,
) -> LinuxDeviceCgroup {
    let mut b = LinuxDeviceCgroupBuilder::default().allow(allow).access(acc);
    if let Some(t) = t {
        b = b.typ(t);
    }
    if let Some(v) = ma {
        b = b.major(v);
    }
    if let Some(v) = mi {
        b = b.minor(v);
    }
    b.build().expect("rule")
}

/// Destroys on drop so a failing assertion does not leak cgroups into the next run.
struct Cleanup<'a>(&'a dyn CgroupManager, Option<std::process::Child>);
impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.1.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = self.0.thaw();
        let _ = self.0.destroy();
    }
}

#[test]
fn v1_lifecycle_with_real_process() {
    if !v1_available() {
        return;
    }
    let (m, name, dirs) = manager("v1");
    let mut guard = Cleanup(m.as_ref(), None);
    m.create().expect("create");
    for d in &dirs {
        assert!(d.is_dir(), "{} not created", d.display());
    }
    let cg = |h: &str| PathBuf::from(format!("/sys/fs/cgroup/{h}/{name}"));
    // cpuset was initialised from the parent so tasks can join.
    assert_eq!(
        read(cg("cpuset").join("cpuset.cpus")),
        read("/sys/fs/cgroup/cpuset/cpuset.cpus")
    );
    assert_eq!(
        read(cg("cpuset").join("cpuset.mems")),
        read("/sys/fs/cgroup/cpuset/cpuset.mems")
    );

    let r = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(64 << 20)
                .swap(128 << 20)
                .reservation(32 << 20)
                .build()
                .expect("memory"),
        )
        .cpu(
            LinuxCpuBuilder::default()
                .shares(512u64)
                .quota(20_000)
                .period(100_000u64)
                .cpus("0")
                .mems("0")
                .build()
                .expect("cpu"),
        )
        .pids(LinuxPidsBuilder::default().limit(32).build().expect("pids"))
        .devices(vec![
            dev(false, None, None, None, "rwm"),
            dev(true, Some(LinuxDeviceType::C), None, None, "m"),
            dev(true, Some(LinuxDeviceType::C), Some(1), Some(3), "rwm"),
            dev(true, Some(LinuxDeviceType::C), Some(1), Some(8), "rwm"),
        ])
        .build()
        .expect("resources");
    m.apply(&r).expect("apply");
    assert_eq!(
        read(cg("memory").join("memory.limit_in_bytes")),
        (64u64 << 20).to_string()
    );
    if cg("memory").join("memory.memsw.limit_in_bytes").exists() {
        assert_eq!(
            read(cg("memory").join("memory.memsw.limit_in_bytes")),
            (128u64 << 20).to_string()
        );
    }
    assert_eq!(
        read(cg("memory").join("memory.soft_limit_in_bytes")),
        (32u64 << 20).to_string()
    );
    let cpu = hierarchy_mounts()
        .into_iter()
        .find(|h| h.join("cpu.shares").exists())
        .expect("cpu hierarchy")
        .join(&name);
    assert_eq!(read(cpu.join("cpu.shares")), "512");
    assert_eq!(read(cpu.join("cpu.cfs_quota_us")), "20000");
    assert_eq!(read(cpu.join("cpu.cfs_period_us")), "100000");
    assert_eq!(read(cg("cpuset").join("cpuset.cpus")), "0");
    assert_eq!(read(cg("pids").join("pids.max")), "32");
    assert_eq!(
        read(cg("devices").join("devices.list")),
        "c *:* m\nc 1:3 rwm\nc 1:8 rwm"
    );

    // Lowering memory below memory+swap's old value exercises the write order.
    let r2 = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(32 << 20)
                .swap(48 << 20)
                .build()
                .expect("m"),
        )
        .devices(vec![
            dev(false, None, None, None, "rwm"),
            dev(true, Some(LinuxDeviceType::C), Some(1), Some(3), "rwm"),
        ])
        .build()
        .expect("resources");
    m.apply(&r2).expect("update");
    assert_eq!(
        read(cg("memory").join("memory.limit_in_bytes")),
        (32u64 << 20).to_string()
    );
    assert_eq!(read(cg("devices").join("devices.list")), "c 1:3 rwm");

    // Raising both again needs memsw first (the kernel refuses limit > memsw).
    let r3 = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(128 << 20)
                .swap(256 << 20)
                .build()
                .expect("m"),
        )
        .build()
        .expect("resources");
    m.apply(&r3).expect("raise");
    assert_eq!(
        read(cg("memory").join("memory.limit_in_bytes")),
        (128u64 << 20).to_string()
    );
    if cg("memory").join("memory.memsw.limit_in_bytes").exists() {
        assert_eq!(
            read(cg("memory").join("memory.memsw.limit_in_bytes")),
            (256u64 << 20).to_string()
        );
    }
    m.apply(&r2).expect("lower again");

    // A real process joins every hierarchy through add_process.
    let child = Command::new("/bin/busybox")
        .args(["sleep", "30"])
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn sleep");
    let pid = child.id() as i32;
    guard.1 = Some(child);
    m.add_process(pid).expect("add_process");
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("proc cgroup");
    for line in own.lines() {
        assert!(
            line.ends_with(&format!("/{name}")),
            "not moved everywhere: {line}"
        );
    }
    assert_eq!(m.pids().expect("pids"), vec![pid]);
    let s = m.stats().expect("stats");
    assert_eq!(s.pids.current, 1);
    assert_eq!(s.pids.limit, Some(32));
    assert_eq!(s.memory.limit, Some(32 << 20));
    // (usage may be 0: v1 does not move existing charges with the task.)

    m.freeze().expect("freeze");
    assert!(m.is_frozen().expect("is_frozen"));
    assert_eq!(read(cg("freezer").join("freezer.state")), "FROZEN");
    m.thaw().expect("thaw");
    assert!(!m.is_frozen().expect("is_frozen"));
    assert_eq!(read(cg("freezer").join("freezer.state")), "THAWED");

    // destroy never kills: with the process alive it must fail (EBUSY) and keep the dirs.
    let err = m
        .destroy()
        .expect_err("destroy removed a cgroup with a live process");
    assert!(matches!(err, CgroupError::Remove { .. }), "{err}");
    let mut child = guard.1.take().expect("child");
    child.kill().expect("kill");
    child.wait().expect("wait");
    m.destroy().expect("destroy");
    assert_gone(&dirs);
    m.destroy().expect("destroy is idempotent");
    drop(guard);
    assert_gone(&dirs);
}

#[test]
fn v1_device_rules_are_enforced() {
    if !v1_available() {
        return;
    }
    let (m, name, dirs) = manager("v1dev");
    let guard = Cleanup(m.as_ref(), None);
    m.create().expect("create");
    m.apply(
        &LinuxResourcesBuilder::default()
            .devices(vec![
                dev(false, None, None, None, "rwm"),
                dev(true, Some(LinuxDeviceType::C), Some(1), Some(3), "rwm"),
            ])
            .build()
            .expect("resources"),
    )
    .expect("apply");
    let run = |file: &str| {
        let script =
            format!("echo $$ > /sys/fs/cgroup/devices/{name}/cgroup.procs && exec head -c1 {file}");
        Command::new("/bin/busybox")
            .args(["sh", "-c", &script])
            .stdin(Stdio::null())
            .output()
            .expect("run sh")
    };
    let denied = run("/dev/zero");
    assert!(!denied.status.success());
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("Operation not permitted"),
        "stderr: {}",
        String::from_utf8_lossy(&denied.stderr)
    );
    assert!(run("/dev/null").status.success());
    m.destroy().expect("destroy");
    drop(guard);
    assert_gone(&dirs);
}

#[test]
fn v1_memory_limit_oom_kills() {
    if !v1_available() {
        return;
    }
    let (m, name, dirs) = manager("v1oom");
    let guard = Cleanup(m.as_ref(), None);
    m.create().expect("create");
    m.apply(
        &LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(16 << 20)
                    .swap(16 << 20)
                    .build()
                    .expect("m"),
            )
            .build()
            .expect("resources"),
    )
    .expect("apply");
    let script = format!(
        "echo $$ > /sys/fs/cgroup/memory/{name}/cgroup.procs && \
         exec dd if=/dev/zero of=/dev/null bs=64M count=1"
    );
    let out = Command::new("/bin/busybox")
        .args(["sh", "-c", &script])
        .stdin(Stdio::null())
        .output()
        .expect("run dd");
    assert_eq!(
        out.status.signal(),
        Some(9),
        "expected an OOM kill, got {:?}; stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // The cgroup really filled up to its limit before the kill.
    assert!(m.stats().expect("stats").memory.max_usage >= 15 << 20);
    m.destroy().expect("destroy");
    drop(guard);
    assert_gone(&dirs);
}

#[test]
fn v1_kernel_refusal_is_typed_and_nothing_leaks() {
    if !v1_available() {
        return;
    }
    let (m, _name, dirs) = manager("v1bad");
    let guard = Cleanup(m.as_ref(), None);
    m.create().expect("create");
    // pids.max above PID_MAX_LIMIT is refused by the kernel with EINVAL.
    let err = m
        .apply(
            &LinuxResourcesBuilder::default()
                .pids(
                    LinuxPidsBuilder::default()
                        .limit(10_000_000)
                        .build()
                        .expect("pids"),
                )
                .build()
                .expect("resources"),
        )
        .expect_err("kernel accepted an impossible pids limit");
    match &err {
        CgroupError::Write {
            path,
            value,
            source,
        } => {
            assert!(path.ends_with("pids.max"), "{}", path.display());
            assert_eq!(value, "10000000");
            assert_eq!(source.raw_os_error(), Some(22));
        }
        other => panic!("unexpected error {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("\"10000000\"") && msg.contains("pids.max"),
        "{msg}"
    );
    // Unified settings are refused up front on v1.
    let err = m
        .apply(
            &LinuxResourcesBuilder::default()
                .unified(std::collections::HashMap::from([(
                    "memory.high".to_string(),
                    "1".to_string(),
                )]))
                .build()
                .expect("resources"),
        )
        .expect_err("unified accepted on v1");
    assert!(matches!(err, CgroupError::InvalidResource { .. }), "{err}");
    m.destroy().expect("destroy");
    drop(guard);
    assert_gone(&dirs);
}

//! The v2 backend against a tempdir laid out like a cgroup2 mount: every file written and its
//! exact content. (No kernel involved: the eBPF device filter is compiled but not attached.)

mod common;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use berth_cgroups::{open, CgroupError, CgroupMode, CgroupOptions};
use common::read;
use oci_spec::runtime::{
    LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxDeviceCgroupBuilder, LinuxDeviceType,
    LinuxHugepageLimitBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResources,
    LinuxResourcesBuilder, LinuxThrottleDeviceBuilder,
};

const CONTROLLERS: &str = "cpuset cpu io memory hugetlb pids";
const ENABLE_ALL: &str = "+cpuset +cpu +io +memory +hugetlb +pids";

fn fake_root() -> tempfile::TempDir {
    let t = tempfile::tempdir().expect("tempdir");
    fs::write(
        t.path().join("cgroup.controllers"),
        format!("{CONTROLLERS}\n"),
    )
    .expect("write");
    fs::write(t.path().join("cgroup.subtree_control"), "").expect("write");
    fs::write(t.path().join("cgroup.procs"), "1\n").expect("write");
    t
}

fn opts(root: &Path, path: &str) -> CgroupOptions {
    CgroupOptions {
        cgroups_path: path.into(),
        container_id: "c1".into(),
        root: Some(root.to_path_buf()),
        mode: Some(CgroupMode::V2),
    }
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn full_resources() -> LinuxResources {
    let throttle = |ma: i64, mi: i64, rate: u64| {
        LinuxThrottleDeviceBuilder::default()
            .major(ma)
            .minor(mi)
            .rate(rate)
            .build()
            .expect("throttle")
    };
    LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(100 * 1024 * 1024)
                .swap(300 * 1024 * 1024)
                .reservation(50 * 1024 * 1024)
                .swappiness(10u64)
                .build()
                .expect("memory"),
        )
        .cpu(
            LinuxCpuBuilder::default()
                .shares(1024u64)
                .quota(50_000)
                .period(100_000u64)
                .cpus("0-1")
                .mems("0")
                .build()
                .expect("cpu"),
        )
        .pids(
            LinuxPidsBuilder::default()
                .limit(100)
                .build()
                .expect("pids"),
        )
        .block_io(
            LinuxBlockIoBuilder::default()
                .weight(500u16)
                .throttle_read_bps_device(vec![throttle(8, 0, 1_048_576)])
                .throttle_write_bps_device(vec![throttle(8, 0, 2_097_152)])
                .throttle_read_iops_device(vec![throttle(8, 0, 100)])
                .throttle_write_iops_device(vec![throttle(8, 0, 200)])
                .build()
                .expect("blkio"),
        )
        .hugepage_limits(vec![LinuxHugepageLimitBuilder::default()
            .page_size("2MB")
            .limit(4_194_304)
            .build()
            .expect("hugetlb")])
        .unified(HashMap::from([
            ("memory.high".to_string(), "90000000".to_string()),
            ("cpu.uclamp.min".to_string(), "10.00".to_string()),
        ]))
        .devices(vec![
            LinuxDeviceCgroupBuilder::default()
                .allow(false)
                .access("rwm")
                .build()
                .expect("rule"),
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(LinuxDeviceType::C)
                .major(1)
                .minor(3)
                .access("rwm")
                .build()
                .expect("rule"),
        ])
        .build()
        .expect("resources")
}

#[test]
fn v2_full_resources_exact_files() {
    let root = fake_root();
    let m = open(&opts(root.path(), "/berth/ctr")).expect("open");
    assert_eq!(m.mode(), CgroupMode::V2);
    let dir: PathBuf = root.path().join("berth/ctr");
    assert_eq!(m.v2_dir(), Some(dir.as_path()));
    assert!(!dir.exists(), "open must not write");

    m.create().expect("create");
    assert!(dir.is_dir());
    // Controllers enabled in every ancestor, not in the container's own directory.
    assert_eq!(read(root.path().join("cgroup.subtree_control")), ENABLE_ALL);
    assert_eq!(
        read(root.path().join("berth/cgroup.subtree_control")),
        ENABLE_ALL
    );
    assert!(!dir.join("cgroup.subtree_control").exists());

    m.add_process(4242).expect("add_process");
    assert_eq!(read(dir.join("cgroup.procs")), "4242");

    m.apply(&full_resources()).expect("apply");
    let expect = [
        ("memory.max", "104857600"),
        ("memory.swap.max", "209715200"),
        ("memory.low", "52428800"),
        ("pids.max", "100"),
        ("cpu.max", "50000 100000"),
        ("cpu.weight", "39"),
        ("cpuset.cpus", "0-1"),
        ("cpuset.mems", "0"),
        ("io.weight", "4950"),
        (
            "io.max",
            "8:0 rbps=1048576 wbps=2097152 riops=100 wiops=200",
        ),
        ("hugetlb.2MB.max", "4194304"),
        ("memory.high", "90000000"),
        ("cpu.uclamp.min", "10.00"),
        ("cgroup.procs", "4242"),
    ];
    for (f, v) in expect {
        assert_eq!(read(dir.join(f)), v, "{f}");
    }
    // Nothing else was written (swappiness has no v2 file; devices are eBPF, not files).
    let mut want: Vec<String> = expect.iter().map(|(f, _)| f.to_string()).collect();
    want.sort();
    assert_eq!(files(&dir), want);

    assert_eq!(m.pids().expect("pids"), vec![4242]);
    m.freeze().expect("freeze");
    assert_eq!(read(dir.join("cgroup.freeze")), "1");
    assert!(m.is_frozen().expect("is_frozen"));
    m.thaw().expect("thaw");
    assert_eq!(read(dir.join("cgroup.freeze")), "0");
    assert!(!m.is_frozen().expect("is_frozen"));

    m.destroy().expect("destroy");
    assert!(!dir.exists());
    assert!(
        root.path().join("berth").is_dir(),
        "ancestors are left alone"
    );
    m.destroy().expect("destroy is idempotent");
}

#[test]
fn v2_unlimited_and_unset_values() {
    let root = fake_root();
    let m = open(&opts(root.path(), "ctr")).expect("open");
    m.create().expect("create");
    let dir = m.v2_dir().expect("v2 dir").to_path_buf();
    // A relative path lives below the test process's own cgroup (from /proc/self/cgroup).
    assert!(dir.starts_with(root.path()) && dir.ends_with("ctr"));

    let r = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(-1)
                .build()
                .expect("memory"),
        )
        .cpu(
            LinuxCpuBuilder::default()
                .quota(-1)
                .period(250_000u64)
                .build()
                .expect("cpu"),
        )
        .pids(LinuxPidsBuilder::default().limit(0).build().expect("pids"))
        .hugepage_limits(vec![LinuxHugepageLimitBuilder::default()
            .page_size("1GB")
            .limit(-1)
            .build()
            .expect("hugetlb")])
        .build()
        .expect("resources");
    m.apply(&r).expect("apply");
    assert_eq!(read(dir.join("memory.max")), "max");
    assert_eq!(read(dir.join("memory.swap.max")), "max");
    assert_eq!(read(dir.join("cpu.max")), "max 250000");
    assert_eq!(read(dir.join("pids.max")), "max");
    assert_eq!(read(dir.join("hugetlb.1GB.max")), "max");
    assert_eq!(
        files(&dir),
        [
            "cpu.max",
            "hugetlb.1GB.max",
            "memory.max",
            "memory.swap.max",
            "pids.max"
        ]
    );

    // memory == memory+swap: swap disabled ("0"); only set values are written.
    let r = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(1 << 20)
                .swap(1 << 20)
                .build()
                .expect("m"),
        )
        .build()
        .expect("resources");
    m.apply(&r).expect("apply");
    assert_eq!(read(dir.join("memory.max")), "1048576");
    assert_eq!(read(dir.join("memory.swap.max")), "0");
    assert!(!dir.join("memory.low").exists());
    m.destroy().expect("destroy");
    assert!(!dir.exists());
}

#[test]
fn v2_stats_from_files() {
    let root = fake_root();
    let m = open(&opts(root.path(), "/s")).expect("open");
    m.create().expect("create");
    let dir = root.path().join("s");
    for (f, v) in [
        ("memory.current", "1000\n"),
        ("memory.max", "max\n"),
        ("memory.peak", "2000\n"),
        ("memory.stat", "anon 600\nfile 400\ninactive_file 100\n"),
        ("memory.events", "low 0\nhigh 0\nmax 3\noom 1\n"),
        ("cpu.stat", "usage_usec 10\nuser_usec 6\nsystem_usec 4\nnr_periods 5\nnr_throttled 2\nthrottled_usec 7\n"),
        ("pids.current", "3\n"),
        ("pids.max", "64\n"),
        ("io.stat", "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n"),
    ] {
        fs::write(dir.join(f), v).expect("write");
    }
    let s = m.stats().expect("stats");
    assert_eq!(s.memory.usage, 1000);
    assert_eq!(s.memory.limit, None);
    assert_eq!(s.memory.max_usage, 2000);
    assert_eq!(s.memory.cache, 400);
    assert_eq!(s.memory.failcnt, 3);
    assert_eq!(s.memory.stat.get("inactive_file"), Some(&100));
    assert_eq!(
        (s.cpu.usage_total, s.cpu.usage_user, s.cpu.usage_system),
        (10_000, 6_000, 4_000)
    );
    assert_eq!(
        (s.cpu.nr_periods, s.cpu.nr_throttled, s.cpu.throttled_time),
        (5, 2, 7_000)
    );
    assert_eq!((s.pids.current, s.pids.limit), (3, Some(64)));
    assert_eq!((s.io.read_bytes, s.io.write_bytes), (10, 20));
    m.destroy().expect("destroy");
    assert!(!dir.exists());
}

#[test]
fn v2_bad_input_leaves_nothing() {
    let root = fake_root();
    // '..' is refused at open, before anything exists.
    let err = open(&opts(root.path(), "/berth/../../etc")).expect_err("'..' accepted");
    assert!(matches!(err, CgroupError::InvalidPath { .. }), "{err}");
    assert!(err.to_string().contains("'..'"), "{err}");
    let err = open(&opts(root.path(), "machine.slice:berth:c1")).expect_err("systemd path");
    assert!(
        matches!(err, CgroupError::SystemdNotSupported { .. }),
        "{err}"
    );

    // An invalid unified key fails validation before any write, even of valid fields.
    let m = open(&opts(root.path(), "/bad")).expect("open");
    m.create().expect("create");
    let dir = root.path().join("bad");
    let before = files(&dir);
    let r = LinuxResourcesBuilder::default()
        .pids(LinuxPidsBuilder::default().limit(10).build().expect("pids"))
        .unified(HashMap::from([(
            "../memory.max".to_string(),
            "1".to_string(),
        )]))
        .build()
        .expect("resources");
    let err = m.apply(&r).expect_err("bad unified key accepted");
    assert!(matches!(err, CgroupError::InvalidResource { .. }), "{err}");
    assert!(err.to_string().contains("../memory.max"), "{err}");
    assert_eq!(
        files(&dir),
        before,
        "nothing may be written on invalid input"
    );
    assert!(!root.path().join("memory.max").exists());

    // swap < memory is refused with the field named.
    let r = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(100)
                .swap(50)
                .build()
                .expect("m"),
        )
        .build()
        .expect("resources");
    let err = m.apply(&r).expect_err("swap < memory accepted");
    assert!(err.to_string().contains("memory.swap"), "{err}");
    assert_eq!(files(&dir), before);

    m.destroy().expect("destroy");
    assert!(!dir.exists());
    assert_eq!(
        files(root.path()),
        [
            "cgroup.controllers",
            "cgroup.procs",
            "cgroup.subtree_control"
        ]
    );
}

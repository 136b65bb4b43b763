//! The v2 device eBPF filter for real, on the unified cgroup2 mount (on a hybrid host that is
//! /sys/fs/cgroup/unified; on a pure v2 host /sys/fs/cgroup).

mod common;

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use berth_cgroups::{detect_mode, open, CgroupManager, CgroupMode, CgroupOptions};
use berth_sys::bpf;
use common::{require, unique};
use oci_spec::runtime::{
    LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxResourcesBuilder,
};

fn unified_root() -> Option<PathBuf> {
    ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
        .iter()
        .map(PathBuf::from)
        .find(|p| detect_mode(p).ok() == Some(CgroupMode::V2))
}

fn rule(allow: bool, ma: Option<i64>, mi: Option<i64>) -> LinuxDeviceCgroup {
    let mut b = LinuxDeviceCgroupBuilder::default()
        .allow(allow)
        .access("rwm");
    if let Some(ma) = ma {
        b = b.typ(LinuxDeviceType::C).major(ma);
    }
    if let Some(mi) = mi {
        b = b.minor(mi);
    }
    b.build().expect("rule")
}

fn apply_devices(
    m: &dyn CgroupManager,
    rules: Vec<LinuxDeviceCgroup>,
) -> Result<(), berth_cgroups::CgroupError> {
    m.apply(
        &LinuxResourcesBuilder::default()
            .devices(rules)
            .build()
            .expect("resources"),
    )
}

fn run_in(dir: &Path, file: &str) -> std::process::Output {
    let script = format!(
        "echo $$ > {}/cgroup.procs && exec head -c1 {file}",
        dir.display()
    );
    Command::new("/bin/busybox")
        .args(["sh", "-c", &script])
        .stdin(Stdio::null())
        .output()
        .expect("run sh")
}

fn attached(dir: &Path) -> usize {
    let f = std::fs::File::open(dir).expect("open cgroup dir");
    bpf::prog_query(f.as_fd(), bpf::ATTACH_CGROUP_DEVICE)
        .expect("query")
        .len()
}

#[test]
fn v2_device_ebpf_filter_enforced_and_replaced() {
    if !require(
        common::is_root(),
        "needs root to create cgroups and load eBPF",
    ) {
        return;
    }
    let Some(root) = unified_root() else {
        require(
            false,
            "needs a cgroup2 mount at /sys/fs/cgroup/unified or /sys/fs/cgroup",
        );
        return;
    };
    let subtree = root.join("cgroup.subtree_control");
    let subtree_before = std::fs::read_to_string(&subtree).unwrap_or_default();
    let name = unique("bpf");
    let m = open(&CgroupOptions {
        cgroups_path: format!("/{name}"),
        container_id: name.clone(),
        root: Some(root.clone()),
        mode: Some(CgroupMode::V2),
    })
    .expect("open");
    let dir = m.v2_dir().expect("v2 dir").to_path_buf();
    m.create().expect("create");

    let deny_but_null = vec![rule(false, None, None), rule(true, Some(1), Some(3))];
    match apply_devices(m.as_ref(), deny_but_null) {
        Ok(()) => {}
        Err(e) => {
            let _ = m.destroy();
            assert!(!dir.exists());
            require(
                false,
                &format!("the kernel refused the device eBPF program: {e}"),
            );
            return;
        }
    }
    assert_eq!(attached(&dir), 1);
    let zero = run_in(&dir, "/dev/zero");
    assert!(!zero.status.success(), "reading /dev/zero was allowed");
    assert!(
        String::from_utf8_lossy(&zero.stderr).contains("Operation not permitted"),
        "stderr: {}",
        String::from_utf8_lossy(&zero.stderr)
    );
    let null = run_in(&dir, "/dev/null");
    assert!(
        null.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&null.stderr)
    );

    // update: the new program replaces ours (still exactly one attached), /dev/zero now allowed.
    apply_devices(
        m.as_ref(),
        vec![
            rule(false, None, None),
            rule(true, Some(1), Some(3)),
            rule(true, Some(1), Some(5)),
        ],
    )
    .expect("update devices");
    assert_eq!(attached(&dir), 1);
    let zero = run_in(&dir, "/dev/zero");
    assert!(
        zero.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&zero.stderr)
    );
    assert_eq!(zero.stdout, b"\0");

    // allow-all (privileged): no program at all.
    apply_devices(m.as_ref(), vec![rule(true, None, None)]).expect("allow all");
    assert_eq!(attached(&dir), 0);

    m.destroy().expect("destroy");
    assert!(!dir.exists(), "leaked {}", dir.display());
    // create() enabled the root's controllers in its subtree_control, as runc does; put the
    // host back the way it was.
    if subtree_before.trim().is_empty() {
        for c in std::fs::read_to_string(&subtree)
            .unwrap_or_default()
            .split_whitespace()
        {
            let _ = std::fs::write(&subtree, format!("-{c}"));
        }
    }
}

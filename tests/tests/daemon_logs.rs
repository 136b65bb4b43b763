//! Log drivers through the daemon and the real docker CLI: json-file rotation by max-size and
//! max-file read back in order, the local driver, and none (which `docker logs` refuses).

use berth_e2e::{busybox, busybox_docker_archive, is_root, require, BerthDaemon};
use std::process::Command;

fn ok(c: &mut Command) -> String {
    let o = c.output().expect("docker");
    assert!(
        o.status.success(),
        "{c:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn daemon() -> Option<BerthDaemon> {
    if !require(is_root(), "berth daemon needs root")
        || !require(busybox().is_some(), "busybox-static is not installed")
    {
        return None;
    }
    let d = BerthDaemon::start(&[]);
    let archive = d.dir.path().join("busybox.tar");
    busybox_docker_archive(&archive, "busybox:latest");
    ok(d.docker().arg("load").arg("-i").arg(&archive));
    Some(d)
}

#[test]
fn json_file_rotation_local_and_none() {
    let Some(d) = daemon() else { return };
    // 400 numbered lines of ~60 bytes into files of at most 4 KiB, 3 files kept.
    let script = "i=0; while [ $i -lt 400 ]; do echo \"line $i ..................................................\"; i=$((i+1)); done";
    let id = ok(d.docker().args([
        "run",
        "-d",
        "--log-opt",
        "max-size=4k",
        "--log-opt",
        "max-file=3",
        "busybox",
        "sh",
        "-c",
        script,
    ]))
    .trim()
    .to_string();
    assert_eq!(ok(d.docker().args(["wait", &id])).trim(), "0");
    let log_path = ok(d.docker().args(["inspect", "-f", "{{.LogPath}}", &id]));
    let log_path = log_path.trim();
    let dir = std::path::Path::new(log_path).parent().expect("log dir");
    let files: Vec<_> = std::fs::read_dir(dir)
        .expect("log dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.contains("-json.log"))
        .collect();
    assert!(
        files.len() <= 3 && files.len() >= 2,
        "rotated files: {files:?}"
    );
    for f in &files {
        let len = std::fs::metadata(dir.join(f)).expect("stat").len();
        assert!(len <= 4096 + 200, "{f} is {len} bytes, over max-size");
    }
    // What is kept reads back in order and ends with the last line.
    let out = ok(d.docker().args(["logs", &id]));
    let nums: Vec<u32> = out
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
        .collect();
    assert!(
        nums.len() > 50 && nums.len() < 400,
        "kept {} lines",
        nums.len()
    );
    assert!(
        nums.windows(2).all(|w| w[1] == w[0] + 1),
        "out of order: {nums:?}"
    );
    assert_eq!(nums.last(), Some(&399));
    let tail = ok(d.docker().args(["logs", "--tail", "2", &id]));
    assert_eq!(tail.lines().count(), 2);
    assert!(tail.ends_with("line 399 ..................................................\n"));

    // The local driver: logs read back, stderr kept apart.
    let id = ok(d.docker().args([
        "run",
        "-d",
        "--log-driver",
        "local",
        "busybox",
        "sh",
        "-c",
        "echo to-out; echo to-err >&2",
    ]))
    .trim()
    .to_string();
    ok(d.docker().args(["wait", &id]));
    let o = d.docker().args(["logs", &id]).output().expect("logs");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "to-out\n");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "to-err\n");

    // none: nothing written, and `docker logs` says the driver cannot be read.
    let id = ok(d
        .docker()
        .args(["run", "-d", "--log-driver", "none", "busybox", "echo", "x"]))
    .trim()
    .to_string();
    ok(d.docker().args(["wait", &id]));
    let o = d.docker().args(["logs", &id]).output().expect("logs");
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("does not support reading"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // An unknown driver is refused at create, naming it.
    let o = d
        .docker()
        .args(["run", "--log-driver", "syslog", "busybox", "true"])
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&o.stderr).contains("syslog"));
    assert!(ok(d.docker().args(["ps", "-aq", "--filter", "status=created"])).is_empty());
}

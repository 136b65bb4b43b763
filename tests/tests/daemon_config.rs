//! `berth daemon` start-up and shutdown: configuration checked before anything is bound, one
//! daemon per socket, SIGTERM drains and leaves containers running (live-restore).

use berth_e2e::{bin, busybox, is_root, require, BerthDaemon};
use std::process::Command;

fn daemon_with_config(dir: &std::path::Path, json: &str) -> std::process::Output {
    let cfg = dir.join("daemon.json");
    std::fs::write(&cfg, json).expect("write daemon.json");
    Command::new(bin("berth"))
        .arg("daemon")
        .arg("-H")
        .arg(format!("unix://{}", dir.join("sock").display()))
        .arg("--data-root")
        .arg(dir.join("data"))
        .arg("--exec-root")
        .arg(dir.join("exec"))
        .arg("--config-file")
        .arg(&cfg)
        .output()
        .expect("run berth daemon")
}

#[test]
fn bad_configuration_is_named_and_nothing_is_bound() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (json, needle) in [
        (r#"{"data-rot": "/x"}"#, "\"data-rot\""),
        (r#"{"log-driver": "syslog"}"#, "log-driver"),
        (r#"{"default-runtime": "nope"}"#, "default-runtime"),
        (r#"{"log-opts": {"max-size": "lots"}}"#, "max-size"),
        (r#"{"live-restore": "yes"}"#, "live-restore"),
        ("{", "config file"),
    ] {
        let o = daemon_with_config(dir.path(), json);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{json}: {err}");
        assert!(
            err.contains(needle),
            "{json}: error should name {needle}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(!dir.path().join("sock").exists(), "{json}: socket bound");
        assert!(
            !dir.path().join("data").exists(),
            "{json}: data root created"
        );
    }
    let o = Command::new(bin("berth"))
        .args(["daemon", "-H", "tcp://nowhere"])
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--host"));
}

#[test]
fn one_daemon_per_socket_and_sigterm_leaves_containers_running() {
    if !require(is_root(), "berth daemon needs root")
        || !require(busybox().is_some(), "busybox-static is not installed")
    {
        return;
    }
    let mut d = BerthDaemon::start(&[]);
    // A second daemon on the same socket refuses before touching the first one's state.
    let o = Command::new(bin("berth"))
        .arg("daemon")
        .arg("-H")
        .arg(format!("unix://{}", d.socket.display()))
        .arg("--data-root")
        .arg(d.dir.path().join("other-data"))
        .arg("--exec-root")
        .arg(d.dir.path().join("other-exec"))
        .arg("--config-file")
        .arg(d.dir.path().join("daemon.json"))
        .output()
        .expect("second daemon");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("already listening"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(d.ping(), "the first daemon still answers");

    let archive = d.dir.path().join("busybox.tar");
    berth_e2e::busybox_docker_archive(&archive, "busybox:latest");
    let ok = |c: &mut Command| {
        let o = c.output().expect("docker");
        assert!(
            o.status.success(),
            "{:?}: {}",
            c,
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    ok(d.docker().arg("load").arg("-i").arg(&archive));
    let id = ok(d.docker().args(["run", "-d", "busybox", "sleep", "300"]));
    let pid = ok(d.docker().args(["inspect", "-f", "{{.State.Pid}}", &id]));

    // SIGTERM: the daemon exits, removes its socket, and the container keeps running.
    d.stop();
    assert!(!d.socket.exists(), "socket removed on shutdown");
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the container outlives the daemon"
    );
    d.restart();
    assert_eq!(
        ok(d.docker()
            .args(["inspect", "-f", "{{.State.Status}} {{.State.Pid}}", &id])),
        format!("running {pid}")
    );
    ok(d.docker().args(["rm", "-f", &id]));
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert!(d.leftover_mounts().is_empty(), "{:?}", d.leftover_mounts());
}

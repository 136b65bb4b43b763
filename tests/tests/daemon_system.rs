//! `docker system df` and `docker system prune` against berth daemon: the figures follow what
//! exists, and prune removes stopped containers and unused images and nothing in use.

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

#[test]
fn system_df_and_prune() {
    if !require(is_root(), "berth daemon needs root")
        || !require(busybox().is_some(), "busybox-static is not installed")
    {
        return;
    }
    let d = BerthDaemon::start(&[]);
    let archive = d.dir.path().join("busybox.tar");
    busybox_docker_archive(&archive, "busybox:latest");
    ok(d.docker().arg("load").arg("-i").arg(&archive));
    // A second, unused image: a one-file rootfs imported.
    let tar = d.dir.path().join("spare.tar");
    let src = d.dir.path().join("spare");
    std::fs::create_dir_all(&src).expect("mkdir");
    std::fs::write(src.join("hello"), "hi\n").expect("write");
    let o = Command::new("tar")
        .arg("-C")
        .arg(&src)
        .arg("-cf")
        .arg(&tar)
        .arg("hello")
        .status()
        .expect("tar");
    assert!(o.success());
    ok(d.docker().arg("import").arg(&tar).arg("spare:1"));
    let running = ok(d.docker().args(["run", "-d", "busybox", "sleep", "300"]));
    ok(d.docker().args([
        "run",
        "--name",
        "stopped",
        "busybox",
        "sh",
        "-c",
        "echo x > /f",
    ]));

    let df = ok(d.docker().args([
        "system",
        "df",
        "--format",
        "{{.Type}} {{.TotalCount}} {{.Active}}",
    ]));
    assert!(df.contains("Images 2 1"), "{df}");
    assert!(df.contains("Containers 2 1"), "{df}");

    let out = ok(d
        .docker()
        .args(["system", "prune", "-a", "-f", "--volumes"]));
    assert!(out.contains("Deleted Containers:"), "{out}");
    assert!(out.contains("untagged: spare:1"), "{out}");
    // The running container and its image stay.
    let ps = ok(d.docker().args(["ps", "-aq", "--no-trunc"]));
    assert_eq!(ps.trim(), running.trim());
    let images = ok(d
        .docker()
        .args(["images", "--format", "{{.Repository}}:{{.Tag}}"]));
    assert_eq!(images.trim(), "busybox:latest");
    ok(d.docker().args(["rm", "-f", running.trim()]));
    assert!(d.leftover_mounts().is_empty(), "{:?}", d.leftover_mounts());
}

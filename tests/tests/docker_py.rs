//! docker-py 7.1.0 driving `berth daemon` the way a user's Python script does
//! (`docker.DockerClient(base_url="unix://...")`): version/info, containers.run in every shape
//! (output bytes, detach, remove, stream, ContainerError), list with filters, get, attrs, logs
//! (plain, stream + follow), exec_run (exit code, demux, tty, environment, user), stop/kill/
//! restart/remove/wait, images pull/push against Debian's docker-registry, list/get/tag/remove,
//! and the errors scripts catch (NotFound, ImageNotFound, APIError 409 for a name in use).
//!
//! The Python side is tests/fixtures/docker_py/cases.py, one case per test and one daemon per
//! case. Each case removes its containers and reports their ids; the test then stops the daemon
//! and checks that no process, mount or cgroup of theirs is left.

use berth_e2e::{
    busybox, busybox_docker_archive, cgroup_dirs_under, is_root, pids_mentioning, require, run,
    stderr, stdout, BerthDaemon, DockerRegistry, DOCKER_CLI,
};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const IMAGE: &str = "busybox:py";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/docker_py/cases.py")
}

/// Root, busybox-static, the docker CLI (to load the image) and docker-py itself.
fn prerequisites(what: &str) -> bool {
    if !(require(
        is_root(),
        &format!("{what} need root (namespaces, cgroups, mounts)"),
    ) && require(busybox().is_some(), "busybox-static is not installed")
        && require(
            Path::new(DOCKER_CLI).exists(),
            "docker CLI 28 is not at /usr/local/bin/docker",
        ))
    {
        return false;
    }
    let py = run(Command::new("python3").args([
        "-c",
        "import docker, sys; sys.exit(docker.__version__ != '7.1.0')",
    ]));
    require(
        py.status.success(),
        &format!(
            "docker-py 7.1.0 is not importable by python3 (scripts/deps.sh installs it): {}",
            stderr(&py)
        ),
    )
}

/// A daemon (with `args`) holding the busybox image as `IMAGE`.
fn daemon(args: &[&str]) -> BerthDaemon {
    let d = BerthDaemon::start(args);
    let tmp = tempfile::tempdir().expect("tempdir");
    let archive = tmp.path().join("busybox.tar");
    busybox_docker_archive(&archive, IMAGE);
    let o = run(d
        .docker()
        .args(["load", "-i", &archive.display().to_string()]));
    assert!(o.status.success(), "docker load: {}", stderr(&o));
    d
}

/// Runs one case of cases.py against `d`; panics with its output and the daemon's log when it
/// fails. Returns the ids of the containers the case created.
fn case(d: &BerthDaemon, name: &str, registry: Option<&str>) -> Vec<String> {
    let mut c = Command::new("python3");
    c.arg(script()).arg(name).arg(d.host()).arg(IMAGE);
    if let Some(r) = registry {
        c.arg(r);
    }
    // Only base_url counts: no DOCKER_* from the environment reaches docker-py.
    for var in ["DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"] {
        c.env_remove(var);
    }
    let o = run(&mut c);
    let out = stdout(&o);
    let report: Option<Value> = out
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok());
    assert!(
        o.status.success() && report.as_ref().is_some_and(|r| r["ok"] == true),
        "docker-py case {name} failed:\n{out}\n{}\ndaemon log (tail):\n{}",
        stderr(&o),
        tail(&d.log(), 40)
    );
    report.expect("checked above")["ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Stops the daemon and checks that the containers `ids` left nothing: no process (monitor,
/// runtime, container) naming the daemon's directory or a container id, no mount under the
/// daemon's roots, no cgroup `/berth/<id>`; then that the daemon's directory is gone.
fn finish(mut d: BerthDaemon, ids: &[String]) {
    let ps = run(d.docker().args(["ps", "-aq"]));
    assert_eq!(stdout(&ps), "", "containers left in the daemon");
    d.stop();
    let dir = d.dir.path().to_string_lossy().to_string();
    assert_eq!(
        pids_mentioning(&dir),
        Vec::<u32>::new(),
        "processes left under {dir}"
    );
    for id in ids {
        assert_eq!(
            pids_mentioning(id),
            Vec::<u32>::new(),
            "processes left for {id}"
        );
        assert_eq!(
            cgroup_dirs_under(&format!("berth/{id}")),
            Vec::<PathBuf>::new(),
            "cgroups left for {id}"
        );
    }
    assert_eq!(
        d.leftover_mounts(),
        Vec::<String>::new(),
        "mounts left behind"
    );
    let path = d.dir.path().to_path_buf();
    drop(d);
    assert!(!path.exists(), "{} left behind", path.display());
}

/// Runs `name` on a fresh daemon and checks what it leaves.
fn plain_case(name: &str) {
    if !prerequisites(&format!("docker-py {name} tests")) {
        return;
    }
    let d = daemon(&[]);
    let ids = case(&d, name, None);
    assert!(!ids.is_empty(), "the {name} case created no container");
    finish(d, &ids);
}

#[test]
fn docker_py_version_info_and_run() {
    plain_case("system");
}

#[test]
fn docker_py_list_get_attrs_logs() {
    plain_case("list_get_logs");
}

#[test]
fn docker_py_exec_run() {
    plain_case("exec");
}

#[test]
fn docker_py_stop_kill_restart_wait_remove() {
    plain_case("lifecycle");
}

#[test]
fn docker_py_errors() {
    plain_case("errors");
}

#[test]
fn docker_py_images_against_a_registry() {
    if !prerequisites("docker-py image tests")
        || !require(
            berth_e2e::which("skopeo").is_some(),
            "skopeo is not installed",
        )
    {
        return;
    }
    let Some(reg) = DockerRegistry::start(None) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let archive = tmp.path().join("busybox.tar");
    busybox_docker_archive(&archive, "busybox:latest");
    reg.push_archive(&archive, "busybox:latest", None);
    // No image loaded: the case starts from an empty store (the registry's busybox has the
    // same config, hence the same id, as the one `daemon()` loads).
    let d = BerthDaemon::start(&["--insecure-registry", &reg.addr]);
    let ids = case(&d, "images", Some(&reg.addr));
    finish(d, &ids);
}

/// Docker starts an exec whose user is not in the container's /etc/passwd and ends it with
/// exit code 126, so `exec_run` returns (126, ...) with the error in the output.
#[test]
fn docker_py_exec_unknown_user_is_exit_126() {
    plain_case("exec_unknown_user");
}

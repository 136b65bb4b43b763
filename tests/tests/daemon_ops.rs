//! Container operations through `berth daemon`, driven by the real docker CLI 28: stats, top,
//! cp in both directions (running, stopped and never-started containers, symlinks that must
//! stay inside the container), update (checked in the cgroup files), pause/unpause, rename,
//! container prune with filters, and HEALTHCHECK (healthy, unhealthy, timeout, events).

use berth_e2e::{busybox, is_root, require, run, stderr, stdout, which};
use berth_e2e::{BerthDaemon, DOCKER_CLI};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const IMAGE: &str = "busybox:ops";

fn prerequisites(what: &str) -> bool {
    require(
        is_root(),
        &format!("{what} need root (namespaces, cgroups, mounts)"),
    ) && require(busybox().is_some(), "busybox-static is not installed")
        && require(
            Path::new(DOCKER_CLI).exists(),
            "docker CLI 28 is not at /usr/local/bin/docker",
        )
}

/// A daemon with the busybox image loaded.
fn setup() -> BerthDaemon {
    BerthDaemon::with_busybox(&[], IMAGE)
}

fn docker(d: &BerthDaemon, args: &[&str]) -> Output {
    run(d.docker().args(args))
}

fn ok(o: &Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed: {}\n{}",
        stderr(o),
        stdout(o)
    );
    stdout(o)
}

fn fails(o: &Output, what: &str, message: &str) {
    assert!(!o.status.success(), "{what} should fail: {}", stdout(o));
    assert!(
        stderr(o).contains(message),
        "{what}: expected {message:?} in {:?}",
        stderr(o)
    );
}

/// `docker run -d ARGS` → the container id.
fn run_detached(d: &BerthDaemon, args: &[&str]) -> String {
    let mut a = vec!["run", "-d", "--network", "none"];
    a.extend_from_slice(args);
    ok(&docker(d, &a), "docker run -d").trim().to_string()
}

fn inspect(d: &BerthDaemon, name: &str) -> Value {
    let out = ok(&docker(d, &["inspect", name]), "docker inspect");
    let v: Value = serde_json::from_str(&out).expect("inspect JSON");
    v[0].clone()
}

/// Polls `cond` on the inspect output for up to `secs`.
fn wait_inspect(d: &BerthDaemon, name: &str, secs: u64, cond: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let v = inspect(d, name);
        if cond(&v) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "condition not reached in {secs}s; inspect: {v:#}\ndaemon log:\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `GET path` on the daemon's socket with curl.
fn api_get(d: &BerthDaemon, path: &str) -> Output {
    run(Command::new("curl").args([
        "-sS",
        "--max-time",
        "20",
        "--unix-socket",
        &d.socket.display().to_string(),
        &format!("http://berth{path}"),
    ]))
}

/// The actions of the container events so far (`docker events --since 0 --until now`).
fn event_actions(d: &BerthDaemon, container: &str) -> Vec<String> {
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 1;
    let out = ok(
        &docker(
            d,
            &[
                "events",
                "--since",
                "0",
                "--until",
                &until.to_string(),
                "--filter",
                &format!("container={container}"),
                "--format",
                "{{.Action}}",
            ],
        ),
        "docker events",
    );
    out.lines().map(String::from).collect()
}

/// Stops the daemon and checks nothing stays mounted under its roots.
fn finish(mut d: BerthDaemon) {
    let ids = stdout(&docker(&d, &["ps", "-aq"]));
    for id in ids.split_whitespace() {
        let _ = docker(&d, &["rm", "-f", id]);
    }
    d.stop();
    assert_eq!(
        d.leftover_mounts(),
        Vec::<String>::new(),
        "mounts left behind"
    );
}

#[test]
fn stats_top_pause_unpause_rename() {
    if !prerequisites("daemon container operation tests") {
        return;
    }
    let d = setup();
    let id = run_detached(&d, &["--name", "web", IMAGE, "sleep", "1000"]);

    // docker stats: the CLI computes its columns from our samples.
    let out = ok(
        &docker(
            &d,
            &["stats", "--no-stream", "--format", "{{json .}}", "web"],
        ),
        "docker stats",
    );
    let s: Value = serde_json::from_str(out.trim()).expect("stats JSON line");
    assert_eq!(s["Name"], "web", "{s}");
    assert_eq!(s["PIDs"], "1", "{s}");
    let mem = s["MemUsage"].as_str().unwrap_or("");
    assert!(mem.contains(" / ") && !mem.starts_with("0B"), "{s}");
    assert!(s["CPUPerc"].as_str().unwrap_or("").ends_with('%'), "{s}");

    // The raw API: Docker's shape, a previous sample one second earlier.
    if require(which("curl").is_some(), "curl is not installed") {
        let o = api_get(&d, "/containers/web/stats?stream=false");
        let v: Value = serde_json::from_slice(&o.stdout).expect("stats JSON");
        assert_eq!(v["name"], "/web");
        assert_eq!(v["id"], id.as_str());
        assert!(
            v["cpu_stats"]["system_cpu_usage"].as_u64().unwrap_or(0) > 0,
            "{v}"
        );
        assert!(
            v["precpu_stats"]["system_cpu_usage"].as_u64().unwrap_or(0) > 0,
            "{v}"
        );
        assert!(
            v["cpu_stats"]["online_cpus"].as_u64().unwrap_or(0) >= 1,
            "{v}"
        );
        assert!(v["memory_stats"]["usage"].as_u64().unwrap_or(0) > 0, "{v}");
        assert!(v["memory_stats"]["stats"].is_object(), "{v}");
        assert_eq!(v["pids_stats"]["current"], 1, "{v}");
        assert_ne!(v["read"], v["preread"]);
        // A stream gives one sample a second.
        let t = Instant::now();
        let o = run(Command::new("curl").args([
            "-sS",
            "-N",
            "--max-time",
            "3",
            "--unix-socket",
            &d.socket.display().to_string(),
            "http://berth/containers/web/stats",
        ]));
        let lines: Vec<Value> = stdout(&o)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        assert!(t.elapsed() >= Duration::from_secs(2), "stream ended early");
        assert!(lines.len() >= 2, "{}", stdout(&o));
        assert_eq!(lines[1]["precpu_stats"], lines[0]["cpu_stats"]);
    }

    // docker top: ps on the host, only the container's processes.
    let out = ok(&docker(&d, &["top", "web"]), "docker top");
    let rows: Vec<&str> = out.lines().collect();
    assert!(rows[0].contains("PID") && rows[0].contains("CMD"), "{out}");
    assert_eq!(rows.len(), 2, "only the container's process: {out}");
    assert!(rows[1].contains("sleep 1000"), "{out}");
    let out = ok(
        &docker(&d, &["top", "web", "-o", "pid,comm"]),
        "docker top -o",
    );
    assert!(
        out.lines().next().unwrap_or("").contains("COMMAND"),
        "{out}"
    );
    assert!(out.contains("sleep"), "{out}");

    // pause / unpause.
    ok(&docker(&d, &["pause", "web"]), "docker pause");
    assert_eq!(inspect(&d, "web")["State"]["Status"], "paused");
    let freezer = Path::new("/sys/fs/cgroup/freezer/berth")
        .join(&id)
        .join("freezer.state");
    if freezer.exists() {
        assert_eq!(
            std::fs::read_to_string(&freezer)
                .expect("freezer.state")
                .trim(),
            "FROZEN"
        );
    }
    fails(
        &docker(&d, &["pause", "web"]),
        "second pause",
        &format!("Container {id} is already paused"),
    );
    ok(&docker(&d, &["unpause", "web"]), "docker unpause");
    assert_eq!(inspect(&d, "web")["State"]["Status"], "running");
    fails(
        &docker(&d, &["unpause", "web"]),
        "second unpause",
        &format!("Container {id} is not paused"),
    );

    // rename.
    ok(&docker(&d, &["rename", "web", "web2"]), "docker rename");
    assert_eq!(inspect(&d, &id)["Name"], "/web2");
    fails(
        &docker(&d, &["rename", "web2", "bad/name"]),
        "rename to an invalid name",
        "Invalid container name (bad/name)",
    );
    ok(
        &docker(&d, &["create", "--name", "other", IMAGE, "true"]),
        "create",
    );
    fails(
        &docker(&d, &["rename", "other", "web2"]),
        "rename to a taken name",
        "is already in use",
    );
    let actions = event_actions(&d, &id);
    for a in ["pause", "unpause", "rename"] {
        assert!(actions.iter().any(|x| x == a), "no {a} event: {actions:?}");
    }

    // Stopped: top is refused, stats are zero, pause is refused.
    ok(&docker(&d, &["stop", "-t", "1", "web2"]), "docker stop");
    fails(
        &docker(&d, &["top", "web2"]),
        "top of a stopped container",
        &format!("Container {id} is not running"),
    );
    fails(
        &docker(&d, &["pause", "web2"]),
        "pause of a stopped container",
        "is not running",
    );
    let out = ok(
        &docker(
            &d,
            &[
                "stats",
                "--no-stream",
                "--format",
                "{{.MemUsage}} {{.PIDs}}",
                "web2",
            ],
        ),
        "docker stats of a stopped container",
    );
    assert_eq!(out.trim(), "0B / 0B 0", "{out}");
    finish(d);
}

#[test]
fn cp_both_ways_running_stopped_and_created() {
    if !prerequisites("daemon container operation tests") {
        return;
    }
    let d = setup();
    let tmp = tempfile::tempdir().expect("tempdir");
    let host = tmp.path();
    std::fs::write(host.join("hello.txt"), "hello from the host\n").expect("write");
    std::fs::create_dir_all(host.join("tree/sub")).expect("mkdir");
    std::fs::write(host.join("tree/sub/a.txt"), "aaa").expect("write");
    std::os::unix::fs::symlink("sub/a.txt", host.join("tree/link")).expect("symlink");
    std::os::unix::fs::symlink("/", host.join("esc")).expect("symlink");
    let h = |p: &str| host.join(p).display().to_string();

    let id = run_detached(&d, &["--name", "box", IMAGE, "sleep", "1000"]);
    // Into a running container: a file into a directory, a file under a new name, a tree.
    ok(
        &docker(&d, &["cp", &h("hello.txt"), "box:/tmp/"]),
        "cp file in",
    );
    ok(
        &docker(&d, &["cp", &h("hello.txt"), "box:/tmp/renamed.txt"]),
        "cp file in, renamed",
    );
    ok(
        &docker(&d, &["cp", &h("tree"), "box:/tmp/tree"]),
        "cp dir in",
    );
    // And out again.
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).expect("mkdir");
    let o = |p: &str| out.join(p).display().to_string();
    ok(
        &docker(&d, &["cp", "box:/tmp/hello.txt", &o("hello.txt")]),
        "cp file out",
    );
    ok(
        &docker(&d, &["cp", "box:/tmp/renamed.txt", &o("renamed.txt")]),
        "cp file out",
    );
    ok(
        &docker(&d, &["cp", "box:/tmp/tree", &o("tree")]),
        "cp dir out",
    );
    assert_eq!(
        std::fs::read_to_string(out.join("hello.txt")).expect("read"),
        "hello from the host\n"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("renamed.txt")).expect("read"),
        "hello from the host\n"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("tree/sub/a.txt")).expect("read"),
        "aaa"
    );
    assert_eq!(
        std::fs::read_link(out.join("tree/link")).expect("symlink kept"),
        Path::new("sub/a.txt")
    );
    // A file from the image, to stdout as a tar.
    let o_tar = docker(&d, &["cp", "box:/etc/passwd", "-"]);
    ok(&o_tar, "cp to stdout");
    let tar_file = tmp.path().join("passwd.tar");
    std::fs::write(&tar_file, &o_tar.stdout).expect("write tar");
    let list = run(Command::new("tar").arg("-tf").arg(&tar_file));
    assert_eq!(
        stdout(&list).trim(),
        "passwd",
        "entries named after the path's last element"
    );

    // Missing paths: Docker's 404 message.
    fails(
        &docker(&d, &["cp", "box:/nope", &o("nope")]),
        "cp of a missing path",
        "Could not find the file /nope in container box",
    );
    // A symlink inside the container that points at / is resolved in the container: copying
    // through it writes into the container's /etc, never the host's.
    ok(
        &docker(&d, &["cp", &h("esc"), "box:/tmp/esc"]),
        "cp symlink in",
    );
    let marker = format!("berth-cp-escape-{}", &id[..12]);
    std::fs::write(host.join(&marker), "x").expect("write");
    ok(
        &docker(&d, &["cp", &h(&marker), "box:/tmp/esc/etc/"]),
        "cp through a symlink",
    );
    assert!(
        !Path::new("/etc").join(&marker).exists(),
        "docker cp wrote to the host's /etc"
    );
    ok(
        &docker(&d, &["cp", &format!("box:/etc/{marker}"), &o("marker")]),
        "the file is in the container's /etc",
    );

    // A stopped container: its snapshot is mounted for the copy and unmounted after.
    ok(&docker(&d, &["stop", "-t", "1", "box"]), "docker stop");
    ok(
        &docker(&d, &["cp", &h("hello.txt"), "box:/root/"]),
        "cp into a stopped container",
    );
    ok(
        &docker(&d, &["cp", "box:/root/hello.txt", &o("stopped.txt")]),
        "cp out of a stopped container",
    );
    assert_eq!(
        std::fs::read_to_string(out.join("stopped.txt")).expect("read"),
        "hello from the host\n"
    );
    let rootfs = d.data_root.join("containers").join(&id).join("rootfs");
    assert!(
        !d.leftover_mounts().iter().any(|m| Path::new(m) == rootfs),
        "the stopped container's rootfs stayed mounted"
    );
    // What was copied while stopped is there when it runs again.
    ok(&docker(&d, &["start", "box"]), "docker start");
    ok(
        &docker(&d, &["cp", "box:/root/hello.txt", &o("again.txt")]),
        "cp after restart",
    );

    // A container that never ran.
    ok(
        &docker(&d, &["create", "--name", "fresh", IMAGE, "true"]),
        "create",
    );
    ok(
        &docker(&d, &["cp", &h("hello.txt"), "fresh:/tmp/"]),
        "cp into a created container",
    );
    ok(
        &docker(&d, &["cp", "fresh:/tmp/hello.txt", &o("fresh.txt")]),
        "cp out of a created container",
    );
    finish(d);
}

/// The value of a v1 cgroup file of container `id`, or v2's when the host is unified.
fn cgroup_value(id: &str, v1: &str, v2: &str) -> Option<String> {
    let (ctl, file) = v1.split_once('/').expect("controller/file");
    [
        Path::new("/sys/fs/cgroup")
            .join(ctl)
            .join("berth")
            .join(id)
            .join(file),
        Path::new("/sys/fs/cgroup/berth").join(id).join(v2),
    ]
    .iter()
    .find_map(|p| std::fs::read_to_string(p).ok())
    .map(|s| s.trim().to_string())
}

#[test]
fn update_resources_of_running_and_stopped_containers() {
    if !prerequisites("daemon container operation tests") {
        return;
    }
    let d = setup();
    let id = run_detached(&d, &["--name", "upd", "-m", "64m", IMAGE, "sleep", "1000"]);
    ok(
        &docker(
            &d,
            &[
                "update",
                "--memory",
                "128m",
                "--memory-swap",
                "256m",
                "--cpu-shares",
                "512",
                "--pids-limit",
                "50",
                "upd",
            ],
        ),
        "docker update",
    );
    let hc = &inspect(&d, "upd")["HostConfig"];
    assert_eq!(hc["Memory"], 128 << 20);
    assert_eq!(hc["MemorySwap"], 256 << 20);
    assert_eq!(hc["CpuShares"], 512);
    assert_eq!(hc["PidsLimit"], 50);
    assert_eq!(
        cgroup_value(&id, "memory/memory.limit_in_bytes", "memory.max").as_deref(),
        Some("134217728")
    );
    assert_eq!(
        cgroup_value(&id, "cpu/cpu.shares", "cpu.weight").as_deref(),
        Some(if Path::new("/sys/fs/cgroup/cpu").exists() {
            "512"
        } else {
            "20"
        })
    );
    assert_eq!(
        cgroup_value(&id, "pids/pids.max", "pids.max").as_deref(),
        Some("50")
    );
    // Docker's validation, and nothing changed by a refused update.
    fails(
        &docker(&d, &["update", "--memory", "1m", "upd"]),
        "too little memory",
        "Minimum memory limit allowed is 6MB",
    );
    fails(
        &docker(&d, &["update", "--memory", "512m", "upd"]),
        "memory above the swap limit",
        "update the memoryswap at the same time",
    );
    assert_eq!(inspect(&d, "upd")["HostConfig"]["Memory"], 128 << 20);
    // Restart policy.
    ok(
        &docker(&d, &["update", "--restart", "on-failure:3", "upd"]),
        "update --restart",
    );
    let rp = &inspect(&d, "upd")["HostConfig"]["RestartPolicy"];
    assert_eq!(rp["Name"], "on-failure");
    assert_eq!(rp["MaximumRetryCount"], 3);
    // A stopped container keeps the values for its next start.
    ok(&docker(&d, &["stop", "-t", "1", "upd"]), "docker stop");
    ok(
        &docker(&d, &["update", "--memory", "96m", "upd"]),
        "update stopped",
    );
    ok(&docker(&d, &["start", "upd"]), "docker start");
    assert_eq!(inspect(&d, "upd")["HostConfig"]["Memory"], 96 << 20);
    assert_eq!(
        cgroup_value(&id, "memory/memory.limit_in_bytes", "memory.max").as_deref(),
        Some("100663296")
    );
    assert!(event_actions(&d, &id).iter().any(|a| a == "update"));
    finish(d);
}

#[test]
fn container_prune_with_filters() {
    if !prerequisites("daemon container operation tests") {
        return;
    }
    let d = setup();
    let running = run_detached(&d, &["--name", "keep-running", IMAGE, "sleep", "1000"]);
    ok(
        &docker(
            &d,
            &["run", "--network", "none", "--name", "done1", IMAGE, "true"],
        ),
        "run done1",
    );
    ok(
        &docker(
            &d,
            &[
                "run",
                "--network",
                "none",
                "--name",
                "done2",
                "--label",
                "tier=tmp",
                IMAGE,
                "sh",
                "-c",
                "echo x > /big",
            ],
        ),
        "run done2",
    );
    ok(
        &docker(&d, &["create", "--name", "created", IMAGE, "true"]),
        "create",
    );

    let out = ok(
        &docker(
            &d,
            &["container", "prune", "-f", "--filter", "label=tier=tmp"],
        ),
        "prune by label",
    );
    assert!(out.contains("Total reclaimed space"), "{out}");
    let names = ok(
        &docker(&d, &["ps", "-a", "--format", "{{.Names}}"]),
        "ps -a",
    );
    assert!(!names.contains("done2"), "{names}");
    assert!(
        names.contains("done1") && names.contains("created"),
        "{names}"
    );

    // until in the past: nothing is old enough.
    ok(
        &docker(&d, &["container", "prune", "-f", "--filter", "until=1h"]),
        "prune until",
    );
    let names = ok(
        &docker(&d, &["ps", "-a", "--format", "{{.Names}}"]),
        "ps -a",
    );
    assert!(names.contains("done1"), "{names}");

    let out = ok(&docker(&d, &["container", "prune", "-f"]), "prune");
    assert!(out.contains("Deleted Containers:"), "{out}");
    let names = ok(
        &docker(&d, &["ps", "-a", "--format", "{{.Names}}"]),
        "ps -a",
    );
    assert_eq!(names.trim(), "keep-running", "only the running one stays");
    assert_eq!(inspect(&d, "keep-running")["Id"], running.as_str());
    fails(
        &docker(
            &d,
            &["container", "prune", "-f", "--filter", "status=exited"],
        ),
        "an unknown filter",
        "Invalid filter 'status'",
    );
    finish(d);
}

#[test]
fn healthcheck_states_events_and_timeout() {
    if !prerequisites("daemon container operation tests") {
        return;
    }
    let d = setup();
    let id = run_detached(
        &d,
        &[
            "--name",
            "hc",
            "--health-cmd",
            "test -f /tmp/ok",
            "--health-interval",
            "1s",
            "--health-retries",
            "2",
            IMAGE,
            "sleep",
            "1000",
        ],
    );
    let v = inspect(&d, "hc");
    assert_eq!(v["Config"]["Healthcheck"]["Test"][0], "CMD-SHELL", "{v:#}");
    // Failing probes: unhealthy after two.
    let v = wait_inspect(&d, "hc", 20, |v| {
        v["State"]["Health"]["Status"] == "unhealthy"
    });
    let h = &v["State"]["Health"];
    assert!(h["FailingStreak"].as_i64().unwrap_or(0) >= 2, "{h}");
    assert_eq!(h["Log"][0]["ExitCode"], 1, "{h}");
    // The file appears: healthy.
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("ok"), "").expect("write");
    ok(
        &docker(
            &d,
            &[
                "cp",
                &tmp.path().join("ok").display().to_string(),
                "hc:/tmp/ok",
            ],
        ),
        "cp ok",
    );
    let v = wait_inspect(&d, "hc", 20, |v| {
        v["State"]["Health"]["Status"] == "healthy"
    });
    let h = &v["State"]["Health"];
    assert_eq!(h["FailingStreak"], 0, "{h}");
    let log = h["Log"].as_array().expect("log");
    assert!(log.len() <= 5, "{h}");
    assert_eq!(log.last().expect("entry")["ExitCode"], 0, "{h}");
    // `docker ps` shows it too.
    let ps = ok(
        &docker(&d, &["ps", "--format", "{{.Status}}", "-f", "name=hc"]),
        "ps",
    );
    assert!(ps.contains("(healthy)"), "{ps}");
    let actions = event_actions(&d, &id);
    assert!(
        actions.iter().any(|a| a == "health_status: unhealthy"),
        "{actions:?}"
    );
    assert!(
        actions.iter().any(|a| a == "health_status: healthy"),
        "{actions:?}"
    );
    // Stopped: no more probes.
    ok(&docker(&d, &["stop", "-t", "1", "hc"]), "docker stop");
    let before = inspect(&d, "hc")["State"]["Health"]["Log"].clone();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(inspect(&d, "hc")["State"]["Health"]["Log"], before);

    // A probe that outlives its timeout is killed and fails.
    let slow = run_detached(
        &d,
        &[
            "--name",
            "slow",
            "--health-cmd",
            "sleep 30",
            "--health-interval",
            "1s",
            "--health-timeout",
            "1s",
            "--health-retries",
            "1",
            IMAGE,
            "sleep",
            "1000",
        ],
    );
    let v = wait_inspect(&d, "slow", 20, |v| {
        v["State"]["Health"]["Status"] == "unhealthy"
    });
    let entry = &v["State"]["Health"]["Log"][0];
    assert_eq!(entry["ExitCode"], -1, "{entry}");
    assert_eq!(
        entry["Output"], "Health check exceeded timeout (1s)",
        "{entry}"
    );
    // The timed-out probes do not pile up: at most the current one besides init.
    let out = ok(&docker(&d, &["top", "slow", "-o", "pid,args"]), "top");
    let probes = out.lines().filter(|l| l.contains("sleep 30")).count();
    assert!(probes <= 1, "timed-out probes left running: {out}");
    let _ = slow;

    // NONE disables the image's check.
    let none = run_detached(&d, &["--no-healthcheck", IMAGE, "sleep", "1000"]);
    std::thread::sleep(Duration::from_secs(2));
    assert!(inspect(&d, &none)["State"]["Health"].is_null());
    finish(d);
}

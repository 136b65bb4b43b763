//! The container lifecycle through `berth daemon`, driven end to end by the real docker CLI 28
//! (and curl on the socket where the HTTP status matters): version/info, run --rm exit codes
//! and streams, run -d/ps/logs/exec/attach/stop/kill/restart/rm/inspect/wait/rename, ttys,
//! restart policies, events and ps filters, Docker's defaults inside the container (caps,
//! seccomp, masked paths, limits in the cgroup files), the daemon SIGKILLed while containers run,
//! start and are removed, 50 concurrent runs, bad input, and a differential run against Debian's
//! dockerd. Every test has its own daemon (private roots and socket) and checks that nothing is
//! left behind: mounts, cgroups, berth-monitor processes, runtime state and records.

use berth_e2e::{
    busybox, busybox_docker_archive, cgroup_dirs_under, is_root, kill_pids, mounts_containing,
    pids_in_cgroups_under, pids_mentioning, require, run, stderr, stdout, which, BerthDaemon,
    Dockerd, DOCKER_CLI,
};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const IMAGE: &str = "busybox:latest";
/// Docker's default capability set (moby oci/caps/defaults.go) as /proc/PID/status shows it.
const DOCKER_DEFAULT_CAPS: &str = "00000000a80425fb";

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

/// A daemon with `busybox:latest` loaded. On drop (also when a test fails half way) every
/// container is removed and whatever still runs in their cgroups is killed, so a failing test
/// leaves no `sleep 1000` behind.
struct Daemon(BerthDaemon);

impl std::ops::Deref for Daemon {
    type Target = BerthDaemon;
    fn deref(&self) -> &BerthDaemon {
        &self.0
    }
}

impl std::ops::DerefMut for Daemon {
    fn deref_mut(&mut self) -> &mut BerthDaemon {
        &mut self.0
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let ids = container_dirs(&self.0);
        if self.0.ping() {
            if !ids.is_empty() {
                let mut c = self.0.docker();
                c.args(["rm", "-f"]).args(&ids);
                let _ = run(&mut c);
            }
            self.0.stop();
        }
        for id in &ids {
            kill_pids(&pids_in_cgroups_under(&format!("berth/{id}")));
        }
        kill_pids(&pids_mentioning(&self.0.exec_root.to_string_lossy()));
    }
}

fn setup() -> Daemon {
    setup_with(&[])
}

fn setup_with(args: &[&str]) -> Daemon {
    Daemon(BerthDaemon::with_busybox(args, IMAGE))
}

fn docker(d: &BerthDaemon, args: &[&str]) -> Output {
    run(d.docker().args(args))
}

fn ok(o: &Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed ({:?}): {}\n{}",
        o.status.code(),
        stderr(o),
        stdout(o)
    );
    stdout(o)
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// `docker run -d ARGS` → the container id.
fn run_d(d: &BerthDaemon, args: &[&str]) -> String {
    let mut a = vec!["run", "-d"];
    a.extend_from_slice(args);
    ok(&docker(d, &a), &format!("docker {}", a.join(" ")))
}

fn inspect(d: &BerthDaemon, name: &str) -> Value {
    let out = ok(&docker(d, &["inspect", name]), "docker inspect");
    let v: Value = serde_json::from_str(&out).expect("inspect JSON");
    v[0].clone()
}

/// Polls `cond` every 100 ms for up to `secs`; panics with `what` and the daemon's log.
fn wait_until(d: &BerthDaemon, secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "{what}: not reached in {secs}s; daemon log:\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_status(d: &BerthDaemon, name: &str, status: &str) -> Value {
    let mut last = Value::Null;
    wait_until(d, 20, &format!("{name} {status}"), || {
        last = inspect(d, name);
        last["State"]["Status"] == status
    });
    last
}

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
}

/// Ids of every container record directory in the data root.
fn container_dirs(d: &BerthDaemon) -> Vec<String> {
    std::fs::read_dir(d.data_root.join("containers"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// What container `id` left behind: mounts, cgroup directories, processes naming it (its
/// berth-monitor), the OCI runtime's state, the monitor directory, the record directory.
fn leftovers(d: &BerthDaemon, id: &str) -> Vec<String> {
    assert_eq!(id.len(), 64, "a full container id, not {id:?}");
    let mut out: Vec<String> = mounts_containing(id)
        .into_iter()
        .map(|m| format!("mount {m}"))
        .collect();
    out.extend(
        cgroup_dirs_under(&format!("berth/{id}"))
            .iter()
            .map(|c| format!("cgroup {}", c.display())),
    );
    for pid in pids_mentioning(id) {
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        // The docker CLI of a concurrent step may name the id; only daemon-side processes count.
        if !cmd.starts_with(DOCKER_CLI) && !cmd.starts_with("docker ") {
            out.push(format!("process {pid}: {cmd}"));
        }
    }
    if let Ok(rd) = std::fs::read_dir(d.exec_root.join("runtime")) {
        for rt in rd.flatten() {
            if rt.path().join(id).exists() {
                out.push(format!("runtime state {}", rt.path().join(id).display()));
            }
        }
    }
    for p in [
        d.exec_root.join("c").join(&id[..16]),
        d.data_root.join("containers").join(id),
    ] {
        if p.exists() {
            out.push(format!("{}", p.display()));
        }
    }
    out
}

/// Waits (up to 10 s: a monitor takes a moment to exit) until `id` left nothing behind.
fn assert_no_leftovers(d: &BerthDaemon, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = leftovers(d, id);
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "container {id} left behind: {left:#?}\ndaemon log:\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What the daemon as a whole left: containers in `ps -a`, mounts under its roots, processes
/// other than the daemon naming its exec root (monitors), runtime state, monitor directories,
/// records.
fn assert_daemon_clean(d: &BerthDaemon) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut left: Vec<String> = Vec::new();
        let ps = ok(&docker(d, &["ps", "-aq"]), "docker ps -aq");
        if !ps.is_empty() {
            left.push(format!("ps -a: {ps}"));
        }
        left.extend(
            d.leftover_mounts()
                .into_iter()
                .map(|m| format!("mount {m}")),
        );
        let daemon = d.pid();
        for pid in pids_mentioning(&d.exec_root.to_string_lossy()) {
            if Some(pid) != daemon {
                left.push(format!("process {pid}"));
            }
        }
        for dir in [
            d.exec_root.join("c"),
            d.exec_root.join("x"),
            d.data_root.join("containers"),
        ] {
            if let Ok(rd) = std::fs::read_dir(&dir) {
                left.extend(rd.flatten().map(|e| format!("{}", e.path().display())));
            }
        }
        if let Ok(rd) = std::fs::read_dir(d.exec_root.join("runtime")) {
            for rt in rd.flatten() {
                if let Ok(states) = std::fs::read_dir(rt.path()) {
                    left.extend(
                        states
                            .flatten()
                            .filter(|e| e.path().is_dir())
                            .map(|e| format!("runtime state {}", e.path().display())),
                    );
                }
            }
        }
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon left behind: {left:#?}\ndaemon log:\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Removes every container and checks that nothing is left.
fn finish(d: Daemon) {
    let ids = stdout(&docker(&d, &["ps", "-aq"]));
    let ids: Vec<&str> = ids.split_whitespace().collect();
    if !ids.is_empty() {
        let mut a = vec!["rm", "-f"];
        a.extend(ids);
        ok(&docker(&d, &a), "docker rm -f of everything");
    }
    assert_daemon_clean(&d);
}

/// `docker run --rm --cidfile F ARGS`: the output and the container's id.
fn run_rm(d: &BerthDaemon, args: &[&str]) -> (Output, String) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cidfile = tmp.path().join("cid");
    let cid = cidfile.display().to_string();
    let mut a = vec!["run", "--rm", "--cidfile", &cid];
    a.extend_from_slice(args);
    let o = docker(d, &a);
    let id = std::fs::read_to_string(&cidfile).unwrap_or_default();
    (o, id.trim().to_string())
}

/// Spawns the docker CLI with its output in files (so a test can wait with a deadline).
struct Spawned {
    child: Child,
    out: tempfile::NamedTempFile,
    err: tempfile::NamedTempFile,
}

fn spawn_docker(d: &BerthDaemon, args: &[&str]) -> Spawned {
    let out = tempfile::NamedTempFile::new().expect("tempfile");
    let err = tempfile::NamedTempFile::new().expect("tempfile");
    let child = d
        .docker()
        .args(args)
        .stdin(Stdio::null())
        .stdout(out.reopen().expect("reopen"))
        .stderr(err.reopen().expect("reopen"))
        .spawn()
        .expect("spawn docker");
    Spawned { child, out, err }
}

impl Spawned {
    /// Waits up to `secs` for the CLI to exit; its exit code and stdout. Kills it (and fails)
    /// past the deadline.
    fn finish(mut self, secs: u64, what: &str) -> (i32, String, String) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                let out = std::fs::read_to_string(self.out.path()).unwrap_or_default();
                let err = std::fs::read_to_string(self.err.path()).unwrap_or_default();
                return (st.code().unwrap_or(-1), out, err);
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{what} did not end in {secs}s; output so far: {:?}",
                    std::fs::read_to_string(self.out.path()).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn logs(d: &BerthDaemon, args: &[&str]) -> String {
    let mut a = vec!["logs"];
    a.extend_from_slice(args);
    let o = docker(d, &a);
    ok(&o, "docker logs");
    // Container stderr goes to the CLI's stderr; these tests only print on stdout.
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// `docker info` and `docker version` against a fresh daemon, then `run --rm` with every exit
/// code a user scripts against, the two streams apart, and nothing left after each.
#[test]
fn version_info_and_run_rm_exit_codes() {
    if !prerequisites("daemon lifecycle tests") {
        return;
    }
    let d = setup();

    let v = ok(&docker(&d, &["version"]), "docker version");
    assert!(v.contains("Client:"), "{v}");
    assert!(v.contains("Server:"), "no Server section: {v}");
    let api = ok(
        &docker(&d, &["version", "--format", "{{.Server.APIVersion}}"]),
        "version --format",
    );
    assert!(api.starts_with("1."), "server API version {api:?}");

    // Exit codes and streams.
    let (o, id) = run_rm(&d, &[IMAGE, "echo", "hi"]);
    assert_eq!((code(&o), stdout(&o).as_str()), (0, "hi"), "{}", stderr(&o));
    assert_no_leftovers(&d, &id);

    let (o, id) = run_rm(&d, &[IMAGE, "sh", "-c", "exit 3"]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert_no_leftovers(&d, &id);

    let (o, id) = run_rm(&d, &[IMAGE, "sh", "-c", "echo to-out; echo to-err >&2"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o), "to-out");
    assert_eq!(stderr(&o), "to-err");
    assert_no_leftovers(&d, &id);

    let (o, id) = run_rm(&d, &[IMAGE, "no-such-command"]);
    assert_eq!(code(&o), 127, "missing command: {}", stderr(&o));
    assert!(
        stderr(&o).contains("executable file not found"),
        "Docker's message for a missing command: {}",
        stderr(&o)
    );
    assert!(!id.is_empty(), "the CLI wrote the cidfile after create");
    assert_no_leftovers(&d, &id);

    let (o, id) = run_rm(&d, &[IMAGE, "/etc/passwd"]);
    assert_eq!(code(&o), 126, "non-executable file: {}", stderr(&o));
    assert!(
        stderr(&o).contains("permission denied"),
        "Docker's message for a non-executable file: {}",
        stderr(&o)
    );
    assert_no_leftovers(&d, &id);

    // A container SIGKILLed from outside: 128 + 9 for the `docker run` that waits on it.
    let tmp = tempfile::tempdir().expect("tempdir");
    let cidfile = tmp.path().join("cid");
    let waiting = spawn_docker(
        &d,
        &[
            "run",
            "--rm",
            "--cidfile",
            &cidfile.display().to_string(),
            IMAGE,
            "sleep",
            "1000",
        ],
    );
    let mut id = String::new();
    wait_until(&d, 20, "the sleeping container runs", || {
        id = std::fs::read_to_string(&cidfile).unwrap_or_default();
        !id.is_empty() && inspect_opt(&d, &id).is_some_and(|v| v["State"]["Running"] == true)
    });
    ok(&docker(&d, &["kill", &id]), "docker kill");
    let (rc, _, err) = waiting.finish(20, "docker run of the killed container");
    assert_eq!(rc, 137, "SIGKILLed container: {err}");
    assert_no_leftovers(&d, &id);

    let ps = ok(&docker(&d, &["ps", "-aq"]), "ps -a");
    assert_eq!(ps, "", "run --rm left containers");

    // info counts what exists: two running, one exited, one image.
    run_d(&d, &["--name", "up1", IMAGE, "sleep", "1000"]);
    run_d(&d, &["--name", "up2", IMAGE, "sleep", "1000"]);
    run_d(&d, &["--name", "down", IMAGE, "true"]);
    wait_status(&d, "down", "exited");
    let info = ok(
        &docker(
            &d,
            &[
                "info",
                "--format",
                "{{.Containers}} {{.ContainersRunning}} {{.ContainersPaused}} {{.ContainersStopped}} {{.Images}}",
            ],
        ),
        "docker info",
    );
    assert_eq!(
        info, "3 2 0 1 1",
        "Containers Running Paused Stopped Images"
    );
    let full = ok(&docker(&d, &["info"]), "docker info");
    assert!(full.contains("Server:"), "{full}");
    finish(d);
}

fn inspect_opt(d: &BerthDaemon, name: &str) -> Option<Value> {
    let o = docker(d, &["inspect", name]);
    if !o.status.success() {
        return None;
    }
    serde_json::from_str::<Value>(&stdout(&o))
        .ok()
        .map(|v| v[0].clone())
}

/// One container's life with the everyday verbs: ps, logs (tail, since, timestamps, follow),
/// exec, inspect, wait, rename, stop with the stop signal then SIGKILL, kill -s, restart, rm -f.
#[test]
fn detached_container_everyday_verbs() {
    if !prerequisites("daemon lifecycle tests") {
        return;
    }
    let d = setup();
    let script = "echo first; sleep 2; echo second; trap 'echo got-usr1' USR1; trap 'echo got-term' TERM; while true; do sleep 0.1; done";
    let id = run_d(
        &d,
        &[
            "--name", "web", "-e", "FOO=bar", "-l", "app=web", "-m", "64m", IMAGE, "sh", "-c",
            script,
        ],
    );
    assert_eq!(id.len(), 64, "run -d prints the full id: {id:?}");
    wait_until(&d, 10, "first line logged", || {
        logs(&d, &["web"]).contains("first")
    });
    // A moment strictly after "first" was written, before "second" is.
    let between = now_unix() + 0.3;
    wait_until(&d, 10, "second line logged", || {
        logs(&d, &["web"]).contains("second")
    });

    // inspect in Docker's shape.
    let v = inspect(&d, "web");
    assert_eq!(v["Id"], id.as_str());
    assert_eq!(v["Name"], "/web");
    assert_eq!(v["State"]["Status"], "running");
    assert_eq!(v["State"]["Running"], true);
    let pid = v["State"]["Pid"].as_i64().expect("State.Pid");
    assert!(
        pid > 0 && Path::new(&format!("/proc/{pid}")).exists(),
        "Pid {pid}"
    );
    assert_eq!(v["Config"]["Cmd"], serde_json::json!(["sh", "-c", script]));
    let env: Vec<&str> = v["Config"]["Env"]
        .as_array()
        .expect("Config.Env")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(env.contains(&"FOO=bar"), "{env:?}");
    assert!(env.iter().any(|e| e.starts_with("PATH=")), "{env:?}");
    assert_eq!(v["Config"]["Labels"]["app"], "web");
    assert_eq!(v["HostConfig"]["Memory"], 64 * 1024 * 1024);
    assert_eq!(v["Config"]["Image"], IMAGE);

    // ps.
    let ps = ok(
        &docker(&d, &["ps", "--format", "{{.Names}}|{{.Status}}"]),
        "ps",
    );
    assert!(ps.starts_with("web|Up "), "{ps}");
    let table = ok(&docker(&d, &["ps"]), "ps");
    assert!(
        table.starts_with("CONTAINER ID") && table.contains(&id[..12]),
        "{table}"
    );

    // logs: tail, since, timestamps.
    assert_eq!(logs(&d, &["--tail", "1", "web"]).trim(), "second");
    let since = logs(&d, &["--since", &format!("{between:.6}"), "web"]);
    assert_eq!(since.trim(), "second", "logs --since {between}");
    let stamped = logs(&d, &["--timestamps", "web"]);
    for line in stamped.lines() {
        let (ts, text) = line.split_once(' ').expect("timestamp and text");
        assert!(
            ts.len() >= 20 && ts.as_bytes()[10] == b'T' && ts.ends_with('Z'),
            "RFC 3339 timestamp in {line:?}"
        );
        assert!(["first", "second"].contains(&text), "{line:?}");
    }

    // exec: exit code, the container's env plus -e, the working directory.
    let o = docker(&d, &["exec", "web", "sh", "-c", "exit 7"]);
    assert_eq!(code(&o), 7, "exec exit code: {}", stderr(&o));
    let o = docker(
        &d,
        &["exec", "-e", "X=1", "web", "sh", "-c", "echo $FOO-$X"],
    );
    assert_eq!(ok(&o, "exec -e"), "bar-1");
    let o = docker(
        &d,
        &[
            "exec",
            "-w",
            "/tmp",
            "-u",
            "nobody",
            "web",
            "sh",
            "-c",
            "pwd; id -u",
        ],
    );
    assert_eq!(ok(&o, "exec -w -u"), "/tmp\n65534");
    let o = docker(&d, &["exec", "web", "no-such-command"]);
    assert_eq!(code(&o), 127, "exec of a missing command: {}", stderr(&o));

    // kill -s: the signal reaches the process, which keeps running.
    ok(&docker(&d, &["kill", "-s", "USR1", "web"]), "kill -s USR1");
    wait_until(&d, 10, "USR1 handled", || {
        logs(&d, &["web"]).contains("got-usr1")
    });
    assert_eq!(inspect(&d, "web")["State"]["Running"], true);

    // restart: a new process and a new StartedAt; a manual restart is not a policy restart.
    let started = v["State"]["StartedAt"]
        .as_str()
        .expect("StartedAt")
        .to_string();
    ok(
        &docker(&d, &["restart", "-t", "1", "web"]),
        "docker restart",
    );
    let r = inspect(&d, "web");
    assert_eq!(r["State"]["Status"], "running");
    assert_ne!(r["State"]["StartedAt"], started.as_str(), "StartedAt");
    assert_ne!(r["State"]["Pid"], pid, "Pid after restart");
    assert_eq!(r["RestartCount"], 0, "docker restart is not counted");

    // stop: the stop signal (TERM, trapped and ignored), then SIGKILL after -t.
    wait_until(&d, 10, "restarted and logging", || {
        logs(
            &d,
            &["--since", &format!("{:.6}", now_unix() - 60.0), "web"],
        )
        .matches("first")
        .count()
            >= 2
    });
    std::thread::sleep(Duration::from_millis(300)); // traps are set after "first"
    let t0 = Instant::now();
    ok(&docker(&d, &["stop", "-t", "2", "web"]), "docker stop -t 2");
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(1900),
        "stop returned after {took:?}, before the timeout"
    );
    assert!(
        logs(&d, &["web"]).contains("got-term"),
        "TERM was sent first"
    );
    let s = inspect(&d, "web");
    assert_eq!(s["State"]["Status"], "exited");
    assert_eq!(s["State"]["ExitCode"], 137);
    assert_eq!(s["State"]["Pid"], 0);
    let ps = ok(
        &docker(&d, &["ps", "-a", "--format", "{{.Names}}|{{.Status}}"]),
        "ps -a",
    );
    assert!(ps.contains("web|Exited (137) "), "{ps}");
    assert_eq!(ok(&docker(&d, &["ps", "-q"]), "ps"), "", "nothing runs");

    // --stop-signal: docker stop sends it, the container exits on it.
    run_d(
        &d,
        &[
            "--name",
            "polite",
            "--stop-signal",
            "USR1",
            IMAGE,
            "sh",
            "-c",
            "trap 'exit 5' USR1; echo ready; while true; do sleep 0.1; done",
        ],
    );
    wait_until(&d, 10, "polite ready", || {
        logs(&d, &["polite"]).contains("ready")
    });
    ok(&docker(&d, &["stop", "-t", "30", "polite"]), "stop polite");
    assert_eq!(inspect(&d, "polite")["State"]["ExitCode"], 5);

    // wait prints the exit code; logs -f ends when the container exits.
    let sid = run_d(
        &d,
        &[
            "--name",
            "short",
            IMAGE,
            "sh",
            "-c",
            "for i in 1 2 3; do echo line$i; sleep 0.3; done; exit 4",
        ],
    );
    let follow = spawn_docker(&d, &["logs", "-f", "short"]);
    let waiter = spawn_docker(&d, &["wait", "short"]);
    let (rc, out, err) = follow.finish(20, "logs -f");
    assert_eq!(rc, 0, "logs -f: {err}");
    assert_eq!(out, "line1\nline2\nline3\n");
    let (rc, out, err) = waiter.finish(20, "docker wait");
    assert_eq!((rc, out.trim()), (0, "4"), "{err}");
    assert_eq!(inspect(&d, "short")["State"]["ExitCode"], 4);

    // rename: the new name works everywhere, the old one is gone.
    ok(&docker(&d, &["rename", "short", "short2"]), "rename");
    assert_eq!(inspect(&d, "short2")["Name"], "/short2");
    assert!(
        inspect_opt(&d, "short").is_none(),
        "old name still resolves"
    );
    ok(&docker(&d, &["rm", "short2"]), "rm stopped container");
    assert_no_leftovers(&d, &sid);

    // rm -f of a running container.
    ok(&docker(&d, &["start", "web"]), "start again");
    assert_eq!(wait_status(&d, "web", "running")["State"]["Running"], true);
    let o = docker(&d, &["rm", "web"]);
    assert!(!o.status.success(), "rm of a running container must fail");
    assert!(
        stderr(&o).contains("cannot remove container") || stderr(&o).contains("running"),
        "{}",
        stderr(&o)
    );
    ok(&docker(&d, &["rm", "-f", "web"]), "rm -f running");
    assert_no_leftovers(&d, &id);
    finish(d);
}

/// `docker run -it` and `docker exec -it` with a real pty (util-linux `script`), exit codes
/// through the tty, and `docker attach` seeing output written after it attached.
#[test]
fn tty_and_attach() {
    if !prerequisites("daemon tty tests")
        || !require(which("script").is_some(), "script (util-linux) is missing")
    {
        return;
    }
    let d = setup();
    let in_pty = |cmd: &str| -> (i32, String) {
        let mut c = Command::new("script");
        c.args(["-eqc", cmd, "/dev/null"])
            .env("DOCKER_HOST", d.host())
            .env("DOCKER_CONFIG", d.docker_config_dir())
            .env("PATH", "/usr/local/bin:/usr/bin:/bin");
        let o = run(&mut c);
        (code(&o), String::from_utf8_lossy(&o.stdout).to_string())
    };
    let (rc, out) = in_pty(&format!(
        "{DOCKER_CLI} run -it --rm {IMAGE} sh -c 'tty; stty size; exit 5'"
    ));
    assert_eq!(rc, 5, "run -it exit code: {out}");
    assert!(out.contains("/dev/pts/0"), "a pty inside: {out:?}");

    run_d(&d, &["--name", "box", IMAGE, "sleep", "1000"]);
    let (rc, out) = in_pty(&format!("{DOCKER_CLI} exec -it box sh -c 'tty; exit 6'"));
    assert_eq!(rc, 6, "exec -it exit code: {out}");
    assert!(out.contains("/dev/pts/"), "a pty for the exec: {out:?}");
    let (rc, out) = in_pty(&format!("{DOCKER_CLI} exec -it box sh -c 'echo $TERM'"));
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("xterm"), "docker sets TERM with -t: {out:?}");

    // attach: output written after attaching arrives; attach returns the exit code.
    run_d(
        &d,
        &[
            "--name",
            "talker",
            IMAGE,
            "sh",
            "-c",
            "echo before; sleep 2; for i in 1 2 3; do echo new$i; sleep 0.2; done; exit 2",
        ],
    );
    let attach = spawn_docker(&d, &["attach", "--no-stdin", "talker"]);
    let (rc, out, err) = attach.finish(30, "docker attach");
    assert_eq!(rc, 2, "attach returns the container's exit code: {err}");
    assert!(out.contains("new1\nnew2\nnew3\n"), "{out:?}");
    assert!(
        !out.contains("before"),
        "attach does not replay logs: {out:?}"
    );
    finish(d);
}

/// Restart policies (on-failure with a maximum, always across a daemon restart) and the event
/// stream with filters.
#[test]
fn restart_policies_events_and_filters() {
    if !prerequisites("daemon restart policy tests") {
        return;
    }
    let mut d = setup();
    let since = now_unix() - 1.0;

    run_d(
        &d,
        &[
            "--name",
            "flaky",
            "--restart",
            "on-failure:2",
            "-l",
            "tier=back",
            IMAGE,
            "sh",
            "-c",
            "echo run; exit 1",
        ],
    );
    run_d(
        &d,
        &[
            "--name",
            "keeper",
            "--restart",
            "always",
            "-l",
            "tier=front",
            IMAGE,
            "sleep",
            "1000",
        ],
    );
    wait_until(&d, 30, "flaky gave up after 2 restarts", || {
        let v = inspect(&d, "flaky");
        v["State"]["Status"] == "exited" && v["RestartCount"] == 2
    });
    std::thread::sleep(Duration::from_millis(1500));
    let v = inspect(&d, "flaky");
    assert_eq!(v["RestartCount"], 2, "no third restart");
    assert_eq!(v["State"]["Status"], "exited");
    assert_eq!(v["State"]["ExitCode"], 1);
    assert_eq!(logs(&d, &["flaky"]).matches("run").count(), 3);
    assert_eq!(v["HostConfig"]["RestartPolicy"]["Name"], "on-failure");
    assert_eq!(v["HostConfig"]["RestartPolicy"]["MaximumRetryCount"], 2);

    // ps filters.
    run_d(&d, &["--name", "oneshot", "-l", "tier=back", IMAGE, "true"]);
    wait_status(&d, "oneshot", "exited");
    let names = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["ps", "--format", "{{.Names}}"];
        a.extend_from_slice(args);
        let mut v: Vec<String> = ok(&docker(&d, &a), "ps --filter")
            .lines()
            .map(str::to_string)
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        names(&["-a", "--filter", "label=tier=back"]),
        ["flaky", "oneshot"]
    );
    assert_eq!(names(&["--filter", "label=tier"]), ["keeper"]);
    assert_eq!(
        names(&["-a", "--filter", "status=exited"]),
        ["flaky", "oneshot"]
    );
    assert_eq!(names(&["-a", "--filter", "status=running"]), ["keeper"]);
    assert_eq!(names(&["-a", "--filter", "name=one"]), ["oneshot"]);
    assert_eq!(
        names(&[
            "-a",
            "--filter",
            "label=tier=back",
            "--filter",
            "name=flaky"
        ]),
        ["flaky"]
    );
    assert!(names(&["-a", "--filter", "label=nope"]).is_empty());

    // events: create/start/die/destroy of a run --rm, with filters (the daemon keeps them in
    // memory, as dockerd does: checked before the daemon restarts).
    let (o, rid) = run_rm(&d, &["--name", "evt", "-l", "ev=yes", IMAGE, "true"]);
    ok(&o, "run --rm evt");
    let until = now_unix() + 1.0;
    let evt = events(&d, since, until, &[&format!("container={rid}")]);
    let actions: Vec<&str> = evt
        .iter()
        .filter_map(|l| l.split(' ').nth(1))
        .filter(|a| ["create", "start", "die", "destroy"].contains(a))
        .collect();
    assert_eq!(actions, ["create", "start", "die", "destroy"], "{evt:#?}");
    assert!(
        evt.iter()
            .all(|l| l.starts_with("container ") && l.ends_with(" evt")),
        "{evt:#?}"
    );
    let dies = events(&d, since, until, &["event=die", "label=ev=yes"]);
    assert_eq!(dies, ["container die evt"]);
    let flaky_starts = events(&d, since, until, &["event=start", "container=flaky"]);
    assert_eq!(
        flaky_starts.len(),
        3,
        "one start and two restarts: {flaky_starts:#?}"
    );
    let flaky_dies = events(
        &d,
        since,
        until,
        &["event=die", "container=flaky", "type=container"],
    );
    assert_eq!(flaky_dies.len(), 3, "{flaky_dies:#?}");

    // A daemon restart: the `always` container runs again.
    d.restart();
    wait_until(&d, 30, "keeper runs after the daemon restarted", || {
        inspect(&d, "keeper")["State"]["Running"] == true
    });
    assert_eq!(inspect(&d, "flaky")["State"]["Status"], "exited");
    assert_eq!(inspect(&d, "flaky")["RestartCount"], 2);
    ok(&docker(&d, &["exec", "keeper", "true"]), "exec in keeper");
    finish(d);
}

/// The events between two unix times, as "TYPE ACTION NAME" lines.
fn events(d: &BerthDaemon, since: f64, until: f64, filters: &[&str]) -> Vec<String> {
    let (since, until) = (format!("{since:.3}"), format!("{until:.3}"));
    let mut a = vec![
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--format",
        "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
    ];
    for f in filters {
        a.push("--filter");
        a.push(f);
    }
    ok(&docker(d, &a), "docker events")
        .lines()
        .map(str::to_string)
        .collect()
}

/// Docker's defaults inside a container and the flags that change them, read from inside the
/// container and from the host's cgroup files.
#[test]
fn docker_defaults_inside_the_container() {
    if !prerequisites("daemon security default tests") {
        return;
    }
    let d = setup();
    let sh = |flags: &[&str], script: &str| -> Output {
        let mut a: Vec<&str> = flags.to_vec();
        a.extend_from_slice(&[IMAGE, "sh", "-c", script]);
        run_rm(&d, &a).0
    };
    let status_field = |flags: &[&str], field: &str| -> String {
        let o = sh(flags, &format!("grep '^{field}:' /proc/1/status"));
        let out = ok(&o, &format!("{flags:?} grep {field}"));
        out.split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string()
    };

    assert_eq!(status_field(&[], "CapEff"), DOCKER_DEFAULT_CAPS);
    assert_eq!(status_field(&[], "CapBnd"), DOCKER_DEFAULT_CAPS);
    assert_eq!(
        status_field(&[], "Seccomp"),
        "2",
        "Docker's seccomp profile"
    );
    assert_eq!(
        status_field(&[], "NoNewPrivs"),
        "0",
        "Docker leaves no_new_privs off"
    );
    // NET_RAW is bit 13, SYS_ADMIN bit 21.
    assert_eq!(
        status_field(&["--cap-drop", "NET_RAW"], "CapEff"),
        "00000000a80405fb"
    );
    assert_eq!(
        status_field(&["--cap-add", "SYS_ADMIN"], "CapEff"),
        "00000000a82425fb"
    );
    assert_eq!(
        status_field(&["--cap-drop", "ALL"], "CapEff"),
        "0000000000000000"
    );
    // Privileged: every capability the kernel knows and no seccomp. Like dockerd 20.10 (and
    // runc), berth asks for all of them, which fails when the host's own bounding set lacks
    // some (this machine's root lacks CAP_SYS_RESOURCE): then both refuse with 125.
    let host_bnd = std::fs::read_to_string("/proc/self/status")
        .expect("status")
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:").map(|v| v.trim().to_string()))
        .expect("CapBnd");
    let last_cap: u32 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .expect("cap_last_cap")
        .trim()
        .parse()
        .expect("cap_last_cap number");
    let all_caps = format!("{:016x}", (1u64 << (last_cap + 1)) - 1);
    let privileged_possible = host_bnd == all_caps;
    if privileged_possible {
        assert_eq!(status_field(&["--privileged"], "CapEff"), all_caps);
        assert_eq!(status_field(&["--privileged"], "Seccomp"), "0");
        let o = sh(
            &["--privileged"],
            "grep ' /proc/sys ' /proc/self/mountinfo || echo none",
        );
        assert_eq!(
            ok(&o, "privileged /proc/sys").trim(),
            "none",
            "privileged: no ro /proc/sys"
        );
    } else {
        eprintln!(
            "NOTE: this host's bounding set {host_bnd} lacks capabilities the kernel knows \
             ({all_caps}); --privileged cannot start here (dockerd 20.10 fails alike): checking \
             the refusal instead"
        );
        let (o, id) = run_rm(&d, &["--privileged", IMAGE, "true"]);
        assert_eq!(code(&o), 125, "{}", stderr(&o));
        assert!(
            stderr(&o).contains("Operation not permitted"),
            "{}",
            stderr(&o)
        );
        assert_no_leftovers(&d, &id);
    }
    assert_eq!(
        status_field(&["--security-opt", "seccomp=unconfined"], "Seccomp"),
        "0"
    );

    // Masked and read-only paths.
    // Masked files read as empty (bind-mounted /dev/null); this host has no /proc/kcore, so
    // every masked file it does have is checked.
    for f in [
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/proc/sched_debug",
    ] {
        if Path::new(f).exists() {
            let o = sh(&[], &format!("wc -c < {f}"));
            assert_eq!(ok(&o, &format!("read {f}")).trim(), "0", "{f} is masked");
        }
    }
    let o = sh(&[], "ls /sys/firmware | wc -l");
    assert_eq!(
        ok(&o, "ls /sys/firmware").trim(),
        "0",
        "/sys/firmware is masked"
    );
    let o = sh(&[], "echo 1 > /proc/sys/kernel/panic");
    assert_ne!(code(&o), 0, "/proc/sys is writable");
    assert!(
        stderr(&o).contains("Read-only file system"),
        "{}",
        stderr(&o)
    );
    let o = sh(&[], "echo 1 > /proc/sysrq-trigger");
    assert_ne!(code(&o), 0, "/proc/sysrq-trigger is writable");

    // --read-only, --user, --tmpfs, --shm-size, --ulimit.
    let o = sh(&["--read-only"], "touch /newfile");
    assert_ne!(code(&o), 0);
    assert!(
        stderr(&o).contains("Read-only file system"),
        "{}",
        stderr(&o)
    );
    let o = sh(
        &["--read-only", "--tmpfs", "/scratch"],
        "touch /scratch/x && grep ' /scratch ' /proc/self/mountinfo",
    );
    let m = ok(&o, "--tmpfs");
    assert!(m.contains(" tmpfs "), "{m}");
    let o = sh(&["--user", "nobody"], "id -u; id -g");
    assert_eq!(ok(&o, "--user nobody"), "65534\n65534");
    let o = sh(&["--user", "1234:5678"], "id -u; id -g");
    assert_eq!(ok(&o, "--user 1234:5678"), "1234\n5678");
    let o = sh(&["--shm-size", "128m"], "df -k /dev/shm | tail -1");
    let df = ok(&o, "--shm-size");
    assert_eq!(df.split_whitespace().nth(1), Some("131072"), "{df}");
    let o = sh(&[], "df -k /dev/shm | tail -1");
    let df = ok(&o, "default shm");
    assert_eq!(
        df.split_whitespace().nth(1),
        Some("65536"),
        "Docker's 64m: {df}"
    );
    let o = sh(&["--ulimit", "nofile=1024:2048"], "ulimit -Sn; ulimit -Hn");
    assert_eq!(ok(&o, "--ulimit"), "1024\n2048");
    let o = sh(&["--hostname", "boxy"], "hostname");
    assert_eq!(ok(&o, "--hostname"), "boxy");
    let o = sh(&["-w", "/tmp", "-e", "A=b"], "pwd; echo $A; echo $HOSTNAME");
    let out = ok(&o, "-w -e");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..2], ["/tmp", "b"]);
    assert_eq!(lines[2].len(), 12, "HOSTNAME is the short id: {out}");

    // --init: pid 1 is the init, the command is its child, the exit code passes through.
    let o = sh(
        &["--init"],
        "cat /proc/1/cmdline | tr '\\0' ' '; echo; exit 9",
    );
    assert_eq!(code(&o), 9, "exit code through the init: {}", stderr(&o));
    assert!(
        stdout(&o).starts_with("/sbin/docker-init -- "),
        "pid 1 is the init: {}",
        stdout(&o)
    );

    // -m and --pids-limit land in the cgroup files.
    let id = run_d(
        &d,
        &[
            "-m",
            "64m",
            "--pids-limit",
            "50",
            "--cpu-shares",
            "512",
            IMAGE,
            "sleep",
            "1000",
        ],
    );
    let cg = |v1: &str, v2: &str| -> Option<String> {
        let (ctl, file) = v1.split_once('/').expect("controller/file");
        [
            PathBuf::from("/sys/fs/cgroup")
                .join(ctl)
                .join("berth")
                .join(&id)
                .join(file),
            PathBuf::from("/sys/fs/cgroup/berth").join(&id).join(v2),
        ]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
    };
    assert_eq!(
        cg("memory/memory.limit_in_bytes", "memory.max").as_deref(),
        Some("67108864")
    );
    assert_eq!(cg("pids/pids.max", "pids.max").as_deref(), Some("50"));
    assert_eq!(
        cg("cpu/cpu.shares", "cpu.weight")
            .as_deref()
            .map(|s| s != "1024"),
        Some(true)
    );
    let pid = inspect(&d, &id)["State"]["Pid"].as_i64().expect("Pid");
    let procs = cg("pids/cgroup.procs", "cgroup.procs").unwrap_or_default();
    assert!(
        procs.lines().any(|l| l == pid.to_string()),
        "the container's pid {pid} is in its cgroup: {procs:?}"
    );
    finish(d);
}

/// The daemon SIGKILLed while one container runs and another exits: after the restart the first
/// still runs (same pid, exec and stop work) and the second shows its real exit code.
#[test]
fn daemon_killed_containers_survive() {
    if !prerequisites("daemon crash tests") {
        return;
    }
    let mut d = setup();
    let runner = run_d(&d, &["--name", "runner", IMAGE, "sleep", "1000"]);
    let quitter = run_d(
        &d,
        &[
            "--name",
            "quitter",
            IMAGE,
            "sh",
            "-c",
            "sleep 2; echo bye; exit 7",
        ],
    );
    let pid = inspect(&d, "runner")["State"]["Pid"].as_i64().expect("Pid");
    let qpid = inspect(&d, "quitter")["State"]["Pid"]
        .as_i64()
        .expect("Pid");
    d.kill();
    // The quitter exits while no daemon watches.
    let deadline = Instant::now() + Duration::from_secs(20);
    while Path::new(&format!("/proc/{qpid}")).exists() {
        assert!(Instant::now() < deadline, "quitter did not exit");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "the container died with the daemon"
    );
    d.restart();
    let v = inspect(&d, "runner");
    assert_eq!(v["State"]["Status"], "running", "{v:#}");
    assert_eq!(v["State"]["Pid"], pid, "same process");
    let q = wait_status(&d, "quitter", "exited");
    assert_eq!(q["State"]["ExitCode"], 7, "the real exit code: {q:#}");
    assert_eq!(
        logs(&d, &["quitter"]).trim(),
        "bye",
        "output while the daemon was down"
    );
    let o = docker(&d, &["exec", "runner", "sh", "-c", "echo alive; exit 3"]);
    assert_eq!(
        (code(&o), stdout(&o).as_str()),
        (3, "alive"),
        "{}",
        stderr(&o)
    );
    ok(
        &docker(&d, &["stop", "-t", "1", "runner"]),
        "stop after restart",
    );
    let v = inspect(&d, "runner");
    assert_eq!(v["State"]["Status"], "exited");
    assert_eq!(v["State"]["ExitCode"], 137);
    assert!(!Path::new(&format!("/proc/{pid}")).exists());
    ok(&docker(&d, &["start", "runner"]), "start after restart");
    ok(&docker(&d, &["rm", "-f", "runner", "quitter"]), "rm -f");
    assert_no_leftovers(&d, &runner);
    assert_no_leftovers(&d, &quitter);
    finish(d);
}

/// The daemon SIGKILLed in the middle of `docker start` and of `docker rm -f`, at several
/// moments: after each restart every container is in a clear state, a running one really runs,
/// and `rm -f` of everything leaves nothing.
#[test]
fn daemon_killed_during_start_and_rm() {
    if !prerequisites("daemon crash tests") {
        return;
    }
    let mut d = setup();
    let mut ids = Vec::new();
    for i in 0..6u64 {
        let id = ok(
            &docker(
                &d,
                &["create", "--name", &format!("s{i}"), IMAGE, "sleep", "1000"],
            ),
            "create",
        );
        ids.push(id.clone());
        let mut start = d
            .docker()
            .args(["start", &id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn docker start");
        std::thread::sleep(Duration::from_millis(5 + 25 * i));
        d.kill();
        let _ = start.kill();
        let _ = start.wait();
        d.restart();
    }
    for i in 0..4u64 {
        let id = run_d(&d, &["--name", &format!("r{i}"), IMAGE, "sleep", "1000"]);
        ids.push(id.clone());
        let mut rm = d
            .docker()
            .args(["rm", "-f", &id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn docker rm");
        std::thread::sleep(Duration::from_millis(5 + 30 * i));
        d.kill();
        let _ = rm.kill();
        let _ = rm.wait();
        d.restart();
    }
    for id in &ids {
        let Some(v) = inspect_opt(&d, id) else {
            continue; // removed before the kill
        };
        let status = v["State"]["Status"].as_str().unwrap_or_default();
        assert!(
            ["created", "running", "exited", "dead"].contains(&status),
            "{id}: unclear state {status:?}: {v:#}"
        );
        if status == "running" {
            let pid = v["State"]["Pid"].as_i64().unwrap_or(0);
            assert!(
                pid > 0 && Path::new(&format!("/proc/{pid}")).exists(),
                "{id} is running with pid {pid}"
            );
            ok(
                &docker(&d, &["exec", id, "true"]),
                "exec in a re-adopted container",
            );
        } else {
            assert_eq!(v["State"]["Pid"], 0, "{id} {status} has no pid: {v:#}");
        }
    }
    let all = ok(&docker(&d, &["ps", "-aq", "--no-trunc"]), "ps -aq");
    for id in all.lines() {
        assert!(ids.contains(&id.to_string()), "unknown container {id}");
        ok(&docker(&d, &["rm", "-f", id]), "rm -f after the crashes");
    }
    for id in &ids {
        assert_no_leftovers(&d, id);
    }
    finish(d);
}

/// 50 `docker run -d` at once: all run, ps shows 50, rm -f of all leaves nothing.
#[test]
fn fifty_concurrent_runs() {
    if !prerequisites("daemon concurrency tests") {
        return;
    }
    let d = setup();
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..50)
            .map(|i| {
                let d = &d;
                s.spawn(move || {
                    let o = docker(
                        d,
                        &[
                            "run",
                            "-d",
                            "--name",
                            &format!("c{i}"),
                            IMAGE,
                            "sleep",
                            "1000",
                        ],
                    );
                    ok(&o, &format!("run -d c{i}"))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 50, "50 distinct ids");
    let running = ok(&docker(&d, &["ps", "-q", "--no-trunc"]), "ps");
    let mut listed: Vec<String> = running.lines().map(str::to_string).collect();
    listed.sort();
    assert_eq!(listed, unique, "ps shows the 50");
    for id in &ids {
        let pid = inspect(&d, id)["State"]["Pid"].as_i64().unwrap_or(0);
        assert!(
            pid > 0 && Path::new(&format!("/proc/{pid}")).exists(),
            "{id} runs"
        );
    }
    let mut a = vec!["rm", "-f"];
    a.extend(ids.iter().map(String::as_str));
    ok(&docker(&d, &a), "rm -f of the 50");
    for id in &ids {
        assert_no_leftovers(&d, id);
    }
    finish(d);
}

/// `docker run --rm` four at a time: every run prints its whole output (a monitor that took a
/// waiting attach client after fanning out the first output lost it under load).
#[test]
fn concurrent_run_rm_delivers_all_output() {
    if !prerequisites("daemon concurrency tests") {
        return;
    }
    let d = setup();
    let lost: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let d = &d;
                s.spawn(move || {
                    let mut lost = Vec::new();
                    for i in 0..12 {
                        let (o, id) = run_rm(d, &[IMAGE, "echo", &format!("out-{t}-{i}")]);
                        if code(&o) != 0 || stdout(&o) != format!("out-{t}-{i}") {
                            lost.push(format!(
                                "run {t}-{i} ({id}): rc {} stdout {:?} stderr {:?}",
                                code(&o),
                                stdout(&o),
                                stderr(&o)
                            ));
                        }
                    }
                    lost
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("thread"))
            .collect()
    });
    assert!(
        lost.is_empty(),
        "output lost in {} of 48 runs:\n{}",
        lost.len(),
        lost.join("\n")
    );
    finish(d);
}

/// POST with curl on the daemon's socket: (HTTP status, body).
fn api_post(d: &BerthDaemon, path: &str, body: &str) -> (u16, Value) {
    let o = run(Command::new("curl").args([
        "-sS",
        "--max-time",
        "20",
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        body,
        "--unix-socket",
        &d.socket.display().to_string(),
        &format!("http://berth/v1.43{path}"),
    ]));
    assert!(o.status.success(), "curl: {}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let (body, status) = text.rsplit_once('\n').expect("status line");
    let status = status.trim().parse().expect("HTTP status");
    (
        status,
        serde_json::from_str(body).unwrap_or(Value::String(body.to_string())),
    )
}

/// Bad input: unknown image, malformed and ill-typed bodies, unknown flags, name conflicts,
/// invalid restart policies, bad values for flags; each a clear error and nothing left.
#[test]
fn bad_input_is_refused_and_leaves_nothing() {
    if !prerequisites("daemon bad input tests")
        || !require(which("curl").is_some(), "curl is missing")
    {
        return;
    }
    let d = setup();

    let o = docker(&d, &["run", "--rm", "no-such-image:1"]);
    assert_eq!(code(&o), 125, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("Unable to find image 'no-such-image:1' locally"),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("Error response from daemon"),
        "then the pull error: {}",
        stderr(&o)
    );

    let (st, body) = api_post(&d, "/containers/create", r#"{"Image":"no-such-image"}"#);
    assert_eq!(st, 404, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("No such image: no-such-image"),
        "{body}"
    );

    let (st, body) = api_post(&d, "/containers/create", r#"{"Image": 5}"#);
    assert_eq!(st, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Image"),
        "names the field: {body}"
    );
    let (st, body) = api_post(
        &d,
        "/containers/create",
        r#"{"Image": "busybox", "HostConfig": {"Memory": "lots"}}"#,
    );
    assert_eq!(st, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Memory"),
        "names the field: {body}"
    );
    let (st, body) = api_post(&d, "/containers/create", r#"{"Image": "#);
    assert_eq!(st, 400, "{body}");
    assert!(body["message"].is_string(), "{body}");

    let o = docker(&d, &["run", "--bogus-flag", IMAGE]);
    assert_eq!(code(&o), 125);
    assert!(
        stderr(&o).contains("unknown flag: --bogus-flag"),
        "{}",
        stderr(&o)
    );

    let first = ok(
        &docker(&d, &["create", "--name", "taken", IMAGE, "true"]),
        "create taken",
    );
    let o = docker(&d, &["create", "--name", "taken", IMAGE, "true"]);
    assert_eq!(code(&o), 1, "docker create reports a daemon error with 1");
    assert!(stderr(&o).contains("is already in use"), "{}", stderr(&o));
    let o = docker(&d, &["run", "-d", "--name", "taken", IMAGE, "true"]);
    assert_eq!(code(&o), 125, "docker run reports a daemon error with 125");
    assert!(stderr(&o).contains("is already in use"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&first),
        "names the holder: {}",
        stderr(&o)
    );
    let (st, body) = api_post(
        &d,
        "/containers/create?name=taken",
        r#"{"Image":"busybox"}"#,
    );
    assert_eq!(st, 409, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains(r#"The container name "/taken" is already in use"#),
        "{body}"
    );
    let (st, body) = api_post(
        &d,
        "/containers/create?name=a%20b",
        r#"{"Image":"busybox"}"#,
    );
    assert_eq!(st, 400, "invalid name: {body}");

    let (st, body) = api_post(
        &d,
        "/containers/create",
        r#"{"Image":"busybox","HostConfig":{"RestartPolicy":{"Name":"sometimes"}}}"#,
    );
    assert_eq!(st, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("RestartPolicy"),
        "{body}"
    );
    let (st, body) = api_post(
        &d,
        "/containers/create",
        r#"{"Image":"busybox","HostConfig":{"RestartPolicy":{"Name":"always","MaximumRetryCount":3}}}"#,
    );
    assert_eq!(st, 400, "a retry count only goes with on-failure: {body}");

    let o = docker(&d, &["run", "--rm", "-m", "lots", IMAGE, "true"]);
    assert_eq!(code(&o), 125, "{}", stderr(&o));
    let o = docker(&d, &["start", "no-such-container"]);
    assert_ne!(code(&o), 0);
    assert!(
        stderr(&o).contains("No such container: no-such-container"),
        "{}",
        stderr(&o)
    );
    let (st, _) = api_post(&d, "/containers/no-such-container/start", "");
    assert_eq!(st, 404);
    let (st, body) = api_post(&d, &format!("/containers/{first}/kill?signal=NOPE"), "");
    assert!(
        st == 400 || st == 409,
        "kill of a created container / bad signal: {st} {body}"
    );

    // A start that fails in the runtime: the record stays (as Docker's does) with the error,
    // and nothing of the attempt is left mounted or running.
    let bad = ok(&docker(&d, &["create", IMAGE, "no-such-command"]), "create");
    let o = docker(&d, &["start", &bad]);
    assert_ne!(code(&o), 0);
    assert!(
        stderr(&o).contains("executable file not found"),
        "{}",
        stderr(&o)
    );
    let v = inspect(&d, &bad);
    assert_eq!(v["State"]["ExitCode"], 127, "{v:#}");
    assert!(v["State"]["Error"]
        .as_str()
        .unwrap_or_default()
        .contains("executable file not found"));
    assert_eq!(v["State"]["Running"], false);
    assert!(
        mounts_containing(&bad).is_empty(),
        "{:?}",
        mounts_containing(&bad)
    );
    assert!(cgroup_dirs_under(&format!("berth/{bad}")).is_empty());

    // Only the two created containers exist; nothing else of the failures.
    let mut dirs = container_dirs(&d);
    dirs.sort();
    let mut expect = vec![first.clone(), bad.clone()];
    expect.sort();
    assert_eq!(dirs, expect, "records left by failed creates");
    assert_eq!(d.leftover_mounts(), Vec::<String>::new());
    finish(d);
}

/// The same commands against Debian's dockerd 20.10 and berth: exit codes and the key inspect
/// fields of a stopped container agree.
#[test]
fn differential_against_dockerd() {
    if !prerequisites("differential tests") {
        return;
    }
    let Some(dockerd) = Dockerd::start() else {
        return;
    };
    let d = setup();
    let tmp = tempfile::tempdir().expect("tempdir");
    let archive = tmp.path().join("busybox.tar");
    busybox_docker_archive(&archive, IMAGE);
    let real = |args: &[&str]| -> Output {
        run(Command::new(DOCKER_CLI)
            .env("DOCKER_HOST", dockerd.host())
            .env("DOCKER_CONFIG", tmp.path().join("cfg"))
            .args(args))
    };
    ok(
        &real(&["load", "-i", &archive.display().to_string()]),
        "dockerd load",
    );

    for script in [
        "exit 3",
        "kill -9 $$; exit 4",
        "echo out; echo err >&2; exit 0",
    ] {
        let args = [
            "run",
            "--rm",
            "--network",
            "none",
            IMAGE,
            "sh",
            "-c",
            script,
        ];
        let (a, b) = (real(&args), docker(&d, &args));
        assert_eq!(
            (code(&a), stdout(&a), stderr(&a)),
            (code(&b), stdout(&b), stderr(&b)),
            "{script}: dockerd vs berth"
        );
    }
    for cmd in [vec!["no-such-command"], vec!["/etc/passwd"]] {
        let mut args = vec!["run", "--rm", "--network", "none", IMAGE];
        args.extend(cmd.iter());
        let (a, b) = (real(&args), docker(&d, &args));
        assert_eq!(
            code(&a),
            code(&b),
            "{cmd:?}: {} vs {}",
            stderr(&a),
            stderr(&b)
        );
    }

    let create = [
        "create",
        "--name",
        "stopped",
        "--network",
        "none",
        "-e",
        "K=v",
        "-l",
        "l=1",
        "-m",
        "64m",
        "--restart",
        "on-failure:1",
        "-w",
        "/tmp",
        IMAGE,
        "sh",
        "-c",
        "exit 3",
    ];
    ok(&real(&create), "dockerd create");
    ok(&docker(&d, &create), "berth create");
    let created = |o: Output| -> Value {
        serde_json::from_str::<Value>(&ok(&o, "inspect")).expect("json")[0].clone()
    };
    let (a, b) = (
        created(real(&["inspect", "stopped"])),
        created(docker(&d, &["inspect", "stopped"])),
    );
    assert_eq!(a["State"]["Status"], b["State"]["Status"], "created");
    ok(&real(&["start", "stopped"]), "start");
    ok(&docker(&d, &["start", "stopped"]), "start");
    let wait_done = |f: &dyn Fn(&[&str]) -> Output| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let v = created(f(&["inspect", "stopped"]));
            if v["State"]["Status"] == "exited" && v["RestartCount"] == 1 {
                return v;
            }
            assert!(Instant::now() < deadline, "not exited: {v:#}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let a = wait_done(&real);
    let b = wait_done(&|args: &[&str]| docker(&d, args));
    let mut diffs = Vec::new();
    for ptr in [
        "/Name",
        "/Path",
        "/Args",
        "/RestartCount",
        "/State/Status",
        "/State/Running",
        "/State/Paused",
        "/State/Restarting",
        "/State/OOMKilled",
        "/State/Dead",
        "/State/Pid",
        "/State/ExitCode",
        "/State/Error",
        "/Config/Cmd",
        "/Config/Entrypoint",
        "/Config/Env",
        "/Config/Labels",
        "/Config/WorkingDir",
        "/Config/Image",
        "/Config/Tty",
        "/Config/OpenStdin",
        "/Config/AttachStdout",
        "/HostConfig/Memory",
        "/HostConfig/RestartPolicy",
        "/HostConfig/NetworkMode",
        "/HostConfig/Privileged",
        "/HostConfig/ShmSize",
        "/HostConfig/LogConfig/Type",
    ] {
        if a.pointer(ptr) != b.pointer(ptr) {
            diffs.push(format!(
                "{ptr}: dockerd {:?} berth {:?}",
                a.pointer(ptr),
                b.pointer(ptr)
            ));
        }
    }
    // Every key dockerd shows at these levels, berth shows too (clients index them).
    for obj in ["", "/State", "/Config", "/HostConfig", "/NetworkSettings"] {
        let (Some(x), Some(y)) = (
            a.pointer(obj).and_then(Value::as_object),
            b.pointer(obj).and_then(Value::as_object),
        ) else {
            diffs.push(format!("{obj}: not an object in both"));
            continue;
        };
        let missing: Vec<&String> = x.keys().filter(|k| !y.contains_key(*k)).collect();
        if !missing.is_empty() {
            diffs.push(format!("{obj}: keys berth lacks: {missing:?}"));
        }
    }
    assert!(
        diffs.is_empty(),
        "inspect, dockerd vs berth:\n{}",
        diffs.join("\n")
    );
    ok(&real(&["rm", "stopped"]), "dockerd rm");
    finish(d);
}

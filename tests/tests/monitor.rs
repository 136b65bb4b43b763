//! berth-monitor end to end: real containers run by berth-runc under the monitor. Each test
//! uses a private runtime root and checks the exit file, the json-file log and what is left.

use berth_e2e::{bin, cgroup_dirs, output_via_files, stderr, unique_id, Bundle};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Upper bound for anything the tests wait for (a container start, an exit file).
const PATIENCE: Duration = Duration::from_secs(10);

/// A private runtime root and a directory for exit and log files; on drop, force-deletes the
/// containers and kills the monitors it started.
struct Env {
    dir: tempfile::TempDir,
    ids: Vec<String>,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::Builder::new()
                .prefix("berth-test-monitor-")
                .tempdir()
                .expect("tempdir"),
            ids: Vec::new(),
        }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("runtime-root")
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn runc(&self, args: &[&str]) -> Output {
        let mut c = Command::new(bin("berth-runc"));
        c.arg("--root").arg(self.root()).args(args);
        output_via_files(&mut c)
    }

    /// Runs berth-monitor for `id`, with the exit file `ID.exit`, the log `ID.log` and the
    /// monitor's pid in `ID.monitor-pid`.
    fn monitor(&mut self, bundle: &Path, id: &str, extra: &[&str]) -> Output {
        let mut c = self.container_monitor(bundle, id, &self.file(&format!("{id}.monitor-pid")));
        c.args(extra);
        output_via_files(&mut c)
    }

    /// berth-monitor for container `id` with its exit file and log in the test's directory and
    /// its pid written to `pid_file`; `id` is deleted when the test ends.
    fn container_monitor(&mut self, bundle: &Path, id: &str, pid_file: &Path) -> Command {
        self.ids.push(id.to_string());
        let mut c = self.berth_monitor(None);
        c.arg("--bundle")
            .arg(bundle)
            .arg("--id")
            .arg(id)
            .arg("--exit-file")
            .arg(self.file(&format!("{id}.exit")))
            .arg("--log-file")
            .arg(self.file(&format!("{id}.log")))
            .arg("--monitor-pid-file")
            .arg(pid_file);
        c
    }

    /// `berth-monitor [SUBCOMMAND]` driving berth-runc with the test's private runtime root.
    fn berth_monitor(&self, subcommand: Option<&str>) -> Command {
        let mut c = Command::new(bin("berth-monitor"));
        c.args(subcommand)
            .arg("--runtime")
            .arg(bin("berth-runc"))
            .arg("--runtime-root")
            .arg(self.root());
        c
    }

    /// Starts the monitor with the container created, not started, and an attach socket, so the
    /// test can connect before the container runs, as the daemon does; returns the socket.
    fn start_created(&mut self, bundle: &Path, id: &str, extra: &[&str]) -> PathBuf {
        let attach = self.sock(id, "attach");
        let a = utf8(&attach);
        let args: Vec<&str> = ["--no-start", "--attach-socket", &a]
            .into_iter()
            .chain(extra.iter().copied())
            .collect();
        self.start(bundle, id, &args);
        attach
    }

    /// SIGKILLs container `id` and waits for its exit file, which must say 128+9.
    fn kill_and_wait(&self, id: &str) -> Value {
        self.runc_ok(&["kill", id, "KILL"]);
        let exit = self.wait_exit(id);
        assert_eq!(exit["exit_code"], 137, "{exit}");
        exit
    }

    fn runc_ok(&self, args: &[&str]) {
        let o = self.runc(args);
        assert!(o.status.success(), "{}: {}", args[0], stderr(&o));
    }

    /// `berth-runc state` as JSON.
    fn state(&self, id: &str) -> Value {
        serde_json::from_slice(&self.runc(&["state", id]).stdout).expect("state")
    }

    fn start(&mut self, bundle: &Path, id: &str, extra: &[&str]) {
        let o = self.monitor(bundle, id, extra);
        assert!(o.status.success(), "berth-monitor failed: {}", stderr(&o));
    }

    /// Polls for the exit file (written atomically, so present means complete).
    fn wait_exit(&self, id: &str) -> Value {
        let path = self.file(&format!("{id}.exit"));
        assert!(
            poll_until(|| path.exists()),
            "no exit file for {id} after {PATIENCE:?}"
        );
        serde_json::from_slice(&std::fs::read(&path).expect("read exit file"))
            .expect("exit file is JSON")
    }

    fn monitor_pid(&self, id: &str) -> u32 {
        std::fs::read_to_string(self.file(&format!("{id}.monitor-pid")))
            .expect("monitor pid file")
            .trim()
            .parse()
            .expect("monitor pid")
    }

    fn log_entries(&self, name: &str) -> Vec<Value> {
        std::fs::read_to_string(self.file(name))
            .unwrap_or_else(|e| panic!("read {name}: {e}"))
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
            .collect()
    }
}

impl Env {
    /// The json-file log of `id` as sorted (stream, text) pairs: the two pipes are read
    /// independently, so only the order within a stream is defined.
    fn logged_by_stream(&self, id: &str) -> Vec<(String, String)> {
        let mut got: Vec<(String, String)> = self
            .log_entries(&format!("{id}.log"))
            .iter()
            .map(|e| {
                (
                    e["stream"].as_str().expect("stream").to_string(),
                    e["log"].as_str().expect("log").to_string(),
                )
            })
            .collect();
        got.sort();
        got
    }

    /// Neither the runtime's state directory nor a cgroup of container `id` is left.
    fn assert_container_gone(&self, id: &str) {
        assert!(
            !self.root().join(id).exists(),
            "state dir of {id} left behind"
        );
        assert_eq!(
            cgroup_dirs(id),
            Vec::<PathBuf>::new(),
            "cgroups of {id} left"
        );
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for id in &self.ids {
            let _ = self.runc(&["delete", "--force", id]);
            berth_e2e::kill_pids(&berth_e2e::pids_mentioning(id));
        }
    }
}

/// A path as a command-line argument.
fn utf8(p: &Path) -> String {
    p.to_str().expect("utf-8").to_string()
}

/// Polls `cond` every 10 ms for at most [`PATIENCE`].
fn poll_until(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

impl Env {
    /// A fresh Env, or None (with the reason printed, or a failure under BERTH_TEST_STRICT)
    /// where this machine cannot run containers.
    fn if_ready() -> Option<Env> {
        berth_e2e::can_run_containers("berth-monitor tests").then(Env::new)
    }
}

fn config(args: &[&str]) -> Value {
    berth_e2e::writable_config(args)
}

/// Fields of /proc/PID/stat after the command name: state, ppid, pgrp, session, ...
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// True while `pid` exists and is not a zombie.
fn alive(pid: u32) -> bool {
    stat_fields(pid).is_some_and(|f| f[0] != "Z")
}

#[test]
fn exit_code_and_both_streams_are_recorded_and_delete_leaves_nothing() {
    let Some(mut env) = Env::if_ready() else {
        return;
    };
    let b = Bundle::new(&config(&[
        "sh",
        "-c",
        "echo out; echo err >&2; printf partial; exit 3",
    ]));
    let id = unique_id("mon-exit");
    env.start(b.path(), &id, &[]);

    let exit = env.wait_exit(&id);
    assert_eq!(exit["exit_code"], 3, "{exit}");
    assert!(exit["signal"].is_null(), "{exit}");
    assert!(
        exit["finished_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{exit}"
    );

    for e in env.log_entries(&format!("{id}.log")) {
        assert!(
            e["time"].as_str().is_some_and(|t| t.len() == 30),
            "RFC 3339 with nanoseconds: {e}"
        );
    }
    assert_eq!(
        env.logged_by_stream(&id),
        [
            ("stderr", "err\n"),
            ("stdout", "out\n"),
            ("stdout", "partial")
        ]
        .map(|(s, l)| (s.to_string(), l.to_string()))
    );

    let monitor = env.monitor_pid(&id);
    assert!(
        poll_until(|| !alive(monitor)),
        "the monitor is still there after the container exited"
    );
    env.runc_ok(&["delete", &id]);
    env.assert_container_gone(&id);
    assert!(
        !env.file(&format!("{id}.exit.init-pid")).exists(),
        "the monitor's own pid file left behind"
    );
}

#[test]
fn killed_container_reports_128_plus_signal() {
    let Some(mut env) = Env::if_ready() else {
        return;
    };
    let b = Bundle::new(&config(&["sleep", "1000"]));
    let id = unique_id("mon-kill");
    env.start(b.path(), &id, &[]);
    let exit = env.kill_and_wait(&id);
    assert_eq!(exit["signal"], 9, "{exit}");
    env.runc_ok(&["delete", &id]);
    assert!(!env.root().join(&id).exists(), "state dir left behind");
}

#[test]
fn monitor_is_detached_and_outlives_its_caller() {
    let Some(mut env) = Env::if_ready() else {
        return;
    };
    let b = Bundle::new(&config(&[
        "sh",
        "-c",
        "ls /proc/self/fd | tr '\\n' ' '; echo; exec sleep 1000",
    ]));
    let id = unique_id("mon-detach");
    env.start(b.path(), &id, &[]);
    // The command has returned: its process (the caller's child) is gone, the monitor is not.
    let monitor = env.monitor_pid(&id);
    assert!(alive(monitor), "the monitor exited with its caller");
    let f = stat_fields(monitor).expect("monitor stat");
    assert_ne!(
        f[1],
        std::process::id().to_string(),
        "monitor is a child of the test"
    );
    assert_eq!(f[3], monitor.to_string(), "monitor leads its own session");

    let state = env.state(&id);
    assert_eq!(state["status"], "running", "{state}");
    let init = state["pid"].as_u64().expect("pid") as u32;
    let init_stat = stat_fields(init).expect("init stat");
    assert_eq!(
        init_stat[1],
        monitor.to_string(),
        "the monitor reaps the container's init"
    );

    // Only stdio crosses into the container (3 is the directory ls reads).
    let log = env.file(&format!("{id}.log"));
    assert!(
        poll_until(|| std::fs::read_to_string(&log).is_ok_and(|s| !s.is_empty())),
        "no output logged"
    );
    let entries = env.log_entries(&format!("{id}.log"));
    let fds: String = entries.iter().filter_map(|e| e["log"].as_str()).collect();
    assert_eq!(fds, "0 1 2 3 \n", "descriptors in the container");

    assert!(
        !env.file(&format!("{id}.exit")).exists(),
        "exit file before exit"
    );
    env.kill_and_wait(&id);
    assert!(
        poll_until(|| !alive(monitor)),
        "monitor outlived its container"
    );
}

#[test]
fn bad_bundle_fails_with_the_runtimes_error_and_leaves_nothing() {
    let Some(mut env) = Env::if_ready() else {
        return;
    };
    let b = Bundle::new(&config(&["true"]));
    std::fs::write(b.path().join("config.json"), "{ not json").expect("write");
    let id = unique_id("mon-bad");
    let o = env.monitor(b.path(), &id, &[]);
    assert!(!o.status.success(), "a bad bundle must fail");
    let err = stderr(&o);
    assert!(
        err.contains("config.json"),
        "the runtime's error names the file: {err}"
    );
    env.assert_container_gone(&id);
    for f in ["exit", "log", "monitor-pid", "exit.init-pid"] {
        assert!(
            !env.file(&format!("{id}.{f}")).exists(),
            "{id}.{f} left behind"
        );
    }
    assert!(
        poll_until(|| berth_e2e::pids_mentioning(&id).is_empty()),
        "a monitor process is left: {:?}",
        berth_e2e::pids_mentioning(&id)
    );

    let missing = env.file("no-such-bundle");
    let o = env.monitor(&missing, &id, &[]);
    assert!(!o.status.success(), "a missing bundle must fail");
    assert!(stderr(&o).contains("no-such-bundle"), "{}", stderr(&o));
}

#[test]
fn log_rotates_by_size_like_docker() {
    let Some(mut env) = Env::if_ready() else {
        return;
    };
    let b = Bundle::new(&config(&[
        "sh",
        "-c",
        "i=0; while [ $i -lt 40 ]; do echo line-$i; i=$((i+1)); done",
    ]));
    let id = unique_id("mon-rot");
    env.start(
        b.path(),
        &id,
        &["--log-max-size", "300", "--log-max-files", "3"],
    );
    assert_eq!(env.wait_exit(&id)["exit_code"], 0);

    let name = format!("{id}.log");
    assert!(
        !env.file(&format!("{name}.3")).exists(),
        "more files than --log-max-files"
    );
    let mut lines = Vec::new();
    for f in [format!("{name}.2"), format!("{name}.1"), name.clone()] {
        let size = std::fs::metadata(env.file(&f)).expect("rotated file").len();
        assert!(size <= 300, "{f} is {size} bytes, over --log-max-size");
        for e in env.log_entries(&f) {
            assert_eq!(e["stream"], "stdout");
            lines.push(e["log"].as_str().expect("log").to_string());
        }
    }
    // The newest lines are kept, in order, without gaps; the oldest were rotated away.
    let last = lines.last().expect("some lines").clone();
    assert_eq!(last, "line-39\n");
    let first: u32 = lines[0]
        .trim()
        .strip_prefix("line-")
        .and_then(|n| n.parse().ok())
        .expect("line-N");
    assert!(first > 0, "nothing was rotated away");
    let want: Vec<String> = (first..40).map(|i| format!("line-{i}\n")).collect();
    assert_eq!(lines, want);
    env.runc_ok(&["delete", &id]);
}

// ---- attach, stdin, terminal, exec, log drivers (the daemon's protocol) ----

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

/// Connects to a monitor's socket once it exists.
fn connect(path: &Path) -> UnixStream {
    assert!(
        berth_e2e::wait_for_socket(path, PATIENCE),
        "no socket at {}",
        path.display()
    );
    let s = UnixStream::connect(path).unwrap_or_else(|e| panic!("connect {}: {e}", path.display()));
    s.set_read_timeout(Some(PATIENCE)).expect("timeout");
    s
}

/// Reads Docker frames until EOF: (stream, payload) per frame.
fn read_frames(s: &mut UnixStream) -> Vec<(u8, Vec<u8>)> {
    let mut all = Vec::new();
    s.read_to_end(&mut all)
        .expect("read until the monitor closes");
    split_frames(&all)
}

fn split_frames(mut all: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    while !all.is_empty() {
        assert!(all.len() >= 8, "truncated frame header: {all:?}");
        assert!(
            matches!(all[0], 1 | 2) && all[1..4] == [0, 0, 0],
            "bad header {:?}",
            &all[..8]
        );
        let len = u32::from_be_bytes([all[4], all[5], all[6], all[7]]) as usize;
        assert!(all.len() >= 8 + len, "truncated frame");
        frames.push((all[0], all[8..8 + len].to_vec()));
        all = &all[8 + len..];
    }
    frames
}

/// The bytes of one stream, frames joined.
fn stream_of(frames: &[(u8, Vec<u8>)], stream: u8) -> String {
    let b: Vec<u8> = frames
        .iter()
        .filter(|(s, _)| *s == stream)
        .flat_map(|(_, p)| p.clone())
        .collect();
    String::from_utf8_lossy(&b).to_string()
}

/// Reads frames until the joined output contains `needle`; returns all read so far.
fn read_until(s: &mut UnixStream, needle: &str) -> String {
    let deadline = Instant::now() + PATIENCE;
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) => panic!("reading attach: {e}"),
        }
        // Only whole frames are decoded.
        let mut whole = 0;
        while raw.len() >= whole + 8 {
            let len = u32::from_be_bytes([
                raw[whole + 4],
                raw[whole + 5],
                raw[whole + 6],
                raw[whole + 7],
            ]) as usize;
            if raw.len() < whole + 8 + len {
                break;
            }
            whole += 8 + len;
        }
        let text = stream_of(&split_frames(&raw[..whole]), 1);
        if text.contains(needle) {
            return text;
        }
    }
    panic!(
        "{needle:?} never came; got {:?}",
        String::from_utf8_lossy(&raw)
    );
}

impl Env {
    fn sock(&self, id: &str, what: &str) -> PathBuf {
        self.file(&format!("{id}.{what}"))
    }

    /// `berth-monitor exec` for container `id`, run on a thread (with --attach-wait it returns
    /// only after a client has connected).
    fn exec_monitor(
        &self,
        id: &str,
        exec_id: &str,
        process: &Value,
        extra: &[&str],
    ) -> std::thread::JoinHandle<Output> {
        let p = self.file(&format!("{exec_id}.process.json"));
        std::fs::write(&p, serde_json::to_vec(process).expect("json")).expect("process.json");
        let mut c = self.berth_monitor(Some("exec"));
        c.arg("--id")
            .arg(id)
            .arg("--process")
            .arg(&p)
            .arg("--exit-file")
            .arg(self.file(&format!("{exec_id}.exit")))
            .arg("--attach-socket")
            .arg(self.sock(exec_id, "attach"))
            .args(extra);
        std::thread::spawn(move || output_via_files(&mut c))
    }
}

fn process(args: &[&str], terminal: bool) -> Value {
    serde_json::json!({
        "terminal": terminal,
        "user": {"uid": 0, "gid": 0},
        "args": args,
        "env": ["PATH=/bin", "TERM=xterm"],
        "cwd": "/"
    })
}

fn tty_config(args: &[&str]) -> Value {
    let mut c = config(args);
    c["process"]["terminal"] = serde_json::json!(true);
    c
}

#[test]
fn attach_gets_stdout_and_stderr_framed_apart_with_no_start() {
    let Some(mut env) = Env::if_ready() else {
        return;
    };
    let b = Bundle::new(&config(&[
        "sh",
        "-c",
        "echo out1; echo err1 >&2; echo out2; exit 4",
    ]));
    let id = unique_id("mon-att");
    let attach = env.start_created(b.path(), &id, &[]);
    // Created, not started: the test starts it once attached, as the daemon does.
    let state = env.state(&id);
    assert_eq!(state["status"], "created", "{state}");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&attach).expect("socket").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "attach socket mode");
    let mut c = connect(&attach);
    env.runc_ok(&["start", &id]);
    let frames = read_frames(&mut c);
    assert_eq!(stream_of(&frames, 1), "out1\nout2\n");
    assert_eq!(stream_of(&frames, 2), "err1\n");
    // EOF came before the exit file; it must follow.
    assert_eq!(env.wait_exit(&id)["exit_code"], 4);
    assert!(poll_until(|| !attach.exists()), "attach socket left behind");
    // Everything was logged too.
    assert_eq!(
        env.logged_by_stream(&id),
        [
            ("stderr", "err1\n"),
            ("stdout", "out1\n"),
            ("stdout", "out2\n")
        ]
        .map(|(s, l)| (s.to_string(), l.to_string()))
    );
    env.runc_ok(&["delete", &id]);
}

#[test]
fn stdin_through_attach_reaches_cat_and_stdin_once_closes_it() {
    let Some(mut env) = Env::if_ready() else {
        return;
    };
    let b = Bundle::new(&config(&["cat"]));
    let id = unique_id("mon-stdin");
    let attach = env.start_created(b.path(), &id, &["--stdin", "--stdin-once"]);
    let mut c = connect(&attach);
    env.runc_ok(&["start", &id]);
    c.write_all(b"hello\nworld\n").expect("write stdin");
    // Half-close: this client is done with stdin; with --stdin-once cat sees EOF and exits 0.
    c.shutdown(std::net::Shutdown::Write).expect("shutdown");
    let frames = read_frames(&mut c);
    assert_eq!(stream_of(&frames, 1), "hello\nworld\n");
    assert_eq!(env.wait_exit(&id)["exit_code"], 0);
    env.runc_ok(&["delete", &id]);
}

#[test]
fn two_attach_clients_both_get_the_output() {
    let Some(mut env) = Env::if_ready() else {
        return;
    };
    let b = Bundle::new(&config(&["sh", "-c", "echo one; echo two >&2"]));
    let id = unique_id("mon-two");
    let attach = env.start_created(b.path(), &id, &[]);
    let mut c1 = connect(&attach);
    let mut c2 = connect(&attach);
    env.runc_ok(&["start", &id]);
    for c in [&mut c1, &mut c2] {
        let f = read_frames(c);
        assert_eq!(stream_of(&f, 1), "one\n");
        assert_eq!(stream_of(&f, 2), "two\n");
    }
    assert_eq!(env.wait_exit(&id)["exit_code"], 0);
}

#[test]
fn tty_output_comes_through_the_pty_and_resize_changes_stty_size() {
    let Some(mut env) = Env::if_ready() else {
        return;
    };
    let b = Bundle::new(&tty_config(&[
        "sh",
        "-c",
        "while true; do stty size; sleep 0.05; done",
    ]));
    let id = unique_id("mon-tty");
    let ctl = env.sock(&id, "ctl");
    let attach = env.start_created(
        b.path(),
        &id,
        &["--tty", "--stdin", "--ctl-socket", &utf8(&ctl)],
    );
    let mut client = connect(&attach);
    env.runc_ok(&["start", &id]);
    // A terminal's output is one stream, with the terminal's \r\n. Before any resize the size
    // is 0x0, which busybox's stty reports as an error: only the change is checked.
    read_until(&mut client, "\r\n");
    let mut ctl_client = connect(&ctl);
    ctl_client
        .write_all(b"{\"resize\":{\"height\":33,\"width\":111}}\n")
        .expect("resize");
    read_until(&mut client, "33 111\r\n");
    env.runc_ok(&["kill", &id, "KILL"]);
    let rest = read_frames(&mut client);
    assert!(rest.iter().all(|(s, _)| *s == 1), "tty frames are stream 1");
    assert_eq!(env.wait_exit(&id)["exit_code"], 137);
    assert!(
        poll_until(|| !ctl.exists() && !attach.exists()),
        "sockets left"
    );
    let leftover: Vec<_> = std::fs::read_dir(env.dir.path())
        .expect("readdir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("console"))
        .collect();
    assert!(leftover.is_empty(), "console socket left: {leftover:?}");
    let logged: String = env
        .log_entries(&format!("{id}.log"))
        .iter()
        .map(|e| e["log"].as_str().expect("log").to_string())
        .collect();
    assert!(
        logged.contains("33 111"),
        "the tty output is logged: {logged:?}"
    );
}

#[test]
fn exec_with_attach_wait_gets_output_and_exit_code_with_and_without_tty() {
    let Some(mut env) = Env::if_ready() else {
        return;
    };
    let b = Bundle::new(&config(&["sleep", "1000"]));
    let id = unique_id("mon-exec");
    env.start(b.path(), &id, &[]);

    let ex = format!("{id}-x1");
    let t = env.exec_monitor(
        &id,
        &ex,
        &process(&["sh", "-c", "echo eo; echo ee >&2; exit 5"], false),
        &["--attach-wait"],
    );
    // The exec has not run yet: the monitor waits for the first client.
    let mut c = connect(&env.sock(&ex, "attach"));
    let frames = read_frames(&mut c);
    let o = t.join().expect("monitor thread");
    assert!(o.status.success(), "berth-monitor exec: {}", stderr(&o));
    assert_eq!(stream_of(&frames, 1), "eo\n");
    assert_eq!(stream_of(&frames, 2), "ee\n");
    assert_eq!(env.wait_exit(&ex)["exit_code"], 5);
    assert!(!env.sock(&ex, "attach").exists(), "attach socket left");

    let ex = format!("{id}-x2");
    let t = env.exec_monitor(
        &id,
        &ex,
        &process(
            &["sh", "-c", "tty; read line; echo got-$line; exit 2"],
            true,
        ),
        &["--attach-wait", "--tty", "--stdin"],
    );
    let mut c = connect(&env.sock(&ex, "attach"));
    c.write_all(b"abc\n").expect("stdin");
    let frames = read_frames(&mut c);
    let o = t.join().expect("monitor thread");
    assert!(
        o.status.success(),
        "berth-monitor exec --tty: {}",
        stderr(&o)
    );
    let out = stream_of(&frames, 1);
    assert!(out.contains("/dev/pts/"), "a terminal: {out:?}");
    assert!(
        out.contains("got-abc\r\n"),
        "stdin through the pty: {out:?}"
    );
    assert!(frames.iter().all(|(s, _)| *s == 1));
    assert_eq!(env.wait_exit(&ex)["exit_code"], 2);

    env.kill_and_wait(&id);
}

/// Decodes the records of a `local` log file: (source, time_nano, line, partial).
fn local_records(mut b: &[u8]) -> Vec<(String, i64, Vec<u8>, bool)> {
    fn varint(b: &mut &[u8]) -> u64 {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = b[0];
            *b = &b[1..];
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                break;
            }
        }
        v
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let len = u32::from_be_bytes(b[..4].try_into().expect("4 bytes")) as usize;
        let (mut m, rest) = b[4..].split_at(len);
        assert_eq!(&rest[..4], &(len as u32).to_be_bytes(), "trailing length");
        b = &rest[4..];
        let mut rec = (String::new(), 0, Vec::new(), false);
        while !m.is_empty() {
            let tag = varint(&mut m);
            match (tag >> 3, tag & 7) {
                (1 | 3, 2) => {
                    let n = varint(&mut m) as usize;
                    let (v, r) = m.split_at(n);
                    if tag >> 3 == 1 {
                        rec.0 = String::from_utf8(v.to_vec()).expect("utf-8 source");
                    } else {
                        rec.2 = v.to_vec();
                    }
                    m = r;
                }
                (2, 0) => rec.1 = varint(&mut m) as i64,
                (4, 0) => rec.3 = varint(&mut m) != 0,
                other => panic!("unexpected field {other:?}"),
            }
        }
        out.push(rec);
    }
    out
}

#[test]
fn local_and_none_log_drivers() {
    let Some(mut env) = Env::if_ready() else {
        return;
    };
    let b = Bundle::new(&config(&["sh", "-c", "echo a; echo b >&2; printf c"]));
    let id = unique_id("mon-local");
    env.start(b.path(), &id, &["--log-driver", "local"]);
    assert_eq!(env.wait_exit(&id)["exit_code"], 0);
    let recs = local_records(&std::fs::read(env.file(&format!("{id}.log"))).expect("log"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as i64;
    assert!(
        recs.iter()
            .all(|r| r.1 > now - 60_000_000_000 && r.1 <= now),
        "time_nano is now: {recs:?}"
    );
    let mut got: Vec<(String, String, bool)> = recs
        .into_iter()
        .map(|(s, _, l, p)| (s, String::from_utf8(l).expect("utf-8"), p))
        .collect();
    got.sort();
    let want = [
        ("stderr", "b", false),
        ("stdout", "a", false),
        ("stdout", "c", true),
    ]
    .map(|(s, l, p)| (s.to_string(), l.to_string(), p));
    assert_eq!(got, want);

    let id = unique_id("mon-none");
    env.start(b.path(), &id, &["--log-driver", "none"]);
    assert_eq!(env.wait_exit(&id)["exit_code"], 0);
    assert!(
        !env.file(&format!("{id}.log")).exists(),
        "--log-driver none wrote a file"
    );
}

#[test]
fn a_client_that_never_reads_does_not_stall_the_container() {
    let Some(mut env) = Env::if_ready() else {
        return;
    };
    // 16 MB: far more than a socket buffer plus the monitor's per-client buffer.
    let b = Bundle::new(&config(&[
        "sh",
        "-c",
        "head -c 16000000 /dev/zero; echo done >&2",
    ]));
    let id = unique_id("mon-slow");
    let attach = env.start_created(b.path(), &id, &["--log-driver", "none"]);
    let mut stalled = connect(&attach);
    env.runc_ok(&["start", &id]);
    assert_eq!(env.wait_exit(&id)["exit_code"], 0);
    // The monitor dropped the client rather than wait: it gets less than was written.
    let mut all = Vec::new();
    let _ = stalled.read_to_end(&mut all);
    assert!(
        all.len() < 16_000_000,
        "the stalled client got everything ({} bytes)?",
        all.len()
    );
}

#[test]
fn failures_leave_no_sockets_logs_or_containers() {
    let Some(mut env) = Env::if_ready() else {
        return;
    };
    // create fails: --tty with a config that has no terminal.
    let b = Bundle::new(&config(&["true"]));
    let id = unique_id("mon-fail");
    let (attach, ctl) = (env.sock(&id, "attach"), env.sock(&id, "ctl"));
    let (a, c) = (utf8(&attach), utf8(&ctl));
    let o = env.monitor(
        b.path(),
        &id,
        &["--tty", "--attach-socket", &a, "--ctl-socket", &c],
    );
    assert!(
        !o.status.success(),
        "create with --tty and no terminal must fail"
    );
    assert!(stderr(&o).contains("create failed"), "{}", stderr(&o));
    let left = |env: &Env| -> Vec<String> {
        std::fs::read_dir(env.dir.path())
            .expect("readdir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| n != "runtime-root")
            .collect()
    };
    assert_eq!(left(&env), Vec::<String>::new(), "files left");
    assert!(!env.root().join(&id).exists(), "state dir left");

    // create succeeds, then writing the monitor pid file fails: the container is deleted.
    let id = unique_id("mon-fail2");
    let mut cmd = env.container_monitor(b.path(), &id, &env.file("no-such-dir/monitor-pid"));
    cmd.arg("--attach-socket").arg(env.sock(&id, "attach"));
    let o = output_via_files(&mut cmd);
    assert!(!o.status.success(), "an unwritable pid file must fail");
    assert!(stderr(&o).contains("no-such-dir"), "{}", stderr(&o));
    assert_eq!(left(&env), Vec::<String>::new(), "files left");
    // The container was created before the failure: it must have been deleted.
    env.assert_container_gone(&id);

    // exec into a container that does not exist.
    let ex = format!("{id}-x");
    let t = env.exec_monitor("no-such-container", &ex, &process(&["true"], false), &[]);
    let o = t.join().expect("thread");
    assert!(!o.status.success(), "exec into nothing must fail");
    assert!(!env.sock(&ex, "attach").exists(), "attach socket left");
    assert!(
        !env.file(&format!("{ex}.exit")).exists(),
        "exit file written"
    );
    assert!(
        poll_until(|| berth_e2e::pids_mentioning(&id).is_empty()),
        "a monitor process is left"
    );
}

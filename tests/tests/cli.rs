//! The `berth` client (docker's verbs and flags) against a real daemon: what users type and rely
//! on — exit codes, output, `--format`, images through a local registry with login, and the
//! errors for a missing daemon or a bad flag.
//!
//! The daemon under test is chosen by [`start_daemon`]: dockerd for now; switching to
//! `berth daemon` is the one-line change described there.
#![forbid(unsafe_code)]

use berth_e2e::{busybox, busybox_docker_archive, run_with_stdin, DockerRegistry, Dockerd};
use std::any::Any;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

/// One daemon at a time: dockerd's containerd shims share /run/containerd/s.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The daemon every test drives: (socket path, guard that stops and cleans it on drop), or None
/// after the skip message (a failure under BERTH_TEST_STRICT=1).
/// To test `berth daemon` instead, make the body `berth_daemon()`.
fn start_daemon() -> Option<(PathBuf, Box<dyn Any>)> {
    berth_daemon()
}

#[allow(dead_code)]
fn dockerd() -> Option<(PathBuf, Box<dyn Any>)> {
    let d = Dockerd::start()?;
    Some((d.socket.clone(), Box::new(d)))
}

fn berth_daemon() -> Option<(PathBuf, Box<dyn Any>)> {
    if !berth_e2e::require(berth_e2e::is_root(), "berth daemon needs root") {
        return None;
    }
    let d = berth_e2e::BerthDaemon::start(&[]);
    Some((d.socket.clone(), Box::new(d)))
}

/// A daemon with the busybox image loaded (as `busybox:latest`, by `berth load`), a private
/// client config directory, and a way to run `berth`.
struct Env {
    socket: PathBuf,
    config: tempfile::TempDir,
    _daemon: Box<dyn Any>,
    _one: std::sync::MutexGuard<'static, ()>,
}

impl Env {
    fn start() -> Option<Env> {
        let one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        if !berth_e2e::require(busybox().is_some(), "busybox-static is not installed") {
            return None;
        }
        let (socket, daemon) = start_daemon()?;
        let env = Env {
            socket,
            config: tempfile::Builder::new()
                .prefix("berth-cli-config-")
                .tempdir()
                .expect("tempdir"),
            _daemon: daemon,
            _one: one,
        };
        let archive = env.config.path().join("busybox.tar");
        busybox_docker_archive(&archive, "busybox:latest");
        let o = env.berth(&["load", "-i", archive.to_str().expect("utf-8 path")]);
        env.ok(&o, "berth load");
        assert!(
            stdout(&o).contains("Loaded image: busybox:latest"),
            "berth load output: {}",
            stdout(&o)
        );
        Some(env)
    }

    fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// `berth ARGS` against the daemon (under a 60 s limit), stdin closed.
    fn berth(&self, args: &[&str]) -> Output {
        self.berth_with(args, None)
    }

    fn berth_with(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut c = berth_cmd();
        c.env("BERTH_HOST", self.host())
            .env("DOCKER_CONFIG", self.config.path())
            .args(args);
        run_with_stdin(c, stdin)
    }

    fn ok(&self, o: &Output, what: &str) {
        assert!(
            o.status.success(),
            "{what}: exit {:?}\nstdout: {}\nstderr: {}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }

    /// The docker CLI against the same daemon, if installed (the output reference).
    fn docker(&self, args: &[&str]) -> Option<Output> {
        if !Path::new(berth_e2e::DOCKER_CLI).exists() {
            return None;
        }
        let mut c = Command::new("timeout");
        c.args(["-k", "5", "60", berth_e2e::DOCKER_CLI])
            .env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.config.path())
            .args(args);
        Some(run_with_stdin(c, None))
    }
}

fn berth_cmd() -> Command {
    let mut c = Command::new("timeout");
    c.args(["-k", "5", "60"])
        .arg(berth_e2e::bin("berth"))
        .env_remove("DOCKER_HOST")
        .env_remove("BERTH_HOST");
    c
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// `run --rm`: the container's exit status is berth's, stdout and stderr stay apart, a missing
/// command is 127 with the daemon's message, and nothing is left behind.
#[test]
fn run_rm_passes_exit_codes_and_streams() {
    let Some(env) = Env::start() else { return };
    let o = env.berth(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(o.status.code(), Some(3), "stderr: {}", stderr(&o));
    assert_eq!(stdout(&o), "out\n");
    assert_eq!(stderr(&o), "err\n");

    let o = env.berth(&[
        "run",
        "--rm",
        "-e",
        "GREETING=hi there",
        "-w",
        "/tmp",
        "busybox",
        "sh",
        "-c",
        "echo $GREETING; pwd",
    ]);
    env.ok(&o, "run with -e and -w");
    assert_eq!(stdout(&o), "hi there\n/tmp\n");

    let o = env.berth_with(
        &["run", "--rm", "-i", "busybox", "tr", "a-z", "A-Z"],
        Some(b"piped in\n"),
    );
    env.ok(&o, "run -i with stdin");
    assert_eq!(stdout(&o), "PIPED IN\n");

    let o = env.berth(&["run", "--rm", "busybox", "no-such-command"]);
    assert_eq!(o.status.code(), Some(127), "stderr: {}", stderr(&o));
    assert!(
        stderr(&o).contains("no-such-command"),
        "the error names the command: {}",
        stderr(&o)
    );

    // A registry that refuses connections: the pull fails at once.
    let o = env.berth(&["run", "--rm", "127.0.0.1:1/nothing:1", "true"]);
    assert_eq!(o.status.code(), Some(125), "stderr: {}", stderr(&o));
    assert!(
        stderr(&o).starts_with("Unable to find image '127.0.0.1:1/nothing:1' locally\n"),
        "{}",
        stderr(&o)
    );

    // Every --rm container is gone, the one whose command was missing too.
    let o = env.berth(&["ps", "-a", "-q"]);
    env.ok(&o, "ps -a -q");
    assert_eq!(stdout(&o), "", "containers left by run --rm");
}

/// The life of a detached container: run -d, ps, logs, exec, inspect --format, cp, stop, rm.
#[test]
fn detached_container_lifecycle() {
    let Some(env) = Env::start() else { return };
    let o = env.berth(&[
        "run",
        "-d",
        "--name",
        "web",
        "-l",
        "tier=front",
        "busybox",
        "sh",
        "-c",
        "echo started; exec sleep 300",
    ]);
    env.ok(&o, "run -d");
    let id = stdout(&o).trim().to_string();
    assert_eq!(id.len(), 64, "run -d prints the full id: {id:?}");
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));

    let o = env.berth(&["ps"]);
    env.ok(&o, "ps");
    let text = stdout(&o);
    let mut lines = text.lines();
    assert_eq!(
        lines
            .next()
            .map(str::split_whitespace)
            .map(|w| w.collect::<Vec<_>>()),
        Some(vec![
            "CONTAINER",
            "ID",
            "IMAGE",
            "COMMAND",
            "CREATED",
            "STATUS",
            "PORTS",
            "NAMES"
        ])
    );
    let row = lines.next().unwrap_or_default();
    assert!(row.starts_with(&id[..12]), "ps row: {row}");
    assert!(row.ends_with("web"), "ps row: {row}");

    let o = env.berth(&[
        "ps",
        "--filter",
        "label=tier=front",
        "--format",
        "{{.Names}} {{.State}} {{.Labels}}",
    ]);
    env.ok(&o, "ps --filter --format");
    assert_eq!(stdout(&o), "web running tier=front\n");

    // Same daemon, same rows: berth's table is docker's.
    if let Some(d) = env.docker(&[
        "ps",
        "--format",
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.Names}}",
    ]) {
        let b = env.berth(&[
            "ps",
            "--format",
            "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.Names}}",
        ]);
        assert_eq!(stdout(&b), stdout(&d), "berth ps vs docker ps");
    }

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let o = env.berth(&["logs", "web"]);
        env.ok(&o, "logs");
        if stdout(&o) == "started\n" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "logs: {}", stdout(&o));
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    let o = env.berth(&[
        "inspect",
        "--format",
        "{{.State.Status}} {{.Name}} {{.Config.Image}}",
        "web",
    ]);
    env.ok(&o, "inspect --format");
    assert_eq!(stdout(&o), "running /web busybox\n");
    let o = env.berth(&["inspect", "web"]);
    env.ok(&o, "inspect");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("inspect prints JSON");
    assert_eq!(v[0]["Id"], id.as_str());

    let o = env.berth(&["exec", "web", "sh", "-c", "echo $((40+2)); exit 5"]);
    assert_eq!(o.status.code(), Some(5), "stderr: {}", stderr(&o));
    assert_eq!(stdout(&o), "42\n");
    let o = env.berth_with(&["exec", "-i", "web", "cat"], Some(b"through exec\n"));
    env.ok(&o, "exec -i");
    assert_eq!(stdout(&o), "through exec\n");
    let o = env.berth(&["exec", "web", "no-such-command"]);
    assert!(
        matches!(o.status.code(), Some(126 | 127)),
        "exec of a missing command: {:?} {}",
        o.status.code(),
        stderr(&o)
    );

    // cp both ways.
    let host = env.config.path().join("note.txt");
    std::fs::write(&host, "copied in\n").expect("write");
    let o = env.berth(&["cp", host.to_str().expect("utf-8"), "web:/tmp/note"]);
    env.ok(&o, "cp to the container");
    let o = env.berth(&["exec", "web", "cat", "/tmp/note"]);
    assert_eq!(stdout(&o), "copied in\n");
    let back = env.config.path().join("back.txt");
    let o = env.berth(&["cp", "web:/tmp/note", back.to_str().expect("utf-8")]);
    env.ok(&o, "cp from the container");
    assert_eq!(std::fs::read_to_string(&back).expect("read"), "copied in\n");

    let o = env.berth(&["stop", "-t", "1", "web"]);
    env.ok(&o, "stop");
    assert_eq!(stdout(&o), "web\n");
    let o = env.berth(&["inspect", "-f", "{{.State.Status}}", "web"]);
    assert_eq!(stdout(&o), "exited\n");
    let o = env.berth(&["rm", "web"]);
    env.ok(&o, "rm");
    assert_eq!(stdout(&o), "web\n");
    let o = env.berth(&["inspect", "web"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("No such object: web"), "{}", stderr(&o));
    let o = env.berth(&["rm", "web"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("Error response from daemon: "),
        "{}",
        stderr(&o)
    );
}

/// images, tag, rmi, and the images table as docker prints it.
#[test]
fn images_tag_and_rmi() {
    let Some(env) = Env::start() else { return };
    let o = env.berth(&["tag", "busybox", "cli-test/box:1"]);
    env.ok(&o, "tag");
    // The daemon names `docker.io/cli-test/box:1` before `docker.io/library/busybox:latest`:
    // its order is not the sorted order of the names users see, so a CLI that sorted (or
    // followed anything but the daemon) would be caught here.
    let o = env.berth(&["image", "inspect", "-f", "{{json .RepoTags}}", "busybox"]);
    env.ok(&o, "image inspect RepoTags");
    let daemon_order: Vec<String> = serde_json::from_str(stdout(&o).trim()).expect("RepoTags");
    let mut sorted = daemon_order.clone();
    sorted.sort();
    assert_ne!(
        daemon_order, sorted,
        "the case needs an unsorted daemon order"
    );
    let o = env.berth(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    env.ok(&o, "images --format");
    let names: Vec<String> = stdout(&o).lines().map(String::from).collect();
    assert_eq!(
        names, daemon_order,
        "berth images follows the daemon's order"
    );
    let o = env.berth(&["images"]);
    env.ok(&o, "images");
    let header: Vec<String> = stdout(&o)
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(
        header,
        ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    );
    // docker CLI 28 groups an image's rows by repository in a Go map, whose iteration order
    // is random: across repositories it prints a rotation of the daemon's order (about one
    // run in eight here), within one the daemon's tag order. Compare what does not depend on
    // that chance: the header, each image's block, and each repository's rows in order.
    let table = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.Size}}";
    let digests = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}";
    for args in [
        &["images", "--format", table][..],
        &["images", "--digests", "--format", digests][..],
        &["images", "-q"][..],
    ] {
        if let Some(d) = env.docker(args) {
            let b = env.berth(args);
            assert_eq!(
                rows_by_repository(&stdout(&b)),
                rows_by_repository(&stdout(&d)),
                "berth {args:?} vs docker:\n{}\n{}",
                stdout(&b),
                stdout(&d)
            );
        }
    }
    let o = env.berth(&["image", "inspect", "-f", "{{.Id}}", "cli-test/box:1"]);
    env.ok(&o, "image inspect");
    let id = stdout(&o).trim().to_string();
    assert!(id.starts_with("sha256:"), "{id}");
    // One row per name, as docker prints it (`docker images -q` repeats an ID per tag).
    let o = env.berth(&["images", "-q"]);
    assert_eq!(
        stdout(&o),
        format!("{}\n", &id[7..19]).repeat(2),
        "the image's ID once per name"
    );

    let o = env.berth(&["version", "--format", "{{.Client.ApiVersion}}"]);
    env.ok(&o, "version --format");
    let api = stdout(&o).trim().to_string();
    assert!(api.starts_with("1."), "negotiated API version: {api:?}");
    let o = env.berth(&["info", "--format", "{{.Images}}"]);
    env.ok(&o, "info --format");
    assert_eq!(stdout(&o), "1\n");

    let o = env.berth(&["rmi", "cli-test/box:1"]);
    env.ok(&o, "rmi");
    assert_eq!(stdout(&o), "Untagged: cli-test/box:1\n");
    let o = env.berth(&["rmi", "cli-test/box:1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("No such image"), "{}", stderr(&o));
}

/// The rows of an `images` table keyed by (image ID, repository), each with its rows in
/// order; the header (first line when it is one) kept apart. Sorted, so that the order of
/// repositories within an image (random in docker CLI) does not count.
fn rows_by_repository(out: &str) -> Vec<(String, String, Vec<String>)> {
    let mut groups: Vec<(String, String, Vec<String>)> = Vec::new();
    for (i, line) in out.lines().enumerate() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if i == 0 && cols.first() == Some(&"REPOSITORY") {
            groups.push(("".into(), "header".into(), vec![line.to_string()]));
            continue;
        }
        let repo = cols.first().copied().unwrap_or("").to_string();
        // The image ID is the first 12-hex column.
        let id = cols
            .iter()
            .find(|c| c.len() == 12 && c.bytes().all(|b| b.is_ascii_hexdigit()))
            .copied()
            .unwrap_or("")
            .to_string();
        match groups.iter_mut().find(|(g, r, _)| *g == id && *r == repo) {
            Some((_, _, rows)) => rows.push(line.to_string()),
            None => groups.push((id, repo, vec![line.to_string()])),
        }
    }
    groups.sort();
    groups
}

/// pull and push through a local registry with htpasswd auth; login and logout write
/// config.json exactly as docker does; run pulls a missing image.
#[test]
fn push_pull_login_logout_with_a_local_registry() {
    let Some(env) = Env::start() else { return };
    let (user, pass) = ("cliuser", "cli-secret");
    let Some(reg) = DockerRegistry::start(Some((user, pass))) else {
        return;
    };
    let image = format!("{}/cli/busybox:1", reg.addr);
    env.ok(
        &env.berth(&["tag", "busybox", &image]),
        "tag for the registry",
    );

    let o = env.berth(&["push", &image]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "push without login: {}",
        stdout(&o)
    );

    let o = env.berth_with(
        &["login", "-u", user, "--password-stdin", &reg.addr],
        Some(b"wrong-password\n"),
    );
    assert_eq!(o.status.code(), Some(1), "login with a wrong password");
    assert!(
        !env.config.path().join("config.json").exists()
            || !std::fs::read_to_string(env.config.path().join("config.json"))
                .unwrap_or_default()
                .contains(&reg.addr)
    );

    let o = env.berth_with(
        &["login", "-u", user, "--password-stdin", &reg.addr],
        Some(format!("{pass}\n").as_bytes()),
    );
    env.ok(&o, "login");
    assert_eq!(stdout(&o), "Login Succeeded\n");
    let cfg: serde_json::Value = serde_json::from_slice(
        &std::fs::read(env.config.path().join("config.json")).expect("config.json written"),
    )
    .expect("config.json is JSON");
    // base64 of "cliuser:cli-secret", docker's "auth" value.
    assert_eq!(
        cfg["auths"][&reg.addr]["auth"], "Y2xpdXNlcjpjbGktc2VjcmV0",
        "{cfg}"
    );

    let o = env.berth(&["push", &image]);
    env.ok(&o, "push after login");
    assert!(stdout(&o).contains("digest: sha256:"), "{}", stdout(&o));

    env.ok(&env.berth(&["rmi", &image]), "rmi before pull");
    let o = env.berth(&["pull", &image]);
    env.ok(&o, "pull");
    assert_eq!(
        stdout(&o).lines().last(),
        Some(image.as_str()),
        "{}",
        stdout(&o)
    );

    env.ok(&env.berth(&["rmi", &image]), "rmi before run");
    let o = env.berth(&["run", "--rm", &image, "echo", "pulled by run"]);
    env.ok(&o, "run of a missing image");
    assert_eq!(stdout(&o), "pulled by run\n");
    assert!(
        stderr(&o).starts_with(&format!("Unable to find image '{image}' locally")),
        "{}",
        stderr(&o)
    );

    let o = env.berth(&["logout", &reg.addr]);
    env.ok(&o, "logout");
    assert_eq!(
        stdout(&o),
        format!("Removing login credentials for {}\n", reg.addr)
    );
    let cfg: serde_json::Value = serde_json::from_slice(
        &std::fs::read(env.config.path().join("config.json")).expect("config.json"),
    )
    .expect("JSON");
    assert!(cfg["auths"].get(&reg.addr).is_none(), "{cfg}");
    env.ok(&env.berth(&["rmi", "-f", &image]), "rmi after run");
    let o = env.berth(&["pull", &image]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "pull after logout: {}",
        stdout(&o)
    );
}

/// Without a daemon: docker's message naming the socket and how to start Berth, exit 1.
#[test]
fn daemon_not_running_is_explained() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("berth.sock");
    let host = format!("unix://{}", sock.display());
    let expected = format!(
        "Cannot connect to the Berth daemon at {host}. Is the daemon running? Start it with: sudo berth daemon &\n"
    );
    let o = run_with_stdin(
        {
            let mut c = berth_cmd();
            c.args(["-H", &host, "ps"]);
            c
        },
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), expected);
    // BERTH_HOST wins over DOCKER_HOST.
    let o = run_with_stdin(
        {
            let mut c = berth_cmd();
            c.env("BERTH_HOST", &host)
                .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
                .arg("images");
            c
        },
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), expected);
    if !Path::new("/run/berth/berth.sock").exists() {
        let o = run_with_stdin(
            {
                let mut c = berth_cmd();
                c.arg("ps");
                c
            },
            None,
        );
        assert_eq!(o.status.code(), Some(1));
        assert_eq!(
            stderr(&o),
            "Cannot connect to the Berth daemon at unix:///run/berth/berth.sock. Is the daemon running? Start it with: sudo berth daemon &\n"
        );
    }
}

/// An unknown flag is refused before anything is sent: exit 125 and the flag named.
#[test]
fn bad_flag_exits_125_naming_the_flag() {
    for args in [
        &["run", "--bogus-flag", "busybox"][..],
        &["ps", "--bogus-flag"][..],
        &["container", "ls", "--bogus-flag"][..],
    ] {
        let o = run_with_stdin(
            {
                let mut c = berth_cmd();
                c.args(["-H", "unix:///nonexistent/berth.sock"]).args(args);
                c
            },
            None,
        );
        assert_eq!(o.status.code(), Some(125), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).starts_with("unknown flag: --bogus-flag\n"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
    // A bad value is refused before connecting, naming the flag.
    let o = run_with_stdin(
        {
            let mut c = berth_cmd();
            c.args(["run", "--memory", "lots", "busybox"]);
            c.env("BERTH_HOST", "unix:///nonexistent/berth.sock");
            c
        },
        None,
    );
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("invalid argument \"lots\" for \"-m, --memory\" flag"),
        "{}",
        stderr(&o)
    );
}

/// The other container verbs users script with: create + start -a (exit status), wait, rename,
/// pause/unpause, kill -s, restart, logs --tail/-t, top, events, container prune.
#[test]
fn container_verbs_for_scripts() {
    let Some(env) = Env::start() else { return };
    let o = env.berth(&[
        "create",
        "--name",
        "job",
        "busybox",
        "sh",
        "-c",
        "echo job ran; exit 6",
    ]);
    env.ok(&o, "create");
    assert_eq!(stdout(&o).trim().len(), 64);
    let o = env.berth(&["start", "-a", "job"]);
    assert_eq!(o.status.code(), Some(6), "start -a: {}", stderr(&o));
    assert_eq!(stdout(&o), "job ran\n");
    let o = env.berth(&["wait", "job"]);
    env.ok(&o, "wait");
    assert_eq!(stdout(&o), "6\n");
    env.ok(&env.berth(&["rename", "job", "job2"]), "rename");
    let o = env.berth(&["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(stdout(&o), "job2\n");

    let o = env.berth(&[
        "run",
        "-d",
        "--name",
        "svc",
        "busybox",
        "sh",
        "-c",
        "trap 'echo got-usr1' USR1; echo one; echo two; echo three; while true; do sleep 0.1; done",
    ]);
    env.ok(&o, "run -d");
    let o = env.berth(&["pause", "svc"]);
    env.ok(&o, "pause");
    assert_eq!(stdout(&o), "svc\n");
    let o = env.berth(&["inspect", "-f", "{{.State.Status}}", "svc"]);
    assert_eq!(stdout(&o), "paused\n");
    env.ok(&env.berth(&["unpause", "svc"]), "unpause");
    let o = env.berth(&["top", "svc"]);
    env.ok(&o, "top");
    assert!(stdout(&o).starts_with("UID "), "{}", stdout(&o));
    assert!(stdout(&o).contains("sh -c"), "{}", stdout(&o));

    let o = env.berth(&["kill", "-s", "USR1", "svc"]);
    env.ok(&o, "kill -s USR1");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let o = env.berth(&["logs", "--tail", "2", "svc"]);
        env.ok(&o, "logs --tail");
        if stdout(&o) == "three\ngot-usr1\n" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "logs --tail 2: {:?}",
            stdout(&o)
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let o = env.berth(&["logs", "-t", "-n", "1", "svc"]);
    let line = stdout(&o);
    assert!(
        line.ends_with("Z got-usr1\n") && line.starts_with("20"),
        "logs -t: {line:?}"
    );

    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        .to_string();
    let o = env.berth(&["restart", "-t", "1", "svc"]);
    env.ok(&o, "restart");
    let until = (since.parse::<u64>().expect("number") + 30).to_string();
    let o = env.berth(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "container=svc",
        "--filter",
        "event=start",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    ]);
    env.ok(&o, "events");
    assert_eq!(
        stdout(&o).lines().next(),
        Some("start svc"),
        "{}",
        stdout(&o)
    );

    env.ok(&env.berth(&["kill", "svc"]), "kill");
    let o = env.berth(&["container", "prune", "-f"]);
    env.ok(&o, "container prune");
    assert!(
        stdout(&o).starts_with("Deleted Containers:\n"),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("Total reclaimed space:"),
        "{}",
        stdout(&o)
    );
    let o = env.berth(&["ps", "-a", "-q"]);
    assert_eq!(stdout(&o), "");
}

/// save -o, rmi, load -i gives the image back; import makes one from a rootfs tar.
#[test]
fn save_load_and_import() {
    let Some(env) = Env::start() else { return };
    let tar = env.config.path().join("saved.tar");
    let o = env.berth(&["save", "-o", tar.to_str().expect("utf-8"), "busybox"]);
    env.ok(&o, "save -o");
    assert!(std::fs::metadata(&tar).expect("saved").len() > 1_000_000);
    env.ok(&env.berth(&["rmi", "busybox"]), "rmi");
    let o = env.berth(&["load", "-i", tar.to_str().expect("utf-8")]);
    env.ok(&o, "load -i");
    assert_eq!(stdout(&o), "Loaded image: busybox:latest\n");
    let o = env.berth(&["run", "--rm", "busybox", "echo", "after load"]);
    assert_eq!(stdout(&o), "after load\n");

    let rootfs = env.config.path().join("rootfs.tar");
    berth_e2e::busybox_rootfs_tar(&rootfs);
    let o = env.berth(&[
        "import",
        "-c",
        "CMD [\"echo\", \"imported\"]",
        rootfs.to_str().expect("utf-8"),
        "cli-test/imported:1",
    ]);
    env.ok(&o, "import");
    assert!(stdout(&o).starts_with("sha256:"), "{}", stdout(&o));
    let o = env.berth(&["run", "--rm", "cli-test/imported:1"]);
    assert_eq!(stdout(&o), "imported\n", "{}", stderr(&o));
    let o = env.berth(&[
        "image",
        "history",
        "--format",
        "{{.Comment}}",
        "cli-test/imported:1",
    ]);
    env.ok(&o, "image history");
    assert_eq!(stdout(&o), "Imported from -\n");
    let o = env.berth(&["save", "busybox"]);
    assert!(
        o.stdout.len() > 1_000_000,
        "save to a pipe writes the tar to stdout"
    );
    let o = env.berth(&["save", "-o", "/nonexistent-dir/x.tar", "busybox"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!Path::new("/nonexistent-dir").exists());
}

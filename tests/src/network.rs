//! Helpers of the networking end-to-end tests (tests/tests/network.rs, network_clients.rs): one
//! engine under test, either `berth daemon` ([`BerthDaemon`], what CI runs) or, with
//! `BERTH_NET_TESTS_REFERENCE=dockerd`, the behaviour reference: Debian's dockerd 20.10 with its
//! networking ON, started inside a network namespace of its own so that its docker0, veths and
//! iptables rules never touch the host's. The same scenarios run against both, which is how the
//! tests were proven before Berth had bridges.
//!
//! What differs between the two is behind [`NetEngine`]: where "the host" is (the real host, or
//! the reference's namespace, which gets a veth with 198.18.0.2 as its "other address"), which
//! firewall rules belong to the engine (Berth's nftables table, or the whole ruleset of the
//! reference's namespace), and how it restarts. [`Tracker`] records what the engine makes on
//! the host while a test runs (bridges, veths, sandboxes, container processes) and checks,
//! once everything is removed, that none of it is left and the firewall is back to its
//! baseline.

use crate::{
    busybox_docker_archive, is_root, kill_processes_of, remove_cgroup_tree, require, run, stderr,
    stdout, unique_id, unmount_under, which, BerthDaemon, DOCKER_CLI,
};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The image every networking test uses (busybox-static: httpd, wget, nc, nslookup, ip).
pub const IMAGE: &str = "busybox:latest";

/// The "other address" of the reference's namespace (TEST-NET-2 range, never routed).
const REF_HOST_ADDR: &str = "198.18.0.2";
/// The reference's default bridge /24 and user-network /16 (private to its namespace).
const REF_PREFIX16: &str = "10.251";

/// True when the tests run against the reference (dockerd 20.10) instead of Berth.
pub fn reference_mode() -> bool {
    std::env::var("BERTH_NET_TESTS_REFERENCE").is_ok_and(|v| v == "dockerd")
}

/// The engine under test; see the module comment.
pub struct NetEngine {
    inner: Inner,
}

enum Inner {
    Berth(Box<BerthDaemon>),
    Reference(Box<RefDockerd>),
}

impl NetEngine {
    /// Starts the engine with the busybox image loaded as [`IMAGE`]; None (after the skip
    /// message of [`require`]) when a prerequisite is missing.
    pub fn start(what: &str) -> Option<NetEngine> {
        if !require(
            is_root(),
            &format!("{what} need root (namespaces, bridges, firewall)"),
        ) || !require(
            crate::busybox().is_some(),
            "busybox-static is not installed",
        ) || !require(
            Path::new(DOCKER_CLI).exists(),
            "docker CLI 28 is not at /usr/local/bin/docker",
        ) || !require(which("nft").is_some(), "nft is not installed")
        {
            return None;
        }
        let inner = if reference_mode() {
            Inner::Reference(Box::new(RefDockerd::start()?))
        } else {
            Inner::Berth(Box::new(BerthDaemon::with_busybox(&[], IMAGE)))
        };
        let e = NetEngine { inner };
        if let Inner::Reference(_) = e.inner {
            let archive = e.dir().join("busybox-image.tar");
            busybox_docker_archive(&archive, IMAGE);
            let o = run(e.docker().arg("load").arg("-i").arg(&archive));
            assert!(o.status.success(), "docker load: {}", stderr(&o));
            let _ = std::fs::remove_file(&archive);
        }
        Some(e)
    }

    /// "berth" or "dockerd 20.10 (reference)", for messages.
    pub fn name(&self) -> &'static str {
        match self.inner {
            Inner::Berth(_) => "berth",
            Inner::Reference(_) => "dockerd 20.10 (reference)",
        }
    }

    /// True for the reference engine.
    pub fn is_reference(&self) -> bool {
        matches!(self.inner, Inner::Reference(_))
    }

    fn dir(&self) -> &Path {
        match &self.inner {
            Inner::Berth(d) => d.dir.path(),
            Inner::Reference(r) => r.dir.path(),
        }
    }

    /// `unix:///...`, the value for DOCKER_HOST and docker-py's base_url.
    pub fn host(&self) -> String {
        match &self.inner {
            Inner::Berth(d) => d.host(),
            Inner::Reference(r) => format!("unix://{}", r.socket.display()),
        }
    }

    /// The docker CLI's private DOCKER_CONFIG directory.
    pub fn docker_config_dir(&self) -> PathBuf {
        self.dir().join("docker-config")
    }

    /// The docker CLI pointed at the engine.
    pub fn docker(&self) -> Command {
        let mut c = Command::new(DOCKER_CLI);
        c.env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.docker_config_dir())
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY");
        c
    }

    /// `program` run in the engine's host network namespace (the host itself for Berth).
    pub fn on_host(&self, program: &str) -> Command {
        match &self.inner {
            Inner::Berth(_) => Command::new(program),
            Inner::Reference(r) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/run/netns/{}", r.netns)).arg(program);
                c
            }
        }
    }

    /// A non-loopback IPv4 address of the engine's host: the source address of the host's
    /// default route (for the reference, the address given to its namespace).
    pub fn host_addr(&self) -> String {
        match &self.inner {
            Inner::Reference(_) => REF_HOST_ADDR.to_string(),
            Inner::Berth(_) => {
                let o = run(Command::new("ip").args(["-j", "route", "get", "192.0.2.250"]));
                let routes: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
                let from_route = routes[0]["prefsrc"].as_str().map(str::to_string);
                from_route
                    .filter(|a| !a.starts_with("127."))
                    .or_else(first_global_ipv4)
                    .expect("the host has a non-loopback IPv4 address")
            }
        }
    }

    /// "10.R": explicit test subnets are /24s of 10.R.0.0/16 (the daemon's own pool).
    pub fn prefix16(&self) -> String {
        match &self.inner {
            Inner::Berth(d) => d.net().prefix16(),
            Inner::Reference(_) => REF_PREFIX16.to_string(),
        }
    }

    /// A /24 for a test network, `10.R.(200+k).0/24`, outside what the daemon allocates first.
    pub fn subnet(&self, k: u8) -> String {
        format!("{}.{}.0/24", self.prefix16(), 200 + u16::from(k))
    }

    /// The default bridge's interface name.
    pub fn default_bridge(&self) -> String {
        match &self.inner {
            Inner::Berth(d) => d.net().bridge,
            Inner::Reference(_) => "docker0".to_string(),
        }
    }

    /// The daemon's log (tail), for failure messages.
    pub fn log(&self) -> String {
        let text = match &self.inner {
            Inner::Berth(d) => d.log(),
            Inner::Reference(r) => {
                std::fs::read_to_string(r.dir.path().join("dockerd.log")).unwrap_or_default()
            }
        };
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Stops the daemon (SIGTERM) and starts it again on the same roots; running containers
    /// stay up (Berth always; the reference runs with --live-restore).
    pub fn restart(&mut self) {
        match &mut self.inner {
            Inner::Berth(d) => d.restart(),
            Inner::Reference(r) => {
                r.stop();
                r.spawn();
            }
        }
    }

    /// The engine's firewall rules, normalised (no handles, no counter values) and sorted:
    /// Berth's nftables table, or the reference namespace's whole ruleset.
    pub fn firewall(&self) -> Vec<String> {
        let o = match &self.inner {
            Inner::Berth(d) => {
                run(Command::new("nft").args(["-j", "list", "table", "inet", &d.net().table]))
            }
            Inner::Reference(_) => run(self.on_host("nft").args(["-j", "list", "ruleset"])),
        };
        if !o.status.success() {
            return Vec::new(); // no table (yet, or any more)
        }
        normalised_nft(&o.stdout)
    }

    /// `ip -j -d link` in the engine's host namespace.
    pub fn links(&self) -> Vec<Value> {
        let o = run(self.on_host("ip").args(["-j", "-d", "link", "show"]));
        assert!(o.status.success(), "ip link: {}", stderr(&o));
        serde_json::from_slice::<Value>(&o.stdout)
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    }

    /// This daemon's interfaces, sorted: those holding an address of its range (10.R.0.0/16:
    /// its bridges) and the veths attached to them. Other daemons' (and other engineers')
    /// interfaces on the same host come and go and are not counted.
    pub fn own_links(&self) -> Vec<String> {
        let (net, mask) = (
            u32::from(
                format!("{}.0.0", self.prefix16())
                    .parse::<std::net::Ipv4Addr>()
                    .expect("10.R.0.0 is an address"),
            ),
            u32::MAX << 16,
        );
        let o = run(self.on_host("ip").args(["-j", "-4", "addr", "show"]));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
        let bridges: Vec<String> = v
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|l| {
                        l["addr_info"].as_array().is_some_and(|ai| {
                            ai.iter().any(|i| {
                                i["local"]
                                    .as_str()
                                    .and_then(|s| s.parse::<std::net::Ipv4Addr>().ok())
                                    .is_some_and(|ip| u32::from(ip) & mask == net)
                            })
                        })
                    })
                    .filter_map(|l| l["ifname"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let mut out: Vec<String> = bridges.iter().flat_map(|b| self.veths_on(b)).collect();
        out.extend(bridges);
        out.sort();
        out
    }

    /// Names of the veths whose master is `bridge`.
    pub fn veths_on(&self, bridge: &str) -> Vec<String> {
        self.links()
            .iter()
            .filter(|l| l["master"] == bridge && l["linkinfo"]["info_kind"] == "veth")
            .filter_map(|l| l["ifname"].as_str().map(str::to_string))
            .collect()
    }

    /// True when an interface of this name exists in the engine's host namespace.
    pub fn link_exists(&self, name: &str) -> bool {
        self.links().iter().any(|l| l["ifname"] == name)
    }

    /// The interface holding an IPv4 address inside `cidr` in the engine's host namespace.
    pub fn interface_in_subnet(&self, cidr: &str) -> Option<String> {
        let (net, len) = cidr.split_once('/')?;
        let net: std::net::Ipv4Addr = net.parse().ok()?;
        let len: u32 = len.parse().ok()?;
        let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
        let o = run(self.on_host("ip").args(["-j", "-4", "addr", "show"]));
        let v: Value = serde_json::from_slice(&o.stdout).ok()?;
        v.as_array()?
            .iter()
            .find(|l| {
                l["addr_info"].as_array().is_some_and(|a| {
                    a.iter().any(|i| {
                        i["local"]
                            .as_str()
                            .and_then(|s| s.parse::<std::net::Ipv4Addr>().ok())
                            .is_some_and(|ip| u32::from(ip) & mask == u32::from(net) & mask)
                    })
                })
            })
            .and_then(|l| l["ifname"].as_str().map(str::to_string))
    }

    /// Runs the docker CLI; panics with its output and the daemon's log unless it succeeds.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = run(self.docker().args(args));
        assert!(
            o.status.success(),
            "[{}] docker {args:?} failed ({:?}): {}\n{}\ndaemon log (tail):\n{}",
            self.name(),
            o.status.code(),
            stderr(&o),
            stdout(&o),
            self.log()
        );
        stdout(&o)
    }

    /// Runs the docker CLI, which must fail; returns (exit code, stderr).
    pub fn fails(&self, args: &[&str]) -> (i32, String) {
        let o = run(self.docker().args(args));
        assert!(
            !o.status.success(),
            "[{}] docker {args:?} should have failed but printed: {}",
            self.name(),
            stdout(&o)
        );
        (o.status.code().unwrap_or(-1), stderr(&o))
    }

    /// The docker CLI's raw output.
    pub fn output(&self, args: &[&str]) -> Output {
        run(self.docker().args(args))
    }

    /// One request to the engine's API socket with curl; (HTTP status, body).
    pub fn api(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        let socket = self.host();
        let socket = socket.trim_start_matches("unix://");
        let mut c = Command::new("curl");
        c.args([
            "-sS",
            "-o",
            "-",
            "-w",
            "\\n%{http_code}",
            "--unix-socket",
            socket,
            "-X",
        ])
        .arg(method);
        if let Some(b) = body {
            c.args(["-H", "Content-Type: application/json", "--data", b]);
        }
        c.arg(format!("http://localhost{path}"));
        let o = run(&mut c);
        assert!(o.status.success(), "curl {method} {path}: {}", stderr(&o));
        let out = stdout(&o);
        let (text, code) = out.rsplit_once('\n').unwrap_or(("", out.as_str()));
        (code.trim().parse().unwrap_or(0), text.to_string())
    }

    /// `docker inspect` of one object as JSON.
    pub fn inspect(&self, kind: &str, name: &str) -> Value {
        let out = self.ok(&[kind, "inspect", name]);
        let v: Value = serde_json::from_str(&out).expect("inspect prints JSON");
        v[0].clone()
    }

    /// Starts `busybox httpd` serving `/index.html` = `body` on port 80 in a detached
    /// container named `name`, with extra `docker run` flags; waits until it listens.
    pub fn web(&self, name: &str, flags: &[&str], body: &str) -> String {
        let script = format!(
            "mkdir -p /www && echo {body} > /www/index.html && exec httpd -f -p 80 -h /www"
        );
        let mut args = vec!["run", "-d", "--name", name];
        args.extend_from_slice(flags);
        args.extend_from_slice(&[IMAGE, "sh", "-c", &script]);
        let id = self.ok(&args);
        self.wait_listening(name, 80);
        id
    }

    /// Waits (10 s) until a process in container `name` listens on TCP `port` (from
    /// /proc/net/tcp and tcp6, which show the container's network namespace).
    pub fn wait_listening(&self, name: &str, port: u16) {
        let suffix = format!(":{port:04X}");
        eventually(&format!("{name} listens on {port}"), 10, || {
            let o = self.output(&["exec", name, "cat", "/proc/net/tcp", "/proc/net/tcp6"]);
            stdout(&o).lines().any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() > 3 && f[1].ends_with(&suffix) && f[3] == "0A"
            })
        });
    }

    /// `wget -qO- URL` (5 s timeout: `timeout 5 wget`, as Debian's busybox-static wget
    /// crashes with -T) from a fresh container with `docker run` flags `flags`;
    /// Ok(body) or Err(what wget and the CLI said). With `--init`: busybox's timeout execs
    /// wget in its own process and signals it, and pid 1 of a container ignores SIGTERM, so a
    /// wget that waits on a dropped SYN would outlive its 5 s by minutes.
    pub fn fetch(&self, flags: &[&str], url: &str) -> Result<String, String> {
        let mut args = vec!["run", "--rm", "--init"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&[IMAGE, "timeout", "5", "wget", "-qO-", url]);
        let o = self.output(&args);
        if o.status.success() {
            Ok(stdout(&o))
        } else {
            Err(format!("{} {}", stdout(&o), stderr(&o)))
        }
    }

    /// `wget -qO- URL` from inside the running container `name`.
    pub fn fetch_in(&self, name: &str, url: &str) -> Result<String, String> {
        let o = self.output(&["exec", name, "timeout", "5", "wget", "-qO-", url]);
        if o.status.success() {
            Ok(stdout(&o))
        } else {
            Err(format!("{} {}", stdout(&o), stderr(&o)))
        }
    }

    /// `wget -qO- URL` from the engine's host (busybox wget, 5 s timeout).
    pub fn fetch_from_host(&self, url: &str) -> Result<String, String> {
        let bb = crate::busybox().expect("busybox-static is installed");
        let o = run(self
            .on_host(&bb.to_string_lossy())
            .args(["timeout", "5", "wget", "-qO-", url]));
        if o.status.success() {
            Ok(stdout(&o))
        } else {
            Err(stderr(&o))
        }
    }

    /// A TCP port free in the engine's host namespace (from its /proc/net/tcp).
    pub fn free_host_port(&self) -> u16 {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let listening = self.host_listening_ports();
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            // 20000-29999, spread by pid so that concurrent test binaries rarely meet.
            let port = 20000 + ((std::process::id() * 37 + n * 101) % 10000) as u16;
            if !listening.contains(&port) && std::net::TcpListener::bind(("0.0.0.0", port)).is_ok()
            {
                return port;
            }
        }
    }

    fn host_listening_ports(&self) -> Vec<u16> {
        let o = run(self
            .on_host("cat")
            .args(["/proc/net/tcp", "/proc/net/tcp6"]));
        stdout(&o)
            .lines()
            .filter(|l| l.split_whitespace().nth(3) == Some("0A"))
            .filter_map(|l| l.split_whitespace().nth(1)?.rsplit(':').next())
            .filter_map(|p| u16::from_str_radix(p, 16).ok())
            .collect()
    }

    /// `busybox httpd` on the engine's host bound to `addr:port` (`0.0.0.0` for every
    /// address) serving `body`; killed on drop.
    pub fn host_listener(&self, addr: &str, port: u16, body: &str) -> HostListener {
        let dir = tempfile::Builder::new()
            .prefix("berth-net-www-")
            .tempdir()
            .expect("tempdir");
        std::fs::write(dir.path().join("index.html"), format!("{body}\n")).expect("index");
        let bb = crate::busybox().expect("busybox-static is installed");
        let child = self
            .on_host(&bb.to_string_lossy())
            .args(["httpd", "-f", "-p", &format!("{addr}:{port}"), "-h"])
            .arg(dir.path())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start busybox httpd on the host");
        let l = HostListener { child, _dir: dir };
        let probe = if addr == "0.0.0.0" { "127.0.0.1" } else { addr };
        eventually(&format!("host listener on {addr}:{port}"), 10, || {
            self.fetch_from_host(&format!("http://{probe}:{port}/"))
                .is_ok_and(|b| b == body)
        });
        l
    }
}

impl NetEngine {
    /// A namespace standing for a machine outside: a veth from the engine's host namespace
    /// (198.19.K.1/30 there, 198.19.K.2/30 inside) and `busybox httpd` on port 80 inside it
    /// serving `body`. Reaching it from a container takes forwarding and masquerade.
    pub fn outside_peer(&self, body: &str) -> OutsidePeer {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let k = (std::process::id() * 13 + NEXT.fetch_add(1, Ordering::Relaxed) * 29) % 250 + 1;
        let netns = unique_id("berth-netout");
        let host_if = format!("bnout{k}");
        let (host_ip, peer_ip) = (format!("198.19.{k}.1"), format!("198.19.{k}.2"));
        let ip = |args: &[&str]| {
            let o = run(Command::new("ip").args(args));
            assert!(o.status.success(), "ip {args:?}: {}", stderr(&o));
        };
        let host_ip_cmd = |args: &[&str]| {
            let o = run(self.on_host("ip").args(args));
            assert!(o.status.success(), "ip {args:?}: {}", stderr(&o));
        };
        ip(&["netns", "add", &netns]);
        let mut peer = OutsidePeer {
            addr: peer_ip.clone(),
            netns: netns.clone(),
            child: None,
            _dir: tempfile::tempdir().expect("tempdir"),
        };
        ip(&["-n", &netns, "link", "set", "lo", "up"]);
        ip(&[
            "-n", &netns, "link", "add", "out0", "type", "veth", "peer", "name", &host_if,
        ]);
        // The other end goes to the engine's host namespace: the reference's, or pid 1's.
        let target = match &self.inner {
            Inner::Berth(_) => "1".to_string(),
            Inner::Reference(r) => r.netns.clone(),
        };
        ip(&["-n", &netns, "link", "set", &host_if, "netns", &target]);
        ip(&[
            "-n",
            &netns,
            "addr",
            "add",
            &format!("{peer_ip}/30"),
            "dev",
            "out0",
        ]);
        ip(&["-n", &netns, "link", "set", "out0", "up"]);
        host_ip_cmd(&["addr", "add", &format!("{host_ip}/30"), "dev", &host_if]);
        host_ip_cmd(&["link", "set", &host_if, "up"]);
        std::fs::write(peer._dir.path().join("index.html"), format!("{body}\n")).expect("index");
        let bb = crate::busybox().expect("busybox-static is installed");
        peer.child = Some(
            Command::new("nsenter")
                .arg(format!("--net=/run/netns/{netns}"))
                .arg(&bb)
                .args(["httpd", "-f", "-p", &format!("{peer_ip}:80"), "-h"])
                .arg(peer._dir.path())
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("start httpd outside"),
        );
        eventually("the outside listener", 10, || {
            self.fetch_from_host(&format!("http://{peer_ip}/"))
                .is_ok_and(|b| b == body)
        });
        peer
    }
}

/// See [`NetEngine::outside_peer`]; its namespace (and so the veth) goes on drop.
pub struct OutsidePeer {
    /// The listener's address.
    pub addr: String,
    netns: String,
    child: Option<std::process::Child>,
    _dir: tempfile::TempDir,
}

impl Drop for OutsidePeer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.netns])
            .status();
    }
}

/// A host-side `busybox httpd`; killed on drop.
pub struct HostListener {
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Drop for HostListener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `cond` every 100 ms; panics naming `what` after `secs`.
pub fn eventually(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "{what}: not reached within {secs} s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn first_global_ipv4() -> Option<String> {
    let o = run(Command::new("ip").args(["-j", "-4", "addr", "show", "scope", "global"]));
    let v: Value = serde_json::from_slice(&o.stdout).ok()?;
    v.as_array()?
        .iter()
        .filter(|l| l["master"].is_null() && l["ifname"] != "lo")
        .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
        .find_map(|a| a["local"].as_str().map(str::to_string))
}

/// `nft -j` output as sorted strings, one per table, chain, set, map, element or rule, with
/// handles and counter values removed (they change without the rules changing).
pub fn normalised_nft(json: &[u8]) -> Vec<String> {
    fn scrub(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.remove("handle");
                if let Some(c) = m.get_mut("counter") {
                    *c = Value::Null;
                }
                m.values_mut().for_each(scrub);
            }
            Value::Array(a) => a.iter_mut().for_each(scrub),
            _ => {}
        }
    }
    let v: Value = serde_json::from_slice(json).unwrap_or(Value::Null);
    let mut out: Vec<String> = v["nftables"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|o| o.get("metainfo").is_none())
                .map(|o| {
                    let mut o = o.clone();
                    scrub(&mut o);
                    o.to_string()
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// What a test made on the host, recorded while it exists, to check after removal that none
/// of it is left: user bridges, veths, container sandboxes (network namespaces), container
/// processes, and the firewall's baseline.
pub struct Tracker {
    baseline_firewall: Vec<String>,
    bridges: Vec<String>,
    veths: Vec<String>,
    sandboxes: Vec<String>,
    pids: Vec<u32>,
    netns_before: Vec<String>,
}

/// Names listed by `ip netns` (the reference's own namespace included).
fn netns_names() -> Vec<String> {
    let o = run(Command::new("ip").args(["netns", "list"]));
    let mut v: Vec<String> = stdout(&o)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    if let Ok(rd) = std::fs::read_dir("/run/netns") {
        v.extend(
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string()),
        );
    }
    v.sort();
    v.dedup();
    v
}

impl Tracker {
    /// Runs one container on the default bridge (so that the default bridge's own rules,
    /// which stay, exist) and records the firewall as the baseline.
    pub fn new(e: &NetEngine) -> Tracker {
        e.ok(&["run", "--rm", IMAGE, "true"]);
        Tracker {
            baseline_firewall: e.firewall(),
            bridges: Vec::new(),
            veths: Vec::new(),
            sandboxes: Vec::new(),
            pids: Vec::new(),
            netns_before: netns_names(),
        }
    }

    /// Records user network `name`'s bridge (the interface holding an address of its subnet;
    /// dockerd does not report a gateway it chose itself) and returns it.
    pub fn network(&mut self, e: &NetEngine, name: &str) -> String {
        let net = e.inspect("network", name);
        let subnet = net["IPAM"]["Config"][0]["Subnet"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let br = e.interface_in_subnet(&subnet).unwrap_or_else(|| {
            panic!("no interface holds an address of {name}'s {subnet:?}: {net}")
        });
        if !self.bridges.contains(&br) {
            self.bridges.push(br.clone());
        }
        br
    }

    /// Records running container `name`'s sandbox, its process and the veths on every bridge
    /// it is attached to.
    pub fn container(&mut self, e: &NetEngine, name: &str) {
        let c = e.inspect("container", name);
        if let Some(pid) = c["State"]["Pid"].as_u64().filter(|p| *p > 0) {
            self.pids.push(pid as u32);
        }
        if let Some(k) = c["NetworkSettings"]["SandboxKey"]
            .as_str()
            .filter(|k| !k.is_empty())
        {
            self.sandboxes.push(k.to_string());
        }
        let mut bridges = self.bridges.clone();
        bridges.push(e.default_bridge());
        for b in bridges {
            for v in e.veths_on(&b) {
                if !self.veths.contains(&v) {
                    self.veths.push(v);
                }
            }
        }
    }

    /// Removes every container and user network through the CLI, then asserts that nothing
    /// recorded is left: no veth, no user bridge, no sandbox, no container process, no new
    /// network namespace, and the firewall equal to the baseline.
    pub fn finish(self, e: &NetEngine) {
        let ids = e.ok(&["ps", "-aq"]);
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids.lines());
            e.ok(&args);
        }
        let nets = e.ok(&["network", "ls", "-q", "--filter", "type=custom"]);
        if !nets.is_empty() {
            let mut args = vec!["network", "rm"];
            args.extend(nets.lines());
            e.ok(&args);
        }
        self.assert_clean(e);
    }

    /// The checks of [`Self::finish`] without removing anything (for a test that removed
    /// everything itself).
    pub fn assert_clean(&self, e: &NetEngine) {
        let name = e.name();
        // Removal may finish in the background (a veth's peer goes with its namespace).
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = self.leftovers(e);
            if left.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "[{name}] left behind after everything was removed:\n{}\ndaemon log (tail):\n{}",
                left.join("\n"),
                e.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn leftovers(&self, e: &NetEngine) -> Vec<String> {
        let mut left = Vec::new();
        let links = e.links();
        let exists = |n: &str| links.iter().any(|l| l["ifname"] == n);
        for v in self.veths.iter().filter(|v| exists(v)) {
            left.push(format!("veth {v}"));
        }
        for b in self.bridges.iter().filter(|b| exists(b)) {
            left.push(format!("user bridge {b}"));
        }
        for l in &links {
            if l["linkinfo"]["info_kind"] == "veth" && l["master"] == e.default_bridge().as_str() {
                left.push(format!("veth on the default bridge: {}", l["ifname"]));
            }
        }
        // dockerd 20.10 unmounts a sandbox at once but deletes the empty file a minute later
        // (libnetwork's garbage collector): not a namespace any more, so only Berth is held to
        // removing the file as well.
        if !e.is_reference() {
            for s in self.sandboxes.iter().filter(|s| Path::new(s).exists()) {
                left.push(format!("sandbox (network namespace file) {s}"));
            }
        }
        for s in &self.sandboxes {
            if crate::mounts_containing(s).iter().any(|m| m == s) {
                left.push(format!("nsfs mount {s}"));
            }
        }
        for p in self
            .pids
            .iter()
            .filter(|p| Path::new(&format!("/proc/{p}")).exists())
        {
            left.push(format!("container process {p}"));
        }
        for n in netns_names() {
            // Another concurrent test's reference or outside namespace is not ours to judge.
            if !self.netns_before.contains(&n)
                && !n.starts_with(REF_NETNS_PREFIX)
                && !n.starts_with("berth-netout-")
            {
                left.push(format!("network namespace {n} (ip netns)"));
            }
        }
        let fw = e.firewall();
        for r in fw.iter().filter(|r| !self.baseline_firewall.contains(r)) {
            left.push(format!("firewall rule beyond the baseline: {r}"));
        }
        for r in self.baseline_firewall.iter().filter(|r| !fw.contains(r)) {
            left.push(format!("baseline firewall rule gone: {r}"));
        }
        left
    }
}

const REF_NETNS_PREFIX: &str = "berth-netref-";

/// The reference: dockerd 20.10 with networking, in network namespace `netns` (made here,
/// with lo up and a veth pair holding [`REF_HOST_ADDR`]), private roots in `dir`, and
/// --live-restore so that a restart keeps containers as Berth does. Only the network
/// namespace is new: dockerd shares the host's mount namespace (it needs the cgroup mounts
/// under /sys, which `ip netns exec` would hide), so its mounts are cleaned as usual.
pub struct RefDockerd {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub netns: String,
    cgroup: String,
    child: Option<std::process::Child>,
    host_paths: Vec<PathBuf>,
}

impl RefDockerd {
    fn start() -> Option<RefDockerd> {
        for t in [
            "dockerd",
            "containerd",
            "docker-proxy",
            "iptables",
            "nsenter",
        ] {
            if !require(
                which(t).is_some(),
                &format!("{t} is not installed (reference mode needs Debian's docker.io)"),
            ) {
                return None;
            }
        }
        let netns = unique_id(REF_NETNS_PREFIX.trim_end_matches('-'));
        let sh = |args: &[&str]| {
            let o = run(Command::new("ip").args(args));
            assert!(o.status.success(), "ip {args:?}: {}", stderr(&o));
        };
        sh(&["netns", "add", &netns]);
        sh(&["-n", &netns, "link", "set", "lo", "up"]);
        // No dummy module on every host: a veth pair, both ends in the namespace, gives it
        // a non-loopback address.
        sh(&[
            "-n", &netns, "link", "add", "hostif", "type", "veth", "peer", "name", "hostpeer",
        ]);
        sh(&[
            "-n",
            &netns,
            "addr",
            "add",
            &format!("{REF_HOST_ADDR}/24"),
            "dev",
            "hostif",
        ]);
        sh(&["-n", &netns, "link", "set", "hostif", "up"]);
        sh(&["-n", &netns, "link", "set", "hostpeer", "up"]);
        let dir = tempfile::Builder::new()
            .prefix("berth-netref-")
            .tempdir()
            .expect("tempdir");
        std::fs::create_dir_all(dir.path().join("docker-config")).expect("docker config");
        std::fs::write(
            dir.path().join("daemon.json"),
            format!(
                r#"{{"deprecated-key-path": "{}", "live-restore": true}}"#,
                dir.path().join("key.json").display()
            ),
        )
        .expect("daemon.json");
        let host_paths = [
            "/run/docker/plugins",
            "/run/docker",
            "/run/containerd/s",
            "/run/containerd",
        ]
        .iter()
        .map(PathBuf::from)
        .filter(|p| !p.exists())
        .collect();
        let mut r = RefDockerd {
            socket: dir.path().join("docker.sock"),
            dir,
            netns,
            cgroup: unique_id("berth-netref"),
            child: None,
            host_paths,
        };
        r.spawn();
        Some(r)
    }

    fn spawn(&mut self) {
        let _ = std::fs::remove_file(&self.socket);
        let d = self.dir.path();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(d.join("dockerd.log"))
            .expect("log");
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.netns))
            .arg("dockerd")
            .arg("--config-file")
            .arg(d.join("daemon.json"))
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .arg(format!("--bip={REF_PREFIX16}.0.1/24"))
            .arg(format!(
                "--default-address-pool=base={REF_PREFIX16}.0.0/16,size=24"
            ))
            .arg("--cgroup-parent")
            .arg(format!("/{}", self.cgroup))
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().expect("dup"))
            .stderr(log)
            .spawn()
            .expect("spawn dockerd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let o = run(Command::new(DOCKER_CLI)
                .env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
                .env("DOCKER_CONFIG", d.join("docker-config"))
                .args(["version", "--format", "{{.Server.Version}}"]));
            if o.status.success() {
                return;
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "reference dockerd did not come up ({exited:?}): {}",
                std::fs::read_to_string(d.join("dockerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while matches!(c.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RefDockerd {
    fn drop(&mut self) {
        if self.child.is_some() {
            let host = format!("unix://{}", self.socket.display());
            let ids = run(Command::new(DOCKER_CLI)
                .env("DOCKER_HOST", &host)
                .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
                .args(["ps", "-aq"]));
            let ids = stdout(&ids);
            if !ids.is_empty() {
                let _ = run(Command::new(DOCKER_CLI)
                    .env("DOCKER_HOST", &host)
                    .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
                    .args(["rm", "-f"])
                    .args(ids.lines()));
            }
        }
        self.stop();
        kill_processes_of(self.dir.path(), &self.cgroup);
        unmount_under(self.dir.path());
        remove_cgroup_tree(&self.cgroup);
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.netns])
            .status();
        for p in &self.host_paths {
            let _ = std::fs::remove_dir(p);
        }
    }
}

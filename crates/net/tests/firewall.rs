//! Real nftables: applies rulesets to the host's `inet berth` table and reads them back.
//! Needs root and `nft`; skips with a reason otherwise (fails under BERTH_TEST_STRICT=1).

use std::net::Ipv4Addr;
use std::process::Command;

use berth_net::firewall::{self, NetworkRules, PortMapping, PortRange, Proto, Ruleset};

/// Skips (returns false) with a printed reason, or panics under BERTH_TEST_STRICT=1.
fn require(ok: bool, reason: &str) -> bool {
    if !ok {
        if std::env::var("BERTH_TEST_STRICT").is_ok_and(|v| v == "1") {
            panic!("required for this test: {reason}");
        }
        eprintln!("SKIP: {reason}");
    }
    ok
}

fn nft(args: &[&str]) -> (bool, String) {
    match Command::new("nft").args(args).output() {
        Ok(o) => (
            o.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        ),
        Err(e) => (false, e.to_string()),
    }
}

fn usable() -> bool {
    require(rustix::process::geteuid().is_root(), "needs root")
        && require(nft(&["--version"]).0, "needs nft (Debian package nftables)")
        && require(
            nft(&["list", "tables"]).0,
            "nft cannot list tables (no CAP_NET_ADMIN?)",
        )
}

/// Deletes what the test made even when an assertion fails.
struct Cleanup;
impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = firewall::remove();
        let _ = nft(&["delete", "table", "inet", "berth_test_other"]);
    }
}

fn ruleset() -> Ruleset {
    Ruleset {
        networks: vec![
            NetworkRules {
                bridge: "brtest0".into(),
                subnet: "10.231.0.0/24".parse().expect("literal"),
                internal: false,
                masquerade: true,
            },
            NetworkRules {
                bridge: "brtest1".into(),
                subnet: "10.231.1.0/24".parse().expect("literal"),
                internal: true,
                masquerade: false,
            },
        ],
        ports: vec![PortMapping {
            proto: Proto::Tcp,
            host_ip: Ipv4Addr::UNSPECIFIED,
            host_port: PortRange::single(18080),
            container_ip: Ipv4Addr::new(10, 231, 0, 2),
            container_port: PortRange::single(80),
        }],
    }
}

fn listing() -> String {
    let (ok, out) = nft(&["list", "table", "inet", "berth"]);
    assert!(ok, "nft list table inet berth: {out}");
    out
}

/// Both tests own the host's `inet berth` table; they take turns.
static TABLE: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn apply_is_exact_idempotent_and_leaves_other_tables_alone() {
    if !usable() {
        return;
    }
    let _turn = TABLE.lock().unwrap_or_else(|p| p.into_inner());
    let _cleanup = Cleanup;
    let _ = firewall::remove();
    let (ok, out) = nft(&["add", "table", "inet", "berth_test_other"]);
    assert!(ok, "{out}");
    let (ok, out) =
        nft(&["add chain inet berth_test_other c { type filter hook forward priority 10; }"]);
    assert!(ok, "{out}");
    let (ok, out) = nft(&["add rule inet berth_test_other c iifname \"brtest0\" counter accept"]);
    assert!(ok, "{out}");
    let other_before = nft(&["list", "table", "inet", "berth_test_other"]).1;

    firewall::apply(&ruleset()).expect("apply");
    let (ok, json) = nft(&["-j", "list", "table", "inet", "berth"]);
    assert!(ok, "{json}");
    let doc: serde_json::Value = serde_json::from_str(&json).expect("nft -j output is JSON");
    let items = doc["nftables"].as_array().expect("list");
    let chains: Vec<&str> = items
        .iter()
        .filter_map(|i| i["chain"]["name"].as_str())
        .collect();
    for c in [
        "prerouting",
        "output",
        "postrouting",
        "forward",
        "published",
    ] {
        assert!(chains.contains(&c), "chain {c} missing: {chains:?}");
    }
    let rules = items.iter().filter(|i| i.get("rule").is_some()).count();
    assert!(
        rules >= 10,
        "expected the ruleset's rules, got {rules}: {json}"
    );
    let text = listing();
    assert!(text.contains("dnat ip to 10.231.0.2:80"), "{text}");
    assert!(text.contains("tcp dport 18080"), "{text}");
    assert!(
        text.contains("ip saddr 10.231.0.0/24 oifname != \"brtest0\" masquerade"),
        "{text}"
    );
    assert!(
        !text.contains("ip saddr 10.231.1.0/24 oifname != "),
        "internal: no egress NAT\n{text}"
    );
    assert!(text.contains("iifname \"brtest1\" drop"), "{text}");
    assert!(
        text.contains("ct state established,related accept"),
        "{text}"
    );

    // Idempotent: same listing after a second apply.
    firewall::apply(&ruleset()).expect("apply again");
    assert_eq!(listing(), text, "second apply changed the table");

    // Restores what someone flushed (as after a daemon restart).
    let (ok, out) = nft(&["flush", "table", "inet", "berth"]);
    assert!(ok, "{out}");
    firewall::apply(&ruleset()).expect("apply after flush");
    assert_eq!(listing(), text, "apply did not restore the flushed table");

    // A smaller ruleset removes what is gone.
    let mut smaller = ruleset();
    smaller.networks.truncate(1);
    smaller.ports.clear();
    firewall::apply(&smaller).expect("apply smaller");
    let small = listing();
    assert!(!small.contains("brtest1"), "{small}");
    assert!(!small.contains("dnat ip to"), "{small}");
    assert!(small.contains("brtest0"), "{small}");

    // Bad input leaves the table as it was.
    let mut bad = ruleset();
    bad.networks[0].bridge = "bad name".into();
    let e = firewall::apply(&bad)
        .expect_err("invalid bridge")
        .to_string();
    assert!(e.contains("networks[0].bridge"), "{e}");
    assert_eq!(listing(), small);

    firewall::remove().expect("remove");
    let (ok, _) = nft(&["list", "table", "inet", "berth"]);
    assert!(!ok, "table inet berth still exists after remove");
    firewall::remove().expect("remove twice is fine");

    assert_eq!(
        nft(&["list", "table", "inet", "berth_test_other"]).1,
        other_before,
        "another table was touched"
    );
}

fn run(args: &[&str]) -> String {
    let o = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// GET /index.html from `ip:port` with busybox nc (busybox wget crashes in some static builds),
/// run under `prefix` (e.g. `ip netns exec NS`); the body on success.
fn http_get(prefix: &[&str], ip: &str, port: u16) -> Result<String, String> {
    use std::io::Write;
    let port = port.to_string();
    let mut args: Vec<&str> = prefix.to_vec();
    args.extend(["busybox", "nc", "-w", "5", ip, &port]);
    let mut child = Command::new(args[0])
        .args(&args[1..])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(b"GET /index.html HTTP/1.0\r\n\r\n");
    }
    let o = child.wait_with_output().map_err(|e| e.to_string())?;
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    match out.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200") => Ok(body.to_string()),
        _ => Err(format!(
            "{args:?}: no HTTP 200 ({}): {out}{}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        )),
    }
}

/// A bridge, a network namespace on it through a veth pair, and an HTTP server inside.
struct Net {
    bridge: String,
    netns: String,
    server: Option<std::process::Child>,
    dir: tempfile::TempDir,
}

impl Drop for Net {
    fn drop(&mut self) {
        if let Some(mut c) = self.server.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Deleting the namespace deletes the veth pair with it.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .status();
        let _ = firewall::remove();
    }
}

/// [`usable`], plus iproute2 and busybox for the tests with network namespaces and servers.
fn usable_with_namespaces() -> bool {
    usable()
        && require(
            Command::new("ip").arg("-V").output().is_ok(),
            "needs ip (iproute2)",
        )
        && require(
            std::path::Path::new("/bin/busybox").exists(),
            "needs /bin/busybox (busybox-static) for httpd and nc",
        )
}

#[test]
fn published_port_reaches_a_container_from_host_addresses_and_hairpin() {
    if !usable_with_namespaces() {
        return;
    }
    let _turn = TABLE.lock().unwrap_or_else(|p| p.into_inner());
    let id = std::process::id() % 100_000;
    let (bridge, veth_host, veth_ns) = (format!("bfb{id}"), format!("bfh{id}"), format!("bfc{id}"));
    let mut net = Net {
        bridge: bridge.clone(),
        netns: format!("berth-fwtest-{id}"),
        server: None,
        dir: tempfile::tempdir().expect("tempdir"),
    };
    let ns = net.netns.clone();
    run(&["ip", "link", "add", &bridge, "type", "bridge"]);
    run(&["ip", "addr", "add", "10.232.0.1/24", "dev", &bridge]);
    run(&["ip", "link", "set", &bridge, "up"]);
    run(&["ip", "netns", "add", &ns]);
    run(&[
        "ip", "link", "add", &veth_host, "type", "veth", "peer", "name", &veth_ns,
    ]);
    run(&["ip", "link", "set", &veth_ns, "netns", &ns]);
    run(&["ip", "link", "set", &veth_host, "master", &bridge, "up"]);
    // With br_netfilter a hairpinned packet is DNATed on the bridge path and must leave
    // through the port it came in on; Docker sets the same on its veth ports.
    run(&[
        "ip",
        "link",
        "set",
        &veth_host,
        "type",
        "bridge_slave",
        "hairpin",
        "on",
    ]);
    run(&[
        "ip",
        "-n",
        &ns,
        "addr",
        "add",
        "10.232.0.2/24",
        "dev",
        &veth_ns,
    ]);
    run(&["ip", "-n", &ns, "link", "set", &veth_ns, "up"]);
    run(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
    run(&[
        "ip",
        "-n",
        &ns,
        "route",
        "add",
        "default",
        "via",
        "10.232.0.1",
    ]);

    let body = format!("hello from the container {id}\n");
    std::fs::write(net.dir.path().join("index.html"), &body).expect("write page");
    let docroot = net
        .dir
        .path()
        .to_str()
        .expect("utf-8 temp path")
        .to_string();
    net.server = Some(
        Command::new("ip")
            .args([
                "netns", "exec", &ns, "busybox", "httpd", "-f", "-p", "80", "-h", &docroot,
            ])
            .spawn()
            .expect("start httpd in the netns"),
    );
    let mut up = false;
    for _ in 0..50 {
        if http_get(&[], "10.232.0.2", 80).is_ok() {
            up = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(up, "httpd in the netns never answered on 10.232.0.2:80");

    let port = std::net::TcpListener::bind("0.0.0.0:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let ruleset = Ruleset {
        networks: vec![NetworkRules {
            bridge: bridge.clone(),
            subnet: "10.232.0.0/24".parse().expect("literal"),
            internal: false,
            masquerade: true,
        }],
        ports: vec![PortMapping {
            proto: Proto::Tcp,
            host_ip: Ipv4Addr::UNSPECIFIED,
            host_port: PortRange::single(port),
            container_ip: Ipv4Addr::new(10, 232, 0, 2),
            container_port: PortRange::single(80),
        }],
    };
    firewall::apply(&ruleset).expect("apply");
    berth_net::link::set_route_localnet(&bridge, true).expect("route_localnet");

    let r = http_get(&[], "127.0.0.1", port);
    assert_eq!(r.as_deref(), Ok(body.as_str()), "127.0.0.1:{port}");

    // Another host address: the one the default route leaves from, when there is one.
    let route = run(&["ip", "-4", "route", "get", "1.1.1.1"]);
    let host_ip = route
        .split_whitespace()
        .skip_while(|w| *w != "src")
        .nth(1)
        .map(str::to_string);
    if let Some(host_ip) = host_ip {
        let r = http_get(&[], &host_ip, port);
        assert_eq!(r.as_deref(), Ok(body.as_str()), "{host_ip}:{port}");
        // Hairpin: the container reaches its own published port through the host address.
        let r = http_get(&["ip", "netns", "exec", &ns], &host_ip, port);
        assert_eq!(r.as_deref(), Ok(body.as_str()), "hairpin {host_ip}:{port}");
    } else {
        eprintln!("no default route: host-address and hairpin checks skipped");
    }

    // Without the rules, the published port is gone.
    firewall::remove().expect("remove");
    assert!(
        http_get(&[], "127.0.0.1", port).is_err(),
        "127.0.0.1:{port} still answers after remove"
    );

    drop(net);
    let links = run(&["ip", "-o", "link", "show"]);
    assert!(
        !links.contains(&bridge) && !links.contains(&veth_host),
        "{links}"
    );
    assert!(
        !run(&["ip", "netns", "list"]).contains(&ns),
        "netns left behind"
    );
}

/// Runs a command line given as one string (words split on whitespace).
fn sh(line: &str) -> String {
    run(&line.split_whitespace().collect::<Vec<_>>())
}

/// Bridge `bf{tag}{id}` with 10.233.{octet}.1/24, a netns at .2 behind a veth, and, when
/// `serve`, busybox httpd on port 80 inside.
fn network(tag: char, octet: u8, serve: bool) -> Net {
    let id = std::process::id() % 100_000;
    let (bridge, vh, vc) = (
        format!("bf{tag}{id}"),
        format!("bh{tag}{id}"),
        format!("bc{tag}{id}"),
    );
    let ns = format!("berth-fwtest-{tag}{id}");
    let net = Net {
        bridge: bridge.clone(),
        netns: ns.clone(),
        server: None,
        dir: tempfile::tempdir().expect("tempdir"),
    };
    sh(&format!("ip link add {bridge} type bridge"));
    sh(&format!("ip addr add 10.233.{octet}.1/24 dev {bridge}"));
    sh(&format!("ip link set {bridge} up"));
    sh(&format!("ip netns add {ns}"));
    sh(&format!("ip link add {vh} type veth peer name {vc}"));
    sh(&format!("ip link set {vc} netns {ns}"));
    sh(&format!("ip link set {vh} master {bridge} up"));
    sh(&format!("ip -n {ns} addr add 10.233.{octet}.2/24 dev {vc}"));
    sh(&format!("ip -n {ns} link set {vc} up"));
    sh(&format!("ip -n {ns} link set lo up"));
    sh(&format!(
        "ip -n {ns} route add default via 10.233.{octet}.1"
    ));
    let mut net = net;
    if serve {
        std::fs::write(net.dir.path().join("index.html"), format!("net {tag}\n")).expect("page");
        let root = net
            .dir
            .path()
            .to_str()
            .expect("utf-8 temp path")
            .to_string();
        net.server = Some(
            Command::new("ip")
                .args([
                    "netns", "exec", &ns, "busybox", "httpd", "-f", "-p", "80", "-h",
                ])
                .arg(&root)
                .spawn()
                .expect("start httpd"),
        );
        let ip = format!("10.233.{octet}.2");
        let up = (0..50).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(100));
            http_get(&[], &ip, 80).is_ok()
        });
        assert!(up, "httpd in {ns} never answered");
    }
    net
}

#[test]
fn networks_are_isolated_and_internal_networks_reach_nothing_outside() {
    if !usable_with_namespaces() {
        return;
    }
    let _turn = TABLE.lock().unwrap_or_else(|p| p.into_inner());
    // Routing between bridges is the kernel's; the daemon turns it on too. Restored after.
    let forward_path = "/proc/sys/net/ipv4/ip_forward";
    let forward_was = std::fs::read_to_string(forward_path).expect("read ip_forward");
    std::fs::write(forward_path, "1").expect("enable ip_forward");
    struct Restore(String);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = std::fs::write("/proc/sys/net/ipv4/ip_forward", self.0.trim());
        }
    }
    let _restore = Restore(forward_was);

    let a = network('a', 10, false);
    let b = network('b', 11, true);
    let c = network('c', 12, true);
    let rules = |n: &Net, octet: u8, internal: bool| NetworkRules {
        bridge: n.bridge.clone(),
        subnet: format!("10.233.{octet}.0/24").parse().expect("cidr"),
        internal,
        masquerade: true,
    };
    let in_a = ["ip", "netns", "exec", a.netns.as_str()];
    let in_c = ["ip", "netns", "exec", c.netns.as_str()];

    // Control: without Berth's rules the kernel routes between the bridges.
    firewall::remove().expect("remove");
    assert!(
        http_get(&in_a, "10.233.11.2", 80).is_ok(),
        "A->B before rules"
    );
    assert!(
        http_get(&in_c, "10.233.11.2", 80).is_ok(),
        "C->B before rules"
    );

    firewall::apply(&Ruleset {
        networks: vec![
            rules(&a, 10, false),
            rules(&b, 11, false),
            rules(&c, 12, true),
        ],
        ports: vec![],
    })
    .expect("apply");
    assert!(http_get(&in_a, "10.233.11.2", 80).is_err(), "A reached B");
    assert!(
        http_get(&in_a, "10.233.12.2", 80).is_err(),
        "A reached internal C"
    );
    assert!(
        http_get(&in_c, "10.233.11.2", 80).is_err(),
        "internal C reached B"
    );
    // The host still reaches its containers (not forwarded traffic).
    assert!(http_get(&[], "10.233.11.2", 80).is_ok(), "host->B");

    let names: Vec<String> = [&a, &b, &c].iter().map(|n| n.bridge.clone()).collect();
    drop((a, b, c));
    let links = sh("ip -o link show");
    assert!(names.iter().all(|n| !links.contains(n.as_str())), "{links}");
    assert!(
        !sh("ip netns list").contains("berth-fwtest-"),
        "netns left behind"
    );
}

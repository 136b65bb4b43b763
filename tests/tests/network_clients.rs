//! Real clients on the networking API (issue 5): the docker CLI's network verbs (create with
//! --subnet/--gateway/--ip-range/--internal/--label, ls, inspect, rm, connect, disconnect,
//! prune), docker-py's networks (tests/fixtures/network/networks_py.py) and docker compose v2
//! with a two-service file where one service fetches from the other by service name over a
//! named network (tests/fixtures/network/compose.yaml). Each test removes what it made and
//! then checks that no veth, bridge, sandbox, process or firewall rule is left.
//!
//! Like tests/tests/network.rs, these run against `berth daemon`, or against dockerd 20.10 in
//! a network namespace of its own with `BERTH_NET_TESTS_REFERENCE=dockerd`.

use berth_e2e::network::{NetEngine, Tracker, IMAGE};
use berth_e2e::{compose_plugin, require, run, stderr, stdout};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/network")
        .join(name)
}

#[test]
fn docker_cli_network_verbs() {
    let Some(e) = NetEngine::start("docker CLI network verb tests") else {
        return;
    };
    let mut t = Tracker::new(&e);
    let p = e.prefix16();
    let (subnet, gateway, range) = (
        format!("{p}.220.0/24"),
        format!("{p}.220.254"),
        format!("{p}.220.128/25"),
    );
    e.ok(&[
        "network",
        "create",
        "--subnet",
        &subnet,
        "--gateway",
        &gateway,
        "--ip-range",
        &range,
        "--label",
        "team=net",
        "clinet",
    ]);
    e.ok(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        &format!("{p}.221.0/24"),
        "cliint",
    ]);
    t.network(&e, "clinet");
    t.network(&e, "cliint");

    // ls, with a label filter and a format.
    assert_eq!(
        e.ok(&[
            "network",
            "ls",
            "--filter",
            "label=team=net",
            "--format",
            "{{.Name}} {{.Driver}}"
        ]),
        "clinet bridge"
    );
    let all = e.ok(&["network", "ls", "--format", "{{.Name}}"]);
    for n in ["bridge", "host", "none", "clinet", "cliint"] {
        assert!(all.lines().any(|l| l == n), "{n} missing from ls:\n{all}");
    }

    // inspect: what was asked for.
    let net = e.inspect("network", "clinet");
    let cfg = &net["IPAM"]["Config"][0];
    assert_eq!(cfg["Subnet"], subnet.as_str(), "{net}");
    assert_eq!(cfg["Gateway"], gateway.as_str(), "{net}");
    assert_eq!(cfg["IPRange"], range.as_str(), "{net}");
    assert_eq!(net["Labels"]["team"], "net", "{net}");
    assert_eq!(net["Driver"], "bridge", "{net}");
    assert_eq!(net["Internal"], false, "{net}");
    assert_eq!(e.inspect("network", "cliint")["Internal"], true);
    // The bridge holds the gateway asked for.
    assert_eq!(
        e.interface_in_subnet(&format!("{gateway}/32")),
        e.interface_in_subnet(&subnet),
        "the gateway {gateway} is not on clinet's bridge"
    );

    // Addresses come from --ip-range; --ip picks one.
    e.ok(&[
        "run",
        "-d",
        "--name",
        "ranged",
        "--network",
        "clinet",
        IMAGE,
        "sleep",
        "300",
    ]);
    let fixed = format!("{p}.220.10");
    e.ok(&[
        "run",
        "-d",
        "--name",
        "fixed",
        "--network",
        "clinet",
        "--ip",
        &fixed,
        IMAGE,
        "sleep",
        "300",
    ]);
    t.container(&e, "ranged");
    t.container(&e, "fixed");
    let addr = |name: &str, net: &str| {
        e.inspect("container", name)["NetworkSettings"]["Networks"][net]["IPAddress"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let ranged: Ipv4Addr = addr("ranged", "clinet").parse().expect("an IPv4 address");
    assert!(
        ranged.octets()[2] == 220 && ranged.octets()[3] >= 128,
        "{ranged} is not in --ip-range {range}"
    );
    assert_eq!(addr("fixed", "clinet"), fixed);
    let inside = e.ok(&["exec", "fixed", "ip", "-o", "-4", "addr"]);
    assert!(inside.contains(&format!("inet {fixed}/24")), "{inside}");

    // connect / disconnect.
    e.ok(&["network", "connect", "cliint", "ranged"]);
    let members = e.inspect("network", "cliint")["Containers"].clone();
    assert_eq!(
        members.as_object().map(|m| m.len()),
        Some(1),
        "cliint members after connect: {members}"
    );
    assert!(!addr("ranged", "cliint").is_empty());
    t.container(&e, "ranged");
    let (_, err) = e.fails(&["network", "connect", "cliint", "nosuchcontainer"]);
    assert!(err.contains("nosuchcontainer"), "{err}");
    e.ok(&["network", "disconnect", "cliint", "ranged"]);
    let members = e.inspect("network", "cliint")["Containers"].clone();
    assert!(
        members.as_object().is_none_or(|m| m.is_empty()),
        "cliint members after disconnect: {members}"
    );

    // rm of a network in use fails and keeps it; prune removes only unused networks.
    let (code, err) = e.fails(&["network", "rm", "clinet"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("clinet") && err.contains("active endpoints"),
        "{err}"
    );
    e.inspect("network", "clinet");
    let pruned = e.ok(&["network", "prune", "-f"]);
    assert!(
        pruned.lines().any(|l| l == "cliint") && !pruned.contains("clinet"),
        "prune output:\n{pruned}"
    );
    let (_, err) = e.fails(&["network", "inspect", "cliint"]);
    assert!(err.contains("cliint"), "{err}");

    e.ok(&["rm", "-f", "ranged", "fixed"]);
    assert_eq!(e.ok(&["network", "rm", "clinet"]), "clinet");
    let all = e.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!all.contains("clinet"), "{all}");
    t.assert_clean(&e);
}

#[test]
fn docker_py_networks() {
    let py = run(Command::new("python3").args([
        "-c",
        "import docker, sys; sys.exit(docker.__version__ != '7.1.0')",
    ]));
    if !require(
        py.status.success(),
        "docker-py 7.1.0 is not importable by python3 (scripts/deps.sh installs it)",
    ) {
        return;
    }
    let Some(e) = NetEngine::start("docker-py network tests") else {
        return;
    };
    let t = Tracker::new(&e);
    let mut c = Command::new("python3");
    c.arg(fixture("networks_py.py"))
        .arg(e.host())
        .arg(IMAGE)
        .arg(e.prefix16());
    for var in ["DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"] {
        c.env_remove(var);
    }
    let o = run(&mut c);
    let out = stdout(&o);
    let ok = out
        .lines()
        .last()
        .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .is_some_and(|r| r["ok"] == true);
    assert!(
        o.status.success() && ok,
        "[{}] docker-py networks failed:\n{out}\n{}\ndaemon log (tail):\n{}",
        e.name(),
        stderr(&o),
        e.log()
    );
    t.finish(&e);
}

#[test]
fn docker_compose_two_services_by_service_name() {
    let Some(e) = NetEngine::start("docker compose network tests") else {
        return;
    };
    if !compose_plugin(&e.docker_config_dir()) {
        return;
    }
    let mut t = Tracker::new(&e);
    let project = "berthnet";
    let subnet = e.subnet(40);
    let compose = |args: &[&str]| {
        let mut c = e.docker();
        c.env("SUBNET", &subnet)
            .arg("compose")
            .arg("-f")
            .arg(fixture("compose.yaml"))
            .args(["-p", project])
            .args(args);
        run(&mut c)
    };
    let o = compose(&["up", "-d"]);
    let all = format!("{}\n{}", stdout(&o), stderr(&o));
    assert!(
        o.status.success(),
        "[{}] compose up: {all}\ndaemon log:\n{}",
        e.name(),
        e.log()
    );
    let net = format!("{project}_backend");
    assert!(
        all.contains(&format!("Network {net}")) && all.contains("Created"),
        "compose up output:\n{all}"
    );
    assert!(
        all.contains("Started") || all.contains("Running"),
        "compose up output:\n{all}"
    );
    t.network(&e, &net);
    let ids = stdout(&compose(&["ps", "-q"]));
    assert_eq!(ids.lines().count(), 2, "compose ps -q: {ids}");
    for id in ids.lines() {
        t.container(&e, id);
    }
    let cfg = &e.inspect("network", &net)["IPAM"]["Config"][0];
    assert_eq!(cfg["Subnet"], subnet.as_str());
    // fetcher got web's page by service name over the named network.
    let mut logs = String::new();
    for _ in 0..100 {
        logs = stdout(&compose(&["logs", "--no-log-prefix", "fetcher"]));
        if logs.contains("fetched:") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(
        logs.lines()
            .any(|l| l.trim() == "fetched: from-compose-web"),
        "fetcher's log:\n{logs}"
    );
    let o = compose(&["exec", "-T", "fetcher", "wget", "-qO-", "http://web/"]);
    assert_eq!(stdout(&o), "from-compose-web", "{}", stderr(&o));

    let o = compose(&["down"]);
    let all = format!("{}\n{}", stdout(&o), stderr(&o));
    assert!(o.status.success(), "compose down: {all}");
    assert!(
        all.contains(&format!("Network {net}")) && all.contains("Removed"),
        "compose down output:\n{all}"
    );
    assert_eq!(e.ok(&["ps", "-aq"]), "", "containers left after down");
    let (_, err) = e.fails(&["network", "inspect", &net]);
    assert!(err.contains(&net), "{err}");
    t.assert_clean(&e);
}

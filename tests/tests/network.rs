//! Container networking end to end, driven with the real docker CLI (issue 5): user networks
//! with names, aliases and short ids resolved by the embedded DNS at 127.0.0.11; the generated
//! /etc/hosts and /etc/resolv.conf; published ports on 127.0.0.1, on the host's other address
//! and hairpin from a container; ports already taken; --internal networks; isolation between
//! networks; live connect/disconnect; a daemon restart; host, none and container:NAME modes;
//! bad input. Every test removes what it made and then looks: no veth, no user bridge, no
//! sandbox or network namespace, no container process, and the firewall back to its baseline.
//!
//! The tests run against `berth daemon`; with `BERTH_NET_TESTS_REFERENCE=dockerd` they run the
//! same scenarios against Debian's dockerd 20.10 in a network namespace of its own (see
//! berth_e2e::network), which is how they were proven. Where dockerd 20.10 differs from what
//! the issue asks (HTTP statuses, error wording), the test asserts the issue's behaviour for
//! Berth and says what the reference does instead.

use berth_e2e::network::{NetEngine, Tracker, IMAGE};
use berth_e2e::stdout;

fn engine(what: &str) -> Option<(NetEngine, Tracker)> {
    let e = NetEngine::start(what)?;
    let t = Tracker::new(&e);
    Some((e, t))
}

/// The IPv4 address of container `name` on network `net`.
fn ip_on(e: &NetEngine, name: &str, net: &str) -> String {
    let c = e.inspect("container", name);
    c["NetworkSettings"]["Networks"][net]["IPAddress"]
        .as_str()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| panic!("[{}] {name} has no address on {net}: {c}", e.name()))
        .to_string()
}

fn expect_body(e: &NetEngine, what: &str, got: Result<String, String>, body: &str) {
    match got {
        Ok(b) => assert_eq!(b, body, "[{}] {what}: wrong body", e.name()),
        Err(err) => panic!(
            "[{}] {what}: failed: {err}\ndaemon log (tail):\n{}",
            e.name(),
            e.log()
        ),
    }
}

fn expect_unreachable(e: &NetEngine, what: &str, got: Result<String, String>) {
    if let Ok(b) = got {
        panic!(
            "[{}] {what}: reachable, but must not be (got {b:?})",
            e.name()
        );
    }
}

#[test]
fn user_network_members_reach_each_other_by_name_alias_short_id_and_ip() {
    let Some((e, mut t)) = engine("user network tests") else {
        return;
    };
    let subnet = e.subnet(0);
    e.ok(&["network", "create", "--subnet", &subnet, "appnet"]);
    t.network(&e, "appnet");
    let id = e.web(
        "web",
        &["--network", "appnet", "--network-alias", "api"],
        "from-web",
    );
    t.container(&e, "web");
    // An id whose first 12 characters are all decimal digits (about 1 in 280) reads as a
    // numeric IPv4 address to wget (inet_aton); the trailing dot makes it a name to resolve.
    let short = if id[..12].bytes().all(|b| b.is_ascii_digit()) {
        format!("{}.", &id[..12])
    } else {
        id[..12].to_string()
    };
    let short = short.as_str();
    let ip = ip_on(&e, "web", "appnet");
    assert!(
        ip.starts_with(&subnet[..subnet.len() - 4]),
        "web's address {ip} is not in {subnet}"
    );
    for host in ["web", "api", short, ip.as_str()] {
        expect_body(
            &e,
            &format!("wget http://{host}/ from appnet"),
            e.fetch(&["--network", "appnet"], &format!("http://{host}/")),
            "from-web",
        );
    }
    // The embedded DNS answers the name with web's address on this network.
    let o = e.output(&[
        "run",
        "--rm",
        "--network",
        "appnet",
        IMAGE,
        "nslookup",
        "web",
        "127.0.0.11",
    ]);
    assert!(
        stdout(&o).contains(&ip),
        "nslookup web 127.0.0.11 does not answer {ip}: {}",
        stdout(&o)
    );
    // A container on the default bridge has no name service for appnet's members.
    expect_unreachable(
        &e,
        "wget http://web/ from the default bridge",
        e.fetch(&[], "http://web/"),
    );
    t.finish(&e);
}

#[test]
fn embedded_dns_and_generated_hosts_and_resolv_conf() {
    let Some((e, mut t)) = engine("DNS file tests") else {
        return;
    };
    e.ok(&["network", "create", "--subnet", &e.subnet(1), "dnsnet"]);
    t.network(&e, "dnsnet");
    e.ok(&[
        "run",
        "-d",
        "--name",
        "named",
        "--network",
        "dnsnet",
        "--hostname",
        "myhost",
        "--dns",
        "192.0.2.53",
        "--dns-search",
        "example.test",
        "--add-host",
        "extra.test:10.9.8.7",
        IMAGE,
        "sleep",
        "300",
    ]);
    t.container(&e, "named");
    let ip = ip_on(&e, "named", "dnsnet");
    let resolv = e.ok(&["exec", "named", "cat", "/etc/resolv.conf"]);
    let nameservers: Vec<&str> = resolv
        .lines()
        .filter_map(|l| l.strip_prefix("nameserver "))
        .map(str::trim)
        .collect();
    // On a user network the container asks the embedded DNS, which forwards to --dns.
    assert_eq!(nameservers, ["127.0.0.11"], "resolv.conf:\n{resolv}");
    assert!(
        resolv
            .lines()
            .any(|l| l.starts_with("search") && l.contains("example.test")),
        "--dns-search missing from resolv.conf:\n{resolv}"
    );
    let hosts = e.ok(&["exec", "named", "cat", "/etc/hosts"]);
    let has = |addr: &str, name: &str| {
        hosts.lines().any(|l| {
            let mut f = l.split_whitespace();
            f.next() == Some(addr) && f.any(|n| n == name)
        })
    };
    assert!(has("127.0.0.1", "localhost"), "/etc/hosts:\n{hosts}");
    assert!(
        has(&ip, "myhost"),
        "/etc/hosts lacks the container's own address and hostname:\n{hosts}"
    );
    assert!(
        has("10.9.8.7", "extra.test"),
        "--add-host missing:\n{hosts}"
    );
    assert_eq!(e.ok(&["exec", "named", "hostname"]), "myhost");
    // On the default bridge there is no embedded DNS: --dns lands in resolv.conf itself.
    let o = e.ok(&[
        "run",
        "--rm",
        "--dns",
        "192.0.2.53",
        IMAGE,
        "cat",
        "/etc/resolv.conf",
    ]);
    assert!(
        o.lines().any(|l| l.trim() == "nameserver 192.0.2.53") && !o.contains("127.0.0.11"),
        "default bridge resolv.conf with --dns:\n{o}"
    );
    t.finish(&e);
}

#[test]
fn published_ports_answer_on_loopback_host_address_and_hairpin() {
    let Some((e, mut t)) = engine("published port tests") else {
        return;
    };
    let all = e.free_host_port();
    let lo = e.free_host_port();
    let all_s = format!("{all}:80");
    let lo_s = format!("127.0.0.1:{lo}:80");
    e.web("pub", &["-p", &all_s, "-p", &lo_s], "published");
    e.web("pub-p", &["--expose", "80", "-P"], "ephemeral");
    t.container(&e, "pub");
    t.container(&e, "pub-p");
    let host = e.host_addr();
    for addr in ["127.0.0.1", host.as_str()] {
        expect_body(
            &e,
            &format!("host -> {addr}:{all}"),
            e.fetch_from_host(&format!("http://{addr}:{all}/")),
            "published",
        );
    }
    expect_body(
        &e,
        &format!("host -> 127.0.0.1:{lo}"),
        e.fetch_from_host(&format!("http://127.0.0.1:{lo}/")),
        "published",
    );
    expect_unreachable(
        &e,
        &format!("host -> {host}:{lo} (published on 127.0.0.1 only)"),
        e.fetch_from_host(&format!("http://{host}:{lo}/")),
    );
    // -P: an ephemeral host port for the exposed port, as `docker port` reports it.
    let ports = e.ok(&["port", "pub-p", "80/tcp"]);
    let ephemeral: Vec<u16> = ports
        .lines()
        .filter_map(|l| l.rsplit(':').next()?.trim().parse().ok())
        .collect();
    assert!(
        !ephemeral.is_empty(),
        "-P gave no ephemeral port for 80/tcp: {ports}"
    );
    expect_body(
        &e,
        "host -> -P port",
        e.fetch_from_host(&format!("http://127.0.0.1:{}/", ephemeral[0])),
        "ephemeral",
    );
    // Hairpin: another container reaches the published port through the host's address, from
    // the same bridge and from a user network.
    expect_body(
        &e,
        "container on the default bridge -> host address published port",
        e.fetch(&[], &format!("http://{host}:{all}/")),
        "published",
    );
    e.ok(&["network", "create", "--subnet", &e.subnet(2), "other"]);
    t.network(&e, "other");
    expect_body(
        &e,
        "container on a user network -> host address published port",
        e.fetch(&["--network", "other"], &format!("http://{host}:{all}/")),
        "published",
    );
    t.finish(&e);
}

#[test]
fn a_port_already_taken_is_refused_naming_it_and_leaves_nothing() {
    let Some((e, mut t)) = engine("port conflict tests") else {
        return;
    };
    let fw_before = e.firewall();
    let veths_before = e.veths_on(&e.default_bridge());
    // Taken by a host process.
    let port = e.free_host_port();
    let _listener = e.host_listener("0.0.0.0", port, "host-listener");
    let p = format!("{port}:80");
    let (code, err) = e.fails(&[
        "run", "-d", "--name", "clash", "-p", &p, IMAGE, "sleep", "300",
    ]);
    assert_ne!(code, 0);
    assert!(
        err.contains(&port.to_string()),
        "[{}] the error does not name port {port}: {err}",
        e.name()
    );
    // Docker keeps the container as created (not running) after a failed start; nothing of
    // its network may remain.
    let state = e.inspect("container", "clash");
    assert_eq!(state["State"]["Running"], false, "{state}");
    assert_eq!(
        e.veths_on(&e.default_bridge()),
        veths_before,
        "a veth is left"
    );
    assert_eq!(e.firewall(), fw_before, "firewall rules left for {port}");
    expect_body(
        &e,
        "the host listener still answers",
        e.fetch_from_host(&format!("http://127.0.0.1:{port}/")),
        "host-listener",
    );
    e.ok(&["rm", "clash"]);

    // Taken by another container.
    let port2 = e.free_host_port();
    let p2 = format!("{port2}:80");
    e.web("holder", &["-p", &p2], "holder");
    t.container(&e, "holder");
    let fw_holder = e.firewall();
    let veths_holder = e.veths_on(&e.default_bridge());
    let (_, err) = e.fails(&[
        "run", "-d", "--name", "clash2", "-p", &p2, IMAGE, "sleep", "300",
    ]);
    assert!(
        err.contains(&port2.to_string()),
        "[{}] the error does not name port {port2}: {err}",
        e.name()
    );
    assert_eq!(e.inspect("container", "clash2")["State"]["Running"], false);
    assert_eq!(
        e.veths_on(&e.default_bridge()),
        veths_holder,
        "a veth is left"
    );
    assert_eq!(
        e.firewall(),
        fw_holder,
        "firewall changed by the refused container"
    );
    expect_body(
        &e,
        "the first container keeps its port",
        e.fetch_from_host(&format!("http://127.0.0.1:{port2}/")),
        "holder",
    );
    t.finish(&e);
}

#[test]
fn internal_network_has_no_egress_but_members_talk() {
    let Some((e, mut t)) = engine("internal network tests") else {
        return;
    };
    // "Outside": a listener in a namespace of its own behind a veth from the engine's host,
    // reached only through forwarding and NAT; and a listener on the host's own address.
    let outside = e.outside_peer("outside");
    let out_url = format!("http://{}/", outside.addr);
    let host = e.host_addr();
    let port = e.free_host_port();
    let _listener = e.host_listener(&host, port, "host");
    let host_url = format!("http://{host}:{port}/");
    e.ok(&["network", "create", "--subnet", &e.subnet(3), "open"]);
    e.ok(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        &e.subnet(4),
        "closed",
    ]);
    t.network(&e, "open");
    t.network(&e, "closed");
    // Controls: a normal network's member reaches both.
    expect_body(
        &e,
        "open network -> outside",
        e.fetch(&["--network", "open"], &out_url),
        "outside",
    );
    expect_body(
        &e,
        "open network -> host address",
        e.fetch(&["--network", "open"], &host_url),
        "host",
    );
    expect_unreachable(
        &e,
        "internal network -> outside",
        e.fetch(&["--network", "closed"], &out_url),
    );
    // The issue: no egress at all, the host's own addresses included. dockerd 20.10 only
    // drops forwarded traffic, so its internal members still reach the host's addresses
    // (INPUT); Berth is held to the issue.
    if !e.is_reference() {
        expect_unreachable(
            &e,
            "internal network -> host address",
            e.fetch(&["--network", "closed"], &host_url),
        );
    }
    e.web("inside", &["--network", "closed"], "inside");
    t.container(&e, "inside");
    expect_body(
        &e,
        "internal network member -> member by name",
        e.fetch(&["--network", "closed"], "http://inside/"),
        "inside",
    );
    t.finish(&e);
    drop(outside);
}

#[test]
fn network_a_cannot_reach_network_b() {
    let Some((e, mut t)) = engine("network isolation tests") else {
        return;
    };
    e.ok(&["network", "create", "--subnet", &e.subnet(5), "neta"]);
    e.ok(&["network", "create", "--subnet", &e.subnet(6), "netb"]);
    t.network(&e, "neta");
    t.network(&e, "netb");
    e.web("srv", &["--network", "neta"], "in-a");
    t.container(&e, "srv");
    let ip = ip_on(&e, "srv", "neta");
    expect_body(
        &e,
        "A -> A",
        e.fetch(&["--network", "neta"], &format!("http://{ip}/")),
        "in-a",
    );
    expect_unreachable(
        &e,
        "B -> A by address",
        e.fetch(&["--network", "netb"], &format!("http://{ip}/")),
    );
    expect_unreachable(
        &e,
        "B -> A by name",
        e.fetch(&["--network", "netb"], "http://srv/"),
    );
    expect_unreachable(
        &e,
        "default bridge -> A by address",
        e.fetch(&[], &format!("http://{ip}/")),
    );
    t.finish(&e);
}

#[test]
fn disconnect_and_connect_work_on_a_running_container() {
    let Some((e, mut t)) = engine("connect/disconnect tests") else {
        return;
    };
    let (sa, sb) = (e.subnet(7), e.subnet(8));
    e.ok(&["network", "create", "--subnet", &sa, "live-a"]);
    e.ok(&["network", "create", "--subnet", &sb, "live-b"]);
    let bra = t.network(&e, "live-a");
    let brb = t.network(&e, "live-b");
    e.web("srv-a", &["--network", "live-a"], "a");
    e.web("srv-b", &["--network", "live-b"], "b");
    e.ok(&[
        "run",
        "-d",
        "--name",
        "roamer",
        "--network",
        "live-a",
        IMAGE,
        "sleep",
        "300",
    ]);
    for c in ["srv-a", "srv-b", "roamer"] {
        t.container(&e, c);
    }
    let pid_before = e.inspect("container", "roamer")["State"]["Pid"].clone();
    let addrs = |e: &NetEngine| e.ok(&["exec", "roamer", "ip", "-o", "-4", "addr", "show"]);
    let in_subnet = |s: &str| format!(" {}", &s[..s.len() - 4]);
    expect_body(
        &e,
        "roamer -> srv-a",
        e.fetch_in("roamer", "http://srv-a/"),
        "a",
    );
    expect_unreachable(
        &e,
        "roamer -> srv-b before connect",
        e.fetch_in("roamer", "http://srv-b/"),
    );
    let veths_b = e.veths_on(&brb).len();

    e.ok(&["network", "connect", "live-b", "roamer"]);
    let a = addrs(&e);
    assert!(
        a.contains(&in_subnet(&sb)),
        "no live-b address after connect:\n{a}"
    );
    assert_eq!(
        e.veths_on(&brb).len(),
        veths_b + 1,
        "no veth on live-b's bridge"
    );
    t.container(&e, "roamer");
    expect_body(
        &e,
        "roamer -> srv-b after connect",
        e.fetch_in("roamer", "http://srv-b/"),
        "b",
    );

    let veths_a = e.veths_on(&bra).len();
    e.ok(&["network", "disconnect", "live-a", "roamer"]);
    let a = addrs(&e);
    assert!(
        !a.contains(&in_subnet(&sa)),
        "live-a address still there:\n{a}"
    );
    assert_eq!(
        e.veths_on(&bra).len(),
        veths_a - 1,
        "veth left on live-a's bridge"
    );
    expect_unreachable(
        &e,
        "roamer -> srv-a after disconnect",
        e.fetch_in("roamer", "http://srv-a/"),
    );
    expect_body(
        &e,
        "roamer -> srv-b still",
        e.fetch_in("roamer", "http://srv-b/"),
        "b",
    );

    e.ok(&["network", "connect", "live-a", "roamer"]);
    expect_body(
        &e,
        "roamer -> srv-a after reconnect",
        e.fetch_in("roamer", "http://srv-a/"),
        "a",
    );
    // All of it live: the same process throughout.
    assert_eq!(e.inspect("container", "roamer")["State"]["Pid"], pid_before);
    t.finish(&e);
}

#[test]
fn rules_and_connectivity_survive_a_daemon_restart() {
    let Some((mut e, mut t)) = engine("daemon restart tests") else {
        return;
    };
    e.ok(&["network", "create", "--subnet", &e.subnet(9), "keep"]);
    t.network(&e, "keep");
    let port = e.free_host_port();
    let p = format!("{port}:80");
    e.web("kept", &["--network", "keep", "-p", &p], "kept");
    e.ok(&[
        "run",
        "-d",
        "--name",
        "client",
        "--network",
        "keep",
        IMAGE,
        "sleep",
        "300",
    ]);
    t.container(&e, "kept");
    t.container(&e, "client");
    let host = e.host_addr();
    expect_body(
        &e,
        "before restart",
        e.fetch_in("client", "http://kept/"),
        "kept",
    );
    let fw = e.firewall();
    let ip = ip_on(&e, "kept", "keep");

    e.restart();

    assert_eq!(
        e.inspect("container", "kept")["State"]["Running"],
        true,
        "the container did not outlive the daemon restart"
    );
    assert_eq!(
        ip_on(&e, "kept", "keep"),
        ip,
        "address changed over the restart"
    );
    for addr in ["127.0.0.1", host.as_str()] {
        expect_body(
            &e,
            &format!("published port on {addr} after restart"),
            e.fetch_from_host(&format!("http://{addr}:{port}/")),
            "kept",
        );
    }
    expect_body(
        &e,
        "a running container resolves by name after restart",
        e.fetch_in("client", "http://kept/"),
        "kept",
    );
    expect_body(
        &e,
        "a new container resolves by name after restart",
        e.fetch(&["--network", "keep"], "http://kept/"),
        "kept",
    );
    // Rules are restored exactly: none lost, none written twice.
    let after = e.firewall();
    let lost: Vec<_> = fw.iter().filter(|r| !after.contains(r)).collect();
    let added: Vec<_> = after.iter().filter(|r| !fw.contains(r)).collect();
    assert!(
        lost.is_empty() && added.is_empty() && after.len() == fw.len(),
        "[{}] firewall changed over the restart:\nlost {lost:#?}\nadded {added:#?}",
        e.name()
    );
    t.finish(&e);
}

#[test]
fn host_none_and_container_network_modes() {
    let Some((e, mut t)) = engine("network mode tests") else {
        return;
    };
    let none = e.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        IMAGE,
        "ip",
        "-o",
        "link",
    ]);
    let ifs: Vec<&str> = none
        .lines()
        .filter_map(|l| l.split(':').nth(1).map(str::trim))
        .collect();
    assert_eq!(ifs, ["lo"], "--network none has only lo:\n{none}");

    let host = e.host_addr();
    let inside = e.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        IMAGE,
        "ip",
        "-o",
        "-4",
        "addr",
    ]);
    assert!(
        inside.contains(&format!("inet {host}/")),
        "--network host does not see the host's {host}:\n{inside}"
    );

    e.web("base", &[], "base");
    t.container(&e, "base");
    let ip = e.inspect("container", "base")["NetworkSettings"]["IPAddress"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!ip.is_empty(), "base has no address on the default bridge");
    let shared = e.ok(&[
        "run",
        "--rm",
        "--network",
        "container:base",
        IMAGE,
        "sh",
        "-c",
        "ip -o -4 addr; timeout 5 wget -qO- http://127.0.0.1/",
    ]);
    assert!(
        shared.contains(&format!("inet {ip}/")) && shared.ends_with("base"),
        "container:base does not share base's namespace:\n{shared}"
    );
    let base_ns = e.ok(&["exec", "base", "readlink", "/proc/1/ns/net"]);
    e.ok(&[
        "run",
        "-d",
        "--name",
        "joiner",
        "--network",
        "container:base",
        IMAGE,
        "sleep",
        "300",
    ]);
    assert_eq!(
        e.ok(&["exec", "joiner", "readlink", "/proc/self/ns/net"]),
        base_ns,
        "container:base joined another namespace"
    );
    t.container(&e, "joiner");
    t.finish(&e);
}

#[test]
fn bad_input_gets_a_clear_error_and_creates_nothing() {
    let Some((e, t)) = engine("bad network input tests") else {
        return;
    };
    let subnet = e.subnet(10);
    e.ok(&["network", "create", "--subnet", &subnet, "first"]);
    let nets_before = e.ok(&["network", "ls", "-q"]);
    let links_before = e.own_links();
    let fw_before = e.firewall();
    let unchanged = |what: &str| {
        assert_eq!(
            e.ok(&["network", "ls", "-q"]),
            nets_before,
            "{what}: a network was made"
        );
        assert_eq!(e.own_links(), links_before, "{what}: an interface was made");
        assert_eq!(e.firewall(), fw_before, "{what}: the firewall changed");
    };

    // Overlapping subnet: the issue asks for 400/409. dockerd 20.10 answers 403 ("Pool
    // overlaps with other one on this address space").
    let overlap = format!("{}.128/25", &subnet[..subnet.len() - 5]);
    let (status, body) = e.api(
        "POST",
        "/networks/create",
        Some(&format!(
            r#"{{"Name":"second","IPAM":{{"Config":[{{"Subnet":"{overlap}"}}]}}}}"#
        )),
    );
    let wanted: &[u16] = if e.is_reference() {
        &[403]
    } else {
        &[400, 409]
    };
    assert!(
        wanted.contains(&status) && body.to_lowercase().contains("overlap"),
        "[{}] overlapping subnet {overlap}: HTTP {status} {body}",
        e.name()
    );
    let (code, err) = e.fails(&["network", "create", "--subnet", &overlap, "second"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.to_lowercase().contains("overlap"), "{err}");
    unchanged("overlapping subnet");

    // Invalid CIDR: 400 naming the value (dockerd 20.10 answers 500, "Invalid subnet
    // 10.1.2.300/24 : invalid CIDR address").
    let (status, body) = e.api(
        "POST",
        "/networks/create",
        Some(r#"{"Name":"bad","IPAM":{"Config":[{"Subnet":"10.1.2.300/24"}]}}"#),
    );
    let wanted: u16 = if e.is_reference() { 500 } else { 400 };
    assert!(
        status == wanted && body.contains("10.1.2.300/24"),
        "[{}] invalid CIDR: HTTP {status} {body}",
        e.name()
    );
    let (_, err) = e.fails(&["network", "create", "--subnet", "10.1.2.300/24", "bad"]);
    assert!(err.contains("10.1.2.300/24"), "{err}");
    unchanged("invalid CIDR");

    // Unknown network: 404 naming it, from inspect, connect and run.
    let (status, body) = e.api("GET", "/networks/nosuchnet", None);
    assert!(
        status == 404 && body.contains("nosuchnet"),
        "[{}] unknown network: HTTP {status} {body}",
        e.name()
    );
    let (_, err) = e.fails(&["network", "inspect", "nosuchnet"]);
    assert!(err.contains("nosuchnet"), "{err}");
    let (_, err) = e.fails(&["run", "--rm", "--network", "nosuchnet", IMAGE, "true"]);
    assert!(
        err.contains("nosuchnet") && err.contains("not found"),
        "{err}"
    );
    unchanged("unknown network");

    // A name in use: 409 (asked for with CheckDuplicate, as the docker CLI does; without
    // it the 20.10 API makes a second network of the same name).
    let (status, body) = e.api(
        "POST",
        "/networks/create",
        Some(r#"{"Name":"first","CheckDuplicate":true}"#),
    );
    assert!(
        status == 409 && body.contains("first"),
        "[{}] duplicate name: HTTP {status} {body}",
        e.name()
    );
    let (_, err) = e.fails(&["network", "create", "first"]);
    assert!(
        err.contains("first") && err.contains("already exists"),
        "{err}"
    );
    unchanged("duplicate name");

    // Port in use, through the API: the issue asks for 409 naming the port; dockerd 20.10
    // answers 500 ("driver failed programming external connectivity ... port is already
    // allocated").
    let port = e.free_host_port();
    let p = format!("{port}:80");
    e.web("holder", &["-p", &p], "x");
    let fw_holder = e.firewall();
    let body = format!(
        r#"{{"Image":"{IMAGE}","Cmd":["sleep","300"],"ExposedPorts":{{"80/tcp":{{}}}},"HostConfig":{{"PortBindings":{{"80/tcp":[{{"HostPort":"{port}"}}]}}}}}}"#
    );
    let (status, created) = e.api("POST", "/containers/create?name=taker", Some(&body));
    assert_eq!(status, 201, "{created}");
    let (status, body) = e.api("POST", "/containers/taker/start", None);
    let wanted: &[u16] = if e.is_reference() { &[500] } else { &[409] };
    assert!(
        wanted.contains(&status) && body.contains(&port.to_string()),
        "[{}] port in use: HTTP {status} {body}",
        e.name()
    );
    assert_eq!(e.firewall(), fw_holder, "port in use: the firewall changed");
    t.finish(&e);
}

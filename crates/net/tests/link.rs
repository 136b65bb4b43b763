//! Real-kernel tests of berth_net::link: two "containers" (two network namespaces made with
//! `ip netns add`) joined through veth pairs to a bridge with a random name, checked with ping,
//! then everything deleted and the host checked for leftovers.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::Command;

use berth_net::ipam::MacAddr;
use berth_net::link::{self, BridgeConfig, LinkError, Netlink, VethConfig};
use ipnet::IpNet;

/// Skips (printing why) or, under BERTH_TEST_STRICT=1, fails. Written here because a library
/// must not depend on the e2e crate.
fn require(ok: bool, reason: &str) -> bool {
    if ok {
        return true;
    }
    if std::env::var("BERTH_TEST_STRICT").as_deref() == Ok("1") {
        panic!("required for this test: {reason}");
    }
    eprintln!("SKIP: {reason}");
    false
}

fn have_root_and_ip() -> bool {
    require(
        rustix::process::geteuid().is_root(),
        "needs root (network namespaces, bridges)",
    ) && require(
        Command::new("ip").arg("-V").output().is_ok(),
        "needs the ip tool (iproute2)",
    ) && require(
        ping_command().is_some(),
        "needs ping (iputils-ping or busybox)",
    )
}

/// `ping`, or busybox's when iputils is not installed.
fn ping_command() -> Option<Vec<&'static str>> {
    if Command::new("ping").arg("-V").output().is_ok() {
        Some(vec!["ping"])
    } else if Command::new("busybox").arg("ping").output().is_ok() {
        Some(vec!["busybox", "ping"])
    } else {
        None
    }
}

fn sh(args: &[&str]) -> (bool, String) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn random_tag() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{:04x}",
        (nanos ^ std::process::id().wrapping_mul(7919)) & 0xffff
    )
}

/// Names used by one test; on drop (also on panic) removes whatever is left, so a failing test
/// does not leak, while the test's own assertions check that the library removed them.
struct Names {
    bridge: String,
    netns: Vec<String>,
    veths: Vec<String>,
    other: Vec<String>,
}

impl Names {
    fn new(tag: &str) -> Names {
        Names {
            bridge: format!("berth-t-{tag}"),
            netns: vec![format!("berth-test-{tag}-a"), format!("berth-test-{tag}-b")],
            veths: vec![
                format!("bt-{tag}-a"),
                format!("bt-{tag}-b"),
                format!("bt-{tag}-c"),
            ],
            other: vec![format!("bt-{tag}-d"), format!("bt-{tag}-e")],
        }
    }

    fn all_links(&self) -> Vec<&String> {
        std::iter::once(&self.bridge)
            .chain(&self.veths)
            .chain(&self.other)
            .collect()
    }

    fn assert_nothing_left(&self) {
        let (_, links) = sh(&["ip", "-o", "link"]);
        for name in self.all_links() {
            assert!(
                !links.contains(&format!(": {name}:")) && !links.contains(&format!(": {name}@")),
                "{name} left behind:\n{links}"
            );
        }
        let (_, netns) = sh(&["ip", "netns", "list"]);
        for ns in &self.netns {
            assert!(!netns.contains(ns.as_str()), "{ns} left behind:\n{netns}");
        }
    }
}

impl Drop for Names {
    fn drop(&mut self) {
        for name in self.all_links() {
            let _ = sh(&["ip", "link", "del", name]);
        }
        for ns in &self.netns {
            let _ = sh(&["ip", "netns", "del", ns]);
        }
    }
}

fn ns_path(ns: &str) -> PathBuf {
    PathBuf::from(format!("/run/netns/{ns}"))
}

fn ping(ns: &str, addr: Ipv4Addr) -> (bool, String) {
    let addr = addr.to_string();
    let mut args = vec!["ip", "netns", "exec", ns];
    args.extend(ping_command().expect("checked by have_root_and_ip"));
    args.extend(["-c1", "-W1", &addr]);
    sh(&args)
}

fn veth(host: &str, bridge: &str, ns: &str, ip: Ipv4Addr, gw: Ipv4Addr) -> VethConfig {
    VethConfig {
        host_name: host.to_string(),
        bridge: bridge.to_string(),
        netns: ns_path(ns),
        container_name: "eth0".to_string(),
        addresses: vec![IpNet::new(IpAddr::V4(ip), 24).unwrap()],
        mac: Some(MacAddr::from_ipv4(ip)),
        mtu: 1400,
        gateways: vec![IpAddr::V4(gw)],
    }
}

fn links_in(ns: &str) -> String {
    sh(&["ip", "netns", "exec", ns, "ip", "-o", "link"]).1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_containers_reach_each_other_through_a_bridge_and_nothing_is_left() {
    if !have_root_and_ip() {
        return;
    }
    let tag = random_tag();
    let names = Names::new(&tag);
    for ns in &names.netns {
        let (ok, out) = sh(&["ip", "netns", "add", ns]);
        assert!(ok, "ip netns add {ns}: {out}");
    }
    let (ns_a, ns_b) = (&names.netns[0], &names.netns[1]);
    let third = u8::try_from(u16::from_str_radix(&tag, 16).unwrap() % 250).unwrap();
    let ip = |host: u8| Ipv4Addr::new(10, 254, third, host);
    let gw = ip(1);

    let nl = Netlink::current().unwrap();
    let bridge = BridgeConfig {
        name: names.bridge.clone(),
        mtu: 1400,
        addresses: vec![IpNet::new(IpAddr::V4(gw), 24).unwrap()],
    };
    let index = nl.ensure_bridge(&bridge).await.unwrap();
    // Idempotent: the same configuration again is fine.
    assert_eq!(nl.ensure_bridge(&bridge).await.unwrap(), index);
    // A different address on the existing bridge is refused, naming the bridge.
    let mut other = bridge.clone();
    other.addresses = vec!["10.253.0.1/24".parse().unwrap()];
    let e = nl.ensure_bridge(&other).await.unwrap_err();
    assert!(
        matches!(e, LinkError::BridgeAddressMismatch { .. })
            && e.to_string().contains(&names.bridge),
        "{e}"
    );
    let (_, shown) = sh(&["ip", "-o", "addr", "show", "dev", &names.bridge]);
    assert!(shown.contains(&format!("{gw}/24")), "{shown}");
    assert!(!shown.contains("10.253.0.1"), "{shown}");

    nl.create_veth(&veth(&names.veths[0], &names.bridge, ns_a, ip(2), gw))
        .await
        .unwrap();
    nl.create_veth(&veth(&names.veths[1], &names.bridge, ns_b, ip(3), gw))
        .await
        .unwrap();

    // The container end: renamed, MAC derived from the IP, MTU, up; lo up; default route.
    let eth0 = sh(&[
        "ip", "netns", "exec", ns_a, "ip", "-o", "link", "show", "eth0",
    ])
    .1;
    assert!(
        eth0.contains(&MacAddr::from_ipv4(ip(2)).to_string()),
        "{eth0}"
    );
    assert!(eth0.contains("mtu 1400") && eth0.contains(",UP"), "{eth0}");
    let lo = sh(&[
        "ip", "netns", "exec", ns_a, "ip", "-o", "link", "show", "lo",
    ])
    .1;
    assert!(lo.contains(",UP"), "{lo}");
    let routes = sh(&["ip", "netns", "exec", ns_a, "ip", "route"]).1;
    assert!(
        routes.contains(&format!("default via {gw} dev eth0")),
        "{routes}"
    );
    // The host end: attached to the bridge.
    let host = sh(&["ip", "-o", "link", "show", &names.veths[0]]).1;
    assert!(host.contains(&format!("master {}", names.bridge)), "{host}");

    for (ns, to) in [(ns_a, ip(3)), (ns_b, ip(2)), (ns_a, gw), (ns_b, gw)] {
        let (ok, out) = ping(ns, to);
        assert!(ok, "{ns} -> {to}: {out}");
    }
    // The container end came from the kernel's veth, not a leftover temporary name.
    assert!(!links_in(ns_a).contains("bpeer"), "{}", links_in(ns_a));

    // Failures leave nothing behind.
    // 1. The host name is taken.
    let e = nl
        .create_veth(&veth(&names.veths[0], &names.bridge, ns_b, ip(9), gw))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, LinkError::Exists(n) if n == &names.veths[0]),
        "{e}"
    );
    // 2. eth0 already exists in the namespace: refused in the same request, nothing made.
    let e = nl
        .create_veth(&veth(&names.veths[2], &names.bridge, ns_a, ip(9), gw))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("eth0"), "{e}");
    // 3. No such namespace.
    let mut bad = veth(&names.veths[2], &names.bridge, ns_a, ip(9), gw);
    bad.netns = PathBuf::from(format!("/run/netns/berth-test-{tag}-missing"));
    let e = nl.create_veth(&bad).await.unwrap_err();
    assert!(
        matches!(e, LinkError::Netns { .. }) && e.to_string().contains("missing"),
        "{e}"
    );
    // 4. No such bridge.
    let mut bad = veth(&names.veths[2], &names.bridge, ns_a, ip(9), gw);
    bad.bridge = format!("berth-t-{tag}x");
    let e = nl.create_veth(&bad).await.unwrap_err();
    assert!(
        matches!(&e, LinkError::NotFound(n) if n == &bad.bridge),
        "{e}"
    );
    let host_links = sh(&["ip", "-o", "link"]).1;
    assert!(!host_links.contains(&names.veths[2]), "{host_links}");
    assert!(!host_links.contains("bpeer"), "{host_links}");
    for ns in [ns_a, ns_b] {
        let inside = links_in(ns);
        assert_eq!(
            inside.lines().count(),
            2,
            "only lo and eth0 in {ns}:\n{inside}"
        );
    }
    // The first pair still works after the failed attempts.
    let (ok, out) = ping(ns_a, ip(3));
    assert!(ok, "{out}");

    // route_localnet on the bridge.
    let rl = format!("/proc/sys/net/ipv4/conf/{}/route_localnet", names.bridge);
    link::set_route_localnet(&names.bridge, true).unwrap();
    assert_eq!(std::fs::read_to_string(&rl).unwrap().trim(), "1");
    link::set_route_localnet(&names.bridge, false).unwrap();
    assert_eq!(std::fs::read_to_string(&rl).unwrap().trim(), "0");
    link::enable_ip_forward().unwrap();
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
            .unwrap()
            .trim(),
        "1"
    );

    // Deleting the host end deletes both ends.
    assert!(nl.delete_veth(&names.veths[0]).await.unwrap());
    assert!(!nl.delete_veth(&names.veths[0]).await.unwrap());
    assert!(!links_in(ns_a).contains("eth0"), "{}", links_in(ns_a));
    let (ok, _) = ping(ns_b, ip(2));
    assert!(!ok, "container a is gone");
    assert!(nl.delete_veth(&names.veths[1]).await.unwrap());
    assert!(nl.delete_bridge(&names.bridge).await.unwrap());
    assert!(!nl.delete_bridge(&names.bridge).await.unwrap());
    for ns in &names.netns {
        let (ok, out) = sh(&["ip", "netns", "del", ns]);
        assert!(ok, "ip netns del {ns}: {out}");
    }
    names.assert_nothing_left();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ensure_bridge_refuses_a_device_that_is_not_a_bridge() {
    if !have_root_and_ip() {
        return;
    }
    let names = Names::new(&random_tag());
    let name = &names.other[0];
    let peer = &names.other[1];
    let (ok, out) = sh(&[
        "ip", "link", "add", name, "type", "veth", "peer", "name", peer,
    ]);
    assert!(ok, "{out}");
    let nl = Netlink::current().unwrap();
    let e = nl
        .ensure_bridge(&BridgeConfig {
            name: name.clone(),
            mtu: 1500,
            addresses: vec!["10.252.0.1/24".parse().unwrap()],
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&e, LinkError::NotABridge { device, .. } if device == name),
        "{e}"
    );
    let (_, shown) = sh(&["ip", "-o", "addr", "show", "dev", name]);
    assert!(!shown.contains("10.252.0.1"), "untouched: {shown}");
    // A bad name fails before anything is made.
    let e = nl
        .ensure_bridge(&BridgeConfig {
            name: "berth-t-much-too-long".into(),
            mtu: 1500,
            addresses: vec![],
        })
        .await
        .unwrap_err();
    assert!(matches!(e, LinkError::InvalidName { .. }), "{e}");
    assert!(nl.delete(name).await.unwrap());
    names.assert_nothing_left();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dual_stack_veth_gets_both_addresses_and_default_routes() {
    if !have_root_and_ip() {
        return;
    }
    let tag = random_tag();
    let names = Names::new(&tag);
    let ns = &names.netns[0];
    let (ok, out) = sh(&["ip", "netns", "add", ns]);
    assert!(ok, "ip netns add {ns}: {out}");
    let v6_gw: IpNet = format!("fd00:b:{tag}::1/64").parse().unwrap();
    let v6_ip: IpNet = format!("fd00:b:{tag}::2/64").parse().unwrap();
    let nl = Netlink::current().unwrap();
    nl.ensure_bridge(&BridgeConfig {
        name: names.bridge.clone(),
        mtu: 1500,
        addresses: vec!["10.251.7.1/24".parse().unwrap(), v6_gw],
    })
    .await
    .unwrap();
    let mut cfg = veth(
        &names.veths[0],
        &names.bridge,
        ns,
        Ipv4Addr::new(10, 251, 7, 2),
        Ipv4Addr::new(10, 251, 7, 1),
    );
    cfg.mtu = 1500;
    cfg.addresses.push(v6_ip);
    cfg.gateways.push(v6_gw.addr());
    nl.create_veth(&cfg).await.unwrap();
    let addrs = sh(&[
        "ip", "netns", "exec", ns, "ip", "-o", "addr", "show", "eth0",
    ])
    .1;
    assert!(
        addrs.contains("10.251.7.2/24") && addrs.contains(&v6_ip.to_string()),
        "{addrs}"
    );
    let routes = sh(&["ip", "netns", "exec", ns, "ip", "-6", "route"]).1;
    assert!(
        routes.contains(&format!("default via {} dev eth0", v6_gw.addr())),
        "{routes}"
    );
    // The namespace's own view through berth-net agrees.
    let inside = Netlink::in_netns(&ns_path(ns)).await.unwrap();
    let seen = inside.addresses("eth0").await.unwrap();
    assert!(seen.contains(&v6_ip), "{seen:?}");
    drop(inside);
    assert!(nl.delete_veth(&names.veths[0]).await.unwrap());
    assert!(nl.delete_bridge(&names.bridge).await.unwrap());
    let (ok, out) = sh(&["ip", "netns", "del", ns]);
    assert!(ok, "{out}");
    names.assert_nothing_left();
}

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

#[test]
fn apply_is_exact_idempotent_and_leaves_other_tables_alone() {
    if !usable() {
        return;
    }
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

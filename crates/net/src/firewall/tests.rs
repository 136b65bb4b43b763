use super::*;

fn sample() -> Ruleset {
    Ruleset {
        networks: vec![
            NetworkRules {
                bridge: "berth0".into(),
                subnet: "172.17.0.0/16".parse().expect("literal"),
                internal: false,
                masquerade: true,
            },
            NetworkRules {
                bridge: "br-internal".into(),
                subnet: "172.30.0.0/24".parse().expect("literal"),
                internal: true,
                masquerade: true,
            },
        ],
        ports: vec![
            PortMapping {
                proto: Proto::Tcp,
                host_ip: Ipv4Addr::UNSPECIFIED,
                host_port: PortRange::single(8080),
                container_ip: Ipv4Addr::new(172, 17, 0, 2),
                container_port: PortRange::single(80),
            },
            PortMapping {
                proto: Proto::Udp,
                host_ip: Ipv4Addr::new(127, 0, 0, 1),
                host_port: PortRange {
                    start: 5000,
                    end: 5001,
                },
                container_ip: Ipv4Addr::new(172, 17, 0, 3),
                container_port: PortRange {
                    start: 6000,
                    end: 6001,
                },
            },
        ],
    }
}

/// One command per line: diffs of the golden file read like a rule list.
fn render(doc: &Value) -> String {
    let mut s = String::new();
    for cmd in doc["nftables"]
        .as_array()
        .expect("document has a command list")
    {
        s.push_str(&serde_json::to_string(cmd).expect("json value serializes"));
        s.push('\n');
    }
    s
}

#[test]
fn document_matches_golden() {
    let got = render(&document(&sample()).expect("sample is valid"));
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/firewall/testdata/ruleset.jsonl"
    );
    if std::env::var_os("BERTH_UPDATE_GOLDEN").is_some() {
        std::fs::write(path, &got).expect("write golden");
    }
    let want =
        std::fs::read_to_string(path).expect("golden file (BERTH_UPDATE_GOLDEN=1 writes it)");
    assert_eq!(got, want, "generated nft JSON differs from {path}");
}

#[test]
fn document_fits_the_nftables_schema() {
    let doc = document(&sample()).expect("sample is valid");
    let parsed: nftables::schema::Nftables =
        serde_json::from_value(doc.clone()).expect("document parses as nftables schema");
    // Round-trip through the typed schema keeps every command.
    assert_eq!(
        parsed.objects.len(),
        doc["nftables"].as_array().map_or(0, Vec::len)
    );
}

#[test]
fn only_berth_table_is_named() {
    let doc = document(&sample()).expect("sample is valid");
    for cmd in doc["nftables"].as_array().expect("list") {
        let obj = cmd["add"]
            .as_object()
            .or(cmd["delete"].as_object())
            .expect("add/delete");
        for (_, v) in obj {
            let table = v
                .get("table")
                .and_then(Value::as_str)
                .or(v.get("name").and_then(Value::as_str));
            assert_eq!(v["family"], "inet", "{cmd}");
            if v.get("table").is_some() {
                assert_eq!(table, Some("berth"), "{cmd}");
            }
        }
    }
}

#[test]
fn internal_network_is_not_masqueraded_and_has_drops() {
    let doc = render(&document(&sample()).expect("valid"));
    let internal: Vec<&str> = doc.lines().filter(|l| l.contains("br-internal")).collect();
    assert!(
        internal.iter().all(|l| !l.contains("\"!=\"")),
        "no egress masquerade: {internal:#?}"
    );
    assert_eq!(
        internal.iter().filter(|l| l.contains("\"drop\"")).count(),
        3,
        "{internal:#?}"
    );
}

#[test]
fn bad_input_names_the_field() {
    let mut r = sample();
    r.networks[1].bridge = "this-name-is-too-long".into();
    let e = document(&r).expect_err("too long").to_string();
    assert!(e.contains("networks[1].bridge"), "{e}");

    let mut r = sample();
    r.ports[1].container_port = PortRange { start: 1, end: 5 };
    let e = document(&r).expect_err("length mismatch").to_string();
    assert!(e.contains("ports[1].container_port"), "{e}");

    let mut r = sample();
    r.ports[0].host_port = PortRange { start: 0, end: 0 };
    let e = document(&r).expect_err("port 0").to_string();
    assert!(e.contains("ports[0].host_port"), "{e}");
}

#[test]
fn port_in_use_is_named() {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind ephemeral");
    let port = l.local_addr().expect("addr").port();
    let e = check_port_free(Proto::Tcp, IpAddr::V4(Ipv4Addr::LOCALHOST), port)
        .expect_err("port is taken");
    assert_eq!(
        e.to_string(),
        format!("Bind for 127.0.0.1:{port} failed: port is already allocated")
    );
    drop(l);
    check_port_free(Proto::Tcp, IpAddr::V4(Ipv4Addr::LOCALHOST), port).expect("free after close");

    let u = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
    let port = u.local_addr().expect("addr").port();
    let m = PortMapping {
        proto: Proto::Udp,
        host_ip: Ipv4Addr::LOCALHOST,
        host_port: PortRange {
            start: port,
            end: port,
        },
        container_ip: Ipv4Addr::new(10, 0, 0, 2),
        container_port: PortRange::single(53),
    };
    assert!(matches!(
        check_ports_free(&m),
        Err(FirewallError::PortAllocated { .. })
    ));
}

#[test]
fn every_bridge_ingress_drop_comes_before_any_egress_accept() {
    // Otherwise "iifname A accept" would let A reach B before "oifname B drop" is seen.
    let doc = render(&document(&sample()).expect("valid"));
    let forward: Vec<&str> = doc.lines().filter(|l| l.contains("\"forward\"")).collect();
    let is = |l: &str, key: &str, v: &str| l.contains(key) && l.contains(v) && !l.contains("ct");
    let last_drop = forward
        .iter()
        .rposition(|l| is(l, "oifname", "\"drop\"") && !l.contains("iifname"))
        .expect("a drop into a bridge");
    let first_egress = forward
        .iter()
        .position(|l| is(l, "iifname", "\"accept\"") && !l.contains("oifname"))
        .expect("an egress accept");
    assert!(last_drop < first_egress, "{forward:#?}");
}

#[test]
fn another_table_name_is_used_everywhere() {
    let doc = document_in("berth_t7", &sample()).expect("sample is valid");
    let text = doc.to_string();
    assert!(!text.contains("\"berth\""), "{text}");
    for cmd in doc["nftables"].as_array().expect("list") {
        for (_, kinds) in cmd.as_object().expect("op") {
            for (kind, v) in kinds.as_object().expect("kind") {
                let key = if kind == "table" { "name" } else { "table" };
                assert_eq!(v[key], "berth_t7", "{cmd}");
            }
        }
    }
    for bad in ["", "1abc", "a-b", "a b"] {
        assert!(document_in(bad, &sample()).is_err(), "{bad:?}");
    }
}

//! Berth's firewall: one nftables table, `inet berth`, that Berth owns whole.
//!
//! The daemon describes what it wants as a [`Ruleset`] (its networks and published ports) and
//! [`apply`] makes the table exactly that. The document sent to `nft -j -f -` deletes and
//! re-creates the table in the same transaction, so applying is atomic (no moment without
//! rules), idempotent (the same ruleset gives the same table) and restores the rules after a
//! daemon restart or after someone flushed them. No other table is ever named, so the host's
//! own firewall and other tools' tables (Docker's, libvirt's, firewalld's) are left alone.
//! [`remove`] deletes the table when the last network goes.
//!
//! The rules follow Docker's semantics:
//! - `postrouting` (nat): traffic from a subnet leaving through any other interface than its
//!   bridge is masqueraded (not for internal networks); hairpinned traffic (a container reaching
//!   a published port of its own network through a host address) is masqueraded too, so the
//!   reply comes back through the host's conntrack entry instead of straight from the peer;
//!   locally generated traffic from 127.0.0.0/8 that was DNATed to a container is masqueraded to
//!   the bridge address, as the container cannot answer 127.0.0.1.
//! - `prerouting` and `output` (nat): packets to one of the host's own addresses
//!   (`fib daddr type local`) go through `published`, which DNATs each published port.
//! - `forward` (filter): established/related accepted; same-bridge traffic accepted; internal
//!   bridges drop anything entering or leaving to another interface; traffic into a bridge is
//!   accepted only when DNATed (a published port) and dropped otherwise, which also isolates
//!   bridges from each other; traffic leaving a non-internal bridge is accepted.
//!
//! Published ports on 127.0.0.1 use `route_localnet` (see [`crate::link::set_route_localnet`]) and the
//! `output` DNAT rather than a userland proxy: the kernel forwards the bytes with no process
//! per port, no copy through user space and no lost client address for the other paths, and
//! nothing must be kept running or re-adopted after a daemon restart. The price, which Docker
//! also pays when its userland proxy is off, is that the bridge accepts 127.0.0.0/8 sources
//! from the host (only locally generated packets can carry them; the kernel still drops such
//! sources arriving from outside on other interfaces).
//!
//! Hairpin also needs `hairpin_mode` on each veth's bridge port (`ip link set VETH type
//! bridge_slave hairpin on`, Docker does the same): with `br_netfilter` loaded the DNAT happens
//! on the bridge path and the frame must go back out the port it came in on. That is the link
//! layer's part, not a rule; the real test in tests/firewall.rs shows both together.
//!
//! Only IPv4 is modelled for now (`dnat ip`, `ip saddr`); IPv6 dual stack comes with IPAM's.
//!
//! The JSON is written by hand with `serde_json::json!` rather than with the `nftables` crate's
//! typed builders: the document stays readable next to `nft -j list` output and the golden test,
//! and `nft` is run directly so its stderr (the crate's helper drops it) reaches the error. The
//! unit tests check the document against the `nftables` crate's typed schema.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::process::{Command, Stdio};

use ipnet::Ipv4Net;
use serde_json::{json, Value};

/// The nftables family and name of Berth's table.
pub const TABLE_FAMILY: &str = "inet";
/// The name of Berth's table.
pub const TABLE_NAME: &str = "berth";

/// What went wrong applying or checking firewall rules.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    /// `nft` could not be started (not installed, not in PATH).
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program that was run.
        program: String,
        /// Why it could not run.
        source: std::io::Error,
    },
    /// `nft` refused the document.
    #[error("nft failed ({status}): {stderr}")]
    Nft {
        /// Exit status of nft.
        status: String,
        /// What nft said.
        stderr: String,
    },
    /// The ruleset is not valid; names the field.
    #[error("invalid firewall rule: {field}: {reason}")]
    Invalid {
        /// The field at fault, e.g. `ports[1].host_port`.
        field: String,
        /// Why it is wrong.
        reason: String,
    },
    /// A host port is already taken by another socket.
    #[error("Bind for {addr} failed: port is already allocated")]
    PortAllocated {
        /// The address and port that could not be bound.
        addr: SocketAddr,
        /// The protocol.
        proto: Proto,
    },
}

/// Transport protocol of a published port.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

impl std::fmt::Display for Proto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An inclusive port range; a single port has `start == end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PortRange {
    /// First port.
    pub start: u16,
    /// Last port (inclusive).
    pub end: u16,
}

impl PortRange {
    /// A range of one port.
    pub fn single(port: u16) -> Self {
        Self {
            start: port,
            end: port,
        }
    }

    /// How many ports the range holds.
    pub fn len(self) -> u32 {
        u32::from(self.end) - u32::from(self.start) + 1
    }

    /// Never true for a valid range; here for clippy's `len_without_is_empty`.
    pub fn is_empty(self) -> bool {
        self.end < self.start
    }

    fn to_json(self) -> Value {
        if self.start == self.end {
            json!(self.start)
        } else {
            json!({ "range": [self.start, self.end] })
        }
    }
}

/// One network's bridge and what its traffic may do.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NetworkRules {
    /// The bridge interface name, e.g. `berth0`.
    pub bridge: String,
    /// The network's IPv4 subnet.
    pub subnet: Ipv4Net,
    /// No traffic in or out of the bridge except between its own members.
    pub internal: bool,
    /// Masquerade traffic leaving the bridge to other interfaces (Docker's
    /// `com.docker.network.bridge.enable_ip_masquerade`, on by default). Ignored when internal.
    pub masquerade: bool,
}

/// A published port: `host_ip:host_port -> container_ip:container_port/proto`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PortMapping {
    /// TCP or UDP.
    pub proto: Proto,
    /// The host address it is published on; 0.0.0.0 means every host address.
    pub host_ip: Ipv4Addr,
    /// The host port or range.
    pub host_port: PortRange,
    /// The container's address on its network.
    pub container_ip: Ipv4Addr,
    /// The container port or range: one port (every host port goes to it), or a range as long
    /// as `host_port` (mapped one to one).
    pub container_port: PortRange,
}

/// Everything Berth's table should hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Ruleset {
    /// Bridge networks.
    pub networks: Vec<NetworkRules>,
    /// Published ports.
    pub ports: Vec<PortMapping>,
}

impl Ruleset {
    /// Checks names and ranges, naming the field at fault.
    pub fn validate(&self) -> Result<(), FirewallError> {
        let invalid = |field: String, reason: &str| FirewallError::Invalid {
            field,
            reason: reason.to_string(),
        };
        for (i, net) in self.networks.iter().enumerate() {
            let b = &net.bridge;
            // IFNAMSIZ is 16 with the NUL; nft would also choke on quotes.
            if b.is_empty()
                || b.len() > 15
                || !b
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(&c))
            {
                return Err(invalid(
                    format!("networks[{i}].bridge"),
                    &format!("{b:?} is not an interface name (1-15 of [A-Za-z0-9._-])"),
                ));
            }
            if self.networks[..i].iter().any(|n| n.bridge == *b) {
                return Err(invalid(
                    format!("networks[{i}].bridge"),
                    &format!("{b:?} is listed twice"),
                ));
            }
        }
        for (i, p) in self.ports.iter().enumerate() {
            for (name, r) in [
                ("host_port", p.host_port),
                ("container_port", p.container_port),
            ] {
                if r.start == 0 || r.is_empty() {
                    return Err(invalid(
                        format!("ports[{i}].{name}"),
                        &format!("{}-{} is not a port range of 1-65535", r.start, r.end),
                    ));
                }
            }
            if p.container_port.len() != 1 && p.container_port.len() != p.host_port.len() {
                return Err(invalid(
                    format!("ports[{i}].container_port"),
                    "a container port range must be as long as the host port range",
                ));
            }
            if p.container_ip.is_unspecified() {
                return Err(invalid(
                    format!("ports[{i}].container_ip"),
                    "0.0.0.0 is not a container address",
                ));
            }
        }
        Ok(())
    }
}

fn table() -> Value {
    table_object()
}

fn table_object() -> Value {
    json!({ "family": TABLE_FAMILY, "name": TABLE_NAME })
}

fn chain(name: &str, base: Option<(&str, &str, i32)>) -> Value {
    let mut c = json!({ "family": TABLE_FAMILY, "table": TABLE_NAME, "name": name });
    if let Some((kind, hook, prio)) = base {
        c["type"] = json!(kind);
        c["hook"] = json!(hook);
        c["prio"] = json!(prio);
        // Accept: anything not about Berth's bridges is other tables' business.
        c["policy"] = json!("accept");
    }
    json!({ "add": { "chain": c } })
}

fn rule(chain: &str, expr: Vec<Value>) -> Value {
    json!({ "add": { "rule": {
        "family": TABLE_FAMILY, "table": TABLE_NAME, "chain": chain, "expr": expr
    } } })
}

fn m(op: &str, left: Value, right: Value) -> Value {
    json!({ "match": { "op": op, "left": left, "right": right } })
}

fn meta(key: &str) -> Value {
    json!({ "meta": { "key": key } })
}

fn ip(field: &str) -> Value {
    json!({ "payload": { "protocol": "ip", "field": field } })
}

fn prefix(net: Ipv4Net) -> Value {
    json!({ "prefix": { "addr": net.network().to_string(), "len": net.prefix_len() } })
}

fn fib_daddr_local() -> Value {
    m(
        "==",
        json!({ "fib": { "result": "type", "flags": ["daddr"] } }),
        json!("local"),
    )
}

fn ct_dnat() -> Value {
    m("in", json!({ "ct": { "key": "status" } }), json!("dnat"))
}

fn verdict(v: &str) -> Value {
    json!({ v: null })
}

/// The nft JSON document that makes the table exactly `ruleset`.
///
/// Starts with `add table` + `delete table` so the delete never fails on a missing table, then
/// builds the whole table; nft runs the document as one transaction.
pub fn document(ruleset: &Ruleset) -> Result<Value, FirewallError> {
    ruleset.validate()?;
    let mut cmds = vec![
        json!({ "add": { "table": table() } }),
        json!({ "delete": { "table": table() } }),
        json!({ "add": { "table": table() } }),
        chain("prerouting", Some(("nat", "prerouting", -100))),
        chain("output", Some(("nat", "output", -100))),
        chain("postrouting", Some(("nat", "postrouting", 100))),
        chain("forward", Some(("filter", "forward", 0))),
        chain("published", None),
    ];

    // nat: packets for the host's own addresses look for a published port.
    for hook in ["prerouting", "output"] {
        cmds.push(rule(
            hook,
            vec![
                fib_daddr_local(),
                json!({ "jump": { "target": "published" } }),
            ],
        ));
    }
    for p in &ruleset.ports {
        cmds.extend(dnat_rules(p));
    }

    for n in &ruleset.networks {
        let br = json!(n.bridge);
        if !n.internal && n.masquerade {
            cmds.push(rule(
                "postrouting",
                vec![
                    m("==", ip("saddr"), prefix(n.subnet)),
                    m("!=", meta("oifname"), br.clone()),
                    verdict("masquerade"),
                ],
            ));
        }
        // Hairpin: from the subnet, DNATed back into the same bridge.
        cmds.push(rule(
            "postrouting",
            vec![
                m("==", ip("saddr"), prefix(n.subnet)),
                m("==", meta("oifname"), br.clone()),
                ct_dnat(),
                verdict("masquerade"),
            ],
        ));
        // The host's loopback reaching a published port (route_localnet).
        cmds.push(rule(
            "postrouting",
            vec![
                m(
                    "==",
                    ip("saddr"),
                    prefix(Ipv4Net::new(Ipv4Addr::new(127, 0, 0, 0), 8).expect("8 <= 32")),
                ),
                m("==", meta("oifname"), br.clone()),
                verdict("masquerade"),
            ],
        ));
    }

    // forward: order matters, first match wins within this chain.
    for n in &ruleset.networks {
        let br = json!(n.bridge);
        cmds.push(rule(
            "forward",
            vec![
                m("==", meta("iifname"), br.clone()),
                m("==", meta("oifname"), br.clone()),
                verdict("accept"),
            ],
        ));
        if n.internal {
            cmds.push(rule(
                "forward",
                vec![m("==", meta("iifname"), br.clone()), verdict("drop")],
            ));
            cmds.push(rule(
                "forward",
                vec![m("==", meta("oifname"), br.clone()), verdict("drop")],
            ));
        }
    }
    cmds.push(rule(
        "forward",
        vec![
            m(
                "in",
                json!({ "ct": { "key": "state" } }),
                json!(["established", "related"]),
            ),
            verdict("accept"),
        ],
    ));
    for n in &ruleset.networks {
        let br = json!(n.bridge);
        if !n.internal {
            cmds.push(rule(
                "forward",
                vec![
                    m("==", meta("oifname"), br.clone()),
                    ct_dnat(),
                    verdict("accept"),
                ],
            ));
        }
        // Nothing else enters a bridge: not the outside, not another bridge.
        cmds.push(rule(
            "forward",
            vec![m("==", meta("oifname"), br.clone()), verdict("drop")],
        ));
    }
    // Egress last: every bridge's drops above must be seen before any bridge's accept.
    for n in &ruleset.networks {
        let br = json!(n.bridge);
        if !n.internal {
            cmds.push(rule(
                "forward",
                vec![m("==", meta("iifname"), br.clone()), verdict("accept")],
            ));
        }
    }
    Ok(json!({ "nftables": cmds }))
}

fn dnat_rules(p: &PortMapping) -> Vec<Value> {
    let daddr = if p.host_ip.is_unspecified() {
        m("==", meta("nfproto"), json!("ipv4"))
    } else {
        m("==", ip("daddr"), json!(p.host_ip.to_string()))
    };
    let proto = p.proto.as_str();
    let dport = |r: PortRange| {
        m(
            "==",
            json!({ "payload": { "protocol": proto, "field": "dport" } }),
            r.to_json(),
        )
    };
    let dnat = |port: u16| json!({ "dnat": { "family": "ip", "addr": p.container_ip.to_string(), "port": port } });
    let l4 = m("==", meta("l4proto"), json!(proto));
    if p.container_port.len() == 1 {
        return vec![rule(
            "published",
            vec![daddr, l4, dport(p.host_port), dnat(p.container_port.start)],
        )];
    }
    // Range to range: one rule per port, as nft cannot shift a port by an offset.
    (p.host_port.start..=p.host_port.end)
        .zip(p.container_port.start..=p.container_port.end)
        .map(|(h, c)| {
            rule(
                "published",
                vec![
                    daddr.clone(),
                    l4.clone(),
                    dport(PortRange::single(h)),
                    dnat(c),
                ],
            )
        })
        .collect()
}

/// Runs `nft -j -f -` with `doc` on stdin.
fn run_nft(doc: &Value) -> Result<(), FirewallError> {
    let program = "nft";
    let mut child = Command::new(program)
        .args(["-j", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| FirewallError::Spawn {
            program: program.to_string(),
            source,
        })?;
    let payload = doc.to_string();
    if let Some(mut stdin) = child.stdin.take() {
        // A write error means nft exited early; its status and stderr tell why.
        let _ = stdin.write_all(payload.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|source| FirewallError::Spawn {
            program: program.to_string(),
            source,
        })?;
    if !out.status.success() {
        return Err(FirewallError::Nft {
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// Makes the `inet berth` table exactly `ruleset`, atomically.
pub fn apply(ruleset: &Ruleset) -> Result<(), FirewallError> {
    apply_in(TABLE_NAME, ruleset)
}

/// Deletes the `inet berth` table; nothing happens when it does not exist.
pub fn remove() -> Result<(), FirewallError> {
    remove_in(TABLE_NAME)
}

/// Checks a table name: nft identifiers, and never another tool's well-known table.
pub fn validate_table(table: &str) -> Result<(), FirewallError> {
    if table.is_empty()
        || table.len() > 64
        || !table
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        || !table.as_bytes()[0].is_ascii_alphabetic()
    {
        return Err(FirewallError::Invalid {
            field: "table".into(),
            reason: format!(
                "{table:?} is not a table name (a letter, then [A-Za-z0-9_], at most 64)"
            ),
        });
    }
    Ok(())
}

/// [`document`] for a table of another name (`inet TABLE`): a host may run several daemons,
/// each owning its own table.
pub fn document_in(table: &str, ruleset: &Ruleset) -> Result<Value, FirewallError> {
    validate_table(table)?;
    let mut doc = document(ruleset)?;
    retarget(&mut doc, table);
    Ok(doc)
}

/// [`apply`] for the table `inet TABLE`.
pub fn apply_in(table: &str, ruleset: &Ruleset) -> Result<(), FirewallError> {
    run_nft(&document_in(table, ruleset)?)
}

/// [`remove`] for the table `inet TABLE`.
pub fn remove_in(table: &str) -> Result<(), FirewallError> {
    validate_table(table)?;
    let mut doc = json!({ "nftables": [
        { "add": { "table": table_object() } },
        { "delete": { "table": table_object() } },
    ] });
    retarget(&mut doc, table);
    run_nft(&doc)
}

/// Points every command of a document at `table`.
fn retarget(doc: &mut Value, table: &str) {
    let Some(cmds) = doc.get_mut("nftables").and_then(Value::as_array_mut) else {
        return;
    };
    for cmd in cmds {
        let Some(ops) = cmd.as_object_mut() else {
            continue;
        };
        for op in ops.values_mut() {
            let Some(kinds) = op.as_object_mut() else {
                continue;
            };
            for (kind, obj) in kinds.iter_mut() {
                let key = if kind == "table" { "name" } else { "table" };
                if let Some(o) = obj.as_object_mut() {
                    o.insert(key.into(), json!(table));
                }
            }
        }
    }
}

/// Fails with Docker's message when a host port of `mapping` is already bound by a socket of
/// the same protocol (tries to bind it on the mapping's host address; the socket is closed at
/// once).
pub fn check_ports_free(mapping: &PortMapping) -> Result<(), FirewallError> {
    for port in mapping.host_port.start..=mapping.host_port.end {
        check_port_free(mapping.proto, IpAddr::V4(mapping.host_ip), port)?;
    }
    Ok(())
}

/// Fails with "Bind for IP:PORT failed: port is already allocated" when `ip:port` cannot be
/// bound for `proto`.
pub fn check_port_free(proto: Proto, ip: IpAddr, port: u16) -> Result<(), FirewallError> {
    let addr = SocketAddr::new(ip, port);
    let taken = match proto {
        Proto::Tcp => TcpListener::bind(addr).is_err(),
        Proto::Udp => UdpSocket::bind(addr).is_err(),
    };
    if taken {
        return Err(FirewallError::PortAllocated { addr, proto });
    }
    Ok(())
}

#[cfg(test)]
mod tests;

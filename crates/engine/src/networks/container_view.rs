//! How a container's networks look in `docker inspect` (NetworkSettings) and `docker ps`
//! (Ports, NetworkSettings.Networks), in Docker's shapes.

use super::record::{Attachment, PublishedPort};
use crate::containers::ContainerRecord;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

fn endpoint_json(a: &Attachment, id: &str, user_network: bool) -> Value {
    let live = a.live.as_ref();
    let mut aliases = a.aliases.clone();
    if user_network && live.is_some() {
        // dockerd 20.10 adds the short id to a running container's aliases on user networks.
        let short: String = id.chars().take(12).collect();
        if !aliases.contains(&short) {
            aliases.push(short);
        }
    }
    json!({
        "IPAMConfig": a.ipv4_request.map(|ip| json!({"IPv4Address": ip.to_string()})),
        "Links": null,
        "Aliases": if aliases.is_empty() { Value::Null } else { json!(aliases) },
        "MacAddress": live.map(|l| l.mac.clone()).unwrap_or_default(),
        "DriverOpts": null,
        "NetworkID": a.network_id,
        "EndpointID": live.map(|l| l.endpoint_id.clone()).unwrap_or_default(),
        "Gateway": live.map(|l| l.gateway.to_string()).unwrap_or_default(),
        "IPAddress": live.map(|l| l.address.addr().to_string()).unwrap_or_default(),
        "IPPrefixLen": live.map(|l| l.address.prefix_len()).unwrap_or(0),
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "DNSNames": null,
    })
}

impl crate::Engine {
    fn is_user_network(&self, network_id: &str) -> bool {
        self.networks
            .lock()
            .records
            .get(network_id)
            .is_some_and(|r| r.is_bridge() && !r.is_default_bridge())
    }

    /// NetworkSettings.Networks, keyed by network name.
    pub(crate) fn networks_json(&self, rec: &ContainerRecord) -> Value {
        let mut m = Map::new();
        for a in &rec.networks.attachments {
            let user = self.is_user_network(&a.network_id);
            let mut ep = endpoint_json(a, &rec.id, user);
            if user && a.live.is_some() {
                let mut names = vec![rec.name.clone()];
                names.extend(a.aliases.iter().cloned());
                names.push(rec.id.chars().take(12).collect());
                ep["DNSNames"] = json!(names);
            }
            m.insert(a.network_name.clone(), ep);
        }
        Value::Object(m)
    }

    /// The whole NetworkSettings of `docker inspect`.
    pub(crate) fn network_settings_json(&self, rec: &ContainerRecord) -> Value {
        let running = rec.state.status.is_live();
        // The top-level address fields are the default bridge's, as in Docker.
        let bridge = rec.networks.attachments.iter().find(|a| {
            self.networks
                .lock()
                .records
                .get(&a.network_id)
                .is_some_and(|r| r.is_default_bridge())
        });
        let live = bridge.and_then(|a| a.live.as_ref());
        json!({
            "Bridge": "",
            "SandboxID": if running { rec.id.clone() } else { String::new() },
            "SandboxKey": if running && rec.state.pid > 0 {
                format!("/proc/{}/ns/net", rec.state.pid)
            } else {
                String::new()
            },
            "HairpinMode": false,
            "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0,
            "Ports": if running { ports_map(rec) } else { json!({}) },
            "SecondaryIPAddresses": null,
            "SecondaryIPv6Addresses": null,
            "EndpointID": live.map(|l| l.endpoint_id.clone()).unwrap_or_default(),
            "Gateway": live.map(|l| l.gateway.to_string()).unwrap_or_default(),
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "IPAddress": live.map(|l| l.address.addr().to_string()).unwrap_or_default(),
            "IPPrefixLen": live.map(|l| l.address.prefix_len()).unwrap_or(0),
            "IPv6Gateway": "",
            "MacAddress": live.map(|l| l.mac.clone()).unwrap_or_default(),
            "Networks": self.networks_json(rec),
        })
    }
}

fn key(p: &PublishedPort) -> String {
    format!("{}/{}", p.container_port, p.proto)
}

/// NetworkSettings.Ports: every exposed or published port, with its host bindings (null for
/// one exposed but not published).
pub fn ports_map(rec: &ContainerRecord) -> Value {
    let mut m: BTreeMap<String, Value> = BTreeMap::new();
    for e in rec.config.exposed_ports.clone().unwrap_or_default() {
        m.insert(e, Value::Null);
    }
    for p in &rec.networks.ports {
        let entry = m.entry(key(p)).or_insert(Value::Null);
        if entry.is_null() {
            *entry = json!([]);
        }
        if let Some(list) = entry.as_array_mut() {
            list.push(
                json!({"HostIp": p.host_ip.to_string(), "HostPort": p.host_port.to_string()}),
            );
        }
    }
    json!(m)
}

/// The `Ports` list of `docker ps` (published ones with IP and PublicPort, exposed ones with
/// the private port only).
pub fn ps_ports(rec: &ContainerRecord) -> Value {
    let mut out = Vec::new();
    let mut published = std::collections::BTreeSet::new();
    for p in &rec.networks.ports {
        published.insert(key(p));
        out.push(json!({
            "IP": p.host_ip.to_string(),
            "PrivatePort": p.container_port,
            "PublicPort": p.host_port,
            "Type": p.proto.as_str(),
        }));
    }
    for e in rec.config.exposed_ports.clone().unwrap_or_default() {
        if published.contains(&e) {
            continue;
        }
        if let Ok((port, proto)) = super::ports::parse_port_key(&e) {
            out.push(json!({"PrivatePort": port, "Type": proto.as_str()}));
        }
    }
    Value::Array(out)
}

//! `port CONTAINER [PRIVATE_PORT[/PROTO]]` and the PORTS column of `ps`, both as docker prints
//! them: host addresses joined like Go's `net.JoinHostPort` (`[::]:8080`), lines in natural
//! order, and consecutive ports of one address collapsed into ranges.

use super::super::client::enc;
use super::super::format::natural_cmp;
use super::super::{Ctx, StatusError};
use super::Arity;
use anyhow::{anyhow, Result};
use serde_json::Value;
use std::collections::HashMap;

#[derive(clap::Args, Debug)]
pub struct PortArgs {
    /// CONTAINER [PRIVATE_PORT[/PROTO]]
    #[arg(value_name = "CONTAINER [PRIVATE_PORT[/PROTO]]")]
    pub args: Vec<String>,
}

impl PortArgs {
    pub fn check(&self) -> Result<()> {
        Arity::Range(1, 2).check("port", "CONTAINER [PRIVATE_PORT[/PROTO]]", self.args.len())
    }
}

/// Go's `net.JoinHostPort`: IPv6 hosts in brackets.
pub fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

pub async fn run(ctx: &Ctx, a: PortArgs) -> Result<()> {
    let container = &a.args[0];
    let c = ctx
        .client
        .get_json(&format!("/containers/{}/json", enc(container)))
        .await?;
    let ports = &c["NetworkSettings"]["Ports"];
    let frontends = |key: &str| -> Vec<String> {
        ports[key]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| {
                join_host_port(
                    f["HostIp"].as_str().unwrap_or(""),
                    f["HostPort"].as_str().unwrap_or(""),
                )
            })
            .collect()
    };
    let mut out: Vec<String> = Vec::new();
    if let Some(spec) = a.args.get(1) {
        let (port, proto) = spec.split_once('/').unwrap_or((spec.as_str(), ""));
        let proto = if proto.is_empty() { "tcp" } else { proto };
        if let Err(e) = port.parse::<u16>() {
            let why = match e.kind() {
                std::num::IntErrorKind::PosOverflow => "value out of range",
                _ => "invalid syntax",
            };
            return Err(anyhow!(
                "Error: invalid port ({port}): strconv.ParseUint: parsing {port:?}: {why}"
            ));
        }
        out = frontends(&format!("{port}/{proto}"));
        if out.is_empty() {
            return Err(StatusError {
                code: 1,
                message: Some(format!(
                    "Error: No public port '{spec}' published for {container}"
                )),
            }
            .into());
        }
    } else if let Some(m) = ports.as_object() {
        for key in m.keys() {
            for f in frontends(key) {
                out.push(format!("{key} -> {f}"));
            }
        }
    }
    out.sort_by(|x, y| natural_cmp(x, y));
    for l in out {
        println!("{l}");
    }
    Ok(())
}

/// One entry of a container list's `Ports`.
struct Port {
    ip: String,
    private: u16,
    public: u16,
    proto: String,
}

/// docker's `DisplayablePorts`: sorted by private port, address, public port and protocol;
/// ports published on the same port number on one address (or not published) are collapsed
/// into ranges; other mappings follow, one by one.
pub fn displayable_ports(list: &Value) -> String {
    let num = |v: &Value| v.as_u64().and_then(|n| u16::try_from(n).ok()).unwrap_or(0);
    let mut ports: Vec<Port> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| Port {
            ip: p["IP"].as_str().unwrap_or("").to_string(),
            private: num(&p["PrivatePort"]),
            public: num(&p["PublicPort"]),
            proto: p["Type"].as_str().unwrap_or("").to_string(),
        })
        .collect();
    ports.sort_by(|a, b| {
        a.private
            .cmp(&b.private)
            .then_with(|| a.ip.cmp(&b.ip))
            .then_with(|| a.public.cmp(&b.public))
            .then_with(|| a.proto.cmp(&b.proto))
    });
    let mut groups: HashMap<String, (u16, u16)> = HashMap::new();
    let mut keys: Vec<String> = Vec::new();
    let mut result: Vec<String> = Vec::new();
    let mut mappings: Vec<String> = Vec::new();
    for p in &ports {
        let mut key = p.proto.clone();
        if !p.ip.is_empty() {
            if p.public != p.private {
                mappings.push(format!(
                    "{}->{}/{}",
                    join_host_port(&p.ip, &p.public.to_string()),
                    p.private,
                    p.proto
                ));
                continue;
            }
            key = format!("{}/{}", p.ip, p.proto);
        }
        match groups.get_mut(&key) {
            None => {
                groups.insert(key.clone(), (p.private, p.private));
                keys.push(key);
            }
            Some(g) if u32::from(p.private) == u32::from(g.1) + 1 => g.1 = p.private,
            Some(g) => {
                result.push(form_group(&key, g.0, g.1));
                *g = (p.private, p.private);
            }
        }
    }
    for k in &keys {
        let (first, last) = groups[k];
        result.push(form_group(k, first, last));
    }
    result.extend(mappings);
    result.join(", ")
}

fn form_group(key: &str, first: u16, last: u16) -> String {
    let (ip, proto) = match key.split_once('/') {
        Some((ip, proto)) => (ip, proto),
        None => ("", key),
    };
    let mut group = first.to_string();
    if first != last {
        group = format!("{group}-{last}");
    }
    if !ip.is_empty() {
        group = format!("{}->{group}", join_host_port(ip, &group));
    }
    format!("{group}/{proto}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ports_collapse_like_docker() {
        // dockerd's answer for -p 8080:80 -p 127.0.0.1:9000-9002:9000-9002/udp
        // --expose 7000-7001, in its own (unsorted) order.
        let list = json!([
            {"IP": "127.0.0.1", "PrivatePort": 9001, "PublicPort": 9001, "Type": "udp"},
            {"PrivatePort": 7001, "Type": "tcp"},
            {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
            {"IP": "::", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
            {"IP": "127.0.0.1", "PrivatePort": 9000, "PublicPort": 9000, "Type": "udp"},
            {"PrivatePort": 7000, "Type": "tcp"},
            {"IP": "127.0.0.1", "PrivatePort": 9002, "PublicPort": 9002, "Type": "udp"}
        ]);
        assert_eq!(
            displayable_ports(&list),
            "7000-7001/tcp, 127.0.0.1:9000-9002->9000-9002/udp, 0.0.0.0:8080->80/tcp, [::]:8080->80/tcp"
        );
        let list = json!([
            {"IP": "0.0.0.0", "PrivatePort": 6000, "PublicPort": 6000, "Type": "tcp"},
            {"IP": "::", "PrivatePort": 6000, "PublicPort": 6000, "Type": "tcp"},
            {"IP": "0.0.0.0", "PrivatePort": 6001, "PublicPort": 6001, "Type": "tcp"},
            {"IP": "::", "PrivatePort": 6001, "PublicPort": 6001, "Type": "tcp"},
            {"IP": "0.0.0.0", "PrivatePort": 6004, "PublicPort": 6004, "Type": "tcp"},
            {"IP": "::1", "PrivatePort": 7000, "PublicPort": 7000, "Type": "tcp"}
        ]);
        // A break in one address's run is printed at once; the other runs at the end.
        assert_eq!(
            displayable_ports(&list),
            "0.0.0.0:6000-6001->6000-6001/tcp, 0.0.0.0:6004->6004/tcp, [::]:6000-6001->6000-6001/tcp, [::1]:7000->7000/tcp"
        );
        assert_eq!(displayable_ports(&json!([])), "");
    }
}

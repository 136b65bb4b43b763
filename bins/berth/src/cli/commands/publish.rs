//! `-p/--publish` and `--expose` as docker parses them (go-connections' `nat.ParsePortSpecs`):
//! `[ip:][hostPort:]containerPort[/proto]`, ranges on either side (`8000-8010:80-90`, or a host
//! range for one container port), IPv6 addresses bare or in brackets, and docker's error texts.

use anyhow::{anyhow, bail, Result};
use serde_json::{json, Map, Value};
use std::net::IpAddr;

/// go-connections' `SplitProtoPort`: `80/udp` -> ("udp", "80"), `80` -> ("tcp", "80").
fn split_proto_port(raw: &str) -> (String, String) {
    let parts: Vec<&str> = raw.split('/').collect();
    if raw.is_empty() || parts[0].is_empty() {
        return (String::new(), String::new());
    }
    if parts.len() == 1 || parts[1].is_empty() {
        return ("tcp".into(), parts[0].into());
    }
    (parts[1].into(), parts[0].into())
}

/// Go's `strconv.ParseUint(s, 10, 16)` error text.
fn parse_u16(s: &str) -> Result<u16, String> {
    s.parse::<u16>().map_err(|e| {
        let why = if matches!(e.kind(), std::num::IntErrorKind::PosOverflow)
            && s.bytes().all(|b| b.is_ascii_digit())
        {
            "value out of range"
        } else {
            "invalid syntax"
        };
        format!("strconv.ParseUint: parsing {s:?}: {why}")
    })
}

/// go-connections' `ParsePortRange`: `80` or `80-90`.
fn parse_range(s: &str) -> Result<(u16, u16), String> {
    if s.is_empty() {
        return Err("empty string specified for ports".into());
    }
    let Some((a, b)) = s.split_once('-') else {
        let p = parse_u16(s)?;
        return Ok((p, p));
    };
    let b = b.split('-').next().unwrap_or(b);
    let (start, end) = (parse_u16(a)?, parse_u16(b)?);
    if end < start {
        return Err(format!("invalid range specified for port: {s}"));
    }
    Ok((start, end))
}

/// One `-p` value as (port key, HostIp, HostPort) mappings.
pub fn parse_port_spec(raw: &str) -> Result<Vec<(String, String, String)>> {
    let parts: Vec<&str> = raw.split(':').collect();
    let n = parts.len();
    let (mut ip, host, container) = match n {
        1 => (String::new(), "", parts[0]),
        2 => (String::new(), parts[0], parts[1]),
        3 => (parts[0].to_string(), parts[1], parts[2]),
        _ => (parts[..n - 2].join(":"), parts[n - 2], parts[n - 1]),
    };
    let (proto, container) = split_proto_port(container);
    if ip.starts_with('[') {
        ip = match ip.strip_prefix('[').and_then(|i| i.strip_suffix(']')) {
            Some(i) if !i.contains(['[', ']']) => i.to_string(),
            _ => bail!("invalid IP address {ip}: address {ip}:: missing port in address"),
        };
    }
    if !ip.is_empty() && ip.parse::<IpAddr>().is_err() {
        bail!("invalid IP address: {ip}");
    }
    if container.is_empty() {
        bail!("no port specified: {raw}<empty>");
    }
    let (start, end) =
        parse_range(&container).map_err(|_| anyhow!("invalid containerPort: {container}"))?;
    let (hstart, hend) = if host.is_empty() {
        (0, 0)
    } else {
        parse_range(host).map_err(|_| anyhow!("invalid hostPort: {host}"))?
    };
    if !host.is_empty() && end - start != hend - hstart && end != start {
        bail!("invalid ranges specified for container and host Ports: {container} and {host}");
    }
    let proto = proto.to_lowercase();
    if !["tcp", "udp", "sctp"].contains(&proto.as_str()) {
        bail!("invalid proto: {proto}");
    }
    let mut out = Vec::new();
    for i in 0..=(end - start) {
        let mut host_port = if host.is_empty() {
            String::new()
        } else {
            (u32::from(hstart) + u32::from(i)).to_string()
        };
        // One container port and a host range: the daemon picks a free port in the range.
        if start == end && hstart != hend {
            host_port = format!("{host_port}-{hend}");
        }
        out.push((format!("{}/{proto}", start + i), ip.clone(), host_port));
    }
    Ok(out)
}

/// ExposedPorts and PortBindings for `--expose` and `-p` values, in docker's shapes.
pub fn ports(
    expose: &[String],
    publish: &[String],
) -> Result<(Map<String, Value>, Map<String, Value>)> {
    let mut exposed = Map::new();
    let mut bindings: Map<String, Value> = Map::new();
    for p in publish {
        for (key, ip, host) in parse_port_spec(p)? {
            exposed.insert(key.clone(), json!({}));
            let entry = bindings.entry(key).or_insert_with(|| json!([]));
            if let Value::Array(a) = entry {
                a.push(json!({"HostIp": ip, "HostPort": host}));
            }
        }
    }
    for e in expose {
        if e.contains(':') {
            bail!("invalid port format for --expose: {e}");
        }
        let (proto, port) = split_proto_port(e);
        let (start, end) = parse_range(&port)
            .map_err(|why| anyhow!("invalid range format for --expose: {e}, error: {why}"))?;
        for p in start..=end {
            exposed.entry(format!("{p}/{proto}")).or_insert(json!({}));
        }
    }
    Ok((exposed, bindings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> Vec<(String, String, String)> {
        parse_port_spec(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err(s: &str) -> String {
        parse_port_spec(s).expect_err(s).to_string()
    }

    fn m(k: &str, ip: &str, h: &str) -> (String, String, String) {
        (k.into(), ip.into(), h.into())
    }

    #[test]
    fn specs_parse_like_nat_parse_port_specs() {
        assert_eq!(spec("80"), [m("80/tcp", "", "")]);
        assert_eq!(spec("8080:80/TCP"), [m("80/tcp", "", "8080")]);
        assert_eq!(
            spec("8000-8001:80-81/udp"),
            [m("80/udp", "", "8000"), m("81/udp", "", "8001")]
        );
        assert_eq!(spec("8000-8001:80"), [m("80/tcp", "", "8000-8001")]);
        assert_eq!(spec("[::1]:80:80"), [m("80/tcp", "::1", "80")]);
        assert_eq!(spec("::1:80:80"), [m("80/tcp", "::1", "80")]);
        assert_eq!(spec("1.2.3.4::80"), [m("80/tcp", "1.2.3.4", "")]);
        assert_eq!(spec(":80"), [m("80/tcp", "", "")]);
        assert_eq!(spec("80/tcp/x"), [m("80/tcp", "", "")]);
        assert_eq!(spec("80/sctp"), [m("80/sctp", "", "")]);
    }

    #[test]
    fn spec_errors_are_dockers() {
        assert_eq!(err("abc"), "invalid containerPort: abc");
        assert_eq!(err("80:abc"), "invalid containerPort: abc");
        assert_eq!(err("70000"), "invalid containerPort: 70000");
        assert_eq!(err("80-70"), "invalid containerPort: 80-70");
        assert_eq!(err("1.2.3.4:80"), "invalid hostPort: 1.2.3.4");
        assert_eq!(err("80/xyz"), "invalid proto: xyz");
        assert_eq!(err("a:b:c:d"), "invalid IP address: a:b");
        assert_eq!(err("80:"), "no port specified: 80:<empty>");
        assert_eq!(
            err("8000:80-81"),
            "invalid ranges specified for container and host Ports: 80-81 and 8000"
        );
    }

    #[test]
    fn expose_ranges() {
        let (e, _) = ports(&["7000-7002".into(), "5/TCP".into()], &[]).expect("valid");
        let keys: Vec<&String> = e.keys().collect();
        assert_eq!(keys, ["5/TCP", "7000/tcp", "7001/tcp", "7002/tcp"]);
        assert_eq!(
            ports(&["abc".into()], &[]).expect_err("invalid").to_string(),
            "invalid range format for --expose: abc, error: strconv.ParseUint: parsing \"abc\": invalid syntax"
        );
        assert_eq!(
            ports(&["9:8".into()], &[])
                .expect_err("invalid")
                .to_string(),
            "invalid port format for --expose: 9:8"
        );
    }
}

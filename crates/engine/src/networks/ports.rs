//! Published ports: what `-p` / `-P` ask for (HostConfig.PortBindings, PublishAllPorts with
//! the image's ExposedPorts) and the host ports they get.
//!
//! The firewall DNATs a published port to the container; no userland proxy copies the bytes
//! (see berth-net's firewall module for why). To keep Docker's guarantee that a published port
//! belongs to the container, the daemon holds a socket bound (never listening) on each host
//! port: a host program that tries to take it later fails with "address already in use", and
//! one that holds it already makes the publication fail with an error naming the port.

use super::record::PublishedPort;
use super::State;
use crate::error::{Error, Result};
use berth_net::firewall::Proto;
use bollard_stubs::models::{ContainerConfig, HostConfig};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::OwnedFd;

/// One port to publish, before a host port is chosen.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct PortRequest {
    pub proto: Proto,
    pub container_port: u16,
    pub host_ip: Ipv4Addr,
    /// The host port or range to pick from; None: an ephemeral port.
    pub host_ports: Option<(u16, u16)>,
}

/// "80/tcp" -> (80, tcp); the protocol defaults to tcp.
pub(crate) fn parse_port_key(key: &str) -> Result<(u16, Proto)> {
    let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    let proto = match proto.to_ascii_lowercase().as_str() {
        "tcp" => Proto::Tcp,
        "udp" => Proto::Udp,
        other => {
            return Err(Error::InvalidArgument(format!(
                "invalid port {key:?}: protocol {other:?} is not supported (tcp or udp)"
            )))
        }
    };
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| {
            Error::InvalidArgument(format!("invalid port {key:?}: not a port number"))
        })?;
    Ok((port, proto))
}

fn parse_host_port(key: &str, s: &str) -> Result<Option<(u16, u16)>> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let bad = || {
        Error::InvalidArgument(format!(
            "HostConfig.PortBindings[{key:?}]: invalid host port {s:?}"
        ))
    };
    let one = |p: &str| p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(bad);
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (one(a)?, one(b)?);
            if b < a {
                return Err(bad());
            }
            Ok(Some((a, b)))
        }
        None => {
            let p = one(s)?;
            Ok(Some((p, p)))
        }
    }
}

/// The ports a container asks to publish, sorted.
pub(crate) fn requests(config: &ContainerConfig, hc: &HostConfig) -> Result<Vec<PortRequest>> {
    let mut out = Vec::new();
    let bindings = hc.port_bindings.clone().unwrap_or_default();
    for (key, list) in &bindings {
        let (container_port, proto) = parse_port_key(key)?;
        let list = list.clone().unwrap_or_default();
        if list.is_empty() {
            out.push(PortRequest {
                proto,
                container_port,
                host_ip: Ipv4Addr::UNSPECIFIED,
                host_ports: None,
            });
        }
        for b in list {
            let ip = b.host_ip.as_deref().unwrap_or("").trim();
            let host_ip = match ip {
                "" => Ipv4Addr::UNSPECIFIED,
                // IPv6 bindings (docker CLI adds none by default): no IPv6 networks yet.
                _ if ip.contains(':') => continue,
                _ => ip.parse::<Ipv4Addr>().map_err(|_| {
                    Error::InvalidArgument(format!(
                        "HostConfig.PortBindings[{key:?}]: invalid host IP {ip:?}"
                    ))
                })?,
            };
            out.push(PortRequest {
                proto,
                container_port,
                host_ip,
                host_ports: parse_host_port(key, b.host_port.as_deref().unwrap_or(""))?,
            });
        }
    }
    if hc.publish_all_ports == Some(true) {
        for key in config.exposed_ports.clone().unwrap_or_default() {
            if bindings.contains_key(&key) {
                continue;
            }
            let (container_port, proto) = parse_port_key(&key)?;
            out.push(PortRequest {
                proto,
                container_port,
                host_ip: Ipv4Addr::UNSPECIFIED,
                host_ports: None,
            });
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The kernel's ephemeral port range (Docker's portallocator uses it too).
fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(|x| x.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        })
        .filter(|(a, b)| a <= b)
        .unwrap_or((49153, 65535))
}

/// Binds (without listening) the host port; the socket holds it for the container.
pub(crate) fn reserve(proto: Proto, ip: Ipv4Addr, port: u16) -> std::io::Result<OwnedFd> {
    use rustix::net::{bind, socket_with, AddressFamily, SocketFlags, SocketType};
    let kind = match proto {
        Proto::Tcp => SocketType::STREAM,
        Proto::Udp => SocketType::DGRAM,
    };
    let fd = socket_with(AddressFamily::INET, kind, SocketFlags::CLOEXEC, None)?;
    bind(&fd, &SocketAddrV4::new(ip, port))?;
    Ok(fd)
}

fn clashes(st: &State, proto: Proto, ip: Ipv4Addr, port: u16) -> bool {
    st.reserved.keys().any(|(p, i, n)| {
        *p == proto && *n == port && (*i == ip || i.is_unspecified() || ip.is_unspecified())
    })
}

/// Gives each request a host port and reserves it for container `id`. On error nothing of
/// this call stays reserved.
pub(crate) fn allocate(
    st: &mut State,
    id: &str,
    reqs: &[PortRequest],
) -> Result<(Vec<PublishedPort>, Vec<OwnedFd>)> {
    let mut ports = Vec::new();
    let mut fds = Vec::new();
    let result = (|| -> Result<()> {
        for r in reqs {
            let explicit = r.host_ports.is_some();
            let (lo, hi) = r.host_ports.unwrap_or_else(ephemeral_range);
            let span = u32::from(hi - lo) + 1;
            // Ephemeral ports go round the range, so a port just freed is not reused at once.
            let start = if explicit || st.next_port < lo || st.next_port > hi {
                lo
            } else {
                st.next_port
            };
            let mut last_err = None;
            let mut got = None;
            for i in 0..span {
                let port = (u32::from(start - lo) + i) % span + u32::from(lo);
                let port = port as u16;
                if clashes(st, r.proto, r.host_ip, port) {
                    last_err = Some(Error::Conflict(format!(
                        "Bind for {}:{port} failed: port is already allocated",
                        r.host_ip
                    )));
                    continue;
                }
                match reserve(r.proto, r.host_ip, port) {
                    Ok(fd) => {
                        got = Some((port, fd));
                        break;
                    }
                    Err(e) => {
                        last_err = Some(Error::Conflict(format!(
                            "driver failed programming external connectivity: cannot publish {}:{port}/{}: {} (the host port is taken by a program of the host)",
                            r.host_ip,
                            r.proto,
                            if e.raw_os_error() == Some(libc::EADDRINUSE) {
                                "address already in use".to_string()
                            } else {
                                e.to_string()
                            }
                        )));
                    }
                }
            }
            let Some((port, fd)) = got else {
                return Err(last_err
                    .unwrap_or_else(|| Error::Conflict("no free host port to publish on".into())));
            };
            if !explicit {
                st.next_port = port.wrapping_add(1);
            }
            st.reserved
                .insert((r.proto, r.host_ip, port), id.to_string());
            fds.push(fd);
            ports.push(PublishedPort {
                proto: r.proto,
                container_port: r.container_port,
                host_ip: r.host_ip,
                host_port: port,
            });
        }
        Ok(())
    })();
    if let Err(e) = result {
        for p in &ports {
            st.reserved.remove(&(p.proto, p.host_ip, p.host_port));
        }
        return Err(e);
    }
    Ok((ports, fds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard_stubs::models::PortBinding;
    use std::collections::HashMap;

    fn hc(bindings: &[(&str, &str, &str)], all: bool) -> HostConfig {
        let mut m: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
        for (k, ip, port) in bindings {
            m.entry(k.to_string())
                .or_insert_with(|| Some(Vec::new()))
                .as_mut()
                .expect("some")
                .push(PortBinding {
                    host_ip: Some(ip.to_string()),
                    host_port: Some(port.to_string()),
                });
        }
        HostConfig {
            port_bindings: Some(m),
            publish_all_ports: Some(all),
            ..Default::default()
        }
    }

    #[test]
    fn requests_follow_docker() {
        let config = ContainerConfig {
            exposed_ports: Some(vec!["80/tcp".into(), "53/udp".into()]),
            ..Default::default()
        };
        let r = requests(
            &config,
            &hc(
                &[("80/tcp", "", "8080"), ("90", "127.0.0.1", "9000-9010")],
                true,
            ),
        )
        .expect("valid");
        assert_eq!(r.len(), 3, "{r:?}");
        assert!(r.contains(&PortRequest {
            proto: Proto::Udp,
            container_port: 53,
            host_ip: Ipv4Addr::UNSPECIFIED,
            host_ports: None
        }));
        assert!(r.contains(&PortRequest {
            proto: Proto::Tcp,
            container_port: 90,
            host_ip: Ipv4Addr::LOCALHOST,
            host_ports: Some((9000, 9010))
        }));
        let e = requests(&config, &hc(&[("80/sctp", "", "1")], false)).expect_err("sctp");
        assert!(e.to_string().contains("sctp"), "{e}");
        let e = requests(&config, &hc(&[("80", "nope", "1")], false)).expect_err("ip");
        assert!(e.to_string().contains("nope"), "{e}");
        let e = requests(&config, &hc(&[("80", "", "70000")], false)).expect_err("port");
        assert!(e.to_string().contains("70000"), "{e}");
    }

    #[test]
    fn allocation_skips_taken_ports_and_undoes_on_error() {
        let mut st = State::default();
        // A host program holds one port.
        let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let held = holder.local_addr().expect("addr").port();
        let req = |ports| PortRequest {
            proto: Proto::Tcp,
            container_port: 80,
            host_ip: Ipv4Addr::LOCALHOST,
            host_ports: ports,
        };
        let e = allocate(&mut st, "a", &[req(Some((held, held)))]).expect_err("taken");
        assert!(e.to_string().contains(&held.to_string()), "{e}");
        assert!(st.reserved.is_empty());
        let (ports, fds) = allocate(&mut st, "a", &[req(None)]).expect("ephemeral");
        assert_eq!(fds.len(), 1);
        let p = ports[0].host_port;
        // The reserving socket makes the port unavailable to host programs...
        assert!(std::net::TcpListener::bind(("127.0.0.1", p)).is_err());
        // ...and to another container, with Docker's message.
        let e = allocate(&mut st, "b", &[req(Some((p, p)))]).expect_err("allocated");
        assert!(e.to_string().contains("port is already allocated"), "{e}");
        drop(fds);
        assert!(std::net::TcpListener::bind(("127.0.0.1", p)).is_ok());
    }
}

//! The container's /etc/hostname, /etc/hosts and /etc/resolv.conf, written into its own
//! directory and bind-mounted (Docker keeps them outside the image so that editing them does
//! not touch the image and so that they follow the container's network settings).

use crate::{Error, Result};
use bollard_stubs::models::HostConfig;
use std::path::{Path, PathBuf};

/// Where the generated files were written.
#[derive(Debug, Clone)]
pub struct EtcFiles {
    pub hostname: PathBuf,
    pub hosts: PathBuf,
    pub resolv_conf: PathBuf,
}

/// Docker's hosts file for a container without a network address yet.
pub const DEFAULT_HOSTS: &str = "127.0.0.1\tlocalhost\n\
::1\tlocalhost ip6-localhost ip6-loopback\n\
fe00::0\tip6-localnet\n\
ff00::0\tip6-mcastprefix\n\
ff02::1\tip6-allnodes\n\
ff02::2\tip6-allrouters\n";

/// The nameservers Docker falls back to when the host only has local ones.
pub const FALLBACK_NAMESERVERS: &[&str] = &["8.8.8.8", "8.8.4.4"];

/// Writes the three files into `dir` (atomically) and returns their paths.
pub fn write(
    dir: &Path,
    hostname: &str,
    domainname: &str,
    hc: &HostConfig,
    host_network: bool,
    net: &super::NetworkInput,
) -> Result<EtcFiles> {
    let mut hosts = hosts_file(
        hc.extra_hosts.as_deref().unwrap_or_default(),
        host_network.then(|| read_host("/etc/hosts")).transpose()?,
    )?;
    // Docker's line for the container's own address: "IP\tFQDN HOSTNAME" (or "IP\tHOSTNAME").
    for ip in &net.addresses {
        if domainname.is_empty() {
            hosts.push_str(&format!("{ip}\t{hostname}\n"));
        } else {
            hosts.push_str(&format!("{ip}\t{hostname}.{domainname} {hostname}\n"));
        }
    }
    let pick = |own: Option<&Vec<String>>, default: &Vec<String>| -> Vec<String> {
        match own {
            Some(v) if !v.is_empty() => v.clone(),
            _ => default.clone(),
        }
    };
    let dns = pick(hc.dns.as_ref(), &net.default_dns);
    let search = pick(hc.dns_search.as_ref(), &net.default_dns_search);
    let options = pick(hc.dns_options.as_ref(), &net.default_dns_opts);
    let resolv = if net.embedded_dns {
        embedded_resolv_conf(&host_resolv_conf()?, &search, &options)
    } else {
        resolv_conf(&host_resolv_conf()?, &dns, &search, &options, host_network)
    };
    let files = EtcFiles {
        hostname: dir.join("hostname"),
        hosts: dir.join("hosts"),
        resolv_conf: dir.join("resolv.conf"),
    };
    write_atomic(&files.hostname, format!("{hostname}\n").as_bytes())?;
    write_atomic(&files.hosts, hosts.as_bytes())?;
    write_atomic(&files.resolv_conf, resolv.as_bytes())?;
    Ok(files)
}

fn read_host(path: &str) -> Result<String> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(s),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(Error::internal(format!("reading the host's {path}"), e)),
    }
}

/// The host's resolv.conf; behind systemd-resolved's stub (127.0.0.53) the upstream list it
/// keeps in /run/systemd/resolve/resolv.conf, as Docker does.
fn host_resolv_conf() -> Result<String> {
    let main = read_host("/etc/resolv.conf")?;
    let ns = parse_resolv(&main).nameservers;
    if !ns.is_empty() && ns.iter().all(|n| n == "127.0.0.53") {
        let upstream = read_host("/run/systemd/resolve/resolv.conf")?;
        if !upstream.is_empty() {
            return Ok(upstream);
        }
    }
    Ok(main)
}

fn write_atomic(path: &Path, content: &[u8]) -> Result<()> {
    // 0644 whatever the daemon's umask: the container's user, root or not, reads these files.
    crate::util::write_atomic_mode(path, content, Some(0o644))
        .map_err(|e| Error::internal(format!("writing {}", path.display()), e))
}

/// /etc/hosts: Docker's defaults (or the host's file with a host network) followed by
/// HostConfig.ExtraHosts ("name:ip" or "name=ip").
pub fn hosts_file(extra_hosts: &[String], host_file: Option<String>) -> Result<String> {
    let mut out = host_file.unwrap_or_else(|| DEFAULT_HOSTS.to_string());
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    for e in extra_hosts {
        let (name, ip) = e
            .split_once('=')
            .or_else(|| e.split_once(':'))
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "invalid HostConfig.ExtraHosts entry {e:?}: expected NAME:IP"
                ))
            })?;
        let ip = ip.trim_start_matches('[').trim_end_matches(']');
        if ip == "host-gateway" {
            return Err(Error::InvalidArgument(format!(
                "HostConfig.ExtraHosts {e:?}: host-gateway is not supported yet"
            )));
        }
        if name.is_empty() || ip.parse::<std::net::IpAddr>().is_err() {
            return Err(Error::InvalidArgument(format!(
                "invalid HostConfig.ExtraHosts entry {e:?}: invalid IP address {ip:?}"
            )));
        }
        out.push_str(&format!("{ip}\t{name}\n"));
    }
    Ok(out)
}

#[derive(Debug, Default)]
struct Resolv {
    nameservers: Vec<String>,
    search: Option<Vec<String>>,
    options: Option<Vec<String>>,
}

fn parse_resolv(content: &str) -> Resolv {
    let mut r = Resolv::default();
    for line in content.lines() {
        let mut f = line.split_whitespace();
        match f.next() {
            Some("nameserver") => r.nameservers.extend(f.next().map(str::to_string)),
            Some("search") | Some("domain") => r.search = Some(f.map(str::to_string).collect()),
            Some("options") => r.options = Some(f.map(str::to_string).collect()),
            _ => {}
        }
    }
    r
}

fn is_local_or_v6(ns: &str) -> bool {
    match ns.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => v4.is_loopback(),
        // No IPv6 in container networks yet, so v6 servers are unreachable (Docker drops them
        // on networks without IPv6).
        Ok(std::net::IpAddr::V6(_)) => true,
        Err(_) => true,
    }
}

/// The container's resolv.conf from the host's: the host's own with a host network and no
/// overrides; otherwise without loopback (and IPv6) nameservers, falling back to Google's
/// public ones when none remain, with Dns / DnsSearch / DnsOptions replacing their lines.
pub fn resolv_conf(
    host: &str,
    dns: &[String],
    search: &[String],
    options: &[String],
    host_network: bool,
) -> String {
    if dns.is_empty() && search.is_empty() && options.is_empty() {
        if host_network {
            return host.to_string();
        }
        let mut out = String::new();
        let mut kept = 0;
        for line in host.lines() {
            let mut f = line.split_whitespace();
            if f.next() == Some("nameserver") {
                match f.next() {
                    Some(ns) if !is_local_or_v6(ns) => kept += 1,
                    _ => continue,
                }
            }
            out.push_str(line);
            out.push('\n');
        }
        if kept == 0 {
            for ns in FALLBACK_NAMESERVERS {
                out.push_str(&format!("nameserver {ns}\n"));
            }
        }
        return out;
    }
    let parsed = parse_resolv(host);
    let nameservers: Vec<String> = if dns.is_empty() {
        let kept: Vec<String> = parsed
            .nameservers
            .into_iter()
            .filter(|n| host_network || !is_local_or_v6(n))
            .collect();
        if kept.is_empty() {
            FALLBACK_NAMESERVERS.iter().map(|s| s.to_string()).collect()
        } else {
            kept
        }
    } else {
        dns.to_vec()
    };
    let search: Vec<String> = if search.is_empty() {
        parsed.search.unwrap_or_default()
    } else if search.iter().all(|s| s == ".") {
        // Docker: "." means no search domains.
        Vec::new()
    } else {
        search.to_vec()
    };
    let options: Vec<String> = if options.is_empty() {
        parsed.options.unwrap_or_default()
    } else {
        options.to_vec()
    };
    let mut out = String::new();
    for ns in nameservers {
        out.push_str(&format!("nameserver {ns}\n"));
    }
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

/// resolv.conf on a user network (Docker's): the embedded server, which forwards to the
/// `--dns` servers or the host's; the host's (or `--dns-search`) search domains; `ndots:0`
/// then the host's (or `--dns-option`) options.
pub fn embedded_resolv_conf(host: &str, search: &[String], options: &[String]) -> String {
    let parsed = parse_resolv(host);
    let search: Vec<String> = if search.is_empty() {
        parsed.search.unwrap_or_default()
    } else if search.iter().all(|s| s == ".") {
        Vec::new()
    } else {
        search.to_vec()
    };
    let mut opts = vec!["ndots:0".to_string()];
    let extra = if options.is_empty() {
        parsed.options.unwrap_or_default()
    } else {
        options.to_vec()
    };
    for o in extra {
        if o.starts_with("ndots:") {
            opts[0] = o;
        } else if !opts.contains(&o) {
            opts.push(o);
        }
    }
    let mut out = format!("nameserver {}\n", berth_net::dns::CONTAINER_DNS_ADDR);
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    out.push_str(&format!("options {}\n", opts.join(" ")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn hosts_defaults_and_extra_hosts() {
        let h = hosts_file(&s(&["db:10.0.0.5", "v6=::1", "x:[fe80::1]"]), None).expect("ok");
        assert!(h.starts_with("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"));
        assert!(h.contains("ff02::2\tip6-allrouters\n"));
        assert!(h.ends_with("10.0.0.5\tdb\n::1\tv6\nfe80::1\tx\n"), "{h}");
        let e = hosts_file(&s(&["db:notanip"]), None).expect_err("must fail");
        assert!(e.to_string().contains("HostConfig.ExtraHosts"), "{e}");
        let host = hosts_file(&[], Some("1.2.3.4 myhost".into())).expect("ok");
        assert_eq!(host, "1.2.3.4 myhost\n");
    }

    #[test]
    fn resolv_drops_local_nameservers_and_falls_back() {
        let host = "# generated\nnameserver 127.0.0.1\nsearch example.com\n";
        let r = resolv_conf(host, &[], &[], &[], false);
        assert_eq!(
            r,
            "# generated\nsearch example.com\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        let keep = resolv_conf(
            "nameserver 10.1.1.1\nnameserver ::1\n",
            &[],
            &[],
            &[],
            false,
        );
        assert_eq!(keep, "nameserver 10.1.1.1\n");
        // Host network: the host's file as is.
        assert_eq!(resolv_conf(host, &[], &[], &[], true), host);
    }

    #[test]
    fn embedded_dns_resolv_conf() {
        let host = "nameserver 10.1.1.1\nsearch a.example\noptions ndots:2 rotate\n";
        assert_eq!(
            embedded_resolv_conf(host, &[], &[]),
            "nameserver 127.0.0.11\nsearch a.example\noptions ndots:2 rotate\n"
        );
        assert_eq!(
            embedded_resolv_conf("nameserver 1.1.1.1\n", &s(&["x.example"]), &[]),
            "nameserver 127.0.0.11\nsearch x.example\noptions ndots:0\n"
        );
    }

    #[test]
    fn resolv_overrides() {
        let host = "nameserver 10.1.1.1\nsearch a.example\noptions ndots:2\n";
        let r = resolv_conf(host, &s(&["1.1.1.1"]), &[], &[], false);
        assert_eq!(r, "nameserver 1.1.1.1\nsearch a.example\noptions ndots:2\n");
        let r = resolv_conf(
            host,
            &[],
            &s(&["b.example", "c.example"]),
            &s(&["rotate"]),
            false,
        );
        assert_eq!(
            r,
            "nameserver 10.1.1.1\nsearch b.example c.example\noptions rotate\n"
        );
        let r = resolv_conf(host, &[], &s(&["."]), &[], false);
        assert_eq!(r, "nameserver 10.1.1.1\noptions ndots:2\n");
    }

    #[test]
    fn writes_the_three_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let hc = HostConfig {
            extra_hosts: Some(s(&["api:192.0.2.1"])),
            dns: Some(s(&["9.9.9.9"])),
            ..Default::default()
        };
        let net = super::super::NetworkInput {
            addresses: vec!["172.17.0.2".parse().expect("ip")],
            ..Default::default()
        };
        let f = write(dir.path(), "abc123", "", &hc, false, &net).expect("ok");
        assert_eq!(
            std::fs::read_to_string(&f.hostname).expect("ok"),
            "abc123\n"
        );
        assert!(std::fs::read_to_string(&f.hosts)
            .expect("ok")
            .ends_with("192.0.2.1\tapi\n172.17.0.2\tabc123\n"));
        assert!(std::fs::read_to_string(&f.resolv_conf)
            .expect("ok")
            .starts_with("nameserver 9.9.9.9\n"));
        // Nothing else left behind (no temp files).
        assert_eq!(std::fs::read_dir(dir.path()).expect("ok").count(), 3);
    }
}

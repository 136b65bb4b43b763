//! Image references with Docker's normalization (`busybox` -> `docker.io/library/busybox:latest`)
//! and the registry configuration that decides mirrors and when plain HTTP is allowed.

use crate::digest::Digest;
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

/// The registry name Docker uses for Docker Hub.
pub const DOCKER_HUB: &str = "docker.io";
/// The host that actually serves Docker Hub's registry API.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// A fully qualified image reference: registry, repository, and a tag and/or a digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses and normalizes like Docker: a missing registry is docker.io, a one-component
    /// Docker Hub path gets `library/`, and a reference with neither tag nor digest gets `latest`.
    pub fn parse(input: &str) -> Result<Reference> {
        let bad = |reason: &str| Error::InvalidReference {
            input: input.to_string(),
            reason: reason.into(),
        };
        if input.is_empty() {
            return Err(bad("empty"));
        }
        if input.len() > 4096 {
            return Err(bad("longer than 4096 bytes"));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((r, d)) => (
                r,
                Some(d.parse::<Digest>().map_err(|e| bad(&e.to_string()))?),
            ),
            None => (input, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag {
            let ok = !tag.is_empty()
                && tag.len() <= 128
                && tag
                    .bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
                && tag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
            if !ok {
                return Err(bad(&format!("invalid tag {tag:?}")));
            }
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), rest.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        let registry = if registry == "index.docker.io" {
            DOCKER_HUB.to_string()
        } else {
            registry
        };
        validate_host(&registry).map_err(|r| bad(&r))?;
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        validate_path(&repository).map_err(|r| bad(&r))?;
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, None) => Some("latest".to_string()),
            (None, Some(_)) => None,
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// Registry host (with port), e.g. `docker.io` or `127.0.0.1:5000`.
    pub fn registry(&self) -> &str {
        &self.registry
    }
    /// Repository path, e.g. `library/busybox`.
    pub fn repository(&self) -> &str {
        &self.repository
    }
    /// Tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }
    /// Digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }
    /// What to ask the registry for: the digest when present, else the tag.
    pub fn object(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_string(),
        }
    }
    /// `registry/repository` without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
    /// The same repository with another tag (and no digest).
    pub fn with_tag(&self, tag: &str) -> Result<Reference> {
        Reference::parse(&format!("{}:{tag}", self.name()))
    }
    /// The same repository pinned to a digest (and no tag).
    pub fn with_digest(&self, digest: &Digest) -> Reference {
        Reference {
            digest: Some(digest.clone()),
            tag: None,
            ..self.clone()
        }
    }
    /// Docker's short display form (`busybox:latest`, `user/app:1`).
    pub fn familiar(&self) -> String {
        let mut s = if self.registry == DOCKER_HUB {
            self.repository
                .strip_prefix("library/")
                .unwrap_or(&self.repository)
                .to_string()
        } else {
            self.name()
        };
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(&d.to_string());
        }
        s
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Reference::parse(s)
    }
}

fn validate_host(host: &str) -> std::result::Result<(), String> {
    let (h, port) = split_host_port(host);
    if let Some(p) = port {
        if p.parse::<u16>().is_err() {
            return Err(format!("invalid port in registry {host:?}"));
        }
    }
    let h = h.trim_start_matches('[').trim_end_matches(']');
    if h.is_empty()
        || !h
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:".contains(&b))
    {
        return Err(format!("invalid registry host {host:?}"));
    }
    Ok(())
}

fn validate_path(path: &str) -> std::result::Result<(), String> {
    if path.len() > 255 {
        return Err("repository name longer than 255 characters".into());
    }
    for comp in path.split('/') {
        let ok = !comp.is_empty()
            && comp
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
            && comp
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphanumeric())
            && comp
                .bytes()
                .last()
                .is_some_and(|b| b.is_ascii_alphanumeric());
        if !ok {
            return Err(format!(
                "repository component {comp:?} must be lowercase letters, digits and separators (. _ -), starting and ending with a letter or digit"
            ));
        }
    }
    Ok(())
}

/// Splits `host:port` (also `[v6]:port`).
fn split_host_port(host: &str) -> (&str, Option<&str>) {
    if let Some(rest) = host.strip_prefix('[') {
        if let Some((h, after)) = rest.split_once(']') {
            return (h, after.strip_prefix(':'));
        }
    }
    match host.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, Some(p)),
        _ => (host, None),
    }
}

/// Where and how to reach registries: mirrors for a registry, and insecure registries that may
/// be reached over plain HTTP (Docker's `registry-mirrors` and `insecure-registries`).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct RegistryConfig {
    /// Registry name -> mirror base URLs tried first, in order (e.g. `docker.io` ->
    /// `["http://127.0.0.1:5000"]`).
    #[serde(default)]
    pub mirrors: HashMap<String, Vec<String>>,
    /// Registries (`host[:port]`) or IPv4 CIDRs (`10.0.0.0/8`) reachable over plain HTTP.
    #[serde(default)]
    pub insecure: Vec<String>,
}

/// One way to reach a registry: a base URL (scheme + host) and the name it answers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// e.g. `https://registry-1.docker.io` or `http://127.0.0.1:5000`.
    pub base: String,
    /// Whether this endpoint is a mirror (pushes never go to mirrors).
    pub mirror: bool,
}

impl RegistryConfig {
    /// Checks the configuration, naming the bad entry.
    pub fn validate(&self) -> Result<()> {
        for entry in &self.insecure {
            if entry.contains('/') {
                parse_cidr(entry).ok_or_else(|| Error::Config {
                    what: format!("insecure registry {entry:?}"),
                    reason: "expected host[:port] or an IPv4 CIDR like 10.0.0.0/8".into(),
                })?;
            } else {
                validate_host(entry).map_err(|reason| Error::Config {
                    what: format!("insecure registry {entry:?}"),
                    reason,
                })?;
            }
        }
        for (reg, list) in &self.mirrors {
            for m in list {
                if !(m.starts_with("http://") || m.starts_with("https://")) {
                    return Err(Error::Config {
                        what: format!("mirror {m:?} of {reg}"),
                        reason: "must start with http:// or https://".into(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Docker's rule: plain HTTP only for loopback (localhost, 127.0.0.0/8, ::1) and for
    /// registries listed as insecure (by name or by IPv4 CIDR).
    pub fn allows_http(&self, registry: &str) -> bool {
        let (host, _) = split_host_port(registry);
        if host == "localhost" {
            return true;
        }
        let ip = host.parse::<IpAddr>().ok();
        if ip.is_some_and(|ip| ip.is_loopback()) {
            return true;
        }
        self.insecure.iter().any(|entry| {
            if entry == registry || entry == host {
                return true;
            }
            match (parse_cidr(entry), ip) {
                (Some((net, bits)), Some(IpAddr::V4(v4))) => in_cidr(v4, net, bits),
                _ => false,
            }
        })
    }

    /// Endpoints to try for pulls, in order: mirrors, then the registry itself over HTTPS, then
    /// over HTTP when allowed.
    pub fn pull_endpoints(&self, registry: &str) -> Vec<Endpoint> {
        let mut out: Vec<Endpoint> = self
            .mirrors
            .get(registry)
            .into_iter()
            .flatten()
            .map(|m| Endpoint {
                base: m.trim_end_matches('/').to_string(),
                mirror: true,
            })
            .collect();
        out.extend(self.push_endpoints(registry));
        out
    }

    /// Endpoints to try for pushes (never mirrors).
    pub fn push_endpoints(&self, registry: &str) -> Vec<Endpoint> {
        let host = if registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            registry
        };
        let mut out = vec![Endpoint {
            base: format!("https://{host}"),
            mirror: false,
        }];
        if self.allows_http(registry) {
            // Loopback registries are nearly always plain HTTP: try that first so no TLS
            // handshake is wasted; insecure remote ones keep Docker's HTTPS-first order.
            let http = Endpoint {
                base: format!("http://{host}"),
                mirror: false,
            };
            if is_loopback_name(registry) {
                out.insert(0, http);
            } else {
                out.push(http);
            }
        }
        out
    }
}

fn is_loopback_name(registry: &str) -> bool {
    let (host, _) = split_host_port(registry);
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn parse_cidr(s: &str) -> Option<(Ipv4Addr, u8)> {
    let (ip, bits) = s.split_once('/')?;
    let bits: u8 = bits.parse().ok()?;
    (bits <= 32).then_some(())?;
    Some((ip.parse().ok()?, bits))
}

fn in_cidr(ip: Ipv4Addr, net: Ipv4Addr, bits: u8) -> bool {
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    (u32::from(ip) & mask) == (u32::from(net) & mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        Reference::parse(s).expect(s).to_string()
    }

    #[test]
    fn docker_normalization() {
        assert_eq!(norm("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(
            norm("library/busybox:1.36"),
            "docker.io/library/busybox:1.36"
        );
        assert_eq!(
            norm("index.docker.io/user/app"),
            "docker.io/user/app:latest"
        );
        assert_eq!(norm("user/app:v1"), "docker.io/user/app:v1");
        assert_eq!(norm("localhost/app"), "localhost/app:latest");
        assert_eq!(norm("127.0.0.1:5000/a/b:t"), "127.0.0.1:5000/a/b:t");
        assert_eq!(norm("quay.io/x/y"), "quay.io/x/y:latest");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("localhost:5000/app@{d}")).expect("digest ref");
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest().map(|d| d.to_string()), Some(d.clone()));
        assert_eq!(r.object(), d);
        let r = Reference::parse(&format!("app:1@{d}")).expect("tag+digest");
        assert_eq!(r.tag(), Some("1"));
        assert_eq!(r.familiar(), format!("app:1@{d}"));
        assert_eq!(
            Reference::parse("busybox").expect("ok").familiar(),
            "busybox:latest"
        );
    }

    #[test]
    fn rejects_bad_references() {
        for bad in [
            "",
            "UPPER/case",
            "a//b",
            "app:",
            "app:-x",
            "host:99999/a",
            "a@sha256:zz",
            "-a",
        ] {
            let err = Reference::parse(bad).expect_err(bad);
            assert!(err.to_string().contains("invalid image reference"), "{err}");
        }
    }

    #[test]
    fn http_only_for_loopback_and_insecure() {
        let cfg = RegistryConfig {
            insecure: vec!["myreg:5000".into(), "10.0.0.0/8".into()],
            mirrors: HashMap::from([(
                DOCKER_HUB.to_string(),
                vec!["http://127.0.0.1:5001".into()],
            )]),
        };
        cfg.validate().expect("valid");
        assert!(cfg.allows_http("localhost:5000"));
        assert!(cfg.allows_http("127.0.0.1:5000"));
        assert!(cfg.allows_http("127.9.9.9"));
        assert!(cfg.allows_http("[::1]:5000"));
        assert!(cfg.allows_http("myreg:5000"));
        assert!(cfg.allows_http("10.1.2.3:443"));
        assert!(!cfg.allows_http("11.1.2.3"));
        assert!(!cfg.allows_http("docker.io"));
        assert!(!cfg.allows_http("example.com"));
        let eps = cfg.pull_endpoints(DOCKER_HUB);
        assert_eq!(eps[0].base, "http://127.0.0.1:5001");
        assert!(eps[0].mirror);
        assert_eq!(eps[1].base, "https://registry-1.docker.io");
        assert_eq!(eps.len(), 2);
        assert_eq!(
            cfg.push_endpoints("127.0.0.1:5000")[0].base,
            "http://127.0.0.1:5000"
        );
        let bad = RegistryConfig {
            insecure: vec!["10.0.0.0/99".into()],
            ..Default::default()
        };
        assert!(bad
            .validate()
            .expect_err("bad cidr")
            .to_string()
            .contains("10.0.0.0/99"));
    }
}

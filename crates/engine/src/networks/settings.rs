//! The daemon-wide network settings from daemon.json (Docker's keys), parsed and checked once.

use crate::config::DaemonConfig;
use crate::{Error, Result};
use ipnet::{IpNet, Ipv4Net};
use std::net::{IpAddr, Ipv4Addr};

/// What the network layer needs from the daemon configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkSettings {
    /// The default bridge's interface; None when `"bridge": "none"`.
    pub bridge: Option<String>,
    /// The default bridge's gateway address with its prefix (`bip`), if given.
    pub bip: Option<Ipv4Net>,
    /// `fixed-cidr`: the default bridge's ip-range.
    pub fixed_cidr: Option<Ipv4Net>,
    /// Subnets for networks created without one: (base, prefix length of each subnet). Empty:
    /// Docker's default pools.
    pub pools: Vec<(Ipv4Net, u8)>,
    pub mtu: u32,
    pub firewall: bool,
    pub ip_forward: bool,
    pub ip_masq: bool,
    pub table: String,
    pub dns: Vec<IpAddr>,
    pub dns_search: Vec<String>,
    pub dns_opts: Vec<String>,
}

fn invalid(key: &str, value: &str, why: impl std::fmt::Display) -> Error {
    Error::InvalidArgument(format!("{key} {value:?}: {why}"))
}

fn parse_v4_net(key: &str, s: &str) -> Result<Ipv4Net> {
    s.parse::<Ipv4Net>().map_err(|e| {
        invalid(
            key,
            s,
            format!("{e} (expected an IPv4 CIDR such as 10.0.0.0/16)"),
        )
    })
}

impl NetworkSettings {
    /// Parses and checks the network keys, naming the key at fault.
    pub fn from_config(c: &DaemonConfig) -> Result<NetworkSettings> {
        let bridge = match c.bridge.as_str() {
            "none" => None,
            name => {
                berth_net::link::validate_name(name).map_err(|e| invalid("bridge", name, e))?;
                Some(name.to_string())
            }
        };
        let bip = c
            .bip
            .as_deref()
            .map(|s| {
                let n = parse_v4_net("bip", s)?;
                if n.addr() == n.network() || n.prefix_len() > 30 {
                    return Err(invalid(
                        "bip",
                        s,
                        "must be the bridge's own address with a prefix of at most /30, e.g. 172.17.0.1/16",
                    ));
                }
                Ok(n)
            })
            .transpose()?;
        let fixed_cidr = c
            .fixed_cidr
            .as_deref()
            .map(|s| parse_v4_net("fixed-cidr", s).map(|n| n.trunc()))
            .transpose()?;
        let mut pools = Vec::new();
        for (i, p) in c.default_address_pools.iter().enumerate() {
            let key = format!("default-address-pools[{i}].base");
            let base = parse_v4_net(&key, &p.base)?;
            if p.size < base.prefix_len() || p.size > 30 {
                return Err(invalid(
                    &format!("default-address-pools[{i}].size"),
                    &p.size.to_string(),
                    format!(
                        "must be between the base's prefix length ({}) and 30",
                        base.prefix_len()
                    ),
                ));
            }
            pools.push((base.trunc(), p.size));
        }
        if c.mtu < 68 || c.mtu > 65535 {
            return Err(invalid(
                "mtu",
                &c.mtu.to_string(),
                "must be between 68 and 65535",
            ));
        }
        let table = &c.firewall_table;
        if table.is_empty()
            || table.len() > 64
            || !table
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(invalid(
                "firewall-table",
                table,
                "must be 1-64 characters of [A-Za-z0-9_]",
            ));
        }
        let dns = c
            .dns
            .iter()
            .map(|s| s.parse::<IpAddr>().map_err(|e| invalid("dns", s, e)))
            .collect::<Result<Vec<_>>>()?;
        Ok(NetworkSettings {
            bridge,
            bip,
            fixed_cidr,
            pools,
            mtu: c.mtu,
            firewall: c.iptables,
            ip_forward: c.ip_forward,
            ip_masq: c.ip_masq,
            table: table.clone(),
            dns,
            dns_search: c.dns_search.clone(),
            dns_opts: c.dns_opts.clone(),
        })
    }

    /// The candidate subnets for a network without `--subnet`, in the order they are tried.
    pub fn candidate_pools(&self) -> Vec<Ipv4Net> {
        if self.pools.is_empty() {
            return berth_net::ipam::default_pools().collect();
        }
        let mut out = Vec::new();
        for (base, size) in &self.pools {
            if let Ok(subnets) = base.subnets(*size) {
                // A /8 cut into /24s is 65536 candidates; enough for anyone's host.
                out.extend(subnets.take(65536));
            }
        }
        out
    }

    /// The default bridge's subnet and gateway as a pool config, when `bip` says so.
    pub fn bip_pool(&self) -> Option<(IpNet, IpAddr)> {
        self.bip
            .map(|n| (IpNet::V4(n.trunc()), IpAddr::V4(n.addr())))
    }
}

/// The first IPv4 address of a subnet after its network address (Docker's default gateway).
pub fn first_host(n: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(n.network()).saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_and_named() {
        let mut c = DaemonConfig::default();
        let s = NetworkSettings::from_config(&c).expect("defaults are valid");
        assert_eq!(s.bridge.as_deref(), Some("berth0"));
        assert_eq!(s.candidate_pools()[0].to_string(), "172.17.0.0/16");
        c.bip = Some("10.9.0.0/24".into());
        let e = NetworkSettings::from_config(&c).expect_err("network address as bip");
        assert!(e.to_string().contains("bip"), "{e}");
        c.bip = Some("10.9.0.1/24".into());
        c.default_address_pools = vec![crate::config::AddressPool {
            base: "10.200.0.0/16".into(),
            size: 24,
        }];
        let s = NetworkSettings::from_config(&c).expect("valid");
        assert_eq!(
            s.bip_pool().map(|p| p.0.to_string()).as_deref(),
            Some("10.9.0.0/24")
        );
        assert_eq!(s.candidate_pools()[1].to_string(), "10.200.1.0/24");
        c.default_address_pools[0].size = 8;
        let e = NetworkSettings::from_config(&c).expect_err("size below base");
        assert!(
            e.to_string().contains("default-address-pools[0].size"),
            "{e}"
        );
        c.default_address_pools.clear();
        c.firewall_table = "berth-x".into();
        let e = NetworkSettings::from_config(&c).expect_err("bad table");
        assert!(e.to_string().contains("firewall-table"), "{e}");
        c.firewall_table = "berth".into();
        c.bridge = "a/b".into();
        assert!(NetworkSettings::from_config(&c).is_err());
        c.bridge = "none".into();
        assert_eq!(NetworkSettings::from_config(&c).expect("none").bridge, None);
    }
}

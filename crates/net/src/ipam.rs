//! Address management for bridge networks, pure (no I/O) so that every rule has a unit test and
//! the daemon can keep [`Ipam`] in its database as one serialized value.
//!
//! The rules follow Docker's libnetwork so users see the same behaviour and messages:
//! - a subnet is written as its network address (`172.20.0.1/16` is refused, naming
//!   `172.20.0.0/16`); the gateway defaults to the first host and must lie inside the subnet;
//! - an `--ip-range` is a sub-pool that only limits *automatic* allocation: a requested `--ip`
//!   may be anywhere in the subnet, as in libnetwork;
//! - the network address, the IPv4 broadcast address and the gateway are never handed out;
//! - subnets of two networks may not overlap ("Pool overlaps with other one on this address
//!   space");
//! - networks created without a subnet get the next free pool of Docker's default
//!   address pools, skipping the pools that overlap a subnet already routed on the host.
//!
//! Automatic allocation hands out the lowest free address (in the ip-range when one is set).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net};
use serde::{Deserialize, Serialize};

/// Why an address-management operation was refused. Every variant names what it refers to.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IpamError {
    #[error("invalid subnet {value:?}: {reason}")]
    InvalidSubnet { value: String, reason: String },
    #[error("invalid subnet {value}: it should be {network}")]
    SubnetNotNetworkAddress { value: String, network: IpNet },
    #[error("invalid subnet {subnet}: too small to hold a gateway and an address")]
    SubnetTooSmall { subnet: IpNet },
    #[error("invalid gateway {value:?}: {reason}")]
    InvalidGateway { value: String, reason: String },
    #[error("invalid ip-range {value:?}: {reason}")]
    InvalidIpRange { value: String, reason: String },
    #[error("Pool overlaps with other one on this address space: {subnet} overlaps {other} of network {network}")]
    Overlap {
        subnet: IpNet,
        other: IpNet,
        network: String,
    },
    #[error("network {0} already has address pools")]
    NetworkExists(String),
    #[error("network {0} not found")]
    UnknownNetwork(String),
    #[error("network {network} has no {family} subnet")]
    NoSubnetForFamily { network: String, family: Family },
    #[error("no available {family} addresses on this network's address pools: {network}")]
    Exhausted { network: String, family: Family },
    #[error("Address already in use: {ip} on network {network}")]
    AddressInUse { ip: IpAddr, network: String },
    #[error("Address already in use: {ip} is the {what} of subnet {subnet} on network {network}")]
    AddressReserved {
        ip: IpAddr,
        what: &'static str,
        subnet: IpNet,
        network: String,
    },
    #[error("no configured subnet or ip-range contain the IP address {ip} (network {network})")]
    AddressOutsidePools { ip: IpAddr, network: String },
    #[error("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network {0}")]
    DefaultPoolsExhausted(String),
}

/// IPv4 or IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Family {
    V4,
    V6,
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        })
    }
}

impl Family {
    pub fn of(ip: IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
}

/// A validated `--subnet`, `--gateway`, `--ip-range` triple, before it is registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolConfig {
    pub subnet: IpNet,
    pub gateway: IpAddr,
    pub ip_range: Option<IpNet>,
}

impl PoolConfig {
    /// Parses and validates the user's strings (`docker network create --subnet ... --gateway
    /// ... --ip-range ...`).
    pub fn parse(
        subnet: &str,
        gateway: Option<&str>,
        ip_range: Option<&str>,
    ) -> Result<PoolConfig, IpamError> {
        let subnet = parse_network(subnet).map_err(|e| match e {
            NetParse::Syntax(reason) => IpamError::InvalidSubnet {
                value: subnet.to_string(),
                reason,
            },
            NetParse::HostBits(network) => IpamError::SubnetNotNetworkAddress {
                value: subnet.to_string(),
                network,
            },
        })?;
        let gateway = match gateway {
            None => None,
            Some(g) => Some(
                g.trim()
                    .parse::<IpAddr>()
                    .map_err(|e| IpamError::InvalidGateway {
                        value: g.to_string(),
                        reason: e.to_string(),
                    })?,
            ),
        };
        let ip_range = match ip_range {
            None => None,
            Some(r) => Some(parse_network(r).map_err(|e| IpamError::InvalidIpRange {
                value: r.to_string(),
                reason: match e {
                    NetParse::Syntax(reason) => reason,
                    NetParse::HostBits(n) => format!("it should be {n}"),
                },
            })?),
        };
        PoolConfig::new(subnet, gateway, ip_range)
    }

    /// Validates already-parsed values; the gateway defaults to the subnet's first host.
    pub fn new(
        subnet: IpNet,
        gateway: Option<IpAddr>,
        ip_range: Option<IpNet>,
    ) -> Result<PoolConfig, IpamError> {
        if subnet.trunc() != subnet {
            return Err(IpamError::SubnetNotNetworkAddress {
                value: subnet.to_string(),
                network: subnet.trunc(),
            });
        }
        // Network address + gateway + one container (+ broadcast for IPv4).
        let max_prefix = match subnet {
            IpNet::V4(_) => 30,
            IpNet::V6(_) => 127,
        };
        if subnet.prefix_len() > max_prefix {
            return Err(IpamError::SubnetTooSmall { subnet });
        }
        let gateway = match gateway {
            None => from_u128(Family::of(subnet.addr()), to_u128(subnet.network()) + 1),
            Some(g) => {
                let bad = |reason: String| IpamError::InvalidGateway {
                    value: g.to_string(),
                    reason,
                };
                if Family::of(g) != Family::of(subnet.addr()) {
                    return Err(bad(format!("not the same IP family as subnet {subnet}")));
                }
                if !subnet.contains(&g) {
                    return Err(bad(format!("not inside subnet {subnet}")));
                }
                if let Some(what) = reserved_role(&subnet, g) {
                    return Err(bad(format!("it is the {what} of subnet {subnet}")));
                }
                g
            }
        };
        if let Some(range) = ip_range {
            let bad = |reason: String| IpamError::InvalidIpRange {
                value: range.to_string(),
                reason,
            };
            if Family::of(range.addr()) != Family::of(subnet.addr()) {
                return Err(bad(format!("not the same IP family as subnet {subnet}")));
            }
            if !subnet.contains(&range) {
                return Err(bad(format!("not inside subnet {subnet}")));
            }
        }
        Ok(PoolConfig {
            subnet,
            gateway,
            ip_range,
        })
    }
}

enum NetParse {
    Syntax(String),
    HostBits(IpNet),
}

fn parse_network(s: &str) -> Result<IpNet, NetParse> {
    let s = s.trim();
    if !s.contains('/') {
        return Err(NetParse::Syntax(
            "expected CIDR notation ADDRESS/PREFIX".into(),
        ));
    }
    let net: IpNet = s.parse().map_err(|e: ipnet::AddrParseError| {
        NetParse::Syntax(format!("{e} (expected CIDR notation ADDRESS/PREFIX)"))
    })?;
    if net.trunc() != net {
        return Err(NetParse::HostBits(net.trunc()));
    }
    Ok(net)
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_u128(family: Family, n: u128) -> IpAddr {
    match family {
        // Callers only pass values inside an IPv4 subnet here.
        Family::V4 => IpAddr::V4(Ipv4Addr::from(n as u32)),
        Family::V6 => IpAddr::V6(Ipv6Addr::from(n)),
    }
}

/// Addresses of a subnet that are not hosts: the network address and, for IPv4, broadcast.
fn reserved_role(subnet: &IpNet, ip: IpAddr) -> Option<&'static str> {
    if ip == subnet.network() {
        Some("network address")
    } else if matches!(subnet, IpNet::V4(_)) && ip == subnet.broadcast() {
        Some("broadcast address")
    } else {
        None
    }
}

/// One subnet of a network with its allocations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    pub subnet: IpNet,
    pub gateway: IpAddr,
    pub ip_range: Option<IpNet>,
    /// Container addresses handed out (the gateway is reserved implicitly, not listed).
    pub allocated: BTreeSet<IpAddr>,
}

impl Pool {
    fn family(&self) -> Family {
        Family::of(self.subnet.addr())
    }

    /// First and last host candidates for automatic allocation (inclusive).
    fn auto_bounds(&self) -> (u128, u128) {
        let area = self.ip_range.unwrap_or(self.subnet);
        let mut lo = to_u128(area.network());
        let mut hi = to_u128(area.broadcast());
        let net = to_u128(self.subnet.network());
        let bcast = to_u128(self.subnet.broadcast());
        if lo == net {
            lo += 1;
        }
        if self.family() == Family::V4 && hi == bcast {
            hi -= 1;
        }
        (lo, hi)
    }

    fn next_free(&self) -> Option<IpAddr> {
        let (lo, hi) = self.auto_bounds();
        let gw = to_u128(self.gateway);
        let mut candidate = lo;
        // Allocated addresses are sorted: walk them alongside the candidate so the cost is the
        // number of allocations, not the size of the subnet (an IPv6 /64 is huge).
        let lo_ip = from_u128(self.family(), lo);
        let mut taken = self
            .allocated
            .range(lo_ip..)
            .map(|ip| to_u128(*ip))
            .chain(std::iter::once(gw).filter(|g| *g >= lo))
            .collect::<Vec<_>>();
        taken.sort_unstable();
        for t in taken {
            if t > candidate {
                break;
            }
            if t == candidate {
                candidate = candidate.checked_add(1)?;
            }
        }
        (candidate <= hi).then(|| from_u128(self.family(), candidate))
    }
}

/// The address pools of one network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkPools {
    pub pools: Vec<Pool>,
}

impl NetworkPools {
    /// The pool of a family (the first one when a network has several).
    pub fn pool(&self, family: Family) -> Option<&Pool> {
        self.pools.iter().find(|p| p.family() == family)
    }
}

/// What to allocate for a container's endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Any free address of this family (lowest first, inside the ip-range when set).
    Any(Family),
    /// Exactly this address (`--ip`, `--ip6`).
    Exact(IpAddr),
}

/// Address state of all networks, as the daemon persists it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ipam {
    pub networks: BTreeMap<String, NetworkPools>,
}

/// Docker's default bridge pool (`bip` overrides it in the daemon configuration).
pub const DEFAULT_BRIDGE_POOL: Ipv4Net = match Ipv4Net::new(Ipv4Addr::new(172, 17, 0, 0), 16) {
    Ok(n) => n,
    Err(_) => panic!("172.17.0.0/16 is a valid network"),
};

/// Docker's default address pools in the order it hands them out: 172.17.0.0/16 through
/// 172.31.0.0/16, then 192.168.0.0/16 cut into /20s.
pub fn default_pools() -> impl Iterator<Item = Ipv4Net> {
    let big = (17u8..=31).map(|b| Ipv4Net::new(Ipv4Addr::new(172, b, 0, 0), 16));
    let small = (0u8..16).map(|i| Ipv4Net::new(Ipv4Addr::new(192, 168, i * 16, 0), 20));
    big.chain(small)
        .map(|n| n.expect("prefix lengths 16 and 20 are valid for IPv4"))
}

impl Ipam {
    pub fn new() -> Ipam {
        Ipam::default()
    }

    /// Registers a network with explicit subnets (at most one per family is typical; several
    /// are allowed as long as nothing overlaps).
    pub fn add_network(&mut self, network: &str, configs: &[PoolConfig]) -> Result<(), IpamError> {
        if self.networks.contains_key(network) {
            return Err(IpamError::NetworkExists(network.to_string()));
        }
        for (i, c) in configs.iter().enumerate() {
            self.check_overlap(&c.subnet)?;
            if let Some(prev) = configs[..i].iter().find(|p| overlaps(&p.subnet, &c.subnet)) {
                return Err(IpamError::Overlap {
                    subnet: c.subnet,
                    other: prev.subnet,
                    network: network.to_string(),
                });
            }
        }
        let pools = configs
            .iter()
            .map(|c| Pool {
                subnet: c.subnet,
                gateway: c.gateway,
                ip_range: c.ip_range,
                allocated: BTreeSet::new(),
            })
            .collect();
        self.networks
            .insert(network.to_string(), NetworkPools { pools });
        Ok(())
    }

    /// Registers a network on the next free default pool (see [`Ipam::next_default_pool`]) and
    /// returns the pool chosen.
    pub fn add_network_default_pool(
        &mut self,
        network: &str,
        host_routes: &[IpNet],
    ) -> Result<PoolConfig, IpamError> {
        if self.networks.contains_key(network) {
            return Err(IpamError::NetworkExists(network.to_string()));
        }
        let subnet = self.next_default_pool(network, host_routes)?;
        let config = PoolConfig::new(IpNet::V4(subnet), None, None)?;
        self.add_network(network, std::slice::from_ref(&config))?;
        Ok(config)
    }

    /// The first default pool that overlaps neither a network's subnet nor a route of the host
    /// (`host_routes`: destinations of the host's routes; default routes, prefix length 0, are
    /// ignored as Docker does).
    pub fn next_default_pool(
        &self,
        network: &str,
        host_routes: &[IpNet],
    ) -> Result<Ipv4Net, IpamError> {
        default_pools()
            .find(|candidate| {
                let c = IpNet::V4(*candidate);
                self.check_overlap(&c).is_ok()
                    && !host_routes
                        .iter()
                        .any(|r| r.prefix_len() > 0 && overlaps(r, &c))
            })
            .ok_or_else(|| IpamError::DefaultPoolsExhausted(network.to_string()))
    }

    /// Forgets a network and its allocations. Returns whether it was known.
    pub fn remove_network(&mut self, network: &str) -> bool {
        self.networks.remove(network).is_some()
    }

    pub fn network(&self, network: &str) -> Result<&NetworkPools, IpamError> {
        self.networks
            .get(network)
            .ok_or_else(|| IpamError::UnknownNetwork(network.to_string()))
    }

    fn check_overlap(&self, subnet: &IpNet) -> Result<(), IpamError> {
        for (name, n) in &self.networks {
            if let Some(p) = n.pools.iter().find(|p| overlaps(&p.subnet, subnet)) {
                return Err(IpamError::Overlap {
                    subnet: *subnet,
                    other: p.subnet,
                    network: name.clone(),
                });
            }
        }
        Ok(())
    }

    /// Allocates an address on a network; returns it with its subnet's prefix length.
    pub fn allocate(&mut self, network: &str, request: Request) -> Result<IpNet, IpamError> {
        let n = self
            .networks
            .get_mut(network)
            .ok_or_else(|| IpamError::UnknownNetwork(network.to_string()))?;
        match request {
            Request::Any(family) => {
                let mut has_family = false;
                for pool in n.pools.iter_mut().filter(|p| p.family() == family) {
                    has_family = true;
                    if let Some(ip) = pool.next_free() {
                        pool.allocated.insert(ip);
                        return Ok(with_prefix(ip, &pool.subnet));
                    }
                }
                Err(if has_family {
                    IpamError::Exhausted {
                        network: network.to_string(),
                        family,
                    }
                } else {
                    IpamError::NoSubnetForFamily {
                        network: network.to_string(),
                        family,
                    }
                })
            }
            Request::Exact(ip) => {
                let pool = n
                    .pools
                    .iter_mut()
                    .find(|p| p.subnet.contains(&ip))
                    .ok_or_else(|| IpamError::AddressOutsidePools {
                        ip,
                        network: network.to_string(),
                    })?;
                let reserved = if ip == pool.gateway {
                    Some("gateway")
                } else {
                    reserved_role(&pool.subnet, ip)
                };
                if let Some(what) = reserved {
                    return Err(IpamError::AddressReserved {
                        ip,
                        what,
                        subnet: pool.subnet,
                        network: network.to_string(),
                    });
                }
                if !pool.allocated.insert(ip) {
                    return Err(IpamError::AddressInUse {
                        ip,
                        network: network.to_string(),
                    });
                }
                Ok(with_prefix(ip, &pool.subnet))
            }
        }
    }

    /// Returns an address to its pool. Returns whether it was allocated (releasing twice, as a
    /// daemon recovering from a crash may, is not an error).
    pub fn release(&mut self, network: &str, ip: IpAddr) -> Result<bool, IpamError> {
        let n = self
            .networks
            .get_mut(network)
            .ok_or_else(|| IpamError::UnknownNetwork(network.to_string()))?;
        Ok(n.pools.iter_mut().any(|p| p.allocated.remove(&ip)))
    }
}

fn with_prefix(ip: IpAddr, subnet: &IpNet) -> IpNet {
    IpNet::new(ip, subnet.prefix_len()).expect("the prefix length comes from a valid subnet")
}

/// Whether two networks share an address (one contains the other, as CIDRs cannot otherwise
/// intersect).
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// An Ethernet address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// Docker's MAC for an IPv4 endpoint: locally administered `02:42` followed by the four
    /// address bytes (172.17.0.2 -> 02:42:ac:11:00:02), so it is unique wherever the IP is.
    pub fn from_ipv4(ip: Ipv4Addr) -> MacAddr {
        let o = ip.octets();
        MacAddr([0x02, 0x42, o[0], o[1], o[2], o[3]])
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn one(subnet: &str, gw: Option<&str>, range: Option<&str>) -> Ipam {
        let mut ipam = Ipam::new();
        ipam.add_network("n1", &[PoolConfig::parse(subnet, gw, range).unwrap()])
            .unwrap();
        ipam
    }

    /// `n` automatic IPv4 allocations on `network`, in order.
    fn allocate_v4(ipam: &mut Ipam, network: &str, n: usize) -> Vec<IpAddr> {
        (0..n)
            .map(|_| {
                ipam.allocate(network, Request::Any(Family::V4))
                    .unwrap()
                    .addr()
            })
            .collect()
    }

    #[test]
    fn gateway_defaults_to_first_host() {
        let c = PoolConfig::parse("10.1.0.0/24", None, None).unwrap();
        assert_eq!(c.gateway, ip("10.1.0.1"));
        let c = PoolConfig::parse("fd00:1::/64", None, None).unwrap();
        assert_eq!(c.gateway, ip("fd00:1::1"));
    }

    #[test]
    fn bad_subnets_name_the_value() {
        let e = PoolConfig::parse("10.1.0.0", None, None).unwrap_err();
        assert!(e.to_string().contains("\"10.1.0.0\""), "{e}");
        let e = PoolConfig::parse("300.1.0.0/24", None, None).unwrap_err();
        assert!(matches!(e, IpamError::InvalidSubnet { .. }), "{e}");
        let e = PoolConfig::parse("172.20.0.1/16", None, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid subnet 172.20.0.1/16: it should be 172.20.0.0/16"
        );
        let e = PoolConfig::parse("10.0.0.0/31", None, None).unwrap_err();
        assert!(matches!(e, IpamError::SubnetTooSmall { .. }), "{e}");
    }

    #[test]
    fn bad_gateways_and_ranges() {
        for g in ["10.2.0.1", "10.1.0.0", "10.1.0.255", "fd00::1", "nope"] {
            let e = PoolConfig::parse("10.1.0.0/24", Some(g), None).unwrap_err();
            assert!(matches!(e, IpamError::InvalidGateway { .. }), "{g}: {e}");
            assert!(e.to_string().contains(g), "{e}");
        }
        let e = PoolConfig::parse("10.1.0.0/24", None, Some("10.1.1.0/28")).unwrap_err();
        assert!(matches!(e, IpamError::InvalidIpRange { .. }), "{e}");
        let e = PoolConfig::parse("10.1.0.0/24", None, Some("10.0.0.0/8")).unwrap_err();
        assert!(matches!(e, IpamError::InvalidIpRange { .. }), "{e}");
        let e = PoolConfig::parse("10.1.0.0/24", None, Some("10.1.0.3/28")).unwrap_err();
        assert!(e.to_string().contains("10.1.0.0/28"), "{e}");
    }

    #[test]
    fn allocation_skips_network_gateway_broadcast_and_exhausts() {
        // /29: .0 network, .1 gateway, .2-.6 hosts, .7 broadcast.
        let mut ipam = one("10.9.0.0/29", None, None);
        let got: Vec<IpNet> = (0..5)
            .map(|_| ipam.allocate("n1", Request::Any(Family::V4)).unwrap())
            .collect();
        let want: Vec<IpNet> = (2..=6).map(|i| net(&format!("10.9.0.{i}/29"))).collect();
        assert_eq!(got, want);
        let e = ipam.allocate("n1", Request::Any(Family::V4)).unwrap_err();
        assert_eq!(
            e,
            IpamError::Exhausted {
                network: "n1".into(),
                family: Family::V4
            }
        );
        // A released address is handed out again.
        assert!(ipam.release("n1", ip("10.9.0.4")).unwrap());
        assert!(!ipam.release("n1", ip("10.9.0.4")).unwrap());
        assert_eq!(
            ipam.allocate("n1", Request::Any(Family::V4)).unwrap(),
            net("10.9.0.4/29")
        );
    }

    #[test]
    fn custom_gateway_is_never_allocated() {
        let mut ipam = one("10.9.0.0/29", Some("10.9.0.3"), None);
        let got = allocate_v4(&mut ipam, "n1", 5);
        assert_eq!(
            got,
            ["10.9.0.1", "10.9.0.2", "10.9.0.4", "10.9.0.5", "10.9.0.6"]
                .map(ip)
                .to_vec()
        );
    }

    #[test]
    fn ip_range_limits_automatic_allocation_only() {
        let mut ipam = one("10.9.0.0/24", None, Some("10.9.0.128/30"));
        let got = allocate_v4(&mut ipam, "n1", 4);
        assert_eq!(
            got,
            ["10.9.0.128", "10.9.0.129", "10.9.0.130", "10.9.0.131"]
                .map(ip)
                .to_vec()
        );
        assert!(matches!(
            ipam.allocate("n1", Request::Any(Family::V4)),
            Err(IpamError::Exhausted { .. })
        ));
        // --ip outside the range but inside the subnet is honoured, as in libnetwork.
        assert_eq!(
            ipam.allocate("n1", Request::Exact(ip("10.9.0.50")))
                .unwrap(),
            net("10.9.0.50/24")
        );
    }

    #[test]
    fn requested_addresses() {
        let mut ipam = one("172.20.0.0/16", None, None);
        assert_eq!(
            ipam.allocate("n1", Request::Exact(ip("172.20.5.5")))
                .unwrap(),
            net("172.20.5.5/16")
        );
        let e = ipam
            .allocate("n1", Request::Exact(ip("172.20.5.5")))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Address already in use: 172.20.5.5 on network n1"
        );
        for (addr, what) in [
            ("172.20.0.1", "gateway"),
            ("172.20.0.0", "network address"),
            ("172.20.255.255", "broadcast address"),
        ] {
            let e = ipam.allocate("n1", Request::Exact(ip(addr))).unwrap_err();
            assert!(e.to_string().starts_with("Address already in use"), "{e}");
            assert!(
                e.to_string().contains(what) && e.to_string().contains(addr),
                "{e}"
            );
        }
        let e = ipam
            .allocate("n1", Request::Exact(ip("10.0.0.5")))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "no configured subnet or ip-range contain the IP address 10.0.0.5 (network n1)"
        );
        // Automatic allocation steps over the requested address.
        let mut ipam = one("10.0.0.0/24", None, None);
        ipam.allocate("n1", Request::Exact(ip("10.0.0.2"))).unwrap();
        assert_eq!(
            ipam.allocate("n1", Request::Any(Family::V4))
                .unwrap()
                .addr(),
            ip("10.0.0.3")
        );
        assert!(matches!(
            ipam.allocate("nope", Request::Any(Family::V4)),
            Err(IpamError::UnknownNetwork(n)) if n == "nope"
        ));
    }

    #[test]
    fn dual_stack() {
        let mut ipam = Ipam::new();
        ipam.add_network(
            "ds",
            &[
                PoolConfig::parse("10.5.0.0/24", None, None).unwrap(),
                PoolConfig::parse("fd00:5::/64", None, None).unwrap(),
            ],
        )
        .unwrap();
        assert_eq!(
            ipam.allocate("ds", Request::Any(Family::V6)).unwrap(),
            net("fd00:5::2/64")
        );
        assert_eq!(
            ipam.allocate("ds", Request::Any(Family::V4)).unwrap(),
            net("10.5.0.2/24")
        );
        // No broadcast in IPv6: the last address of a small subnet is a host.
        let mut ipam = one("fd00:6::/126", None, None);
        ipam.allocate("n1", Request::Any(Family::V6)).unwrap();
        assert_eq!(
            ipam.allocate("n1", Request::Any(Family::V6)).unwrap(),
            net("fd00:6::3/126")
        );
        assert!(matches!(
            ipam.allocate("n1", Request::Any(Family::V4)),
            Err(IpamError::NoSubnetForFamily { .. })
        ));
    }

    #[test]
    fn overlapping_subnets_are_refused() {
        let mut ipam = one("172.20.0.0/16", None, None);
        for s in ["172.20.1.0/24", "172.0.0.0/8", "172.20.0.0/16"] {
            let e = ipam
                .add_network("n2", &[PoolConfig::parse(s, None, None).unwrap()])
                .unwrap_err();
            assert!(
                e.to_string()
                    .starts_with("Pool overlaps with other one on this address space"),
                "{e}"
            );
            assert!(e.to_string().contains("n1"), "{e}");
        }
        assert!(!ipam.networks.contains_key("n2"));
        ipam.add_network(
            "n2",
            &[PoolConfig::parse("172.21.0.0/16", None, None).unwrap()],
        )
        .unwrap();
        assert!(matches!(
            ipam.add_network("n2", &[]),
            Err(IpamError::NetworkExists(_))
        ));
        // Removing a network frees its subnet.
        assert!(ipam.remove_network("n1"));
        ipam.add_network(
            "n3",
            &[PoolConfig::parse("172.20.1.0/24", None, None).unwrap()],
        )
        .unwrap();
    }

    #[test]
    fn default_pools_follow_docker_order_and_skip_routes() {
        let pools: Vec<String> = default_pools().map(|p| p.to_string()).collect();
        assert_eq!(pools[0], "172.17.0.0/16");
        assert_eq!(pools[14], "172.31.0.0/16");
        assert_eq!(pools[15], "192.168.0.0/20");
        assert_eq!(pools[16], "192.168.16.0/20");
        assert_eq!(pools.last().unwrap(), "192.168.240.0/20");
        assert_eq!(DEFAULT_BRIDGE_POOL.to_string(), "172.17.0.0/16");

        let mut ipam = Ipam::new();
        let routes = [net("0.0.0.0/0"), net("172.18.0.0/16"), net("172.19.3.0/24")];
        let c = ipam.add_network_default_pool("bridge", &routes).unwrap();
        assert_eq!(c.subnet, net("172.17.0.0/16"));
        assert_eq!(c.gateway, ip("172.17.0.1"));
        // 172.18 and 172.19 are routed on the host.
        let c = ipam.add_network_default_pool("u1", &routes).unwrap();
        assert_eq!(c.subnet, net("172.20.0.0/16"));
        for i in 21..=31 {
            let c = ipam
                .add_network_default_pool(&format!("x{i}"), &routes)
                .unwrap();
            assert_eq!(c.subnet, net(&format!("172.{i}.0.0/16")));
        }
        let c = ipam
            .add_network_default_pool("y", &[routes[0], routes[2]])
            .unwrap();
        assert_eq!(c.subnet, net("172.18.0.0/16"), "no longer routed here");
        let c = ipam.add_network_default_pool("z", &routes[..2]).unwrap();
        assert_eq!(c.subnet, net("172.19.0.0/16"));
        let c = ipam.add_network_default_pool("w", &[]).unwrap();
        assert_eq!(c.subnet, net("192.168.0.0/20"));
        for i in 1..16 {
            ipam.add_network_default_pool(&format!("v{i}"), &[])
                .unwrap();
        }
        assert_eq!(
            ipam.add_network_default_pool("last", &[]).unwrap_err(),
            IpamError::DefaultPoolsExhausted("last".into())
        );
    }

    #[test]
    fn macs_follow_docker() {
        assert_eq!(
            MacAddr::from_ipv4("172.17.0.2".parse().unwrap()).to_string(),
            "02:42:ac:11:00:02"
        );
        assert_eq!(
            MacAddr::from_ipv4("10.255.1.200".parse().unwrap()).to_string(),
            "02:42:0a:ff:01:c8"
        );
    }

    #[test]
    fn state_round_trips_through_json() {
        let mut ipam = one("10.7.0.0/24", Some("10.7.0.254"), Some("10.7.0.64/26"));
        ipam.allocate("n1", Request::Any(Family::V4)).unwrap();
        ipam.allocate("n1", Request::Exact(ip("10.7.0.9"))).unwrap();
        let json = serde_json::to_string(&ipam).unwrap();
        assert!(json.contains("\"10.7.0.0/24\""), "{json}");
        let back: Ipam = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ipam);
        let mut back = back;
        assert_eq!(
            back.allocate("n1", Request::Any(Family::V4))
                .unwrap()
                .addr(),
            ip("10.7.0.65")
        );
    }
}

//! What the database keeps: one record per network, and on each container record the networks
//! it is attached to (with what was asked for, and while it runs, what it got).

use berth_net::firewall::Proto;
use ipnet::{IpNet, Ipv4Net};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

/// The driver names Docker shows.
pub const BRIDGE: &str = "bridge";
pub const HOST: &str = "host";
pub const NULL: &str = "null";

/// One subnet of a network (`--subnet`, `--gateway`, `--ip-range`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct SubnetRecord {
    pub subnet: IpNet,
    pub gateway: IpAddr,
    #[serde(rename = "IPRange", default, skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<IpNet>,
}

/// A network as stored.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkRecord {
    pub id: String,
    pub name: String,
    pub created: String,
    /// bridge, host or null.
    pub driver: String,
    #[serde(rename = "EnableIPv6", default)]
    pub enable_ipv6: bool,
    #[serde(default)]
    pub subnets: Vec<SubnetRecord>,
    /// The subnets were given by the user (only then may containers ask for an `--ip`).
    #[serde(default)]
    pub user_subnets: bool,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub attachable: bool,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub ipam_options: BTreeMap<String, String>,
    /// The bridge interface (bridge driver only).
    #[serde(default)]
    pub bridge: String,
    #[serde(default)]
    pub mtu: u32,
    #[serde(default)]
    pub masquerade: bool,
    /// One of Docker's three predefined networks (bridge, host, none): never removed.
    #[serde(default)]
    pub predefined: bool,
}

impl NetworkRecord {
    /// The first IPv4 subnet and its gateway.
    pub fn v4(&self) -> Option<(Ipv4Net, Ipv4Addr)> {
        self.subnets
            .iter()
            .find_map(|s| match (s.subnet, s.gateway) {
                (IpNet::V4(n), IpAddr::V4(g)) => Some((n, g)),
                _ => None,
            })
    }

    pub fn is_bridge(&self) -> bool {
        self.driver == BRIDGE
    }

    /// The default bridge network (Docker's "bridge"): no embedded DNS, no aliases.
    pub fn is_default_bridge(&self) -> bool {
        self.predefined && self.driver == BRIDGE
    }
}

/// A container's attachment to one network.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Attachment {
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    pub network_name: String,
    /// `--network-alias` and the aliases of a connect or compose.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// `--ip`.
    #[serde(default)]
    pub ipv4_request: Option<Ipv4Addr>,
    /// `--mac-address`.
    #[serde(default)]
    pub mac_request: Option<String>,
    /// What the current run got (empty when stopped).
    #[serde(default)]
    pub live: Option<LiveAttachment>,
}

/// The address and interfaces of a running container on one network.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct LiveAttachment {
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    /// The address with the subnet's prefix length.
    pub address: Ipv4Net,
    pub gateway: Ipv4Addr,
    pub mac: String,
    /// The interface inside the container (eth0, eth1, ...).
    pub ifname: String,
    /// The host end of the veth pair.
    pub veth: String,
}

/// A host port that forwards to the container.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "PascalCase")]
pub struct PublishedPort {
    pub proto: Proto,
    pub container_port: u16,
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
}

/// The network part of a container record.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerNetworks {
    /// In the order they were connected; the first is the NetworkMode's.
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    /// Published ports of the current run.
    #[serde(default)]
    pub ports: Vec<PublishedPort>,
}

impl ContainerNetworks {
    /// Forgets what the last run got (addresses, interfaces, ports).
    pub fn clear_live(&mut self) {
        for a in &mut self.attachments {
            a.live = None;
        }
        self.ports.clear();
    }

    pub fn find(&self, network_id: &str) -> Option<&Attachment> {
        self.attachments.iter().find(|a| a.network_id == network_id)
    }
}

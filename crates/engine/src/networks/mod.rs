//! Networks: Docker's predefined `bridge`, `host` and `none` networks and user-defined bridge
//! networks, built on `berth-net` (IPAM, rtnetlink, nftables, embedded DNS).
//!
//! The network namespace is the runtime's: it is created with the container (`RUNTIME
//! create`), and between create and start the daemon moves one end of a veth pair per network
//! into `/proc/PID/ns/net`. No namespace file is bind-mounted, so nothing can outlive the
//! container: when its last process exits the kernel destroys the namespace and the veth pairs
//! with it. Addresses are allocated for a run and released when it ends, as Docker does.
//!
//! What is live (addresses in use, the names the embedded DNS answers, published ports and the
//! sockets that reserve them, DNS servers) is kept in memory in [`State`] and rebuilt from the
//! container records when the daemon starts ([`restore`]). The firewall table is rewritten
//! whole on every change, from that state, in one nft transaction.
//!
//! One file per verb: [`create`], [`remove`] (rm, prune), [`inspect`] (inspect, ls),
//! [`connect`] (connect, disconnect); the container side is [`endpoint`] (start, exit),
//! [`ports`] (published ports) and [`dns`] (the embedded server's names).

pub mod connect;
pub mod container_view;
pub mod create;
pub mod dns;
pub mod endpoint;
pub mod host;
pub mod inspect;
pub mod ports;
pub mod record;
pub mod remove;
pub mod restore;
pub mod settings;

use crate::error::{Error, Result};
use berth_net::firewall::Proto;
use berth_net::ipam::Ipam;
use record::{NetworkRecord, PublishedPort};
use settings::NetworkSettings;
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

/// The network layer's state, shared with the DNS servers.
pub struct Networks {
    pub settings: NetworkSettings,
    pub(crate) state: Arc<Mutex<State>>,
    /// Serializes firewall writes (each one replaces the whole table).
    firewall_lock: tokio::sync::Mutex<()>,
    /// Serializes network create and remove (records, address pools and bridges together).
    pub(crate) admin: tokio::sync::Mutex<()>,
    pub(crate) netlink: berth_net::link::Netlink,
}

impl std::fmt::Debug for Networks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Networks")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Networks, address pools and what running containers hold.
#[derive(Default)]
pub(crate) struct State {
    /// By network id.
    pub records: BTreeMap<String, NetworkRecord>,
    /// Address pools, keyed by network id.
    pub ipam: Ipam,
    /// By container id.
    pub live: HashMap<String, LiveContainer>,
    /// Host ports in use: (proto, host address, port) -> container id.
    pub reserved: HashMap<(Proto, Ipv4Addr, u16), String>,
    /// Where the search for the next ephemeral host port starts.
    pub next_port: u16,
}

/// What a running container holds.
#[derive(Default)]
pub(crate) struct LiveContainer {
    pub name: String,
    pub endpoints: Vec<LiveEndpoint>,
    pub ports: Vec<PublishedPort>,
    /// Sockets bound (never listening) on the published host ports, so that no host program
    /// can take a port that the firewall sends to the container.
    pub reservations: Vec<std::os::fd::OwnedFd>,
    pub dns: Option<tokio::task::JoinHandle<()>>,
}

/// A running container on one network.
#[derive(Debug, Clone)]
pub(crate) struct LiveEndpoint {
    pub network_id: String,
    pub ip: Ipv4Addr,
    pub aliases: Vec<String>,
    pub veth: String,
}

impl State {
    /// A network by full id, name, or unique id prefix (Docker's lookup order).
    pub fn find(&self, key: &str) -> Result<&NetworkRecord> {
        if let Some(r) = self.records.get(key) {
            return Ok(r);
        }
        if let Some(r) = self.records.values().find(|r| r.name == key) {
            return Ok(r);
        }
        let matches: Vec<&NetworkRecord> = self
            .records
            .values()
            .filter(|r| !key.is_empty() && r.id.starts_with(key))
            .collect();
        match matches.as_slice() {
            [one] => Ok(one),
            [] => Err(Error::NotFound(format!("network {key} not found"))),
            _ => Err(Error::NotFound(format!(
                "network {key} is ambiguous ({} matches found based on ID prefix)",
                matches.len()
            ))),
        }
    }

    /// Ids of the running containers on a network.
    pub fn members(&self, network_id: &str) -> Vec<String> {
        self.live
            .iter()
            .filter(|(_, l)| l.endpoints.iter().any(|e| e.network_id == network_id))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The ruleset the firewall table must hold now.
    fn ruleset(&self) -> berth_net::firewall::Ruleset {
        let mut rs = berth_net::firewall::Ruleset::default();
        for r in self.records.values().filter(|r| r.is_bridge()) {
            if let Some((subnet, _)) = r.v4() {
                rs.networks.push(berth_net::firewall::NetworkRules {
                    bridge: r.bridge.clone(),
                    subnet: subnet.trunc(),
                    internal: r.internal,
                    masquerade: r.masquerade,
                });
            }
        }
        let mut live: Vec<(&String, &LiveContainer)> = self.live.iter().collect();
        live.sort_by(|a, b| a.0.cmp(b.0));
        for (_, l) in live {
            let Some(ip) = l.endpoints.first().map(|e| e.ip) else {
                continue;
            };
            for p in &l.ports {
                rs.ports.push(berth_net::firewall::PortMapping {
                    proto: p.proto,
                    host_ip: p.host_ip,
                    host_port: berth_net::firewall::PortRange::single(p.host_port),
                    container_ip: ip,
                    container_port: berth_net::firewall::PortRange::single(p.container_port),
                });
            }
        }
        rs
    }
}

impl Networks {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes the firewall table what the state says: the whole table in one nft transaction,
    /// or no table once no bridge network is left.
    pub(crate) async fn sync_firewall(&self) -> Result<()> {
        if !self.settings.firewall {
            return Ok(());
        }
        let _guard = self.firewall_lock.lock().await;
        let ruleset = self.lock().ruleset();
        let table = self.settings.table.clone();
        tokio::task::spawn_blocking(move || {
            if ruleset.networks.is_empty() {
                berth_net::firewall::remove_in(&table)
            } else {
                berth_net::firewall::apply_in(&table, &ruleset)
            }
        })
        .await
        .map_err(|e| Error::internal("firewall task", e))?
        .map_err(|e| Error::Internal(format!("writing the firewall rules: {e}")))
    }
}

fn net_err(e: impl std::fmt::Display) -> Error {
    Error::Internal(e.to_string())
}

fn ipam_err(e: berth_net::ipam::IpamError) -> Error {
    use berth_net::ipam::IpamError as E;
    match e {
        E::UnknownNetwork(_) => Error::NotFound(e.to_string()),
        E::AddressInUse { .. } | E::AddressReserved { .. } => Error::Conflict(e.to_string()),
        E::Exhausted { .. } | E::DefaultPoolsExhausted(_) => Error::Internal(e.to_string()),
        _ => Error::InvalidArgument(e.to_string()),
    }
}

//! Opening the network layer when the daemon starts: the records, Docker's three predefined
//! networks, the address pools and the bridges. Running containers are re-adopted afterwards
//! ([`crate::Engine::network_readopt`]), then the firewall table is rewritten from the result.

use super::record::{NetworkRecord, SubnetRecord, BRIDGE, HOST, NULL};
use super::settings::NetworkSettings;
use super::{net_err, Networks, State};
use crate::config::DaemonConfig;
use crate::error::{Error, Result};
use crate::store::{Store, NETWORK_TABLE};
use ipnet::{IpNet, Ipv4Net};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

impl Networks {
    /// Loads the network records, adds the predefined networks that are missing and makes
    /// every bridge exist with its address.
    pub(crate) async fn open(config: &DaemonConfig, store: &Store) -> Result<Networks> {
        let settings = NetworkSettings::from_config(config)?;
        let netlink = berth_net::link::Netlink::current().map_err(net_err)?;
        let mut records: BTreeMap<String, NetworkRecord> = store
            .all::<NetworkRecord>(NETWORK_TABLE)?
            .into_iter()
            .map(|(_, r)| (r.id.clone(), r))
            .collect();

        for (name, driver) in [("host", HOST), ("none", NULL)] {
            if !records.values().any(|r| r.predefined && r.name == name) {
                let r = predefined(name, driver);
                store.put(NETWORK_TABLE, &r.id, &r)?;
                records.insert(r.id.clone(), r);
            }
        }
        let old_bridge = records.values().find(|r| r.is_default_bridge()).cloned();
        match &settings.bridge {
            Some(bridge) => {
                let r = default_bridge(&settings, bridge, old_bridge.as_ref(), &records)?;
                if old_bridge.as_ref() != Some(&r) {
                    store.put(NETWORK_TABLE, &r.id, &r)?;
                }
                records.insert(r.id.clone(), r);
            }
            None => {
                // `"bridge": "none"`: no default bridge network.
                if let Some(old) = old_bridge {
                    store.delete(NETWORK_TABLE, &old.id)?;
                    records.remove(&old.id);
                }
            }
        }

        let mut state = State {
            next_port: 0,
            ..Default::default()
        };
        for r in records.values() {
            if let Err(e) = state.ipam.add_network(&r.id, &pool_configs(r)?) {
                tracing::error!(network = %r.name, "restoring the address pool: {e}");
            }
        }
        state.records = records;
        let networks = Networks {
            settings,
            state: Arc::new(Mutex::new(state)),
            firewall_lock: tokio::sync::Mutex::new(()),
            admin: tokio::sync::Mutex::new(()),
            netlink,
        };
        let bridges: Vec<NetworkRecord> = networks
            .lock()
            .records
            .values()
            .filter(|r| r.is_bridge())
            .cloned()
            .collect();
        if !bridges.is_empty() && networks.settings.ip_forward {
            berth_net::link::enable_ip_forward().map_err(net_err)?;
        }
        for r in &bridges {
            networks.bring_up_bridge(r).await?;
        }
        Ok(networks)
    }

    /// Creates the network's bridge (or accepts the one there) with its gateway address, and
    /// lets published ports on 127.0.0.1 reach it (route_localnet, see berth-net's firewall).
    pub(crate) async fn bring_up_bridge(&self, r: &NetworkRecord) -> Result<()> {
        let addresses: Vec<IpNet> = r
            .subnets
            .iter()
            .filter_map(|s| IpNet::new(s.gateway, s.subnet.prefix_len()).ok())
            .collect();
        self.netlink
            .ensure_bridge(&berth_net::link::BridgeConfig {
                name: r.bridge.clone(),
                mtu: r.mtu,
                addresses,
            })
            .await
            .map_err(|e| Error::Internal(format!("network {}: {e}", r.name)))?;
        if self.settings.firewall {
            berth_net::link::set_route_localnet(&r.bridge, true).map_err(net_err)?;
        }
        Ok(())
    }
}

/// The pool configurations of a record, for IPAM.
pub(crate) fn pool_configs(r: &NetworkRecord) -> Result<Vec<berth_net::ipam::PoolConfig>> {
    r.subnets
        .iter()
        .map(|s| {
            berth_net::ipam::PoolConfig::new(s.subnet, Some(s.gateway), s.ip_range)
                .map_err(|e| Error::Internal(format!("network {}: {e}", r.name)))
        })
        .collect()
}

fn predefined(name: &str, driver: &str) -> NetworkRecord {
    NetworkRecord {
        id: crate::util::new_id(),
        name: name.to_string(),
        created: crate::util::now_rfc3339(),
        driver: driver.to_string(),
        predefined: true,
        ..Default::default()
    }
}

/// The default bridge's record: `bip` when set, else the subnet it had, else 172.17.0.0/16
/// or the first default pool that no host route overlaps.
fn default_bridge(
    s: &NetworkSettings,
    bridge: &str,
    old: Option<&NetworkRecord>,
    records: &BTreeMap<String, NetworkRecord>,
) -> Result<NetworkRecord> {
    let (subnet, gateway) = match (s.bip, old.and_then(|o| o.v4())) {
        (Some(bip), _) => {
            // Another interface's route over the same addresses would take the bridge's
            // traffic (dockerd does not check; the symptom is containers that cannot talk).
            let net = IpNet::V4(bip.trunc());
            if let Some(r) = super::host::routes(&[bridge.to_string()])
                .iter()
                .find(|r| r.prefix_len() > 0 && berth_net::ipam::overlaps(r, &net))
            {
                return Err(Error::InvalidArgument(format!(
                    "bip {bip}: the host already routes {r} through another interface; choose another subnet"
                )));
            }
            (bip.trunc(), bip.addr())
        }
        (None, Some((subnet, gateway))) if old.is_some_and(|o| o.bridge == bridge) => {
            (subnet, gateway)
        }
        _ => {
            let routes = super::host::routes(&[bridge.to_string()]);
            let taken: Vec<IpNet> = records
                .values()
                .filter(|r| !r.is_default_bridge())
                .flat_map(|r| r.subnets.iter().map(|s| s.subnet))
                .collect();
            let free = s
                .candidate_pools()
                .into_iter()
                .find(|c| {
                    let c = IpNet::V4(*c);
                    !routes
                        .iter()
                        .chain(taken.iter())
                        .any(|r| r.prefix_len() > 0 && berth_net::ipam::overlaps(r, &c))
                })
                .ok_or_else(|| {
                    Error::Internal(
                        "no free subnet for the default bridge: set \"bip\" in daemon.json".into(),
                    )
                })?;
            (free, super::settings::first_host(free))
        }
    };
    let mut r = old.cloned().unwrap_or_else(|| predefined("bridge", BRIDGE));
    r.driver = BRIDGE.into();
    r.bridge = bridge.to_string();
    r.mtu = s.mtu;
    r.masquerade = s.ip_masq;
    r.subnets = vec![SubnetRecord {
        subnet: IpNet::V4(subnet),
        gateway: IpAddr::V4(gateway),
        ip_range: s.fixed_cidr.map(|n: Ipv4Net| IpNet::V4(n)),
    }];
    r.options = BTreeMap::from([
        (
            "com.docker.network.bridge.default_bridge".into(),
            "true".into(),
        ),
        ("com.docker.network.bridge.enable_icc".into(), "true".into()),
        (
            "com.docker.network.bridge.enable_ip_masquerade".into(),
            s.ip_masq.to_string(),
        ),
        (
            "com.docker.network.bridge.host_binding_ipv4".into(),
            "0.0.0.0".into(),
        ),
        ("com.docker.network.bridge.name".into(), bridge.to_string()),
        ("com.docker.network.driver.mtu".into(), s.mtu.to_string()),
    ]);
    Ok(r)
}

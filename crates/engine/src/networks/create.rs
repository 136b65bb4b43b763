//! `network create`: a user-defined bridge network (Docker's request and rules).

use super::record::{NetworkRecord, SubnetRecord, BRIDGE};
use super::{ipam_err, Networks};
use crate::error::{Error, Result};
use crate::store::NETWORK_TABLE;
use crate::Engine;
use ipnet::IpNet;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

/// Docker's NetworkCreateRequest (the fields Berth reads; others are accepted and ignored).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateRequest {
    pub name: String,
    #[serde(default)]
    pub driver: Option<String>,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub attachable: bool,
    #[serde(default)]
    pub ingress: bool,
    #[serde(rename = "EnableIPv6", default)]
    pub enable_ipv6: Option<bool>,
    #[serde(rename = "IPAM", default)]
    pub ipam: Option<IpamRequest>,
    #[serde(default)]
    pub options: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub config_only: bool,
    #[serde(default)]
    pub config_from: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpamRequest {
    #[serde(default)]
    pub driver: Option<String>,
    #[serde(default)]
    pub config: Option<Vec<IpamConfigRequest>>,
    #[serde(default)]
    pub options: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpamConfigRequest {
    #[serde(default)]
    pub subnet: Option<String>,
    #[serde(rename = "IPRange", default)]
    pub ip_range: Option<String>,
    #[serde(default)]
    pub gateway: Option<String>,
    #[serde(default)]
    pub auxiliary_addresses: Option<HashMap<String, String>>,
}

const OPT_BRIDGE_NAME: &str = "com.docker.network.bridge.name";
const OPT_MASQUERADE: &str = "com.docker.network.bridge.enable_ip_masquerade";
const OPT_MTU: &str = "com.docker.network.driver.mtu";

/// Docker's rule for network names.
pub fn valid_network_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c))
}

impl Engine {
    /// Creates a bridge network; returns its id. Nothing is left behind when it fails.
    pub async fn network_create(&self, req: CreateRequest) -> Result<String> {
        let nets = &self.networks;
        let _admin = nets.admin.lock().await;
        if !valid_network_name(&req.name) {
            return Err(Error::InvalidArgument(format!(
                "invalid network name {:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                req.name
            )));
        }
        let driver = req.driver.clone().filter(|d| !d.is_empty());
        match driver.as_deref() {
            None | Some(BRIDGE) => {}
            Some(d @ ("host" | "null")) => {
                return Err(Error::Forbidden(format!(
                    "only one instance of \"{d}\" network is allowed"
                )))
            }
            Some(d) => {
                return Err(Error::NotFound(format!(
                    "plugin \"{d}\" not found: Berth supports the \"bridge\" driver"
                )))
            }
        }
        if req.ingress || req.config_only || req.config_from.is_some() {
            return Err(Error::InvalidArgument(
                "Ingress, ConfigOnly and ConfigFrom networks belong to swarm, which Berth does not run"
                    .into(),
            ));
        }
        if nets.lock().records.values().any(|r| r.name == req.name) {
            return Err(Error::Conflict(format!(
                "network with name {} already exists",
                req.name
            )));
        }
        let ipam = req.ipam.clone().unwrap_or_default();
        if let Some(d) = ipam
            .driver
            .as_deref()
            .filter(|d| !d.is_empty() && *d != "default")
        {
            return Err(Error::NotFound(format!(
                "IPAM.Driver: plugin \"{d}\" not found: Berth has the \"default\" IPAM driver"
            )));
        }
        let options = req.options.clone().unwrap_or_default();
        let id = crate::util::new_id();
        let bridge = options
            .get(OPT_BRIDGE_NAME)
            .cloned()
            .unwrap_or_else(|| format!("br-{}", &id[..12]));
        berth_net::link::validate_name(&bridge)
            .map_err(|e| Error::InvalidArgument(format!("Options.{OPT_BRIDGE_NAME}: {e}")))?;
        if nets.lock().records.values().any(|r| r.bridge == bridge) {
            return Err(Error::Conflict(format!(
                "bridge {bridge} is already used by another network"
            )));
        }
        let masquerade = match options.get(OPT_MASQUERADE).map(String::as_str) {
            None => true,
            Some(v) => v.parse::<bool>().map_err(|_| {
                Error::InvalidArgument(format!("Options.{OPT_MASQUERADE}: {v:?} is not a boolean"))
            })?,
        };
        let mtu = match options.get(OPT_MTU) {
            None => nets.settings.mtu,
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|m| (68..=65535).contains(m))
                .ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "Options.{OPT_MTU}: {v:?} is not an MTU between 68 and 65535"
                    ))
                })?,
        };
        if req.enable_ipv6 == Some(true) {
            return Err(Error::InvalidArgument(
                "EnableIPv6: IPv6 networks are not supported yet (IPv4 only)".into(),
            ));
        }

        let configs = ipam.config.clone().unwrap_or_default();
        let mut pools = Vec::new();
        for (i, c) in configs.iter().enumerate() {
            let Some(subnet) = c.subnet.as_deref().filter(|s| !s.is_empty()) else {
                return Err(Error::InvalidArgument(format!(
                    "IPAM.Config[{i}].Subnet: a subnet is required when a gateway or ip-range is given"
                )));
            };
            let pool = berth_net::ipam::PoolConfig::parse(
                subnet,
                c.gateway.as_deref().filter(|s| !s.is_empty()),
                c.ip_range.as_deref().filter(|s| !s.is_empty()),
            )
            .map_err(ipam_err)?;
            if !matches!(pool.subnet, IpNet::V4(_)) {
                return Err(Error::InvalidArgument(format!(
                    "IPAM.Config[{i}].Subnet {subnet}: IPv6 subnets are not supported yet"
                )));
            }
            pools.push(pool);
        }
        let user_subnets = !pools.is_empty();
        {
            let mut st = nets.lock();
            if user_subnets {
                st.ipam.add_network(&id, &pools).map_err(ipam_err)?;
            } else {
                let subnet = free_pool(nets, &st)?;
                let pool = berth_net::ipam::PoolConfig::new(IpNet::V4(subnet), None, None)
                    .map_err(ipam_err)?;
                st.ipam
                    .add_network(&id, std::slice::from_ref(&pool))
                    .map_err(ipam_err)?;
                pools.push(pool);
            }
        }
        let record = NetworkRecord {
            id: id.clone(),
            name: req.name.clone(),
            created: crate::util::now_rfc3339(),
            driver: BRIDGE.into(),
            enable_ipv6: false,
            subnets: pools
                .iter()
                .map(|p| SubnetRecord {
                    subnet: p.subnet,
                    gateway: p.gateway,
                    ip_range: p.ip_range,
                })
                .collect(),
            user_subnets,
            internal: req.internal,
            attachable: req.attachable,
            options,
            labels: req.labels.clone().unwrap_or_default(),
            ipam_options: ipam.options.clone().unwrap_or_default(),
            bridge,
            mtu,
            masquerade,
            predefined: false,
        };
        // The record first: after a crash the next daemon brings its bridge up; a bridge
        // without a record would be nobody's.
        let made = async {
            self.store.put(NETWORK_TABLE, &id, &record)?;
            nets.lock().records.insert(id.clone(), record.clone());
            if nets.settings.ip_forward {
                berth_net::link::enable_ip_forward().map_err(super::net_err)?;
            }
            nets.bring_up_bridge(&record).await?;
            nets.sync_firewall().await
        }
        .await;
        if let Err(e) = made {
            {
                let mut st = nets.lock();
                st.records.remove(&id);
                st.ipam.remove_network(&id);
            }
            let _ = self.store.delete(NETWORK_TABLE, &id);
            let _ = nets.netlink.delete_bridge(&record.bridge).await;
            let _ = nets.sync_firewall().await;
            return Err(e);
        }
        self.network_event(&record, "create", None);
        Ok(id)
    }

    /// Publishes a network event (Docker's Type "network").
    pub(crate) fn network_event(&self, r: &NetworkRecord, action: &str, container: Option<&str>) {
        let mut attrs = HashMap::new();
        attrs.insert("name".to_string(), r.name.clone());
        attrs.insert("type".to_string(), r.driver.clone());
        if let Some(c) = container {
            attrs.insert("container".to_string(), c.to_string());
        }
        self.events.publish(
            bollard_stubs::models::EventMessageTypeEnum::NETWORK,
            action,
            &r.id,
            attrs,
        );
    }
}

/// The first candidate pool that overlaps no network and no host route (our own bridges'
/// routes are our networks, already counted).
fn free_pool(nets: &Networks, st: &super::State) -> Result<ipnet::Ipv4Net> {
    let ours: Vec<String> = st.records.values().map(|r| r.bridge.clone()).collect();
    let routes = super::host::routes(&ours);
    let taken: Vec<IpNet> = st
        .records
        .values()
        .flat_map(|r| r.subnets.iter().map(|s| s.subnet))
        .collect();
    nets.settings
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
                "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network"
                    .into(),
            )
        })
}

//! The container side: which networks a container asks for (create), what a run gets (start:
//! addresses and ports before the spec, veth pairs and the DNS server between `RUNTIME create`
//! and `RUNTIME start`), what an exit gives back, and re-adoption after a daemon restart.

use super::dns::ContainerNames;
use super::record::{Attachment, LiveAttachment, PublishedPort};
use super::{ipam_err, LiveContainer, LiveEndpoint};
use crate::containers::ContainerRecord;
use crate::error::{Error, Result};
use crate::Engine;
use berth_net::ipam::{Family, MacAddr, Request};
use berth_net::link::VethConfig;
use bollard_stubs::models::{EndpointSettings, HostConfig};
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

/// The network mode of a container, from HostConfig.NetworkMode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Host,
    None,
    /// `container:NAME_OR_ID`.
    Container(String),
    /// The default bridge or a user network (by name or id).
    Network(String),
}

impl Mode {
    pub fn of(hc: &HostConfig) -> Mode {
        match hc.network_mode.as_deref().unwrap_or("") {
            "" | "default" | "bridge" => Mode::Network("bridge".into()),
            "host" => Mode::Host,
            "none" => Mode::None,
            m => match m.strip_prefix("container:") {
                Some(c) => Mode::Container(c.to_string()),
                None => Mode::Network(m.to_string()),
            },
        }
    }
}

/// What the spec needs from the network layer for one run.
#[derive(Debug, Default, Clone)]
pub struct NetPlan {
    pub host_network: bool,
    /// `container:NAME`: join this namespace, use that container's files and hostname.
    pub join: Option<PathBuf>,
    pub shared_from: Option<String>,
    pub shared_hostname: Option<String>,
    /// The attachments with what this run got.
    pub attachments: Vec<Attachment>,
    pub ports: Vec<PublishedPort>,
    /// On a user network: resolv.conf names 127.0.0.11.
    pub embedded_dns: bool,
}

impl NetPlan {
    /// The container's own addresses (for /etc/hosts), primary first.
    pub fn addresses(&self) -> Vec<IpAddr> {
        self.attachments
            .iter()
            .filter_map(|a| a.live.as_ref().map(|l| IpAddr::V4(l.address.addr())))
            .collect()
    }
}

fn ifname(i: usize) -> String {
    format!("eth{i}")
}

impl Engine {
    /// The attachments a new container asks for (NetworkMode plus NetworkingConfig), checked
    /// as dockerd checks them at create.
    pub(crate) fn network_attachments_for_create(
        &self,
        hc: &HostConfig,
        hostname_set: bool,
        endpoints: &HashMap<String, EndpointSettings>,
    ) -> Result<Vec<Attachment>> {
        // "default" is the daemon's default network, the bridge (docker CLI sends it).
        let endpoints: HashMap<String, EndpointSettings> = endpoints
            .iter()
            .map(|(k, v)| {
                let k = if k == "default" { "bridge" } else { k.as_str() };
                (k.to_string(), v.clone())
            })
            .collect();
        let endpoints = &endpoints;
        let ports_asked = hc.port_bindings.as_ref().is_some_and(|p| !p.is_empty())
            || hc.publish_all_ports == Some(true);
        match Mode::of(hc) {
            Mode::Container(other) => {
                let conflict = |what: &str| {
                    Err(Error::InvalidArgument(format!(
                        "conflicting options: {what} and the network mode"
                    )))
                };
                if hostname_set {
                    return conflict("hostname");
                }
                if ports_asked {
                    return conflict("port publishing");
                }
                if hc.dns.as_ref().is_some_and(|d| !d.is_empty()) {
                    return conflict("dns");
                }
                if hc.extra_hosts.as_ref().is_some_and(|d| !d.is_empty()) {
                    return conflict("custom host-to-IP mapping");
                }
                // 400, not 404: the docker CLI reads a 404 from create as a missing image
                // and would try to pull it.
                self.containers
                    .find(&other)
                    .map_err(|_| Error::InvalidArgument(format!("No such container: {other}")))?;
                Ok(Vec::new())
            }
            mode => {
                let primary = match &mode {
                    Mode::Host => "host".to_string(),
                    Mode::None => "none".to_string(),
                    Mode::Network(n) => n.clone(),
                    Mode::Container(_) => unreachable!("handled above"),
                };
                let mut names: Vec<&String> = endpoints.keys().collect();
                names.sort();
                let mut order = vec![primary.clone()];
                for n in names {
                    if !order.contains(n) && !self.same_network(n, &primary) {
                        order.push(n.clone());
                    }
                }
                if order.len() > 1 && matches!(mode, Mode::Host | Mode::None) {
                    return Err(Error::InvalidArgument(format!(
                        "container cannot be connected to multiple networks with one of the networks in {primary} mode"
                    )));
                }
                let mut out = Vec::new();
                for name in order {
                    let ep = endpoints
                        .get(&name)
                        .or_else(|| {
                            endpoints
                                .iter()
                                .find(|(k, _)| self.same_network(k, &name))
                                .map(|(_, v)| v)
                        })
                        .cloned()
                        .unwrap_or_default();
                    // 400, not 404, for the same reason.
                    out.push(self.attachment(&name, &ep).map_err(|e| match e {
                        Error::NotFound(m) => Error::InvalidArgument(m),
                        e => e,
                    })?);
                }
                Ok(out)
            }
        }
    }

    fn same_network(&self, a: &str, b: &str) -> bool {
        let st = self.networks.lock();
        match (st.find(a), st.find(b)) {
            (Ok(x), Ok(y)) => x.id == y.id,
            _ => false,
        }
    }

    /// An attachment to the network `key` with the endpoint settings of a create or connect.
    pub(crate) fn attachment(&self, key: &str, ep: &EndpointSettings) -> Result<Attachment> {
        let r = self.networks.lock().find(key)?.clone();
        let ipv4_request = match ep
            .ipam_config
            .as_ref()
            .and_then(|c| c.ipv4_address.as_deref())
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(s) => {
                let ip = s
                    .parse::<Ipv4Addr>()
                    .map_err(|_| Error::InvalidArgument(format!("invalid IPv4 address: {s}")))?;
                if !r.is_bridge() || !r.user_subnets {
                    return Err(Error::InvalidArgument(
                        "user specified IP address is supported only when connecting to networks with user configured subnets".into(),
                    ));
                }
                if !r.subnets.iter().any(|s| s.subnet.contains(&IpAddr::V4(ip))) {
                    return Err(Error::InvalidArgument(format!(
                        "no configured subnet or ip-range contain the IP address {ip}"
                    )));
                }
                Some(ip)
            }
        };
        let aliases: Vec<String> = ep.aliases.clone().unwrap_or_default();
        if !aliases.is_empty() && (r.is_default_bridge() || !r.is_bridge()) {
            return Err(Error::InvalidArgument(
                "network-scoped alias is supported only for containers in user defined networks"
                    .into(),
            ));
        }
        let mac_request = ep.mac_address.clone().filter(|m| !m.is_empty());
        if let Some(m) = &mac_request {
            parse_mac(m)?;
        }
        Ok(Attachment {
            network_id: r.id.clone(),
            network_name: r.name.clone(),
            aliases,
            ipv4_request,
            mac_request,
            live: None,
        })
    }

    /// Before the spec of a run: the mode, addresses and published ports. What it takes is
    /// registered for the container at once, so `cleanup_run` (network_release) gives it back
    /// whatever fails later.
    pub(crate) async fn network_prepare(&self, rec: &ContainerRecord) -> Result<NetPlan> {
        let mut plan = NetPlan::default();
        match Mode::of(&rec.host_config) {
            Mode::Host => {
                plan.host_network = true;
                plan.attachments = rec.networks.attachments.clone();
                return Ok(plan);
            }
            Mode::None => {
                plan.attachments = rec.networks.attachments.clone();
                return Ok(plan);
            }
            Mode::Container(other) => {
                let o = self.containers.find(&other)?.record();
                if !o.state.status.is_live() || o.state.pid <= 0 {
                    return Err(Error::Conflict(format!(
                        "cannot join network of a non running container: {}",
                        o.id
                    )));
                }
                plan.join = Some(PathBuf::from(format!("/proc/{}/ns/net", o.state.pid)));
                plan.shared_hostname = Some(
                    o.config
                        .hostname
                        .clone()
                        .filter(|h| !h.is_empty())
                        .unwrap_or_else(|| o.id.chars().take(12).collect()),
                );
                plan.shared_from = Some(o.id);
                return Ok(plan);
            }
            Mode::Network(_) => {}
        }
        let nets = &self.networks;
        let mut st = nets.lock();
        st.live.insert(
            rec.id.clone(),
            LiveContainer {
                name: rec.name.clone(),
                ..Default::default()
            },
        );
        for (i, a) in rec.networks.attachments.iter().enumerate() {
            let r = match st.records.get(&a.network_id) {
                Some(r) => r.clone(),
                None => st.find(&a.network_name)?.clone(),
            };
            if !r.is_bridge() {
                continue;
            }
            let live = allocate_live(&mut st, &rec.id, &r, a, ifname(i))?;
            if !r.is_default_bridge() {
                plan.embedded_dns = true;
            }
            let mut a = a.clone();
            a.network_id = r.id.clone();
            a.live = Some(live);
            plan.attachments.push(a);
        }
        if plan.attachments.iter().any(|a| a.live.is_some()) {
            let reqs = super::ports::requests(&rec.config, &rec.host_config)?;
            let (ports, fds) = super::ports::allocate(&mut st, &rec.id, &reqs)?;
            if let Some(l) = st.live.get_mut(&rec.id) {
                l.ports = ports.clone();
                l.reservations = fds;
            }
            plan.ports = ports;
        }
        Ok(plan)
    }

    /// One veth configuration per bridge attachment of the plan (by attachment index).
    fn veth_configs(&self, plan: &NetPlan, netns: &std::path::Path) -> Vec<(usize, VethConfig)> {
        let gateway_from = self.gateway_attachment(&plan.attachments);
        let st = self.networks.lock();
        let mut out = Vec::new();
        for (i, a) in plan.attachments.iter().enumerate() {
            let (Some(live), Some(r)) = (&a.live, st.records.get(&a.network_id)) else {
                continue;
            };
            let Ok(mac) = parse_mac(&live.mac) else {
                continue;
            };
            out.push((
                i,
                VethConfig {
                    host_name: live.veth.clone(),
                    bridge: r.bridge.clone(),
                    netns: netns.to_path_buf(),
                    container_name: live.ifname.clone(),
                    addresses: vec![IpNet::V4(live.address)],
                    mac: Some(mac),
                    mtu: r.mtu,
                    gateways: if Some(i) == gateway_from {
                        vec![IpAddr::V4(live.gateway)]
                    } else {
                        Vec::new()
                    },
                },
            ));
        }
        out
    }

    /// Between `RUNTIME create` and `RUNTIME start`: one veth pair per bridge network, made
    /// with its end inside the namespace of the container's init `pid`; the DNS server; the
    /// published ports' rules.
    pub(crate) async fn network_plumb(
        &self,
        rec: &ContainerRecord,
        plan: &NetPlan,
        pid: u32,
    ) -> Result<()> {
        let timer = std::time::Instant::now();
        let netns = PathBuf::from(format!("/proc/{pid}/ns/net"));
        for (_, cfg) in self.veth_configs(plan, &netns) {
            self.networks
                .netlink
                .create_veth(&cfg)
                .await
                .map_err(|e| Error::Internal(format!("{}: {e}", cfg.bridge)))?;
            // Hairpin (see berth-net's firewall module); a failure only costs that path.
            if let Err(e) = berth_net::link::set_hairpin(&cfg.host_name, true) {
                tracing::warn!(veth = %cfg.host_name, "hairpin mode: {e}");
            }
        }
        if plan.embedded_dns {
            self.start_dns(rec, &netns).await?;
        }
        if !plan.ports.is_empty() {
            self.networks.sync_firewall().await?;
        }
        tracing::debug!(id = %rec.id, elapsed = ?timer.elapsed(), "network plumbed");
        Ok(())
    }

    /// The attachment whose gateway is the default route: the first one not internal.
    fn gateway_attachment(&self, attachments: &[Attachment]) -> Option<usize> {
        let st = self.networks.lock();
        attachments.iter().position(|a| {
            a.live.is_some() && st.records.get(&a.network_id).is_some_and(|r| !r.internal)
        })
    }

    /// Starts the embedded DNS server in the container's namespace (once per run).
    pub(crate) async fn start_dns(
        &self,
        rec: &ContainerRecord,
        netns: &std::path::Path,
    ) -> Result<()> {
        let names = ContainerNames {
            state: std::sync::Arc::downgrade(&self.networks.state),
            container: rec.id.clone(),
        };
        let mut upstream: Vec<IpAddr> = rec
            .host_config
            .dns
            .clone()
            .unwrap_or_default()
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect();
        if upstream.is_empty() {
            upstream = self.networks.settings.dns.clone();
        }
        let handle = super::dns::start_server(netns, names, &upstream)
            .await
            .map_err(|e| Error::Internal(format!("starting the embedded DNS server: {e}")))?;
        let mut st = self.networks.lock();
        match st.live.get_mut(&rec.id) {
            Some(l) => {
                if let Some(old) = l.dns.replace(handle) {
                    old.abort();
                }
            }
            None => handle.abort(),
        }
        Ok(())
    }

    /// Gives back what a run of container `id` held: addresses, ports (and their rules), the
    /// DNS server, and deletes its veth pairs (the kernel deletes them with the namespace
    /// too, but not always before the next run wants the address). Idempotent.
    pub(crate) async fn network_release(&self, id: &str) {
        let nets = &self.networks;
        let Some(live) = nets.lock().live.remove(id) else {
            return;
        };
        if let Some(dns) = &live.dns {
            dns.abort();
        }
        let had_ports = !live.ports.is_empty();
        {
            let mut st = nets.lock();
            for p in &live.ports {
                st.reserved.remove(&(p.proto, p.host_ip, p.host_port));
            }
        }
        drop(live.reservations);
        if had_ports {
            if let Err(e) = nets.sync_firewall().await {
                tracing::warn!(id, "removing published ports: {e}");
            }
        }
        // Deleting a veth waits for an RCU grace period (milliseconds): done after the exit is
        // recorded, off the path of `docker run --rm`. The address is given back only once
        // its interface is gone.
        let engine = self.clone();
        let endpoints = live.endpoints;
        let container = id.to_string();
        let timer = std::time::Instant::now();
        tokio::spawn(async move {
            for e in &endpoints {
                if let Err(err) = engine.networks.netlink.delete_veth(&e.veth).await {
                    tracing::warn!(veth = %e.veth, "deleting: {err}");
                }
                let mut st = engine.networks.lock();
                let _ = st.ipam.release(&e.network_id, IpAddr::V4(e.ip));
            }
            tracing::debug!(id = %container, elapsed = ?timer.elapsed(), "released endpoints");
        });
    }

    /// After a daemon restart, for a container still running: its addresses and ports are
    /// taken again and its DNS server restarted (the firewall is rewritten once, after all).
    pub(crate) async fn network_readopt(&self, rec: &ContainerRecord) {
        if !matches!(Mode::of(&rec.host_config), Mode::Network(_)) {
            return;
        }
        let mut user_network = false;
        {
            let mut st = self.networks.lock();
            let mut live = LiveContainer {
                name: rec.name.clone(),
                ..Default::default()
            };
            for a in &rec.networks.attachments {
                let Some(l) = &a.live else { continue };
                let Some(r) = st.records.get(&a.network_id).cloned() else {
                    tracing::warn!(id = %rec.id, network = %a.network_name, "re-adopting: the network is gone");
                    continue;
                };
                if let Err(e) = st
                    .ipam
                    .allocate(&r.id, Request::Exact(IpAddr::V4(l.address.addr())))
                {
                    tracing::warn!(id = %rec.id, "re-adopting {}: {e}", l.address);
                }
                user_network |= !r.is_default_bridge();
                live.endpoints.push(LiveEndpoint {
                    network_id: r.id.clone(),
                    ip: l.address.addr(),
                    aliases: a.aliases.clone(),
                    veth: l.veth.clone(),
                });
            }
            for p in &rec.networks.ports {
                match super::ports::reserve(p.proto, p.host_ip, p.host_port) {
                    Ok(fd) => live.reservations.push(fd),
                    Err(e) => tracing::warn!(id = %rec.id, "re-adopting port {}: {e}", p.host_port),
                }
                st.reserved
                    .insert((p.proto, p.host_ip, p.host_port), rec.id.clone());
            }
            live.ports = rec.networks.ports.clone();
            st.live.insert(rec.id.clone(), live);
        }
        if user_network && rec.state.pid > 0 {
            let netns = PathBuf::from(format!("/proc/{}/ns/net", rec.state.pid));
            if let Err(e) = self.start_dns(rec, &netns).await {
                tracing::warn!(id = %rec.id, "re-adopting: {e}");
            }
        }
    }

    /// A rename changes the name the embedded DNS answers.
    pub(crate) fn network_rename(&self, id: &str, name: &str) {
        if let Some(l) = self.networks.lock().live.get_mut(id) {
            l.name = name.to_string();
        }
    }
}

/// An address on network `r` for attachment `a` (its `--ip`, or the next free one), with its
/// MAC, endpoint id and veth name, registered as a live endpoint of `container` (whose entry
/// must exist, so that `network_release` gives the address back whatever happens next).
pub(crate) fn allocate_live(
    st: &mut super::State,
    container: &str,
    r: &super::record::NetworkRecord,
    a: &Attachment,
    ifname: String,
) -> Result<LiveAttachment> {
    let (_, gateway) = r
        .v4()
        .ok_or_else(|| Error::Internal(format!("network {} has no IPv4 subnet", r.name)))?;
    let mac_request = a.mac_request.as_deref().map(parse_mac).transpose()?;
    let request = match a.ipv4_request {
        Some(ip) => Request::Exact(IpAddr::V4(ip)),
        None => Request::Any(Family::V4),
    };
    let got = st.ipam.allocate(&r.id, request).map_err(ipam_err)?;
    let IpNet::V4(address) = got else {
        let _ = st.ipam.release(&r.id, got.addr());
        return Err(Error::Internal(format!(
            "network {}: an IPv4 request got {got}",
            r.name
        )));
    };
    let endpoint_id = crate::util::new_id();
    let live = LiveAttachment {
        veth: format!("veth{}", &endpoint_id[..7]),
        endpoint_id,
        address,
        gateway,
        mac: mac_request
            .unwrap_or_else(|| MacAddr::from_ipv4(address.addr()))
            .to_string(),
        ifname,
    };
    match st.live.get_mut(container) {
        Some(l) => l.endpoints.push(LiveEndpoint {
            network_id: r.id.clone(),
            ip: address.addr(),
            aliases: a.aliases.clone(),
            veth: live.veth.clone(),
        }),
        None => {
            let _ = st.ipam.release(&r.id, IpAddr::V4(address.addr()));
            return Err(Error::Internal(format!(
                "container {container} holds no network state"
            )));
        }
    }
    Ok(live)
}

/// "02:42:ac:11:00:02" -> bytes, naming the value when it is not a MAC address.
pub(crate) fn parse_mac(s: &str) -> Result<MacAddr> {
    let bad = || Error::InvalidArgument(format!("invalid MAC address: {s}"));
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut b = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        if p.len() != 2 {
            return Err(bad());
        }
        b[i] = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    Ok(MacAddr(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_macs() {
        let hc = |m: &str| HostConfig {
            network_mode: Some(m.into()),
            ..Default::default()
        };
        assert_eq!(Mode::of(&hc("default")), Mode::Network("bridge".into()));
        assert_eq!(Mode::of(&hc("")), Mode::Network("bridge".into()));
        assert_eq!(Mode::of(&hc("host")), Mode::Host);
        assert_eq!(
            Mode::of(&hc("container:web")),
            Mode::Container("web".into())
        );
        assert_eq!(Mode::of(&hc("mynet")), Mode::Network("mynet".into()));
        assert_eq!(
            parse_mac("02:42:ac:11:00:02").expect("valid").0,
            [2, 0x42, 0xac, 0x11, 0, 2]
        );
        assert!(parse_mac("02:42:ac:11:00").is_err());
        assert!(parse_mac("zz:42:ac:11:00:02").is_err());
    }
}

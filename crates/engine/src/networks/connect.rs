//! `network connect` and `network disconnect`, on stopped containers (the record) and live on
//! running ones (an interface appears or goes, the embedded DNS follows).

use super::endpoint::Mode;
use super::record::LiveAttachment;
use super::LiveContainer;
use crate::error::{Error, Result};
use crate::Engine;
use bollard_stubs::models::EndpointSettings;
use ipnet::IpNet;
use std::net::IpAddr;
use std::path::PathBuf;

impl Engine {
    /// Connects a container to a network.
    pub async fn network_connect(
        &self,
        network: &str,
        container: &str,
        ep: EndpointSettings,
    ) -> Result<()> {
        let c = self.containers.find(container)?;
        let _op = c.op.lock().await;
        let rec = c.record();
        let r = self.networks.lock().find(network)?.clone();
        match Mode::of(&rec.host_config) {
            Mode::Host => {
                return Err(Error::Forbidden(
                    "container cannot be disconnected from host network or connected to host network"
                        .into(),
                ))
            }
            Mode::None => {
                return Err(Error::Forbidden(
                    "container cannot be connected to multiple networks with one of the networks in private (none) mode"
                        .into(),
                ))
            }
            Mode::Container(_) => {
                return Err(Error::Forbidden(
                    "conflicting options: container type network can't be used with multiple networks"
                        .into(),
                ))
            }
            Mode::Network(_) => {}
        }
        if !r.is_bridge() {
            return Err(Error::Forbidden(format!(
                "container cannot be connected to the {} network",
                r.name
            )));
        }
        if rec.networks.find(&r.id).is_some() {
            return Err(Error::Forbidden(format!(
                "endpoint with name {} already exists in network {}",
                rec.name, r.name
            )));
        }
        let mut attachment = self.attachment(&r.id, &ep)?;
        if rec.state.status.is_live() && rec.state.pid > 0 {
            let index = next_ifindex(&rec.networks.attachments);
            let live = self.connect_live(&rec, &attachment, index).await?;
            attachment.live = Some(live);
        }
        let committed = c.update(self, |rec| {
            rec.networks.attachments.push(attachment.clone())
        });
        if let Err(e) = committed {
            if let Some(live) = &attachment.live {
                self.disconnect_live(&rec.id, &r.id, live).await;
            }
            return Err(e);
        }
        self.network_event(&r, "connect", Some(&rec.id));
        Ok(())
    }

    /// Disconnects a container from a network. `force` is accepted as dockerd accepts it.
    pub async fn network_disconnect(
        &self,
        network: &str,
        container: &str,
        _force: bool,
    ) -> Result<()> {
        let c = self.containers.find(container)?;
        let _op = c.op.lock().await;
        let rec = c.record();
        let r = self.networks.lock().find(network)?.clone();
        if matches!(Mode::of(&rec.host_config), Mode::Host) || r.driver == super::record::HOST {
            return Err(Error::Forbidden(
                "container cannot be disconnected from host network or connected to host network"
                    .into(),
            ));
        }
        let Some(a) = rec.networks.find(&r.id).cloned() else {
            return Err(Error::Forbidden(format!(
                "container {} is not connected to network {}",
                rec.id, r.name
            )));
        };
        c.update(self, |rec| {
            rec.networks.attachments.retain(|x| x.network_id != r.id);
        })?;
        if let Some(live) = &a.live {
            self.disconnect_live(&rec.id, &r.id, live).await;
        }
        self.network_event(&r, "disconnect", Some(&rec.id));
        Ok(())
    }

    /// Adds an interface to a running container.
    async fn connect_live(
        &self,
        rec: &crate::containers::ContainerRecord,
        a: &super::record::Attachment,
        index: usize,
    ) -> Result<LiveAttachment> {
        let r = self
            .networks
            .lock()
            .records
            .get(&a.network_id)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("network {} not found", a.network_name)))?;
        let live = {
            let mut st = self.networks.lock();
            st.live
                .entry(rec.id.clone())
                .or_insert_with(|| LiveContainer {
                    name: rec.name.clone(),
                    ..Default::default()
                });
            super::endpoint::allocate_live(&mut st, &rec.id, &r, a, format!("eth{index}"))?
        };
        let netns = PathBuf::from(format!("/proc/{}/ns/net", rec.state.pid));
        let no_route_yet = !rec.networks.attachments.iter().any(|x| x.live.is_some());
        let mut result = self
            .networks
            .netlink
            .create_veth(&berth_net::link::VethConfig {
                host_name: live.veth.clone(),
                bridge: r.bridge.clone(),
                netns: netns.clone(),
                container_name: live.ifname.clone(),
                addresses: vec![IpNet::V4(live.address)],
                mac: Some(super::endpoint::parse_mac(&live.mac)?),
                mtu: r.mtu,
                gateways: if no_route_yet && !r.internal {
                    vec![IpAddr::V4(live.gateway)]
                } else {
                    Vec::new()
                },
            })
            .await
            .map_err(|e| Error::Internal(format!("network {}: {e}", r.name)));
        if result.is_ok() {
            let _ = berth_net::link::set_hairpin(&live.veth, true);
            let has_dns = self
                .networks
                .lock()
                .live
                .get(&rec.id)
                .is_some_and(|l| l.dns.is_some());
            if !r.is_default_bridge() && !has_dns {
                result = self.start_dns(rec, &netns).await;
            }
        }
        if let Err(e) = result {
            self.disconnect_live(&rec.id, &r.id, &live).await;
            return Err(e);
        }
        Ok(live)
    }

    /// Removes a running container's interface on a network and gives its address back.
    async fn disconnect_live(&self, id: &str, network_id: &str, live: &LiveAttachment) {
        if let Err(e) = self.networks.netlink.delete_veth(&live.veth).await {
            tracing::warn!(veth = %live.veth, "disconnect: {e}");
        }
        let mut guard = self.networks.lock();
        let st = &mut *guard;
        let _ = st.ipam.release(network_id, IpAddr::V4(live.address.addr()));
        if let Some(l) = st.live.get_mut(id) {
            l.endpoints.retain(|e| e.network_id != network_id);
            let user_left = l.endpoints.iter().any(|e| {
                st.records
                    .get(&e.network_id)
                    .is_some_and(|r| !r.is_default_bridge())
            });
            // The embedded DNS serves user networks only.
            if !user_left {
                if let Some(dns) = l.dns.take() {
                    dns.abort();
                }
            }
        }
    }
}

/// The first ethN not used by an attachment of the current run.
fn next_ifindex(attachments: &[super::record::Attachment]) -> usize {
    (0..)
        .find(|i| {
            let name = format!("eth{i}");
            !attachments
                .iter()
                .any(|a| a.live.as_ref().is_some_and(|l| l.ifname == name))
        })
        .expect("an unused interface index exists")
}

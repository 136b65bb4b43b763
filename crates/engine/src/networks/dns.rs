//! The names the embedded DNS server (127.0.0.11 in each container on a user network) answers:
//! the container names, `--network-alias`es and short ids of the running containers that share
//! a user network with the asking container. Everything else goes to the upstream resolvers.

use super::State;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::{Mutex, Weak};

/// Names as seen by one container.
pub(crate) struct ContainerNames {
    pub state: Weak<Mutex<State>>,
    pub container: String,
}

impl ContainerNames {
    fn with_state<T>(&self, f: impl FnOnce(&State) -> Option<T>) -> Option<T> {
        let state = self.state.upgrade()?;
        let st = state.lock().unwrap_or_else(|p| p.into_inner());
        f(&st)
    }

    /// Its user networks' ids (the default bridge has no name resolution, as in Docker), from
    /// the live state: connect and disconnect change them while the server runs.
    fn networks(&self, st: &State) -> Vec<String> {
        st.live
            .get(&self.container)
            .map(|l| {
                l.endpoints
                    .iter()
                    .filter(|e| {
                        st.records
                            .get(&e.network_id)
                            .is_some_and(|r| !r.is_default_bridge())
                    })
                    .map(|e| e.network_id.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl berth_net::dns::Lookup for ContainerNames {
    fn lookup(&self, name: &str) -> Option<Vec<IpAddr>> {
        self.with_state(|st| {
            let nets = self.networks(st);
            // "NAME.NETWORK" names a container on that network only (Docker answers both).
            let scoped: Option<(&str, &str)> = name.rsplit_once('.').and_then(|(n, net)| {
                st.records
                    .values()
                    .find(|r| r.name.eq_ignore_ascii_case(net) && nets.contains(&r.id))
                    .map(|r| (n, r.id.as_str()))
            });
            let mut out = Vec::new();
            let mut ids: Vec<&String> = st.live.keys().collect();
            ids.sort();
            for id in ids {
                let l = &st.live[id];
                for e in &l.endpoints {
                    let (want, on) = match scoped {
                        Some((n, net)) => (n, e.network_id == net),
                        None => (name, nets.contains(&e.network_id)),
                    };
                    if !on {
                        continue;
                    }
                    let hit = l.name.eq_ignore_ascii_case(want)
                        || e.aliases.iter().any(|a| a.eq_ignore_ascii_case(want))
                        || (want.len() == 12 && id.starts_with(want));
                    if hit && !out.contains(&IpAddr::V4(e.ip)) {
                        out.push(IpAddr::V4(e.ip));
                    }
                }
            }
            (!out.is_empty()).then_some(out)
        })
    }

    fn reverse(&self, ip: IpAddr) -> Option<Vec<String>> {
        self.with_state(|st| {
            let nets = self.networks(st);
            for l in st.live.values() {
                for e in &l.endpoints {
                    if IpAddr::V4(e.ip) == ip && nets.contains(&e.network_id) {
                        let net = st.records.get(&e.network_id).map(|r| r.name.clone());
                        return Some(vec![match net {
                            Some(n) => format!("{}.{n}", l.name),
                            None => l.name.clone(),
                        }]);
                    }
                }
            }
            None
        })
    }
}

/// Starts the embedded DNS server inside the namespace `netns` of a container.
pub(crate) async fn start_server(
    netns: &Path,
    names: ContainerNames,
    upstream_override: &[IpAddr],
) -> Result<tokio::task::JoinHandle<()>, berth_net::dns::DnsError> {
    let addr = SocketAddr::new(IpAddr::V4(berth_net::dns::CONTAINER_DNS_ADDR), 53);
    let (udp, tcp) = berth_net::dns::bind_in_netns(netns, addr).await?;
    let upstreams = if upstream_override.is_empty() {
        berth_net::dns::Upstreams::host().unwrap_or(berth_net::dns::Upstreams {
            servers: Vec::new(),
            timeout: berth_net::dns::DEFAULT_TIMEOUT,
        })
    } else {
        berth_net::dns::Upstreams {
            servers: upstream_override
                .iter()
                .map(|ip| SocketAddr::new(*ip, 53))
                .collect(),
            timeout: berth_net::dns::DEFAULT_TIMEOUT,
        }
    };
    berth_net::dns::serve(udp, Some(tcp), std::sync::Arc::new(names), upstreams)
}

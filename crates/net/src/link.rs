//! Bridges and veth pairs over rtnetlink, and the two sysctls bridge networking needs.
//!
//! Configuring a container's side happens in its network namespace. Rather than moving a
//! thread of the daemon's runtime into it (a tokio worker left in another namespace would break
//! every later task scheduled on it), [`Netlink::in_netns`] opens the netlink socket from a
//! short-lived dedicated thread that did `setns(CLONE_NEWNET)`: a netlink socket belongs to
//! the namespace it was created in, so the socket keeps talking to the container's namespace
//! from any thread afterwards.
//!
//! Every operation leaves nothing half-made: a veth whose later setup fails is deleted (which
//! deletes its peer wherever it went), and a bridge created by a failing [`Netlink::ensure_bridge`]
//! is deleted again. Errors name the device.

use std::fs::File;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

use futures_util::TryStreamExt;
use ipnet::IpNet;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkInfo, LinkMessage,
};
use rtnetlink::{
    Handle, LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder,
};

use crate::ipam::MacAddr;

/// Why a link operation failed; every variant names the device, namespace or file.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("invalid device name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error("opening a netlink socket: {0}")]
    Socket(#[source] io::Error),
    #[error("network namespace {path}: {source}")]
    Netns {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{device}: {op}: {source}")]
    Netlink {
        device: String,
        op: &'static str,
        #[source]
        source: rtnetlink::Error,
    },
    #[error("device {0} not found")]
    NotFound(String),
    #[error("device {0} already exists")]
    Exists(String),
    #[error("device {device} exists and is {kind}, not a bridge")]
    NotABridge { device: String, kind: String },
    #[error(
        "bridge {device} already has address {found}, which is not in its configuration ({wanted})"
    )]
    BridgeAddressMismatch {
        device: String,
        found: IpNet,
        wanted: String,
    },
    #[error("sysctl {path}: {source}")]
    Sysctl {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Linux's limit on interface names (IFNAMSIZ - 1).
pub const MAX_NAME_LEN: usize = 15;

/// Checks a device name the way the kernel will, so a bad name fails before anything is made.
pub fn validate_name(name: &str) -> Result<(), LinkError> {
    let reason = if name.is_empty() {
        Some("empty")
    } else if name.len() > MAX_NAME_LEN {
        Some("longer than 15 bytes")
    } else if name == "." || name == ".." {
        Some("reserved")
    } else if name
        .bytes()
        .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0)
    {
        Some("contains '/', ':', a space or NUL")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(LinkError::InvalidName {
            name: name.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

/// A bridge as the daemon wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeConfig {
    pub name: String,
    pub mtu: u32,
    /// The gateway addresses with the subnet's prefix length (e.g. 172.17.0.1/16).
    pub addresses: Vec<IpNet>,
}

/// A container's veth pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VethConfig {
    /// The host end's name (stays in the host namespace, attached to `bridge`).
    pub host_name: String,
    pub bridge: String,
    /// The container's network namespace: /proc/PID/ns/net or a bind-mounted netns file.
    pub netns: PathBuf,
    /// The container end's name inside the namespace, normally eth0.
    pub container_name: String,
    /// Container addresses with the subnet's prefix length.
    pub addresses: Vec<IpNet>,
    pub mac: Option<MacAddr>,
    pub mtu: u32,
    /// Default routes to add (one gateway per family).
    pub gateways: Vec<IpAddr>,
}

/// A netlink connection bound to one network namespace.
#[derive(Clone)]
pub struct Netlink {
    handle: Handle,
}

impl std::fmt::Debug for Netlink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Netlink")
    }
}

fn nl<'a>(device: &'a str, op: &'static str) -> impl FnOnce(rtnetlink::Error) -> LinkError + 'a {
    move |source| LinkError::Netlink {
        device: device.to_string(),
        op,
        source,
    }
}

fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(-m.raw_code()),
        _ => None,
    }
}

impl Netlink {
    /// A connection in the caller's namespace. Must be called inside a tokio runtime (the
    /// connection runs as a task on it).
    pub fn current() -> Result<Netlink, LinkError> {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(LinkError::Socket)?;
        tokio::spawn(conn);
        Ok(Netlink { handle })
    }

    /// A connection in the network namespace at `path` (see the module documentation).
    pub async fn in_netns(path: &Path) -> Result<Netlink, LinkError> {
        let ns_err = |source| LinkError::Netns {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(ns_err)?;
        let runtime = tokio::runtime::Handle::current();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("berth-netns".into())
            .spawn(move || {
                let result = berth_sys::process::setns(file.as_fd(), libc::CLONE_NEWNET)
                    .map_err(Err)
                    .and_then(|()| {
                        // The socket is registered with the caller's reactor but created here,
                        // in the target namespace.
                        let _enter = runtime.enter();
                        rtnetlink::new_connection().map_err(Ok)
                    });
                // The receiver only goes away if the caller was cancelled.
                let _ = tx.send(result);
            })
            .map_err(LinkError::Socket)?;
        let received = rx.await.map_err(|_| {
            LinkError::Socket(io::Error::other(
                "the namespace thread ended without answering",
            ))
        })?;
        let (conn, handle, _) = match received {
            Ok(c) => c,
            Err(Err(setns)) => return Err(ns_err(setns)),
            Err(Ok(socket)) => return Err(LinkError::Socket(socket)),
        };
        tokio::spawn(conn);
        Ok(Netlink { handle })
    }

    async fn get(&self, name: &str) -> Result<Option<LinkMessage>, LinkError> {
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match links.try_next().await {
            Ok(link) => Ok(link),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(nl(name, "looking up")(e)),
        }
    }

    /// The interface index of a device, if it exists.
    pub async fn index(&self, name: &str) -> Result<Option<u32>, LinkError> {
        validate_name(name)?;
        Ok(self.get(name).await?.map(|l| l.header.index))
    }

    async fn require(&self, name: &str) -> Result<u32, LinkError> {
        self.index(name)
            .await?
            .ok_or_else(|| LinkError::NotFound(name.to_string()))
    }

    /// Brings a device up.
    pub async fn set_up(&self, name: &str) -> Result<(), LinkError> {
        let index = self.require(name).await?;
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(nl(name, "bringing up"))
    }

    /// Deletes a device. Returns false when it did not exist.
    pub async fn delete(&self, name: &str) -> Result<bool, LinkError> {
        let Some(index) = self.index(name).await? else {
            return Ok(false);
        };
        match self.handle.link().del(index).execute().await {
            Ok(()) => Ok(true),
            // Gone in the meantime (a veth whose peer's namespace died): what we wanted.
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(false),
            Err(e) => Err(nl(name, "deleting")(e)),
        }
    }

    /// Addresses on a device (all scopes).
    pub async fn addresses(&self, name: &str) -> Result<Vec<IpNet>, LinkError> {
        let index = self.require(name).await?;
        let mut out = Vec::new();
        let mut stream = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute();
        while let Some(msg) = stream
            .try_next()
            .await
            .map_err(nl(name, "listing addresses"))?
        {
            let prefix = msg.header.prefix_len;
            if let Some(ip) = msg.attributes.iter().find_map(|a| match a {
                AddressAttribute::Address(ip) => Some(*ip),
                _ => None,
            }) {
                if let Ok(net) = IpNet::new(ip, prefix) {
                    out.push(net);
                }
            }
        }
        Ok(out)
    }

    /// Creates the bridge, or accepts an existing one with the same addresses (setting its
    /// MTU and bringing it up). Returns its interface index.
    pub async fn ensure_bridge(&self, cfg: &BridgeConfig) -> Result<u32, LinkError> {
        validate_name(&cfg.name)?;
        let name = cfg.name.as_str();
        let (index, created) = match self.get(name).await? {
            Some(link) => {
                let kind = link_kind(&link);
                if kind != Some(InfoKind::Bridge) {
                    return Err(LinkError::NotABridge {
                        device: name.to_string(),
                        kind: kind.map_or_else(|| "a device".to_string(), |k| format!("a {k}")),
                    });
                }
                let wanted = cfg
                    .addresses
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                for found in self.addresses(name).await? {
                    if !is_link_local(&found) && !cfg.addresses.contains(&found) {
                        return Err(LinkError::BridgeAddressMismatch {
                            device: name.to_string(),
                            found,
                            wanted,
                        });
                    }
                }
                (link.header.index, false)
            }
            None => {
                self.handle
                    .link()
                    .add(LinkBridge::new(name).mtu(cfg.mtu).build())
                    .execute()
                    .await
                    .map_err(|e| match errno(&e) {
                        Some(libc::EEXIST) => LinkError::Exists(name.to_string()),
                        _ => nl(name, "creating bridge")(e),
                    })?;
                (self.require(name).await?, true)
            }
        };
        let configured = self.configure_bridge(cfg, index).await;
        if configured.is_err() && created {
            if let Err(e) = self.delete(name).await {
                tracing::warn!(bridge = name, error = %e, "could not delete a half-made bridge");
            }
        }
        configured.map(|()| index)
    }

    async fn configure_bridge(&self, cfg: &BridgeConfig, index: u32) -> Result<(), LinkError> {
        let name = cfg.name.as_str();
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(index).mtu(cfg.mtu).build())
            .execute()
            .await
            .map_err(nl(name, "setting the MTU"))?;
        let present = self.addresses(name).await?;
        for addr in cfg.addresses.iter().filter(|a| !present.contains(a)) {
            self.add_address(name, index, addr).await?;
        }
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(nl(name, "bringing up"))
    }

    async fn add_address(&self, name: &str, index: u32, addr: &IpNet) -> Result<(), LinkError> {
        match self
            .handle
            .address()
            .add(index, addr.addr(), addr.prefix_len())
            .execute()
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(()),
            Err(e) => Err(nl(name, "adding an address")(e)),
        }
    }

    /// Deletes a bridge. Returns false when it did not exist.
    pub async fn delete_bridge(&self, name: &str) -> Result<bool, LinkError> {
        self.delete(name).await
    }

    /// Deletes a veth pair by its host end's name (deleting one end deletes both). Returns false
    /// when it did not exist.
    pub async fn delete_veth(&self, host_name: &str) -> Result<bool, LinkError> {
        self.delete(host_name).await
    }

    /// Creates a veth pair in one request: the host end attached to the bridge and up, the
    /// other end made directly inside the namespace under its final name, MAC and MTU (as
    /// `ip link add H master BR up type veth peer name eth0 address M netns N` does). Then,
    /// inside: the addresses, up, default routes, and `lo` up.
    ///
    /// Made in place rather than moved: moving a device between namespaces waits for an RCU
    /// grace period (milliseconds on every container start), and a pair that exists at all
    /// already has its end in the container, so a crash can never leave it in the host
    /// namespace; it goes with the container's namespace. On error the pair is deleted.
    pub async fn create_veth(&self, cfg: &VethConfig) -> Result<(), LinkError> {
        validate_name(&cfg.host_name)?;
        validate_name(&cfg.container_name)?;
        // Opened before anything is created, so a bad namespace leaves nothing behind.
        let ns_file = File::open(&cfg.netns).map_err(|source| LinkError::Netns {
            path: cfg.netns.clone(),
            source,
        })?;
        let inside = Netlink::in_netns(&cfg.netns).await?;
        let bridge = self.require(&cfg.bridge).await?;
        let host = cfg.host_name.as_str();
        let mut peer = LinkMessageBuilder::<LinkUnspec>::new()
            .name(cfg.container_name.clone())
            .mtu(cfg.mtu)
            .setns_by_fd(ns_file.as_raw_fd());
        if let Some(mac) = cfg.mac {
            peer = peer.address(mac.0.to_vec());
        }
        let pair = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
            .name(host.to_string())
            .mtu(cfg.mtu)
            .controller(bridge)
            .up()
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer.build())))
            .build();
        if let Err(e) = self.handle.link().add(pair).execute().await {
            return Err(match errno(&e) {
                // The kernel does not say which end's name is taken.
                Some(libc::EEXIST) => match self.index(host).await {
                    Ok(Some(_)) => LinkError::Exists(host.to_string()),
                    _ => LinkError::Exists(cfg.container_name.clone()),
                },
                _ => nl(host, "creating veth pair")(e),
            });
        }
        drop(ns_file);
        let result = inside.configure_inside(cfg).await;
        if result.is_err() {
            if let Err(e) = self.delete(host).await {
                tracing::warn!(veth = host, error = %e, "could not delete a half-made veth pair");
            }
        }
        result
    }

    /// The container end, already in this connection's namespace: addresses, up, default
    /// routes, and `lo` up.
    async fn configure_inside(&self, cfg: &VethConfig) -> Result<(), LinkError> {
        let name = cfg.container_name.as_str();
        let index = self.require(name).await?;
        for addr in &cfg.addresses {
            self.add_address(name, index, addr).await?;
        }
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(nl(name, "bringing up"))?;
        // lo is the first device of every network namespace.
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(LOOPBACK_INDEX).up().build())
            .execute()
            .await
            .map_err(nl("lo", "bringing up"))?;
        for gateway in &cfg.gateways {
            let route = match gateway {
                IpAddr::V4(g) => RouteMessageBuilder::<Ipv4Addr>::new()
                    .gateway(*g)
                    .output_interface(index)
                    .build(),
                IpAddr::V6(g) => RouteMessageBuilder::<Ipv6Addr>::new()
                    .gateway(*g)
                    .output_interface(index)
                    .build(),
            };
            self.handle
                .route()
                .add(route)
                .execute()
                .await
                .map_err(nl(name, "adding the default route"))?;
        }
        Ok(())
    }
}

/// The interface index of `lo` in every network namespace.
const LOOPBACK_INDEX: u32 = 1;

fn link_kind(link: &LinkMessage) -> Option<InfoKind> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|i| match i {
            LinkInfo::Kind(k) => Some(k.clone()),
            _ => None,
        }),
        _ => None,
    })
}

fn is_link_local(net: &IpNet) -> bool {
    match net.addr() {
        IpAddr::V6(a) => (a.segments()[0] & 0xffc0) == 0xfe80,
        IpAddr::V4(a) => a.is_link_local(),
    }
}

fn write_sysctl(path: PathBuf, value: &str) -> Result<(), LinkError> {
    let current = std::fs::read_to_string(&path).map_err(|source| LinkError::Sysctl {
        path: path.clone(),
        source,
    })?;
    if current.trim() == value {
        return Ok(());
    }
    std::fs::write(&path, value).map_err(|source| LinkError::Sysctl { path, source })
}

/// Sets a bridge port's hairpin mode (`ip link set DEV type bridge_slave hairpin on`): a
/// container reaching its own published port through a host address gets the DNATed frame
/// back out of the port it came in on.
pub fn set_hairpin(port: &str, enabled: bool) -> Result<(), LinkError> {
    validate_name(port)?;
    write_sysctl(
        PathBuf::from(format!("/sys/class/net/{port}/brport/hairpin_mode")),
        if enabled { "1" } else { "0" },
    )
}

/// Turns on IPv4 forwarding (net.ipv4.ip_forward), which bridge networks need for egress.
pub fn enable_ip_forward() -> Result<(), LinkError> {
    write_sysctl(PathBuf::from("/proc/sys/net/ipv4/ip_forward"), "1")
}

/// Sets net.ipv4.conf.BRIDGE.route_localnet, which lets DNAT send 127.0.0.1 traffic to
/// containers on that bridge (published ports reachable on the host's loopback).
pub fn set_route_localnet(bridge: &str, enabled: bool) -> Result<(), LinkError> {
    validate_name(bridge)?;
    write_sysctl(
        PathBuf::from(format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet")),
        if enabled { "1" } else { "0" },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_like_the_kernel() {
        for ok in ["eth0", "berth0", "veth1234567890a"] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "veth1234567890ab", "a/b", "a b", "a:1", ".."] {
            let e = validate_name(bad).expect_err(bad);
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }
    }
}

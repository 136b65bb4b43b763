//! # berth-net
//!
//! Container networking for the daemon, knowing nothing of containers: address management
//! ([`ipam`]), links ([`link`]: bridges, veth pairs, addresses, routes, moving an end into a
//! network namespace, over rtnetlink), the firewall ([`firewall`]: Berth's own `inet berth`
//! nftables table, written as JSON to `nft`, idempotently), and the embedded DNS server
//! ([`dns`]) that answers at 127.0.0.11 inside each container.
#![forbid(unsafe_code)]

pub mod dns;
pub mod firewall;
pub mod ipam;
pub mod link;

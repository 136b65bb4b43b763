//! Networks: Docker's bridge, host and none networks and user-defined bridge networks, built
//! on `berth-net` (IPAM, rtnetlink, nftables, embedded DNS).

pub mod settings;

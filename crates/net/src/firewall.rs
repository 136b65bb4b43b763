//! firewall (in progress)

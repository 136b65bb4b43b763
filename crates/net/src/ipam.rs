//! ipam (in progress)

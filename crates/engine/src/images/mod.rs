//! Images through the daemon: pull, push, tag, remove, list, inspect, history, save, load,
//! import, and registry login.

pub mod resolve;

pub use resolve::ResolvedImage;

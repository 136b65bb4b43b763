//! # berth-image
//!
//! The image layer of Berth: references, a content-addressed store, a registry client, safe
//! layer unpacking into snapshots, image metadata, and import/export.
#![forbid(unsafe_code)]

pub mod archive;
pub mod config;
pub mod content;
pub mod create;
pub mod digest;
pub mod error;
mod fsutil;
pub mod layer;
pub mod manifest;
pub mod media;
pub mod mount;
pub mod pull;
pub mod push;
pub mod reference;
pub mod registry;
pub mod snapshot;
pub mod store;
pub mod unpack;

pub use digest::{Algorithm, Digest};
pub use error::{Error, Result};
pub use reference::{Reference, RegistryConfig};

//! # berth-image
//!
//! The image layer of Berth: references, a content-addressed store, a registry client, safe
//! layer unpacking into snapshots, image metadata, and import/export.
//!
//! Modules, bottom up: [`reference`](mod@reference) (Docker normalization, mirrors, insecure registries),
//! [`digest`], [`content`] (blobs; atomic, resumable, lock-serialized ingest), [`unpack`]
//! (tar -> directory, confined with `openat2(RESOLVE_IN_ROOT)`), [`snapshot`] + [`mount`]
//! (overlay or copy snapshots keyed by chain ID; `lowerdir+` through `fsconfig`), [`layer`]
//! (unpack + diffID check + commit), [`registry`] (HTTP API v2 client and auth), [`pull`],
//! [`push`] (both report through [`progress`]), [`store`] (image records, inspect, tag, delete, prune, GC), [`create`] and
//! [`archive`] (local images, docker-archive / OCI layout / rootfs import and export).
//!
//! Written by hand, and why:
//! - the registry client (on reqwest, not oci-client): blobs stream straight into the resumable
//!   ingest while the unpacker follows the same file (download, decompression and writes
//!   overlap; nothing is buffered), `Range` resume and retries, chunked uploads that follow the
//!   newest `Location`, the quirks of real registries, Docker's credential sources;
//! - manifest and config types (not oci-spec's): Docker schema 2 media types and Docker's config
//!   extensions (Healthcheck, Shell, OnBuild) and lenient nulls, plus sniffing schema 1 to refuse
//!   it by name;
//! - the unpacker (not `tar::Archive::unpack`): every path is resolved under the snapshot root
//!   with `openat2`, whiteouts become overlay whiteouts, and ownership/xattrs/times are applied
//!   through file descriptors.
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
pub mod progress;
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

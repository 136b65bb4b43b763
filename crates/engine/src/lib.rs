//! # berth-engine
//!
//! The service core of `berth daemon`: containers, images, exec sessions, logs, events and the
//! persistent state, behind typed methods and a typed [`Error`]. It knows nothing of HTTP or
//! gRPC: `berth-api-docker` (and later the CRI server) translate requests into calls here.
//!
//! How a container runs: the engine never forks container processes from its multi-threaded
//! runtime. It writes an OCI bundle and starts one detached `berth-monitor` per container (the
//! role of conmon / containerd-shim), which runs the OCI runtime (berth-runc by default, or runc
//! or crun), holds the container's stdio, writes its logs and records its exit status in a
//! file. So the daemon can restart or crash while containers keep running, and re-adopts them
//! on start from the database and the monitors' files.
//!
//! The Docker Engine API models (bollard-stubs) are the engine's container configuration
//! types, as in dockerd: the API is the contract users know, and a second copy of it would only
//! drift.
//!
//! Layout: one `impl Engine` block per verb or concept, each in its own file, so the daemon's
//! surface is found from the file names.
#![forbid(unsafe_code)]
// serde_json::json! for the large /info document.
#![recursion_limit = "256"]

pub mod config;
pub mod containers;
mod engine;
pub mod error;
pub mod events;
pub mod exec;
pub mod images;
pub mod monitor;
pub mod networks;
pub mod paths;
pub mod spec;
pub mod store;
pub mod system;
pub mod util;
pub mod volumes;

pub use engine::Engine;
pub use error::{Error, Result};

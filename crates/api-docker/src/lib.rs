//! # berth-api-docker
//!
//! The Docker Engine API on top of `berth-engine`, so the docker CLI, docker-py and docker
//! compose talk to Berth unchanged. API versions 1.24 to [`version::MAX`] are accepted, with
//! or without the `/vX.Y` prefix; requests above the maximum get Docker's 400.
//!
//! - [`version`]: the `/vX.Y` prefix, negotiated per request, put in the request extensions;
//! - [`error`]: engine errors as `{"message": ...}` with Docker's status codes;
//! - [`hijack`]: attach and exec streams (`Upgrade: tcp`), raw or multiplexed;
//! - `routes/`: one file per resource.
//!
//! Served with hyper directly (not `axum::serve`) because the version prefix is rewritten
//! before routing and the listener is a unix socket or a TCP port.
#![forbid(unsafe_code)]

pub mod conn;
pub mod error;
pub mod hijack;
pub mod routes;
pub mod serve;
pub mod version;

pub use conn::ConnLimits;
pub use serve::{router, serve};

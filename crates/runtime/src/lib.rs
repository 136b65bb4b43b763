//! OCI runtime (in progress).
#![forbid(unsafe_code)]

//! cgroup managers (in progress).
#![forbid(unsafe_code)]

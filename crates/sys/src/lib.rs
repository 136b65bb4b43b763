//! `berth-sys`: the only crate in Berth that contains `unsafe`.
//!
//! Everything here is a thin wrapper over one syscall (or one libc call) that `rustix` does not
//! offer as a safe function. Each `unsafe` block carries a `// SAFETY:` comment that says why the
//! call is sound. Callers get safe functions with typed errors (`std::io::Error` from errno).
//!
//! Modules are split by concept so a reader can find a syscall by its name:
//! - [`process`]: clone3, exec, setns/unshare, setgroups, personality
//! - [`signal`]: signal masks and signalfd (for `run`'s signal forwarding)
//! - [`fd`]: fd hygiene before exec (close_range with CLOEXEC)
//! - [`keyring`]: a fresh session keyring per container
//! - [`mount`](mod@mount): mount_setattr (read-only detached mounts for the runtime binary)
//! - [`thread`]: per-thread namespace changes for helper threads (mount views)
//! - [`net`]: bring up the loopback interface of a new network namespace
//! - [`bpf`]: BPF program load/attach for the cgroup v2 device controller

pub mod bpf;
pub mod fd;
pub mod keyring;
pub mod mount;
pub mod net;
pub mod process;
pub mod signal;
pub mod thread;

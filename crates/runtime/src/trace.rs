//! Phase timestamps for performance work: with `BERTH_RUNC_TRACE=1` in the environment, each
//! phase of create/start/run/delete prints `berth-trace <monotonic µs> <pid> <phase>` to stderr
//! (CLOCK_MONOTONIC, so lines from the runtime and the container's init line up).

use std::sync::OnceLock;

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("BERTH_RUNC_TRACE").is_some())
}

/// Records that `phase` was reached.
pub fn mark(phase: &str) {
    if enabled() {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
        let us = t.tv_sec as i64 * 1_000_000 + t.tv_nsec as i64 / 1000;
        // One write(2) per line, so lines of the runtime and the init never interleave.
        let line = format!("berth-trace {us} {} {phase}\n", std::process::id());
        let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
    }
}

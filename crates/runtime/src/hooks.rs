//! OCI lifecycle hooks: run each hook with the container state on stdin, its own env, and its
//! timeout. Failures name the hook kind, path and exit status.

use crate::error::{Error, Result};
use crate::state::StateOutput;
use oci_spec::runtime::Hook;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `hooks` of kind `kind` in order, stopping at the first failure.
pub fn run(kind: &str, hooks: &[Hook], state: &StateOutput) -> Result<()> {
    if hooks.is_empty() {
        return Ok(());
    }
    let json = serde_json::to_vec(state)
        .map_err(|e| Error::Hook(format!("{kind} hook: encoding state: {e}")))?;
    for hook in hooks {
        run_one(kind, hook, &json)?;
    }
    Ok(())
}

fn run_one(kind: &str, hook: &Hook, state: &[u8]) -> Result<()> {
    let path = hook.path();
    let fail = |what: String| Error::Hook(format!("{kind} hook {}: {what}", path.display()));
    let mut cmd = Command::new(path);
    if let Some(args) = hook.args() {
        if let Some(arg0) = args.first() {
            cmd.arg0(arg0);
        }
        cmd.args(args.iter().skip(1));
    }
    cmd.env_clear();
    for kv in hook.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| fail(format!("cannot run: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin must not make us fail: ignore EPIPE.
        let _ = stdin.write_all(state);
    }
    let deadline = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Instant::now() + Duration::from_secs(t as u64));
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) => {}
            Err(e) => return Err(fail(format!("waiting: {e}"))),
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(format!(
                "timed out after {}s",
                hook.timeout().unwrap_or_default()
            )));
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    if status.success() {
        return Ok(());
    }
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
    }
    let stderr = stderr.trim();
    Err(fail(if stderr.is_empty() {
        format!("failed: {status}")
    } else {
        format!("failed: {status}: {stderr}")
    }))
}

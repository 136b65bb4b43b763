//! stop, kill, restart.

use super::{Container, Status};
use crate::error::{Error, Result};
use crate::Engine;
use std::sync::Arc;
use std::time::Duration;

/// Docker's default grace period before SIGKILL.
pub const DEFAULT_STOP_TIMEOUT: i64 = 10;

/// A signal by name (`TERM`, `SIGTERM`, `SIGRTMIN+3`) or number, checked.
pub fn parse_signal(s: &str) -> Result<i32> {
    berth_sys::signal::parse_signal(s)
        .ok_or_else(|| Error::InvalidArgument(format!("Invalid signal: {s}")))
}

impl Engine {
    /// Stops a container: its stop signal (the request's, the container's StopSignal, or
    /// SIGTERM), then SIGKILL after the timeout (the request's, StopTimeout, or 10 s; -1 waits
    /// forever). Not running: `NotModified`.
    pub async fn container_stop(
        &self,
        key: &str,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let c = self.containers.find(key)?;
        let _op = c.op.lock().await;
        self.stop_locked(&c, signal, timeout).await
    }

    pub(crate) async fn stop_locked(
        &self,
        c: &Arc<Container>,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let rec = c.record();
        if rec.state.status == Status::Restarting {
            // Cancels the pending policy restart.
            c.update(self, |r| {
                r.manually_stopped = true;
                r.state.status = Status::Exited;
            })?;
            return Ok(());
        }
        if !rec.state.status.is_live() {
            return Err(Error::NotModified("container already stopped".into()));
        }
        let sig = match signal.filter(|s| !s.is_empty()) {
            Some(s) => parse_signal(s)?,
            None => match rec.config.stop_signal.as_deref().filter(|s| !s.is_empty()) {
                Some(s) => parse_signal(s)?,
                None => libc::SIGTERM,
            },
        };
        let timeout = timeout
            .or(rec.config.stop_timeout)
            .unwrap_or(DEFAULT_STOP_TIMEOUT);
        c.update(self, |r| r.manually_stopped = true)?;
        let mut exits = c.exits.subscribe();
        let seen = exits.borrow().count;
        if rec.state.status == Status::Paused {
            // A frozen process cannot handle its signal: thaw it after signalling, as Docker.
            let _ = self.signal(&rec.runtime, &rec.id, sig).await;
            let _ = self.runtime_exec(&rec.runtime, &["resume", &rec.id]).await;
        } else if let Err(e) = self.signal(&rec.runtime, &rec.id, sig).await {
            tracing::debug!(id = %rec.id, "stop signal: {e}");
        }
        let exited = async {
            while exits.borrow().count == seen {
                if exits.changed().await.is_err() {
                    break;
                }
            }
        };
        if timeout < 0 {
            exited.await;
            return Ok(());
        }
        tokio::pin!(exited);
        if tokio::time::timeout(Duration::from_secs(timeout as u64), &mut exited)
            .await
            .is_ok()
        {
            return Ok(());
        }
        self.signal(&rec.runtime, &rec.id, libc::SIGKILL).await.ok();
        // SIGKILL cannot be ignored; the wait bounds a wedged runtime.
        if tokio::time::timeout(Duration::from_secs(30), exited)
            .await
            .is_err()
        {
            return Err(Error::Internal(format!(
                "container {} did not exit after SIGKILL",
                rec.id
            )));
        }
        Ok(())
    }

    /// Sends a signal to a running container (`docker kill`).
    pub async fn container_kill(&self, key: &str, signal: Option<&str>) -> Result<()> {
        let c = self.containers.find(key)?;
        let rec = c.record();
        let sig = match signal.filter(|s| !s.is_empty()) {
            Some(s) => parse_signal(s)?,
            None => libc::SIGKILL,
        };
        if !rec.state.status.is_live() {
            return Err(Error::Conflict(format!(
                "Cannot kill container: {}: Container {} is not running",
                key, rec.id
            )));
        }
        if sig == libc::SIGKILL {
            c.update(self, |r| r.manually_stopped = true)?;
        }
        let mut exits = c.exits.subscribe();
        let seen = exits.borrow().count;
        self.signal(&rec.runtime, &rec.id, sig).await?;
        let mut attrs = std::collections::HashMap::new();
        attrs.insert("signal".to_string(), sig.to_string());
        self.container_event_with(&rec, "kill", attrs);
        if sig == libc::SIGKILL {
            // As dockerd: `kill` (SIGKILL) returns once the container has exited, so what the
            // client does next (rm, prune, start) sees it stopped.
            let _ = tokio::time::timeout(Duration::from_secs(10), async {
                while exits.borrow().count == seen {
                    if exits.changed().await.is_err() {
                        break;
                    }
                }
            })
            .await;
        }
        Ok(())
    }

    /// Stops (if running) and starts again (`docker restart`).
    pub async fn container_restart(
        &self,
        key: &str,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let c = self.containers.find(key)?;
        let _op = c.op.lock().await;
        match self.stop_locked(&c, signal, timeout).await {
            Ok(()) | Err(Error::NotModified(_)) => {}
            Err(e) => return Err(e),
        }
        // The exit handler runs outside `op`; wait until it has recorded the exit.
        let mut w = c.watch();
        while c.record().state.status.is_live() {
            if w.changed().await.is_err() {
                break;
            }
        }
        c.update(self, |r| r.manually_stopped = false)?;
        self.start_locked(&c).await?;
        let rec = c.record();
        self.container_event(&rec, "restart");
        Ok(())
    }

    async fn signal(&self, runtime: &str, id: &str, sig: i32) -> Result<()> {
        self.runtime_exec(runtime, &["kill", id, &sig.to_string()])
            .await
            .map(|_| ())
    }
}

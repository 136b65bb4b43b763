//! `wait` with Docker's conditions: not-running (default), next-exit, removed.

use crate::error::{Error, Result};
use crate::Engine;
use std::future::Future;

/// The condition to wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    NotRunning,
    NextExit,
    Removed,
}

impl WaitCondition {
    pub fn parse(s: &str) -> Result<WaitCondition> {
        match s {
            "" | "not-running" => Ok(WaitCondition::NotRunning),
            "next-exit" => Ok(WaitCondition::NextExit),
            "removed" => Ok(WaitCondition::Removed),
            other => Err(Error::InvalidArgument(format!(
                "invalid condition: {other:?} (use not-running, next-exit or removed)"
            ))),
        }
    }
}

/// The outcome of a wait: the exit code and the error of the run, if any.
#[derive(Debug, Clone)]
pub struct WaitResult {
    pub status_code: i64,
    pub error: Option<String>,
}

impl Engine {
    /// Registers a wait now (so an exit that happens right after this call is not missed) and
    /// returns the future that resolves when the condition holds.
    pub fn container_wait(
        &self,
        key: &str,
        condition: WaitCondition,
    ) -> Result<impl Future<Output = WaitResult> + Send + 'static> {
        let c = self.containers.find(key)?;
        let mut rx = c.exits.subscribe();
        let start = rx.borrow().clone();
        let rec = c.record();
        let live = rec.state.status.is_live() || rec.state.status == super::Status::Restarting;
        let current_code = rec.state.exit_code;
        Ok(async move {
            let done = |e: &super::ExitSeq| match condition {
                WaitCondition::NotRunning => !live || e.count > start.count,
                WaitCondition::NextExit => e.count > start.count,
                WaitCondition::Removed => e.removed,
            };
            loop {
                let e = rx.borrow().clone();
                if done(&e) {
                    let code = if e.count > start.count {
                        e.code
                    } else {
                        current_code
                    };
                    return WaitResult {
                        status_code: code,
                        error: (!e.error.is_empty()).then(|| e.error.clone()),
                    };
                }
                if rx.changed().await.is_err() {
                    let e = rx.borrow().clone();
                    return WaitResult {
                        status_code: e.code,
                        error: None,
                    };
                }
            }
        })
    }
}

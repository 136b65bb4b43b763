//! Restart policies (no, always, unless-stopped, on-failure[:N]) with Docker's back-off: the
//! delay starts at 100 ms and doubles with each restart, up to a minute, and is reset when a
//! run lasted at least 10 seconds.

use super::{Container, ContainerRecord, Status};
use crate::Engine;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

const INITIAL_DELAY_MS: u64 = 100;
const MAX_DELAY_MS: u64 = 60_000;
const RESET_AFTER: Duration = Duration::from_secs(10);

/// Whether the policy restarts `rec` after it exited with `code`.
pub fn should_restart(rec: &ContainerRecord, code: i64) -> bool {
    if rec.manually_stopped {
        return false;
    }
    let Some(p) = &rec.host_config.restart_policy else {
        return false;
    };
    match p.name.map(|n| n.to_string()).unwrap_or_default().as_str() {
        "always" | "unless-stopped" => true,
        "on-failure" => {
            let max = p.maximum_retry_count.unwrap_or(0);
            code != 0 && (max == 0 || rec.restart_count < max)
        }
        _ => false,
    }
}

/// The next delay given the previous one and how long the last run lasted.
pub fn next_delay(previous_ms: u64, ran_for: Duration) -> u64 {
    if previous_ms == 0 || ran_for >= RESET_AFTER {
        INITIAL_DELAY_MS
    } else {
        (previous_ms * 2).min(MAX_DELAY_MS)
    }
}

impl Engine {
    pub(crate) async fn restart_by_policy(&self, c: Arc<Container>) {
        let rec = c.record();
        if !should_restart(&rec, rec.state.exit_code) {
            return;
        }
        let ran_for = match (
            crate::util::parse_rfc3339(&rec.state.started_at),
            crate::util::parse_rfc3339(&rec.state.finished_at),
        ) {
            (Some(a), Some(b)) => b.duration_since(a).unwrap_or_default(),
            _ => Duration::ZERO,
        };
        let delay = next_delay(c.restart_delay_ms.load(Ordering::Relaxed), ran_for);
        c.restart_delay_ms.store(delay, Ordering::Relaxed);
        if c.update(self, |r| {
            r.state.status = Status::Restarting;
        })
        .is_err()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let _op = c.op.lock().await;
        let rec = c.record();
        // Stopped, removed or started by someone else while we slept.
        if rec.state.status != Status::Restarting || rec.manually_stopped {
            return;
        }
        if c.update(self, |r| {
            r.restart_count += 1;
        })
        .is_err()
        {
            return;
        }
        let rec = c.record();
        self.container_event(&rec, "restart");
        if let Err(e) = self.start_locked(&c).await {
            tracing::warn!(id = %c.id, "restart by policy failed: {e}");
            let _ = c.update(self, |r| r.state.status = Status::Exited);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard_stubs::models::{HostConfig, RestartPolicy, RestartPolicyNameEnum};

    fn rec(name: RestartPolicyNameEnum, max: i64) -> ContainerRecord {
        ContainerRecord {
            host_config: HostConfig {
                restart_policy: Some(RestartPolicy {
                    name: Some(name),
                    maximum_retry_count: Some(max),
                }),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn policies_decide_as_docker() {
        assert!(should_restart(&rec(RestartPolicyNameEnum::ALWAYS, 0), 0));
        assert!(!should_restart(&rec(RestartPolicyNameEnum::NO, 0), 1));
        assert!(!should_restart(
            &rec(RestartPolicyNameEnum::ON_FAILURE, 0),
            0
        ));
        assert!(should_restart(
            &rec(RestartPolicyNameEnum::ON_FAILURE, 0),
            3
        ));
        let mut r = rec(RestartPolicyNameEnum::ON_FAILURE, 2);
        r.restart_count = 2;
        assert!(!should_restart(&r, 1), "retries exhausted");
        let mut r = rec(RestartPolicyNameEnum::UNLESS_STOPPED, 0);
        r.manually_stopped = true;
        assert!(!should_restart(&r, 0));
    }

    #[test]
    fn backoff_doubles_and_resets() {
        assert_eq!(next_delay(0, Duration::ZERO), 100);
        assert_eq!(next_delay(100, Duration::from_secs(1)), 200);
        assert_eq!(next_delay(40_000, Duration::from_secs(1)), 60_000);
        assert_eq!(next_delay(6_400, Duration::from_secs(11)), 100);
    }
}

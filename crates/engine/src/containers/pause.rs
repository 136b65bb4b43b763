//! pause and unpause: the OCI runtime freezes the container's cgroup (`RUNTIME pause|resume`),
//! and the record follows, so inspect, ps and the events show it as Docker does.

use crate::containers::Status;
use crate::error::{Error, Result};
use crate::Engine;

impl Engine {
    /// Freezes every process of a running container.
    pub async fn container_pause(&self, key: &str) -> Result<()> {
        let c = self.containers.find(key)?;
        let _op = c.op.lock().await;
        let rec = c.record();
        match rec.state.status {
            Status::Running => {}
            Status::Paused => {
                return Err(Error::Conflict(format!(
                    "Container {} is already paused",
                    c.id
                )))
            }
            Status::Restarting => return Err(restarting(&c.id)),
            _ => return Err(not_running(&c.id)),
        }
        self.runtime_exec(&rec.runtime, &["pause", &c.id]).await?;
        let rec = c.update(self, |r| {
            r.state.status = Status::Paused;
            r.clone()
        })?;
        self.container_event(&rec, "pause");
        Ok(())
    }

    /// Thaws a paused container.
    pub async fn container_unpause(&self, key: &str) -> Result<()> {
        let c = self.containers.find(key)?;
        let _op = c.op.lock().await;
        let rec = c.record();
        if rec.state.status != Status::Paused {
            return Err(Error::Conflict(format!("Container {} is not paused", c.id)));
        }
        self.runtime_exec(&rec.runtime, &["resume", &c.id]).await?;
        let rec = c.update(self, |r| {
            // The container may have died while frozen (killed from outside); keep what the
            // monitor recorded then.
            if r.state.status == Status::Paused {
                r.state.status = Status::Running;
            }
            r.clone()
        })?;
        self.container_event(&rec, "unpause");
        Ok(())
    }
}

/// Docker's 409 for an operation that needs a running container.
pub(crate) fn not_running(id: &str) -> Error {
    Error::Conflict(format!("Container {id} is not running"))
}

/// Docker's 409 while a restart policy is bringing the container back.
pub(crate) fn restarting(id: &str) -> Error {
    Error::Conflict(format!(
        "Container {id} is restarting, wait until the container is running"
    ))
}

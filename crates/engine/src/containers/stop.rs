//! stop, kill, restart.

use crate::error::{Error, Result};
use crate::Engine;

impl Engine {
    /// Stops a container: its stop signal, then SIGKILL after `timeout` seconds.
    pub async fn container_stop(
        &self,
        key: &str,
        _signal: Option<&str>,
        _timeout: Option<i64>,
    ) -> Result<()> {
        let _c = self.containers.find(key)?;
        Err(Error::Internal("stop: not wired yet".into()))
    }
}

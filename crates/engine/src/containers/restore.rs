//! Re-adopting containers on daemon start.

use crate::error::Result;
use crate::Engine;

impl Engine {
    /// Loads every container record and reconciles it with what is running.
    pub(crate) async fn restore(&self) -> Result<()> {
        Ok(())
    }
}

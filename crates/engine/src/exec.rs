//! Exec sessions: `docker exec` through a `berth-monitor exec` per session.

use std::collections::HashMap;
use std::sync::Mutex;

/// Exec sessions by id.
#[derive(Debug, Default)]
pub struct ExecRegistry {
    pub(crate) by_id: Mutex<HashMap<String, std::sync::Arc<ExecSession>>>,
}

/// One exec session.
#[derive(Debug)]
pub struct ExecSession {
    pub id: String,
}

//! What the database keeps about a container. Field names follow Docker's inspect output, so a
//! record reads like `docker inspect` and the inspect view is mostly a copy.

use bollard_stubs::models::{ContainerConfig, Health, HostConfig};
use serde::{Deserialize, Serialize};

/// The lifecycle status, as Docker names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }
    /// A process exists (running or paused).
    pub fn is_live(self) -> bool {
        matches!(self, Status::Running | Status::Paused)
    }
}

/// The container's run state (Docker's `State`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct RunState {
    pub status: Status,
    pub pid: i64,
    pub exit_code: i64,
    pub error: String,
    pub started_at: String,
    #[serde(rename = "FinishedAt")]
    pub finished_at: String,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
}

/// A container as stored.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerRecord {
    pub id: String,
    /// Without Docker's leading '/'.
    pub name: String,
    pub created: String,
    /// The image ID (`sha256:...`).
    pub image: String,
    pub path: String,
    pub args: Vec<String>,
    /// Image config merged with the request's Config.
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    pub state: RunState,
    pub restart_count: i64,
    /// The OCI runtime's name (berth-runc, runc, crun, or one from daemon.json).
    pub runtime: String,
    /// The snapshot key of the container's writable layer.
    pub snapshot: String,
    /// The image's top chain ID, the snapshot's parent (None for an empty image).
    #[serde(default)]
    pub parent_snapshot: Option<String>,
    pub log_path: String,
    /// The monitor of the current run, to re-adopt after a daemon restart.
    #[serde(default)]
    pub monitor_pid: i32,
    /// Stopped by a user (docker stop/kill): restart policies leave it alone, and
    /// `unless-stopped` does not bring it back on daemon start.
    #[serde(default)]
    pub manually_stopped: bool,
    /// Set once it has been started; `restart` and policies count from there.
    #[serde(default)]
    pub has_been_started: bool,
    #[serde(default)]
    pub exec_ids: Vec<String>,
    /// The networks it is attached to and, while it runs, what it got on them.
    #[serde(default)]
    pub networks: crate::networks::record::ContainerNetworks,
}

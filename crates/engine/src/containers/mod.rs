//! Containers: the record kept in the database, the live registry, and one file per verb.

pub mod archive;
pub mod attach;
pub mod create;
pub(crate) mod fs_view;
pub mod health;
pub mod inspect;
pub mod list;
pub mod logs;
pub mod monitor_watch;
mod names;
pub mod pause;
pub mod prune;
pub mod record;
pub mod remove;
pub mod rename;
pub mod restart_policy;
pub mod restore;
pub mod runtime;
pub mod start;
pub mod stats;
pub mod stop;
pub mod top;
pub mod update;
pub mod validate;
pub mod wait;

pub use record::{ContainerRecord, RunState, Status};

use crate::error::{Error, Result};
use crate::store::CONTAINER_TABLE;
use crate::Engine;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

/// One container as the daemon holds it: its record (the database's copy is written first),
/// a lock that serializes lifecycle operations, a change counter `wait` watches, and the attach
/// streams waiting for the next start.
#[derive(Debug)]
pub struct Container {
    pub id: String,
    record: Mutex<ContainerRecord>,
    /// Held across a lifecycle operation (start, stop, remove...), never across a wait.
    pub op: tokio::sync::Mutex<()>,
    changed: tokio::sync::watch::Sender<u64>,
    /// Exits and removal, for `wait` (next-exit, not-running, removed).
    pub(crate) exits: tokio::sync::watch::Sender<ExitSeq>,
    pub(crate) attach: attach::Attachments,
    /// Docker's restart back-off: the delay before the next policy restart, in ms.
    pub(crate) restart_delay_ms: std::sync::atomic::AtomicU64,
}

/// How many times the container has exited, with the last exit's code and error, and whether
/// it has been removed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExitSeq {
    pub count: u64,
    pub code: i64,
    pub error: String,
    pub removed: bool,
}

impl Container {
    pub(crate) fn new(rec: ContainerRecord) -> Arc<Container> {
        Arc::new(Container {
            id: rec.id.clone(),
            record: Mutex::new(rec),
            op: tokio::sync::Mutex::new(()),
            changed: tokio::sync::watch::channel(0).0,
            exits: tokio::sync::watch::channel(ExitSeq::default()).0,
            attach: attach::Attachments::default(),
            restart_delay_ms: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// A copy of the current record.
    pub fn record(&self) -> ContainerRecord {
        self.record
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Changes the record: the new version is committed to the database before anyone sees
    /// it, so what the API shows has always been persisted.
    pub fn update<R>(
        &self,
        engine: &Engine,
        f: impl FnOnce(&mut ContainerRecord) -> R,
    ) -> Result<R> {
        self.update_with(f, |next| engine.store.put(CONTAINER_TABLE, &next.id, next))
    }

    /// [`Self::update`] with the write to the database done by `persist` (a rename writes
    /// the name index in the same transaction); nothing changes when it fails.
    pub(crate) fn update_with<R>(
        &self,
        f: impl FnOnce(&mut ContainerRecord) -> R,
        persist: impl FnOnce(&ContainerRecord) -> Result<()>,
    ) -> Result<R> {
        let mut guard = self.record.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = guard.clone();
        let r = f(&mut next);
        persist(&next)?;
        *guard = next;
        drop(guard);
        self.changed.send_modify(|n| *n += 1);
        Ok(r)
    }

    /// A receiver that wakes on every change of the record.
    pub fn watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

/// The live containers by id, with name lookups.
#[derive(Debug, Default)]
pub struct Registry {
    by_id: RwLock<HashMap<String, Arc<Container>>>,
}

impl Registry {
    /// Adds a container whose name is free; the check and the insert are one step.
    pub(crate) fn insert(&self, c: Arc<Container>) -> Result<()> {
        let mut map = self.by_id.write().unwrap_or_else(|p| p.into_inner());
        let name = c.record().name;
        if let Some(other) = map.values().find(|o| o.record().name == name) {
            return Err(Error::Conflict(format!(
                "Conflict. The container name \"/{name}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                other.id
            )));
        }
        map.insert(c.id.clone(), c);
        Ok(())
    }

    pub(crate) fn remove(&self, id: &str) {
        self.by_id
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    /// Every container.
    pub fn all(&self) -> Vec<Arc<Container>> {
        self.by_id
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Finds a container the way Docker does: full id, then exact name (with or without the
    /// leading '/'), then a unique id prefix.
    pub fn find(&self, key: &str) -> Result<Arc<Container>> {
        let map = self.by_id.read().unwrap_or_else(|p| p.into_inner());
        if key.is_empty() {
            return Err(Error::NotFound("No such container: ".to_string()));
        }
        if let Some(c) = map.get(key) {
            return Ok(c.clone());
        }
        let name = key.trim_start_matches('/');
        if let Some(c) = map.values().find(|c| c.record().name == name) {
            return Ok(c.clone());
        }
        let matches: Vec<_> = map.values().filter(|c| c.id.starts_with(key)).collect();
        match matches.len() {
            1 => Ok(matches[0].clone()),
            0 => Err(Error::NotFound(format!("No such container: {key}"))),
            _ => Err(Error::InvalidArgument(format!(
                "multiple IDs found with provided prefix: {key}"
            ))),
        }
    }

    /// Whether `name` is taken by a container other than `except`.
    pub(crate) fn name_taken(&self, name: &str, except: &str) -> Option<String> {
        let map = self.by_id.read().unwrap_or_else(|p| p.into_inner());
        map.values()
            .find(|c| c.id != except && c.record().name == name)
            .map(|c| c.id.clone())
    }
}

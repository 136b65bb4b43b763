//! Persistent state in one embedded database (redb): every change is one ACID transaction,
//! so a SIGKILL at any point leaves either the old or the new record, never half of one.
//!
//! Records are JSON values under string keys, one table per kind (containers, networks; new kinds join
//! through migrations). JSON keeps records readable with `berth inspect` shapes
//! and lets a migration rewrite them without a second set of types.

mod migrations;
mod names;

pub use names::NameClaim;

use crate::error::{Error, Result};
use redb::{Database, ReadableTable, TableDefinition};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::Path;

pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
pub(crate) const CONTAINERS: TableDefinition<&str, &[u8]> = TableDefinition::new("containers");
pub(crate) const VOLUMES: TableDefinition<&str, &[u8]> = TableDefinition::new("volumes");
pub(crate) const NETWORKS: TableDefinition<&str, &[u8]> = TableDefinition::new("networks");

/// A table of JSON records.
#[derive(Clone, Copy)]
pub struct Table(pub(crate) TableDefinition<'static, &'static str, &'static [u8]>);

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Table({})", self.0)
    }
}

/// The container records.
pub const CONTAINER_TABLE: Table = Table(CONTAINERS);
/// The volume records.
pub const VOLUME_TABLE: Table = Table(VOLUMES);
/// The network records.
pub const NETWORK_TABLE: Table = Table(NETWORKS);

/// The daemon's database.
pub struct Store {
    db: Database,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

impl Store {
    /// Opens (or creates) the database and brings its schema to the current version.
    pub fn open(path: &Path) -> Result<Store> {
        let db = Database::create(path).map_err(|e| {
            Error::Internal(format!("opening state database {}: {e}", path.display()))
        })?;
        migrations::run(&db)?;
        let store = Store { db };
        // Tables that need no migration of their records: created empty on first open.
        store.ensure_table(VOLUME_TABLE)?;
        store.rebuild_container_names()?;
        Ok(store)
    }

    /// Creates `table` if the database does not have it yet.
    fn ensure_table(&self, table: Table) -> Result<()> {
        let tx = self.db.begin_write()?;
        tx.open_table(table.0)?;
        tx.commit()?;
        Ok(())
    }

    /// The schema version the database is at.
    pub fn schema_version(&self) -> Result<u64> {
        migrations::version(&self.db)
    }

    /// Writes one record in its own transaction.
    pub fn put<T: Serialize>(&self, table: Table, key: &str, value: &T) -> Result<()> {
        let bytes = serde_json::to_vec(value).map_err(|e| Error::internal("encoding record", e))?;
        let tx = self.db.begin_write()?;
        {
            let mut t = tx.open_table(table.0)?;
            t.insert(key, bytes.as_slice())?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Removes one record; true when it existed.
    pub fn delete(&self, table: Table, key: &str) -> Result<bool> {
        let tx = self.db.begin_write()?;
        let existed = {
            let mut t = tx.open_table(table.0)?;
            let old = t.remove(key)?;
            old.is_some()
        };
        tx.commit()?;
        Ok(existed)
    }

    /// Reads one record.
    pub fn get<T: DeserializeOwned>(&self, table: Table, key: &str) -> Result<Option<T>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(table.0)?;
        match t.get(key)? {
            Some(v) => Ok(Some(decode(key, v.value())?)),
            None => Ok(None),
        }
    }

    /// Every record of a table, in key order. A record that cannot be decoded is reported
    /// by key rather than silently skipped.
    pub fn all<T: DeserializeOwned>(&self, table: Table) -> Result<Vec<(String, T)>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(table.0)?;
        let mut out = Vec::new();
        for row in t.iter()? {
            let (k, v) = row?;
            out.push((k.value().to_string(), decode(k.value(), v.value())?));
        }
        Ok(out)
    }
}

fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::Internal(format!("state database: record {key}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("berth.db");
        {
            let s = Store::open(&p).expect("open");
            s.put(CONTAINER_TABLE, "a", &serde_json::json!({"Name": "/x"}))
                .expect("put");
            s.put(CONTAINER_TABLE, "b", &serde_json::json!({"Name": "/y"}))
                .expect("put");
            assert!(s.delete(CONTAINER_TABLE, "b").expect("delete"));
            assert!(!s.delete(CONTAINER_TABLE, "b").expect("delete again"));
        }
        let s = Store::open(&p).expect("reopen");
        let all: Vec<(String, serde_json::Value)> = s.all(CONTAINER_TABLE).expect("all");
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].1["Name"], "/x");
        assert_eq!(s.schema_version().expect("version"), migrations::CURRENT);
    }
}

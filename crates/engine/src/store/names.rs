//! The container-name index: `name -> id`, written in the same transaction as the container
//! record, so two creates (or a create and a rename) can never both take one name, whatever
//! the timing. It is derived from the records and rebuilt from them when the database opens,
//! so it cannot drift from them (an older Berth that did not know it, a crash: both heal).

use super::{Store, CONTAINERS};
use crate::error::{Error, Result};
use redb::{ReadableTable, TableDefinition};
use serde::Serialize;

pub(crate) const CONTAINER_NAMES: TableDefinition<&str, &str> =
    TableDefinition::new("container_names");

/// The outcome of claiming a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameClaim {
    /// The name is now the container's, and its record is written.
    Claimed,
    /// Another container holds it (its id); nothing was written.
    TakenBy(String),
}

impl Store {
    /// Writes a new container record under `id` and claims `name` for it, in one transaction.
    pub fn container_insert<T: Serialize>(
        &self,
        id: &str,
        name: &str,
        record: &T,
    ) -> Result<NameClaim> {
        self.container_write(id, None, name, record)
    }

    /// Writes `record` and moves the container's name from `old` to `new`, in one transaction.
    pub fn container_rename<T: Serialize>(
        &self,
        id: &str,
        old: &str,
        new: &str,
        record: &T,
    ) -> Result<NameClaim> {
        self.container_write(id, Some(old), new, record)
    }

    fn container_write<T: Serialize>(
        &self,
        id: &str,
        old: Option<&str>,
        name: &str,
        record: &T,
    ) -> Result<NameClaim> {
        let bytes =
            serde_json::to_vec(record).map_err(|e| Error::internal("encoding record", e))?;
        let tx = self.db.begin_write()?;
        {
            let mut names = tx.open_table(CONTAINER_NAMES)?;
            let holder = names.get(name)?.map(|v| v.value().to_string());
            if let Some(other) = holder.filter(|other| other != id) {
                return Ok(NameClaim::TakenBy(other));
            }
            if let Some(old) = old.filter(|o| *o != name) {
                let held = names.get(old)?.map(|v| v.value() == id).unwrap_or(false);
                if held {
                    names.remove(old)?;
                }
            }
            names.insert(name, id)?;
            let mut t = tx.open_table(CONTAINERS)?;
            t.insert(id, bytes.as_slice())?;
        }
        tx.commit()?;
        Ok(NameClaim::Claimed)
    }

    /// Removes a container's record and frees its name, in one transaction; true when the
    /// record existed.
    pub fn container_delete(&self, id: &str, name: &str) -> Result<bool> {
        let tx = self.db.begin_write()?;
        let existed = {
            let mut names = tx.open_table(CONTAINER_NAMES)?;
            let held = names.get(name)?.map(|v| v.value() == id).unwrap_or(false);
            if held {
                names.remove(name)?;
            }
            let mut t = tx.open_table(CONTAINERS)?;
            let old = t.remove(id)?;
            old.is_some()
        };
        tx.commit()?;
        Ok(existed)
    }

    /// Rebuilds the index from the container records (the first record keeps a name that
    /// two records share: the daemon reports the second when it restores it).
    pub(super) fn rebuild_container_names(&self) -> Result<()> {
        let tx = self.db.begin_write()?;
        {
            let records = tx.open_table(CONTAINERS)?;
            let mut pairs = Vec::new();
            for row in records.iter()? {
                let (k, v) = row?;
                let rec: serde_json::Value = serde_json::from_slice(v.value()).map_err(|e| {
                    Error::Internal(format!("state database: record {}: {e}", k.value()))
                })?;
                if let Some(name) = rec["Name"].as_str().filter(|n| !n.is_empty()) {
                    pairs.push((name.to_string(), k.value().to_string()));
                }
            }
            drop(records);
            let mut names = tx.open_table(CONTAINER_NAMES)?;
            names.retain(|_, _| false)?;
            for (name, id) in pairs {
                if names.get(name.as_str())?.is_none() {
                    names.insert(name.as_str(), id.as_str())?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::CONTAINER_TABLE;
    use serde_json::json;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Store::open(&dir.path().join("berth.db")).expect("open");
        (dir, s)
    }

    #[test]
    fn a_name_is_claimed_once_and_freed_by_delete_and_rename() {
        let (_d, s) = store();
        let a = json!({"Id": "a", "Name": "web"});
        assert_eq!(
            s.container_insert("a", "web", &a).expect("a"),
            NameClaim::Claimed
        );
        let b = json!({"Id": "b", "Name": "web"});
        assert_eq!(
            s.container_insert("b", "web", &b).expect("b"),
            NameClaim::TakenBy("a".into())
        );
        let none: Option<serde_json::Value> = s.get(CONTAINER_TABLE, "b").expect("get");
        assert!(none.is_none(), "a refused claim writes no record");
        let a2 = json!({"Id": "a", "Name": "api"});
        assert_eq!(
            s.container_rename("a", "web", "api", &a2).expect("rename"),
            NameClaim::Claimed
        );
        assert_eq!(
            s.container_insert("b", "web", &b).expect("b"),
            NameClaim::Claimed
        );
        assert_eq!(
            s.container_rename("b", "web", "api", &b)
                .expect("rename onto a"),
            NameClaim::TakenBy("a".into())
        );
        assert!(s.container_delete("a", "api").expect("delete"));
        assert_eq!(
            s.container_rename("b", "web", "api", &b).expect("rename"),
            NameClaim::Claimed
        );
    }

    #[test]
    fn the_index_is_rebuilt_from_the_records() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("berth.db");
        {
            let s = Store::open(&p).expect("open");
            // Written as an older Berth did: the record without the index.
            s.put(CONTAINER_TABLE, "a", &json!({"Id": "a", "Name": "old"}))
                .expect("put");
        }
        let s = Store::open(&p).expect("reopen");
        assert_eq!(
            s.container_insert("b", "old", &json!({"Id": "b", "Name": "old"}))
                .expect("b"),
            NameClaim::TakenBy("a".into())
        );
    }
}

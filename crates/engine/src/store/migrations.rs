//! Ordered schema migrations. The database records the version it is at in `meta`; on open,
//! every step after it runs in order, each in its own transaction together with the version
//! bump, so a crash mid-way resumes at the step that did not commit. A database written by a
//! newer Berth is refused rather than misread.

use super::{CONTAINERS, META, NETWORKS};
use crate::error::{Error, Result};
use redb::{Database, ReadableTable, WriteTransaction};

type Step = fn(&WriteTransaction) -> Result<()>;

/// The steps, in order; step i brings the schema from version i to i+1. Never reorder or
/// edit a released step: add a new one.
const STEPS: &[(&str, Step)] = &[
    ("create the meta and containers tables", create_tables),
    (
        "container records: move HostConfig.LogConfig defaults into the record",
        log_config_defaults,
    ),
    ("create the networks table", create_networks_table),
];

/// The version a database is at after all steps.
#[cfg(test)]
pub const CURRENT: u64 = STEPS.len() as u64;

const VERSION_KEY: &str = "schema_version";

pub(super) fn version(db: &Database) -> Result<u64> {
    let tx = db.begin_read()?;
    match tx.open_table(META) {
        Ok(t) => Ok(t.get(VERSION_KEY)?.map(|v| v.value()).unwrap_or(0)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
        Err(e) => Err(e.into()),
    }
}

pub(super) fn run(db: &Database) -> Result<()> {
    run_steps(db, STEPS)
}

fn run_steps(db: &Database, steps: &[(&str, Step)]) -> Result<()> {
    let at = version(db)?;
    if at > steps.len() as u64 {
        return Err(Error::Internal(format!(
            "state database schema version {at} is newer than this berth understands ({}); \
             use the berth that wrote it",
            steps.len()
        )));
    }
    for (i, (what, step)) in steps.iter().enumerate().skip(at as usize) {
        let tx = db.begin_write()?;
        step(&tx).map_err(|e| Error::Internal(format!("migration {}: {what}: {e}", i + 1)))?;
        {
            let mut meta = tx.open_table(META)?;
            meta.insert(VERSION_KEY, (i + 1) as u64)?;
        }
        tx.commit()?;
    }
    Ok(())
}

fn create_tables(tx: &WriteTransaction) -> Result<()> {
    tx.open_table(META)?;
    tx.open_table(CONTAINERS)?;
    Ok(())
}

fn create_networks_table(tx: &WriteTransaction) -> Result<()> {
    tx.open_table(NETWORKS)?;
    Ok(())
}

/// Records written before the log configuration was resolved at create time have an empty
/// `HostConfig.LogConfig.Type`; they get the driver Docker would have used then, json-file.
fn log_config_defaults(tx: &WriteTransaction) -> Result<()> {
    let mut t = tx.open_table(CONTAINERS)?;
    let mut updates = Vec::new();
    for row in t.iter()? {
        let (k, v) = row?;
        let mut rec: serde_json::Value = serde_json::from_slice(v.value())
            .map_err(|e| Error::Internal(format!("record {}: {e}", k.value())))?;
        let hc = &mut rec["HostConfig"];
        if hc.is_object() && hc["LogConfig"]["Type"].as_str().unwrap_or("").is_empty() {
            hc["LogConfig"] = serde_json::json!({"Type": "json-file", "Config": {}});
            let bytes =
                serde_json::to_vec(&rec).map_err(|e| Error::internal("encoding record", e))?;
            updates.push((k.value().to_string(), bytes));
        }
    }
    for (k, bytes) in updates {
        t.insert(k.as_str(), bytes.as_slice())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, Database) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Database::create(dir.path().join("t.db")).expect("db");
        (dir, db)
    }

    #[test]
    fn steps_run_in_order_once() {
        let (_d, db) = db();
        assert_eq!(version(&db).expect("v"), 0);
        run(&db).expect("migrate");
        assert_eq!(version(&db).expect("v"), CURRENT);
        run(&db).expect("again is a no-op");
        assert_eq!(version(&db).expect("v"), CURRENT);
    }

    #[test]
    fn old_records_are_rewritten() {
        let (_d, db) = db();
        run_steps(&db, &STEPS[..1]).expect("first step only");
        {
            let tx = db.begin_write().expect("tx");
            {
                let mut t = tx.open_table(CONTAINERS).expect("table");
                let old = serde_json::json!({"Id": "a", "HostConfig": {"LogConfig": {"Type": ""}}});
                let bytes = serde_json::to_vec(&old).expect("json");
                t.insert("a", bytes.as_slice()).expect("insert");
            }
            tx.commit().expect("commit");
        }
        run(&db).expect("rest");
        let tx = db.begin_read().expect("read");
        let t = tx.open_table(CONTAINERS).expect("table");
        let v: serde_json::Value =
            serde_json::from_slice(t.get("a").expect("get").expect("row").value()).expect("json");
        assert_eq!(v["HostConfig"]["LogConfig"]["Type"], "json-file");
    }

    #[test]
    fn a_failing_step_leaves_the_version_where_it_was() {
        fn fails(_: &WriteTransaction) -> Result<()> {
            Err(Error::Internal("boom".into()))
        }
        let (_d, db) = db();
        let steps: &[(&str, Step)] = &[("tables", create_tables), ("fails", fails)];
        let e = run_steps(&db, steps).expect_err("second step fails");
        assert!(e.to_string().contains("migration 2: fails"), "{e}");
        assert_eq!(version(&db).expect("v"), 1);
    }

    #[test]
    fn newer_database_is_refused() {
        let (_d, db) = db();
        run(&db).expect("migrate");
        let tx = db.begin_write().expect("tx");
        {
            let mut meta = tx.open_table(META).expect("meta");
            meta.insert(VERSION_KEY, CURRENT + 5).expect("bump");
        }
        tx.commit().expect("commit");
        let e = run(&db).expect_err("newer");
        assert!(e.to_string().contains("newer than this berth"), "{e}");
    }
}

//! rename, with Docker's rules: a valid name, different from the current one, not taken.

use crate::error::{Error, Result};
use crate::store::NameClaim;
use crate::Engine;
use std::collections::HashMap;

impl Engine {
    /// Renames a container; publishes `rename` with the old name (`oldName`, with Docker's
    /// leading '/').
    pub async fn container_rename(&self, key: &str, new_name: &str) -> Result<()> {
        let new_name = new_name.trim_start_matches('/');
        if new_name.is_empty() {
            return Err(Error::InvalidArgument(
                "Neither old nor new names may be empty".into(),
            ));
        }
        if !crate::util::valid_container_name(new_name) {
            return Err(Error::InvalidArgument(format!(
                "Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let c = self.containers.find(key)?;
        let _op = c.op.lock().await;
        let old = c.record().name;
        if old == new_name {
            return Err(Error::InvalidArgument(
                "Renaming a container with the same name as its current name".into(),
            ));
        }
        // The database decides, in the transaction that writes the record: a create or another
        // rename racing for the same name cannot both win.
        let rec = c.update_with(
            |r| {
                r.name = new_name.to_string();
                r.clone()
            },
            |next| match self
                .store
                .container_rename(&next.id, &old, new_name, next)?
            {
                NameClaim::Claimed => Ok(()),
                NameClaim::TakenBy(other) => {
                    Err(crate::containers::create::conflict(new_name, &other))
                }
            },
        )?;
        self.network_rename(&rec.id, &rec.name);
        let mut attrs = HashMap::new();
        attrs.insert("oldName".to_string(), format!("/{old}"));
        self.container_event_with(&rec, "rename", attrs);
        Ok(())
    }
}

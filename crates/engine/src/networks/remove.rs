//! `network rm` and `network prune`.

use super::record::NetworkRecord;
use crate::containers::prune::PruneFilter;
use crate::error::{Error, Result};
use crate::store::NETWORK_TABLE;
use crate::Engine;
use std::collections::HashMap;

impl Engine {
    /// Removes a network: refused for the predefined ones and while a running container is
    /// attached. The bridge goes first, then the record: after a crash in between, the next
    /// daemon brings the bridge back for the record instead of leaving a bridge nobody owns.
    pub async fn network_remove(&self, key: &str) -> Result<()> {
        let _admin = self.networks.admin.lock().await;
        let r = self.networks.lock().find(key)?.clone();
        self.remove_network_locked(&r).await
    }

    async fn remove_network_locked(&self, r: &NetworkRecord) -> Result<()> {
        let nets = &self.networks;
        if r.predefined {
            return Err(Error::Forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                r.name
            )));
        }
        let members = nets.lock().members(&r.id);
        if !members.is_empty() {
            return Err(Error::Conflict(format!(
                "error while removing network: network {} id {} has active endpoints",
                r.name, r.id
            )));
        }
        if r.is_bridge() {
            nets.netlink
                .delete_bridge(&r.bridge)
                .await
                .map_err(|e| Error::Internal(format!("network {}: {e}", r.name)))?;
        }
        self.store.delete(NETWORK_TABLE, &r.id)?;
        {
            let mut st = nets.lock();
            st.records.remove(&r.id);
            st.ipam.remove_network(&r.id);
        }
        nets.sync_firewall().await?;
        self.network_event(r, "destroy", None);
        Ok(())
    }

    /// Removes the user networks no running container uses that pass `filters` (Docker's
    /// `until`, `label`, `label!`); returns their names.
    pub async fn network_prune(
        &self,
        filters: &HashMap<String, Vec<String>>,
    ) -> Result<Vec<String>> {
        let f = PruneFilter::parse(filters, std::time::SystemTime::now())?;
        let _admin = self.networks.admin.lock().await;
        let candidates: Vec<NetworkRecord> = {
            let st = self.networks.lock();
            st.records
                .values()
                .filter(|r| !r.predefined && st.members(&r.id).is_empty())
                .cloned()
                .collect()
        };
        let mut removed = Vec::new();
        for r in candidates {
            let labels: HashMap<String, String> = r.labels.clone().into_iter().collect();
            if !f.matches(crate::util::parse_rfc3339(&r.created), &labels) {
                continue;
            }
            match self.remove_network_locked(&r).await {
                Ok(()) => removed.push(r.name.clone()),
                Err(e) => tracing::warn!(network = %r.name, "prune: {e}"),
            }
        }
        removed.sort();
        Ok(removed)
    }
}

//! `update`: change a running container's resources.

use crate::error::{Error, Result};
use crate::state::ContainerState;
use crate::Runtime;
use oci_spec::runtime::LinuxResources;

impl Runtime {
    /// Applies `resources` to the container's cgroup and records them in its state.
    pub fn update(&self, id: &str, resources: &LinuxResources) -> Result<()> {
        let _lock = self.lock(id)?;
        let mut st = ContainerState::load(&self.root, id)?;
        if st.status(&self.root) == crate::state::Status::Stopped {
            return Err(Error::BadStatus(format!(
                "cannot update container {id}: it has stopped"
            )));
        }
        // Device rules are not changed by update (runc keeps the create-time set).
        let mut r = resources.clone();
        r.set_devices(None);
        super::create::cgroup_of(&st)?.apply(&r)?;
        if let Some(linux) = st.config.linux_mut() {
            let mut merged = linux.resources().clone().unwrap_or_default();
            if r.memory().is_some() {
                merged.set_memory(*r.memory());
            }
            if r.cpu().is_some() {
                merged.set_cpu(r.cpu().clone());
            }
            if r.pids().is_some() {
                merged.set_pids(*r.pids());
            }
            if r.block_io().is_some() {
                merged.set_block_io(r.block_io().clone());
            }
            linux.set_resources(Some(merged));
        }
        st.save(&self.root)
    }
}

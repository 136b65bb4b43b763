//! `pause` and `resume`: freeze and thaw the container's cgroup.

use crate::error::{Error, Result};
use crate::state::ContainerState;
use crate::Runtime;

impl Runtime {
    /// `pause`.
    pub fn pause(&self, id: &str) -> Result<()> {
        let _lock = self.lock(id)?;
        let st = ContainerState::load(&self.root, id)?;
        let status = st.status(&self.root);
        if !status.can_pause() {
            return Err(Error::BadStatus(format!(
                "cannot pause container {id}: it is {status}, not running"
            )));
        }
        super::create::cgroup_of(&st)?.freeze()?;
        Ok(())
    }

    /// `resume`.
    pub fn resume(&self, id: &str) -> Result<()> {
        let _lock = self.lock(id)?;
        let st = ContainerState::load(&self.root, id)?;
        let status = st.status(&self.root);
        if !status.can_resume() {
            return Err(Error::BadStatus(format!(
                "cannot resume container {id}: it is {status}, not paused"
            )));
        }
        super::create::cgroup_of(&st)?.thaw()?;
        Ok(())
    }
}

//! `ps`: the processes of a container (from its cgroup).

use crate::error::Result;
use crate::state::ContainerState;
use crate::Runtime;

impl Runtime {
    /// Host pids of every process in the container.
    pub fn pids(&self, id: &str) -> Result<Vec<i32>> {
        crate::state::validate_id(id)?;
        let st = ContainerState::load(&self.root, id)?;
        let mut pids = super::create::cgroup_of(&st)?.pids()?;
        pids.sort_unstable();
        Ok(pids)
    }
}

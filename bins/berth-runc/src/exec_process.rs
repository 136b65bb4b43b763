//! The process `exec` runs: from --process FILE, or the container's own process definition
//! changed by the command line (runc's rules: -e adds or replaces, -c adds capabilities).

use crate::cli::ExecArgs;
use anyhow::{bail, Context, Result};
use berth_runtime::Runtime;
use oci_spec::runtime::{Capability, Process};
use std::str::FromStr;

pub fn build(rt: &Runtime, e: &ExecArgs) -> Result<Process> {
    if let Some(path) = &e.process {
        let data = std::fs::read(path)
            .with_context(|| format!("--process: reading {}", path.display()))?;
        let de = &mut serde_json::Deserializer::from_slice(&data);
        let p: Process = serde_path_to_error::deserialize(de).map_err(|err| {
            anyhow::anyhow!(
                "--process {}: {}: {}",
                path.display(),
                err.path(),
                err.inner()
            )
        })?;
        return Ok(p);
    }
    if e.command.is_empty() {
        bail!("exec: no command given (use --process FILE or give the command after the container id)");
    }
    let mut p = rt.process_template(&e.id)?;
    p.set_args(Some(e.command.clone()));
    p.set_terminal(Some(e.tty));
    let mut env = p.env().clone().unwrap_or_default();
    for kv in &e.env {
        let key = kv.split('=').next().unwrap_or(kv);
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    p.set_env(Some(env));
    if let Some(cwd) = &e.cwd {
        p.set_cwd(cwd.clone());
    }
    if let Some(u) = &e.user {
        let (uid, gid) = match u.split_once(':') {
            Some((a, b)) => (a, Some(b)),
            None => (u.as_str(), None),
        };
        let mut user = p.user().clone();
        user.set_uid(
            uid.parse()
                .with_context(|| format!("--user: invalid uid {uid:?}"))?,
        );
        if let Some(g) = gid {
            user.set_gid(
                g.parse()
                    .with_context(|| format!("--user: invalid gid {g:?}"))?,
            );
        }
        if !e.additional_gids.is_empty() {
            user.set_additional_gids(Some(e.additional_gids.clone()));
        }
        p.set_user(user);
    } else if !e.additional_gids.is_empty() {
        let mut user = p.user().clone();
        user.set_additional_gids(Some(e.additional_gids.clone()));
        p.set_user(user);
    }
    if !e.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for name in &e.cap {
            let short = name.trim_start_matches("CAP_");
            let c = Capability::from_str(short)
                .map_err(|_| anyhow::anyhow!("--cap: unknown capability {name:?}"))?;
            let add = |set: &Option<oci_spec::runtime::Capabilities>| {
                let mut s = set.clone().unwrap_or_default();
                s.insert(c);
                Some(s)
            };
            let (b, ef, pe) = (
                add(caps.bounding()),
                add(caps.effective()),
                add(caps.permitted()),
            );
            caps.set_bounding(b);
            caps.set_effective(ef);
            caps.set_permitted(pe);
        }
        p.set_capabilities(Some(caps));
    }
    if e.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    Ok(p)
}

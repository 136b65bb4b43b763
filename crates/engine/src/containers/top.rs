//! top: as dockerd does, `ps` runs on the host and only the rows of the container's processes
//! (the pids in its cgroup) are kept, so every `ps` option the host's procps knows works.

use crate::containers::pause::{not_running, restarting};
use crate::containers::runtime::cgroups_path;
use crate::containers::Status;
use crate::error::{Error, Result};
use crate::Engine;
use std::collections::HashSet;

/// `ps`'s column titles and one row per process (the last column holds the rest of the line).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Top {
    pub titles: Vec<String>,
    pub processes: Vec<Vec<String>>,
}

impl Engine {
    /// The processes of a running container, as `ps ps_args` (default `-ef`) shows them.
    pub async fn container_top(&self, key: &str, ps_args: Option<&str>) -> Result<Top> {
        let ps_args = ps_args.filter(|a| !a.trim().is_empty()).unwrap_or("-ef");
        validate_ps_args(ps_args)?;
        let c = self.containers.find(key)?;
        let rec = c.record();
        match rec.state.status {
            Status::Running | Status::Paused => {}
            Status::Restarting => return Err(restarting(&c.id)),
            _ => return Err(not_running(&c.id)),
        }
        let pids = container_pids(&c.id, rec.state.pid);
        let args: Vec<String> = ps_args.split(' ').map(String::from).collect();
        let list = pids
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(",");
        // `-q PIDS` keeps ps from walking all of /proc; some options (f) refuse it, so retry
        // without, as dockerd does. The filter below decides either way.
        let mut out = tokio::process::Command::new("ps")
            .args(&args)
            .arg("-q")
            .arg(&list)
            .stdin(std::process::Stdio::null())
            .output()
            .await;
        if !out.as_ref().map(|o| o.status.success()).unwrap_or(false) {
            out = tokio::process::Command::new("ps")
                .args(&args)
                .stdin(std::process::Stdio::null())
                .output()
                .await;
        }
        let out = out.map_err(|e| Error::internal("Error running ps", e))?;
        if !out.status.success() {
            return Err(Error::Internal(format!(
                "ps: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        parse_ps(&String::from_utf8_lossy(&out.stdout), &pids)
    }
}

/// Every pid in the container's cgroup; the init pid alone when the cgroup cannot be read.
pub(crate) fn container_pids(id: &str, init_pid: i64) -> HashSet<i32> {
    let opts = berth_cgroups::CgroupOptions::new(cgroups_path(id), id);
    let mut pids: HashSet<i32> = berth_cgroups::open(&opts)
        .and_then(|m| m.pids())
        .map(|p| p.into_iter().collect())
        .unwrap_or_default();
    if pids.is_empty() && init_pid > 0 {
        pids.insert(init_pid as i32);
    }
    pids
}

/// Docker's check: `ps` output options may only rename the PID column as `pid=PID...`.
fn validate_ps_args(args: &str) -> Result<()> {
    // dockerd refuses `-o x=PID` style renames that would hide the PID column.
    for word in args.split_whitespace() {
        for part in word.split(',') {
            if let Some((k, v)) = part.split_once('=') {
                if v.trim_start().starts_with("PID") && k != "pid" {
                    return Err(Error::InvalidArgument(format!(
                        "specifying \"{k}={v}\" is not allowed"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Keeps the rows of `ps` output whose PID column is one of `pids`.
pub(crate) fn parse_ps(output: &str, pids: &HashSet<i32>) -> Result<Top> {
    let mut lines = output.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().unwrap_or("");
    let titles: Vec<String> = header.split_ascii_whitespace().map(String::from).collect();
    let pid_col = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or_else(|| Error::Internal("Couldn't find PID field in ps output".to_string()))?;
    let mut processes = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        let Some(pid) = fields.get(pid_col).and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if !pids.contains(&pid) {
            continue;
        }
        // The last title's column (CMD) takes the rest of the line, spaces included.
        let last = titles.len() - 1;
        let mut row: Vec<String> = fields.iter().take(last).map(|s| s.to_string()).collect();
        if fields.len() > last {
            row.push(fields[last..].join(" "));
        }
        processes.push(row);
    }
    Ok(Top { titles, processes })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PS: &str = "\
UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 10:00 ?        00:00:01 /sbin/init
root        4242    4200  0 10:01 ?        00:00:00 sleep 1000
root        4243    4242  0 10:01 pts/0    00:00:00 sh -c echo  two  spaces
";

    #[test]
    fn keeps_only_the_container_pids_and_joins_the_command() {
        let pids: HashSet<i32> = [4242, 4243].into_iter().collect();
        let top = parse_ps(PS, &pids).expect("parse");
        assert_eq!(top.titles.len(), 8);
        assert_eq!(top.titles[1], "PID");
        assert_eq!(top.processes.len(), 2);
        assert_eq!(top.processes[0][1], "4242");
        assert_eq!(top.processes[0][7], "sleep 1000");
        assert_eq!(top.processes[1][7], "sh -c echo two spaces");
        assert_eq!(top.processes[1].len(), 8);
    }

    #[test]
    fn pid_column_anywhere_and_missing() {
        let out = "USER PID %CPU COMMAND\nbob 7 0.0 top\nbob 8 0.0 other\n";
        let top = parse_ps(out, &[8].into_iter().collect()).expect("parse");
        assert_eq!(top.processes, vec![vec!["bob", "8", "0.0", "other"]]);
        let e = parse_ps("USER COMMAND\nbob x\n", &HashSet::new()).expect_err("no PID");
        assert!(e.to_string().contains("Couldn't find PID field"));
    }

    #[test]
    fn ps_args_may_not_rename_pid() {
        assert!(validate_ps_args("-eo pid,comm").is_ok());
        assert!(validate_ps_args("-o pid=PID,comm").is_ok());
        assert!(validate_ps_args("-o user=PID").is_err());
    }
}

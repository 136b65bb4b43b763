//! Verbs whose work is mostly printing: ps, list, spec.

use crate::cli::{ListArgs, PsArgs, SpecArgs};
use anyhow::{bail, Context, Result};
use berth_runtime::Runtime;

pub fn ps(rt: &Runtime, a: &PsArgs) -> Result<()> {
    let pids = rt.pids(&a.id)?;
    match a.format.as_str() {
        "json" => println!("{}", serde_json::to_string(&pids)?),
        "table" => {
            let args: Vec<String> = if a.ps_args.is_empty() {
                vec!["-ef".into()]
            } else {
                a.ps_args.clone()
            };
            let out = std::process::Command::new("ps")
                .args(&args)
                .output()
                .context("running ps")?;
            if !out.status.success() {
                bail!(
                    "ps {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or_default();
            let col = header
                .split_whitespace()
                .position(|h| h == "PID")
                .context("ps output has no PID column")?;
            println!("{header}");
            for l in lines {
                if l.split_whitespace()
                    .nth(col)
                    .and_then(|p| p.parse::<i32>().ok())
                    .is_some_and(|p| pids.contains(&p))
                {
                    println!("{l}");
                }
            }
        }
        other => bail!("--format: expected table or json, got {other:?}"),
    }
    Ok(())
}

pub fn list(rt: &Runtime, a: &ListArgs) -> Result<()> {
    let all = rt.list()?;
    if a.quiet {
        for s in &all {
            println!("{}", s.id);
        }
        return Ok(());
    }
    match a.format.as_str() {
        "json" => println!("{}", serde_json::to_string(&all)?),
        "table" => {
            let mut rows = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
                .map(String::from)
                .to_vec()];
            for s in &all {
                rows.push(vec![
                    s.id.clone(),
                    s.pid.to_string(),
                    s.status.to_string(),
                    s.bundle.display().to_string(),
                    s.created.clone(),
                    s.owner.clone(),
                ]);
            }
            let widths: Vec<usize> = (0..6)
                .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
                .collect();
            for r in rows {
                let line: Vec<String> = r
                    .iter()
                    .enumerate()
                    .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
                    .collect();
                println!("{}", line.join("   ").trim_end());
            }
        }
        other => bail!("--format: expected table or json, got {other:?}"),
    }
    Ok(())
}

pub fn spec(a: &SpecArgs) -> Result<()> {
    let path = a.bundle.join("config.json");
    if path.exists() {
        bail!("File {} exists. Remove it first", path.display());
    }
    let uid = rustix::process::getuid().as_raw();
    let gid = rustix::process::getgid().as_raw();
    let spec = berth_runtime::spec_default::default_spec(a.rootless, uid, gid);
    std::fs::write(&path, serde_json::to_string_pretty(&spec)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

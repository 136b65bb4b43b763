//! Verbs that act on containers by name or id: start, stop, restart, kill, rm, wait, rename,
//! pause, unpause and container prune. As docker: each name is echoed on success, failures are
//! printed one per line and the command then exits 1.

use super::super::client::{enc, query};
use super::super::format::human_size;
use super::super::stream;
use super::super::{exit_code, Ctx};
use super::each;
use super::exec::attach_output;
use super::ps::filters_json;
use anyhow::{anyhow, Result};
use serde_json::Value;
use std::io::{BufRead, Write};

#[derive(clap::Args, Debug)]
pub struct ContainersArgs {
    /// CONTAINER...
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// CONTAINER...
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct StopArgs {
    /// Signal to send to the container
    #[arg(short = 's', long)]
    pub signal: Option<String>,
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "time",
        visible_alias = "timeout",
        allow_hyphen_values = true
    )]
    pub time: Option<i64>,
    /// CONTAINER...
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long, default_value = "KILL")]
    pub signal: String,
    /// CONTAINER...
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long)]
    pub volumes: bool,
    /// Remove the specified link
    #[arg(short = 'l', long)]
    pub link: bool,
    /// CONTAINER...
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct RenameArgs {
    /// CONTAINER
    pub container: String,
    /// NEW_NAME
    pub new_name: String,
}

#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long)]
    pub filter: Vec<String>,
}

pub async fn start(ctx: &Ctx, a: StartArgs) -> Result<()> {
    if !(a.attach || a.interactive) {
        return each(&a.containers, |c| async move {
            ctx.client
                .post_json(&format!("/containers/{}/start", enc(&c)), None)
                .await?;
            Ok(Some(c))
        })
        .await;
    }
    if a.containers.len() > 1 {
        return Err(anyhow!(
            "you cannot start and attach multiple containers at once"
        ));
    }
    let name = &a.containers[0];
    let info = ctx
        .client
        .get_json(&format!("/containers/{}/json", enc(name)))
        .await?;
    let id = info["Id"].as_str().unwrap_or(name).to_string();
    let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
    let stdin = a.interactive && info["Config"]["OpenStdin"].as_bool().unwrap_or(false);
    let keys = stream::detach_keys(a.detach_keys.as_deref())?;
    let conn = attach_output(ctx, &id, stdin, a.detach_keys.as_deref()).await?;
    let raw = (tty && stdin).then(stream::RawTerminal::enable);
    ctx.client
        .post_json(&format!("/containers/{}/start", enc(&id)), None)
        .await?;
    if tty {
        stream::monitor_size(&ctx.client, format!("/containers/{}/resize", enc(&id)));
    } else {
        super::run::proxy_signals(ctx.client.clone(), id.clone());
    }
    let end = stream::pump(conn, tty, stdin, &keys).await?;
    drop(raw);
    if end == stream::End::Detached {
        return Ok(());
    }
    let status = ctx
        .client
        .post_json(&format!("/containers/{}/wait", enc(&id)), None)
        .await?;
    match status["StatusCode"].as_i64().unwrap_or(0) {
        0 => Ok(()),
        c => Err(exit_code(c as i32)),
    }
}

pub async fn stop(ctx: &Ctx, a: StopArgs, verb: &str) -> Result<()> {
    let mut q = Vec::new();
    if let Some(t) = a.time {
        q.push(("t", t.to_string()));
    }
    if let Some(s) = &a.signal {
        q.push(("signal", s.clone()));
    }
    let q = query(&q);
    each(&a.containers, |c| {
        let q = q.clone();
        async move {
            ctx.client
                .post_json(&format!("/containers/{}/{verb}{q}", enc(&c)), None)
                .await?;
            Ok(Some(c))
        }
    })
    .await
}

pub async fn kill(ctx: &Ctx, a: KillArgs) -> Result<()> {
    let q = query(&[("signal", a.signal.clone())]);
    each(&a.containers, |c| {
        let q = q.clone();
        async move {
            ctx.client
                .post_json(&format!("/containers/{}/kill{q}", enc(&c)), None)
                .await?;
            Ok(Some(c))
        }
    })
    .await
}

pub async fn rm(ctx: &Ctx, a: RmArgs) -> Result<()> {
    let mut q = Vec::new();
    if a.force {
        q.push(("force", "1".to_string()));
    }
    if a.volumes {
        q.push(("v", "1".to_string()));
    }
    if a.link {
        q.push(("link", "1".to_string()));
    }
    let q = query(&q);
    each(&a.containers, |c| {
        let q = q.clone();
        async move {
            let name = c.trim_matches('/').to_string();
            ctx.client
                .delete(&format!("/containers/{}{q}", enc(&name)))
                .await?;
            Ok(Some(c))
        }
    })
    .await
}

pub async fn wait(ctx: &Ctx, a: ContainersArgs) -> Result<()> {
    each(&a.containers, |c| async move {
        let v = ctx
            .client
            .post_json(&format!("/containers/{}/wait", enc(&c)), None)
            .await?;
        Ok(Some(v["StatusCode"].as_i64().unwrap_or(0).to_string()))
    })
    .await
}

pub async fn rename(ctx: &Ctx, a: RenameArgs) -> Result<()> {
    let new = a.new_name.trim();
    if new.is_empty() {
        return Err(anyhow!("Error: Neither old nor new names may be empty"));
    }
    ctx.client
        .post_json(
            &format!(
                "/containers/{}/rename{}",
                enc(&a.container),
                query(&[("name", new.to_string())])
            ),
            None,
        )
        .await?;
    Ok(())
}

pub async fn simple(ctx: &Ctx, a: ContainersArgs, verb: &str) -> Result<()> {
    each(&a.containers, |c| async move {
        ctx.client
            .post_json(&format!("/containers/{}/{verb}", enc(&c)), None)
            .await?;
        Ok(Some(c))
    })
    .await
}

/// docker's `[y/N]` question on stdin; anything but y/yes is no.
pub fn confirm(warning: &str) -> bool {
    print!("{warning}\nAre you sure you want to continue? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    matches!(line.trim().to_lowercase().as_str(), "y" | "yes")
}

/// Prints docker's prune report: the deleted ids under `title`, then the space reclaimed.
pub fn print_prune(v: &Value, key: &str, title: &str) -> u64 {
    let items: Vec<&str> = v[key]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| {
            x.as_str()
                .or_else(|| x.get("Deleted").and_then(Value::as_str))
                .or_else(|| x.get("Untagged").and_then(Value::as_str))
        })
        .collect();
    if !items.is_empty() {
        println!("{title}");
        for i in items {
            println!("{i}");
        }
        println!();
    }
    v["SpaceReclaimed"].as_u64().unwrap_or(0)
}

pub async fn prune(ctx: &Ctx, a: PruneArgs) -> Result<()> {
    if !a.force && !confirm("WARNING! This will remove all stopped containers.") {
        return Ok(());
    }
    let q = filters_json(&a.filter)?
        .map(|f| query(&[("filters", f)]))
        .unwrap_or_default();
    let v = ctx
        .client
        .post_json(&format!("/containers/prune{q}"), None)
        .await?;
    let space = print_prune(&v, "ContainersDeleted", "Deleted Containers:");
    println!("Total reclaimed space: {}", human_size(space as f64));
    Ok(())
}

//! `inspect` (containers, images, networks, volumes; `--type`, `-f`, `-s`), `top` and `update`.

use super::super::client::{enc, is_not_found, query};
use super::super::format::{indent_json, tabwrite_min, Template};
use super::super::Ctx;
use super::run::ram_in_bytes;
use super::{each, fail_with};
use anyhow::{bail, Result};
use serde_json::{json, Map, Value};

#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short = 's', long)]
    pub size: bool,
    /// Only inspect objects of the given type
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// NAME|ID...
    #[arg(required = true, value_name = "NAME|ID")]
    pub names: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct TopArgs {
    /// CONTAINER
    pub container: String,
    /// [ps OPTIONS]
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct UpdateArgs {
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota")]
    pub cpu_quota: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<f64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    pub restart: Option<String>,
    /// CONTAINER...
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

fn path_for(kind: &str, name: &str, size: bool) -> String {
    match kind {
        "container" => format!(
            "/containers/{}/json{}",
            enc(name),
            if size { "?size=1" } else { "" }
        ),
        "image" => format!("/images/{}/json", enc(name)),
        "network" => format!("/networks/{}", enc(name)),
        _ => format!("/volumes/{}", enc(name)),
    }
}

/// The raw JSON of one object: of `kind`, or the first kind that knows the name.
async fn find(ctx: &Ctx, kind: Option<&str>, name: &str, size: bool) -> Result<String> {
    let kinds: Vec<&str> = match kind {
        Some(k) => vec![k],
        None => vec!["container", "image", "network", "volume"],
    };
    for k in kinds {
        match ctx.client.get_raw(&path_for(k, name, size)).await {
            Ok(raw) => return Ok(raw),
            // With --type, docker passes the daemon's own refusal on.
            Err(e) if is_not_found(&e) && kind.is_none() => continue,
            Err(e) => return Err(e),
        }
    }
    bail!("Error: No such object: {name}")
}

pub async fn inspect(ctx: &Ctx, a: InspectArgs, forced: Option<&str>) -> Result<()> {
    let kind = forced.map(String::from).or(a.kind.clone());
    if let Some(k) = &kind {
        if !["container", "image", "network", "volume"].contains(&k.as_str()) {
            bail!("\"{k}\" is not a valid value for --type");
        }
    }
    // A bad template fails before any request, as docker's does.
    if let Some(f) = a
        .format
        .as_deref()
        .filter(|f| !f.is_empty() && *f != "json")
    {
        Template::parse(f)?;
    }
    let mut raws = Vec::new();
    let mut errors = Vec::new();
    for n in &a.names {
        match find(ctx, kind.as_deref(), n, a.size).await {
            Ok(r) => raws.push(r),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    print_objects(&raws, a.format.as_deref())?;
    fail_with(errors)
}

/// Docker's inspect output of raw objects: an indented JSON array (`[]` when none was found),
/// or one line per object of the `-f` template.
pub fn print_objects(raws: &[String], format: Option<&str>) -> Result<()> {
    match format {
        None | Some("") | Some("json") => {
            let items: Vec<String> = raws
                .iter()
                .map(|r| format!("    {}", indent_json(r.trim(), "    ", 1)))
                .collect();
            if items.is_empty() {
                println!("[]");
            } else {
                println!("[\n{}\n]", items.join(",\n"));
            }
        }
        Some(f) => {
            let t = Template::parse(f)?;
            for r in raws {
                let v: Value = serde_json::from_str(r)?;
                println!("{}", t.render(&v)?);
            }
        }
    }
    Ok(())
}

pub async fn top(ctx: &Ctx, a: TopArgs) -> Result<()> {
    let q = if a.ps_args.is_empty() {
        String::new()
    } else {
        query(&[("ps_args", a.ps_args.join(" "))])
    };
    let v = ctx
        .client
        .get_json(&format!("/containers/{}/top{q}", enc(&a.container)))
        .await?;
    let mut text = String::new();
    let cells = |row: &Value| -> String {
        row.as_array()
            .into_iter()
            .flatten()
            .map(|c| c.as_str().unwrap_or("").to_string())
            .collect::<Vec<_>>()
            .join("\t")
    };
    text.push_str(&cells(&v["Titles"]));
    text.push('\n');
    for p in v["Processes"].as_array().into_iter().flatten() {
        text.push_str(&cells(p));
        text.push('\n');
    }
    print!("{}", tabwrite_min(&text, 20));
    Ok(())
}

pub async fn update(ctx: &Ctx, a: UpdateArgs) -> Result<()> {
    let mut body = Map::new();
    let mut set = |k: &str, v: Value| {
        body.insert(k.to_string(), v);
    };
    if let Some(v) = a.blkio_weight {
        set("BlkioWeight", json!(v));
    }
    if let Some(v) = a.cpu_period {
        set("CpuPeriod", json!(v));
    }
    if let Some(v) = a.cpu_quota {
        set("CpuQuota", json!(v));
    }
    if let Some(v) = a.cpu_shares {
        set("CpuShares", json!(v));
    }
    if let Some(v) = a.cpus {
        set("NanoCpus", json!((v * 1e9).round() as i64));
    }
    if let Some(v) = &a.cpuset_cpus {
        set("CpusetCpus", json!(v));
    }
    if let Some(v) = &a.cpuset_mems {
        set("CpusetMems", json!(v));
    }
    if let Some(v) = &a.memory {
        set("Memory", json!(ram_in_bytes(v)?));
    }
    if let Some(v) = &a.memory_reservation {
        set("MemoryReservation", json!(ram_in_bytes(v)?));
    }
    if let Some(v) = &a.memory_swap {
        set(
            "MemorySwap",
            json!(if v == "-1" { -1 } else { ram_in_bytes(v)? }),
        );
    }
    if let Some(v) = a.pids_limit {
        set("PidsLimit", json!(v));
    }
    if let Some(r) = &a.restart {
        let (name, count) = r.split_once(':').unwrap_or((r, "0"));
        set(
            "RestartPolicy",
            json!({"Name": name, "MaximumRetryCount": count.parse::<i64>().unwrap_or(0)}),
        );
    }
    if body.is_empty() {
        bail!("you must provide one or more flags when using this command");
    }
    let body = &Value::Object(body);
    each(&a.containers, |c| async move {
        let v = ctx
            .client
            .post_json(&format!("/containers/{}/update", enc(&c)), Some(body))
            .await?;
        for w in v["Warnings"].as_array().into_iter().flatten() {
            eprintln!("WARNING: {}", w.as_str().unwrap_or(""));
        }
        Ok(Some(c))
    })
    .await
}

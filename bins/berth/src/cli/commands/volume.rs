//! `volume create|ls|inspect|rm|prune`: docker's volume verbs over /volumes, with its table,
//! `--format`, `-q`, error lines and the prune prompt that depends on the API version (from
//! 1.42 the daemon prunes only anonymous volumes unless asked for all).

use super::super::client::{enc, query, version_lt};
use super::super::format::{header, human_size, natural_cmp, row, Formatter};
use super::super::{Ctx, StatusError};
use super::lifecycle::{confirm, print_prune};
use super::network::{filter_query, print_inspected, string_map};
use super::ps::filters_json;
use super::{fail_with, Arity};
use anyhow::{bail, Result};
use serde_json::{json, Map, Value};

#[derive(clap::Subcommand, Debug)]
pub enum VolumeCommand {
    /// Create a volume
    Create(CreateArgs),
    /// List volumes
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more volumes
    Inspect(InspectArgs),
    /// Remove one or more volumes
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove unused local volumes
    Prune(PruneArgs),
}

#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    /// Specify volume driver name
    #[arg(short = 'd', long, default_value = "local")]
    pub driver: String,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt")]
    pub opt: Vec<String>,
    /// Set metadata for a volume
    #[arg(long)]
    pub label: Vec<String>,
    /// Specify volume name
    #[arg(long, hide = true)]
    pub name: Option<String>,
    /// [VOLUME]
    #[arg(value_name = "VOLUME")]
    pub args: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct LsArgs {
    /// Provide filter values (e.g. "dangling=true")
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', 'TEMPLATE')
    #[arg(long)]
    pub format: Option<String>,
    /// Only display volume names
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[arg(hide = true)]
    pub args: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// VOLUME...
    #[arg(value_name = "VOLUME")]
    pub args: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct RmArgs {
    /// Force the removal of one or more volumes
    #[arg(short = 'f', long)]
    pub force: bool,
    /// VOLUME...
    #[arg(value_name = "VOLUME")]
    pub args: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (e.g. "label=<label>")
    #[arg(long)]
    pub filter: Vec<String>,
    #[arg(hide = true)]
    pub args: Vec<String>,
}

impl VolumeCommand {
    /// Docker's argument-count checks, made before connecting.
    pub fn check(&self) -> Result<()> {
        let (verb, usage, arity, n) = match self {
            VolumeCommand::Create(a) => {
                ("create", "[OPTIONS] [VOLUME]", Arity::Max(1), a.args.len())
            }
            VolumeCommand::Ls(a) => ("ls", "[OPTIONS]", Arity::None, a.args.len()),
            VolumeCommand::Inspect(a) => (
                "inspect",
                "[OPTIONS] VOLUME [VOLUME...]",
                Arity::Min(1),
                a.args.len(),
            ),
            VolumeCommand::Rm(a) => (
                "rm",
                "[OPTIONS] VOLUME [VOLUME...]",
                Arity::Min(1),
                a.args.len(),
            ),
            VolumeCommand::Prune(a) => ("prune", "[OPTIONS]", Arity::None, a.args.len()),
        };
        arity.check(&format!("volume {verb}"), usage, n)
    }
}

pub async fn dispatch(ctx: &Ctx, c: VolumeCommand) -> Result<()> {
    match c {
        VolumeCommand::Create(a) => create(ctx, a).await,
        VolumeCommand::Ls(a) => ls(ctx, a).await,
        VolumeCommand::Inspect(a) => inspect(ctx, a).await,
        VolumeCommand::Rm(a) => rm(ctx, a).await,
        VolumeCommand::Prune(a) => prune(ctx, a).await,
    }
}

pub async fn create(ctx: &Ctx, a: CreateArgs) -> Result<()> {
    let name = match (&a.name, a.args.first()) {
        (Some(_), Some(_)) => bail!(
            "conflicting options: cannot specify a volume-name through both --name and as a positional arg"
        ),
        (Some(n), None) | (None, Some(n)) => n.clone(),
        (None, None) => String::new(),
    };
    let mut body = Map::new();
    body.insert("Driver".into(), json!(a.driver));
    if !a.opt.is_empty() {
        body.insert("DriverOpts".into(), Value::Object(string_map(&a.opt)));
    }
    if !a.label.is_empty() {
        body.insert("Labels".into(), Value::Object(string_map(&a.label)));
    }
    if !name.is_empty() {
        body.insert("Name".into(), json!(name));
    }
    let v = ctx
        .client
        .post_json("/volumes/create", Some(&Value::Object(body)))
        .await?;
    println!("{}", v["Name"].as_str().unwrap_or(""));
    Ok(())
}

/// Docker's header names for the volume table.
fn volume_header(field: &str) -> String {
    match field {
        "Name" => "VOLUME NAME".into(),
        "Mountpoint" => "MOUNTPOINT".into(),
        "Links" => "LINKS".into(),
        other => header(other),
    }
}

fn volume_row(v: &Value) -> Value {
    let usage = &v["UsageData"];
    let links = match usage["RefCount"].as_i64() {
        Some(n) if n >= 0 => n.to_string(),
        _ => "N/A".into(),
    };
    let size = match usage["Size"].as_i64() {
        Some(n) if n >= 0 => human_size(n as f64),
        _ => "N/A".into(),
    };
    let s = |k: &str| json!(v[k].as_str().unwrap_or(""));
    row(vec![
        // Cluster volume fields; local volumes have none.
        ("Availability", json!("N/A")),
        ("Driver", s("Driver")),
        ("Group", json!("N/A")),
        (
            "Labels",
            json!(super::super::format::joined_labels(&v["Labels"])),
        ),
        ("Links", json!(links)),
        ("Mountpoint", s("Mountpoint")),
        ("Name", s("Name")),
        ("Scope", s("Scope")),
        ("Size", json!(size)),
        ("Status", json!("N/A")),
    ])
}

pub async fn ls(ctx: &Ctx, a: LsArgs) -> Result<()> {
    let q = filter_query(&a.filter, "volume ls")?;
    let list = ctx.client.get_json(&format!("/volumes{q}")).await?;
    let mut vols: Vec<&Value> = list["Volumes"].as_array().into_iter().flatten().collect();
    vols.sort_by(|x, y| {
        natural_cmp(
            x["Name"].as_str().unwrap_or(""),
            y["Name"].as_str().unwrap_or(""),
        )
    });
    let rows: Vec<Value> = vols.iter().map(|v| volume_row(v)).collect();
    let user = if a.quiet && a.format.is_none() {
        Some("{{.Name}}".to_string())
    } else {
        a.format
            .clone()
            .or_else(|| super::super::config::format_setting(&ctx.config_dir, "volumesFormat"))
    };
    let f = Formatter::new(
        user.as_deref(),
        "table {{.Driver}}\t{{.Name}}",
        volume_header,
    )?;
    print!("{}", f.render(&rows)?);
    for w in list["Warnings"].as_array().into_iter().flatten() {
        eprintln!("{}", w.as_str().unwrap_or(""));
    }
    Ok(())
}

pub async fn inspect(ctx: &Ctx, a: InspectArgs) -> Result<()> {
    let mut raws = Vec::new();
    let mut errors = Vec::new();
    for n in &a.args {
        match ctx.client.get_raw(&format!("/volumes/{}", enc(n))).await {
            Ok(r) => raws.push(r),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    print_inspected(&raws, a.format.as_deref(), errors)
}

pub async fn rm(ctx: &Ctx, a: RmArgs) -> Result<()> {
    let force = if a.force { "?force=1" } else { "" };
    let mut errors = Vec::new();
    for n in &a.args {
        match ctx
            .client
            .delete(&format!("/volumes/{}{force}", enc(n)))
            .await
        {
            Ok(_) => println!("{n}"),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    fail_with(errors)
}

pub async fn prune(ctx: &Ctx, a: PruneArgs) -> Result<()> {
    let version = ctx.client.api_version().to_string();
    let old_api = version_lt(&version, "1.42");
    if a.all && old_api {
        return Err(StatusError {
            code: 1,
            message: Some(format!(
                "\"--all\" requires API version 1.42, but the Berth daemon API version is {version}"
            )),
        }
        .into());
    }
    let mut filters = a.filter.clone();
    // Daemons before API 1.42 prune every unused volume, anonymous or named.
    let mut warning = if old_api {
        "WARNING! This will remove all local volumes not used by at least one container."
    } else {
        "WARNING! This will remove anonymous local volumes not used by at least one container."
    };
    if a.all {
        if filters.iter().any(|f| f.split('=').next() == Some("all")) {
            bail!("conflicting options: cannot specify both --all and --filter all=1");
        }
        filters.push("all=true".into());
        warning = "WARNING! This will remove all local volumes not used by at least one container.";
    }
    if !a.force && !confirm(warning) {
        return Ok(());
    }
    let q = filters_json(&filters)?
        .map(|f| query(&[("filters", f)]))
        .unwrap_or_default();
    let v = ctx
        .client
        .post_json(&format!("/volumes/prune{q}"), None)
        .await?;
    let space = print_prune(&v, "VolumesDeleted", "Deleted Volumes:");
    println!("Total reclaimed space: {}", human_size(space as f64));
    Ok(())
}

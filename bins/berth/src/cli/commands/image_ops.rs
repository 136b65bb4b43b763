//! Image verbs besides ls and pull: push, tag, rmi, save, load, import, history, image prune.

use super::super::client::{empty, enc, next_chunk, query, reader_body, Body, JsonStream};
use super::super::format::{
    ago, created_at, ellipsis, human_size, human_size_prec, row, short_id, Formatter,
};
use super::super::{config, progress, Ctx};
use super::fail_with;
use super::images::{qualified, split_reference};
use super::ps::filters_json;
use anyhow::{bail, Context, Result};
use hyper::Method;
use serde_json::{json, Value};
use std::io::{IsTerminal, Write};

#[derive(clap::Args, Debug)]
pub struct PushArgs {
    /// Push all tags of an image to the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Push a platform-specific manifest as a single-platform image to the registry
    #[arg(long)]
    pub platform: Option<String>,
    /// NAME[:TAG]
    pub name: String,
}

#[derive(clap::Args, Debug)]
pub struct TagArgs {
    /// SOURCE_IMAGE[:TAG]
    pub source: String,
    /// TARGET_IMAGE[:TAG]
    pub target: String,
}

#[derive(clap::Args, Debug)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Do not delete untagged parents
    #[arg(long = "no-prune")]
    pub no_prune: bool,
    /// IMAGE...
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Save only the given platform variant
    #[arg(long)]
    pub platform: Option<String>,
    /// IMAGE...
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short = 'i', long)]
    pub input: Option<String>,
    /// Suppress the load output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Load only the given platform variant
    #[arg(long)]
    pub platform: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change")]
    pub change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// file|URL|-
    pub source: String,
    /// [REPOSITORY[:TAG]]
    pub reference: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set)]
    pub human: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// IMAGE
    pub image: String,
}

#[derive(clap::Args, Debug)]
pub struct ImagePruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long)]
    pub filter: Vec<String>,
}

fn stdout_tty() -> bool {
    std::io::stdout().is_terminal()
}

pub async fn push(ctx: &Ctx, a: PushArgs) -> Result<()> {
    let (name, tag) = split_reference(&a.name);
    let tagged = a.name.rsplit('/').next().unwrap_or("").contains(':');
    let mut q = Vec::new();
    if !a.all_tags {
        if !tagged && !a.quiet {
            println!("Using default tag: latest");
        }
        q.push(("tag", tag));
    }
    if let Some(p) = &a.platform {
        q.push(("platform", json!({"os": p.split('/').next().unwrap_or(""), "architecture": p.split('/').nth(1).unwrap_or("")}).to_string()));
    }
    let auth = config::registry_auth_header(&ctx.config_dir, &name);
    let resp = ctx
        .client
        .request(
            Method::POST,
            &format!("/images/{}/push{}", name, query(&q)),
            empty(),
            &[("x-registry-auth", auth)],
        )
        .await?;
    let mut s = JsonStream::new(resp);
    progress::display(&mut s, &mut std::io::stdout(), stdout_tty(), a.quiet).await?;
    if a.quiet {
        println!("{}", qualified(&a.name));
    }
    Ok(())
}

pub async fn tag(ctx: &Ctx, a: TagArgs) -> Result<()> {
    let (repo, tag) = split_reference(&a.target);
    if tag.starts_with("sha256:") {
        bail!("refusing to create a tag with a digest reference");
    }
    ctx.client
        .post_json(
            &format!(
                "/images/{}/tag{}",
                a.source,
                query(&[("repo", repo), ("tag", tag)])
            ),
            None,
        )
        .await?;
    Ok(())
}

pub async fn rmi(ctx: &Ctx, a: RmiArgs) -> Result<()> {
    let mut q = Vec::new();
    if a.force {
        q.push(("force", "1".to_string()));
    }
    if a.no_prune {
        q.push(("noprune", "1".to_string()));
    }
    let q = query(&q);
    let mut errors = Vec::new();
    for img in &a.images {
        match ctx.client.delete(&format!("/images/{img}{q}")).await {
            Ok(v) => {
                for item in v.as_array().into_iter().flatten() {
                    if let Some(u) = item["Untagged"].as_str() {
                        println!("Untagged: {u}");
                    }
                    if let Some(d) = item["Deleted"].as_str() {
                        println!("Deleted: {d}");
                    }
                }
            }
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    fail_with(errors)
}

pub async fn save(ctx: &Ctx, a: SaveArgs) -> Result<()> {
    if a.output.is_none() && stdout_tty() {
        bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    let mut q: Vec<(&str, String)> = a.images.iter().map(|i| ("names", i.clone())).collect();
    if let Some(p) = &a.platform {
        q.push(("platform", p.clone()));
    }
    let resp = ctx
        .client
        .request(
            Method::GET,
            &format!("/images/get{}", query(&q)),
            empty(),
            &[],
        )
        .await?;
    let mut body = resp.into_body();
    match &a.output {
        Some(path) => {
            // Written beside the target and renamed, so a failed save leaves no partial file.
            let tmp = format!("{path}.berth-save-{}", std::process::id());
            let result = async {
                let mut f = std::fs::File::create(&tmp)
                    .with_context(|| format!("failed to save image: unable to create {path}"))?;
                while let Some(chunk) = next_chunk(&mut body).await? {
                    f.write_all(&chunk)?;
                }
                f.sync_all()?;
                std::fs::rename(&tmp, path)?;
                Ok::<(), anyhow::Error>(())
            }
            .await;
            if result.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            result
        }
        None => {
            let mut out = std::io::stdout().lock();
            while let Some(chunk) = next_chunk(&mut body).await? {
                out.write_all(&chunk)?;
            }
            out.flush()?;
            Ok(())
        }
    }
}

pub async fn load(ctx: &Ctx, a: LoadArgs) -> Result<()> {
    let body = match &a.input {
        Some(p) => reader_body(
            tokio::fs::File::open(p)
                .await
                .with_context(|| format!("open {p}"))?,
        ),
        None => {
            if std::io::stdin().is_terminal() {
                bail!("requested load from stdin, but stdin is empty");
            }
            reader_body(tokio::io::stdin())
        }
    };
    let mut q = Vec::new();
    if a.quiet || !stdout_tty() {
        q.push(("quiet", "1".to_string()));
    }
    if let Some(p) = &a.platform {
        q.push(("platform", p.clone()));
    }
    send_tar(ctx, &format!("/images/load{}", query(&q)), body).await
}

pub async fn import(ctx: &Ctx, a: ImportArgs) -> Result<()> {
    let mut q = Vec::new();
    let body = if a.source == "-" {
        q.push(("fromSrc", "-".to_string()));
        reader_body(tokio::io::stdin())
    } else if a.source.starts_with("http://") || a.source.starts_with("https://") {
        q.push(("fromSrc", a.source.clone()));
        empty()
    } else {
        q.push(("fromSrc", "-".to_string()));
        reader_body(
            tokio::fs::File::open(&a.source)
                .await
                .with_context(|| format!("open {}", a.source))?,
        )
    };
    if let Some(r) = &a.reference {
        let (repo, tag) = split_reference(r);
        q.push(("repo", repo));
        q.push(("tag", tag));
    }
    if let Some(m) = &a.message {
        q.push(("message", m.clone()));
    }
    for c in &a.change {
        q.push(("changes", c.clone()));
    }
    if let Some(p) = &a.platform {
        q.push(("platform", p.clone()));
    }
    send_tar(ctx, &format!("/images/create{}", query(&q)), body).await
}

/// POSTs a tar stream (load, import) and shows the daemon's JSON progress as docker does.
async fn send_tar(ctx: &Ctx, path: &str, body: Body) -> Result<()> {
    let resp = ctx
        .client
        .request(
            Method::POST,
            path,
            body,
            &[("content-type", "application/x-tar".into())],
        )
        .await?;
    let mut s = JsonStream::new(resp);
    progress::display(&mut s, &mut std::io::stdout(), stdout_tty(), false).await?;
    Ok(())
}

fn history_header(f: &str) -> String {
    match f {
        "ID" => "IMAGE".into(),
        f => super::super::format::header(f),
    }
}

pub async fn history(ctx: &Ctx, a: HistoryArgs) -> Result<()> {
    let v = ctx
        .client
        .get_json(&format!("/images/{}/history", enc(&a.image)))
        .await?;
    let trunc = !a.no_trunc;
    let rows: Vec<Value> = v
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| {
            let id = h["Id"].as_str().unwrap_or("<missing>");
            let id = if id == "<missing>" || !trunc {
                id.to_string()
            } else {
                short_id(id)
            };
            let created = h["Created"].as_i64().unwrap_or(0);
            let by = h["CreatedBy"].as_str().unwrap_or("").replace('\t', " ");
            let by = if trunc { ellipsis(&by, 45) } else { by };
            let size = h["Size"].as_f64().unwrap_or(0.0);
            row(vec![
                ("ID", json!(id)),
                (
                    "CreatedSince",
                    json!(if a.human {
                        ago(created)
                    } else {
                        created_at(created)
                    }),
                ),
                ("CreatedAt", json!(created_at(created))),
                ("CreatedBy", json!(by)),
                (
                    "Size",
                    json!(if a.human {
                        human_size_prec(size, 3)
                    } else {
                        (size as i64).to_string()
                    }),
                ),
                ("Comment", json!(h["Comment"].as_str().unwrap_or(""))),
            ])
        })
        .collect();
    let user = if a.quiet && a.format.is_none() {
        Some("{{.ID}}")
    } else {
        a.format.as_deref()
    };
    let f = Formatter::new(
        user,
        "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}",
        history_header,
    )?;
    print!("{}", f.render(&rows)?);
    Ok(())
}

pub async fn prune(ctx: &Ctx, a: ImagePruneArgs) -> Result<()> {
    let warning = if a.all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !a.force && !super::lifecycle::confirm(warning) {
        return Ok(());
    }
    let mut filters = a.filter.clone();
    filters.push(format!("dangling={}", !a.all));
    let q = filters_json(&filters)?
        .map(|f| query(&[("filters", f)]))
        .unwrap_or_default();
    let v = ctx
        .client
        .post_json(&format!("/images/prune{q}"), None)
        .await?;
    print_images_deleted(&v);
    println!(
        "Total reclaimed space: {}",
        human_size(v["SpaceReclaimed"].as_f64().unwrap_or(0.0))
    );
    Ok(())
}

/// The "Deleted Images:" part of docker's image and system prune reports: one line per tag
/// removed and per image deleted, lower-case unlike rmi's.
pub fn print_images_deleted(v: &Value) {
    let items = v["ImagesDeleted"].as_array().cloned().unwrap_or_default();
    if !items.is_empty() {
        println!("Deleted Images:");
        for i in items {
            if let Some(u) = i["Untagged"].as_str() {
                println!("untagged: {u}");
            }
            if let Some(d) = i["Deleted"].as_str() {
                println!("deleted: {d}");
            }
        }
        println!();
    }
}

//! `ps` / `container ls`: /containers/json shown with docker's columns, `-q`, `--format`,
//! `--filter`, `-n`/`-l`, `-s` and `--no-trunc`.

use super::super::client::query;
use super::super::format::{
    ago, created_at, ellipsis, go_quote, header, human_size_prec, row, short_id, Formatter,
};
use super::super::Ctx;
use anyhow::{bail, Result};
use serde_json::{json, Map, Value};

#[derive(clap::Args, Debug)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only display container IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last", default_value_t = -1, allow_hyphen_values = true)]
    pub last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', 'TEMPLATE')
    #[arg(long)]
    pub format: Option<String>,
    /// Display total file sizes
    #[arg(short = 's', long)]
    pub size: bool,
}

/// `-f key=value` flags as the API's filters JSON: {"key": ["value", ...]}.
pub fn filters_json(items: &[String]) -> Result<Option<String>> {
    if items.is_empty() {
        return Ok(None);
    }
    let mut m: Map<String, Value> = Map::new();
    for f in items {
        let Some((k, v)) = f.split_once('=') else {
            bail!("bad format of filter (expected name=value)");
        };
        let e = m
            .entry(k.trim().to_lowercase())
            .or_insert_with(|| json!([]));
        if let Value::Array(a) = e {
            a.push(json!(v.trim()));
        }
    }
    Ok(Some(Value::Object(m).to_string()))
}

/// A container of the list as docker's formatter context (all fields strings).
fn container_row(c: &Value, trunc: bool) -> Value {
    let id = c["Id"].as_str().unwrap_or("");
    let names: Vec<String> = c["Names"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|n| n.trim_start_matches('/').to_string())
        // Legacy link names hold another slash; docker hides them unless --no-trunc.
        .filter(|n| !trunc || !n.contains('/'))
        .collect();
    let mut command = c["Command"].as_str().unwrap_or("").to_string();
    if trunc {
        command = ellipsis(&command, 20);
    }
    let image = c["Image"].as_str().unwrap_or("");
    let image = if trunc && image.starts_with("sha256:") {
        short_id(image)
    } else {
        image.to_string()
    };
    let created = c["Created"].as_i64().unwrap_or(0);
    let srw = human_size_prec(c["SizeRw"].as_f64().unwrap_or(0.0), 3);
    let root = c["SizeRootFs"].as_f64().unwrap_or(0.0);
    let size = if root > 0.0 {
        format!("{srw} (virtual {})", human_size_prec(root, 3))
    } else {
        srw
    };
    let mounts: Vec<String> = c["Mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let name = m["Name"].as_str().filter(|n| !n.is_empty());
            let n = name.unwrap_or_else(|| m["Source"].as_str().unwrap_or(""));
            if trunc {
                ellipsis(n, 15)
            } else {
                n.to_string()
            }
        })
        .collect();
    let local_volumes = c["Mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["Driver"].as_str() == Some("local"))
        .count();
    let mut networks: Vec<String> = c["NetworkSettings"]["Networks"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    networks.sort();
    row(vec![
        ("Command", json!(go_quote(&command))),
        ("CreatedAt", json!(created_at(created))),
        (
            "ID",
            json!(if trunc {
                id.chars().take(12).collect::<String>()
            } else {
                id.to_string()
            }),
        ),
        ("Image", json!(image)),
        (
            "Labels",
            json!(super::super::format::joined_labels(&c["Labels"])),
        ),
        ("LocalVolumes", json!(local_volumes.to_string())),
        ("Mounts", json!(mounts.join(","))),
        ("Names", json!(names.join(","))),
        ("Networks", json!(networks.join(","))),
        ("Ports", json!(super::port::displayable_ports(&c["Ports"]))),
        ("RunningFor", json!(ago(created))),
        ("Size", json!(size)),
        ("State", json!(c["State"].as_str().unwrap_or(""))),
        ("Status", json!(c["Status"].as_str().unwrap_or(""))),
    ])
}

pub async fn run(ctx: &Ctx, a: PsArgs) -> Result<()> {
    let mut q = Vec::new();
    let limit = if a.latest { 1 } else { a.last };
    if a.all || limit > 0 {
        q.push(("all", "1".to_string()));
    }
    if limit > 0 {
        q.push(("limit", limit.to_string()));
    }
    let want_size = a.size
        || a.format
            .as_deref()
            .is_some_and(|f| f.contains(".Size") || f == "json" || f.contains("json ."));
    if want_size {
        q.push(("size", "1".to_string()));
    }
    if let Some(f) = filters_json(&a.filter)? {
        q.push(("filters", f));
    }
    let list = ctx
        .client
        .get_json(&format!("/containers/json{}", query(&q)))
        .await?;
    let rows: Vec<Value> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| container_row(c, !a.no_trunc))
        .collect();
    let user = super::super::config::chosen_format(
        &ctx.config_dir,
        "psFormat",
        a.quiet,
        a.format.as_deref(),
    );
    let default = if a.size {
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}\t{{.Size}}"
    } else {
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
    };
    let f = Formatter::new(user.as_deref(), default, header)?;
    print!("{}", f.render(&rows)?);
    Ok(())
}

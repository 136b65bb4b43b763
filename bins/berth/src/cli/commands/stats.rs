//! `stats`: docker's resource table from /containers/{id}/stats (CPU % from the delta between
//! two samples, memory without page cache), once with --no-stream or refreshed live.

use super::super::client::{enc, query, JsonStream};
use super::super::format::{bytes_size, header, human_size_prec, row, Formatter};
use super::super::Ctx;
use anyhow::Result;
use hyper::Method;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};

#[derive(clap::Args, Debug)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// [CONTAINER...]
    pub containers: Vec<String>,
}

fn stats_header(f: &str) -> String {
    match f {
        "ID" => "CONTAINER ID".into(),
        "Name" => "NAME".into(),
        f => header(f),
    }
}

/// One sample as docker's stats formatter context.
pub fn stats_row(s: &Value, trunc: bool) -> Value {
    let num = |v: &Value| v.as_f64().unwrap_or(0.0);
    let cpu = &s["cpu_stats"];
    let pre = &s["precpu_stats"];
    let cpu_delta = num(&cpu["cpu_usage"]["total_usage"]) - num(&pre["cpu_usage"]["total_usage"]);
    let sys_delta = num(&cpu["system_cpu_usage"]) - num(&pre["system_cpu_usage"]);
    let mut online = num(&cpu["online_cpus"]);
    if online == 0.0 {
        online = cpu["cpu_usage"]["percpu_usage"]
            .as_array()
            .map(|a| a.len() as f64)
            .unwrap_or(0.0);
    }
    let cpu_pct = if sys_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / sys_delta * online * 100.0
    } else {
        0.0
    };
    let mem = &s["memory_stats"];
    let usage = num(&mem["usage"]);
    // Page cache is not the container's working set: cgroup v1 total_inactive_file, v2 inactive_file.
    let cache = ["total_inactive_file", "inactive_file"]
        .iter()
        .map(|k| num(&mem["stats"][k]))
        .find(|v| *v > 0.0 && *v < usage)
        .unwrap_or(0.0);
    let used = usage - cache;
    let limit = num(&mem["limit"]);
    let mem_pct = if limit > 0.0 {
        used / limit * 100.0
    } else {
        0.0
    };
    let (mut rx, mut tx) = (0.0, 0.0);
    for n in s["networks"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
    {
        rx += num(&n["rx_bytes"]);
        tx += num(&n["tx_bytes"]);
    }
    let (mut rd, mut wr) = (0.0, 0.0);
    for e in s["blkio_stats"]["io_service_bytes_recursive"]
        .as_array()
        .into_iter()
        .flatten()
    {
        match e["op"].as_str().map(str::to_lowercase).as_deref() {
            Some("read") => rd += num(&e["value"]),
            Some("write") => wr += num(&e["value"]),
            _ => {}
        }
    }
    let id = s["id"].as_str().unwrap_or("");
    let name = s["name"].as_str().unwrap_or("").trim_start_matches('/');
    row(vec![
        (
            "BlockIO",
            json!(format!(
                "{} / {}",
                human_size_prec(rd, 3),
                human_size_prec(wr, 3)
            )),
        ),
        ("CPUPerc", json!(format!("{cpu_pct:.2}%"))),
        ("Container", json!(id)),
        (
            "ID",
            json!(if trunc {
                id.chars().take(12).collect::<String>()
            } else {
                id.to_string()
            }),
        ),
        ("MemPerc", json!(format!("{mem_pct:.2}%"))),
        (
            "MemUsage",
            json!(format!("{} / {}", bytes_size(used), bytes_size(limit))),
        ),
        ("Name", json!(name)),
        (
            "NetIO",
            json!(format!(
                "{} / {}",
                human_size_prec(rx, 3),
                human_size_prec(tx, 3)
            )),
        ),
        (
            "PIDs",
            json!(s["pids_stats"]["current"].as_u64().unwrap_or(0).to_string()),
        ),
    ])
}

pub async fn run(ctx: &Ctx, a: StatsArgs) -> Result<()> {
    let names: Vec<String> = if a.containers.is_empty() {
        let q = if a.all { "?all=1" } else { "" };
        let list = ctx.client.get_json(&format!("/containers/json{q}")).await?;
        list.as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["Id"].as_str().map(String::from))
            .collect()
    } else {
        a.containers.clone()
    };
    let f = Formatter::new(
        a.format.as_deref(),
        "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}",
        stats_header,
    )?;
    let trunc = !a.no_trunc;
    if a.no_stream {
        let mut rows = Vec::new();
        for n in &names {
            let v = ctx
                .client
                .get_json(&format!(
                    "/containers/{}/stats{}",
                    enc(n),
                    query(&[("stream", "0".into())])
                ))
                .await?;
            rows.push(stats_row(&v, trunc));
        }
        print!("{}", f.render(&rows)?);
        return Ok(());
    }
    let latest: Arc<Mutex<BTreeMap<usize, Value>>> = Arc::default();
    for (i, n) in names.iter().enumerate() {
        let resp = ctx
            .client
            .request(
                Method::GET,
                &format!("/containers/{}/stats?stream=1", enc(n)),
                super::super::client::empty(),
                &[],
            )
            .await?;
        let latest = latest.clone();
        tokio::spawn(async move {
            let mut s = JsonStream::new(resp);
            while let Ok(Some(v)) = s.next().await {
                if let Ok(mut m) = latest.lock() {
                    m.insert(i, stats_row(&v, trunc));
                }
            }
            if let Ok(mut m) = latest.lock() {
                m.remove(&i);
            }
        });
    }
    let tty = std::io::stdout().is_terminal();
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
        let rows: Vec<Value> = match latest.lock() {
            Ok(m) => m.values().cloned().collect(),
            Err(_) => break,
        };
        let text = f.render(&rows)?;
        let mut out = std::io::stdout().lock();
        if tty {
            // Home and clear, as docker redraws its table.
            write!(out, "\x1b[H\x1b[2J")?;
        }
        write!(out, "{text}")?;
        out.flush()?;
    }
    Ok(())
}

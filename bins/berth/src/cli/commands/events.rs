//! `events`: the daemon's event stream, as docker prints it or through `--format`.

use super::super::client::{empty, query, JsonStream};
use super::super::format::Template;
use super::super::Ctx;
use super::logs::time_arg;
use super::ps::filters_json;
use anyhow::Result;
use hyper::Method;
use serde_json::Value;
use std::io::Write;

#[derive(clap::Args, Debug)]
pub struct EventsArgs {
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Show all events created since timestamp
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    pub until: Option<String>,
}

/// docker's line: `TIME TYPE ACTION ID (k=v, ...)` with the time in RFC 3339, nanoseconds.
pub fn event_line(e: &Value) -> String {
    let mut out = String::new();
    if let Some(n) = e["timeNano"].as_u64().filter(|n| *n > 0) {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(n);
        out.push_str(&format!("{} ", humantime::format_rfc3339_nanos(t)));
    }
    out.push_str(&format!(
        "{} {} {}",
        e["Type"].as_str().unwrap_or(""),
        e["Action"].as_str().unwrap_or(""),
        e["Actor"]["ID"].as_str().unwrap_or("")
    ));
    if let Some(attrs) = e["Actor"]["Attributes"]
        .as_object()
        .filter(|a| !a.is_empty())
    {
        let mut kv: Vec<String> = attrs
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
            .collect();
        kv.sort();
        out.push_str(&format!(" ({})", kv.join(", ")));
    }
    out
}

pub async fn run(ctx: &Ctx, a: EventsArgs) -> Result<()> {
    let mut q = Vec::new();
    if let Some(s) = &a.since {
        q.push(("since", time_arg(s)));
    }
    if let Some(u) = &a.until {
        q.push(("until", time_arg(u)));
    }
    if let Some(f) = filters_json(&a.filter)? {
        q.push(("filters", f));
    }
    let template = match a.format.as_deref() {
        None | Some("") => None,
        Some("json") => Some(Template::parse("{{json .}}")?),
        Some(f) => Some(Template::parse(f)?),
    };
    let resp = ctx
        .client
        .request(Method::GET, &format!("/events{}", query(&q)), empty(), &[])
        .await?;
    let mut s = JsonStream::new(resp);
    while let Some(e) = s.next().await? {
        let line = match &template {
            Some(t) => t.render(&e)?,
            None => event_line(&e),
        };
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()?;
    }
    Ok(())
}

//! `logs`: the container's log stream, demultiplexed unless it has a TTY.

use super::super::client::{enc, next_chunk, query};
use super::super::stream::OutputWriter;
use super::super::Ctx;
use anyhow::Result;
use hyper::Method;

#[derive(clap::Args, Debug)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m")
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m")
    #[arg(long)]
    pub until: Option<String>,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Show extra details provided to logs
    #[arg(long)]
    pub details: bool,
    /// CONTAINER
    pub container: String,
}

/// docker's time arguments: RFC 3339, unix seconds, or a duration before now ("42m").
pub fn time_arg(s: &str) -> String {
    if let Ok(d) = humantime::parse_duration(s) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let t = now.saturating_sub(d);
        return format!("{}.{:09}", t.as_secs(), t.subsec_nanos());
    }
    if let Ok(t) = humantime::parse_rfc3339_weak(s) {
        if let Ok(d) = t.duration_since(std::time::UNIX_EPOCH) {
            return format!("{}.{:09}", d.as_secs(), d.subsec_nanos());
        }
    }
    s.to_string()
}

pub async fn run(ctx: &Ctx, a: LogsArgs) -> Result<()> {
    let info = ctx
        .client
        .get_json(&format!("/containers/{}/json", enc(&a.container)))
        .await?;
    let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
    let mut q = vec![
        ("stdout", "1".to_string()),
        ("stderr", "1".to_string()),
        ("tail", a.tail.clone()),
    ];
    if a.follow {
        q.push(("follow", "1".into()));
    }
    if a.timestamps {
        q.push(("timestamps", "1".into()));
    }
    if a.details {
        q.push(("details", "1".into()));
    }
    if let Some(s) = &a.since {
        q.push(("since", time_arg(s)));
    }
    if let Some(u) = &a.until {
        q.push(("until", time_arg(u)));
    }
    let resp = ctx
        .client
        .request(
            Method::GET,
            &format!("/containers/{}/logs{}", enc(&a.container), query(&q)),
            super::super::client::empty(),
            &[],
        )
        .await?;
    let mut body = resp.into_body();
    let mut out = OutputWriter::new(tty);
    while let Some(chunk) = next_chunk(&mut body).await? {
        out.write(&chunk)?;
    }
    Ok(())
}

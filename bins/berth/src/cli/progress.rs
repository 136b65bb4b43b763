//! The JSON message stream of pull, push, load and import, shown as docker's jsonmessage does:
//! on a terminal one line per layer id, rewritten in place (cursor up, clear line) with a
//! progress bar; elsewhere only the lines without a byte count, so logs and pipes stay clean.

use super::client::JsonStream;
use super::format::human_size;
use anyhow::{anyhow, Result};
use serde_json::Value;
use std::collections::HashMap;
use std::io::Write;

/// docker's `JSONProgress.String()`: `[=====>    ]  1.2MB/3.4MB` from progressDetail.
fn progress_string(detail: &Value, width: u16) -> String {
    let current = detail.get("current").and_then(Value::as_i64).unwrap_or(0);
    let total = detail.get("total").and_then(Value::as_i64).unwrap_or(0);
    let units = detail.get("units").and_then(Value::as_str).unwrap_or("");
    if current <= 0 && total <= 0 {
        return String::new();
    }
    if total <= 0 {
        return if units.is_empty() {
            format!("{:>8}", human_size(current as f64))
        } else {
            format!("{current} {units}")
        };
    }
    let pct = ((current as f64 / total as f64 * 100.0) as i64 / 2).clamp(0, 50) as usize;
    let bar = if width > 110 {
        format!("[{}>{}] ", "=".repeat(pct), " ".repeat(50 - pct))
    } else {
        String::new()
    };
    let numbers = if !units.is_empty() {
        format!("{current}/{total} {units}")
    } else if current > total {
        format!("{:>8}", human_size(current as f64))
    } else {
        format!(
            "{:>8}/{}",
            human_size(current as f64),
            human_size(total as f64)
        )
    };
    bar + &numbers
}

/// Shows the stream on `out`; returns the "aux" payloads (push digests, load ids). A message
/// with "error" ends the display with that error (401 as docker words it).
pub async fn display(
    stream: &mut JsonStream,
    out: &mut dyn Write,
    tty: bool,
    quiet: bool,
) -> Result<Vec<Value>> {
    let width = super::stream::terminal_size().map(|(_, w)| w).unwrap_or(80);
    let mut ids: HashMap<String, usize> = HashMap::new();
    let mut aux = Vec::new();
    while let Some(m) = stream.next().await? {
        if let Some(a) = m.get("aux") {
            aux.push(a.clone());
            continue;
        }
        if let Some(err) = m.get("errorDetail").or_else(|| m.get("error")) {
            let code = err.get("code").and_then(Value::as_i64);
            let msg = err
                .get("message")
                .and_then(Value::as_str)
                .or_else(|| err.as_str())
                .unwrap_or("unknown error")
                .to_string();
            out.flush()?;
            return Err(if code == Some(401) {
                anyhow!("authentication is required")
            } else {
                anyhow!(msg)
            });
        }
        if quiet {
            continue;
        }
        let id = m.get("id").and_then(Value::as_str).unwrap_or("");
        let status = m.get("status").and_then(Value::as_str).unwrap_or("");
        let stream_text = m.get("stream").and_then(Value::as_str).unwrap_or("");
        let detail = m.get("progressDetail");
        let prog_msg = m.get("progress").and_then(Value::as_str).unwrap_or("");
        let progress = detail.map(|d| progress_string(d, width));
        let mut diff = 0;
        if !id.is_empty() && (detail.is_some() || !prog_msg.is_empty()) {
            let n = ids.len();
            let line = *ids.entry(id.to_string()).or_insert_with(|| {
                if tty {
                    let _ = writeln!(out);
                }
                n
            });
            diff = ids.len() - line;
            if tty && diff > 0 {
                write!(out, "\x1b[{diff}A")?;
            }
        } else {
            ids.clear();
        }
        let mut endl = "";
        if tty && stream_text.is_empty() && detail.is_some() {
            write!(out, "\x1b[2K\r")?;
            endl = "\r";
        } else if progress.as_deref().is_some_and(|p| !p.is_empty()) {
            // No byte counts outside a terminal.
            continue;
        }
        if !id.is_empty() {
            write!(out, "{id}: ")?;
        }
        if let (Some(p), true) = (&progress, tty) {
            write!(out, "{status} {p}{endl}")?;
        } else if !stream_text.is_empty() {
            write!(out, "{stream_text}{endl}")?;
        } else {
            writeln!(out, "{status}{endl}")?;
        }
        if !id.is_empty() && tty && diff > 0 {
            write!(out, "\x1b[{diff}B")?;
        }
        out.flush()?;
    }
    Ok(aux)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn progress_bar_as_docker() {
        assert_eq!(progress_string(&json!({}), 120), "");
        assert_eq!(
            progress_string(&json!({"current": 500000, "total": 1000000}), 80),
            "   500kB/1MB"
        );
        let bar = progress_string(&json!({"current": 1, "total": 2}), 120);
        assert!(bar.starts_with(&format!("[{}>", "=".repeat(25))), "{bar}");
    }
}

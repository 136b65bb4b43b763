//! Docker's JSON progress messages (`jsonmessage.JSONMessage`), as `docker pull`, `push`,
//! `load` and `import` stream them: one JSON object per line.

use serde_json::{json, Value};

/// Where a long operation sends its progress messages.
pub type ProgressTx = tokio::sync::mpsc::Sender<Value>;

/// `{"status": ..., "id": ...}`; `id` is left out when None.
pub fn status(id: Option<&str>, status: &str) -> Value {
    match id {
        Some(id) => json!({"status": status, "progressDetail": {}, "id": id}),
        None => json!({ "status": status }),
    }
}

/// `{"status": "Downloading", "progressDetail": {...}, "progress": "[==>   ] 1MB/2MB", "id"}`.
pub fn bar(id: &str, what: &str, current: u64, total: u64) -> Value {
    json!({
        "status": what,
        "progressDetail": {"current": current, "total": total},
        "progress": progress_bar(current, total),
        "id": id,
    })
}

/// An error in the middle of a stream (the response status is already sent).
pub fn error(message: &str) -> Value {
    json!({"errorDetail": {"message": message}, "error": message})
}

/// `{"stream": text}`, the shape of `docker load`'s answer.
pub fn stream(text: &str) -> Value {
    json!({ "stream": text })
}

/// Docker's progress bar: 50 columns of `=` up to `>`, then sizes (`JSONProgress.String`).
pub fn progress_bar(current: u64, total: u64) -> String {
    if total == 0 {
        return format!("{:>8}", human_size(current));
    }
    let width = 50u64;
    let done = (current.min(total) * width / total) as usize;
    let arrow = if done < width as usize { ">" } else { "" };
    format!(
        "[{}{}{}] {:>8}/{}",
        "=".repeat(done),
        arrow,
        " ".repeat((width as usize).saturating_sub(done + arrow.len())),
        human_size(current),
        human_size(total)
    )
}

/// Decimal sizes with four significant digits, like go-units' `HumanSize` (`1.234MB`).
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    let digits = if v >= 100.0 {
        1
    } else if v >= 10.0 {
        2
    } else {
        3
    };
    let s = format!("{v:.digits$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    format!("{s}{}", UNITS[i])
}

/// The 12-hex short form Docker shows for a layer digest.
pub fn short_id(digest: &str) -> String {
    let hex = digest.split_once(':').map_or(digest, |(_, h)| h);
    hex.chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_shapes() {
        assert_eq!(human_size(1_234_567), "1.235MB");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(2_000_000), "2MB");
        let b = progress_bar(50, 100);
        assert!(b.starts_with("[=========================>"), "{b}");
        assert!(b.ends_with("50B/100B"), "{b}");
        assert_eq!(progress_bar(100, 100).matches('=').count(), 50);
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789ab");
        assert_eq!(error("x")["errorDetail"]["message"], "x");
    }
}

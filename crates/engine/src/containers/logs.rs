//! Log drivers and reading logs back.

use std::collections::BTreeMap;

/// A container's log configuration, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct LogOptions {
    pub driver: String,
    pub max_size: u64,
    pub max_files: u32,
}

impl LogOptions {
    /// Parses Docker's log-opts for `driver` (max-size with k/m/g units, max-file).
    pub fn parse(driver: &str, opts: &BTreeMap<String, String>) -> Result<LogOptions, String> {
        let mut o = LogOptions {
            driver: driver.to_string(),
            max_size: if driver == "local" { 20 << 20 } else { 0 },
            max_files: if driver == "local" { 5 } else { 1 },
        };
        for (k, v) in opts {
            match k.as_str() {
                "max-size" => {
                    o.max_size = parse_size(v)
                        .ok_or_else(|| format!("max-size {v:?}: expected a size like 10m"))?
                }
                "max-file" => {
                    o.max_files = v
                        .parse::<u32>()
                        .ok()
                        .filter(|n| *n >= 1)
                        .ok_or_else(|| format!("max-file {v:?}: expected a positive integer"))?
                }
                "compress" | "mode" | "max-buffer-size" | "labels" | "env" | "tag" => {}
                _ => return Err(format!("unknown log opt '{k}' for {driver} log driver")),
            }
        }
        Ok(o)
    }
}

/// `10m`, `1g`, `512k`, `100` (bytes).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let s = s.trim_end_matches('b');
    let (num, mult) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1u64 << 10),
        'm' => (&s[..s.len() - 1], 1 << 20),
        'g' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    let n: f64 = num.parse().ok()?;
    (n >= 0.0).then_some((n * mult as f64) as u64)
}

/// One log entry read back.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// 1 stdout, 2 stderr.
    pub stream: u8,
    /// RFC 3339 with nanoseconds.
    pub time: String,
    pub line: Vec<u8>,
}

/// What `logs` asks for.
#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    pub stdout: bool,
    pub stderr: bool,
    pub follow: bool,
    /// Unix seconds (fractional), entries at or after.
    pub since: Option<f64>,
    /// Unix seconds (fractional), entries before.
    pub until: Option<f64>,
    /// Last N entries (None: all).
    pub tail: Option<usize>,
}

/// The log files of a container, oldest first: FILE.N ... FILE.1, FILE.
pub fn log_files(path: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut rotated = Vec::new();
    for n in 1.. {
        let mut s = path.as_os_str().to_owned();
        s.push(format!(".{n}"));
        let p = std::path::PathBuf::from(s);
        if !p.exists() {
            break;
        }
        rotated.push(p);
    }
    rotated.reverse();
    rotated.push(path.to_path_buf());
    rotated
}

/// Decodes a json-file chunk: whole lines only; returns the entries and the bytes consumed.
pub fn decode_json_file(buf: &[u8]) -> (Vec<LogEntry>, usize) {
    #[derive(serde::Deserialize)]
    struct Line {
        log: String,
        stream: String,
        time: String,
    }
    let mut out = Vec::new();
    let mut used = 0;
    while let Some(nl) = buf[used..].iter().position(|b| *b == b'\n') {
        let line = &buf[used..used + nl];
        used += nl + 1;
        if let Ok(l) = serde_json::from_slice::<Line>(line) {
            out.push(LogEntry {
                stream: if l.stream == "stderr" { 2 } else { 1 },
                time: l.time,
                line: l.log.into_bytes(),
            });
        }
    }
    (out, used)
}

/// Decodes a `local` driver chunk: whole frames only; returns the entries and bytes consumed.
pub fn decode_local(buf: &[u8]) -> (Vec<LogEntry>, usize) {
    let mut out = Vec::new();
    let mut used = 0;
    while buf.len() - used >= 4 {
        let len =
            u32::from_be_bytes([buf[used], buf[used + 1], buf[used + 2], buf[used + 3]]) as usize;
        if buf.len() - used < 8 + len {
            break;
        }
        let msg = &buf[used + 4..used + 4 + len];
        used += 8 + len;
        if let Some(e) = decode_local_entry(msg) {
            out.push(e);
        }
    }
    (out, used)
}

fn decode_local_entry(mut m: &[u8]) -> Option<LogEntry> {
    fn varint(m: &mut &[u8]) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = m.split_first()?;
            *m = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    let mut e = LogEntry {
        stream: 1,
        time: String::new(),
        line: Vec::new(),
    };
    // The local format keeps a line without its newline; `partial` marks one that had none.
    let mut partial = false;
    while !m.is_empty() {
        let key = varint(&mut m)?;
        match (key >> 3, key & 7) {
            (1, 2) | (3, 2) => {
                let n = varint(&mut m)? as usize;
                if m.len() < n {
                    return None;
                }
                let (val, rest) = m.split_at(n);
                m = rest;
                if key >> 3 == 1 {
                    e.stream = if val == b"stderr" { 2 } else { 1 };
                } else {
                    e.line = val.to_vec();
                }
            }
            (2, 0) => {
                let nanos = varint(&mut m)?;
                let t = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(nanos);
                e.time = humantime::format_rfc3339_nanos(t).to_string();
            }
            (4, 0) => {
                partial = varint(&mut m)? != 0;
            }
            (_, 0) => {
                varint(&mut m)?;
            }
            (_, 2) => {
                let n = varint(&mut m)? as usize;
                if m.len() < n {
                    return None;
                }
                m = &m[n..];
            }
            _ => return None,
        }
    }
    if !partial {
        e.line.push(b'\n');
    }
    Some(e)
}

fn entry_seconds(e: &LogEntry) -> f64 {
    crate::util::parse_rfc3339(&e.time)
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl LogsOptions {
    fn keep(&self, e: &LogEntry) -> bool {
        if (e.stream == 1 && !self.stdout) || (e.stream == 2 && !self.stderr) {
            return false;
        }
        let t = entry_seconds(e);
        if self.since.is_some_and(|s| t < s) {
            return false;
        }
        if self.until.is_some_and(|u| t >= u) {
            return false;
        }
        true
    }
}

impl crate::Engine {
    /// The container's log entries as `docker logs` asks for them; with `follow`, entries keep
    /// coming until the container stops or the receiver is dropped.
    pub fn container_logs(
        &self,
        key: &str,
        opts: LogsOptions,
    ) -> crate::Result<(bool, tokio::sync::mpsc::Receiver<LogEntry>)> {
        let c = self.containers.find(key)?;
        let rec = c.record();
        let driver = super::inspect::log_driver(&rec);
        if driver == "none" {
            return Err(crate::Error::InvalidArgument(format!(
                "configured logging driver does not support reading (container {} uses \"none\")",
                rec.id
            )));
        }
        let local = driver == "local";
        let path = std::path::PathBuf::from(&rec.log_path);
        let tty = rec.config.tty.unwrap_or(false);
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        let mut exits = c.exits.subscribe();
        let c2 = c.clone();
        tokio::spawn(async move {
            let decode = if local {
                decode_local
            } else {
                decode_json_file
            };
            // Everything written so far, from the rotated files and the live one.
            let mut all = Vec::new();
            let mut live_pos = 0u64;
            let files = log_files(&path);
            for (i, f) in files.iter().enumerate() {
                if let Ok(bytes) = std::fs::read(f) {
                    let (entries, used) = decode(&bytes);
                    if i + 1 == files.len() {
                        live_pos = used as u64;
                    }
                    all.extend(entries.into_iter().filter(|e| opts.keep(e)));
                }
            }
            if let Some(n) = opts.tail {
                let skip = all.len().saturating_sub(n);
                all.drain(..skip);
            }
            for e in all {
                if tx.send(e).await.is_err() {
                    return;
                }
            }
            if !opts.follow {
                return;
            }
            let seen_exits = exits.borrow().count;
            let mut ino = std::fs::metadata(&path)
                .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
                .ok();
            loop {
                let running = c2.record().state.status.is_live();
                // Read what was appended (or the new file after a rotation).
                let meta = std::fs::metadata(&path).ok();
                let now_ino = meta.as_ref().map(std::os::unix::fs::MetadataExt::ino);
                if now_ino != ino || meta.as_ref().is_some_and(|m| m.len() < live_pos) {
                    ino = now_ino;
                    live_pos = 0;
                }
                if let Ok(mut f) = std::fs::File::open(&path) {
                    use std::io::{Read, Seek};
                    if f.seek(std::io::SeekFrom::Start(live_pos)).is_ok() {
                        let mut buf = Vec::new();
                        if f.read_to_end(&mut buf).is_ok() {
                            let (entries, used) = decode(&buf);
                            live_pos += used as u64;
                            for e in entries.into_iter().filter(|e| opts.keep(e)) {
                                if tx.send(e).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                }
                let stopped = !running || exits.borrow().count > seen_exits;
                if stopped {
                    return;
                }
                if opts.until.is_some_and(|u| {
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs_f64() >= u)
                        .unwrap_or(false)
                }) {
                    return;
                }
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_millis(100)) => {}
                    _ = exits.changed() => {}
                    _ = tx.closed() => return,
                }
            }
        });
        Ok((tty, rx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10m"), Some(10 << 20));
        assert_eq!(parse_size("1k"), Some(1024));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("x"), None);
        let mut o = BTreeMap::new();
        o.insert("max-size".to_string(), "1m".to_string());
        o.insert("max-file".to_string(), "3".to_string());
        let l = LogOptions::parse("json-file", &o).expect("valid");
        assert_eq!((l.max_size, l.max_files), (1 << 20, 3));
        o.insert("max-file".to_string(), "0".to_string());
        assert!(LogOptions::parse("json-file", &o).is_err());
        let mut o = BTreeMap::new();
        o.insert("bogus".to_string(), "1".to_string());
        assert!(LogOptions::parse("json-file", &o)
            .expect_err("unknown option")
            .contains("bogus"));
    }

    #[test]
    fn json_file_lines_decode_whole_only() {
        let buf = b"{\"log\":\"a\\n\",\"stream\":\"stdout\",\"time\":\"2026-01-01T00:00:00.5Z\"}\n{\"log\":\"b\\n\",\"stream\":\"stderr\",\"time\":\"2026-01-01T00:00:01Z\"}\n{\"log\":";
        let (e, used) = decode_json_file(buf);
        assert_eq!(e.len(), 2);
        assert_eq!(e[1].stream, 2);
        assert_eq!(e[0].line, b"a\n");
        assert!(used < buf.len());
        let o = LogsOptions {
            stdout: true,
            stderr: false,
            since: Some(1_767_225_600.0),
            ..Default::default()
        };
        assert!(o.keep(&e[0]) && !o.keep(&e[1]));
    }

    #[test]
    fn local_frames_decode() {
        // LogEntry{source:"stderr", time_nano:1, line:"hi"} framed (a whole line: the
        // newline is not stored).
        let mut msg = vec![0x0a, 6];
        msg.extend_from_slice(b"stderr");
        msg.extend_from_slice(&[0x10, 1, 0x1a, 2]);
        msg.extend_from_slice(b"hi");
        let mut buf = (msg.len() as u32).to_be_bytes().to_vec();
        buf.extend_from_slice(&msg);
        buf.extend_from_slice(&(msg.len() as u32).to_be_bytes());
        let (e, used) = decode_local(&buf);
        assert_eq!(used, buf.len());
        assert_eq!(e[0].stream, 2);
        assert_eq!(e[0].line, b"hi\n");
    }
}

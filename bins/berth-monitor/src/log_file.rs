//! The container's log file in one of Docker's two file formats, with Docker's size-based
//! rotation (`FILE` rotated into `FILE.1` .. `FILE.(N-1)`), so `docker logs`-style readers and
//! log shippers can read Berth's logs unchanged:
//! - json-file: one `{"log":...,"stream":...,"time":...}` object per line, the line with its
//!   `\n`;
//! - local: protobuf `LogEntry` records framed by their length before and after (see
//!   [`crate::local_format`]), the line without its `\n` and `partial` set when it had none.

use anyhow::{Context, Result};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Docker splits lines longer than this into several entries (its buffer size).
pub const MAX_ENTRY: usize = 16 * 1024;

/// The file formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    JsonFile,
    Local,
}

/// Writes log entries to a file, rotating it by size.
pub struct LogFile {
    format: Format,
    path: PathBuf,
    file: File,
    size: u64,
    /// `None`: never rotate.
    max_size: Option<u64>,
    /// Files kept in all, the live one included (Docker's `max-file`, at least 1).
    max_files: u32,
}

fn open_append(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .with_context(|| format!("opening log file {}", path.display()))
}

impl LogFile {
    /// Opens (appends to) `path`.
    pub fn open(
        path: &Path,
        format: Format,
        max_size: Option<u64>,
        max_files: u32,
    ) -> Result<LogFile> {
        let file = open_append(path)?;
        let size = file
            .metadata()
            .with_context(|| format!("stat of log file {}", path.display()))?
            .len();
        Ok(LogFile {
            format,
            path: path.to_path_buf(),
            file,
            size,
            max_size,
            max_files: max_files.max(1),
        })
    }

    /// Writes one entry: `bytes` is a line with its `\n`, or a partial line.
    pub fn write(&mut self, stream: &str, bytes: &[u8]) -> Result<()> {
        let entry = match self.format {
            Format::JsonFile => {
                let mut e = serde_json::to_vec(&serde_json::json!({
                    "log": String::from_utf8_lossy(bytes),
                    "stream": stream,
                    "time": crate::clock::now_rfc3339_nanos(),
                }))
                .context("encoding a log entry")?;
                e.push(b'\n');
                e
            }
            Format::Local => {
                let (line, partial) = match bytes.strip_suffix(b"\n") {
                    Some(l) => (l, false),
                    None => (bytes, true),
                };
                crate::local_format::record(stream, crate::clock::now_unix_nanos(), line, partial)
            }
        };
        if let Some(max) = self.max_size {
            if self.size > 0 && self.size + entry.len() as u64 > max {
                self.rotate()?;
            }
        }
        self.file
            .write_all(&entry)
            .with_context(|| format!("writing log file {}", self.path.display()))?;
        self.size += entry.len() as u64;
        Ok(())
    }

    fn numbered(&self, n: u32) -> PathBuf {
        let mut s = self.path.clone().into_os_string();
        s.push(format!(".{n}"));
        PathBuf::from(s)
    }

    /// As Docker: with one file the log is truncated; otherwise FILE.i -> FILE.(i+1), the oldest
    /// falls off, FILE -> FILE.1 and a fresh FILE is started.
    fn rotate(&mut self) -> Result<()> {
        if self.max_files == 1 {
            self.file
                .set_len(0)
                .with_context(|| format!("truncating log file {}", self.path.display()))?;
        } else {
            for i in (1..self.max_files - 1).rev() {
                let from = self.numbered(i);
                if from.exists() {
                    std::fs::rename(&from, self.numbered(i + 1))
                        .with_context(|| format!("rotating {}", from.display()))?;
                }
            }
            std::fs::rename(&self.path, self.numbered(1))
                .with_context(|| format!("rotating {}", self.path.display()))?;
            self.file = open_append(&self.path)?;
        }
        self.size = 0;
        Ok(())
    }
}

/// Splits one stream's bytes into log entries: whole lines, lines cut at [`MAX_ENTRY`], and on
/// EOF the partial last line.
pub struct LineSplitter {
    stream: &'static str,
    pending: Vec<u8>,
}

impl LineSplitter {
    pub fn new(stream: &'static str) -> LineSplitter {
        LineSplitter {
            stream,
            pending: Vec::new(),
        }
    }

    /// Feeds bytes read from the stream, writing every complete entry.
    pub fn feed(&mut self, data: &[u8], log: &mut LogFile) -> Result<()> {
        self.pending.extend_from_slice(data);
        let mut start = 0;
        while let Some(nl) = self.pending[start..].iter().position(|&b| b == b'\n') {
            let end = start + nl + 1;
            for chunk in self.pending[start..end].chunks(MAX_ENTRY) {
                log.write(self.stream, chunk)?;
            }
            start = end;
        }
        self.pending.drain(..start);
        while self.pending.len() >= MAX_ENTRY {
            let rest = self.pending.split_off(MAX_ENTRY);
            log.write(self.stream, &self.pending)?;
            self.pending = rest;
        }
        Ok(())
    }

    /// The stream ended: writes what is left of an unterminated line.
    pub fn finish(&mut self, log: &mut LogFile) -> Result<()> {
        if !self.pending.is_empty() {
            log.write(self.stream, &self.pending)?;
            self.pending.clear();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(path: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is a JSON object"))
            .collect()
    }

    #[test]
    fn splits_lines_and_flushes_partial_on_finish() {
        let dir = std::env::temp_dir().join(format!("berth-monitor-ut-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let path = dir.join("split.log");
        let _ = std::fs::remove_file(&path);
        let mut log = LogFile::open(&path, Format::JsonFile, None, 1).expect("open");
        let mut s = LineSplitter::new("stdout");
        s.feed(b"a\nb", &mut log).expect("feed");
        s.feed(b"c\nd", &mut log).expect("feed");
        s.finish(&mut log).expect("finish");
        let e = entries(&path);
        let logs: Vec<&str> = e.iter().map(|v| v["log"].as_str().expect("log")).collect();
        assert_eq!(logs, ["a\n", "bc\n", "d"]);
        assert!(e.iter().all(|v| v["stream"] == "stdout"));
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}

//! Hijacked streams (attach, exec, run): the terminal in raw mode, stdin through docker's escape
//! proxy (detach keys, ctrl-p ctrl-q by default), and the daemon's output written back, split by
//! the 8-byte stdout/stderr frame headers when the container has no TTY.

use anyhow::{bail, Context, Result};
use hyper_util::rt::TokioIo;
use std::io::{IsTerminal, Write};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Docker's default detach sequence: ctrl-p, ctrl-q.
pub const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

/// The detach sequence of a `--detach-keys` flag, docker's default when the flag is not given.
pub fn detach_keys(flag: Option<&str>) -> Result<Vec<u8>> {
    parse_detach_keys(flag.unwrap_or(DEFAULT_DETACH_KEYS))
}

/// Parses docker's detach key syntax: comma-separated `ctrl-<c>` or single characters.
pub fn parse_detach_keys(s: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let p = part.trim();
        if let Some(c) = p.strip_prefix("ctrl-") {
            let b = match c.as_bytes() {
                [b'@'] => 0,
                [c @ b'a'..=b'z'] => c - b'a' + 1,
                [b'['] => 27,
                [b'\\'] => 28,
                [b']'] => 29,
                [b'^'] => 30,
                [b'_'] => 31,
                _ => bail!("Invalid detach keys ({s}) provided"),
            };
            out.push(b);
        } else if p.len() == 1 {
            out.push(p.as_bytes()[0]);
        } else {
            bail!("Invalid detach keys ({s}) provided");
        }
    }
    Ok(out)
}

/// Puts the terminal on fd 0 in raw mode until dropped.
pub struct RawTerminal {
    saved: Option<rustix::termios::Termios>,
}

impl RawTerminal {
    pub fn enable() -> RawTerminal {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return RawTerminal { saved: None };
        }
        let saved = rustix::termios::tcgetattr(&stdin).ok();
        if let Some(t) = &saved {
            let mut raw = t.clone();
            raw.make_raw();
            let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &raw);
        }
        RawTerminal { saved }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = rustix::termios::tcsetattr(
                std::io::stdin(),
                rustix::termios::OptionalActions::Now,
                t,
            );
        }
    }
}

/// (height, width) of the terminal on stdout, if it is one.
pub fn terminal_size() -> Option<(u16, u16)> {
    let out = std::io::stdout();
    if !out.is_terminal() {
        return None;
    }
    rustix::termios::tcgetwinsize(&out)
        .ok()
        .map(|w| (w.ws_row, w.ws_col))
}

/// Keeps the container's (or exec's) TTY the size of ours: once now, then on every SIGWINCH.
pub fn monitor_size(client: &super::client::Client, resize_path: String) {
    let client = client.clone();
    tokio::spawn(async move {
        let resize = |c: super::client::Client, p: String| async move {
            if let Some((h, w)) = terminal_size() {
                let q = super::client::query(&[("h", h.to_string()), ("w", w.to_string())]);
                let _ = c.post_json(&format!("{p}{q}"), None).await;
            }
        };
        resize(client.clone(), resize_path.clone()).await;
        if let Ok(mut sig) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
        {
            while sig.recv().await.is_some() {
                resize(client.clone(), resize_path.clone()).await;
            }
        }
    });
}

/// How a stream ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// The daemon closed the output (the process exited or the container stopped).
    Closed,
    /// The user typed the detach keys.
    Detached,
}

/// Docker's escape proxy: passes input through, holding back a partial match of the detach keys;
/// returns (bytes to forward, whether the whole sequence was typed).
struct EscapeProxy {
    keys: Vec<u8>,
    matched: usize,
}

impl EscapeProxy {
    fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        if self.keys.is_empty() {
            return (input.to_vec(), false);
        }
        for &b in input {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return (out, true);
                }
            } else {
                out.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
                if b == self.keys[0] {
                    self.matched = 1;
                } else {
                    out.push(b);
                }
            }
        }
        (out, false)
    }
}

/// Splits docker's multiplexed stream: an 8-byte header (stream, 0, 0, 0, big-endian size),
/// then the payload for stdout (1) or stderr (2).
pub struct Demux {
    buf: Vec<u8>,
}

impl Demux {
    pub fn new() -> Demux {
        Demux { buf: Vec::new() }
    }

    /// Feeds bytes; returns complete frames as (stream, payload).
    pub fn feed(&mut self, data: &[u8]) -> Vec<(u8, Vec<u8>)> {
        self.buf.extend_from_slice(data);
        let mut frames = Vec::new();
        while self.buf.len() >= 8 {
            let size =
                u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]) as usize;
            if self.buf.len() < 8 + size {
                break;
            }
            let stream = self.buf[0];
            let payload = self.buf[8..8 + size].to_vec();
            self.buf.drain(..8 + size);
            frames.push((stream, payload));
        }
        frames
    }
}

/// Writes demultiplexed (or raw, for a TTY) output to our stdout and stderr.
pub struct OutputWriter {
    tty: bool,
    demux: Demux,
}

impl OutputWriter {
    pub fn new(tty: bool) -> OutputWriter {
        OutputWriter {
            tty,
            demux: Demux::new(),
        }
    }

    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        if self.tty {
            let mut o = std::io::stdout().lock();
            o.write_all(data)?;
            o.flush()?;
            return Ok(());
        }
        for (stream, payload) in self.demux.feed(data) {
            if stream == 2 {
                let mut e = std::io::stderr().lock();
                e.write_all(&payload)?;
                e.flush()?;
            } else {
                let mut o = std::io::stdout().lock();
                o.write_all(&payload)?;
                o.flush()?;
            }
        }
        Ok(())
    }
}

/// Copies our stdin (when `stdin`) to the hijacked connection and its output to our
/// stdout/stderr until the daemon closes it or the detach keys are typed.
pub async fn pump(
    conn: TokioIo<hyper::upgrade::Upgraded>,
    tty: bool,
    stdin: bool,
    detach_keys: &[u8],
) -> Result<End> {
    let (mut rd, mut wr) = tokio::io::split(conn);
    let (detach_tx, mut detach_rx) = tokio::sync::oneshot::channel::<()>();
    if stdin {
        let keys = detach_keys.to_vec();
        tokio::spawn(async move {
            let mut proxy = EscapeProxy { keys, matched: 0 };
            let mut input = tokio::io::stdin();
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                let n = match input.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let (fwd, detach) = proxy.feed(&buf[..n]);
                if !fwd.is_empty() && wr.write_all(&fwd).await.is_err() {
                    return;
                }
                if detach {
                    let _ = detach_tx.send(());
                    return;
                }
            }
            // End of our stdin: half-close so the process sees EOF, keep reading its output.
            let _ = wr.shutdown().await;
            std::mem::forget(detach_tx);
        });
    }
    let mut out = OutputWriter::new(tty);
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        tokio::select! {
            r = rd.read(&mut buf) => {
                let n = r.context("reading the container's output")?;
                if n == 0 {
                    return Ok(End::Closed);
                }
                out.write(&buf[..n])?;
            }
            d = &mut detach_rx, if stdin => {
                if d.is_ok() {
                    return Ok(End::Detached);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_parse() {
        assert_eq!(
            parse_detach_keys(DEFAULT_DETACH_KEYS).expect("default keys parse"),
            vec![16, 17]
        );
        assert_eq!(
            parse_detach_keys("ctrl-a,x").expect("parses"),
            vec![1, b'x']
        );
        assert!(parse_detach_keys("ctrl-").is_err());
    }

    #[test]
    fn escape_proxy_holds_partial_matches() {
        let mut p = EscapeProxy {
            keys: vec![16, 17],
            matched: 0,
        };
        assert_eq!(p.feed(b"ab\x10"), (b"ab".to_vec(), false));
        assert_eq!(p.feed(b"c"), (b"\x10c".to_vec(), false));
        assert_eq!(p.feed(b"\x10\x11rest"), (Vec::new(), true));
    }

    #[test]
    fn demux_splits_frames_across_reads() {
        let mut d = Demux::new();
        let mut data = vec![1, 0, 0, 0, 0, 0, 0, 3];
        data.extend_from_slice(b"out");
        data.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 2, b'e']);
        let f = d.feed(&data);
        assert_eq!(f, vec![(1, b"out".to_vec())]);
        assert_eq!(d.feed(b"r"), vec![(2, b"er".to_vec())]);
    }
}

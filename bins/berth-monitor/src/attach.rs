//! Attach and control clients.
//!
//! Attach clients get every chunk of output as one of Docker's multiplexed frames
//! (`[stream, 0, 0, 0, len as u32 BE][payload]`) and send raw stdin bytes. Writes to them are
//! nonblocking with a bounded buffer per client: a client that does not keep up is dropped, never
//! waited for, so it cannot stall the container (whose pipe would fill and block its writes).
//!
//! Control clients send one JSON object per line; the monitor does not answer.

use rustix::io::Errno;
use std::os::unix::net::UnixStream;

/// Output queued for one attach client beyond this is not queued: the client is dropped.
pub const MAX_CLIENT_BUFFER: usize = 4 << 20;

/// A control message longer than this (without a newline) drops the client.
const MAX_CTL_LINE: usize = 64 * 1024;

/// Docker's stdcopy header for `len` bytes of `stream` (1 stdout, 2 stderr).
pub fn frame_header(stream: u8, len: usize) -> [u8; 8] {
    let l = (len as u32).to_be_bytes();
    [stream, 0, 0, 0, l[0], l[1], l[2], l[3]]
}

pub struct Client {
    pub sock: UnixStream,
    /// Output not yet written to the client.
    pub out: Vec<u8>,
    /// The client's stdin has not reached EOF.
    pub reading: bool,
    /// The client sent stdin bytes or half-closed: it counts for --stdin-once.
    pub used_stdin: bool,
    /// Broken or too slow; removed at the end of the loop turn.
    pub dead: bool,
}

impl Client {
    pub fn new(sock: UnixStream) -> Client {
        Client {
            sock,
            out: Vec::new(),
            reading: true,
            used_stdin: false,
            dead: false,
        }
    }

    /// Queues one frame and tries to send it at once.
    pub fn send_frame(&mut self, stream: u8, payload: &[u8]) {
        if self.dead {
            return;
        }
        if self.out.len() + payload.len() + 8 > MAX_CLIENT_BUFFER {
            self.dead = true;
            return;
        }
        self.out
            .extend_from_slice(&frame_header(stream, payload.len()));
        self.out.extend_from_slice(payload);
        self.flush();
    }

    /// Writes what is queued without blocking.
    pub fn flush(&mut self) {
        while !self.out.is_empty() && !self.dead {
            match rustix::net::send(&self.sock, &self.out, rustix::net::SendFlags::NOSIGNAL) {
                Ok(n) => {
                    self.out.drain(..n);
                }
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => return,
                Err(_) => self.dead = true,
            }
        }
    }

    /// Reads stdin bytes into `into`; returns false at EOF (or on error: then the client is
    /// dead).
    pub fn read_stdin(&mut self, into: &mut Vec<u8>) -> bool {
        let mut buf = [0u8; crate::supervise::READ_CHUNK];
        match rustix::io::read(&self.sock, &mut buf) {
            Ok(0) => false,
            Ok(n) => {
                into.extend_from_slice(&buf[..n]);
                true
            }
            Err(Errno::INTR) | Err(Errno::AGAIN) => true,
            Err(_) => {
                self.dead = true;
                false
            }
        }
    }
}

/// A control request.
#[derive(Debug, PartialEq, Eq)]
pub enum Ctl {
    Resize { height: u16, width: u16 },
    CloseStdin,
}

/// Parses one control line; `None` for anything not understood (there is no one to tell).
pub fn parse_ctl(line: &[u8]) -> Option<Ctl> {
    let v: serde_json::Value = serde_json::from_slice(line).ok()?;
    if let Some(r) = v.get("resize") {
        let dim = |k: &str| r.get(k)?.as_u64().and_then(|n| u16::try_from(n).ok());
        return Some(Ctl::Resize {
            height: dim("height")?,
            width: dim("width")?,
        });
    }
    if v.get("close_stdin").and_then(serde_json::Value::as_bool) == Some(true) {
        return Some(Ctl::CloseStdin);
    }
    None
}

pub struct CtlClient {
    pub sock: UnixStream,
    buf: Vec<u8>,
    pub dead: bool,
}

impl CtlClient {
    pub fn new(sock: UnixStream) -> CtlClient {
        CtlClient {
            sock,
            buf: Vec::new(),
            dead: false,
        }
    }

    /// Reads what is there and returns the complete requests; at EOF the last unterminated
    /// line counts too and the client is done.
    pub fn read(&mut self) -> Vec<Ctl> {
        let mut chunk = [0u8; 4096];
        let eof = match rustix::io::read(&self.sock, &mut chunk) {
            Ok(0) => true,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                false
            }
            Err(Errno::INTR) | Err(Errno::AGAIN) => return Vec::new(),
            Err(_) => true,
        };
        let mut out = Vec::new();
        while let Some(nl) = self.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=nl).collect();
            out.extend(parse_ctl(&line));
        }
        if eof {
            out.extend(parse_ctl(&self.buf));
            self.dead = true;
        } else if self.buf.len() > MAX_CTL_LINE {
            self.dead = true;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_dockers() {
        assert_eq!(frame_header(2, 0x0102_0304), [2, 0, 0, 0, 1, 2, 3, 4]);
    }

    #[test]
    fn ctl_messages() {
        assert_eq!(
            parse_ctl(br#"{"resize":{"height":40,"width":120}}"#),
            Some(Ctl::Resize {
                height: 40,
                width: 120
            })
        );
        assert_eq!(parse_ctl(br#"{"close_stdin":true}"#), Some(Ctl::CloseStdin));
        assert_eq!(parse_ctl(br#"{"close_stdin":false}"#), None);
        assert_eq!(parse_ctl(br#"{"resize":{"height":70000,"width":1}}"#), None);
        assert_eq!(parse_ctl(b"nonsense"), None);
    }
}

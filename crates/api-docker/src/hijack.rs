//! Hijacked streams (attach, exec start). The client asks for `Upgrade: tcp`; the answer is
//! 101 and the raw connection then carries stdin one way and output the other. Output comes
//! from the monitor's attach socket as Docker's 8-byte-header frames: forwarded as they are
//! (multiplexed stream) without a TTY, or with the headers stripped (raw stream) with one.
//! A client that did not ask to upgrade gets the output as a plain streaming body.

use axum::body::Body;
use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use hyper_util::rt::TokioIo;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// Which streams the client wants, and how.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
    /// The detach sequence (default ctrl-p ctrl-q), only looked for with a TTY and stdin.
    pub detach_keys: Vec<u8>,
}

/// Docker's detach keys: "ctrl-p,ctrl-q", "a,ctrl-@"...
pub fn parse_detach_keys(s: &str) -> Result<Vec<u8>, String> {
    if s.is_empty() {
        return Ok(vec![16, 17]);
    }
    let mut out = Vec::new();
    for k in s.split(',') {
        let k = k.trim();
        if let Some(c) = k.strip_prefix("ctrl-") {
            let b = match c.as_bytes() {
                [b] if b.is_ascii_alphabetic() => b.to_ascii_lowercase() - b'a' + 1,
                b"@" => 0,
                b"[" => 27,
                b"\\" => 28,
                b"]" => 29,
                b"^" => 30,
                b"_" => 31,
                _ => return Err(format!("Unknown character: '{k}'")),
            };
            out.push(b);
        } else if k.len() == 1 {
            out.push(k.as_bytes()[0]);
        } else {
            return Err(format!("Unknown character: '{k}'"));
        }
    }
    Ok(out)
}

/// Whether the request asks to be upgraded (docker CLI, docker-py).
pub fn wants_upgrade<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("tcp"))
}

fn content_type(tty: bool) -> HeaderValue {
    HeaderValue::from_static(if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    })
}

/// The 101 answer.
pub fn upgrade_response(tty: bool) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    r.headers_mut()
        .insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, content_type(tty));
    r
}

/// A 200 whose body is `rx`'s chunks.
pub fn streaming_response(tty: bool, rx: tokio::sync::mpsc::Receiver<Bytes>) -> Response {
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<Bytes, std::io::Error>(b), rx))
    });
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, content_type(tty));
    r
}

/// Connects to a monitor's attach socket, waiting (up to 5 s) for it to appear.
pub async fn connect(socket: &Path) -> std::io::Result<UnixStream> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match UnixStream::connect(socket).await {
            Ok(s) => return Ok(s),
            Err(e) if tokio::time::Instant::now() >= deadline => return Err(e),
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
        }
    }
}

/// Builds one Docker frame.
pub fn frame(stream: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + payload.len());
    f.extend_from_slice(&[stream, 0, 0, 0]);
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// Reads the next wanted frame from the monitor (stream, payload); None at the end.
async fn next_frame(
    sock: &mut tokio::net::unix::OwnedReadHalf,
    opts: &StreamOptions,
) -> Option<(u8, Vec<u8>)> {
    let mut header = [0u8; 8];
    loop {
        sock.read_exact(&mut header).await.ok()?;
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let mut payload = vec![0u8; len];
        sock.read_exact(&mut payload).await.ok()?;
        let wanted = match header[0] {
            1 => opts.stdout,
            2 => opts.stderr,
            _ => false,
        };
        if wanted {
            return Some((header[0], payload));
        }
    }
}

/// Pumps a hijacked connection and a monitor's attach socket until the output ends or the
/// client detaches or goes away.
pub async fn pump(upgraded: hyper::upgrade::Upgraded, sock: UnixStream, opts: StreamOptions) {
    pump_io(TokioIo::new(upgraded), sock, opts, std::future::ready(())).await
}

/// [`pump`], holding the client's connection open after the output has ended until `done`
/// resolves (at most 10 s): `docker exec` reads the exit code from exec inspect as soon as the
/// stream closes, so the stream must not close before the exit code is known.
pub async fn pump_then(
    upgraded: hyper::upgrade::Upgraded,
    sock: UnixStream,
    opts: StreamOptions,
    done: impl std::future::Future<Output = ()>,
) {
    pump_io(TokioIo::new(upgraded), sock, opts, done).await
}

/// [`pump`] over any client stream.
pub async fn pump_io<T>(
    io: T,
    sock: UnixStream,
    opts: StreamOptions,
    done: impl std::future::Future<Output = ()>,
) where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let (mut client_rd, mut client_wr) = tokio::io::split(io);
    let (sock_rd, mut sock_wr) = sock.into_split();
    let (detached_tx, detached_rx) = tokio::sync::oneshot::channel::<()>();
    let stdin_opts = opts.clone();
    let stdin_task = tokio::spawn(async move {
        if !stdin_opts.stdin {
            // Nothing to forward; but keep reading so a client close is noticed.
            let mut buf = [0u8; 1024];
            while let Ok(n) = client_rd.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
            return;
        }
        let keys = if stdin_opts.tty {
            stdin_opts.detach_keys.clone()
        } else {
            Vec::new()
        };
        let mut matched = 0usize;
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = match client_rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let data = &buf[..n];
            if !keys.is_empty() {
                // Hold back a partial detach sequence; forward it if it does not complete.
                let mut forward = Vec::with_capacity(n);
                for &b in data {
                    if b == keys[matched] {
                        matched += 1;
                        if matched == keys.len() {
                            let _ = sock_wr.write_all(&forward).await;
                            let _ = detached_tx.send(());
                            return;
                        }
                    } else {
                        forward.extend_from_slice(&keys[..matched]);
                        matched = 0;
                        if b == keys[0] {
                            matched = 1;
                        } else {
                            forward.push(b);
                        }
                    }
                }
                if sock_wr.write_all(&forward).await.is_err() {
                    break;
                }
                continue;
            }
            if sock_wr.write_all(data).await.is_err() {
                break;
            }
        }
        // The client closed its stdin: tell the monitor (stdin-once closes the container's).
        let _ = sock_wr.shutdown().await;
        // Keep reading (and dropping) what the client still sends: closing a socket with
        // unread input resets the connection, and the client would report the reset instead
        // of the output and exit code it is about to read.
        while let Ok(n) = client_rd.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    });
    let tty = opts.tty;
    let mut sock_rd = sock_rd;
    let output = async {
        while let Some((stream, payload)) = next_frame(&mut sock_rd, &opts).await {
            let bytes = if tty {
                payload
            } else {
                frame(stream, &payload)
            };
            if client_wr.write_all(&bytes).await.is_err() || client_wr.flush().await.is_err() {
                return;
            }
        }
    };
    let detached = async {
        // A dropped sender means the client closed stdin, not that it detached.
        if detached_rx.await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let ended = tokio::select! {
        _ = output => true,
        _ = detached => false,
    };
    if ended {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), done).await;
    }
    let _ = client_wr.shutdown().await;
    // The client closes its side once it has read our EOF; until then its input is drained.
    let abort = stdin_task.abort_handle();
    if tokio::time::timeout(std::time::Duration::from_secs(2), stdin_task)
        .await
        .is_err()
    {
        abort.abort();
    }
}

/// The output of a monitor's attach socket as body chunks (for clients that did not upgrade).
pub fn output_channel(sock: UnixStream, opts: StreamOptions) -> tokio::sync::mpsc::Receiver<Bytes> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        let (mut rd, _wr) = sock.into_split();
        while let Some((stream, payload)) = next_frame(&mut rd, &opts).await {
            let b = if opts.tty {
                payload
            } else {
                frame(stream, &payload)
            };
            if tx.send(Bytes::from(b)).await.is_err() {
                return;
            }
        }
    });
    rx
}

/// Writes an error message into a hijacked stream and closes it, reading what the client
/// still sends so the close is orderly (closing with unread input would reset the connection
/// and the client would report that instead of the message).
pub async fn fail(upgraded: hyper::upgrade::Upgraded, tty: bool, msg: &str) {
    let io = TokioIo::new(upgraded);
    let (mut rd, mut wr) = tokio::io::split(io);
    let text = format!("{msg}\r\n");
    let b = if tty {
        text.into_bytes()
    } else {
        frame(1, text.as_bytes())
    };
    let _ = wr.write_all(&b).await;
    let _ = wr.shutdown().await;
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
        while let Ok(n) = rd.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

/// Sends a resize to a monitor's ctl socket.
pub async fn resize(ctl: &PathBuf, height: u64, width: u64) -> std::io::Result<()> {
    let mut s = UnixStream::connect(ctl).await?;
    let msg = format!("{{\"resize\":{{\"height\":{height},\"width\":{width}}}}}\n");
    s.write_all(msg.as_bytes()).await?;
    s.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_parse() {
        assert_eq!(parse_detach_keys("").expect("default"), vec![16, 17]);
        assert_eq!(parse_detach_keys("ctrl-a,x").expect("valid"), vec![1, b'x']);
        assert!(parse_detach_keys("ctrl-1").is_err());
    }

    #[test]
    fn frames_have_docker_headers() {
        assert_eq!(frame(2, b"hi"), vec![2, 0, 0, 0, 0, 0, 0, 2, b'h', b'i']);
    }
}

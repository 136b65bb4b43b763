//! HTTP/1.1 to the Docker Engine API over a unix socket or TCP, one connection per request (as
//! the docker CLI does for hijacked streams; simple and never stuck behind a streaming call).
//! The API version is negotiated once by `/_ping`: min(server's `API-Version`, 1.47).

use anyhow::{anyhow, Context, Result};
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};

/// The highest API version this client speaks.
pub const MAX_API_VERSION: &str = "1.47";
/// Where the daemon listens unless `-H`, `BERTH_HOST` or `DOCKER_HOST` say otherwise.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

/// A request body: empty, bytes, or a stream (archives for load/import/cp).
pub type Body = BoxBody<Bytes, std::io::Error>;

/// Any byte stream we can speak HTTP over.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The daemon refused a request: `message` is the JSON "message" of its answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// The route the daemon refused, for an answer without a body.
    pub route: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.message.is_empty() {
            // docker's wording when a daemon answers an error without a body.
            return write!(
                f,
                "request returned {} for API route and version {}, check if the server supports the requested API version",
                self.status.canonical_reason().unwrap_or(self.status.as_str()),
                self.route
            );
        }
        write!(f, "Error response from daemon: {}", self.message)
    }
}
impl std::error::Error for ApiError {}

/// The daemon could not be reached at all (not running, wrong socket).
#[derive(Debug)]
pub struct ConnectError {
    pub host: String,
    pub source: std::io::Error,
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.source.kind() {
            std::io::ErrorKind::PermissionDenied => write!(
                f,
                "permission denied while trying to connect to the Berth daemon socket at {}",
                self.host
            ),
            _ => write!(
                f,
                "Cannot connect to the Berth daemon at {}. Is the daemon running? Start it with: sudo berth daemon &",
                self.host
            ),
        }
    }
}
impl std::error::Error for ConnectError {}

#[derive(Clone, Debug)]
enum Addr {
    Unix(std::path::PathBuf),
    Tcp(String),
}

/// A connection recipe plus the negotiated version prefix.
#[derive(Clone, Debug)]
pub struct Client {
    host: String,
    addr: Addr,
    version: String,
}

pub fn empty() -> Body {
    Empty::<Bytes>::new().map_err(|e| match e {}).boxed()
}

pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|e| match e {}).boxed()
}

/// A body streamed from a reader (an image archive from a file or stdin).
pub fn reader_body<R: tokio::io::AsyncRead + Send + Sync + 'static>(r: R) -> Body {
    use futures_util::TryStreamExt;
    let stream = tokio_util::io::ReaderStream::new(r).map_ok(hyper::body::Frame::data);
    http_body_util::StreamBody::new(stream).boxed()
}

pub fn json_body(v: &Value) -> Body {
    full(serde_json::to_vec(v).expect("a serde_json::Value always serializes"))
}

/// Percent-encodes a query component (RFC 3986 unreserved characters stay).
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Builds `?k=v&...` from pairs, skipping none.
pub fn query(pairs: &[(&str, String)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", k, enc(v)))
        .collect();
    format!("?{}", parts.join("&"))
}

impl Client {
    /// Parses `unix:///path`, `tcp://host:port` (or `http://`), or a bare path.
    pub fn new(host: &str) -> Result<Client> {
        let addr = if let Some(p) = host.strip_prefix("unix://") {
            Addr::Unix(p.into())
        } else if let Some(a) = host
            .strip_prefix("tcp://")
            .or_else(|| host.strip_prefix("http://"))
        {
            let a = a.trim_end_matches('/');
            Addr::Tcp(if a.contains(':') {
                a.to_string()
            } else {
                format!("{a}:2375")
            })
        } else if host.starts_with('/') {
            Addr::Unix(host.into())
        } else {
            return Err(anyhow!(
                "invalid host {host:?}: use unix:///path/to/socket or tcp://HOST:PORT"
            ));
        };
        Ok(Client {
            host: host.to_string(),
            addr,
            version: MAX_API_VERSION.to_string(),
        })
    }

    async fn connect(&self) -> Result<Box<dyn Io>> {
        let r: std::io::Result<Box<dyn Io>> = match &self.addr {
            Addr::Unix(p) => tokio::net::UnixStream::connect(p)
                .await
                .map(|s| Box::new(s) as Box<dyn Io>),
            Addr::Tcp(a) => tokio::net::TcpStream::connect(a)
                .await
                .map(|s| Box::new(s) as Box<dyn Io>),
        };
        r.map_err(|source| {
            anyhow::Error::new(ConnectError {
                host: self.host.clone(),
                source,
            })
        })
    }

    /// `/_ping`, then keep min(server, 1.47) as the version prefix.
    pub async fn negotiate(&mut self) -> Result<()> {
        let resp = self
            .send_raw(Method::GET, "/_ping".into(), empty(), &[])
            .await?;
        if let Some(v) = resp
            .headers()
            .get("api-version")
            .and_then(|v| v.to_str().ok())
        {
            if version_lt(v, MAX_API_VERSION) {
                self.version = v.to_string();
            }
        }
        Ok(())
    }

    pub fn api_version(&self) -> &str {
        &self.version
    }

    async fn send_raw(
        &self,
        method: Method,
        path: String,
        body: Body,
        headers: &[(&str, String)],
    ) -> Result<Response<Incoming>> {
        let io = self.connect().await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .context("HTTP handshake with the daemon")?;
        tokio::spawn(async move {
            let _ = conn.with_upgrades().await;
        });
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, "api.moby.localhost")
            .header(hyper::header::USER_AGENT, "Berth-Client/0.1 (linux)");
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let req = req.body(body).context("building the request")?;
        sender
            .send_request(req)
            .await
            .context("sending the request to the daemon")
    }

    /// Sends a versioned request; a status >= 400 becomes an [`ApiError`].
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Body,
        headers: &[(&str, String)],
    ) -> Result<Response<Incoming>> {
        let route = format!("/v{}{}", self.version, path);
        let resp = self.send_raw(method, route.clone(), body, headers).await?;
        if resp.status().is_client_error() || resp.status().is_server_error() {
            let status = resp.status();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            let message = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v.get("message").and_then(Value::as_str).map(String::from))
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).trim().to_string());
            let route = route.split('?').next().unwrap_or("").to_string();
            return Err(ApiError {
                status,
                message,
                route,
            }
            .into());
        }
        Ok(resp)
    }

    pub async fn get_json(&self, path: &str) -> Result<Value> {
        let resp = self.request(Method::GET, path, empty(), &[]).await?;
        read_json(resp).await
    }

    /// The body as text (inspect keeps the daemon's key order).
    pub async fn get_raw(&self, path: &str) -> Result<String> {
        let resp = self.request(Method::GET, path, empty(), &[]).await?;
        let bytes = read_body(resp).await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    pub async fn post_json(&self, path: &str, body: Option<&Value>) -> Result<Value> {
        let (b, headers) = match body {
            Some(v) => (
                json_body(v),
                vec![("content-type", "application/json".to_string())],
            ),
            None => (empty(), Vec::new()),
        };
        let resp = self.request(Method::POST, path, b, &headers).await?;
        read_json(resp).await
    }

    pub async fn delete(&self, path: &str) -> Result<Value> {
        let resp = self.request(Method::DELETE, path, empty(), &[]).await?;
        read_json(resp).await
    }

    /// A hijacked connection (attach, exec start): the request asks for `Upgrade: tcp`, the
    /// daemon answers 101 and the socket becomes a raw byte stream in both directions.
    pub async fn upgrade(
        &self,
        path: &str,
        body: Option<&Value>,
    ) -> Result<TokioIo<hyper::upgrade::Upgraded>> {
        let mut headers = vec![
            ("connection", "Upgrade".to_string()),
            ("upgrade", "tcp".to_string()),
        ];
        let b = match body {
            Some(v) => {
                headers.push(("content-type", "application/json".to_string()));
                json_body(v)
            }
            None => empty(),
        };
        let resp = self.request(Method::POST, path, b, &headers).await?;
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            return Err(anyhow!(
                "the daemon did not upgrade the connection (status {})",
                resp.status()
            ));
        }
        let up = hyper::upgrade::on(resp)
            .await
            .context("upgrading the connection")?;
        Ok(TokioIo::new(up))
    }
}

/// The whole body, however many chunks the daemon sent it in.
async fn read_body(resp: Response<Incoming>) -> Result<Bytes> {
    Ok(resp
        .into_body()
        .collect()
        .await
        .context("reading the daemon's answer")?
        .to_bytes())
}

/// The whole body as JSON; an empty body is `null`.
pub async fn read_json(resp: Response<Incoming>) -> Result<Value> {
    let bytes = read_body(resp).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&bytes).context("decoding the daemon's JSON answer")
}

/// The next chunk of a streaming body, or None at its end.
pub async fn next_chunk(body: &mut Incoming) -> Result<Option<Bytes>> {
    loop {
        match body.frame().await {
            None => return Ok(None),
            Some(f) => {
                let f = f.context("reading the daemon's stream")?;
                if let Ok(d) = f.into_data() {
                    return Ok(Some(d));
                }
            }
        }
    }
}

/// Splits a streaming body into JSON values (the daemon writes one per line, but lines may
/// arrive split or joined).
pub struct JsonStream {
    body: Incoming,
    buf: Vec<u8>,
}

impl JsonStream {
    pub fn new(resp: Response<Incoming>) -> JsonStream {
        JsonStream {
            body: resp.into_body(),
            buf: Vec::new(),
        }
    }

    pub async fn next(&mut self) -> Result<Option<Value>> {
        loop {
            let mut de = serde_json::Deserializer::from_slice(&self.buf).into_iter::<Value>();
            match de.next() {
                Some(Ok(v)) => {
                    let used = de.byte_offset();
                    self.buf.drain(..used);
                    return Ok(Some(v));
                }
                Some(Err(e)) if !e.is_eof() => {
                    return Err(anyhow!("bad JSON in the daemon's stream: {e}"))
                }
                _ => {}
            }
            match next_chunk(&mut self.body).await? {
                Some(b) => self.buf.extend_from_slice(&b),
                None => return Ok(None),
            }
        }
    }
}

/// "1.41" < "1.47", numerically per component.
pub fn version_lt(a: &str, b: &str) -> bool {
    let parse = |s: &str| -> Vec<u32> { s.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    parse(a) < parse(b)
}

/// True when the error is the daemon's 404.
pub fn is_not_found(e: &anyhow::Error) -> bool {
    e.downcast_ref::<ApiError>()
        .is_some_and(|a| a.status == StatusCode::NOT_FOUND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert!(version_lt("1.41", "1.47"));
        assert!(version_lt("1.9", "1.41"));
        assert!(!version_lt("1.50", "1.47"));
    }

    #[test]
    fn query_is_encoded() {
        assert_eq!(
            query(&[("filters", "{\"a\":1}".into()), ("all", "1".into())]),
            "?filters=%7B%22a%22%3A1%7D&all=1"
        );
    }

    #[test]
    fn hosts_parse() {
        assert!(Client::new("unix:///run/x.sock").is_ok());
        assert!(Client::new("tcp://127.0.0.1:2375").is_ok());
        assert!(Client::new("ftp://x").is_err());
    }
}

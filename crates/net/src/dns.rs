//! The embedded DNS server that Docker runs at 127.0.0.11 inside each container on a user
//! network: it answers A and AAAA questions for the names a [`Lookup`] knows (container names,
//! network aliases, short IDs on the same network), PTR questions for their addresses, and
//! forwards every other query to upstream resolvers, relaying their answer (or SERVFAIL when
//! none answers in time).
//!
//! The caller binds the sockets inside the container's network namespace and hands them to
//! [`serve`]; the server runs on the caller's tokio runtime, whose threads stay in the daemon's
//! namespace. Queries to upstreams therefore leave from the host, as Docker's do: the host's
//! resolvers (even 127.0.0.53 from systemd-resolved) are reachable whatever the container's
//! network may reach, and an `--internal` network still resolves names.
//!
//! Messages are parsed and written with `hickory-proto`; only the few lines of relaying
//! (UDP, TCP fallback when an answer is truncated, timeouts) are written here, as a full
//! resolver (hickory-resolver) would cache and rewrite answers where Docker relays them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::{JoinHandle, JoinSet};

/// Docker's address for the embedded DNS server inside a container.
pub const CONTAINER_DNS_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);
/// TTL of the answers for container names (Docker's).
pub const TTL: u32 = 600;
/// How long one upstream gets to answer (Docker's external query timeout).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(4);
/// UDP payload size advertised in local answers (the DNS flag day 2020 value).
const EDNS_PAYLOAD: u16 = 1232;
/// An idle TCP client connection is closed after this long.
const TCP_IDLE: Duration = Duration::from_secs(30);

/// What went wrong setting up the server.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// A socket could not be handed to tokio.
    #[error("dns: {what}: {source}")]
    Socket {
        /// Which socket.
        what: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// The resolv.conf could not be read.
    #[error("cannot read {path}: {source}")]
    ResolvConf {
        /// Its path.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

/// Names the server answers itself.
pub trait Lookup: Send + Sync {
    /// The addresses of `name` (lowercase, no trailing dot) on the container's network, or
    /// `None` when it is not a name of that network (the query is then forwarded). `Some` with
    /// no address of the asked family gives an empty NOERROR answer (NODATA).
    fn lookup(&self, name: &str) -> Option<Vec<IpAddr>>;

    /// The names (without trailing dot) of `ip` on the container's network, for PTR queries,
    /// or `None` to forward the query. Answers no PTR unless implemented.
    fn reverse(&self, _ip: IpAddr) -> Option<Vec<String>> {
        None
    }
}

/// The resolvers that unknown names are forwarded to, tried in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstreams {
    /// Resolver addresses (port 53 unless a test says otherwise).
    pub servers: Vec<SocketAddr>,
    /// How long each one gets to answer.
    pub timeout: Duration,
}

impl Upstreams {
    /// The `nameserver` lines of a resolv.conf text, with the default timeout.
    pub fn parse_resolv_conf(text: &str) -> Self {
        let servers = text
            .lines()
            .filter_map(|l| {
                let mut words = l.split_whitespace();
                match (words.next(), words.next()) {
                    // An IPv6 link-local address may carry a %zone the std parser refuses;
                    // such servers are skipped.
                    (Some("nameserver"), Some(addr)) => addr.parse::<IpAddr>().ok(),
                    _ => None,
                }
            })
            .map(|ip| SocketAddr::new(ip, 53))
            .collect();
        Self {
            servers,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The resolvers of a resolv.conf file.
    pub fn from_resolv_conf(path: &Path) -> Result<Self, DnsError> {
        let text = std::fs::read_to_string(path).map_err(|source| DnsError::ResolvConf {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Self::parse_resolv_conf(&text))
    }

    /// The host's resolvers, from /etc/resolv.conf.
    pub fn host() -> Result<Self, DnsError> {
        Self::from_resolv_conf(Path::new("/etc/resolv.conf"))
    }
}

/// Binds the server's UDP socket and TCP listener at `addr` inside the network namespace at
/// `netns` (/proc/PID/ns/net): from a short-lived thread that joined the namespace, as a socket
/// belongs to the namespace it was created in and keeps serving it from any thread afterwards.
pub async fn bind_in_netns(
    netns: &Path,
    addr: SocketAddr,
) -> Result<(std::net::UdpSocket, std::net::TcpListener), DnsError> {
    use std::os::fd::AsFd;
    let socket = |what, source| DnsError::Socket { what, source };
    let file =
        std::fs::File::open(netns).map_err(|e| socket("opening the network namespace", e))?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("berth-dns-bind".into())
        .spawn(move || {
            let result = berth_sys::process::setns(file.as_fd(), libc::CLONE_NEWNET)
                .map_err(|e| ("joining the network namespace", e))
                .and_then(|()| {
                    let udp = std::net::UdpSocket::bind(addr).map_err(|e| ("udp bind", e))?;
                    let tcp = std::net::TcpListener::bind(addr).map_err(|e| ("tcp bind", e))?;
                    Ok((udp, tcp))
                });
            let _ = tx.send(result);
        })
        .map_err(|e| socket("thread", e))?;
    match rx.await {
        Ok(Ok(pair)) => Ok(pair),
        Ok(Err((what, e))) => Err(socket(what, e)),
        Err(_) => Err(socket(
            "thread",
            std::io::Error::other("the namespace thread ended without answering"),
        )),
    }
}

/// Serves DNS on already-bound sockets until the returned task is aborted (which also ends
/// every query in flight). Must be called within a tokio runtime.
pub fn serve(
    udp: std::net::UdpSocket,
    tcp: Option<std::net::TcpListener>,
    lookup: Arc<dyn Lookup>,
    upstreams: Upstreams,
) -> Result<JoinHandle<()>, DnsError> {
    let socket = |what, source| DnsError::Socket { what, source };
    udp.set_nonblocking(true).map_err(|e| socket("udp", e))?;
    let udp = Arc::new(UdpSocket::from_std(udp).map_err(|e| socket("udp", e))?);
    let tcp = match tcp {
        Some(l) => {
            l.set_nonblocking(true).map_err(|e| socket("tcp", e))?;
            Some(TcpListener::from_std(l).map_err(|e| socket("tcp", e))?)
        }
        None => None,
    };
    let server = Arc::new(Server { lookup, upstreams });
    Ok(tokio::spawn(run(server, udp, tcp)))
}

struct Server {
    lookup: Arc<dyn Lookup>,
    upstreams: Upstreams,
}

async fn run(server: Arc<Server>, udp: Arc<UdpSocket>, tcp: Option<TcpListener>) {
    // Owned here so that aborting the server task cancels the queries in flight.
    let mut tasks = JoinSet::new();
    let mut buf = vec![0u8; 65535];
    loop {
        tokio::select! {
            r = udp.recv_from(&mut buf) => match r {
                Ok((n, peer)) => {
                    let query = buf[..n].to_vec();
                    let (server, udp) = (server.clone(), udp.clone());
                    tasks.spawn(async move {
                        if let Some(resp) = server.answer(&query, false).await {
                            if let Err(e) = udp.send_to(&resp, peer).await {
                                tracing::debug!("dns: reply to {peer}: {e}");
                            }
                        }
                    });
                }
                // ICMP errors from earlier replies surface here; the socket stays usable.
                Err(e) => tracing::debug!("dns: udp receive: {e}"),
            },
            r = accept(tcp.as_ref()) => match r {
                Ok((stream, _)) => {
                    let server = server.clone();
                    tasks.spawn(async move { server.serve_tcp(stream).await });
                }
                Err(e) => {
                    tracing::warn!("dns: tcp accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
}

async fn accept(l: Option<&TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match l {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// Reads one length-prefixed DNS message (RFC 1035 4.2.2).
async fn read_framed(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let len = s.read_u16().await?;
    let mut msg = vec![0u8; usize::from(len)];
    s.read_exact(&mut msg).await?;
    Ok(msg)
}

async fn write_framed(s: &mut TcpStream, msg: &[u8]) -> std::io::Result<()> {
    let len = u16::try_from(msg.len())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "message too long"))?;
    let mut out = Vec::with_capacity(msg.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(msg);
    s.write_all(&out).await
}

impl Server {
    async fn serve_tcp(&self, mut stream: TcpStream) {
        while let Ok(Ok(query)) = tokio::time::timeout(TCP_IDLE, read_framed(&mut stream)).await {
            let Some(resp) = self.answer(&query, true).await else {
                return;
            };
            if write_framed(&mut stream, &resp).await.is_err() {
                return;
            }
        }
    }

    /// The reply to one query, or None when the packet deserves no reply.
    async fn answer(&self, query: &[u8], via_tcp: bool) -> Option<Vec<u8>> {
        let req = match Message::from_vec(query) {
            Ok(m) => m,
            Err(_) if query.len() >= 2 => {
                let id = u16::from_be_bytes([query[0], query[1]]);
                return Message::error_msg(id, OpCode::Query, ResponseCode::FormErr)
                    .to_vec()
                    .ok();
            }
            Err(_) => return None,
        };
        if req.metadata.message_type != MessageType::Query {
            return None;
        }
        let resp = match self.local_answer(&req) {
            Some(local) => local.to_vec().ok()?,
            None => self.forward(query, &req, via_tcp).await,
        };
        if !via_tcp && resp.len() > usize::from(req.max_payload()) {
            // Too big for the client's UDP buffer: tell it to ask again over TCP.
            let full = Message::from_vec(&resp).ok()?;
            return full.truncate().to_vec().ok();
        }
        Some(resp)
    }

    fn local_answer(&self, req: &Message) -> Option<Message> {
        let [q] = req.queries.as_slice() else {
            return None;
        };
        if q.query_class() != DNSClass::IN {
            return None;
        }
        let qtype = q.query_type();
        let name = q.name().to_lowercase().to_ascii();
        let name = name.trim_end_matches('.');
        let answers: Vec<RData> = match qtype {
            RecordType::A | RecordType::AAAA => self
                .lookup
                .lookup(name)?
                .into_iter()
                .filter_map(|ip| match (qtype, ip) {
                    (RecordType::A, IpAddr::V4(v4)) => Some(RData::A(A(v4))),
                    (RecordType::AAAA, IpAddr::V6(v6)) => Some(RData::AAAA(AAAA(v6))),
                    _ => None,
                })
                .collect(),
            RecordType::PTR => self
                .lookup
                .reverse(reverse_name(name)?)?
                .into_iter()
                .filter_map(|n| Name::from_ascii(format!("{n}.")).ok())
                .map(|n| RData::PTR(PTR(n)))
                .collect(),
            _ => return None,
        };
        let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
        resp.metadata.recursion_desired = req.metadata.recursion_desired;
        resp.metadata.recursion_available = true;
        resp.add_query(q.clone());
        if req.edns.is_some() {
            // RFC 6891 6.1.1: a query with OPT gets an OPT back.
            let mut edns = Edns::new();
            edns.set_max_payload(EDNS_PAYLOAD);
            resp.set_edns(edns);
        }
        for rdata in answers {
            resp.add_answer(Record::from_rdata(q.name().clone(), TTL, rdata));
        }
        Some(resp)
    }

    /// Relays the query to each upstream in turn; SERVFAIL when none answers.
    async fn forward(&self, query: &[u8], req: &Message, via_tcp: bool) -> Vec<u8> {
        let id = req.metadata.id;
        let timeout = self.upstreams.timeout;
        for &server in &self.upstreams.servers {
            let reply = if via_tcp {
                forward_tcp(server, query, timeout).await
            } else {
                match forward_udp(server, query, id, timeout).await {
                    Ok(r) if is_truncated(&r) => {
                        // The whole answer is over TCP; keep the truncated one if TCP fails.
                        Ok(forward_tcp(server, query, timeout).await.unwrap_or(r))
                    }
                    other => other,
                }
            };
            match reply {
                Ok(r) => return r,
                Err(e) => tracing::debug!("dns: upstream {server}: {e}"),
            }
        }
        let mut fail = Message::error_msg(id, req.metadata.op_code, ResponseCode::ServFail);
        fail.metadata.recursion_desired = req.metadata.recursion_desired;
        fail.metadata.recursion_available = true;
        fail.add_queries(req.queries.iter().cloned());
        fail.to_vec().unwrap_or_default()
    }
}

/// The address a reverse-lookup name stands for (`4.3.2.1.in-addr.arpa`, or 32 nibbles of
/// `ip6.arpa`), lowercase without the trailing dot.
fn reverse_name(name: &str) -> Option<IpAddr> {
    if let Some(v4) = name.strip_suffix(".in-addr.arpa") {
        let octets: Vec<u8> = v4
            .split('.')
            .map(|o| o.parse().ok())
            .collect::<Option<_>>()?;
        let [d, c, b, a] = octets.as_slice() else {
            return None;
        };
        return Some(IpAddr::V4(Ipv4Addr::new(*a, *b, *c, *d)));
    }
    let v6 = name.strip_suffix(".ip6.arpa")?;
    let nibbles: Vec<u32> = v6
        .split('.')
        .map(|n| {
            let mut chars = n.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => c.to_digit(16),
                _ => None,
            }
        })
        .collect::<Option<_>>()?;
    if nibbles.len() != 32 {
        return None;
    }
    let bits = nibbles
        .iter()
        .rev()
        .fold(0u128, |acc, n| (acc << 4) | u128::from(*n));
    Some(IpAddr::V6(Ipv6Addr::from(bits)))
}

fn is_truncated(msg: &[u8]) -> bool {
    // TC is bit 1 of the third header byte.
    msg.len() > 2 && msg[2] & 0x02 != 0
}

fn timed_out() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer in time")
}

async fn forward_udp(
    server: SocketAddr,
    query: &[u8],
    id: u16,
    timeout: Duration,
) -> std::io::Result<Vec<u8>> {
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    // A fresh socket (random source port) per query, connected so only the server's
    // datagrams are received.
    let sock = UdpSocket::bind(local).await?;
    sock.connect(server).await?;
    sock.send(query).await?;
    let mut buf = vec![0u8; 65535];
    tokio::time::timeout(timeout, async {
        loop {
            let n = sock.recv(&mut buf).await?;
            if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id {
                return Ok(buf[..n].to_vec());
            }
        }
    })
    .await
    .map_err(|_| timed_out())?
}

async fn forward_tcp(
    server: SocketAddr,
    query: &[u8],
    timeout: Duration,
) -> std::io::Result<Vec<u8>> {
    tokio::time::timeout(timeout, async {
        let mut s = TcpStream::connect(server).await?;
        write_framed(&mut s, query).await?;
        read_framed(&mut s).await
    })
    .await
    .map_err(|_| timed_out())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_nameservers() {
        let u = Upstreams::parse_resolv_conf(
            "# comment\nsearch example.com\nnameserver 10.0.0.1\nnameserver  ::1\n\
             nameserver fe80::1%eth0\noptions ndots:2\n",
        );
        assert_eq!(
            u.servers,
            vec![
                "10.0.0.1:53".parse().expect("literal"),
                "[::1]:53".parse().expect("literal")
            ]
        );
        assert_eq!(u.timeout, DEFAULT_TIMEOUT);
    }

    #[test]
    fn reverse_names() {
        assert_eq!(
            reverse_name("2.0.18.172.in-addr.arpa"),
            Some(IpAddr::V4(Ipv4Addr::new(172, 18, 0, 2)))
        );
        assert_eq!(reverse_name("0.18.172.in-addr.arpa"), None);
        assert_eq!(reverse_name("300.0.18.172.in-addr.arpa"), None);
        let v6 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa";
        assert_eq!(
            reverse_name(v6),
            Some(IpAddr::V6("2001:db8::1".parse().expect("literal")))
        );
        assert_eq!(reverse_name("example.org"), None);
    }

    #[test]
    fn truncation_bit() {
        assert!(is_truncated(&[0, 1, 0x82, 0]));
        assert!(!is_truncated(&[0, 1, 0x80, 0]));
    }
}

//! The embedded DNS server on 127.0.0.1 (random ports), with a fake upstream resolver made of
//! real UDP and TCP sockets: local names, forwarding, NXDOMAIN relayed, TCP fallback for a
//! truncated answer, SERVFAIL when the upstream is silent, and DNS over TCP from the client.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use berth_net::dns::{self, Lookup, Upstreams};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

struct Names(HashMap<String, Vec<IpAddr>>);

impl Lookup for Names {
    fn lookup(&self, name: &str) -> Option<Vec<IpAddr>> {
        self.0.get(name).cloned()
    }

    fn reverse(&self, ip: IpAddr) -> Option<Vec<String>> {
        let mut names: Vec<String> = self
            .0
            .iter()
            .filter(|(_, ips)| ips.contains(&ip))
            .map(|(n, _)| n.clone())
            .collect();
        names.sort();
        (!names.is_empty()).then_some(names)
    }
}

fn names() -> Arc<dyn Lookup> {
    let mut m = HashMap::new();
    let web = vec![IpAddr::V4(Ipv4Addr::new(172, 18, 0, 2))];
    m.insert("web".to_string(), web.clone());
    m.insert("web-alias".to_string(), web);
    m.insert(
        "db".to_string(),
        vec![
            IpAddr::V4(Ipv4Addr::new(172, 18, 0, 3)),
            IpAddr::V4(Ipv4Addr::new(172, 19, 0, 3)),
        ],
    );
    Arc::new(Names(m))
}

fn query(name: &str, rtype: RecordType) -> Message {
    let mut m = Message::new(0x4242, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).expect("name"), rtype));
    m
}

/// The upstream's answer to a name: what a real resolver would say.
fn upstream_reply(req: &Message, via_tcp: bool) -> Option<Message> {
    let q = req.queries.first()?;
    let name = q.name().to_ascii();
    let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
    resp.metadata.recursion_available = true;
    resp.add_query(q.clone());
    let a = |ip: Ipv4Addr| Record::from_rdata(q.name().clone(), 300, RData::A(A(ip)));
    match name.as_str() {
        "example.org." => {
            resp.add_answer(a(Ipv4Addr::new(93, 184, 215, 14)));
        }
        "nx.example.org." => resp.metadata.response_code = ResponseCode::NXDomain,
        "silent.example.org." => return None,
        // Too big for UDP: truncated there, whole over TCP.
        "big.example.org." if via_tcp => {
            for i in 0..100 {
                resp.add_answer(a(Ipv4Addr::new(10, 9, 0, i)));
            }
        }
        "big.example.org." => resp.metadata.truncation = true,
        _ => resp.metadata.response_code = ResponseCode::Refused,
    }
    Some(resp)
}

/// A fake upstream resolver on 127.0.0.1 (UDP and TCP on the same port); counts its queries.
async fn fake_upstream() -> (SocketAddr, Arc<AtomicUsize>) {
    let udp = UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind upstream udp");
    let addr = udp.local_addr().expect("addr");
    let tcp = TcpListener::bind(addr).await.expect("bind upstream tcp");
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, peer)) = udp.recv_from(&mut buf).await else {
                return;
            };
            c.fetch_add(1, Ordering::SeqCst);
            let req = Message::from_vec(&buf[..n]).expect("server forwards a valid query");
            if let Some(r) = upstream_reply(&req, false) {
                let _ = udp.send_to(&r.to_vec().expect("encode"), peer).await;
            }
        }
    });
    tokio::spawn(async move {
        while let Ok((mut s, _)) = tcp.accept().await {
            let len = s.read_u16().await.expect("len");
            let mut buf = vec![0u8; usize::from(len)];
            s.read_exact(&mut buf).await.expect("query");
            let req = Message::from_vec(&buf).expect("valid query");
            if let Some(r) = upstream_reply(&req, true) {
                let out = r.to_vec().expect("encode");
                let len = u16::try_from(out.len()).expect("fits");
                s.write_all(&len.to_be_bytes()).await.expect("write");
                s.write_all(&out).await.expect("write");
            }
        }
    });
    (addr, count)
}

async fn start(upstreams: Upstreams) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind dns udp");
    let addr = udp.local_addr().expect("addr");
    let tcp = std::net::TcpListener::bind(addr).expect("bind dns tcp");
    let h = dns::serve(udp, Some(tcp), names(), upstreams).expect("serve");
    (addr, h)
}

async fn ask(server: SocketAddr, q: &Message) -> Message {
    let c = UdpSocket::bind("127.0.0.1:0").await.expect("bind client");
    c.send_to(&q.to_vec().expect("encode"), server)
        .await
        .expect("send");
    let mut buf = vec![0u8; 65535];
    let n = tokio::time::timeout(Duration::from_secs(10), c.recv(&mut buf))
        .await
        .expect("server answers within 10 s")
        .expect("recv");
    let m = Message::from_vec(&buf[..n]).expect("valid reply");
    assert_eq!(m.metadata.id, q.metadata.id);
    assert_eq!(m.metadata.message_type, MessageType::Response);
    m
}

fn a_records(m: &Message) -> Vec<Ipv4Addr> {
    m.answers
        .iter()
        .filter_map(|r| match r.data {
            RData::A(A(ip)) => Some(ip),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn answers_known_names_and_forwards_the_rest() {
    let (up, count) = fake_upstream().await;
    let (server, handle) = start(Upstreams {
        servers: vec![up],
        timeout: Duration::from_secs(2),
    })
    .await;

    // A container name, case-insensitive and fully qualified.
    let r = ask(server, &query("Web.", RecordType::A)).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert_eq!(a_records(&r), vec![Ipv4Addr::new(172, 18, 0, 2)]);
    assert_eq!(r.answers[0].ttl, dns::TTL);
    assert_eq!(r.queries.len(), 1, "the question is echoed");

    let mut with_edns = query("web", RecordType::A);
    with_edns.set_edns(Edns::new());
    let r = ask(server, &with_edns).await;
    assert!(r.edns.is_some(), "a query with OPT gets OPT back");
    assert_eq!(a_records(&r), vec![Ipv4Addr::new(172, 18, 0, 2)]);

    // PTR for a container address: its names; for another address: forwarded.
    let r = ask(server, &query("2.0.18.172.in-addr.arpa.", RecordType::PTR)).await;
    let ptrs: Vec<String> = r
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::PTR(p) => Some(p.0.to_ascii()),
            _ => None,
        })
        .collect();
    assert_eq!(ptrs, vec!["web.", "web-alias."]);
    assert_eq!(count.load(Ordering::SeqCst), 0);

    let r = ask(server, &query("db", RecordType::A)).await;
    assert_eq!(
        a_records(&r),
        vec![Ipv4Addr::new(172, 18, 0, 3), Ipv4Addr::new(172, 19, 0, 3)]
    );

    // AAAA for a known IPv4-only name: NODATA, not forwarded.
    let r = ask(server, &query("web-alias", RecordType::AAAA)).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(r.answers.is_empty());
    assert_eq!(
        count.load(Ordering::SeqCst),
        0,
        "local names never reach the upstream"
    );

    // Unknown name: relayed from the upstream.
    let r = ask(server, &query("example.org.", RecordType::A)).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert_eq!(a_records(&r), vec![Ipv4Addr::new(93, 184, 215, 14)]);
    assert_eq!(count.load(Ordering::SeqCst), 1);

    let r = ask(server, &query("9.9.9.10.in-addr.arpa.", RecordType::PTR)).await;
    assert_eq!(
        r.metadata.response_code,
        ResponseCode::Refused,
        "relayed from upstream"
    );
    assert_eq!(count.load(Ordering::SeqCst), 2);

    // NXDOMAIN relayed as is.
    let r = ask(server, &query("nx.example.org.", RecordType::A)).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);

    // Truncated over UDP upstream: fetched over TCP, then truncated again for this 512-byte
    // UDP client, which then asks over TCP and gets all 100 records.
    let r = ask(server, &query("big.example.org.", RecordType::A)).await;
    assert!(r.metadata.truncation, "client told to retry over TCP");
    let mut s = TcpStream::connect(server).await.expect("connect tcp");
    let q = query("big.example.org.", RecordType::A)
        .to_vec()
        .expect("encode");
    let len = u16::try_from(q.len()).expect("fits");
    s.write_all(&len.to_be_bytes()).await.expect("write");
    s.write_all(&q).await.expect("write");
    let len = s.read_u16().await.expect("len");
    let mut buf = vec![0u8; usize::from(len)];
    s.read_exact(&mut buf).await.expect("reply");
    let r = Message::from_vec(&buf).expect("valid");
    assert_eq!(a_records(&r).len(), 100);

    // Same TCP connection, a local name.
    let q = query("web", RecordType::A).to_vec().expect("encode");
    let len = u16::try_from(q.len()).expect("fits");
    s.write_all(&len.to_be_bytes()).await.expect("write");
    s.write_all(&q).await.expect("write");
    let len = s.read_u16().await.expect("len");
    let mut buf = vec![0u8; usize::from(len)];
    s.read_exact(&mut buf).await.expect("reply");
    let r = Message::from_vec(&buf).expect("valid");
    assert_eq!(a_records(&r), vec![Ipv4Addr::new(172, 18, 0, 2)]);

    handle.abort();
}

#[tokio::test]
async fn silent_upstream_gives_servfail_and_next_upstream_is_tried() {
    let (up, _) = fake_upstream().await;
    // A bound socket that never answers.
    let dead = UdpSocket::bind("127.0.0.1:0").await.expect("bind dead");
    let dead_addr = dead.local_addr().expect("addr");
    let (server, handle) = start(Upstreams {
        servers: vec![dead_addr, up],
        timeout: Duration::from_millis(300),
    })
    .await;

    // The first upstream is silent, the second answers.
    let r = ask(server, &query("example.org.", RecordType::A)).await;
    assert_eq!(a_records(&r), vec![Ipv4Addr::new(93, 184, 215, 14)]);

    // Both silent: SERVFAIL with the question echoed.
    let r = ask(server, &query("silent.example.org.", RecordType::A)).await;
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(r.queries.len(), 1);

    // Garbage gets FORMERR with the same ID, and the server keeps serving.
    let c = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    c.send_to(&[0x12, 0x34, 0xff], server).await.expect("send");
    let mut buf = [0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(5), c.recv(&mut buf))
        .await
        .expect("answer")
        .expect("recv");
    let m = Message::from_vec(&buf[..n]).expect("valid");
    assert_eq!(m.metadata.id, 0x1234);
    assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
    let r = ask(server, &query("web", RecordType::A)).await;
    assert_eq!(a_records(&r), vec![Ipv4Addr::new(172, 18, 0, 2)]);

    handle.abort();
    let _ = handle.await;
    // Aborted: the port no longer answers.
    let c = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    c.send_to(
        &query("web", RecordType::A).to_vec().expect("encode"),
        server,
    )
    .await
    .expect("send");
    let got = tokio::time::timeout(Duration::from_millis(300), c.recv(&mut buf)).await;
    assert!(
        !matches!(got, Ok(Ok(_))),
        "server still answers after abort"
    );
}

/// Skips (returns false) with a printed reason, or panics under BERTH_TEST_STRICT=1.
fn require(ok: bool, reason: &str) -> bool {
    if !ok {
        if std::env::var("BERTH_TEST_STRICT").is_ok_and(|v| v == "1") {
            panic!("required for this test: {reason}");
        }
        eprintln!("SKIP: {reason}");
    }
    ok
}

fn ip(args: &[&str]) -> std::process::Output {
    std::process::Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("ip {args:?}: {e}"))
}

/// Deletes the test's network namespace even when an assertion fails.
struct Netns(String);
impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.0]);
    }
}

/// The way the daemon will run it: sockets bound at 127.0.0.11:53 inside a container's
/// network namespace by a thread that entered it, the server on the daemon's runtime; a
/// client inside the namespace (busybox nslookup) resolves a container name, and a name only
/// an upstream on the host's loopback knows, which the namespace itself cannot reach.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_inside_a_network_namespace_and_forwards_from_the_host() {
    let tools = std::process::Command::new("ip").arg("-V").output().is_ok()
        && std::path::Path::new("/bin/busybox").exists();
    if !require(rustix::process::geteuid().is_root(), "needs root")
        || !require(
            tools,
            "needs ip (iproute2) and /bin/busybox (busybox-static)",
        )
    {
        return;
    }
    let name = format!("berth-dnstest-{}", std::process::id());
    let out = ip(&["netns", "add", &name]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ns = Netns(name.clone());
    assert!(ip(&["-n", &name, "link", "set", "lo", "up"])
        .status
        .success());

    let path = format!("/run/netns/{name}");
    let (udp, tcp) = std::thread::spawn(move || {
        // This thread only binds and then ends; the sockets stay in the namespace.
        let f = std::fs::File::open(&path).expect("open netns");
        berth_sys::process::setns(std::os::fd::AsFd::as_fd(&f), libc::CLONE_NEWNET).expect("setns");
        let addr = SocketAddr::from((dns::CONTAINER_DNS_ADDR, 53));
        (
            std::net::UdpSocket::bind(addr).expect("bind 127.0.0.11:53/udp in the netns"),
            std::net::TcpListener::bind(addr).expect("bind 127.0.0.11:53/tcp in the netns"),
        )
    })
    .join()
    .expect("bind thread");

    let (up, count) = fake_upstream().await;
    let handle = dns::serve(
        udp,
        Some(tcp),
        names(),
        Upstreams {
            servers: vec![up],
            timeout: Duration::from_secs(2),
        },
    )
    .expect("serve");

    let nslookup = |host: &'static str| {
        let name = name.clone();
        tokio::task::spawn_blocking(move || {
            let o = std::process::Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &name,
                    "busybox",
                    "nslookup",
                    host,
                    "127.0.0.11",
                ])
                .output()
                .expect("run nslookup");
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
        })
    };
    let out = nslookup("web").await.expect("join");
    assert!(out.contains("172.18.0.2"), "{out}");
    let out = nslookup("example.org").await.expect("join");
    assert!(out.contains("93.184.215.14"), "{out}");
    assert!(count.load(Ordering::SeqCst) >= 1, "the upstream was asked");

    handle.abort();
    drop(ns);
    let list = ip(&["netns", "list"]);
    assert!(
        !String::from_utf8_lossy(&list.stdout).contains(&name),
        "netns left behind"
    );
}

//! Test registries: Debian's docker-registry on 127.0.0.1 (plain, htpasswd Basic, token auth
//! with our own token server), and a small fault-injecting registry for bad-input tests.
//! Every process and thread is stopped on drop.

use base64::Engine as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";
pub const USER: &str = "berth";
pub const PASS: &str = "s3cret-pass";
pub const REFRESH: &str = "refresh-token-ok";

pub enum Auth {
    None,
    Basic,
    Token,
}

pub struct Registry {
    pub addr: String,
    child: Child,
    pub dir: tempfile::TempDir,
    pub token: Option<TokenServer>,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

impl Registry {
    /// None (after the skip message) when docker-registry is missing and not strict.
    pub fn start(auth: Auth) -> Option<Registry> {
        if !super::require(
            Path::new(REGISTRY_BIN).exists(),
            "docker-registry is not installed (apt install docker-registry)",
        ) {
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut token = None;
        let auth_cfg = match auth {
            Auth::None => String::new(),
            Auth::Basic => {
                let hash = bcrypt::hash(PASS, 4).expect("bcrypt");
                std::fs::write(dir.path().join("htpasswd"), format!("{USER}:{hash}\n"))
                    .expect("htpasswd");
                format!(
                    "auth:\n  htpasswd:\n    realm: berth-basic\n    path: {}\n",
                    dir.path().join("htpasswd").display()
                )
            }
            Auth::Token => {
                let t = TokenServer::start(dir.path());
                let cfg = format!(
                    "auth:\n  token:\n    realm: http://{}/token\n    service: berth-test\n    issuer: berth-test-issuer\n    rootcertbundle: {}\n",
                    t.addr,
                    dir.path().join("cert.pem").display()
                );
                token = Some(t);
                cfg
            }
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: {addr}\n  secret: berth-test-secret\n{auth_cfg}",
            dir.path().join("data").display()
        );
        let cfg_path = dir.path().join("config.yml");
        std::fs::write(&cfg_path, config).expect("config");
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&cfg_path)
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("registry.log")).expect("log"),
            ))
            .spawn()
            .expect("start docker-registry");
        let reg = Registry {
            addr,
            child,
            dir,
            token,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(&reg.addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not start: {}",
                reg.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(reg)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    pub fn docker_config(&self, entries: &str) -> PathBuf {
        let p = self
            .dir
            .path()
            .join(format!("docker-config-{}.json", free_port()));
        std::fs::write(&p, entries).expect("docker config");
        p
    }
}

/// A token server for docker-registry's `token` auth: JWTs signed (RS256, via openssl) with a
/// self-signed certificate the registry trusts. Password `PASS` for user `USER` by GET with
/// Basic, refresh token `REFRESH` by OAuth2 POST; anonymous users get pull only.
/// (method, scopes) of every token request.
pub type TokenLog = Arc<Mutex<Vec<(String, Vec<String>)>>>;

pub struct TokenServer {
    pub addr: String,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// (method, scopes) of every token request.
    pub requests: TokenLog,
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn b64url(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn form_pairs(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

pub struct HttpRequest {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub fn read_request(stream: &mut TcpStream) -> Option<HttpRequest> {
    let mut r = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).ok()?;
    Some(HttpRequest {
        method,
        target,
        headers,
        body,
    })
}

pub fn respond(stream: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]) {
    let mut s = format!(
        "HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    s.push_str("\r\n");
    let _ = stream.write_all(s.as_bytes());
    let _ = stream.write_all(body);
}

impl TokenServer {
    fn start(dir: &Path) -> TokenServer {
        let key = dir.join("key.pem");
        let cert = dir.join("cert.pem");
        let ok = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=berth-token",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(Stdio::null())
            .status()
            .expect("openssl")
            .success();
        assert!(ok, "openssl req failed");
        let der = Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&cert)
            .output()
            .expect("openssl x509")
            .stdout;
        let x5c = base64::engine::general_purpose::STANDARD.encode(der);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let requests: TokenLog = Arc::default();
        let (stop2, reqs2) = (stop.clone(), requests.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                let Some(req) = read_request(&mut stream) else {
                    continue;
                };
                let (path, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
                if path != "/token" {
                    respond(&mut stream, "404 Not Found", &[], b"");
                    continue;
                }
                let pairs = if req.method == "POST" {
                    form_pairs(&String::from_utf8_lossy(&req.body))
                } else {
                    form_pairs(query)
                };
                let scopes: Vec<String> = pairs
                    .iter()
                    .filter(|(k, _)| k == "scope")
                    .flat_map(|(_, v)| v.split(' ').map(str::to_string).collect::<Vec<_>>())
                    .filter(|s| !s.is_empty())
                    .collect();
                reqs2
                    .lock()
                    .expect("lock")
                    .push((req.method.clone(), scopes.clone()));
                let user = if req.method == "POST" {
                    let ok = pairs
                        .iter()
                        .any(|(k, v)| k == "grant_type" && v == "refresh_token")
                        && pairs
                            .iter()
                            .any(|(k, v)| k == "refresh_token" && v == REFRESH);
                    if ok {
                        Some(USER.to_string())
                    } else {
                        respond(
                            &mut stream,
                            "401 Unauthorized",
                            &[],
                            br#"{"error":"invalid_grant"}"#,
                        );
                        continue;
                    }
                } else if let Some(auth) = req.header("authorization") {
                    let want = format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASS}"))
                    );
                    if auth != want {
                        respond(
                            &mut stream,
                            "401 Unauthorized",
                            &[],
                            br#"{"details":"bad credentials"}"#,
                        );
                        continue;
                    }
                    Some(USER.to_string())
                } else {
                    None
                };
                let access: Vec<serde_json::Value> = scopes
                    .iter()
                    .filter_map(|s| {
                        let mut p = s.splitn(3, ':');
                        let (t, name, actions) = (p.next()?, p.next()?, p.next()?);
                        let actions: Vec<&str> = actions
                            .split(',')
                            .filter(|a| user.is_some() || *a == "pull")
                            .collect();
                        Some(serde_json::json!({"type": t, "name": name, "actions": actions}))
                    })
                    .collect();
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .expect("time")
                    .as_secs();
                let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5c": [x5c]});
                let claims = serde_json::json!({
                    "iss": "berth-test-issuer", "sub": user.clone().unwrap_or_default(), "aud": "berth-test",
                    "exp": now + 600, "nbf": now - 60, "iat": now, "jti": format!("{now}-{}", rand_id()),
                    "access": access,
                });
                let signing = format!(
                    "{}.{}",
                    b64url(header.to_string().as_bytes()),
                    b64url(claims.to_string().as_bytes())
                );
                let mut child = Command::new("openssl")
                    .args(["dgst", "-sha256", "-sign"])
                    .arg(&key)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .expect("openssl dgst");
                child
                    .stdin
                    .take()
                    .expect("stdin")
                    .write_all(signing.as_bytes())
                    .expect("sign input");
                let sig = child.wait_with_output().expect("sign").stdout;
                let jwt = format!("{signing}.{}", b64url(&sig));
                let body =
                    serde_json::json!({"token": jwt, "access_token": jwt, "expires_in": 600})
                        .to_string();
                respond(
                    &mut stream,
                    "200 OK",
                    &[("Content-Type", "application/json".into())],
                    body.as_bytes(),
                );
            }
        });
        TokenServer {
            addr,
            stop,
            thread: Some(thread),
            requests,
        }
    }
}

fn rand_id() -> usize {
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::SeqCst) + std::process::id() as usize * 1000
}

/// What the fault server does wrong.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Fault {
    /// Serves the layer with one byte flipped.
    CorruptLayer,
    /// Drops the connection halfway through the layer the first `n` times, then honours Range.
    DropLayer(usize),
    /// Manifest over 4 MiB.
    HugeManifest,
    /// Layer with an unknown media type.
    UnknownLayerType,
    /// Schema 1 manifest.
    Schema1,
}

/// A tiny registry serving one image (`x/img:t`) with a fault; one request per connection.
pub struct FaultServer {
    pub addr: String,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub layer_requests: Arc<Mutex<Vec<Option<String>>>>,
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl FaultServer {
    pub fn start(layer: Vec<u8>, fault: Fault) -> FaultServer {
        use sha2::Digest as _;
        let sha = |b: &[u8]| format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)));
        let diff_id = {
            let mut d = flate2::read::GzDecoder::new(layer.as_slice());
            let mut raw = Vec::new();
            d.read_to_end(&mut raw).expect("layer is gzip");
            sha(&raw)
        };
        let config = serde_json::json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).to_string().into_bytes();
        let layer_type = if fault == Fault::UnknownLayerType {
            "application/x-berth-unknown"
        } else {
            "application/vnd.oci.image.layer.v1.tar+gzip"
        };
        let manifest = match fault {
            Fault::Schema1 => br#"{"schemaVersion":1,"name":"x/img","tag":"t","architecture":"amd64","fsLayers":[],"history":[]}"#.to_vec(),
            _ => serde_json::json!({
                "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(&config), "size": config.len()},
                "layers": [{"mediaType": layer_type, "digest": sha(&layer), "size": layer.len()}],
            })
            .to_string()
            .into_bytes(),
        };
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let layer_requests: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
        let (stop2, lr2) = (stop.clone(), layer_requests.clone());
        let (config_d, layer_d) = (sha(&config), sha(&layer));
        let thread = std::thread::spawn(move || {
            let mut drops_left = if let Fault::DropLayer(n) = fault {
                n
            } else {
                0
            };
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut s) = stream else { continue };
                let Some(req) = read_request(&mut s) else {
                    continue;
                };
                let t = req.target.as_str();
                if t == "/v2/" {
                    respond(&mut s, "200 OK", &[], b"{}");
                } else if t.starts_with("/v2/x/img/manifests/") {
                    if fault == Fault::HugeManifest {
                        let big = vec![b' '; 5 << 20];
                        respond(
                            &mut s,
                            "200 OK",
                            &[(
                                "Content-Type",
                                "application/vnd.oci.image.manifest.v1+json".into(),
                            )],
                            &big,
                        );
                    } else {
                        let ct = if fault == Fault::Schema1 {
                            "application/vnd.docker.distribution.manifest.v1+prettyjws"
                        } else {
                            "application/vnd.oci.image.manifest.v1+json"
                        };
                        respond(&mut s, "200 OK", &[("Content-Type", ct.into())], &manifest);
                    }
                } else if t == format!("/v2/x/img/blobs/{config_d}") {
                    respond(&mut s, "200 OK", &[], &config);
                } else if t == format!("/v2/x/img/blobs/{layer_d}") {
                    let range = req.header("range").map(str::to_string);
                    lr2.lock().expect("lock").push(range.clone());
                    let mut body = layer.clone();
                    if fault == Fault::CorruptLayer {
                        let mid = body.len() / 2;
                        body[mid] ^= 0xff;
                    }
                    let start: usize = range
                        .as_deref()
                        .and_then(|r| r.strip_prefix("bytes="))
                        .and_then(|r| r.trim_end_matches('-').parse().ok())
                        .unwrap_or(0);
                    if drops_left > 0 {
                        drops_left -= 1;
                        let half = &body[start..start + (body.len() - start) / 2];
                        let head = format!(
                            "HTTP/1.1 {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            if start > 0 {
                                "206 Partial Content"
                            } else {
                                "200 OK"
                            },
                            body.len() - start
                        );
                        let _ = s.write_all(head.as_bytes());
                        let _ = s.write_all(half);
                        let _ = s.flush();
                        drop(s);
                        continue;
                    }
                    if start > 0 {
                        let len = body.len();
                        respond(
                            &mut s,
                            "206 Partial Content",
                            &[("Content-Range", format!("bytes {start}-{}/{len}", len - 1))],
                            &body[start..],
                        );
                    } else {
                        respond(&mut s, "200 OK", &[], &body);
                    }
                } else {
                    respond(&mut s, "404 Not Found", &[], b"");
                }
            }
        });
        FaultServer {
            addr,
            stop,
            thread: Some(thread),
            layer_requests,
        }
    }
}

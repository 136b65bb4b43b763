//! Image fixtures made byte by byte, for tests that need what normal tools refuse to make:
//! tars with hostile entries (`../x`), docker-archives around them, and a registry that
//! stalls in the middle of a blob so a test can kill the daemon mid-pull deterministically.

use serde_json::json;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A ustar archive of regular files, with names written as given (`../x` included).
pub fn tar_bytes(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, data) in files {
        assert!(name.len() < 100, "tar_bytes: names up to 99 bytes");
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        let octal = |h: &mut [u8; 512], at: usize, width: usize, v: u64| {
            let s = format!("{v:0w$o}\0", w = width - 1);
            h[at..at + width].copy_from_slice(s.as_bytes());
        };
        octal(&mut h, 100, 8, 0o644);
        octal(&mut h, 108, 8, 0);
        octal(&mut h, 116, 8, 0);
        octal(&mut h, 124, 12, data.len() as u64);
        octal(&mut h, 136, 12, 1_700_000_000);
        h[156] = b'0';
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
        let s = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(s.as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// `sha256:HEX` of `data` (through sha256sum: the tests crate has no hash library).
pub fn sha256(data: &[u8]) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum");
    let mut stdin = child.stdin.take().expect("stdin");
    let data = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().expect("sha256sum output");
    writer.join().expect("writer").expect("write to sha256sum");
    let hex = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("digest")
        .to_string();
    format!("sha256:{hex}")
}

/// `n` bytes from /dev/urandom (incompressible).
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .expect("read /dev/urandom");
    buf
}

/// A one-layer image config for a layer tar.
pub fn config_for(layer: &[u8]) -> Vec<u8> {
    json!({
        "architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [sha256(layer)]}
    })
    .to_string()
    .into_bytes()
}

/// A docker-archive (`docker save`'s legacy layout) naming `repo_tag`, with one layer tar.
pub fn docker_archive(out: &Path, repo_tag: &str, layer: &[u8]) {
    let manifest =
        json!([{"Config": "config.json", "RepoTags": [repo_tag], "Layers": ["layer.tar"]}])
            .to_string();
    let config = config_for(layer);
    let tar = tar_bytes(&[
        ("manifest.json", manifest.as_bytes()),
        ("config.json", &config),
        ("layer.tar", layer),
    ]);
    std::fs::write(out, tar).expect("write archive");
}

/// A registry on 127.0.0.1 serving one image (`stall/img:1`, one uncompressed layer) whose
/// layer download stops halfway and hangs while [`StallingRegistry::stall`] is set, so a test
/// can kill a daemon while the pull is certainly under way. One request per connection.
pub struct StallingRegistry {
    pub addr: String,
    stall: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StallingRegistry {
    pub fn start(layer: Vec<u8>) -> StallingRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr").to_string();
        let config = config_for(&layer);
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": sha256(&config), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": sha256(&layer), "size": layer.len()}]
        })
        .to_string()
        .into_bytes();
        let blobs = Arc::new(vec![
            (sha256(&config), config),
            (sha256(&layer), layer),
            (sha256(&manifest), manifest),
        ]);
        let stall = Arc::new(AtomicBool::new(true));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (stall.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !sp.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((s, _)) => {
                        let (blobs, st, sp) = (blobs.clone(), st.clone(), sp.clone());
                        std::thread::spawn(move || serve(s, &blobs, &st, &sp));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        StallingRegistry {
            addr,
            stall,
            stop,
            thread: Some(thread),
        }
    }

    /// Lets (or stops letting) layer downloads finish.
    pub fn set_stall(&self, on: bool) {
        self.stall.store(on, Ordering::SeqCst);
    }
}

impl Drop for StallingRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(mut s: TcpStream, blobs: &[(String, Vec<u8>)], stall: &AtomicBool, stop: &AtomicBool) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let mut req = Vec::new();
    let mut b = [0u8; 1];
    while !req.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(1) => req.push(b[0]),
            _ => return,
        }
    }
    let req = String::from_utf8_lossy(&req);
    let mut first = req.split_whitespace();
    let (method, path) = (
        first.next().unwrap_or("").to_string(),
        first.next().unwrap_or("").to_string(),
    );
    let head = |s: &mut TcpStream, status: &str, headers: &[(&str, String)]| {
        let mut h = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
        for (k, v) in headers {
            h.push_str(&format!("{k}: {v}\r\n"));
        }
        h.push_str("\r\n");
        s.write_all(h.as_bytes())
    };
    let manifest = &blobs[2];
    let (body, ctype, is_layer) = if path == "/v2/" {
        (b"{}".to_vec(), "application/json", false)
    } else if path.starts_with("/v2/stall/img/manifests/") {
        (
            manifest.1.clone(),
            "application/vnd.oci.image.manifest.v1+json",
            false,
        )
    } else if let Some(d) = path.strip_prefix("/v2/stall/img/blobs/") {
        match blobs.iter().position(|(digest, _)| digest == d) {
            Some(i) => (blobs[i].1.clone(), "application/octet-stream", i == 1),
            None => {
                let _ = head(&mut s, "404 Not Found", &[("Content-Length", "0".into())]);
                return;
            }
        }
    } else {
        let _ = head(&mut s, "404 Not Found", &[("Content-Length", "0".into())]);
        return;
    };
    let mut headers = vec![
        ("Content-Type", ctype.to_string()),
        ("Content-Length", body.len().to_string()),
    ];
    if path.contains("/manifests/") {
        headers.push(("Docker-Content-Digest", manifest.0.clone()));
    }
    if head(&mut s, "200 OK", &headers).is_err() || method == "HEAD" {
        return;
    }
    if !is_layer {
        let _ = s.write_all(&body);
        return;
    }
    let half = body.len() / 2;
    if s.write_all(&body[..half]).is_err() {
        return;
    }
    let _ = s.flush();
    while stall.load(Ordering::SeqCst) && !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = s.write_all(&body[half..]);
}

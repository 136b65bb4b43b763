//! The client configuration directory (`--config`, `DOCKER_CONFIG`, `~/.docker`) and its
//! config.json, shared with the docker CLI: registry credentials under "auths" as base64
//! "user:password", other keys kept as they are.

use anyhow::{Context, Result};
use base64::Engine as _;
use serde_json::{json, Map, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Docker Hub's key in "auths".
pub const DOCKER_HUB: &str = "https://index.docker.io/v1/";

pub fn config_dir(flag: Option<&Path>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os("DOCKER_CONFIG").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".docker")
}

pub fn config_path(dir: &Path) -> PathBuf {
    dir.join("config.json")
}

/// config.json as a JSON object (empty when missing).
pub fn load(dir: &Path) -> Result<Map<String, Value>> {
    let p = config_path(dir);
    match std::fs::read(&p) {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Ok(Map::new()),
        Ok(b) => match serde_json::from_slice::<Value>(&b)
            .with_context(|| format!("loading config file {}", p.display()))?
        {
            Value::Object(m) => Ok(m),
            _ => anyhow::bail!("loading config file {}: not a JSON object", p.display()),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
    }
}

/// Writes config.json atomically (temp file, fsync, rename), mode 0600, tab-indented as docker.
pub fn save(dir: &Path, cfg: &Map<String, Value>) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let p = config_path(dir);
    let tmp = dir.join(format!(".config.json.{}", std::process::id()));
    let mut text = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut text, fmt);
    serde::Serialize::serialize(&Value::Object(cfg.clone()), &mut ser)?;
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&text)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &p)
    };
    write()
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
        .with_context(|| format!("saving {}", p.display()))
}

/// A default format the user keeps in config.json (`psFormat`, `imagesFormat`, `statsFormat`).
pub fn format_setting(dir: &Path, key: &str) -> Option<String> {
    load(dir)
        .ok()?
        .get(key)?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(String::from)
}

/// The format a listing verb prints with: `-q` alone asks for ids only, then `--format`, then
/// the verb's setting in config.json (`psFormat`, `imagesFormat`); None means the default table.
pub fn chosen_format(dir: &Path, setting: &str, quiet: bool, flag: Option<&str>) -> Option<String> {
    if quiet && flag.is_none() {
        Some("{{.ID}}".to_string())
    } else {
        flag.map(String::from)
            .or_else(|| format_setting(dir, setting))
    }
}

/// The "auths" key for a registry named by the user: scheme and path dropped; Docker Hub's
/// names map to its historical URL.
pub fn server_key(server: &str) -> String {
    let s = server
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = s.split('/').next().unwrap_or(s);
    match host {
        "" | "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_string(),
        h => h.to_string(),
    }
}

/// The registry of an image reference: its first component when that looks like a host.
pub fn registry_of(image: &str) -> String {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            server_key(first)
        }
        _ => DOCKER_HUB.to_string(),
    }
}

/// (user, password) stored for a registry.
pub fn credentials(dir: &Path, server: &str) -> Option<(String, String)> {
    let cfg = load(dir).ok()?;
    let auths = cfg.get("auths")?.as_object()?;
    let key = server_key(server);
    let entry = auths.get(&key).or_else(|| {
        auths
            .iter()
            .find(|(k, _)| server_key(k) == key)
            .map(|(_, v)| v)
    })?;
    let b = base64::engine::general_purpose::STANDARD
        .decode(entry.get("auth")?.as_str()?)
        .ok()?;
    let s = String::from_utf8(b).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

pub fn store_credentials(dir: &Path, server: &str, user: &str, pass: &str) -> Result<()> {
    let mut cfg = load(dir)?;
    let auths = cfg
        .entry("auths")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .context("config.json: \"auths\" is not an object")?;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    auths.insert(server_key(server), json!({ "auth": auth }));
    save(dir, &cfg)
}

/// Removes a registry's credentials; false when there were none.
pub fn remove_credentials(dir: &Path, server: &str) -> Result<bool> {
    let mut cfg = load(dir)?;
    let key = server_key(server);
    let removed = cfg
        .get_mut("auths")
        .and_then(Value::as_object_mut)
        .map(|a| {
            let keys: Vec<String> = a.keys().filter(|k| server_key(k) == key).cloned().collect();
            for k in &keys {
                a.remove(k);
            }
            !keys.is_empty()
        })
        .unwrap_or(false);
    if removed {
        save(dir, &cfg)?;
    }
    Ok(removed)
}

/// The `X-Registry-Auth` header for pulling or pushing `image`: base64url JSON, "{}" when
/// there are no credentials (what docker sends).
pub fn registry_auth_header(dir: &Path, image: &str) -> String {
    let server = registry_of(image);
    let v = match credentials(dir, &server) {
        Some((u, p)) => json!({"username": u, "password": p, "serveraddress": server}),
        None => json!({}),
    };
    base64::engine::general_purpose::URL_SAFE.encode(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_of_references() {
        assert_eq!(registry_of("busybox"), DOCKER_HUB);
        assert_eq!(registry_of("library/busybox:1"), DOCKER_HUB);
        assert_eq!(registry_of("127.0.0.1:5000/a/b:1"), "127.0.0.1:5000");
        assert_eq!(registry_of("localhost/x"), "localhost");
        assert_eq!(server_key("http://127.0.0.1:5000/v2/"), "127.0.0.1:5000");
    }

    #[test]
    fn credentials_round_trip_and_keep_other_keys() {
        let dir = std::env::temp_dir().join(format!("berth-cfg-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(config_path(&dir), r#"{"psFormat": "x"}"#).expect("write");
        store_credentials(&dir, "127.0.0.1:5000", "u", "p:w").expect("store");
        assert_eq!(
            credentials(&dir, "127.0.0.1:5000"),
            Some(("u".into(), "p:w".into()))
        );
        let cfg = load(&dir).expect("load");
        assert_eq!(cfg["psFormat"], "x");
        assert_eq!(cfg["auths"]["127.0.0.1:5000"]["auth"], "dTpwOnc=");
        assert!(remove_credentials(&dir, "127.0.0.1:5000").expect("remove"));
        assert_eq!(credentials(&dir, "127.0.0.1:5000"), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! Credentials: explicit ones, then `~/.docker/config.json` (`credHelpers`, `credsStore`,
//! `auths`), the same order Docker uses. Helpers are `docker-credential-NAME get` programs.

use crate::error::{Error, Result};
use base64::Engine as _;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A credential for one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// Username and password (Basic auth, or the token endpoint's GET with Basic).
    Basic { username: String, password: String },
    /// An OAuth2 refresh token (Docker's `identitytoken`), exchanged by POST.
    IdentityToken(String),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Credential::IdentityToken(_) => f.write_str("IdentityToken(***)"),
        }
    }
}

#[derive(Debug, Default, serde::Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(rename = "credsStore", default)]
    creds_store: Option<String>,
    #[serde(rename = "credHelpers", default)]
    cred_helpers: HashMap<String, String>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(rename = "identitytoken", default)]
    identity_token: Option<String>,
}

/// Where credentials come from.
#[derive(Debug, Default, Clone)]
pub struct Credentials {
    explicit: HashMap<String, Credential>,
    config_path: Option<PathBuf>,
    helper_dir: Option<PathBuf>,
}

impl Credentials {
    /// No credentials at all (anonymous).
    pub fn none() -> Credentials {
        Credentials::default()
    }

    /// Docker's config: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
    pub fn from_docker_config() -> Credentials {
        let path = std::env::var_os("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))
            .map(|d| d.join("config.json"));
        Credentials {
            config_path: path,
            ..Default::default()
        }
    }

    /// A given config.json file.
    pub fn from_config_file(path: impl Into<PathBuf>) -> Credentials {
        Credentials {
            config_path: Some(path.into()),
            ..Default::default()
        }
    }

    /// Looks for `docker-credential-*` helpers in `dir` instead of `PATH`.
    pub fn with_helper_dir(mut self, dir: impl Into<PathBuf>) -> Credentials {
        self.helper_dir = Some(dir.into());
        self
    }

    /// Adds an explicit credential for `registry` (takes precedence).
    pub fn with(mut self, registry: &str, cred: Credential) -> Credentials {
        self.explicit.insert(registry.to_string(), cred);
        self
    }

    /// The credential for `registry`, if any.
    pub fn lookup(&self, registry: &str) -> Result<Option<Credential>> {
        if let Some(c) = self.explicit.get(registry) {
            return Ok(Some(c.clone()));
        }
        let Some(path) = &self.config_path else {
            return Ok(None);
        };
        let cfg: DockerConfig = match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| Error::Config {
                what: path.display().to_string(),
                reason: e.to_string(),
            })?,
            Err(_) => return Ok(None),
        };
        let keys = config_keys(registry);
        for k in &keys {
            if let Some(helper) = cfg.cred_helpers.get(k) {
                return run_helper(self.helper_dir.as_deref(), helper, k);
            }
        }
        for k in &keys {
            if let Some(e) = cfg.auths.get(k) {
                return decode_entry(e, path, k);
            }
        }
        if let Some(store) = &cfg.creds_store {
            return run_helper(self.helper_dir.as_deref(), store, &keys[0]);
        }
        Ok(None)
    }
}

/// The keys under which Docker stores a registry's credentials.
fn config_keys(registry: &str) -> Vec<String> {
    if registry == crate::reference::DOCKER_HUB {
        return vec![
            "https://index.docker.io/v1/".into(),
            "index.docker.io".into(),
            "docker.io".into(),
        ];
    }
    vec![
        registry.into(),
        format!("https://{registry}"),
        format!("http://{registry}"),
        format!("https://{registry}/v1/"),
    ]
}

fn decode_entry(e: &AuthEntry, path: &Path, key: &str) -> Result<Option<Credential>> {
    if let Some(t) = e.identity_token.as_ref().filter(|t| !t.is_empty()) {
        return Ok(Some(Credential::IdentityToken(t.clone())));
    }
    if let (Some(u), Some(p)) = (&e.username, &e.password) {
        return Ok(Some(Credential::Basic {
            username: u.clone(),
            password: p.clone(),
        }));
    }
    let Some(auth) = e.auth.as_ref().filter(|a| !a.is_empty()) else {
        return Ok(None);
    };
    let bad = |reason: &str| Error::Config {
        what: format!("{} auths[{key:?}].auth", path.display()),
        reason: reason.into(),
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .map_err(|_| bad("not base64"))?;
    let s = String::from_utf8(raw).map_err(|_| bad("not UTF-8"))?;
    let (u, p) = s
        .split_once(':')
        .ok_or_else(|| bad("expected base64 of user:password"))?;
    Ok(Some(Credential::Basic {
        username: u.into(),
        password: p.into(),
    }))
}

#[derive(serde::Deserialize)]
struct HelperOutput {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

fn run_helper(dir: Option<&Path>, helper: &str, server: &str) -> Result<Option<Credential>> {
    let program = format!("docker-credential-{helper}");
    let exe = dir.map_or_else(|| PathBuf::from(&program), |d| d.join(&program));
    let fail = |reason: String| Error::Config {
        what: format!("credential helper {program}"),
        reason,
    };
    let mut child = Command::new(&exe)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(server.as_bytes())
            .map_err(|e| fail(e.to_string()))?;
    }
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stdout).trim().to_string();
        // Helpers answer "credentials not found in native keychain" for unknown servers.
        if msg.contains("not found") {
            return Ok(None);
        }
        return Err(fail(format!("exit {}: {msg}", out.status)));
    }
    let h: HelperOutput =
        serde_json::from_slice(&out.stdout).map_err(|e| fail(format!("bad output: {e}")))?;
    Ok(Some(if h.username == "<token>" {
        Credential::IdentityToken(h.secret)
    } else {
        Credential::Basic {
            username: h.username,
            password: h.secret,
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_auths_and_helpers() {
        let t = tempfile::tempdir().expect("tempdir");
        let helper = t.path().join("docker-credential-berthtest");
        std::fs::write(
            &helper,
            "#!/bin/sh\nread s\nif [ \"$s\" = helped.example ]; then echo '{\"Username\":\"<token>\",\"Secret\":\"refresh\"}'; else echo 'credentials not found in native keychain'; exit 1; fi\n",
        )
        .expect("helper");
        std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        let cfg = t.path().join("config.json");
        std::fs::write(
            &cfg,
            r#"{"auths":{"127.0.0.1:5000":{"auth":"dXNlcjpwYXNz"},"https://index.docker.io/v1/":{"identitytoken":"tok"},"bad:1":{"auth":"!!"}},
                "credHelpers":{"helped.example":"berthtest","nohelper.example":"absent"}}"#,
        )
        .expect("config");
        let creds = Credentials::from_config_file(&cfg).with_helper_dir(t.path());
        assert_eq!(
            creds.lookup("127.0.0.1:5000").expect("lookup"),
            Some(Credential::Basic {
                username: "user".into(),
                password: "pass".into()
            })
        );
        assert_eq!(
            creds.lookup("docker.io").expect("lookup"),
            Some(Credential::IdentityToken("tok".into()))
        );
        assert_eq!(creds.lookup("other:1").expect("lookup"), None);
        assert_eq!(
            creds.lookup("helped.example").expect("helper"),
            Some(Credential::IdentityToken("refresh".into()))
        );
        let e = creds
            .lookup("nohelper.example")
            .expect_err("missing helper");
        assert!(e.to_string().contains("docker-credential-absent"), "{e}");
        let e = creds.lookup("bad:1").expect_err("bad base64");
        assert!(e.to_string().contains("auths[\"bad:1\"].auth"), "{e}");
        let explicit = Credentials::none().with("r:1", Credential::IdentityToken("x".into()));
        assert_eq!(
            explicit.lookup("r:1").expect("lookup"),
            Some(Credential::IdentityToken("x".into()))
        );
    }
}

//! `WWW-Authenticate` challenges and token requests (Docker token auth and OAuth2 refresh).

use super::credentials::Credential;
use crate::error::{Error, Result};
use base64::Engine as _;

/// A parsed authentication challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` value such as
/// `Bearer realm="https://auth/token",service="registry",scope="repository:a:pull,push"`.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header
        .split_once(char::is_whitespace)
        .unwrap_or((header, ""));
    let params = parse_params(rest);
    let get = |k: &str| {
        params
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    if scheme.eq_ignore_ascii_case("basic") {
        Some(Challenge::Basic)
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Some(Challenge::Bearer {
            realm: get("realm")?,
            service: get("service"),
        })
    } else {
        None
    }
}

/// `k="v", k2=v2` with commas allowed inside quotes.
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String =
            std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
        if key.is_empty() {
            break;
        }
        if chars.next() != Some('=') {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect();
        }
        out.push((key.trim().to_string(), value.trim().to_string()));
    }
    out
}

/// `Authorization: Basic ...` for a username/password credential.
pub fn basic_header(cred: &Credential, registry: &str) -> Result<String> {
    match cred {
        Credential::Basic { username, password } => Ok(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
        )),
        Credential::IdentityToken(_) => Err(Error::Auth {
            registry: registry.into(),
            reason: "the registry wants Basic auth but only an identity token is configured".into(),
        }),
    }
}

#[derive(serde::Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

/// Gets a bearer token for `scopes` (all in one request): OAuth2 POST with the refresh token
/// for identity tokens, otherwise GET (with Basic when we have a password).
pub async fn fetch_token(
    http: &reqwest::Client,
    registry: &str,
    realm: &str,
    service: Option<&str>,
    scopes: &[String],
    cred: Option<&Credential>,
) -> Result<String> {
    let url = reqwest::Url::parse(realm).map_err(|e| Error::Auth {
        registry: registry.into(),
        reason: format!("bad token realm {realm:?}: {e}"),
    })?;
    let req = match cred {
        Some(Credential::IdentityToken(refresh)) => {
            let mut form: Vec<(&str, String)> = vec![
                ("grant_type", "refresh_token".into()),
                ("refresh_token", refresh.clone()),
                ("client_id", "berth".into()),
                ("scope", scopes.join(" ")),
            ];
            if let Some(s) = service {
                form.push(("service", s.into()));
            }
            http.post(url.clone()).form(&form)
        }
        _ => {
            let mut u = url.clone();
            {
                let mut q = u.query_pairs_mut();
                if let Some(s) = service {
                    q.append_pair("service", s);
                }
                for s in scopes {
                    q.append_pair("scope", s);
                }
            }
            let mut r = http.get(u);
            if let Some(c @ Credential::Basic { .. }) = cred {
                r = r.header(reqwest::header::AUTHORIZATION, basic_header(c, registry)?);
            }
            r
        }
    };
    let resp = req.send().await.map_err(|source| Error::Http {
        url: realm.into(),
        source,
    })?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        return Err(Error::Auth {
            registry: registry.into(),
            reason: format!(
                "token server {realm} answered HTTP {} ({}): {}",
                status.as_u16(),
                if cred.is_some() {
                    "credentials rejected"
                } else {
                    "anonymous access refused"
                },
                body.chars().take(300).collect::<String>()
            ),
        });
    }
    let body = resp.bytes().await.map_err(|source| Error::Http {
        url: realm.into(),
        source,
    })?;
    let t: TokenResponse = serde_json::from_slice(&body).map_err(|e| Error::Auth {
        registry: registry.into(),
        reason: format!("token server {realm} sent an unreadable answer: {e}"),
    })?;
    t.token
        .or(t.access_token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Error::Auth {
            registry: registry.into(),
            reason: format!("token server {realm} returned no token"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="http://127.0.0.1:1/token",service="reg",scope="repository:a/b:pull,push""#
            ),
            Some(Challenge::Bearer {
                realm: "http://127.0.0.1:1/token".into(),
                service: Some("reg".into())
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(parse_challenge("Bearer service=x"), None);
    }
}

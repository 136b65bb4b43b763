//! Registry HTTP API v2 client on reqwest.
//!
//! Our own client rather than oci-client: pulls must stream each blob straight into the content
//! store's resumable ingest (Range resume after a dropped connection, digest and size checked on
//! commit) while the unpacker follows the same bytes, pushes must follow the newest `Location`
//! of every chunked PATCH and avoid registry quirks (a monolithic `POST ?digest=` that answers
//! 202 yet stores nothing), and credentials come from Docker's config and helpers; oci-client
//! buffers or hides each of these.

mod auth;
pub mod credentials;

pub use auth::{parse_challenge, Challenge};
pub use credentials::{Credential, Credentials};

use crate::content::Writer;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::MAX_MANIFEST_BYTES;
use crate::media;
use crate::reference::{Reference, RegistryConfig};
use futures_util::StreamExt;
use reqwest::header::{
    HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, RANGE,
    WWW_AUTHENTICATE,
};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Accept header for manifests: every type we read (registries answer 404 for an OCI manifest
/// when its type is missing here), plus schema 1 so we can refuse it by name.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json;q=0.9, application/vnd.docker.distribution.manifest.v1+prettyjws;q=0.1";

/// Retries of one blob download after transport errors (each resumes where the last stopped).
const BLOB_RETRIES: u32 = 5;

#[derive(Debug, Default)]
struct RegistryState {
    base: Option<String>,
    challenge: Option<Challenge>,
    /// Bearer tokens by space-joined scope list.
    tokens: HashMap<String, String>,
}

/// A registry client shared by all pulls and pushes (connection pool, tokens, endpoints).
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    config: RegistryConfig,
    creds: Credentials,
    state: Arc<Mutex<HashMap<String, RegistryState>>>,
}

impl Client {
    /// A client with this registry configuration and credential source.
    pub fn new(config: RegistryConfig, creds: Credentials) -> Result<Client> {
        config.validate()?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .read_timeout(Duration::from_secs(60))
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| Error::Http {
                url: "(client setup)".into(),
                source,
            })?;
        Ok(Client {
            http,
            config,
            creds,
            state: Arc::default(),
        })
    }

    /// The registry configuration.
    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// A handle on `reference`'s repository for pulling (`push == false`) or pushing.
    pub async fn repository(&self, reference: &Reference, push: bool) -> Result<Repository> {
        let registry = reference.registry().to_string();
        let cached = self
            .state
            .lock()
            .expect("state lock")
            .get(&registry)
            .and_then(|s| s.base.clone());
        let base = match cached {
            Some(b) => b,
            None => self.ping(&registry, push).await?,
        };
        let actions = if push { "pull,push" } else { "pull" };
        Ok(Repository {
            client: self.clone(),
            registry,
            repository: reference.repository().to_string(),
            base: Url::parse(&base).map_err(|e| Error::Config {
                what: format!("endpoint {base}"),
                reason: e.to_string(),
            })?,
            scopes: Arc::new(Mutex::new(vec![format!(
                "repository:{}:{actions}",
                reference.repository()
            )])),
        })
    }

    /// Checks this client's credentials for `registry` (`docker login`): `GET /v2/` with Basic
    /// auth, or a token from the registry's token server. A refusal is [`Error::Auth`] whose
    /// reason is Docker's (`login attempt to URL failed with status: 401 Unauthorized`).
    pub async fn login(&self, registry: &str) -> Result<()> {
        let endpoints = self.config.push_endpoints(registry);
        let mut last_err = None;
        for ep in endpoints {
            let url = format!("{}/v2/", ep.base);
            let resp = match self.http.get(&url).send().await {
                Ok(r) => r,
                Err(source) => {
                    last_err = Some(Error::Http { url, source });
                    continue;
                }
            };
            if resp.status().is_success() {
                return Ok(());
            }
            let challenge = resp
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_challenge);
            let cred = self.creds.lookup(registry)?;
            let refused = |status: StatusCode| Error::Auth {
                registry: registry.to_string(),
                reason: format!(
                    "login attempt to {url} failed with status: {} {}",
                    status.as_u16(),
                    status.canonical_reason().unwrap_or("")
                ),
            };
            return match (challenge, cred) {
                (Some(Challenge::Basic), Some(c)) => {
                    let r = self
                        .http
                        .get(&url)
                        .header(AUTHORIZATION, auth::basic_header(&c, registry)?)
                        .send()
                        .await
                        .map_err(|source| Error::Http {
                            url: url.clone(),
                            source,
                        })?;
                    if r.status().is_success() {
                        Ok(())
                    } else {
                        Err(refused(r.status()))
                    }
                }
                (Some(Challenge::Bearer { realm, service }), Some(c)) => auth::fetch_token(
                    &self.http,
                    registry,
                    &realm,
                    service.as_deref(),
                    &[],
                    Some(&c),
                )
                .await
                .map(|_| ()),
                _ => Err(refused(resp.status())),
            };
        }
        Err(last_err.unwrap_or_else(|| Error::Config {
            what: format!("registry {registry}"),
            reason: "no endpoint".into(),
        }))
    }

    /// Finds the first endpoint that answers `/v2/` and remembers its auth challenge.
    async fn ping(&self, registry: &str, push: bool) -> Result<String> {
        let endpoints = if push {
            self.config.push_endpoints(registry)
        } else {
            self.config.pull_endpoints(registry)
        };
        let mut last_err = None;
        for ep in endpoints {
            let url = format!("{}/v2/", ep.base);
            match self.http.get(&url).send().await {
                Ok(resp) => {
                    let challenge = resp
                        .headers()
                        .get(WWW_AUTHENTICATE)
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_challenge);
                    let mut st = self.state.lock().expect("state lock");
                    let s = st.entry(registry.to_string()).or_default();
                    s.base = Some(ep.base.clone());
                    s.challenge = challenge;
                    return Ok(ep.base);
                }
                Err(source) => last_err = Some(Error::Http { url, source }),
            }
        }
        Err(last_err.unwrap_or_else(|| Error::Config {
            what: format!("registry {registry}"),
            reason: "no endpoint".into(),
        }))
    }
}

/// One repository on one registry endpoint.
#[derive(Debug, Clone)]
pub struct Repository {
    client: Client,
    registry: String,
    repository: String,
    base: Url,
    scopes: Arc<Mutex<Vec<String>>>,
}

impl Repository {
    /// `registry` as in the reference (e.g. `127.0.0.1:5000`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    fn url(&self, path: &str) -> Result<Url> {
        self.base
            .join(&format!("/v2/{}/{path}", self.repository))
            .map_err(|e| Error::Config {
                what: format!("URL for {path}"),
                reason: e.to_string(),
            })
    }

    fn scope_key(&self) -> String {
        self.scopes.lock().expect("scope lock").join(" ")
    }

    /// Adds pull access to another repository to the token (cross-repository mounts).
    pub fn add_pull_scope(&self, repository: &str) {
        let s = format!("repository:{repository}:pull");
        let mut scopes = self.scopes.lock().expect("scope lock");
        if !scopes.contains(&s) {
            scopes.push(s);
        }
    }

    fn cached_auth(&self) -> Result<Option<String>> {
        let st = self.client.state.lock().expect("state lock");
        let Some(s) = st.get(&self.registry) else {
            return Ok(None);
        };
        match &s.challenge {
            Some(Challenge::Bearer { .. }) => Ok(s
                .tokens
                .get(&self.scope_key())
                .map(|t| format!("Bearer {t}"))),
            Some(Challenge::Basic) => match self.client.creds.lookup(&self.registry)? {
                Some(c) => Ok(Some(auth::basic_header(&c, &self.registry)?)),
                None => Ok(None),
            },
            None => Ok(None),
        }
    }

    /// Answers a 401: learns the challenge and gets fresh authorization.
    async fn authorize(&self, headers: &HeaderMap) -> Result<String> {
        let challenge = headers
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_challenge)
            .ok_or_else(|| Error::Auth {
                registry: self.registry.clone(),
                reason: "HTTP 401 without a usable WWW-Authenticate challenge".into(),
            })?;
        let cred = self.client.creds.lookup(&self.registry)?;
        let header = match &challenge {
            Challenge::Basic => {
                let cred = cred.as_ref().ok_or_else(|| Error::Auth {
                    registry: self.registry.clone(),
                    reason: "the registry requires credentials and none are configured".into(),
                })?;
                auth::basic_header(cred, &self.registry)?
            }
            Challenge::Bearer { realm, service } => {
                let scopes = self.scopes.lock().expect("scope lock").clone();
                let token = auth::fetch_token(
                    &self.client.http,
                    &self.registry,
                    realm,
                    service.as_deref(),
                    &scopes,
                    cred.as_ref(),
                )
                .await?;
                self.client
                    .state
                    .lock()
                    .expect("state lock")
                    .entry(self.registry.clone())
                    .or_default()
                    .tokens
                    .insert(scopes.join(" "), token.clone());
                format!("Bearer {token}")
            }
        };
        self.client
            .state
            .lock()
            .expect("state lock")
            .entry(self.registry.clone())
            .or_default()
            .challenge = Some(challenge);
        Ok(header)
    }

    /// Sends a request built by `build`, authorizing and retrying once on 401.
    async fn send(&self, build: impl Fn() -> RequestBuilder) -> Result<Response> {
        let mut req = build();
        if let Some(h) = self.cached_auth()? {
            req = req.header(AUTHORIZATION, h);
        }
        let (method, url) = describe(&req);
        let resp = req.send().await.map_err(|source| Error::Http {
            url: url.clone(),
            source,
        })?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let header = self.authorize(resp.headers()).await?;
        let resp = build()
            .header(AUTHORIZATION, header)
            .send()
            .await
            .map_err(|source| Error::Http {
                url: url.clone(),
                source,
            })?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            let body = resp.text().await.unwrap_or_default();
            return Err(Error::Auth {
                registry: self.registry.clone(),
                reason: format!(
                    "{method} {url} still unauthorized after authenticating: {}",
                    body.chars().take(300).collect::<String>()
                ),
            });
        }
        Ok(resp)
    }

    fn http(&self) -> &reqwest::Client {
        &self.client.http
    }

    /// Fetches a manifest or index by tag or digest: (exact bytes, media type, digest).
    pub async fn get_manifest(&self, object: &str) -> Result<(Vec<u8>, String, Digest)> {
        let url = self.url(&format!("manifests/{object}"))?;
        let resp = self
            .send(|| self.http().get(url.clone()).header(ACCEPT, MANIFEST_ACCEPT))
            .await?;
        let resp = check(
            resp,
            "GET",
            &url,
            Some((
                "manifest",
                format!("{}/{}:{object}", self.registry, self.repository),
            )),
        )
        .await?;
        if resp
            .content_length()
            .is_some_and(|l| l > MAX_MANIFEST_BYTES as u64)
        {
            return Err(Error::InvalidDocument {
                what: format!("manifest {url}"),
                reason: format!(
                    "{} bytes is over the {MAX_MANIFEST_BYTES}-byte limit",
                    resp.content_length().unwrap_or(0)
                ),
            });
        }
        let ct = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|c| c.split(';').next().unwrap_or(c).trim().to_string())
            .unwrap_or_default();
        let bytes = read_limited(resp, MAX_MANIFEST_BYTES, &url).await?;
        let digest = match object.parse::<Digest>() {
            Ok(d) => {
                d.verify(&bytes)?;
                d
            }
            Err(_) => Digest::sha256_of(&bytes),
        };
        Ok((bytes, ct, digest))
    }

    /// Size of a blob if the registry has it.
    pub async fn head_blob(&self, digest: &Digest) -> Result<Option<u64>> {
        let url = self.url(&format!("blobs/{digest}"))?;
        let resp = self.send(|| self.http().head(url.clone())).await?;
        match resp.status() {
            s if s.is_success() => Ok(Some(resp.content_length().unwrap_or(0))),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(check(resp, "HEAD", &url, None)
                .await
                .err()
                .unwrap_or_else(|| unexpected("HEAD", &url))),
        }
    }

    /// Reads a small blob (configs) into memory, verified.
    pub async fn get_blob_bytes(&self, digest: &Digest, limit: usize) -> Result<Vec<u8>> {
        let url = self.url(&format!("blobs/{digest}"))?;
        let resp = self.send(|| self.http().get(url.clone())).await?;
        let resp = check(resp, "GET", &url, Some(("blob", digest.to_string()))).await?;
        let bytes = read_limited(resp, limit, &url).await?;
        digest.verify(&bytes)?;
        Ok(bytes)
    }

    /// Streams blob `digest` of `size` bytes into `writer`, resuming with `Range` from the
    /// writer's offset after each dropped connection (up to a few retries), calling `progress`
    /// with the total written after every chunk. The caller commits the writer (which checks
    /// digest and size).
    pub async fn fetch_blob(
        &self,
        digest: &Digest,
        size: u64,
        writer: &mut Writer,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<()> {
        let url = self.url(&format!("blobs/{digest}"))?;
        let mut attempt = 0;
        loop {
            let offset = writer.offset();
            if offset == size && size > 0 {
                return Ok(());
            }
            match self.fetch_once(&url, digest, offset, writer, progress).await {
                Ok(()) => return Ok(()),
                Err(e) if attempt < BLOB_RETRIES && retryable(&e) => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100 << attempt.min(4))).await;
                }
                Err(e) => {
                    return Err(match e {
                        Error::Http { url, source } if attempt >= BLOB_RETRIES => Error::Registry {
                            method: "GET".into(),
                            url,
                            status: 0,
                            body: format!("download of {digest} failed after {attempt} retries at byte {}: {source}", writer.offset()),
                        },
                        e => e,
                    })
                }
            }
        }
    }

    async fn fetch_once(
        &self,
        url: &Url,
        digest: &Digest,
        offset: u64,
        writer: &mut Writer,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<()> {
        let resp = self
            .send(|| {
                let r = self.http().get(url.clone());
                if offset > 0 {
                    r.header(RANGE, format!("bytes={offset}-"))
                } else {
                    r
                }
            })
            .await?;
        let mut skip = 0u64;
        match resp.status() {
            StatusCode::PARTIAL_CONTENT => {}
            StatusCode::OK if offset > 0 => skip = offset, // Range ignored: drop what we have.
            StatusCode::RANGE_NOT_SATISFIABLE => {
                writer.truncate()?;
                return Err(Error::Registry {
                    method: "GET".into(),
                    url: url.to_string(),
                    status: 416,
                    body: "range not satisfiable; restarting".into(),
                });
            }
            _ => {}
        }
        let resp = check(resp, "GET", url, Some(("blob", digest.to_string()))).await?;
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|source| Error::Http {
                url: url.to_string(),
                source,
            })?;
            let mut data = &chunk[..];
            if skip > 0 {
                let n = (skip as usize).min(data.len());
                data = &data[n..];
                skip -= n as u64;
            }
            if !data.is_empty() {
                writer.write_all(data).map_err(|e| Error::Io {
                    op: "write blob",
                    path: writer.data_path().to_path_buf(),
                    source: e,
                })?;
                progress(writer.offset());
            }
        }
        Ok(())
    }

    /// Pushes blob `digest` (`size` bytes read by `read_at`) unless the registry has it:
    /// tries a cross-repository mount from `mount_from` first, then POST + PUT (small blobs) or
    /// POST + chunked PATCHes + PUT, always following the newest `Location`.
    pub async fn push_blob(
        &self,
        digest: &Digest,
        size: u64,
        mut read: impl FnMut(u64, usize) -> Result<Vec<u8>>,
        mount_from: Option<&str>,
        chunk_size: usize,
    ) -> Result<bool> {
        if self.head_blob(digest).await?.is_some() {
            return Ok(false);
        }
        let mut start = self.url("blobs/uploads/")?;
        if let Some(from) = mount_from.filter(|f| *f != self.repository) {
            self.add_pull_scope(from);
            start
                .query_pairs_mut()
                .append_pair("mount", &digest.to_string())
                .append_pair("from", from);
        }
        let resp = self
            .send(|| self.http().post(start.clone()).header(CONTENT_LENGTH, "0"))
            .await?;
        if resp.status() == StatusCode::CREATED {
            return Ok(true); // mounted
        }
        let resp = check(resp, "POST", &start, None).await?;
        let mut location = self.location(&resp, &start)?;
        let mut offset = 0u64;
        if size as usize > chunk_size {
            while offset < size {
                let n = (size - offset).min(chunk_size as u64) as usize;
                let body = read(offset, n)?;
                let end = offset + n as u64 - 1;
                let loc = location.clone();
                let resp = self
                    .send(|| {
                        self.http()
                            .patch(loc.clone())
                            .header(CONTENT_TYPE, "application/octet-stream")
                            .header("Content-Range", format!("{offset}-{end}"))
                            .header(CONTENT_LENGTH, n.to_string())
                            .body(body.clone())
                    })
                    .await?;
                let resp = check(resp, "PATCH", &loc, None).await?;
                location = self.location(&resp, &loc)?;
                offset += n as u64;
            }
        }
        let body = if offset < size {
            read(offset, (size - offset) as usize)?
        } else {
            Vec::new()
        };
        let mut put = location.clone();
        put.query_pairs_mut()
            .append_pair("digest", &digest.to_string());
        let resp = self
            .send(|| {
                self.http()
                    .put(put.clone())
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_LENGTH, body.len().to_string())
                    .body(body.clone())
            })
            .await?;
        check(resp, "PUT", &put, None).await?;
        Ok(true)
    }

    fn location(&self, resp: &Response, base: &Url) -> Result<Url> {
        let loc = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Error::Registry {
                method: "upload".into(),
                url: base.to_string(),
                status: resp.status().as_u16(),
                body: "no Location header".into(),
            })?;
        base.join(loc).map_err(|e| Error::Registry {
            method: "upload".into(),
            url: base.to_string(),
            status: 0,
            body: format!("bad Location {loc:?}: {e}"),
        })
    }

    /// PUTs a manifest's exact bytes under `tag_or_digest` with its media type.
    pub async fn put_manifest(
        &self,
        tag_or_digest: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<Digest> {
        let url = self.url(&format!("manifests/{tag_or_digest}"))?;
        let body = bytes.to_vec();
        let resp = self
            .send(|| {
                self.http()
                    .put(url.clone())
                    .header(CONTENT_TYPE, media_type)
                    .body(body.clone())
            })
            .await?;
        check(resp, "PUT", &url, None).await?;
        Ok(Digest::sha256_of(bytes))
    }

    /// Every tag, following `Link: <...>; rel="next"` pagination (`page` tags per request).
    pub async fn tags(&self, page: usize) -> Result<Vec<String>> {
        #[derive(serde::Deserialize)]
        struct Tags {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let mut url = self.url("tags/list")?;
        url.query_pairs_mut().append_pair("n", &page.to_string());
        let mut out = Vec::new();
        for _ in 0..10_000 {
            let u = url.clone();
            let resp = self.send(|| self.http().get(u.clone())).await?;
            let resp = check(
                resp,
                "GET",
                &u,
                Some((
                    "repository",
                    format!("{}/{}", self.registry, self.repository),
                )),
            )
            .await?;
            let next = resp
                .headers()
                .get(reqwest::header::LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| {
                    l.split_once('<')
                        .and_then(|(_, r)| r.split_once('>'))
                        .map(|(n, _)| n.to_string())
                });
            let t: Tags = serde_json::from_slice(&read_limited(resp, 16 << 20, &u).await?)
                .map_err(|e| Error::InvalidDocument {
                    what: format!("tag list {u}"),
                    reason: e.to_string(),
                })?;
            out.extend(t.tags.unwrap_or_default());
            match next {
                Some(n) => {
                    url = u.join(&n).map_err(|e| Error::InvalidDocument {
                        what: "Link header".into(),
                        reason: e.to_string(),
                    })?
                }
                None => return Ok(out),
            }
        }
        Ok(out)
    }

    /// Deletes a manifest by digest.
    pub async fn delete_manifest(&self, digest: &Digest) -> Result<()> {
        let url = self.url(&format!("manifests/{digest}"))?;
        let resp = self.send(|| self.http().delete(url.clone())).await?;
        check(resp, "DELETE", &url, Some(("manifest", digest.to_string()))).await?;
        Ok(())
    }
}

fn describe(req: &RequestBuilder) -> (Method, String) {
    match req.try_clone().and_then(|r| r.build().ok()) {
        Some(r) => (r.method().clone(), r.url().to_string()),
        None => (Method::GET, "(request)".into()),
    }
}

fn unexpected(method: &str, url: &Url) -> Error {
    Error::Registry {
        method: method.into(),
        url: url.to_string(),
        status: 0,
        body: "unexpected answer".into(),
    }
}

fn retryable(e: &Error) -> bool {
    match e {
        Error::Http { .. } => true,
        Error::Registry { status, .. } => {
            *status >= 500 || *status == 416 || *status == 408 || *status == 429
        }
        _ => false,
    }
}

/// Turns a non-success answer into an error (404 into NotFound when `not_found` says what).
async fn check(
    resp: Response,
    method: &str,
    url: &Url,
    not_found: Option<(&'static str, String)>,
) -> Result<Response> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    if status == StatusCode::NOT_FOUND {
        if let Some((kind, name)) = not_found {
            return Err(Error::NotFound { kind, name });
        }
    }
    let body = resp.text().await.unwrap_or_default();
    Err(Error::Registry {
        method: method.into(),
        url: url.to_string(),
        status: status.as_u16(),
        body: body.chars().take(500).collect(),
    })
}

async fn read_limited(resp: Response, limit: usize, url: &Url) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|source| Error::Http {
            url: url.to_string(),
            source,
        })?;
        if out.len() + chunk.len() > limit {
            return Err(Error::InvalidDocument {
                what: url.to_string(),
                reason: format!("over the {limit}-byte limit"),
            });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// True when the media type is a manifest or index this client can use.
pub fn is_supported_manifest(mt: &str) -> bool {
    media::is_manifest(mt) || media::is_index(mt)
}

//! /images routes, `POST /auth` and `GET /distribution/{name}/json`.
//!
//! Image names may contain slashes (`localhost:5000/a/b:tag`), so everything under
//! `/images/` that is not one of the fixed paths goes through one wildcard route and is split
//! on its last suffix (`/json`, `/history`, `/push`, `/tag`, `/get`; DELETE takes the whole).
//!
//! Long operations (pull, push, load, import) answer with a stream of JSON messages, one per
//! line; an error before the first message is an ordinary HTTP error (dockerd's rule, so
//! `docker pull nosuch` prints `Error response from daemon: ...`), a later one is an
//! `errorDetail` message in the stream.

use super::{filters, qbool, Query};
use crate::error::{ApiError, ApiResult};
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use berth_engine::images::progress;
use berth_engine::images::{ProgressTx, RegistryAuth, TmpFile};
use berth_engine::Engine;
use futures_util::StreamExt;
use std::convert::Infallible;
use std::future::Future;
use tokio::io::AsyncWriteExt;

pub fn routes() -> Router<Engine> {
    Router::new()
        .route("/images/create", post(create))
        .route("/images/json", get(list))
        .route("/images/get", get(save_many))
        .route("/images/load", post(load))
        .route("/images/prune", post(prune))
        .route(
            "/images/{*rest}",
            get(by_name_get).post(by_name_post).delete(remove),
        )
        .route("/auth", post(auth))
}

/// The query as a list of pairs: `names` and `changes` repeat.
type PairQuery = axum::extract::Query<Vec<(String, String)>>;

fn first<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// `X-Registry-Auth`: base64url JSON `AuthConfig` (docker CLI pads, some clients do not).
fn registry_auth(headers: &HeaderMap) -> ApiResult<Option<RegistryAuth>> {
    let Some(raw) = headers
        .get("X-Registry-Auth")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
    else {
        return Ok(None);
    };
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let bytes = URL_SAFE
        .decode(raw)
        .or_else(|_| URL_SAFE_NO_PAD.decode(raw))
        .or_else(|_| STANDARD.decode(raw))
        .or_else(|_| STANDARD_NO_PAD.decode(raw))
        .map_err(|_| ApiError::bad_request("X-Registry-Auth: invalid base64"))?;
    let mut a: RegistryAuth = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("X-Registry-Auth: invalid JSON: {e}")))?;
    fill_from_auth_field(&mut a);
    Ok(Some(a))
}

/// `auth` is base64 `user:pass` (what config.json stores); use it when no username is given.
fn fill_from_auth_field(a: &mut RegistryAuth) {
    if a.username.is_empty() && !a.auth.is_empty() {
        if let Ok(b) = base64::engine::general_purpose::STANDARD.decode(a.auth.trim()) {
            if let Some((u, p)) = String::from_utf8_lossy(&b).split_once(':') {
                a.username = u.to_string();
                a.password = p.to_string();
            }
        }
    }
}

fn json_line(v: &serde_json::Value) -> Bytes {
    let mut b = serde_json::to_vec(v).expect("JSON values always serialize");
    b.push(b'\n');
    Bytes::from(b)
}

/// Runs a long operation that reports through a progress channel: HTTP error if it fails
/// before its first message, else a 200 JSON stream ending with the error, if any.
async fn progress_response<F, Fut>(engine: Engine, op: F) -> Response
where
    F: FnOnce(Engine, ProgressTx) -> Fut + Send + 'static,
    Fut: Future<Output = berth_engine::Result<()>> + Send + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel::<serde_json::Value>(64);
    // The operation runs to its end even if the client goes away (as a pull in dockerd
    // finishes for the other clients waiting on it).
    let task = tokio::spawn(op(engine, tx));
    let Some(first) = rx.recv().await else {
        return match task.await {
            Ok(Ok(())) => json_stream_response(Body::empty()),
            Ok(Err(e)) => ApiError::from(e).into_response(),
            Err(e) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
            }
        };
    };
    let (out_tx, out_rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        let _ = out_tx.send(json_line(&first)).await;
        while let Some(m) = rx.recv().await {
            let _ = out_tx.send(json_line(&m)).await;
        }
        let err = match task.await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(e) => Some(e.to_string()),
        };
        if let Some(msg) = err {
            let _ = out_tx.send(json_line(&progress::error(&msg))).await;
        }
    });
    json_stream_response(channel_body(out_rx))
}

fn channel_body(rx: tokio::sync::mpsc::Receiver<Bytes>) -> Body {
    Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    }))
}

fn json_stream_response(body: Body) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `POST /images/create`: pull (`fromImage`, `tag`, `platform`) or import (`fromSrc=-`).
async fn create(
    State(engine): State<Engine>,
    headers: HeaderMap,
    q: PairQuery,
    body: Body,
) -> Response {
    let q = q.0;
    if let Some(src) = first(&q, "fromSrc") {
        if src != "-" {
            return ApiError::bad_request(format!(
                "fromSrc {src:?} is not supported: send the tar as the request body with fromSrc=-"
            ))
            .into_response();
        }
        return import(engine, &q, body)
            .await
            .unwrap_or_else(IntoResponse::into_response);
    }
    let Some(from_image) = first(&q, "fromImage").filter(|s| !s.is_empty()) else {
        return ApiError::bad_request("fromImage or fromSrc is required").into_response();
    };
    let reference = match berth_engine::images::pull::pull_reference(from_image, first(&q, "tag")) {
        Ok(r) => r,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let auth = match registry_auth(&headers) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let platform = first(&q, "platform").map(str::to_string);
    progress_response(engine, move |engine, tx| async move {
        engine
            .image_pull(&reference, platform.as_deref(), auth.as_ref(), tx)
            .await
    })
    .await
}

/// Writes the request body to an unnamed file of the image store (see [`TmpFile`]).
async fn body_to_file(engine: &Engine, body: Body) -> ApiResult<TmpFile> {
    let tmp = engine.image_tmp_file()?;
    let internal =
        |e: std::io::Error| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    let mut f = tokio::fs::File::from_std(tmp.file().try_clone().map_err(internal)?);
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;
        f.write_all(&chunk).await.map_err(internal)?;
    }
    f.flush().await.map_err(internal)?;
    Ok(tmp)
}

async fn import(engine: Engine, q: &[(String, String)], body: Body) -> ApiResult<Response> {
    let body = body_to_file(&engine, body).await?;
    let changes: Vec<String> = q
        .iter()
        .filter(|(k, _)| k == "changes")
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty())
        .collect();
    let id = engine
        .image_import(
            body,
            first(q, "repo"),
            first(q, "tag"),
            &changes,
            first(q, "platform"),
        )
        .await?;
    Ok(json_stream_response(Body::from(json_line(
        &progress::status(None, &id),
    ))))
}

/// `GET /images/json`.
async fn list(State(engine): State<Engine>, q: Query) -> ApiResult<Response> {
    let mut f = filters(&q)?;
    // API < 1.41 sent `filter=NAME` for a reference filter.
    if let Some(r) = q.get("filter").filter(|s| !s.is_empty()) {
        f.entry("reference".into()).or_default().push(r.clone());
    }
    let _ = qbool(&q, "all", false);
    Ok(Json(engine.image_list(f).await?).into_response())
}

/// `GET /images/get?names=a&names=b`.
async fn save_many(State(engine): State<Engine>, q: PairQuery) -> ApiResult<Response> {
    let names: Vec<String> =
        q.0.iter()
            .filter(|(k, _)| k == "names")
            .flat_map(|(_, v)| v.split(',').map(str::to_string).collect::<Vec<_>>())
            .filter(|v| !v.is_empty())
            .collect();
    save(engine, names).await
}

async fn save(engine: Engine, names: Vec<String>) -> ApiResult<Response> {
    let file = engine.image_save(names).await?;
    let stream = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(file));
    Ok((
        [(header::CONTENT_TYPE, "application/x-tar")],
        Body::from_stream(stream),
    )
        .into_response())
}

/// `POST /images/load`: a tar body; answers `{"stream":"Loaded image: ...\n"}` lines. As in
/// dockerd (postImagesLoad), the answer is always 200: a refused archive ends the stream with
/// an `errorDetail` message, which the docker CLI prints and docker-py raises.
async fn load(State(engine): State<Engine>, q: Query, body: Body) -> Response {
    let _quiet = qbool(&q, "quiet", false);
    let loaded = match body_to_file(&engine, body).await {
        Ok(body) => engine.image_load(body).await.map_err(ApiError::from),
        Err(e) => Err(e),
    };
    let mut out = Vec::new();
    match loaded {
        Ok(lines) => {
            for l in lines {
                out.extend_from_slice(&json_line(&progress::stream(&format!("{l}\n"))));
            }
        }
        Err(e) => out.extend_from_slice(&json_line(&progress::error(&e.message))),
    }
    json_stream_response(Body::from(out))
}

/// `POST /images/prune`.
async fn prune(State(engine): State<Engine>, q: Query) -> ApiResult<Response> {
    Ok(Json(engine.image_prune(filters(&q)?).await?).into_response())
}

/// Splits `NAME/suffix` when the suffix is one of `suffixes`.
fn split_suffix<'a>(rest: &'a str, suffixes: &[&'a str]) -> Option<(&'a str, &'a str)> {
    suffixes.iter().find_map(|s| {
        rest.strip_suffix(s)
            .and_then(|n| n.strip_suffix('/'))
            .filter(|n| !n.is_empty())
            .map(|n| (n, *s))
    })
}

/// `GET /images/{name}/json`, `/history`, `/get`.
async fn by_name_get(
    State(engine): State<Engine>,
    Path(rest): Path<String>,
) -> ApiResult<Response> {
    match split_suffix(&rest, &["json", "history", "get"]) {
        Some((name, "json")) => Ok(Json(engine.image_inspect(name).await?).into_response()),
        Some((name, "history")) => Ok(Json(engine.image_history(name).await?).into_response()),
        Some((name, "get")) => save(engine, vec![name.to_string()]).await,
        _ => Err(ApiError::not_found(format!(
            "page not found: /images/{rest}"
        ))),
    }
}

/// `POST /images/{name}/push`, `/tag`.
async fn by_name_post(
    State(engine): State<Engine>,
    Path(rest): Path<String>,
    headers: HeaderMap,
    q: Query,
) -> ApiResult<Response> {
    match split_suffix(&rest, &["push", "tag"]) {
        Some((name, "tag")) => {
            let repo = q.get("repo").cloned().unwrap_or_default();
            engine
                .image_tag(name, &repo, q.get("tag").map(String::as_str))
                .await?;
            Ok(StatusCode::CREATED.into_response())
        }
        Some((name, "push")) => {
            let auth = registry_auth(&headers)?;
            let name = name.to_string();
            let tag = q.get("tag").cloned();
            Ok(progress_response(engine, move |engine, tx| async move {
                engine
                    .image_push(&name, tag.as_deref(), auth.as_ref(), tx)
                    .await
            })
            .await)
        }
        _ => Err(ApiError::not_found(format!(
            "page not found: /images/{rest}"
        ))),
    }
}

/// `DELETE /images/{name}?force=&noprune=`.
async fn remove(
    State(engine): State<Engine>,
    Path(name): Path<String>,
    q: Query,
) -> ApiResult<Response> {
    let items = engine
        .image_remove(
            &name,
            qbool(&q, "force", false),
            qbool(&q, "noprune", false),
        )
        .await?;
    Ok(Json(items).into_response())
}

/// `POST /auth`: checks the credentials against the registry.
async fn auth(State(engine): State<Engine>, body: Bytes) -> ApiResult<Response> {
    let mut a: RegistryAuth = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
    fill_from_auth_field(&mut a);
    engine.image_auth(&a).await?;
    Ok(Json(serde_json::json!({"Status": "Login Succeeded", "IdentityToken": ""})).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_of_names_with_slashes() {
        assert_eq!(
            split_suffix("localhost:5000/a/b:tag/json", &["json", "history"]),
            Some(("localhost:5000/a/b:tag", "json"))
        );
        assert_eq!(
            split_suffix("busybox/history", &["json", "history"]),
            Some(("busybox", "history"))
        );
        assert_eq!(split_suffix("json", &["json"]), None);
    }

    #[test]
    fn registry_auth_header() {
        let mut h = HeaderMap::new();
        let raw = base64::engine::general_purpose::URL_SAFE
            .encode(br#"{"username":"u","password":"p","serveraddress":"127.0.0.1:5000"}"#);
        h.insert("X-Registry-Auth", raw.parse().expect("header"));
        let a = registry_auth(&h).expect("ok").expect("some");
        assert_eq!((a.username.as_str(), a.password.as_str()), ("u", "p"));
        h.insert("X-Registry-Auth", "e30=".parse().expect("header"));
        assert!(registry_auth(&h)
            .expect("ok")
            .expect("some")
            .credential()
            .is_none());
    }
}

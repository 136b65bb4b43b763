//! Container operations besides the lifecycle: stats, top, update, archive (docker cp),
//! pause/unpause, rename and prune.

use super::{filters, json_body, qbool, Query};
use crate::error::{ApiError, ApiResult};
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use berth_engine::containers::archive::{PathStat, PutOptions};
use berth_engine::containers::stats::{stats_after, zeroed};
use berth_engine::Engine;
use bollard_stubs::models::{
    ContainerPruneResponse, ContainerStatsResponse, ContainerTopResponse, ContainerUpdateBody,
    ContainerUpdateResponse,
};
use futures_util::StreamExt;
use std::time::Duration;

pub fn routes() -> Router<Engine> {
    Router::new()
        .route("/containers/{id}/stats", get(stats))
        .route("/containers/{id}/top", get(top))
        .route("/containers/{id}/update", post(update))
        .route(
            "/containers/{id}/archive",
            get(archive_get).head(archive_head).put(archive_put),
        )
        .route("/containers/{id}/pause", post(pause))
        .route("/containers/{id}/unpause", post(unpause))
        .route("/containers/{id}/rename", post(rename))
        .route("/containers/prune", post(prune))
}

/// The header dockerd sends the stat of an archive path in.
pub const PATH_STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

/// `X-Docker-Container-Path-Stat`: base64 (standard, padded) of the stat's JSON.
pub fn path_stat_header(stat: &PathStat) -> ApiResult<HeaderValue> {
    let json = serde_json::to_vec(stat)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(json);
    HeaderValue::from_str(&b64)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

fn json_line(s: &ContainerStatsResponse) -> Bytes {
    let mut v = serde_json::to_vec(s).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

/// GET /containers/{id}/stats: `stream=true` (default) sends one sample a second until the
/// container stops or the client goes away; `stream=false` waits for a second sample so the
/// CPU delta is set (dockerd does the same); `one-shot=true` returns the first sample at once.
async fn stats(State(e): State<Engine>, Path(id): Path<String>, q: Query) -> ApiResult<Response> {
    let stream = qbool(&q, "stream", true);
    let one_shot = qbool(&q, "one-shot", false);
    let first = e.container_stats(&id).await?;
    let json = [(header::CONTENT_TYPE, "application/json")];
    let live = |e: &Engine, id: &str| {
        e.containers
            .find(id)
            .map(|c| c.record().state.status.is_live())
            .unwrap_or(false)
    };
    if !stream {
        if one_shot || !live(&e, &id) {
            return Ok((json, json_line(&first)).into_response());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let second = e.container_stats(&id).await?;
        return Ok((json, json_line(&stats_after(&first, second))).into_response());
    }
    if !live(&e, &id) {
        return Ok((json, json_line(&first)).into_response());
    }
    // (engine, id, sample to send, done)
    let state = (e, id, first, false);
    let body = futures_util::stream::unfold(state, |(e, id, cur, done)| async move {
        if done {
            return None;
        }
        let out = json_line(&cur);
        if cur.read.as_deref() == Some(berth_engine::util::ZERO_TIME) {
            // The container stopped: its zeroed sample is the last.
            return Some((Ok::<_, std::io::Error>(out), (e, id, cur, true)));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let next = match e.container_stats(&id).await {
            Ok(s) if s.read.as_deref() == Some(berth_engine::util::ZERO_TIME) => s,
            Ok(s) => stats_after(&cur, s),
            // Removed meanwhile.
            Err(_) => zeroed(
                cur.id.as_deref().unwrap_or(""),
                cur.name.as_deref().unwrap_or(""),
            ),
        };
        Some((Ok(out), (e, id, next, false)))
    });
    Ok((json, Body::from_stream(body)).into_response())
}

/// GET /containers/{id}/top?ps_args=...
async fn top(State(e): State<Engine>, Path(id): Path<String>, q: Query) -> ApiResult<Response> {
    let t = e
        .container_top(&id, q.get("ps_args").map(String::as_str))
        .await?;
    Ok(axum::Json(ContainerTopResponse {
        titles: Some(t.titles),
        processes: Some(t.processes),
    })
    .into_response())
}

/// POST /containers/{id}/update
async fn update(
    State(e): State<Engine>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let u: ContainerUpdateBody = json_body(&body)?;
    let warnings = e.container_update(&id, u).await?;
    Ok(axum::Json(ContainerUpdateResponse {
        warnings: Some(warnings),
    })
    .into_response())
}

fn archive_path(q: &Query) -> ApiResult<String> {
    q.get("path")
        .filter(|p| !p.is_empty())
        .cloned()
        .ok_or_else(|| ApiError::bad_request("path: a path in the container is required"))
}

/// HEAD /containers/{id}/archive?path=...: the stat in a header, no body.
async fn archive_head(State(e): State<Engine>, Path(id): Path<String>, q: Query) -> Response {
    let res = async {
        let path = archive_path(&q)?;
        let stat = e.container_archive_head(&id, &path).await?;
        let mut h = HeaderMap::new();
        h.insert(PATH_STAT_HEADER, path_stat_header(&stat)?);
        Ok::<_, ApiError>((StatusCode::OK, h).into_response())
    };
    match res.await {
        Ok(r) => r,
        // A HEAD answer has no body; the status says it all.
        Err(err) => err.status.into_response(),
    }
}

/// GET /containers/{id}/archive?path=...: the tar stream and the stat header.
async fn archive_get(
    State(e): State<Engine>,
    Path(id): Path<String>,
    q: Query,
) -> ApiResult<Response> {
    let path = archive_path(&q)?;
    let (stat, rx) = e.container_archive_get(&id, &path).await?;
    let mut h = HeaderMap::new();
    h.insert(PATH_STAT_HEADER, path_stat_header(&stat)?);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    Ok((h, Body::from_stream(body)).into_response())
}

/// PUT /containers/{id}/archive?path=...&noOverwriteDirNonDir=...&copyUIDGID=...
async fn archive_put(
    State(e): State<Engine>,
    Path(id): Path<String>,
    q: Query,
    body: Body,
) -> ApiResult<StatusCode> {
    let path = archive_path(&q)?;
    let opts = PutOptions {
        no_overwrite_dir_non_dir: qbool(&q, "noOverwriteDirNonDir", false),
        copy_uid_gid: qbool(&q, "copyUIDGID", false),
    };
    let stream = body
        .into_data_stream()
        .map(|r| r.map_err(std::io::Error::other));
    let reader = tokio_util::io::StreamReader::new(stream);
    e.container_archive_put(&id, &path, reader, opts).await?;
    Ok(StatusCode::OK)
}

async fn pause(State(e): State<Engine>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    e.container_pause(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn unpause(State(e): State<Engine>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    e.container_unpause(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// POST /containers/{id}/rename?name=NEW
async fn rename(
    State(e): State<Engine>,
    Path(id): Path<String>,
    q: Query,
) -> ApiResult<StatusCode> {
    let name = q.get("name").cloned().unwrap_or_default();
    e.container_rename(&id, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// POST /containers/prune?filters=...
async fn prune(State(e): State<Engine>, q: Query) -> ApiResult<Response> {
    let f = filters(&q)?;
    let p = e.container_prune(&f).await?;
    Ok(axum::Json(ContainerPruneResponse {
        containers_deleted: Some(p.deleted),
        space_reclaimed: Some(p.space_reclaimed as i64),
    })
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_header_is_base64_json_as_the_cli_decodes_it() {
        let stat = PathStat {
            name: "hostname".into(),
            size: 4,
            mode: 0o644,
            mtime: "2024-01-01T00:00:00.5Z".into(),
            link_target: String::new(),
        };
        let h = path_stat_header(&stat).expect("header");
        let raw = base64::engine::general_purpose::STANDARD
            .decode(h.as_bytes())
            .expect("base64");
        let v: serde_json::Value = serde_json::from_slice(&raw).expect("json");
        assert_eq!(
            v,
            serde_json::json!({"name":"hostname","size":4,"mode":420,"mtime":"2024-01-01T00:00:00.5Z","linkTarget":""})
        );
    }
}

//! /containers/*: create, list, inspect, the lifecycle verbs, wait, logs, attach, resize.

use super::{filters, json_body, qbool, qint, Query};
use crate::error::{ApiError, ApiResult};
use crate::hijack::{self, StreamOptions};
use crate::version::ApiVersion;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use berth_engine::containers::attach::AttachWait;
use berth_engine::containers::create::CreateOptions;
use berth_engine::containers::list::ListOptions;
use berth_engine::containers::logs::LogsOptions;
use berth_engine::containers::wait::WaitCondition;
use berth_engine::Engine;
use bollard_stubs::models::ContainerCreateBody;
use serde_json::json;

pub fn routes() -> Router<Engine> {
    Router::new()
        .route("/containers/create", post(create))
        .route("/containers/json", get(list))
        .route("/containers/{id}/json", get(inspect))
        .route("/containers/{id}/start", post(start))
        .route("/containers/{id}/stop", post(stop))
        .route("/containers/{id}/restart", post(restart))
        .route("/containers/{id}/kill", post(kill))
        .route("/containers/{id}/wait", post(wait))
        .route("/containers/{id}", delete(remove))
        .route("/containers/{id}/logs", get(logs))
        .route("/containers/{id}/attach", post(attach))
        .route("/containers/{id}/resize", post(resize))
}

async fn create(
    State(e): State<Engine>,
    Extension(v): Extension<ApiVersion>,
    q: Query,
    body: Bytes,
) -> ApiResult<Response> {
    let mut body: ContainerCreateBody = json_body(&body)?;
    let opts = read_only_mounts_for_version(&mut body, v)?;
    let created = e
        .container_create_with(q.get("name").map(|s| s.as_str()), body, opts)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"Id": created.id, "Warnings": created.warnings})),
    )
        .into_response())
}

/// moby before API 1.44 knew no recursively read-only mounts: an older client's read-only
/// binds stay read-only at the top only, `ReadOnlyNonRecursive` is ignored and
/// `ReadOnlyForceRecursive` refused.
fn read_only_mounts_for_version(
    body: &mut ContainerCreateBody,
    v: ApiVersion,
) -> ApiResult<CreateOptions> {
    if v.at_least(1, 44) {
        return Ok(CreateOptions::default());
    }
    let mounts = body
        .host_config
        .iter_mut()
        .flat_map(|hc| hc.mounts.iter_mut().flatten());
    for m in mounts {
        if let Some(b) = m.bind_options.as_mut() {
            b.read_only_non_recursive = None;
            if b.read_only_force_recursive == Some(true) {
                return Err(ApiError::bad_request(
                    "BindOptions.ReadOnlyForceRecursive needs API v1.44 or newer",
                ));
            }
        }
    }
    Ok(CreateOptions {
        default_read_only_non_recursive: true,
    })
}

async fn list(State(e): State<Engine>, q: Query) -> ApiResult<Response> {
    let opts = ListOptions {
        all: qbool(&q, "all", false),
        limit: qint(&q, "limit")?.filter(|l| *l > 0).map(|l| l as usize),
        size: qbool(&q, "size", false),
        filters: filters(&q)?,
    };
    Ok(Json(e.container_list(&opts)?).into_response())
}

async fn inspect(State(e): State<Engine>, Path(id): Path<String>, q: Query) -> ApiResult<Response> {
    Ok(Json(e.container_inspect(&id, qbool(&q, "size", false))?).into_response())
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

async fn start(State(e): State<Engine>, Path(id): Path<String>) -> ApiResult<Response> {
    e.container_start(&id).await?;
    Ok(no_content())
}

fn timeout_param(q: &Query) -> ApiResult<Option<i64>> {
    match qint(q, "t")? {
        Some(t) => Ok(Some(t)),
        None => qint(q, "timeout"),
    }
}

async fn stop(State(e): State<Engine>, Path(id): Path<String>, q: Query) -> ApiResult<Response> {
    e.container_stop(&id, q.get("signal").map(|s| s.as_str()), timeout_param(&q)?)
        .await?;
    Ok(no_content())
}

async fn restart(State(e): State<Engine>, Path(id): Path<String>, q: Query) -> ApiResult<Response> {
    e.container_restart(&id, q.get("signal").map(|s| s.as_str()), timeout_param(&q)?)
        .await?;
    Ok(no_content())
}

async fn kill(State(e): State<Engine>, Path(id): Path<String>, q: Query) -> ApiResult<Response> {
    e.container_kill(&id, q.get("signal").map(|s| s.as_str()))
        .await?;
    Ok(no_content())
}

async fn remove(State(e): State<Engine>, Path(id): Path<String>, q: Query) -> ApiResult<Response> {
    e.container_remove(&id, qbool(&q, "force", false), qbool(&q, "v", false))
        .await?;
    Ok(no_content())
}

/// The wait is registered before the response headers go out, so a client that waits and
/// then starts the container (as `docker run` does) cannot miss the exit. The body follows
/// when the condition holds.
async fn wait(State(e): State<Engine>, Path(id): Path<String>, q: Query) -> ApiResult<Response> {
    let cond = WaitCondition::parse(q.get("condition").map(|s| s.as_str()).unwrap_or(""))?;
    let fut = e.container_wait(&id, cond)?;
    let stream = futures_util::stream::once(async move {
        let r = fut.await;
        let mut v = json!({"StatusCode": r.status_code});
        if let Some(err) = r.error {
            v["Error"] = json!({"Message": err});
        }
        Ok::<Bytes, std::io::Error>(Bytes::from(format!("{v}\n")))
    });
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

/// Docker's `since`/`until`: unix seconds with an optional fraction, or an RFC 3339 time.
pub fn parse_time(key: &str, v: &str) -> ApiResult<Option<f64>> {
    if v.is_empty() {
        return Ok(None);
    }
    if let Ok(f) = v.parse::<f64>() {
        return Ok(Some(f));
    }
    humantime::parse_rfc3339_weak(v.trim_end_matches('Z'))
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| Some(d.as_secs_f64()))
        .ok_or_else(|| ApiError::bad_request(format!("invalid value for {key}: {v:?}")))
}

async fn logs(State(e): State<Engine>, Path(id): Path<String>, q: Query) -> ApiResult<Response> {
    let stdout = qbool(&q, "stdout", false);
    let stderr = qbool(&q, "stderr", false);
    if !stdout && !stderr {
        return Err(ApiError::bad_request(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let tail = match q.get("tail").map(|s| s.as_str()) {
        None | Some("") | Some("all") => None,
        Some(t) => Some(
            t.parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("invalid value for tail: {t:?}")))?,
        ),
    };
    let opts = LogsOptions {
        stdout,
        stderr,
        follow: qbool(&q, "follow", false),
        since: parse_time("since", q.get("since").map(|s| s.as_str()).unwrap_or(""))?
            .filter(|s| *s > 0.0),
        until: parse_time("until", q.get("until").map(|s| s.as_str()).unwrap_or(""))?
            .filter(|s| *s > 0.0),
        tail: tail.map(|t| t.max(0) as usize),
    };
    let timestamps = qbool(&q, "timestamps", false);
    let (tty, mut rx) = e.container_logs(&id, opts)?;
    let (tx, out) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        while let Some(entry) = rx.recv().await {
            let mut payload = Vec::with_capacity(entry.line.len() + 32);
            if timestamps {
                payload.extend_from_slice(entry.time.as_bytes());
                payload.push(b' ');
            }
            payload.extend_from_slice(&entry.line);
            let b = if tty {
                payload
            } else {
                hijack::frame(entry.stream, &payload)
            };
            if tx.send(Bytes::from(b)).await.is_err() {
                return;
            }
        }
    });
    Ok(hijack::streaming_response(tty, out))
}

async fn attach(
    State(e): State<Engine>,
    Path(id): Path<String>,
    q: Query,
    mut req: Request,
) -> ApiResult<Response> {
    let keys = hijack::parse_detach_keys(q.get("detachKeys").map(|s| s.as_str()).unwrap_or(""))
        .map_err(ApiError::bad_request)?;
    let rec = e.container_inspect(&id, false)?;
    let tty = rec["Config"]["Tty"].as_bool().unwrap_or(false);
    let opts = StreamOptions {
        stdin: qbool(&q, "stdin", false),
        stdout: qbool(&q, "stdout", false),
        stderr: qbool(&q, "stderr", false),
        tty,
        detach_keys: keys,
    };
    // Registered now: a start that follows this request hands us the socket.
    let wait = e.container_attach(&id)?;
    let stream = qbool(&q, "stream", false);
    let logs = qbool(&q, "logs", false);
    let replay = if logs {
        let (_, rx) = e.container_logs(
            &id,
            LogsOptions {
                stdout: opts.stdout,
                stderr: opts.stderr,
                ..Default::default()
            },
        )?;
        Some(rx)
    } else {
        None
    };
    let upgrade = hijack::wants_upgrade(&req);
    let on_upgrade = hyper::upgrade::on(&mut req);
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    let opts2 = opts.clone();
    tokio::spawn(async move {
        let mut replay = replay;
        let target = if stream {
            match wait {
                AttachWait::Now(t) => Some(t),
                AttachWait::Later(rx) => rx.await.ok(),
            }
        } else {
            None
        };
        let sock = match &target {
            Some(t) => hijack::connect(&t.socket).await.ok(),
            None => None,
        };
        if let Some(mut t) = target {
            if let Some(c) = t.connected.take() {
                let _ = c.send(());
            }
        }
        if upgrade {
            let Ok(up) = on_upgrade.await else { return };
            if let Some(rx) = replay.as_mut() {
                let io = hyper_util::rt::TokioIo::new(up);
                // Replaying logs first needs the raw stream; hand the rest to `pump`.
                let (mut r, mut w) = tokio::io::split(io);
                use tokio::io::AsyncWriteExt;
                while let Some(entry) = rx.recv().await {
                    let b = if opts2.tty {
                        entry.line
                    } else {
                        hijack::frame(entry.stream, &entry.line)
                    };
                    if w.write_all(&b).await.is_err() {
                        return;
                    }
                }
                match sock {
                    Some(s) => {
                        let io = r.unsplit(w);
                        hijack::pump_io(io, s, opts2, std::future::ready(())).await;
                    }
                    None => {
                        let _ = w.shutdown().await;
                        let _ = &mut r;
                    }
                }
                return;
            }
            if let Some(s) = sock {
                hijack::pump(up, s, opts2).await;
            }
        } else {
            if let Some(rx) = replay.as_mut() {
                while let Some(entry) = rx.recv().await {
                    let b = if opts2.tty {
                        entry.line
                    } else {
                        hijack::frame(entry.stream, &entry.line)
                    };
                    if tx.send(Bytes::from(b)).await.is_err() {
                        return;
                    }
                }
            }
            if let Some(s) = sock {
                let mut out = hijack::output_channel(s, opts2);
                while let Some(b) = out.recv().await {
                    if tx.send(b).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    if upgrade {
        Ok(hijack::upgrade_response(tty))
    } else {
        Ok(hijack::streaming_response(tty, rx))
    }
}

async fn resize(State(e): State<Engine>, Path(id): Path<String>, q: Query) -> ApiResult<Response> {
    let h = qint(&q, "h")?.unwrap_or(0);
    let w = qint(&q, "w")?.unwrap_or(0);
    match e.container_attach(&id)? {
        AttachWait::Now(t) => {
            hijack::resize(&t.ctl, h.max(0) as u64, w.max(0) as u64)
                .await
                .map_err(|err| {
                    ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("resizing the tty: {err}"),
                    )
                })?;
            Ok(StatusCode::OK.into_response())
        }
        AttachWait::Later(_) => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("Container {id} is not running"),
        )),
    }
}

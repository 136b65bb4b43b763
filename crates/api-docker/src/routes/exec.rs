//! /containers/{id}/exec and /exec/*: create, start (hijacked or detached), resize, inspect.

use super::{json_body, qint, Query};
use crate::error::{ApiError, ApiResult};
use crate::hijack::{self, StreamOptions};
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use berth_engine::Engine;
use bollard_stubs::models::ExecConfig;
use serde::Deserialize;
use serde_json::json;

pub fn routes() -> Router<Engine> {
    Router::new()
        .route("/containers/{id}/exec", post(create))
        .route("/exec/{id}/start", post(start))
        .route("/exec/{id}/resize", post(resize))
        .route("/exec/{id}/json", get(inspect))
}

async fn create(
    State(e): State<Engine>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let cfg: ExecConfig = json_body(&body)?;
    let exec_id = e.exec_create(&id, cfg)?;
    Ok((StatusCode::CREATED, Json(json!({"Id": exec_id}))).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StartBody {
    #[serde(default)]
    detach: bool,
    #[serde(default)]
    tty: Option<bool>,
    #[serde(default)]
    console_size: Option<Vec<u64>>,
}

async fn start(
    State(e): State<Engine>,
    Path(id): Path<String>,
    mut req: Request,
) -> ApiResult<Response> {
    let upgrade = hijack::wants_upgrade(&req);
    let on_upgrade = hyper::upgrade::on(&mut req);
    let body = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .map_err(|err| ApiError::bad_request(format!("reading the request body: {err}")))?;
    let b: StartBody = json_body(&body)?;
    let inspect = e.exec_inspect(&id)?;
    if b.detach {
        let run = e.exec_start(&id, false, b.tty).await?;
        e.exec_running(run).await?;
        return Ok(StatusCode::OK.into_response());
    }
    let detach_keys = hijack::parse_detach_keys(inspect["DetachKeys"].as_str().unwrap_or(""))
        .map_err(ApiError::bad_request)?;
    let run = match e.exec_start(&id, true, b.tty).await {
        Ok(run) => run,
        Err(berth_engine::Error::ExecFailed(msg)) if upgrade => {
            // dockerd hijacks first and writes the failure into the stream; the client then
            // reads the exit code (126) from exec inspect.
            let tty = inspect["ProcessConfig"]["tty"].as_bool().unwrap_or(false);
            tokio::spawn(async move {
                if let Ok(up) = on_upgrade.await {
                    hijack::fail(up, tty, &msg).await;
                }
            });
            return Ok(hijack::upgrade_response(tty));
        }
        Err(err) => return Err(err.into()),
    };
    let tty = run.tty;
    let opts = StreamOptions {
        stdin: inspect["OpenStdin"].as_bool().unwrap_or(false),
        stdout: inspect["OpenStdout"].as_bool().unwrap_or(true),
        stderr: inspect["OpenStderr"].as_bool().unwrap_or(true),
        tty,
        detach_keys,
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    let console = b.console_size.clone();
    tokio::spawn(async move {
        let sock = hijack::connect(&run.target.socket).await;
        let ctl = run.target.ctl.clone();
        let failed = match e.exec_running(run).await {
            Ok(()) => None,
            Err(err) => Some(err.to_string()),
        };
        if let (Some(c), None) = (&console, &failed) {
            if c.len() == 2 {
                let _ = hijack::resize(&ctl, c[0], c[1]).await;
            }
        }
        if upgrade {
            let Ok(up) = on_upgrade.await else { return };
            match (sock, failed) {
                (Ok(s), None) => {
                    let done = async {
                        let _ = e.exec_wait(&id).await;
                    };
                    hijack::pump_then(up, s, opts, done).await
                }
                // Docker writes the failure into the stream; the client reads the exit code
                // (126/127) from exec inspect.
                (_, Some(msg)) => hijack::fail(up, tty, &msg).await,
                (Err(_), None) => {}
            }
        } else {
            match (sock, failed) {
                (Ok(s), None) => {
                    let mut out = hijack::output_channel(s, opts);
                    while let Some(b) = out.recv().await {
                        if tx.send(b).await.is_err() {
                            return;
                        }
                    }
                }
                (_, Some(msg)) => {
                    let text = format!("{msg}\r\n");
                    let b = if tty {
                        text.into_bytes()
                    } else {
                        hijack::frame(1, text.as_bytes())
                    };
                    let _ = tx.send(Bytes::from(b)).await;
                }
                (Err(_), None) => {}
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
    let h = qint(&q, "h")?.unwrap_or(0).max(0) as u64;
    let w = qint(&q, "w")?.unwrap_or(0).max(0) as u64;
    let ctl = e.exec_ctl_socket(&id)?;
    hijack::resize(&ctl, h, w).await.map_err(|err| {
        ApiError::new(
            StatusCode::CONFLICT,
            format!("exec {id} has no tty to resize: {err}"),
        )
    })?;
    Ok(StatusCode::OK.into_response())
}

async fn inspect(State(e): State<Engine>, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(Json(e.exec_inspect(&id)?).into_response())
}

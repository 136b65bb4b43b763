//! /volumes: list, create, inspect, remove, prune, in Docker's shapes and statuses.

use super::{filters, json_body, qbool, Query};
use crate::error::ApiResult;
use crate::version::ApiVersion;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use berth_engine::volumes::create::VolumeCreate;
use berth_engine::volumes::VolumeFilter;
use berth_engine::Engine;
use serde::Deserialize;
use std::collections::BTreeMap;

pub fn routes() -> Router<Engine> {
    Router::new()
        .route("/volumes", get(list))
        .route("/volumes/create", post(create))
        .route("/volumes/prune", post(prune))
        .route("/volumes/{name}", get(inspect).delete(remove))
}

async fn list(State(e): State<Engine>, q: Query) -> ApiResult<Response> {
    let f = VolumeFilter {
        filters: filters(&q)?,
    };
    Ok(Json(e.volume_list(&f)?).into_response())
}

/// Docker's VolumeCreateOptions.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    driver: Option<String>,
    #[serde(default)]
    driver_opts: Option<BTreeMap<String, String>>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

async fn create(State(e): State<Engine>, body: Bytes) -> ApiResult<Response> {
    let b: CreateBody = json_body(&body)?;
    let v = e.volume_create(VolumeCreate {
        name: b.name.unwrap_or_default(),
        driver: b.driver.unwrap_or_default(),
        driver_opts: b.driver_opts.unwrap_or_default(),
        labels: b.labels.unwrap_or_default(),
    })?;
    Ok((StatusCode::CREATED, Json(e.volume_json(&v))).into_response())
}

async fn inspect(State(e): State<Engine>, Path(name): Path<String>) -> ApiResult<Response> {
    Ok(Json(e.volume_inspect(&name)?).into_response())
}

async fn remove(
    State(e): State<Engine>,
    Path(name): Path<String>,
    q: Query,
) -> ApiResult<Response> {
    e.volume_remove(&name, qbool(&q, "force", false))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn prune(
    State(e): State<Engine>,
    Extension(v): Extension<ApiVersion>,
    q: Query,
) -> ApiResult<Response> {
    let f = VolumeFilter {
        filters: filters(&q)?,
    };
    // API 1.42 (Docker 23) made prune remove only anonymous volumes unless all=true.
    let p = e.volume_prune(&f, !v.at_least(1, 42))?;
    Ok(Json(serde_json::json!({
        "VolumesDeleted": p.deleted,
        "SpaceReclaimed": p.space_reclaimed,
    }))
    .into_response())
}

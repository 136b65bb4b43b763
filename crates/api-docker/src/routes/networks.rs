//! /networks: list, inspect, create, remove, connect, disconnect, prune.

use super::{filters, json_body, Query};
use crate::error::ApiResult;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use berth_engine::networks::create::CreateRequest;
use berth_engine::Engine;
use bollard_stubs::models::EndpointSettings;
use serde::Deserialize;

pub fn routes() -> Router<Engine> {
    Router::new()
        .route("/networks", get(list))
        .route("/networks/create", post(create))
        .route("/networks/prune", post(prune))
        .route("/networks/{id}", get(inspect).delete(remove))
        .route("/networks/{id}/connect", post(connect))
        .route("/networks/{id}/disconnect", post(disconnect))
}

async fn list(State(e): State<Engine>, q: Query) -> ApiResult<Response> {
    Ok(Json(e.network_list(&filters(&q)?)?).into_response())
}

async fn inspect(State(e): State<Engine>, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(Json(e.network_inspect(&id)?).into_response())
}

async fn create(State(e): State<Engine>, body: Bytes) -> ApiResult<Response> {
    let req: CreateRequest = json_body(&body)?;
    let id = e.network_create(req).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({"Id": id, "Warning": ""})),
    )
        .into_response())
}

async fn remove(State(e): State<Engine>, Path(id): Path<String>) -> ApiResult<Response> {
    e.network_remove(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ConnectBody {
    container: String,
    #[serde(default)]
    endpoint_config: Option<EndpointSettings>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DisconnectBody {
    container: String,
    #[serde(default)]
    force: bool,
}

async fn connect(
    State(e): State<Engine>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let b: ConnectBody = json_body(&body)?;
    e.network_connect(&id, &b.container, b.endpoint_config.unwrap_or_default())
        .await?;
    Ok(StatusCode::OK.into_response())
}

async fn disconnect(
    State(e): State<Engine>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let b: DisconnectBody = json_body(&body)?;
    e.network_disconnect(&id, &b.container, b.force).await?;
    Ok(StatusCode::OK.into_response())
}

async fn prune(State(e): State<Engine>, q: Query) -> ApiResult<Response> {
    let deleted = e.network_prune(&filters(&q)?).await?;
    Ok(Json(serde_json::json!({"NetworksDeleted": deleted})).into_response())
}

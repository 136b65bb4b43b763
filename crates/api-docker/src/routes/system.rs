//! /_ping, /version, /info, /events.

use super::{filters, Query};
use crate::error::ApiResult;
use crate::version::ApiVersion;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use berth_engine::events::EventFilter;
use berth_engine::Engine;

pub fn routes() -> Router<Engine> {
    Router::new()
        .route("/_ping", get(ping).head(ping))
        .route("/version", get(version))
        .route("/info", get(info))
        .route("/events", get(events))
        .route("/system/df", get(df))
        .route("/build/prune", post(build_prune))
}

/// Docker's ping: "OK" and the headers clients negotiate with.
async fn ping() -> Response {
    let mut h = HeaderMap::new();
    h.insert("API-Version", HeaderValue::from_static(crate::version::MAX));
    h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    h.insert("OSType", HeaderValue::from_static("linux"));
    h.insert("Builder-Version", HeaderValue::from_static("1"));
    h.insert(
        "Cache-Control",
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert("Pragma", HeaderValue::from_static("no-cache"));
    (StatusCode::OK, h, "OK").into_response()
}

async fn version(State(e): State<Engine>) -> Response {
    Json(e.version(crate::version::MAX, crate::version::MIN)).into_response()
}

async fn df(State(e): State<Engine>) -> ApiResult<Response> {
    Ok(Json(e.system_df().await?).into_response())
}

// `docker system prune` asks every kind of object to prune itself. Berth has no build cache
// yet (a later issue adds it), so there is truly nothing to delete; the answer says so in
// Docker's shape instead of failing the whole command with a 404. Volumes and networks prune
// in their own route files.

async fn build_prune() -> Response {
    Json(serde_json::json!({"CachesDeleted": [], "SpaceReclaimed": 0})).into_response()
}

async fn info(State(e): State<Engine>) -> Response {
    Json(e.info()).into_response()
}

/// Recent events since `since`, then live ones until `until` (or until the client leaves),
/// one JSON object per line.
async fn events(
    State(e): State<Engine>,
    Extension(v): Extension<ApiVersion>,
    q: Query,
) -> ApiResult<Response> {
    let since =
        super::containers::parse_time("since", q.get("since").map(|s| s.as_str()).unwrap_or(""))?;
    let until =
        super::containers::parse_time("until", q.get("until").map(|s| s.as_str()).unwrap_or(""))?;
    let filter = EventFilter {
        filters: filters(&q)?,
    };
    let (history, mut live) = e.events.subscribe();
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    tokio::spawn(async move {
        let when = |m: &bollard_stubs::models::EventMessage| {
            m.time_nano.map(|n| n as f64 / 1e9).unwrap_or(0.0)
        };
        let send = |m: &bollard_stubs::models::EventMessage| {
            encode_event(m, v).map(|mut v| {
                v.push(b'\n');
                Bytes::from(v)
            })
        };
        if let Some(s) = since {
            for m in history.iter().filter(|m| when(m) >= s && filter.matches(m)) {
                if until.is_some_and(|u| when(m) > u) {
                    break;
                }
                if let Ok(b) = send(m) {
                    if tx.send(b).await.is_err() {
                        return;
                    }
                }
            }
        }
        if until.is_some_and(|u| u <= now) {
            return;
        }
        let deadline = until.map(|u| {
            tokio::time::Instant::now() + std::time::Duration::from_secs_f64((u - now).max(0.0))
        });
        loop {
            let next = async {
                match deadline {
                    Some(d) => tokio::time::timeout_at(d, live.recv()).await.ok(),
                    None => Some(live.recv().await),
                }
            };
            tokio::select! {
                m = next => match m {
                    None => return,
                    Some(Ok(m)) => {
                        if filter.matches(&m) {
                            if let Ok(b) = send(&m) {
                                if tx.send(b).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                    Some(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
                    Some(Err(_)) => return,
                },
                _ = tx.closed() => return,
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<Bytes, std::io::Error>(b), rx))
    });
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(r)
}

/// One event as JSON. Before API 1.52 dockerd also sends the deprecated `status`, `id` and
/// `from` fields (moby's events.Log: for containers the action, the container ID and its
/// image; for images the action and the image), which `docker events --format '{{.ID}}'` reads.
fn encode_event(
    m: &bollard_stubs::models::EventMessage,
    version: ApiVersion,
) -> serde_json::Result<Vec<u8>> {
    use bollard_stubs::models::EventMessageTypeEnum as T;
    let mut value = serde_json::to_value(m)?;
    let legacy = matches!(m.typ, Some(T::CONTAINER) | Some(T::IMAGE));
    if legacy && !version.at_least(1, 52) {
        if let serde_json::Value::Object(obj) = &mut value {
            let actor = m.actor.as_ref();
            let id = actor.and_then(|a| a.id.clone()).unwrap_or_default();
            let action = m.action.clone().unwrap_or_default();
            let from = actor
                .and_then(|a| a.attributes.as_ref())
                .and_then(|a| a.get("image").cloned())
                .unwrap_or_default();
            // omitempty, as in moby's Message.
            if !action.is_empty() {
                obj.insert("status".into(), action.into());
            }
            if !id.is_empty() {
                obj.insert("id".into(), id.into());
            }
            if m.typ == Some(T::CONTAINER) && !from.is_empty() {
                obj.insert("from".into(), from.into());
            }
        }
    }
    serde_json::to_vec(&value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard_stubs::models::{EventActor, EventMessage, EventMessageTypeEnum};

    #[test]
    fn legacy_event_fields_until_1_52() {
        let m = EventMessage {
            typ: Some(EventMessageTypeEnum::CONTAINER),
            action: Some("start".into()),
            actor: Some(EventActor {
                id: Some("abc".into()),
                attributes: Some([("image".to_string(), "busybox".to_string())].into()),
            }),
            ..Default::default()
        };
        let old: serde_json::Value =
            serde_json::from_slice(&encode_event(&m, ApiVersion(1, 45)).expect("json"))
                .expect("parse");
        assert_eq!(old["status"], "start");
        assert_eq!(old["id"], "abc");
        assert_eq!(old["from"], "busybox");
        assert_eq!(old["Action"], "start");
        let new: serde_json::Value =
            serde_json::from_slice(&encode_event(&m, ApiVersion(1, 52)).expect("json"))
                .expect("parse");
        assert!(new.get("status").is_none() && new.get("id").is_none());
        assert!(new.get("from").is_none());
    }
}

//! /_ping, /version, /info, /events, /system/df, /auth.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use berth_engine::Engine;

pub fn routes() -> Router<Engine> {
    Router::new().route("/_ping", get(ping).head(ping))
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

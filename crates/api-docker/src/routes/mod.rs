//! The routes, one file per resource, and the small request helpers they share.

pub mod container_ops;
pub mod containers;
pub mod exec;
pub mod images;
pub mod networks;
pub mod system;
pub mod volumes;

use crate::error::{ApiError, ApiResult};
use axum::body::Bytes;
use axum::Router;
use berth_engine::Engine;
use serde::de::DeserializeOwned;
use std::collections::HashMap;

/// Every route of the API.
pub fn all() -> Router<Engine> {
    Router::new()
        .merge(system::routes())
        .merge(containers::routes())
        .merge(container_ops::routes())
        .merge(exec::routes())
        .merge(images::routes())
        .merge(volumes::routes())
        .merge(networks::routes())
        .fallback(page_not_found)
        .method_not_allowed_fallback(page_not_found)
}

/// dockerd's answer to an unknown route, and to a known path with another method.
async fn page_not_found() -> ApiError {
    ApiError::not_found("page not found")
}

/// Query parameters as Docker sends them.
pub type Query = axum::extract::Query<HashMap<String, String>>;

/// A boolean query parameter: `1`, `true`, `True` are true; absent is `default`.
pub fn qbool(q: &HashMap<String, String>, key: &str, default: bool) -> bool {
    match q.get(key).map(|s| s.as_str()) {
        None => default,
        Some(v) => matches!(v, "1" | "true" | "True" | "TRUE" | "yes"),
    }
}

/// An integer query parameter; a value that is not one is a 400 naming the parameter.
pub fn qint(q: &HashMap<String, String>, key: &str) -> ApiResult<Option<i64>> {
    match q.get(key) {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| {
            ApiError::bad_request(format!("invalid value for {key}: {v:?} is not an integer"))
        }),
    }
}

/// Docker's `filters` parameter: `{"label":{"a=b":true}}` or the older `{"label":["a=b"]}`.
pub fn filters(q: &HashMap<String, String>) -> ApiResult<HashMap<String, Vec<String>>> {
    let Some(raw) = q.get("filters").filter(|s| !s.is_empty()) else {
        return Ok(HashMap::new());
    };
    let v: serde_json::Value = serde_json::from_str(raw)
        .map_err(|e| ApiError::bad_request(format!("invalid filter: {e}")))?;
    let mut out = HashMap::new();
    let serde_json::Value::Object(map) = v else {
        return Err(ApiError::bad_request(
            "invalid filter: expected a JSON object",
        ));
    };
    for (k, v) in map {
        let values = match v {
            serde_json::Value::Object(m) => m
                .into_iter()
                .filter(|(_, on)| on.as_bool().unwrap_or(true))
                .map(|(k, _)| k)
                .collect(),
            serde_json::Value::Array(a) => a
                .into_iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect(),
            serde_json::Value::String(s) => vec![s],
            _ => return Err(ApiError::bad_request(format!("invalid filter {k:?}"))),
        };
        out.insert(k, values);
    }
    Ok(out)
}

/// Decodes a JSON body; errors are a 400 naming the field (`HostConfig.Memory: invalid type`).
/// An empty body is the type's default where Docker allows that.
pub fn json_body<T: DeserializeOwned + Default>(body: &Bytes) -> ApiResult<T> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(T::default());
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        if path == "." || path.is_empty() {
            ApiError::bad_request(format!("invalid JSON: {}", e.inner()))
        } else {
            ApiError::bad_request(format!("invalid JSON: field {path}: {}", e.inner()))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_both_shapes() {
        let mut q = HashMap::new();
        q.insert(
            "filters".to_string(),
            r#"{"label":{"a=b":true},"status":["exited"]}"#.to_string(),
        );
        let f = filters(&q).expect("valid");
        assert_eq!(f["label"], vec!["a=b"]);
        assert_eq!(f["status"], vec!["exited"]);
        q.insert("filters".to_string(), "{".to_string());
        assert_eq!(filters(&q).expect_err("bad").status, 400);
    }

    #[test]
    fn json_errors_name_the_field() {
        #[derive(serde::Deserialize, Default, Debug)]
        #[allow(dead_code)]
        struct Hc {
            #[serde(rename = "Memory")]
            memory: Option<i64>,
        }
        #[derive(serde::Deserialize, Default, Debug)]
        #[allow(dead_code)]
        struct Body {
            #[serde(rename = "HostConfig")]
            host_config: Option<Hc>,
        }
        let e = json_body::<Body>(&Bytes::from_static(br#"{"HostConfig":{"Memory":"lots"}}"#))
            .expect_err("bad type");
        assert!(e.message.contains("HostConfig.Memory"), "{}", e.message);
        assert!(json_body::<Body>(&Bytes::from_static(b"")).is_ok());
    }
}

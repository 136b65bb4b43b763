//! API version negotiation. Docker clients put `/vX.Y` in front of every path (docker CLI
//! after `/_ping` told it the server's version; docker-py with its own default). The prefix is
//! stripped before routing and the version kept in the request's extensions.

use axum::http::{Request, Uri};

/// The highest API version served (Docker 28's).
pub const MAX: &str = "1.51";
/// The lowest API version accepted.
pub const MIN: &str = "1.24";

/// The API version of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion(pub u32, pub u32);

impl ApiVersion {
    pub fn parse(s: &str) -> Option<ApiVersion> {
        let (a, b) = s.split_once('.')?;
        Some(ApiVersion(a.parse().ok()?, b.parse().ok()?))
    }
    pub fn max() -> ApiVersion {
        ApiVersion::parse(MAX).expect("MAX is a version")
    }
    pub fn min() -> ApiVersion {
        ApiVersion::parse(MIN).expect("MIN is a version")
    }
    /// Whether the request's version is at least `major.minor`.
    pub fn at_least(self, major: u32, minor: u32) -> bool {
        self >= ApiVersion(major, minor)
    }
}

impl std::fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

/// What the prefix said: a version to serve, or an error message for a 400.
#[derive(Debug)]
pub enum Negotiated {
    Ok(ApiVersion),
    TooNew(String),
    TooOld(String),
}

/// Strips `/vX.Y` from the request's path and records the version (the newest when absent).
pub fn negotiate<B>(req: &mut Request<B>) -> Negotiated {
    let path = req.uri().path().to_string();
    let mut version = ApiVersion::max();
    if let Some(rest) = path.strip_prefix("/v") {
        let (v, tail) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if let Some(parsed) = ApiVersion::parse(v) {
            if parsed > ApiVersion::max() {
                return Negotiated::TooNew(format!(
                    "client version {parsed} is too new. Maximum supported API version is {MAX}"
                ));
            }
            if parsed < ApiVersion::min() {
                return Negotiated::TooOld(format!(
                    "client version {parsed} is too old. Minimum supported API version is {MIN}, please upgrade your client to a newer version"
                ));
            }
            version = parsed;
            let pq = match req.uri().query() {
                Some(q) => format!("{tail}?{q}"),
                None => tail.to_string(),
            };
            let mut parts = req.uri().clone().into_parts();
            if let Ok(p) = pq.parse() {
                parts.path_and_query = Some(p);
            }
            if let Ok(uri) = Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    req.extensions_mut().insert(version);
    Negotiated::Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(p: &str) -> Request<()> {
        Request::builder().uri(p).body(()).expect("request")
    }

    #[test]
    fn prefix_is_stripped_and_kept() {
        let mut r = req("/v1.41/containers/json?all=1");
        assert!(matches!(
            negotiate(&mut r),
            Negotiated::Ok(ApiVersion(1, 41))
        ));
        assert_eq!(r.uri().path(), "/containers/json");
        assert_eq!(r.uri().query(), Some("all=1"));
        let mut r = req("/_ping");
        assert!(matches!(negotiate(&mut r), Negotiated::Ok(v) if v == ApiVersion::max()));
        assert_eq!(r.uri().path(), "/_ping");
    }

    #[test]
    fn out_of_range_versions_are_refused() {
        assert!(matches!(
            negotiate(&mut req("/v1.99/info")),
            Negotiated::TooNew(_)
        ));
        assert!(matches!(
            negotiate(&mut req("/v1.12/info")),
            Negotiated::TooOld(_)
        ));
        assert!(ApiVersion(1, 24).at_least(1, 24) && !ApiVersion(1, 24).at_least(1, 25));
    }
}

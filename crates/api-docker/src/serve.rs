//! The HTTP server: hyper connections (HTTP/1.1 with upgrades for hijacked streams) on a unix
//! socket or TCP listener, the version prefix handled before routing, graceful drain.

use crate::conn::{Activity, ConnLimits, TrackedBody, Watched};
use crate::version::{negotiate, Negotiated};
use axum::body::Body;
use axum::http::Request;
use axum::response::IntoResponse;
use axum::Router;
use berth_engine::Engine;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::OwnedSemaphorePermit;
use tower::ServiceExt;

/// The routes of every resource.
pub fn router(engine: Engine) -> Router {
    crate::routes::all().with_state(engine)
}

/// A listener the daemon serves on, with its connection limits.
#[derive(Debug)]
pub enum Listener {
    Unix(tokio::net::UnixListener, ConnLimits),
    Tcp(tokio::net::TcpListener, ConnLimits),
}

impl Listener {
    fn limits(&self) -> ConnLimits {
        match self {
            Listener::Unix(_, l) | Listener::Tcp(_, l) => *l,
        }
    }
}

/// Serves `router` on `listeners` until `shutdown` resolves; then stops accepting and waits
/// (up to `drain`) for requests in flight. Hijacked streams are not waited for.
pub async fn serve(
    listeners: Vec<Listener>,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send,
    drain: std::time::Duration,
) {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let tracker = tokio_util::task::TaskTracker::new();
    for l in listeners {
        let router = router.clone();
        let mut stop = stop_rx.clone();
        let tracker2 = tracker.clone();
        let limits = l.limits();
        let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
        tracker.spawn(async move {
            loop {
                // A free slot first: past the limit, clients wait in the listen queue.
                let permit = tokio::select! {
                    _ = stop.changed() => break,
                    p = slots.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                };
                let io = tokio::select! {
                    _ = stop.changed() => break,
                    conn = accept(&l, permit) => match conn {
                        Ok(io) => io,
                        Err(e) => {
                            // Out of descriptors (EMFILE) or a connection reset before it
                            // was accepted: pause rather than spin.
                            tracing::warn!("accepting a connection: {e}");
                            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                            continue;
                        }
                    },
                };
                let router = router.clone();
                let stop = stop.clone();
                tracker2.spawn(serve_connection(io, router, stop, limits));
            }
        });
    }
    shutdown.await;
    let _ = stop_tx.send(true);
    tracker.close();
    let _ = tokio::time::timeout(drain, tracker.wait()).await;
}

/// One connection, until the client closes it, a limit closes it, it is hijacked (the
/// stream then lives on in its handler) or the daemon stops.
async fn serve_connection(
    io: BoxIo,
    router: Router,
    mut stop: tokio::sync::watch::Receiver<bool>,
    limits: ConnLimits,
) {
    let activity = io.activity.clone();
    let watched = activity.clone();
    let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
        let router = router.clone();
        let in_flight = watched.request_started();
        async move {
            let resp = handle(router, req).await;
            Ok::<_, Infallible>(TrackedBody::wrap(resp, in_flight))
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, svc)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        why = activity.expired(&limits) => {
            tracing::debug!("closing a client connection: {why}");
        }
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

enum Io {
    Unix(TokioIo<Watched<tokio::net::UnixStream>>),
    Tcp(TokioIo<Watched<tokio::net::TcpStream>>),
}

async fn accept(l: &Listener, slot: OwnedSemaphorePermit) -> std::io::Result<BoxIo> {
    // The connection's clock starts once it is accepted, not when the wait for it began.
    Ok(match l {
        Listener::Unix(u, _) => {
            let (s, _) = u.accept().await?;
            let activity = Activity::new();
            let io = Io::Unix(TokioIo::new(Watched::new(s, activity.clone(), slot)));
            BoxIo { io, activity }
        }
        Listener::Tcp(t, _) => {
            let (s, _) = t.accept().await?;
            let _ = s.set_nodelay(true);
            let activity = Activity::new();
            let io = Io::Tcp(TokioIo::new(Watched::new(s, activity.clone(), slot)));
            BoxIo { io, activity }
        }
    })
}

/// Either stream, as one type hyper can serve, reporting reads to the connection's watchdog.
struct BoxIo {
    io: Io,
    activity: Arc<Activity>,
}

impl hyper::rt::Read for BoxIo {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Unix(s) => std::pin::Pin::new(s).poll_read(cx, buf),
            Io::Tcp(s) => std::pin::Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl hyper::rt::Write for BoxIo {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Unix(s) => std::pin::Pin::new(s).poll_write(cx, buf),
            Io::Tcp(s) => std::pin::Pin::new(s).poll_write(cx, buf),
        }
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Unix(s) => std::pin::Pin::new(s).poll_flush(cx),
            Io::Tcp(s) => std::pin::Pin::new(s).poll_flush(cx),
        }
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Unix(s) => std::pin::Pin::new(s).poll_shutdown(cx),
            Io::Tcp(s) => std::pin::Pin::new(s).poll_shutdown(cx),
        }
    }
}

async fn handle(router: Router, req: Request<hyper::body::Incoming>) -> axum::response::Response {
    let mut req = req.map(Body::new);
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    match negotiate(&mut req) {
        Negotiated::Ok(_) => {}
        Negotiated::TooNew(m) | Negotiated::TooOld(m) => {
            return crate::error::ApiError::bad_request(m).into_response()
        }
    }
    let resp = match router.oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    tracing::debug!(%method, %path, status = resp.status().as_u16(), "request");
    json_error(resp).await
}

/// Errors made outside the handlers (axum's rejections: 413 for a body over the limit, 415,
/// 422...) come as plain text; Docker's clients read `{"message": ...}` from every error.
async fn json_error(resp: axum::response::Response) -> axum::response::Response {
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let text = match axum::body::to_bytes(resp.into_body(), 64 * 1024).await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_string(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_lowercase()
    } else {
        text
    };
    crate::error::ApiError::new(status, message).into_response()
}

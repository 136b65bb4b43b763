//! The HTTP server: hyper connections (HTTP/1.1 with upgrades for hijacked streams) on a unix
//! socket or TCP listener, the version prefix handled before routing, graceful drain.

use crate::version::{negotiate, Negotiated};
use axum::body::Body;
use axum::http::Request;
use axum::response::IntoResponse;
use axum::Router;
use berth_engine::Engine;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use tower::ServiceExt;

/// The routes of every resource.
pub fn router(engine: Engine) -> Router {
    crate::routes::all().with_state(engine)
}

/// A listener the daemon serves on.
#[derive(Debug)]
pub enum Listener {
    Unix(tokio::net::UnixListener),
    Tcp(tokio::net::TcpListener),
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
        tracker.spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.changed() => break,
                    conn = accept(&l) => {
                        let Some(io) = conn else { continue };
                        let router = router.clone();
                        let mut stop = stop.clone();
                        tracker2.spawn(async move {
                            let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                                let router = router.clone();
                                async move { Ok::<_, Infallible>(handle(router, req).await) }
                            });
                            let conn = hyper::server::conn::http1::Builder::new()
                                .serve_connection(io, svc)
                                .with_upgrades();
                            tokio::pin!(conn);
                            tokio::select! {
                                _ = conn.as_mut() => {}
                                _ = stop.changed() => {
                                    conn.as_mut().graceful_shutdown();
                                    let _ = conn.await;
                                }
                            }
                        });
                    }
                }
            }
        });
    }
    shutdown.await;
    let _ = stop_tx.send(true);
    tracker.close();
    let _ = tokio::time::timeout(drain, tracker.wait()).await;
}

enum Io {
    Unix(TokioIo<tokio::net::UnixStream>),
    Tcp(TokioIo<tokio::net::TcpStream>),
}

async fn accept(l: &Listener) -> Option<BoxIo> {
    match l {
        Listener::Unix(u) => u
            .accept()
            .await
            .ok()
            .map(|(s, _)| BoxIo(Io::Unix(TokioIo::new(s)))),
        Listener::Tcp(t) => t.accept().await.ok().map(|(s, _)| {
            let _ = s.set_nodelay(true);
            BoxIo(Io::Tcp(TokioIo::new(s)))
        }),
    }
}

/// Either stream, as one type hyper can serve.
struct BoxIo(Io);

impl hyper::rt::Read for BoxIo {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match &mut self.get_mut().0 {
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
        match &mut self.get_mut().0 {
            Io::Unix(s) => std::pin::Pin::new(s).poll_write(cx, buf),
            Io::Tcp(s) => std::pin::Pin::new(s).poll_write(cx, buf),
        }
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match &mut self.get_mut().0 {
            Io::Unix(s) => std::pin::Pin::new(s).poll_flush(cx),
            Io::Tcp(s) => std::pin::Pin::new(s).poll_flush(cx),
        }
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match &mut self.get_mut().0 {
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
    resp
}

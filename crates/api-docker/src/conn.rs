//! Limits on one client connection, so that a slow or hostile client cannot hold the daemon's
//! connections (and file descriptors) forever:
//!
//! - a request head must be complete within `header_timeout` of the connection's start or of
//!   the request's first byte (a half-sent request is closed);
//! - a keep-alive connection with no request in flight is closed after `idle_timeout`;
//! - a request in flight is never timed out: `logs -f`, `events`, `wait` and uploads last as
//!   long as they need, and attach/exec streams leave this watch when they are hijacked.
//!
//! The per-listener connection limit is a semaphore taken before `accept`, so clients past it
//! wait in the kernel's listen queue and are served when a connection (or a hijacked stream)
//! closes.

use axum::body::{Body, Bytes};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;

/// The limits of one listener (the daemon's come from daemon.json's `api-*` keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// What the watchdog knows of a connection. Times are milliseconds since `start`; 0 means
/// "not set" for `head_since`.
#[derive(Debug)]
pub(crate) struct Activity {
    start: Instant,
    last_io: AtomicU64,
    head_since: AtomicU64,
    in_flight: AtomicUsize,
    changed: tokio::sync::Notify,
}

impl Activity {
    /// A new connection: it is waiting for its first request head from now on.
    pub(crate) fn new() -> Arc<Activity> {
        Arc::new(Activity {
            start: Instant::now(),
            last_io: AtomicU64::new(0),
            head_since: AtomicU64::new(1),
            in_flight: AtomicUsize::new(0),
            changed: tokio::sync::Notify::new(),
        })
    }

    fn now_ms(&self) -> u64 {
        (self.start.elapsed().as_millis() as u64).max(1)
    }

    /// Bytes came in: with no request in flight they begin a request head.
    pub(crate) fn on_read(&self) {
        let now = self.now_ms();
        self.last_io.store(now, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Acquire) == 0
            && self
                .head_since
                .compare_exchange(0, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            self.changed.notify_one();
        }
    }

    /// A complete request head was read: the request is in flight until its response body
    /// is done (or dropped); the guard marks that end.
    pub(crate) fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_since.store(0, Ordering::Release);
        self.changed.notify_one();
        InFlight(self.clone())
    }

    /// When the connection is to be closed if nothing changes, and why; None while a request
    /// is in flight.
    fn deadline(&self, limits: &ConnLimits) -> Option<(Instant, &'static str)> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let at = |ms: u64, d: Duration| self.start + Duration::from_millis(ms) + d;
        match self.head_since.load(Ordering::Acquire) {
            0 => Some((
                at(self.last_io.load(Ordering::Relaxed), limits.idle_timeout),
                "idle",
            )),
            since => Some((
                at(since, limits.header_timeout),
                "request head not complete",
            )),
        }
    }

    /// Resolves when the connection has broken a limit (never while a request is in flight).
    pub(crate) async fn expired(&self, limits: &ConnLimits) -> &'static str {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            // Registered before reading the state, so no change between is missed.
            changed.as_mut().enable();
            match self.deadline(limits) {
                None => changed.await,
                Some((at, why)) => {
                    if Instant::now() >= at {
                        return why;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = changed => {}
                    }
                }
            }
        }
    }
}

/// A request in flight; dropping it (with the response body) starts the idle time.
#[derive(Debug)]
pub(crate) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let a = &self.0;
        a.last_io.store(a.now_ms(), Ordering::Relaxed);
        a.in_flight.fetch_sub(1, Ordering::AcqRel);
        a.changed.notify_one();
    }
}

/// A response body that holds its request's [`InFlight`] until it is sent or dropped.
pub(crate) struct TrackedBody {
    inner: Body,
    _in_flight: InFlight,
}

impl TrackedBody {
    pub(crate) fn wrap(
        resp: axum::response::Response,
        in_flight: InFlight,
    ) -> axum::response::Response {
        resp.map(|inner| {
            Body::new(TrackedBody {
                inner,
                _in_flight: in_flight,
            })
        })
    }
}

impl hyper::body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// A client stream that tells its connection's [`Activity`] when bytes arrive, and holds its
/// listener's connection slot until it is closed: a hijacked attach or exec stream keeps its
/// slot after it leaves hyper.
pub(crate) struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
    _slot: tokio::sync::OwnedSemaphorePermit,
}

impl<S> Watched<S> {
    pub(crate) fn new(
        inner: S,
        activity: Arc<Activity>,
        slot: tokio::sync::OwnedSemaphorePermit,
    ) -> Watched<S> {
        Watched {
            inner,
            activity,
            _slot: slot,
        }
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.on_read();
        }
        r
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ConnLimits = ConnLimits {
        header_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(10),
        max_connections: 1,
    };

    #[tokio::test(start_paused = true)]
    async fn a_silent_new_connection_gets_the_header_timeout() {
        let a = Activity::new();
        let t0 = Instant::now();
        assert_eq!(a.expired(&LIMITS).await, "request head not complete");
        assert!(t0.elapsed() >= Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn requests_in_flight_never_expire_and_idle_follows() {
        let a = Activity::new();
        let guard = a.request_started();
        let waiting = tokio::time::timeout(Duration::from_secs(3600), a.expired(&LIMITS)).await;
        assert!(waiting.is_err(), "a request in flight is not timed out");
        drop(guard);
        let t0 = Instant::now();
        assert_eq!(a.expired(&LIMITS).await, "idle");
        assert!(t0.elapsed() >= Duration::from_secs(10));
        // The next request's first bytes switch to the header timeout.
        let b = Activity::new();
        drop(b.request_started());
        b.on_read();
        assert_eq!(b.expired(&LIMITS).await, "request head not complete");
    }
}

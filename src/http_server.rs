//! The HTTP accept loop: what `axum::serve` does, plus the limits a server facing the
//! internet needs.
//!
//! - **Header-read timeout** (`KANCA_HEADER_READ_TIMEOUT`): a client must send a request's
//!   headers within this time, counted from when the server starts waiting for them (hyper's
//!   HTTP/1 timer), so a slowloris connection that trickles header bytes is closed. For a
//!   kept-alive HTTP/1.1 connection the wait starts after the previous response.
//! - **Idle timeout** (`KANCA_IDLE_TIMEOUT`): a connection with no request in flight (no
//!   response being produced or streamed) for this long is closed, whatever its protocol.
//!   A live stream (SSE) is a request in flight for as long as it lasts.
//! - **Connection limit** (`KANCA_MAX_CONNECTIONS`): past it, new connections wait in the
//!   listen backlog instead of being accepted; an accept error (out of file descriptors) is
//!   logged and retried after a pause rather than spinning or ending the loop.
//! - **Shutdown** closes every connection that has no request in flight at once (idle ones,
//!   and those still sending a request's head: a half-sent request no longer holds shutdown
//!   up), lets requests in flight finish for up to [`SHUTDOWN_GRACE`], then closes the rest.
//!
//! Requests get the peer's address as `ConnectInfo<SocketAddr>`, as with `axum::serve`.

use axum::body::Body;
use axum::extract::ConnectInfo;
use http_body::Frame;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long requests in flight may run on once shutdown has begun.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How long a connection with nothing in flight gets to flush what it wrote, at shutdown.
const FLUSH_GRACE: Duration = Duration::from_millis(500);
/// The pause after a failed accept (typically: out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The connection settings (`kanca serve --help`).
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` is cancelled, then shuts down as the module
/// doc says and returns once every connection is closed.
pub async fn serve<S>(
    listener: TcpListener,
    app: S,
    limits: HttpLimits,
    shutdown: CancellationToken,
) -> std::io::Result<()>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let connections = TaskTracker::new();
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            _ = shutdown.cancelled() => break,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "could not accept a connection; retrying shortly");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        // Small answers (a 202, an `ok`, one SSE event) must not wait for the peer's delayed
        // ACK behind Nagle's algorithm.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY on an accepted connection");
        }
        let activity = Arc::new(Activity::new());
        let service = {
            let app = app.clone();
            let activity = activity.clone();
            hyper::service::service_fn(move |req: http::Request<Incoming>| {
                let mut req = req.map(Body::new);
                req.extensions_mut().insert(ConnectInfo(peer));
                let in_flight = activity.begin();
                let app = app.clone();
                async move {
                    let response = tower::ServiceExt::oneshot(app, req).await?;
                    Ok::<_, Infallible>(response.map(|body| {
                        Body::new(Guarded {
                            body,
                            _in_flight: in_flight,
                        })
                    }))
                }
            })
        };
        let builder = builder.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let _slot = slot;
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tcp), service);
            watch(conn, &activity, limits.idle_timeout, &shutdown).await;
        });
    }
    connections.close();
    connections.wait().await;
    Ok(())
}

/// Drives one connection to its end, closing it when it has been idle too long or when
/// shutdown says so.
async fn watch<F>(
    conn: F,
    activity: &Activity,
    idle_timeout: Duration,
    shutdown: &CancellationToken,
) where
    F: std::future::Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>>
        + GracefulShutdown,
{
    let mut conn = std::pin::pin!(conn);
    let tick = (idle_timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
    let mut ticks = tokio::time::interval(tick);
    let mut deadline: Option<Instant> = None;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "a connection ended with an error");
                }
                return;
            }
            _ = shutdown.cancelled(), if deadline.is_none() => {
                conn.as_mut().shutdown_gracefully();
                let grace = if activity.in_flight() == 0 { FLUSH_GRACE } else { SHUTDOWN_GRACE };
                deadline = Some(Instant::now() + grace);
            }
            _ = ticks.tick() => {
                let now = Instant::now();
                match deadline {
                    // Shutting down: nothing left in flight gets only the flush grace.
                    Some(d) if now >= d => return,
                    Some(d) if activity.in_flight() == 0 => {
                        deadline = Some(d.min(now + FLUSH_GRACE));
                    }
                    Some(_) => {}
                    None if activity.idle_for() >= Some(idle_timeout) => return,
                    None => {}
                }
            }
        }
    }
}

/// `graceful_shutdown` of hyper-util's connection, which is an inherent method.
trait GracefulShutdown {
    fn shutdown_gracefully(self: Pin<&mut Self>);
}

impl<I, S, E> GracefulShutdown
    for hyper_util::server::conn::auto::UpgradeableConnection<'_, I, S, E>
where
    S: hyper::service::HttpService<Incoming>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::ResBody: http_body::Body + Send + 'static,
    <S::ResBody as http_body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, S::ResBody>,
{
    fn shutdown_gracefully(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// A connection's requests in flight, and since when it has had none.
struct Activity {
    in_flight: AtomicUsize,
    idle_since: Mutex<Option<Instant>>,
}

impl Activity {
    fn new() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            idle_since: Mutex::new(Some(Instant::now())),
        }
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        *self.idle_since.lock().expect("activity lock") = None;
        InFlight(self.clone())
    }

    fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    fn idle_for(&self) -> Option<Duration> {
        self.idle_since
            .lock()
            .expect("activity lock")
            .map(|since| since.elapsed())
    }
}

/// One request in flight: from its head being read until its response body is done.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut idle_since = self.0.idle_since.lock().expect("activity lock");
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            *idle_since = Some(Instant::now());
        }
    }
}

/// A response body that keeps its request counted as in flight until it is dropped.
struct Guarded {
    body: Body,
    _in_flight: InFlight,
}

impl http_body::Body for Guarded {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

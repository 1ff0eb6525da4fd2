//! A real HTTP server on `127.0.0.1:0` that stands in for a webhook consumer.
//!
//! It records every request it gets (method, path, headers, body, arrival time, what it
//! answered) and answers from a script: a queue of replies used one per request, then a default.
//! Tests wait on it through a `watch` channel that is bumped on every request, so a wait wakes up
//! the moment a delivery lands instead of sleeping in a loop.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::Value;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How the receiver answers one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// This status code, with a short text body (so attempts have a response to record).
    Status(u16),
    /// This (3xx) status with this `Location`, so a test can point it at a path of this same
    /// receiver and tell whether the redirect was followed.
    Redirect(u16, String),
    /// This status with these extra response headers (e.g. `retry-after`).
    WithHeaders(u16, Vec<(String, String)>),
    /// This status, after this delay: a slow consumer.
    Slow(Duration, u16),
    /// Never answer: the request stays open until the sender gives up or dies.
    Hang,
}

impl Reply {
    /// The status code this reply answers with; `None` for `Hang`.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            Self::Status(code)
            | Self::Redirect(code, _)
            | Self::WithHeaders(code, _)
            | Self::Slow(_, code) => Some(*code),
            Self::Hang => None,
        }
    }
}

/// One request as the receiver saw it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: Method,
    /// Path and query, e.g. `/hook?x=1`.
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub received_at: Instant,
    /// What the receiver answered (or, for `Hang`, did not).
    pub reply: Reply,
}

impl RecordedRequest {
    /// A header as text; `None` when absent or not UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `webhook-id` header, i.e. the message id; panics when missing because every
    /// delivery must carry it.
    pub fn webhook_id(&self) -> String {
        self.header("webhook-id")
            .unwrap_or_else(|| panic!("a delivery without a webhook-id header: {self:?}"))
            .to_owned()
    }

    /// The body parsed as JSON; panics when it is not, since deliveries are JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "a delivery body that is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Whether the receiver answered this request with a 2xx.
    pub fn was_accepted(&self) -> bool {
        self.reply
            .status_code()
            .is_some_and(|code| (200..300).contains(&code))
    }
}

struct Script {
    requests: Vec<RecordedRequest>,
    queued: VecDeque<Reply>,
    default: Reply,
}

struct Shared {
    script: Mutex<Script>,
    /// The number of requests recorded so far; waiters subscribe to changes.
    count: watch::Sender<usize>,
}

/// A running receiver; it stops serving when dropped.
pub struct Receiver {
    shared: Arc<Shared>,
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Receiver {
    /// Starts a receiver that answers 200 to everything until told otherwise.
    pub async fn start() -> Self {
        let shared = Arc::new(Shared {
            script: Mutex::new(Script {
                requests: Vec::new(),
                queued: VecDeque::new(),
                default: Reply::Status(200),
            }),
            count: watch::Sender::new(0),
        });
        let app = Router::new()
            .fallback(record_and_reply)
            // Record whatever arrives, however large: the receiver is not what is under test.
            .layer(DefaultBodyLimit::disable())
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the receiver to 127.0.0.1:0");
        let addr = listener.local_addr().expect("the receiver's address");
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("the receiver stopped serving");
        });
        Self { shared, addr, task }
    }

    /// `http://127.0.0.1:PORT/`, the URL to register as an endpoint.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.addr.port())
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Queues replies for the next requests, in order; once they are used up the default applies.
    pub fn reply_with(&self, replies: impl IntoIterator<Item = Reply>) {
        self.lock().queued.extend(replies);
    }

    /// The reply for every request once the queue is empty.
    pub fn set_default(&self, reply: Reply) {
        self.lock().default = reply;
    }

    /// Everything received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// Waits until at least `n` requests have arrived and returns all of them; panics after
    /// `timeout` so that a server that never delivers fails the test instead of hanging it.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<RecordedRequest> {
        self.wait_until(&format!("{n} request(s)"), timeout, |r| r.len() >= n)
            .await
    }

    /// Waits until `done` holds for the requests received so far, and returns them.
    pub async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&[RecordedRequest]) -> bool,
    ) -> Vec<RecordedRequest> {
        let deadline = tokio::time::Instant::now() + timeout;
        // Subscribe before looking, so a request landing between the look and the wait still
        // wakes us up.
        let mut changes = self.shared.count.subscribe();
        loop {
            {
                let script = self.lock();
                if done(&script.requests) {
                    return script.requests.clone();
                }
            }
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                let seen = self.requests();
                panic!(
                    "timed out after {timeout:?} waiting for the receiver to get {what}; it got {}: {:#?}",
                    seen.len(),
                    seen.iter().map(summary).collect::<Vec<_>>()
                );
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Script> {
        // A panic elsewhere in a test must not hide what the receiver recorded.
        self.shared
            .script
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One line per request for failure messages: enough to see what arrived without the noise.
fn summary(r: &RecordedRequest) -> String {
    format!(
        "{} {} webhook-id={:?} answered {:?}",
        r.method,
        r.path,
        r.header("webhook-id"),
        r.reply
    )
}

async fn record_and_reply(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (reply, count) = {
        let mut script = shared
            .script
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let reply = match script.queued.pop_front() {
            Some(reply) => reply,
            None => script.default.clone(),
        };
        script.requests.push(RecordedRequest {
            method,
            path: uri
                .path_and_query()
                .map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned()),
            headers,
            body,
            received_at: Instant::now(),
            reply: reply.clone(),
        });
        (reply, script.requests.len())
    };
    // Wake the waiters only after the request is recorded, so they always find it.
    shared.count.send_replace(count);
    match reply {
        Reply::Status(code) => (status(code), format!("receiver answered {code}")).into_response(),
        Reply::Redirect(code, location) => {
            (status(code), [(header::LOCATION, location)]).into_response()
        }
        Reply::WithHeaders(code, headers) => {
            let mut response = (status(code), format!("receiver answered {code}")).into_response();
            for (name, value) in headers {
                response.headers_mut().append(
                    HeaderName::try_from(name.as_str())
                        .unwrap_or_else(|_| panic!("{name:?} is not a header name")),
                    HeaderValue::try_from(value.as_str())
                        .unwrap_or_else(|_| panic!("{value:?} is not a header value")),
                );
            }
            response
        }
        Reply::Slow(delay, code) => {
            tokio::time::sleep(delay).await;
            (status(code), format!("receiver answered {code}")).into_response()
        }
        Reply::Hang => std::future::pending().await,
    }
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or_else(|_| panic!("{code} is not an HTTP status"))
}

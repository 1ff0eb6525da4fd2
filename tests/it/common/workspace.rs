//! Helpers for the workspace tests: channels and hooks through the API, raw posts to hook URLs
//! (Slack's `text/plain` answers), the real-sender fixtures, a live-stream (SSE) reader, and a
//! scripted bot that answers outgoing webhooks with JSON replies.

use super::server::TestServer;
use super::wait::{eventually, WAIT};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Router;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// The payloads real senders post (copied from `../shared/fixtures/slack/`).
pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/slack/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// A hook URL's answer: status, `Content-Type`, `Retry-After` and body text.
#[derive(Debug, Clone)]
pub struct HookAnswer {
    pub status: u16,
    pub content_type: String,
    pub retry_after: Option<String>,
    pub body: String,
}

impl HookAnswer {
    /// Asserts a Slack answer: this status and this exact `text/plain` body.
    pub fn assert(&self, status: u16, body: &str) {
        assert_eq!(
            (self.status, self.body.as_str()),
            (status, body),
            "unexpected hook answer: {self:?}"
        );
        assert!(
            self.content_type.starts_with("text/plain"),
            "Slack answers text/plain: {self:?}"
        );
    }
}

impl TestServer {
    pub async fn create_channel(&self, name: &str) -> Value {
        self.post("/api/v1/channels", &json!({ "name": name }))
            .await
    }

    /// Creates an incoming webhook with `body` (its `name` defaults); returns the API answer,
    /// whose `url` is the secret hook URL.
    pub async fn create_incoming_hook(&self, mut body: Value) -> Value {
        if body.get("name").is_none() {
            body["name"] = json!("test hook");
        }
        self.post("/api/v1/incoming-webhooks", &body).await
    }

    /// Posts raw bytes to a hook URL (no admin token), as a sender would.
    pub async fn post_hook(&self, url: &str, content_type: &str, body: Vec<u8>) -> HookAnswer {
        let response = self
            .http()
            .post(url)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("posting to the hook: {e}"));
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        HookAnswer {
            status: response.status().as_u16(),
            content_type: header("content-type").unwrap_or_default(),
            retry_after: header("retry-after"),
            body: response.text().await.unwrap_or_default(),
        }
    }

    /// Posts JSON to a hook URL.
    pub async fn post_hook_json(&self, url: &str, body: &Value) -> HookAnswer {
        self.post_hook(url, "application/json", body.to_string().into_bytes())
            .await
    }

    /// Every message of a channel, oldest first.
    pub async fn channel_messages(&self, channel: &str) -> Vec<Value> {
        let channel = urlencode(channel);
        self.list_all(&format!(
            "/api/v1/channels/{channel}/messages?order=ascending"
        ))
        .await
    }

    /// Waits until a channel holds `n` messages; returns them, oldest first.
    pub async fn wait_for_messages(&self, channel: &str, n: usize) -> Vec<Value> {
        eventually(&format!("{n} message(s) in {channel}"), || async {
            let messages = self.channel_messages(channel).await;
            if messages.len() >= n {
                Ok(messages)
            } else {
                Err(format!("{messages:?}"))
            }
        })
        .await
    }

    /// The security incidents, newest first.
    pub async fn incidents(&self) -> Vec<Value> {
        let v = self.get("/api/v1/security/incidents").await;
        v["data"].as_array().cloned().unwrap_or_default()
    }

    /// Posts a message as a person.
    pub async fn say(&self, channel: &str, user: &str, text: &str) -> Value {
        let channel = urlencode(channel);
        self.post(
            &format!("/api/v1/channels/{channel}/messages"),
            &json!({ "user": user, "text": text }),
        )
        .await
    }

    /// A call's status and body, for checks of refusals.
    pub async fn status_of(&self, method: Method, path: &str, body: Option<&Value>) -> u16 {
        self.call(method, path, body).await.0
    }
}

fn urlencode(s: &str) -> String {
    s.replace('#', "%23")
}

/// One Server-Sent Event.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub event: String,
    pub id: String,
    pub data: String,
}

/// A connection to a live stream, read event by event.
pub struct SseReader {
    response: reqwest::Response,
    buffer: String,
}

impl SseReader {
    /// Connects to `path` with the admin token, resuming after `last_event_id` if given.
    pub async fn connect(server: &TestServer, path: &str, last_event_id: Option<&str>) -> Self {
        let mut request = server.request(Method::GET, path);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.expect("connecting to the stream");
        assert_eq!(response.status().as_u16(), 200, "stream {path}");
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// Reads an already opened stream response (the console's streams, behind a session).
    pub fn from_response(response: reqwest::Response) -> Self {
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next event (comments and keep-alives skipped); panics after `WAIT`.
    pub async fn next(&mut self) -> SseEvent {
        tokio::time::timeout(WAIT, self.read_event())
            .await
            .expect("timed out waiting for a stream event")
    }

    async fn read_event(&mut self) -> SseEvent {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent {
                    event: String::new(),
                    id: String::new(),
                    data: String::new(),
                };
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event.event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("id:") {
                        event.id = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        event.data.push_str(v.strip_prefix(' ').unwrap_or(v));
                    }
                }
                if !event.data.is_empty() {
                    return event;
                }
                continue;
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                other => panic!("the stream ended: {other:?}"),
            }
        }
    }
}

/// One request an outgoing webhook made to the bot.
#[derive(Debug, Clone)]
pub struct BotRequest {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl BotRequest {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The request's fields, from a form or a JSON body.
    pub fn fields(&self) -> Value {
        if self.header("content-type").starts_with("application/json") {
            serde_json::from_slice(&self.body).expect("a JSON body")
        } else {
            let pairs: Vec<(String, String)> =
                serde_urlencoded::from_bytes(&self.body).expect("a form body");
            Value::Object(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect(),
            )
        }
    }
}

struct BotState {
    requests: Mutex<Vec<BotRequest>>,
    replies: Mutex<VecDeque<(u16, Value)>>,
    default: Mutex<(u16, Value)>,
    count: watch::Sender<usize>,
}

/// A real HTTP server standing in for a bot behind an outgoing webhook: it records every
/// request and answers from a script of `(status, JSON body)`.
pub struct Bot {
    state: Arc<BotState>,
    port: u16,
}

impl Bot {
    /// Answers `200 {}` (no reply) until told otherwise.
    pub async fn start() -> Self {
        let state = Arc::new(BotState {
            requests: Mutex::default(),
            replies: Mutex::default(),
            default: Mutex::new((200, json!({}))),
            count: watch::Sender::new(0),
        });
        let app = Router::new().fallback(bot_answer).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { state, port }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/bot", self.port)
    }

    /// The next requests are answered with these, in order.
    pub fn reply_with(&self, replies: impl IntoIterator<Item = (u16, Value)>) {
        self.state.replies.lock().unwrap().extend(replies);
    }

    pub fn set_default(&self, status: u16, body: Value) {
        *self.state.default.lock().unwrap() = (status, body);
    }

    pub fn requests(&self) -> Vec<BotRequest> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Waits for at least `n` requests.
    pub async fn wait_for(&self, n: usize) -> Vec<BotRequest> {
        let mut changes = self.state.count.subscribe();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let seen = self.requests();
            if seen.len() >= n {
                return seen;
            }
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                panic!("timed out waiting for {n} bot request(s); got {seen:?}");
            }
        }
    }
}

async fn bot_answer(
    State(state): State<Arc<BotState>>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    state
        .requests
        .lock()
        .unwrap()
        .push(BotRequest { headers, body });
    let (status, reply) = state
        .replies
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| state.default.lock().unwrap().clone());
    state.count.send_modify(|n| *n += 1);
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json")],
        reply.to_string(),
    )
}

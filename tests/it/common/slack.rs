//! A Slack app's HTTP side for the Events API, slash command and interactivity tests: a real
//! server that checks every request's `X-Slack-Signature` with its own HMAC (none of Kanca's
//! code), answers the `url_verification` challenge as Bolt does, and answers everything else
//! from a script of `(status, body, delay)`.

use super::server::TestServer;
use super::wait::WAIT;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Router;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// Slack's v0 signature, computed here independently.
pub fn slack_v0(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// One request Kanca made to the app.
#[derive(Debug, Clone)]
pub struct AppRequest {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Whether the signature verified with the app's signing secret.
    pub signed: bool,
}

impl AppRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A JSON body, or a form's fields (a `payload` field parsed as JSON).
    pub fn json(&self) -> Value {
        if self
            .header("content-type")
            .unwrap_or("")
            .starts_with("application/json")
        {
            return serde_json::from_slice(&self.body).expect("a JSON body");
        }
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(&self.body).expect("a form body");
        if let Some((_, payload)) = pairs.iter().find(|(k, _)| k == "payload") {
            return serde_json::from_str(payload).expect("a JSON payload");
        }
        Value::Object(
            pairs
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
        )
    }

    /// The event of an `event_callback`.
    pub fn event(&self) -> Value {
        self.json()["event"].clone()
    }
}

/// How the app answers.
#[derive(Debug, Clone)]
pub struct AppReply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    pub delay: Duration,
    pub headers: Vec<(&'static str, &'static str)>,
}

impl AppReply {
    pub fn empty() -> Self {
        Self::text(200, "")
    }

    pub fn text(status: u16, body: &str) -> Self {
        Self {
            status,
            content_type: "text/plain",
            body: body.into(),
            delay: Duration::ZERO,
            headers: Vec::new(),
        }
    }

    pub fn json(body: Value) -> Self {
        Self {
            status: 200,
            content_type: "application/json",
            body: body.to_string(),
            delay: Duration::ZERO,
            headers: Vec::new(),
        }
    }

    pub fn header(mut self, name: &'static str, value: &'static str) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

struct AppState {
    secret: Mutex<String>,
    answer_challenges: Mutex<bool>,
    requests: Mutex<Vec<AppRequest>>,
    replies: Mutex<VecDeque<AppReply>>,
    default: Mutex<AppReply>,
    count: watch::Sender<usize>,
}

/// A Slack app made through the management API, with its HTTP server.
pub struct SlackApp {
    state: Arc<AppState>,
    port: u16,
    /// The management API's answer at creation (`botToken`, `signingSecret`, `botUserId` …).
    pub app: Value,
}

impl SlackApp {
    /// Creates an app named `name` and starts its server (answering challenges, `200` and an
    /// empty body to everything else).
    pub async fn create(server: &TestServer, name: &str) -> Self {
        let app = server
            .post("/api/v1/slack-apps", &json!({ "name": name }))
            .await;
        Self::serve(app).await
    }

    /// Starts the server of an app made elsewhere (`app` is the management API's view of it).
    pub async fn serve(app: Value) -> Self {
        let state = Arc::new(AppState {
            secret: Mutex::new(app["signingSecret"].as_str().unwrap().to_owned()),
            answer_challenges: Mutex::new(true),
            requests: Mutex::default(),
            replies: Mutex::default(),
            default: Mutex::new(AppReply::empty()),
            count: watch::Sender::new(0),
        });
        let router = Router::new().fallback(answer).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self { state, port, app }
    }

    pub fn id(&self) -> &str {
        self.app["id"].as_str().unwrap()
    }

    pub fn token(&self) -> &str {
        self.app["botToken"].as_str().unwrap()
    }

    pub fn bot_user_id(&self) -> &str {
        self.app["botUserId"].as_str().unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Subscribes to `events` with this server as the request URL; the management API's answer.
    pub async fn subscribe(&self, server: &TestServer, events: &[&str]) -> Value {
        server
            .call_ok(
                reqwest::Method::PATCH,
                &format!("/api/v1/slack-apps/{}", self.id()),
                Some(&json!({
                    "events": { "requestUrl": self.url("/slack/events"), "eventTypes": events }
                })),
            )
            .await
    }

    pub fn answer_challenges(&self, yes: bool) {
        *self.state.answer_challenges.lock().unwrap() = yes;
    }

    pub fn reply_with(&self, replies: impl IntoIterator<Item = AppReply>) {
        self.state.replies.lock().unwrap().extend(replies);
    }

    pub fn set_default(&self, reply: AppReply) {
        *self.state.default.lock().unwrap() = reply;
    }

    pub fn requests(&self) -> Vec<AppRequest> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Waits for at least `n` requests.
    pub async fn wait_for(&self, n: usize) -> Vec<AppRequest> {
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
                panic!("timed out waiting for {n} app request(s); got {seen:#?}");
            }
        }
    }

    /// Waits for the first `event_callback` whose event matches `pred`.
    pub async fn wait_for_event(&self, what: &str, pred: impl Fn(&Value) -> bool) -> AppRequest {
        let mut changes = self.state.count.subscribe();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let seen = self.requests();
            if let Some(r) = seen
                .iter()
                .find(|r| r.json()["type"] == "event_callback" && pred(&r.event()))
            {
                return r.clone();
            }
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                let events: Vec<Value> = seen.iter().map(|r| r.json()).collect();
                panic!("timed out waiting for {what}; got {events:#?}");
            }
        }
    }
}

async fn answer(
    State(state): State<Arc<AppState>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let secret = state.secret.lock().unwrap().clone();
    let timestamp = headers
        .get("x-slack-request-timestamp")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let signature = headers
        .get("x-slack-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let fresh = timestamp
        .parse::<i64>()
        .is_ok_and(|t| (chrono::Utc::now().timestamp() - t).abs() <= 300);
    let signed = fresh && signature == slack_v0(&secret, &timestamp, &body);
    let request = AppRequest {
        path: uri.path().to_owned(),
        headers,
        body: body.clone(),
        signed,
    };
    let challenge = serde_json::from_slice::<Value>(&body)
        .ok()
        .filter(|v| v["type"] == "url_verification")
        .and_then(|v| v["challenge"].as_str().map(str::to_owned));
    state.requests.lock().unwrap().push(request);
    state.count.send_modify(|n| *n += 1);
    if let Some(challenge) = challenge {
        if *state.answer_challenges.lock().unwrap() {
            return (
                StatusCode::OK,
                [("content-type", "application/json")],
                json!({ "challenge": challenge }).to_string(),
            )
                .into_response();
        }
        return (
            StatusCode::OK,
            [("content-type", "text/plain")],
            "not the challenge".to_owned(),
        )
            .into_response();
    }
    let reply = state
        .replies
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| state.default.lock().unwrap().clone());
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut response = (
        StatusCode::from_u16(reply.status).unwrap(),
        [("content-type", reply.content_type)],
        reply.body,
    )
        .into_response();
    for (name, value) in reply.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

//! JSON calls to the server's `/api/v1` and the few resource helpers every test file needs.
//!
//! Tests that are about the Svix SDK use `TestServer::svix()`; everything else talks plain
//! HTTP + JSON through these helpers, so that a failure shows the exact status and body the
//! server sent. Helpers that expect success panic with that status and body otherwise.

use super::server::TestServer;
use super::wait::eventually;
use reqwest::Method;
use serde_json::{json, Value};

/// Per-endpoint delivery status as `/msg/{id}/endpoint` reports it (Svix's `MessageStatus`).
pub const STATUS_SUCCESS: i64 = 0;
pub const STATUS_PENDING: i64 = 1;
pub const STATUS_FAIL: i64 = 2;
// The whole mapping, though no test waits for this one today.
#[allow(dead_code)]
pub const STATUS_SENDING: i64 = 3;

/// Pages are kept small so that listing exercises the iterator on any real amount of data.
const PAGE_SIZE: usize = 50;

impl TestServer {
    /// Sends a request with an optional JSON body; returns the status code and the body as
    /// JSON (`Null` when empty, a JSON string when the body is not JSON).
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> (u16, Value) {
        let mut request = self.request(method.clone(), path);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: no answer from the server: {e}"));
        let status = response.status().as_u16();
        let text = response.text().await.expect("reading the response body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    /// A call that must succeed (2xx); returns the JSON body.
    pub async fn call_ok(&self, method: Method, path: &str, body: Option<&Value>) -> Value {
        let (status, value) = self.call(method.clone(), path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path} with {body:?} answered {status}: {value}"
        );
        value
    }

    pub async fn get(&self, path: &str) -> Value {
        self.call_ok(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Value {
        self.call_ok(Method::POST, path, Some(body)).await
    }

    /// Every item of a list route, following `iterator` until `done`.
    pub async fn list_all(&self, path: &str) -> Vec<Value> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut iterator: Option<String> = None;
        // A bound, so a server whose iterator never ends fails instead of looping forever.
        for _ in 0..1000 {
            let mut page_path = format!("{path}{separator}limit={PAGE_SIZE}");
            if let Some(it) = &iterator {
                // Iterators are opaque: they may hold characters that need escaping.
                let it: String = url::form_urlencoded::byte_serialize(it.as_bytes()).collect();
                page_path.push_str(&format!("&iterator={it}"));
            }
            let page = self.get(&page_path).await;
            let data = page["data"]
                .as_array()
                .unwrap_or_else(|| panic!("GET {page_path}: no `data` list in {page}"));
            items.extend(data.iter().cloned());
            iterator = page["iterator"].as_str().map(str::to_owned);
            if page["done"].as_bool() != Some(false) || iterator.is_none() {
                return items;
            }
        }
        panic!("GET {path}: the list did not end after 1000 pages");
    }

    /// Creates an application and returns its id.
    pub async fn create_app(&self, name: &str) -> String {
        let app = self.post("/api/v1/app", &json!({ "name": name })).await;
        id_of(&app)
    }

    /// Creates an event type with no schema.
    pub async fn create_event_type(&self, name: &str) {
        self.post(
            "/api/v1/event-type",
            &json!({ "name": name, "description": format!("{name} (test)") }),
        )
        .await;
    }

    /// Creates an endpoint from a JSON body (at least `url`) and returns its id.
    pub async fn create_endpoint(&self, app_id: &str, body: Value) -> String {
        let endpoint = self
            .post(&format!("/api/v1/app/{app_id}/endpoint"), &body)
            .await;
        id_of(&endpoint)
    }

    /// Publishes a message and returns its id.
    pub async fn publish(&self, app_id: &str, body: Value) -> String {
        let message = self.post(&format!("/api/v1/app/{app_id}/msg"), &body).await;
        id_of(&message)
    }

    /// Every attempt made for a message, oldest first.
    pub async fn attempts_for_msg(&self, app_id: &str, msg_id: &str) -> Vec<Value> {
        let mut attempts = self
            .list_all(&format!("/api/v1/app/{app_id}/attempt/msg/{msg_id}"))
            .await;
        // Svix lists newest first; tests reason in the order the attempts were made. Ids are
        // time-ordered, so they break timestamp ties.
        attempts.sort_by_key(|a| {
            (
                a["timestamp"].as_str().unwrap_or_default().to_owned(),
                a["id"].as_str().unwrap_or_default().to_owned(),
            )
        });
        attempts
    }

    /// The per-endpoint delivery status of a message (`/msg/{id}/endpoint`).
    pub async fn delivery_statuses(&self, app_id: &str, msg_id: &str) -> Vec<Value> {
        self.list_all(&format!("/api/v1/app/{app_id}/msg/{msg_id}/endpoint"))
            .await
    }

    /// Waits until the delivery of a message to an endpoint is over (success or fail) and
    /// returns its status entry.
    pub async fn wait_for_outcome(&self, app_id: &str, msg_id: &str, endpoint_id: &str) -> Value {
        eventually(
            &format!("the delivery of {msg_id} to {endpoint_id} to end"),
            || async {
                let statuses = self.delivery_statuses(app_id, msg_id).await;
                match statuses.iter().find(|s| s["id"] == endpoint_id) {
                    Some(s) if is_final(s) => Ok(s.clone()),
                    _ => Err(format!("{statuses:?}")),
                }
            },
        )
        .await
    }

    /// Waits until nothing is left to send for a message, to any endpoint; returns the statuses.
    pub async fn wait_until_settled(&self, app_id: &str, msg_id: &str) -> Vec<Value> {
        eventually(&format!("every delivery of {msg_id} to end"), || async {
            let statuses = self.delivery_statuses(app_id, msg_id).await;
            if statuses.iter().all(is_final) {
                Ok(statuses)
            } else {
                Err(format!("{statuses:?}"))
            }
        })
        .await
    }
}

/// Whether a per-endpoint status entry says the delivery is over.
fn is_final(status: &Value) -> bool {
    matches!(
        status["status"].as_i64(),
        Some(STATUS_SUCCESS | STATUS_FAIL)
    )
}

/// The `id` of a created resource; panics with the body when it has none.
pub fn id_of(resource: &Value) -> String {
    resource["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no string `id` in {resource}"))
        .to_owned()
}

/// Checks that a response is the error the contract promises: this status, a JSON body with
/// this `code` and a non-empty `detail`. `what` names the request in failure messages.
/// Returns the body.
pub async fn expect_error(
    response: reqwest::Response,
    status: u16,
    code: &str,
    what: &str,
) -> Value {
    let actual = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await.unwrap_or_default();
    assert_eq!(
        actual, status,
        "{what}: expected {status} `{code}`, got {actual}: {text}"
    );
    assert!(
        content_type.starts_with("application/json"),
        "{what}: an error must be JSON, got content-type {content_type:?}: {text}"
    );
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{what}: the error body is not JSON ({e}): {text}"));
    assert_eq!(body["code"], code, "{what}: wrong error code in {body}");
    let detail = error_detail(&body);
    assert!(
        !detail.trim().is_empty(),
        "{what}: an error without a detail: {body}"
    );
    if status == 422 {
        // Svix's HTTPValidationError, which every Svix SDK decodes.
        let items = body["detail"]
            .as_array()
            .unwrap_or_else(|| panic!("{what}: a 422 detail must be Svix's list: {body}"));
        for item in items {
            assert!(item["loc"].is_array(), "{what}: loc must be a list: {body}");
            assert!(
                item["type"].is_string(),
                "{what}: type must be a string: {body}"
            );
        }
    }
    body
}

/// The words of an error answer: `detail` itself, or the messages of a 422's list.
pub fn error_detail(body: &Value) -> String {
    match &body["detail"] {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i["msg"].as_str())
            .collect::<Vec<_>>()
            .join("; "),
        _ => String::new(),
    }
}

//! Sending a captured request again, to any URL.
//!
//! A replay goes out like a delivery: through the delivery engine's [`Sender`], so the SSRF
//! guard applies (a bin must not become a way to reach the private network), redirects are
//! not followed, and this server's own bins are reached directly. The request is sent as
//! captured (method, headers minus the connection-level ones, body) to exactly the URL given.
//!
//! [`Sender`]: crate::delivery::sender::Sender

use super::{is_forwarded, Inspector};
use crate::domain::bins::Capture;
use crate::domain::EndpointUrl;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;

/// What the target answered, or why it did not.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayResult {
    /// `None` when no response arrived (see `error`).
    pub status: Option<u16>,
    pub headers: Vec<(String, String)>,
    /// The first 64 KiB of the response body (lossy UTF-8).
    pub body: String,
    pub duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub async fn replay(inspector: &Inspector, capture: &Capture, url: &EndpointUrl) -> ReplayResult {
    let mut headers = HeaderMap::new();
    for (name, value) in capture.headers.iter().filter(|(n, _)| is_forwarded(n)) {
        // A captured header that is not valid any more (it was stored lossily) is left out
        // rather than failing the replay.
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(n, v);
        }
    }
    let method =
        reqwest::Method::from_bytes(capture.method.as_bytes()).unwrap_or(reqwest::Method::POST);
    let result = inspector
        .sender
        .send(
            method,
            url,
            headers,
            bytes::Bytes::from(capture.body.clone()),
        )
        .await;
    ReplayResult {
        status: result.status,
        error: result.status.is_none().then(|| result.body.clone()),
        body: if result.status.is_some() {
            result.body
        } else {
            String::new()
        },
        headers: result.headers,
        duration_ms: result.duration.as_millis() as u64,
    }
}

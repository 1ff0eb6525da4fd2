//! Capturing a request that arrived at a bin, and how a captured request is shown.
//!
//! The capture is committed before anything else happens (the bin's answer, a configured
//! delay), then announced on the bin's live topic, so a stream that wakes finds the row.

use crate::domain::bins::*;
use crate::live::LiveHub;
use crate::store::bins::CaptureOutcome;
use crate::store::{DynStore, StoreResult};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Stores `request` in the bin (trimming it to its cap) and wakes the bin's live streams.
pub async fn capture(
    store: &DynStore,
    hub: &LiveHub,
    bin: &BinId,
    request: &NewCapture,
) -> StoreResult<CaptureOutcome> {
    let outcome = store.capture(bin, request).await?;
    if matches!(outcome, CaptureOutcome::Captured(..)) {
        hub.publish(&bin.topic()).await;
    }
    Ok(outcome)
}

/// Up to `limit` of a bin's requests that arrived after `after` (a capture id; from the first
/// when `None`), oldest first: what a live stream sends next, in the API and the console alike.
pub async fn captures_after(
    store: &DynStore,
    bin: &BinId,
    after: Option<&str>,
    limit: u32,
) -> StoreResult<Vec<Capture>> {
    let page = crate::store::bins::CapturePage {
        after: after.and_then(|a| CaptureId::parse(a).ok()),
        ascending: true,
        limit,
    };
    store.list_captures(bin, &page, &Default::default()).await
}

/// A captured request as the API, the live stream and the JSON export show it. The body is
/// `body` when it is UTF-8 text and `bodyBase64` otherwise, so binary bodies survive JSON.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CaptureJson {
    pub id: String,
    pub bin_id: String,
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_base64: Option<String>,
    pub remote_addr: String,
    pub size: usize,
    pub received_at: DateTime<Utc>,
}

impl From<Capture> for CaptureJson {
    fn from(c: Capture) -> Self {
        let size = c.body.len();
        let (body, body_base64) = match String::from_utf8(c.body) {
            Ok(text) => (Some(text), None),
            Err(e) => (
                None,
                Some(base64::engine::general_purpose::STANDARD.encode(e.as_bytes())),
            ),
        };
        Self {
            id: c.id.to_string(),
            bin_id: c.bin_id.to_string(),
            method: c.method,
            path: c.path,
            query: c.query,
            headers: c.headers,
            body,
            body_base64,
            remote_addr: c.remote_addr,
            size,
            received_at: c.received_at,
        }
    }
}

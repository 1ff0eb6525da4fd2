//! Storage for request bins and the requests they capture ([`BinStore`]).
//!
//! A capture is one transaction that numbers the request (the bin's `last_seq`, bumped under
//! the bin row's lock), stores it, and drops the requests that fell out of the bin's window,
//! so the cap holds at every commit and the numbers follow commit order (they are the live
//! stream's cursor). The window is "the last `maxRequests` arrivals": a request deleted by hand
//! does not make room for an older one to stay, which keeps the trim an index range delete
//! instead of a count.

use crate::domain::bins::*;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{PageRequest, StoreResult};

/// Which captured requests to list.
#[derive(Debug, Clone, Default)]
pub struct CaptureFilter {
    /// Only this method (compared case-insensitively).
    pub method: Option<String>,
    /// Only paths that start with this.
    pub path_prefix: Option<String>,
    /// Only requests whose path, query, headers or body contain these bytes.
    pub text: Option<String>,
}

/// A page of captures, by number.
#[derive(Debug, Clone, Copy)]
pub struct CapturePage {
    /// Captures numbered after (ascending) or before (descending) this one.
    pub after: Option<CaptureId>,
    pub ascending: bool,
    pub limit: u32,
}

/// What became of a request sent to a bin.
#[derive(Debug)]
pub enum CaptureOutcome {
    /// Stored; the bin answers with its response.
    Captured(Box<Capture>, BinResponse),
    /// The bin's time to live has passed: nothing stored.
    Expired,
    NotFound,
}

#[async_trait]
pub trait BinStore: Send + Sync + 'static {
    async fn create_bin(&self, bin: &Bin) -> StoreResult<()>;
    async fn get_bin(&self, id: &BinId) -> StoreResult<Option<Bin>>;
    /// Bins by id (creation time); the iterator is a bin id.
    async fn list_bins(&self, page: &PageRequest) -> StoreResult<Vec<Bin>>;
    /// Replaces the settings and the expiry; `NotFound` if the bin is gone.
    async fn update_bin(
        &self,
        id: &BinId,
        settings: &BinSettings,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Bin>;
    /// Deletes the bin and everything it captured.
    async fn delete_bin(&self, id: &BinId) -> StoreResult<()>;

    /// Stores a request in a live bin and trims the bin to its cap, in one transaction.
    async fn capture(&self, bin: &BinId, request: &NewCapture) -> StoreResult<CaptureOutcome>;
    async fn list_captures(
        &self,
        bin: &BinId,
        page: &CapturePage,
        filter: &CaptureFilter,
    ) -> StoreResult<Vec<Capture>>;
    async fn get_capture(&self, bin: &BinId, id: CaptureId) -> StoreResult<Option<Capture>>;
    /// Whether it was there.
    async fn delete_capture(&self, bin: &BinId, id: CaptureId) -> StoreResult<bool>;
    /// Deletes every capture of the bin; returns how many.
    async fn clear_captures(&self, bin: &BinId) -> StoreResult<u64>;
}

/// The stored form of a capture's headers: `[[name, value], …]`.
pub(crate) fn headers_to_json(headers: &[(String, String)]) -> String {
    serde_json::to_string(headers).unwrap_or_else(|_| "[]".into())
}

pub(crate) fn headers_from_json(text: &str) -> Vec<(String, String)> {
    serde_json::from_str(text).unwrap_or_default()
}

pub(crate) fn response_to_json(response: &BinResponse) -> String {
    serde_json::to_string(response).unwrap_or_else(|_| "{}".into())
}

pub(crate) fn response_from_json(text: &str) -> BinResponse {
    serde_json::from_str(text).unwrap_or_default()
}

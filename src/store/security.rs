//! Storage for security records: incidents (refused requests, blocks, failed sign-ins) and
//! console sessions that were signed out.
//!
//! A sub-trait of [`super::Store`], like the workspace's; each backend implements it in its
//! `security.rs`.
//!
//! Incidents are aggregated: repeats of one reason from one address within one window are
//! one row with a count (`hits`), not a row each, so a flood of wrong tokens grows a counter
//! rather than the table. Rows older than the retention period, and the oldest past a row
//! cap, are pruned ([`SecurityStore::prune_incidents`]).

use super::{PageRequest, StoreResult};
use crate::domain::workspace::Incident;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
pub trait SecurityStore {
    /// Counts `incident` into the row of its address and reason for the window starting at
    /// `window_start`, creating it with `hits = 1` (and this path) if there is none.
    async fn record_incident(
        &self,
        incident: &Incident,
        window_start: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// A page of incidents, keyed by their numeric id (newest first by default).
    async fn list_incidents(&self, page: &PageRequest) -> StoreResult<Vec<Incident>>;
    /// Deletes incidents last seen before `older_than`, then all but the newest `keep`;
    /// returns how many went.
    async fn prune_incidents(&self, older_than: DateTime<Utc>, keep: u32) -> StoreResult<u64>;

    /// Remembers that the console session `id` was signed out, until it would have expired
    /// anyway (rows past that are dropped on the way).
    async fn end_session(&self, id: &str, expires_at: DateTime<Utc>) -> StoreResult<()>;
    /// Whether the console session `id` was signed out.
    async fn session_ended(&self, id: &str) -> StoreResult<bool>;
}

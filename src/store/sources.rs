//! Storage for sources (Svix's Ingest API): the sources themselves and the log of what
//! arrived at their URLs.
//!
//! A sub-trait of [`super::Store`]; each backend implements it in its `sources.rs`. A source
//! is created together with its internal application in one transaction, and deleting it
//! deletes that application (its endpoints, messages and deliveries go with it). What a
//! source accepts is stored as a message of its application through
//! [`super::Store::create_message`], like any other message.

use super::{PageRequest, StoreResult};
use crate::domain::sources::{Arrival, IngestToken, Source, SourceFields, SourceId};
use crate::domain::{IdOrUid, Message};
use async_trait::async_trait;

#[async_trait]
pub trait SourceStore {
    /// Stores a source and the internal application that holds its endpoints, in one
    /// transaction. A taken uid is a `Conflict`.
    async fn create_source(&self, fields: SourceFields, token: &IngestToken)
        -> StoreResult<Source>;
    async fn get_source(&self, key: &IdOrUid) -> StoreResult<Option<Source>>;
    /// The source whose ingest URL holds this token.
    async fn source_by_token(&self, token: &IngestToken) -> StoreResult<Option<Source>>;
    async fn list_sources(&self, page: &PageRequest) -> StoreResult<Vec<Source>>;
    /// Replaces the source's fields. `NotFound` when it is gone.
    async fn update_source(&self, id: &SourceId, fields: SourceFields) -> StoreResult<Source>;
    /// Gives the source a new token: its old URL stops working with this commit.
    async fn rotate_source_token(&self, id: &SourceId, token: &IngestToken) -> StoreResult<()>;
    /// Deletes the source, its application and everything of it. `NotFound` when it is gone.
    async fn delete_source(&self, id: &SourceId) -> StoreResult<()>;
    /// Adds an entry to the source's log; returns its id.
    async fn record_arrival(&self, arrival: &Arrival) -> StoreResult<i64>;
    /// Deletes all but the newest `keep` entries of the source's log; returns how many went.
    async fn prune_arrivals(&self, source: &SourceId, keep: u32) -> StoreResult<u64>;
    /// One entry of the source's log.
    async fn get_arrival(&self, source: &SourceId, id: i64) -> StoreResult<Option<Arrival>>;
    /// Every `cron` source (the scheduler's work list; there are few).
    async fn cron_sources(&self) -> StoreResult<Vec<Source>>;
    /// Stores what a source accepted: its own message and, when it publishes into an
    /// application, that message too, each with one delivery per subscribed endpoint, in one
    /// transaction. A taken eventId (a duplicate) is the `Conflict`
    /// [`super::EVENT_ID_TAKEN`] and stores nothing. `entry`, the request's log entry, is
    /// stored in the same transaction (one commit per accepted request). Returns the
    /// deliveries queued.
    async fn accept_messages(
        &self,
        messages: Vec<Message>,
        entry: Option<Arrival>,
    ) -> StoreResult<u64>;
    /// A page of the source's log, keyed by entry id (newest first by default).
    async fn list_arrivals(
        &self,
        source: &SourceId,
        page: &PageRequest,
    ) -> StoreResult<Vec<Arrival>>;
}

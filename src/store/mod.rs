//! Storage behind one interface.
//!
//! The rest of Kanca talks to [`Store`] and does not know which database is underneath. The
//! database is also the delivery queue: a message and one `delivery` row per matching endpoint
//! are written in one transaction, so "stored" and "queued" can never disagree, and a
//! delivery is claimed with a lease so that a crashed worker's work comes back on its own.
//!
//! The interface is one trait per aggregate ([`AppStore`], [`EndpointStore`],
//! [`MessageStore`], [`QueueStore`], [`WorkspaceStore`], [`SlackStore`], [`SecurityStore`], [`PortalStore`], [`SourceStore`],
//! [`bins::BinStore`]),
//! gathered by [`Store`]. Each backend implements them where its SQL is and keeps only that
//! SQL, the code that binds it, and its migrations (`migrations/<backend>/`). What does not
//! depend on the database is written once:
//!
//! - [`rules`]: fan-out targets, runs of failures, a delivery's status after an attempt,
//!   idempotency keys within a batch, and the status values as SQL literals;
//! - `group_commit`: the writer that batches publishes and attempt records into one
//!   transaction, for both backends;
//! - `cells`: reading a row into a record, whatever each backend's column types;
//! - [`charts`]: an endpoint's attempts per interval and their latency percentiles, from
//!   the counts each backend groups;
//! - [`health`]: which errors mean "storage is unavailable", and whether writes succeed.
//!
//! Errors come out as [`StoreError`], which names no driver type, and time comes from the
//! injected [`Clock`] ([`StoreOptions::clock`]), never from the system clock directly.

pub mod bins;
pub(crate) mod cells;
pub mod charts;
pub(crate) mod group_commit;
pub mod health;
pub mod portal;
pub mod postgres;
pub mod rules;
pub mod security;
pub mod slack;
pub mod sources;
pub mod sqlite;
pub mod workspace;

pub use group_commit::WaitingClaim;
pub use portal::PortalStore;
pub use security::SecurityStore;
pub use slack::SlackStore;
pub use sources::SourceStore;
pub use workspace::WorkspaceStore;

use crate::clock::Clock;
use crate::domain::*;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;

/// What can go wrong in the store, in terms the API can answer with.
///
/// The database driver stays behind this type: each backend turns its errors into these
/// variants where they happen ([`From<sqlx::Error>`] classifies the common ones), so callers
/// never look at SQLSTATEs or driver types.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique constraint said no: the uid or name is taken.
    #[error("{0}")]
    Conflict(String),
    /// A row this write points to is gone (an application deleted meanwhile).
    #[error("the application or endpoint no longer exists")]
    ReferenceGone,
    /// The database cannot store a value as given (PostgreSQL text cannot hold U+0000): the
    /// input's fault, not the server's.
    #[error("{0}")]
    Unstorable(String),
    /// The storage cannot take or serve the request now (disk full, I/O error, database down
    /// or out of connections); the same request can succeed later. See [`health`].
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug or a database in a state Kanca does not expect.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if health::is_unavailable(&e) {
            return Self::Unavailable(e.to_string());
        }
        if let Some(db) = e.as_database_error() {
            if db.is_foreign_key_violation() {
                return Self::ReferenceGone;
            }
            // SQLSTATE 22021: a character not valid in the encoding (U+0000 in text).
            if db.code().as_deref() == Some("22021") {
                return Self::Unstorable(
                    "text fields must not contain NUL (\\u0000) characters".into(),
                );
            }
        }
        Self::Other(e.into())
    }
}

/// The SQLite hot path's errors (`sqlite/hot.rs`), classified as sqlx's are.
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        if health::is_unavailable_sqlite(&e) {
            return Self::Unavailable(e.to_string());
        }
        match &e {
            // SQLITE_CONSTRAINT_FOREIGNKEY
            rusqlite::Error::SqliteFailure(f, _) if f.extended_code == 787 => Self::ReferenceGone,
            _ => Self::Other(e.into()),
        }
    }
}

impl StoreError {
    /// A unique-constraint failure of the SQLite hot path as a [`Self::Conflict`] that says
    /// `what`.
    pub(crate) fn conflict_or_sqlite(err: rusqlite::Error, what: &str) -> Self {
        match &err {
            // SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY
            rusqlite::Error::SqliteFailure(f, _) if matches!(f.extended_code, 2067 | 1555) => {
                Self::Conflict(what.into())
            }
            _ => err.into(),
        }
    }

    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    /// A unique-constraint failure as a [`Self::Conflict`] that says `what`; anything else as
    /// [`From<sqlx::Error>`] classifies it.
    pub(crate) fn conflict_or(err: sqlx::Error, what: &str) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict(what.into()),
            _ => err.into(),
        }
    }
}

/// What a second message with the same `eventId` in one application is told (Svix's answer).
pub const EVENT_ID_TAKEN: &str = "a message with this eventId already exists in this application";

pub type StoreResult<T> = Result<T, StoreError>;

/// One page of a list: `limit` rows after `iterator` (an id or name), in the given order.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub limit: u32,
    pub iterator: Option<String>,
    pub ascending: bool,
}

/// Optional filters for listing messages.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    pub event_types: Option<Vec<EventTypeName>>,
    pub channel: Option<ChannelName>,
    pub before: Option<DateTime<Utc>>,
    pub after: Option<DateTime<Utc>>,
    /// Only messages with at least one delivery (to any endpoint) that stands so, as the
    /// portal's message log filters "failed" or "pending" messages. Svix's message list has no
    /// such filter, so the API leaves it unset. [`MessageStore::list_messages`] honours it;
    /// [`MessageStore::endpoint_messages`] asks about one endpoint's delivery and takes
    /// [`EndpointMessageFilter::status`] instead.
    pub status: Option<DeliveryStatus>,
}

/// Which of an endpoint's messages to list (`GET …/endpoint/{ep}/msg`).
#[derive(Debug, Clone, Default)]
pub struct EndpointMessageFilter {
    pub messages: MessageFilter,
    /// Only messages that stand so for the endpoint.
    pub status: Option<DeliveryStatus>,
}

/// Counts of an endpoint's attempts in a time window ([`EndpointStore::attempt_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttemptStats {
    pub success: u64,
    pub fail: u64,
    pub canceled: u64,
}

/// Which messages a replay looks at ([`QueueStore::replay_candidates`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayWhich {
    /// Never queued for the endpoint (it did not exist or did not subscribe then).
    Missing,
    /// Queued for the endpoint before; with a status, only those that stand so.
    Sent(Option<DeliveryStatus>),
}

/// Which attempts to list.
#[derive(Debug, Clone)]
pub struct AttemptFilter {
    pub msg_id: Option<MessageId>,
    pub endpoint_id: Option<EndpointId>,
    pub status: Option<DeliveryStatus>,
}

/// Which endpoints a new message goes to.
#[derive(Debug, Clone)]
pub enum FanOut {
    /// Every enabled endpoint of the application whose event types and channels match.
    Subscribed,
    /// One endpoint only, whatever it subscribes to ("send test event").
    Only(EndpointId),
}

/// The messages that describe an endpoint change (the operational `endpoint.*` events), made
/// from the endpoint as the change leaves it (as it was, for a delete). The store calls this
/// inside the change's transaction and inserts what it returns, each fanned out to its
/// application's subscribed endpoints, before it commits: a change is never stored without
/// its events (DESIGN.md: the database is the queue). A closure rather than a list because
/// a new endpoint's id and timestamps are given inside the store.
pub type EndpointEvents = Box<dyn FnOnce(&Endpoint) -> Vec<Message> + Send>;

/// An endpoint change that tells nobody.
pub fn no_events() -> EndpointEvents {
    Box::new(|_| Vec::new())
}

/// An API response kept under an idempotency key, replayed for a repeated request.
#[derive(Debug, Clone)]
pub struct StoredResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

/// The idempotency key of a request, and the response to keep under it if it succeeds.
#[derive(Debug, Clone)]
pub struct IdempotentWrite {
    pub key: String,
    pub scope: String,
    pub response: StoredResponse,
}

/// Who may do the work of a request that carries an idempotency key.
#[derive(Debug)]
pub enum IdempotencyClaim {
    /// This request holds the key now: do the work, then store the response (or release it).
    Claimed,
    /// Another request holds the key and has not finished.
    InProgress,
    /// The key was used and its response is kept: replay it.
    Done(StoredResponse),
}

/// The status a claimed key holds until its response is stored: no HTTP status is 0.
pub const IDEMPOTENCY_PENDING: u16 = 0;

/// What happened to a message creation.
#[derive(Debug)]
pub enum CreateMessageOutcome {
    /// Stored, with this many deliveries queued.
    Created {
        deliveries: usize,
        /// The dispatcher's waiting claim rode on the commit that stored this message
        /// ([`QueueStore::claim_on_next_queue`]): it has these deliveries, or knows when they
        /// fall due, so waking it would only make it look again for nothing.
        claimed: bool,
    },
    /// The idempotency key had been used: here is the first response, nothing was written.
    Replayed(StoredResponse),
}

impl CreateMessageOutcome {
    /// Whether the dispatcher must be woken for this: deliveries were queued and no waiting
    /// claim rode on their commit (one that did has already handed them over).
    pub fn wakes_dispatcher(&self) -> bool {
        matches!(self, Self::Created { deliveries, claimed } if *deliveries > 0 && !*claimed)
    }
}

/// A claimed delivery: everything the sender needs, read in the same round trip as the claim.
#[derive(Debug, Clone)]
pub struct DeliveryJob {
    pub delivery_id: i64,
    pub msg_id: MessageId,
    pub app_id: AppId,
    pub event_type: EventTypeName,
    pub event_id: Option<String>,
    /// `None` when the payload has expired; such a delivery cannot be sent.
    pub payload: Option<String>,
    /// Shared by every job of the claim that goes to this endpoint
    /// ([`rules::ClaimedEndpoints`]).
    pub endpoint: Arc<Endpoint>,
    /// Attempts made before this one.
    pub attempts_made: u32,
    /// The throttle granted this delivery its slot when it deferred it.
    pub reserved: bool,
    pub trigger: TriggerType,
    /// A resend or recover queued this delivery again after its failure was reported, so a
    /// success now is a recovery.
    pub recovering: bool,
    /// The provider's headers to pass on, for a message a source accepted (empty otherwise).
    pub received_headers: Vec<(String, String)>,
}

/// What a claim took, and when the next delivery falls due ([`QueueStore::claim_due_and_next`]).
#[derive(Debug, Default)]
pub struct Claimed {
    pub jobs: Vec<DeliveryJob>,
    /// When the claim took fewer than it asked for: the earliest time a pending delivery (or
    /// a running-out lease) falls due, `None` for none. Not read when the claim was full.
    pub next_due: Option<DateTime<Utc>>,
}

/// A claimed delivery sent back to wait.
#[derive(Debug, Clone)]
pub struct Deferral {
    pub delivery_id: i64,
    pub until: DateTime<Utc>,
    pub reserved: bool,
    /// Sent back for the endpoint's pace (over its share of slots), so it may be brought
    /// forward when the endpoint speeds up ([`QueueStore::recall_paced`]).
    pub paced: bool,
}

/// Where a delivery goes after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryUpdate {
    Delivered,
    RetryAt(DateTime<Utc>),
    /// The schedule is used up: the delivery has failed for good.
    Exhausted,
    /// Not attempted and not to be: the endpoint is disabled or the payload expired.
    Canceled,
}

#[async_trait]
pub trait Store:
    AppStore
    + EndpointStore
    + TaskStore
    + MessageStore
    + QueueStore
    + WorkspaceStore
    + SlackStore
    + SecurityStore
    + PortalStore
    + charts::ActivityStore
    + SourceStore
    + bins::BinStore
    + Send
    + Sync
    + 'static
{
    /// Whether the database answers (health checks).
    async fn ping(&self) -> StoreResult<()>;
    /// Whether this node's writes have been succeeding ([`health`]).
    fn write_health(&self) -> &health::WriteHealth;
    /// Tries a small write that needs room, as a publish does, and tells [`Self::write_health`]
    /// how it went: the health check's way to see storage come back with no traffic.
    async fn probe_write(&self) -> StoreResult<()>;
    /// Ends background work and closes every connection cleanly (graceful shutdown); on
    /// SQLite this also empties the write-ahead log.
    async fn close(&self);

    /// Stores the message and queues its deliveries in one transaction; with an idempotency
    /// key, the response is kept in that same transaction, so a repeated request gets the
    /// first answer even if the server died right after committing.
    async fn create_message(
        &self,
        msg: &Message,
        fan_out: FanOut,
        idempotency: Option<IdempotentWrite>,
    ) -> StoreResult<CreateMessageOutcome>;

    // Idempotency for requests other than message creation.
    async fn get_idempotent(&self, key: &str, scope: &str) -> StoreResult<Option<StoredResponse>>;
    async fn put_idempotent(&self, write: IdempotentWrite) -> StoreResult<()>;
    /// Takes the key atomically (a pending row), unless a request holds it or its response is
    /// kept; so concurrent requests with one key do the work once.
    async fn claim_idempotent(&self, key: &str, scope: &str) -> StoreResult<IdempotencyClaim>;
    /// Gives back a claimed key whose work failed (or whose answer must not be kept).
    async fn release_idempotent(&self, key: &str, scope: &str) -> StoreResult<()>;

    /// Records an attempt and moves its delivery on, in one transaction. Also keeps the
    /// endpoint's run of failures: returns since when it has been failing without a success
    /// (`None` after a success or when nothing was attempted).
    async fn record_attempt(
        &self,
        delivery_id: i64,
        attempt: Option<&Attempt>,
        update: DeliveryUpdate,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<DateTime<Utc>>>;
    /// Calls `on_work` whenever another node may have queued work (a message, a resend, a
    /// recovery, a deferral), so an idle dispatcher wakes at once instead of at its next poll.
    /// Also calls it after a lost connection is restored, since news may have been missed.
    /// Returns once watching has started; it goes on in the background until the store is
    /// dropped. Where one node owns the database (SQLite) this does nothing: the in-process
    /// waker already hears of all work.
    async fn watch_new_work(&self, on_work: Arc<dyn Fn() + Send + Sync>) -> StoreResult<()>;

    // Live streams (`crate::live`).
    /// Tells the other nodes that a live topic (a channel, a bin) has news, after the commit
    /// that made it. Where one node owns the database (SQLite) this does nothing.
    async fn announce_live(&self, topic: &str) -> StoreResult<()>;
    /// Calls `on_topic` with every topic another node announces, and with `None` when
    /// announcements may have been missed (a lost connection). Returns once watching has
    /// started. On SQLite this does nothing.
    async fn watch_live(&self, on_topic: OnLiveTopic) -> StoreResult<()>;
}

/// Endpoints. A change can carry the operational events it makes (`endpoint.*`), stored in
/// the change's own transaction so they are never lost between two commits.
#[async_trait]
pub trait EndpointStore: Send + Sync {
    /// Attempts to the endpoint made in `[since, until)`, by outcome, and its deliveries
    /// canceled in that time.
    async fn attempt_stats(
        &self,
        app: &AppId,
        id: &EndpointId,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<AttemptStats>;
    /// An endpoint and nothing else (no [`EndpointEvents`]).
    async fn create_endpoint(
        &self,
        app: &AppId,
        fields: EndpointFields,
        secret: EndpointSecret,
    ) -> StoreResult<Endpoint> {
        self.create_endpoint_with_events(app, fields, secret, no_events())
            .await
    }
    /// Stores the endpoint and the messages `events` makes of it (fanned out to subscribed
    /// endpoints) in one transaction.
    async fn create_endpoint_with_events(
        &self,
        app: &AppId,
        fields: EndpointFields,
        secret: EndpointSecret,
        events: EndpointEvents,
    ) -> StoreResult<Endpoint>;
    async fn get_endpoint(&self, app: &AppId, key: &IdOrUid) -> StoreResult<Option<Endpoint>>;
    async fn list_endpoints(&self, app: &AppId, page: &PageRequest) -> StoreResult<Vec<Endpoint>>;
    async fn update_endpoint(
        &self,
        app: &AppId,
        id: &EndpointId,
        fields: EndpointFields,
    ) -> StoreResult<Endpoint> {
        self.update_endpoint_with_events(app, id, fields, no_events())
            .await
    }
    /// Replaces the endpoint's fields and stores the messages `events` makes of the updated
    /// endpoint in the same transaction. `NotFound` stores nothing.
    async fn update_endpoint_with_events(
        &self,
        app: &AppId,
        id: &EndpointId,
        fields: EndpointFields,
        events: EndpointEvents,
    ) -> StoreResult<Endpoint>;
    async fn delete_endpoint(&self, app: &AppId, id: &EndpointId) -> StoreResult<()> {
        self.delete_endpoint_with_events(app, id, no_events()).await
    }
    /// Deletes the endpoint and stores the messages `events` makes of it (as it was) in the
    /// same transaction. `NotFound` stores nothing.
    async fn delete_endpoint_with_events(
        &self,
        app: &AppId,
        id: &EndpointId,
        events: EndpointEvents,
    ) -> StoreResult<()>;
    async fn endpoint_stats(&self, app: &AppId, id: &EndpointId) -> StoreResult<EndpointStats>;
    /// Replaces the signing secret; the old one keeps signing until `old_expires_at`.
    async fn rotate_secret(
        &self,
        app: &AppId,
        id: &EndpointId,
        new: &EndpointSecret,
        old_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Replaces the custom headers sent with every delivery.
    async fn set_endpoint_headers(
        &self,
        app: &AppId,
        id: &EndpointId,
        headers: &std::collections::BTreeMap<String, String>,
    ) -> StoreResult<()>;
    /// Turns an endpoint off (or on) without touching its other fields.
    async fn set_endpoint_disabled(
        &self,
        app: &AppId,
        id: &EndpointId,
        disabled: bool,
    ) -> StoreResult<()> {
        self.set_endpoint_disabled_with_events(app, id, disabled, no_events())
            .await
    }
    /// [`Self::set_endpoint_disabled`], storing the messages `events` makes of the changed
    /// endpoint in the same transaction. `NotFound` stores nothing.
    async fn set_endpoint_disabled_with_events(
        &self,
        app: &AppId,
        id: &EndpointId,
        disabled: bool,
        events: EndpointEvents,
    ) -> StoreResult<()>;
}

/// The record of background tasks (`/api/v1/background-task`), newest first.
#[async_trait]
pub trait TaskStore: Send + Sync {
    async fn record_task(&self, app: &AppId, task: &BackgroundTask) -> StoreResult<()>;
    async fn get_task(&self, id: &TaskId) -> StoreResult<Option<BackgroundTask>>;
    /// One page, optionally of one status and one kind.
    async fn list_tasks(
        &self,
        page: &PageRequest,
        status: Option<&str>,
        task: Option<&str>,
    ) -> StoreResult<Vec<BackgroundTask>>;
}

/// Applications and the event catalog.
#[async_trait]
pub trait AppStore: Send + Sync {
    async fn create_app(&self, fields: ApplicationFields) -> StoreResult<Application>;
    async fn get_app(&self, key: &IdOrUid) -> StoreResult<Option<Application>>;
    async fn list_apps(&self, page: &PageRequest) -> StoreResult<Vec<Application>>;
    async fn update_app(&self, id: &AppId, fields: ApplicationFields) -> StoreResult<Application>;
    async fn delete_app(&self, id: &AppId) -> StoreResult<()>;
    async fn create_event_type(
        &self,
        name: &EventTypeName,
        fields: EventTypeFields,
    ) -> StoreResult<EventType>;
    async fn get_event_type(&self, name: &EventTypeName) -> StoreResult<Option<EventType>>;
    async fn list_event_types(
        &self,
        page: &PageRequest,
        include_archived: bool,
    ) -> StoreResult<Vec<EventType>>;
    async fn update_event_type(
        &self,
        name: &EventTypeName,
        fields: EventTypeFields,
    ) -> StoreResult<EventType>;
    async fn delete_event_type(&self, name: &EventTypeName) -> StoreResult<()>;
    /// The id of one of Kanca's own applications (created on first use), hidden from the
    /// application routes.
    async fn ensure_internal_app(&self, uid: &Uid, name: &str) -> StoreResult<AppId>;
}

/// Messages and their attempts, as the API lists them. Creating a message goes through
/// [`Store::create_message`] (group commit).
#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Drops a message's payload (Svix's "expunge content"), as retention would; the message
    /// and its attempts stay, and it can no longer be resent. Returns whether it exists.
    async fn expunge_payload(&self, app: &AppId, msg: &MessageId) -> StoreResult<bool>;
    /// Drops the payload of every message of `app`; returns how many had one.
    async fn expunge_all_payloads(&self, app: &AppId) -> StoreResult<u64>;
    /// Empties an attempt's recorded response body. Returns whether the attempt exists.
    async fn expunge_attempt_response(
        &self,
        app: &AppId,
        msg: &MessageId,
        attempt: &AttemptId,
    ) -> StoreResult<bool>;
    async fn get_message(&self, app: &AppId, id: &MessageId) -> StoreResult<Option<Message>>;
    /// The message with this `eventId` (unique per application, as in Svix).
    async fn get_message_by_event_id(
        &self,
        app: &AppId,
        event_id: &str,
    ) -> StoreResult<Option<Message>>;
    /// The messages queued for one endpoint, newest first by default.
    async fn endpoint_messages(
        &self,
        app: &AppId,
        endpoint: &EndpointId,
        page: &PageRequest,
        filter: &EndpointMessageFilter,
    ) -> StoreResult<Vec<EndpointMessage>>;
    async fn list_messages(
        &self,
        app: &AppId,
        page: &PageRequest,
        filter: &MessageFilter,
    ) -> StoreResult<Vec<Message>>;
    async fn message_destinations(
        &self,
        app: &AppId,
        msg: &MessageId,
        page: &PageRequest,
    ) -> StoreResult<Vec<MessageDestination>>;
    async fn list_attempts(
        &self,
        app: &AppId,
        filter: &AttemptFilter,
        page: &PageRequest,
    ) -> StoreResult<Vec<Attempt>>;
    async fn get_attempt(
        &self,
        app: &AppId,
        msg: &MessageId,
        id: &AttemptId,
    ) -> StoreResult<Option<Attempt>>;
}

/// The delivery queue: claims with leases, deferrals, resends and recovery. Recording an
/// attempt goes through [`Store::record_attempt`] (group commit).
#[async_trait]
pub trait QueueStore: Send + Sync {
    /// Messages of `app` created in `[since, until)` that still have their payload, in id
    /// order after `after`, at most `limit`: those never queued for `endpoint` (`Missing`), or
    /// those queued for it, optionally only in one status (`Sent`). What to replay of them is
    /// the caller's choice ([`EndpointStore`] filters, event types).
    async fn replay_candidates(
        &self,
        app: &AppId,
        endpoint: &EndpointId,
        which: ReplayWhich,
        window: (DateTime<Utc>, DateTime<Utc>),
        after: Option<&MessageId>,
        limit: u32,
    ) -> StoreResult<Vec<Message>>;
    /// Claims up to `limit` deliveries that are due (or whose lease has run out), leasing them
    /// for `lease` so no other worker takes them meanwhile.
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        limit: u32,
        lease: Duration,
    ) -> StoreResult<Vec<DeliveryJob>>;
    /// When the earliest pending delivery falls due, so the dispatcher can sleep until then.
    async fn next_due_at(&self) -> StoreResult<Option<DateTime<Utc>>>;
    /// [`Self::claim_due`], and when fewer than `limit` were due, [`Self::next_due_at`] after
    /// it: what the dispatcher asks each round. A backend that can answers both in one round
    /// trip (SQLite reads the next due time in the claim's transaction).
    async fn claim_due_and_next(
        &self,
        now: DateTime<Utc>,
        limit: u32,
        lease: Duration,
    ) -> StoreResult<Claimed> {
        let jobs = self.claim_due(now, limit, lease).await?;
        let next_due = if jobs.len() < limit as usize {
            self.next_due_at().await?
        } else {
            None
        };
        Ok(Claimed { jobs, next_due })
    }
    /// Leaves a claim of up to `limit` due deliveries in the store's writer while the
    /// dispatcher waits: the next commit that queues deliveries makes it in its own
    /// transaction, so new work reaches the dispatcher with the publisher's commit rather than
    /// after a claim of its own. `None` where the backend claims outside its writer
    /// (PostgreSQL, where another node's claim would not ride anyway): the dispatcher then
    /// waits for its waker alone.
    fn claim_on_next_queue(&self, _limit: u32, _lease: Duration) -> Option<WaitingClaim> {
        None
    }
    /// Puts claimed deliveries back in the queue without an attempt (the endpoint is over its
    /// throttle rate or in-flight cap), each due at its time; `reserved` marks a slot the
    /// throttle has already granted.
    async fn defer(&self, deferrals: &[Deferral]) -> StoreResult<()>;
    /// Makes every delivery to `endpoint` that was paced into the future ([`Deferral::paced`])
    /// due now: the endpoint has become faster than its pace assumed. Retries and throttle
    /// slots are left alone. Returns how many were brought forward.
    async fn recall_paced(&self, endpoint: &EndpointId, now: DateTime<Utc>) -> StoreResult<u64>;
    /// Deliveries waiting: (due now, scheduled for later).
    async fn queue_depth(&self, now: DateTime<Utc>) -> StoreResult<(i64, i64)>;
    /// Drops the payloads of messages whose retention period has passed (at most `limit`);
    /// the messages and their attempts stay. Returns how many were cleared.
    async fn clear_expired_payloads(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<u64>;
    /// Puts every delivery that a previous run of this node (same node id) left mid-send back
    /// in the queue, so a restart resends them at once instead of after their lease. On
    /// SQLite, where one node owns the database, that is every leased delivery.
    async fn release_own_leases(&self) -> StoreResult<u64>;
    /// Queues a message for one endpoint again, now, with a fresh retry schedule (manual
    /// resend). A delivery being sent right now is left alone. Returns whether it was queued.
    async fn requeue(
        &self,
        app: &AppId,
        msg: &MessageId,
        endpoint: &EndpointId,
    ) -> StoreResult<bool>;
    /// Queues again every delivery to an endpoint that failed for good and whose message was
    /// created in `[since, until)`; returns how many.
    async fn recover_failed(
        &self,
        app: &AppId,
        endpoint: &EndpointId,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<u64>;
}

pub type DynStore = Arc<dyn Store>;

/// Called with each live topic another node announces, or `None` when some may have been
/// missed ([`Store::watch_live`]).
pub type OnLiveTopic = Arc<dyn for<'a> Fn(Option<&'a str>) + Send + Sync>;

/// Milliseconds since the epoch: how both backends store time.
pub(crate) fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// How the store treats its database, from the settings.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// PostgreSQL: how long a request waits for a connection before it is answered 503
    /// (`KANCA_DATABASE_TIMEOUT`).
    pub acquire_timeout: Duration,
    /// SQLite: the write-ahead log is checkpointed and cut back once it passes this many bytes
    /// (`KANCA_SQLITE_WAL_LIMIT`).
    pub wal_limit: u64,
    /// SQLite: the most bytes the database file may grow to (`KANCA_SQLITE_MAX_SIZE`); past it
    /// writes fail as on a full disk. `None`: as large as the disk allows.
    pub max_database_bytes: Option<u64>,
    /// The time every row is stamped with and every "due" is compared against: the same
    /// [`Clock`] the rest of Kanca reads, so tests that move it move the store too.
    pub clock: Clock,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            acquire_timeout: Duration::from_secs(5),
            wal_limit: 64 * 1024 * 1024,
            max_database_bytes: None,
            clock: Clock::default(),
        }
    }
}

/// Opens the store a database URL names, and brings its schema up to date. `node_id` names
/// this node in the leases it takes (stable across its restarts).
pub async fn connect(
    database_url: &str,
    node_id: &str,
    opts: &StoreOptions,
) -> anyhow::Result<DynStore> {
    if database_url.starts_with("sqlite:") {
        let store = sqlite::SqliteStore::connect(database_url, node_id, opts).await?;
        store.migrate().await?;
        Ok(Arc::new(store))
    } else if database_url.starts_with("postgres:") || database_url.starts_with("postgresql:") {
        let store = postgres::PgStore::connect(database_url, node_id, opts).await?;
        store.migrate().await?;
        Ok(store)
    } else {
        anyhow::bail!("unsupported database URL (expected sqlite:// or postgres://)")
    }
}

/// Only brings the schema up to date (`kanca migrate`).
pub async fn migrate(database_url: &str) -> anyhow::Result<()> {
    let store = connect(database_url, "migrate", &StoreOptions::default()).await?;
    store.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_queued_work_no_claim_took_wakes_the_dispatcher() {
        let created = |deliveries, claimed| CreateMessageOutcome::Created {
            deliveries,
            claimed,
        };
        assert!(created(1, false).wakes_dispatcher());
        assert!(
            !created(1, true).wakes_dispatcher(),
            "the ridden claim has it"
        );
        assert!(!created(0, false).wakes_dispatcher(), "nothing to deliver");
        let replayed = CreateMessageOutcome::Replayed(StoredResponse {
            status: 202,
            body: Vec::new(),
        });
        assert!(!replayed.wakes_dispatcher(), "a replay writes nothing");
    }
}

//! Sources: receiving any provider's webhooks, verified, deduplicated and delivered on (Svix's
//! Ingest API), as a service below the routes.
//!
//! A source is a secret URL (`{public}/ingest/{token}`) and a signature scheme
//! ([`verify`]). It owns an internal application, and its ingest endpoints are endpoints of
//! that application: a request the source accepts becomes a message of it, stored with one
//! delivery per enabled endpoint in one transaction ([`crate::store::Store::create_message`])
//! before the provider gets its 2xx. So the provider never waits for a destination, nothing
//! acknowledged is lost when one is down, and retries, the attempt log, throttling, the SSRF
//! guard and operational webhooks are the delivery engine's, unchanged. The message keeps the
//! body exactly as it came and the request's method, path and headers; the engine passes the
//! provider's headers on beside Kanca's own Standard Webhooks signature.
//!
//! Duplicates: the provider's delivery id (`X-GitHub-Delivery`, the Stripe event `id`,
//! `webhook-id`, …) is the message's `eventId`, which is unique per application, so a
//! provider's retry of something already accepted is answered 2xx and delivered once, for as
//! long as the first message is kept. The check and the insert are one statement, so two
//! concurrent retries cannot both get through.
//!
//! A source may also publish what it accepts into an application (`publish_to`, a Kanca
//! extension): then a second message, of that application, with the provider's event type
//! ([`events`]), is stored in the same transaction as the source's own, so both or neither
//! exist. A `cron` source takes no requests: [`cron`] emits its payload on its schedule
//! through the same path.
//!
//! Every request is entered in the source's log (accepted, duplicate, or rejected and why).
//! What a rejection means for the caller's address (a security incident) is the route's to
//! record: this module knows no HTTP clients.

pub mod cron;
pub mod events;
pub mod verify;

use crate::clock::Clock;
use crate::domain::sources::*;
use crate::domain::*;
use crate::live::LiveHub;
use crate::send::{SendError, Sending};
use crate::store::{DynStore, PageRequest, StoreError, EVENT_ID_TAKEN};
use bytes::Bytes;
use http::HeaderMap;
use std::sync::Arc;

/// How many bytes of a body the log keeps.
pub const LOG_BODY_PREVIEW: usize = 4 * 1024;
/// How many entries a source's log keeps (the newest); older ones are pruned as new ones come.
pub const LOG_KEEP: u32 = 1000;
/// The log of the source a request came to is pruned on this node's first entry and then
/// every this many.
const PRUNE_EVERY: u64 = 100;
/// How long an accepted request's body is kept (as any message's payload, Svix's default).
const RETENTION_DAYS: i64 = 90;
/// The event type of the messages a source's requests become.
pub const SOURCE_EVENT_TYPE: &str = "ingest.request";

/// What can go wrong with a source, in the service's words.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Send(#[from] SendError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ParseError> for SourceError {
    fn from(e: ParseError) -> Self {
        Self::Validation(e.0)
    }
}

fn not_found() -> SourceError {
    SourceError::NotFound("source not found".into())
}

/// A source as a create or a full update gives it, not yet checked.
#[derive(Debug, Clone, Default)]
pub struct SourceInput {
    pub name: String,
    pub uid: Option<String>,
    pub metadata: Option<Metadata>,
    pub type_name: String,
    pub config: Option<serde_json::Value>,
    /// The application (id or uid) to also publish into; `None` for none.
    pub publish_to: Option<String>,
}

impl SourceInput {
    fn parse(self, publish_to: Option<AppId>) -> Result<SourceFields, SourceError> {
        if self.name.trim().is_empty() || self.name.len() > 256 {
            return Err(SourceError::Validation(
                "name must be 1 to 256 characters".into(),
            ));
        }
        let uid = self
            .uid
            .map(|u| Uid::parse_for(SourceId::PREFIX, &u))
            .transpose()?;
        let kind = SourceKind::parse(&self.type_name, self.config.as_ref())
            .map_err(|e| SourceError::Validation(e.to_string()))?;
        Ok(SourceFields {
            uid,
            name: self.name,
            kind,
            metadata: self.metadata.unwrap_or_default(),
            publish_to,
        })
    }
}

/// A request as it reached a source's URL.
#[derive(Debug, Clone)]
pub struct IncomingRequest {
    pub method: String,
    /// The path and query as sent (the token in it is replaced by `…` before it is stored).
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// What became of a request at a source's URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// No source has this token (never had, or it was rotated or deleted).
    UnknownSource,
    /// Stored and queued for every enabled endpoint as this message.
    Accepted(MessageId),
    /// Already accepted (same provider delivery id): not delivered again.
    Duplicate(Option<MessageId>),
    /// Failed the source's verification; nothing was stored but the log entry.
    Rejected(String),
    /// Verified, but a body Kanca cannot keep as a message (not UTF-8); logged as rejected.
    Unstorable(String),
    /// Slack's `url_verification` handshake (Events API): verified, answered with this
    /// `challenge` at once as Slack requires, and not delivered (it is not an event).
    SlackChallenge(String),
}

/// The sources service. One per process, shared by the API and the console.
pub struct Sources {
    store: DynStore,
    send: Arc<Sending>,
    clock: Clock,
    /// Wakes the console's live log of a source ([`Source::topic`]) on every entry.
    live: Arc<LiveHub>,
    public_url: String,
    /// Log entries this node has written, to prune every [`PRUNE_EVERY`].
    entries_written: std::sync::atomic::AtomicU64,
    /// Told when a source is created, changed or deleted here, so the cron loop
    /// ([`cron::run`]) looks at its schedules again at once.
    cron_changed: tokio::sync::Notify,
}

impl Sources {
    pub fn new(
        store: DynStore,
        send: Arc<Sending>,
        clock: Clock,
        live: Arc<LiveHub>,
        public_url: &str,
    ) -> Self {
        Self {
            store,
            send,
            clock,
            live,
            public_url: public_url.trim_end_matches('/').to_owned(),
            entries_written: Default::default(),
            cron_changed: Default::default(),
        }
    }

    /// The URL a provider posts to: the token is the secret.
    pub fn ingest_url(&self, source: &Source) -> String {
        format!("{}/ingest/{}", self.public_url, source.token.as_str())
    }

    /// The application a source's input names to publish into: one of the user's
    /// applications (a source's own internal application is no such thing).
    async fn publish_target(&self, input: &SourceInput) -> Result<Option<AppId>, SourceError> {
        let Some(key) = input.publish_to.as_deref().filter(|k| !k.is_empty()) else {
            return Ok(None);
        };
        match self.send.app_fresh(key).await {
            Ok(app) => Ok(Some(app.id)),
            Err(SendError::NotFound(_)) => Err(SourceError::Validation(format!(
                "publishToApp: no application `{key}`"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn create(&self, input: SourceInput) -> Result<Source, SourceError> {
        let target = self.publish_target(&input).await?;
        let fields = input.parse(target)?;
        let source = self
            .store
            .create_source(fields, &IngestToken::generate())
            .await?;
        tracing::info!(source_id = %source.id, kind = source.fields.kind.type_name(), "source created");
        self.cron_changed.notify_one();
        Ok(source)
    }

    pub async fn get(&self, key: &str) -> Result<Source, SourceError> {
        let key = IdOrUid::parse(key).map_err(|_| not_found())?;
        self.store.get_source(&key).await?.ok_or_else(not_found)
    }

    pub async fn list(&self, page: &PageRequest) -> Result<Vec<Source>, SourceError> {
        Ok(self.store.list_sources(page).await?)
    }

    /// Svix's upsert: a full update of the source `key` names, or a create when there is none
    /// (then `key` becomes its uid unless the input names one). `true` when created.
    pub async fn upsert(
        &self,
        key: &str,
        mut input: SourceInput,
    ) -> Result<(Source, bool), SourceError> {
        match self.get(key).await {
            Ok(source) => {
                if input.uid.is_none()
                    && source
                        .fields
                        .uid
                        .as_ref()
                        .is_some_and(|u| u.as_str() == key)
                {
                    input.uid = Some(key.to_owned());
                }
                let target = self.publish_target(&input).await?;
                let fields = input.parse(target)?;
                let updated = self.store.update_source(&source.id, fields).await?;
                self.cron_changed.notify_one();
                Ok((updated, false))
            }
            Err(SourceError::NotFound(_)) if Uid::parse_for(SourceId::PREFIX, key).is_ok() => {
                input.uid.get_or_insert_with(|| key.to_owned());
                Ok((self.create(input).await?, true))
            }
            Err(e) => Err(e),
        }
    }

    /// Deletes the source with its endpoints, messages and log.
    pub async fn delete(&self, key: &str) -> Result<(), SourceError> {
        let source = self.get(key).await?;
        let deleted = match self.store.delete_source(&source.id).await {
            Err(StoreError::NotFound) => Err(not_found()),
            other => Ok(other?),
        };
        self.cron_changed.notify_one();
        deleted
    }

    /// A new token, so a new ingest URL; the old URL stops working at once (Svix keeps it for
    /// 48 hours; Kanca does not, so a leaked URL can be shut).
    pub async fn rotate_token(&self, key: &str) -> Result<Source, SourceError> {
        let mut source = self.get(key).await?;
        let token = IngestToken::generate();
        self.store.rotate_source_token(&source.id, &token).await?;
        source.token = token;
        tracing::info!(source_id = %source.id, "source token rotated");
        Ok(source)
    }

    /// The source's internal application, as the endpoint methods of [`Sending`] take it:
    /// ingest endpoints are its endpoints.
    pub fn application(&self, source: &Source) -> Application {
        Application {
            id: source.app_id.clone(),
            uid: None,
            name: format!("Source {}", source.id),
            throttle_rate: None,
            metadata: Default::default(),
            created_at: source.created_at,
            updated_at: source.updated_at,
        }
    }

    /// The sending service, for the source's endpoints ([`Self::application`]).
    pub fn sending(&self) -> &Sending {
        &self.send
    }

    /// The log entries after `after` (oldest first), for the live log.
    pub async fn log_after(
        &self,
        source: &SourceId,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Arrival>, SourceError> {
        let page = PageRequest {
            limit,
            iterator: after.map(|a| a.to_string()),
            ascending: true,
        };
        Ok(self.store.list_arrivals(source, &page).await?)
    }

    /// A page of the source's log.
    pub async fn log(
        &self,
        source: &Source,
        page: &PageRequest,
    ) -> Result<Vec<Arrival>, SourceError> {
        Ok(self.store.list_arrivals(&source.id, page).await?)
    }

    /// One entry of the source's log.
    pub async fn arrival(&self, source: &Source, id: i64) -> Result<Arrival, SourceError> {
        self.store
            .get_arrival(&source.id, id)
            .await?
            .ok_or_else(|| SourceError::NotFound("log entry not found".into()))
    }

    /// Sends an accepted request again to every endpoint it went to (the engine's resend).
    /// Returns how many endpoints it was queued for.
    pub async fn replay(&self, source: &Source, entry: i64) -> Result<usize, SourceError> {
        let arrival = self.arrival(source, entry).await?;
        let Some(msg_id) = arrival.msg_id else {
            return Err(SourceError::Validation(
                "only an accepted request can be replayed".into(),
            ));
        };
        let msg = self.send.message(&source.app_id, msg_id.as_str()).await?;
        let all = PageRequest {
            limit: 250,
            iterator: None,
            ascending: true,
        };
        let destinations = self
            .store
            .message_destinations(&source.app_id, &msg.id, &all)
            .await?;
        for d in &destinations {
            self.send
                .resend(&source.app_id, &msg, &d.endpoint.id)
                .await?;
        }
        tracing::info!(source_id = %source.id, entry, endpoints = destinations.len(), "source request replayed");
        Ok(destinations.len())
    }

    /// Handles a request at `{public}/ingest/{token}`: verify, deduplicate, store with its
    /// deliveries, log. An `Err` means storage failed and nothing was accepted (the provider
    /// should retry).
    pub async fn receive(
        &self,
        token: &str,
        request: IncomingRequest,
    ) -> Result<Received, SourceError> {
        let Some(token) = IngestToken::from_path(token) else {
            return Ok(Received::UnknownSource);
        };
        let Some(source) = self.store.source_by_token(&token).await? else {
            return Ok(Received::UnknownSource);
        };
        let now = self.clock.now();
        let received = ReceivedRequest {
            method: request.method.clone(),
            // The token is the URL's secret: kept out of the log and the message, so a
            // rotated one is gone for good. The rest (a query string) is kept as sent.
            path: request.path.replacen(token.as_str(), "…", 1),
            headers: request
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
        };
        let mut arrival = Arrival {
            id: 0,
            source_id: source.id.clone(),
            received_at: now,
            request: received.clone(),
            body_preview: preview(&request.body),
            outcome: ArrivalOutcome::Rejected,
            reason: None,
            dedupe_id: None,
            msg_id: None,
        };
        let verified = verify::verify(
            &source.fields.kind,
            &request.headers,
            &request.body,
            now.timestamp(),
        );
        let result = match verified {
            Err(rejected) => {
                arrival.reason = Some(rejected.0.clone());
                Received::Rejected(rejected.0)
            }
            Ok(v) => match String::from_utf8(request.body.to_vec()) {
                // The message payload is text (PostgreSQL text cannot hold NUL either);
                // providers send JSON or form bodies.
                Err(_) => {
                    let why = "body is not UTF-8 text".to_owned();
                    arrival.reason = Some(why.clone());
                    Received::Unstorable(why)
                }
                Ok(body) if body.contains('\0') => {
                    let why = "body contains NUL bytes".to_owned();
                    arrival.reason = Some(why.clone());
                    Received::Unstorable(why)
                }
                Ok(body) if slack_challenge(&source.fields.kind, &body).is_some() => {
                    arrival.outcome = ArrivalOutcome::Accepted;
                    arrival.reason = Some("Slack url_verification answered".into());
                    Received::SlackChallenge(
                        slack_challenge(&source.fields.kind, &body).unwrap_or_default(),
                    )
                }
                Ok(body) => {
                    arrival.dedupe_id = v.dedupe_id.clone();
                    // A duplicate is told by the unique eventId when it is stored: no read
                    // before every write for the rare retry.
                    let kept = ReceivedBody {
                        body,
                        dedupe_id: v.dedupe_id.clone(),
                        // Read from the body only for a source that publishes (a JSON parse).
                        event_type: source.fields.publish_to.as_ref().map(|_| {
                            events::event_type_of(
                                &source.fields.kind,
                                &request.headers,
                                &request.body,
                            )
                        }),
                        request: received,
                    };
                    match self.accept(&source, kept, now, arrival.clone()).await {
                        Ok(id) => {
                            // The log entry was stored with the message.
                            self.logged(&source.id).await;
                            return Ok(Received::Accepted(id));
                        }
                        Err(Accepted::Duplicate(first)) => {
                            arrival.outcome = ArrivalOutcome::Duplicate;
                            arrival.msg_id = first.clone();
                            Received::Duplicate(first)
                        }
                        Err(Accepted::Failed(e)) => return Err(e),
                    }
                }
            },
        };
        self.enter_in_log(arrival).await;
        match &result {
            Received::Rejected(why) => {
                tracing::info!(source_id = %source.id, reason = %why, "source request rejected")
            }
            Received::Duplicate(_) => tracing::debug!(source_id = %source.id, "duplicate"),
            _ => {}
        }
        Ok(result)
    }
}

/// What a source keeps of a request it accepted.
struct ReceivedBody {
    body: String,
    dedupe_id: Option<String>,
    /// The provider's event type, for the application it publishes into (`None` when the
    /// source publishes into none).
    event_type: Option<EventTypeName>,
    request: ReceivedRequest,
}

/// Why [`Sources::accept`] stored nothing.
enum Accepted {
    /// The provider's delivery id was taken: this message, if it is still kept.
    Duplicate(Option<MessageId>),
    Failed(SourceError),
}

impl Sources {
    /// Stores an accepted request as the source's message and, when the source publishes
    /// into an application, as that application's message too: one transaction, so both or
    /// neither. Returns the source's message id.
    ///
    /// `entry` is the request's log entry, stored in the same transaction as accepted: one
    /// commit for the request, its deliveries and its log line. The caller announces it
    /// ([`Self::logged`]).
    async fn accept(
        &self,
        source: &Source,
        kept: ReceivedBody,
        now: chrono::DateTime<chrono::Utc>,
        mut entry: Arrival,
    ) -> Result<MessageId, Accepted> {
        let own = Message {
            id: MessageId::generate(),
            app_id: source.app_id.clone(),
            event_type: EventTypeName::parse(SOURCE_EVENT_TYPE).expect("static event type"),
            event_id: kept.dedupe_id.clone(),
            payload: Some(kept.body),
            channels: None,
            tags: None,
            created_at: now,
            payload_expires_at: now + chrono::Duration::days(RETENTION_DAYS),
            deliver_at: None,
            received: Some(kept.request),
        };
        let id = own.id.clone();
        entry.outcome = ArrivalOutcome::Accepted;
        entry.msg_id = Some(id.clone());
        let mut messages = vec![own];
        if let (Some(app), Some(event_type)) = (&source.fields.publish_to, kept.event_type) {
            // The application's message is the provider's event; the provider's headers stay
            // with the source's message (the application's endpoints get Kanca's own).
            let published = Message {
                id: MessageId::generate(),
                app_id: app.clone(),
                event_type,
                event_id: None,
                received: None,
                ..messages[0].clone()
            };
            messages.push(published);
        }
        match self.send.publish_together(messages, Some(entry)).await {
            Ok(_) => Ok(id),
            Err(SendError::Store(StoreError::Conflict(what))) if what == EVENT_ID_TAKEN => {
                let first = match &kept.dedupe_id {
                    Some(event_id) => self
                        .store
                        .get_message_by_event_id(&source.app_id, event_id)
                        .await
                        .ok()
                        .flatten()
                        .map(|m| m.id),
                    None => None,
                };
                Err(Accepted::Duplicate(first))
            }
            Err(e) => Err(Accepted::Failed(e.into())),
        }
    }

    /// Sends a cron source's tick: stored as a message of the source (and of the application
    /// it publishes into) with the eventId `cron-{tick}`, and entered in its log. `true` when
    /// the tick is done with (sent now, or already sent by another node); `false` when the
    /// store failed and the tick should be tried again.
    async fn fire(&self, source: &Source, tick: chrono::DateTime<chrono::Utc>) -> bool {
        let SourceKind::Cron(schedule) = &source.fields.kind else {
            return true;
        };
        // Shown as a request of method `CRON` at the schedule; its content type is passed on.
        let request = ReceivedRequest {
            method: "CRON".into(),
            path: schedule.schedule.clone(),
            headers: vec![("content-type".into(), schedule.content_type().to_owned())],
        };
        let kept = ReceivedBody {
            body: schedule.payload.clone(),
            dedupe_id: Some(format!("cron-{}", tick.timestamp())),
            event_type: source.fields.publish_to.as_ref().map(|_| {
                events::event_type_of(
                    &source.fields.kind,
                    &HeaderMap::new(),
                    schedule.payload.as_bytes(),
                )
            }),
            request: request.clone(),
        };
        let now = self.clock.now();
        let entry = Arrival {
            id: 0,
            source_id: source.id.clone(),
            received_at: now,
            request,
            body_preview: preview(schedule.payload.as_bytes()),
            outcome: ArrivalOutcome::Accepted,
            reason: Some(format!("scheduled tick {}", tick.to_rfc3339())),
            dedupe_id: Some(format!("cron-{}", tick.timestamp())),
            msg_id: None,
        };
        match self.accept(source, kept, now, entry).await {
            Ok(_) => {
                tracing::debug!(source_id = %source.id, %tick, "cron tick sent");
                self.logged(&source.id).await;
                true
            }
            Err(Accepted::Duplicate(_)) => true,
            Err(Accepted::Failed(e)) => {
                tracing::warn!(error = %e, source_id = %source.id, "could not send a cron tick; trying again");
                false
            }
        }
    }

    /// Adds to the source's log. The log is a record, not the data: the message (if any) is
    /// committed already, so a failure here is logged and the provider still gets its answer.
    /// The log keeps the newest [`LOG_KEEP`] entries of each source.
    async fn enter_in_log(&self, arrival: Arrival) {
        if let Err(e) = self.store.record_arrival(&arrival).await {
            tracing::warn!(error = %e, source_id = %arrival.source_id, "could not add to the source log");
            return;
        }
        self.logged(&arrival.source_id).await;
    }

    /// A log entry of `source` was stored: wakes the live log, and prunes the log every
    /// [`PRUNE_EVERY`] entries this node writes.
    async fn logged(&self, source: &SourceId) {
        self.live.publish(&source_topic(source)).await;
        let n = self
            .entries_written
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if n % PRUNE_EVERY == 0 {
            if let Err(e) = self.store.prune_arrivals(source, LOG_KEEP).await {
                tracing::warn!(error = %e, source_id = %source, "could not prune the source log");
            }
        }
    }
}

/// The live topic a source's new log entries are announced on.
pub fn source_topic(id: &SourceId) -> String {
    format!("source:{id}")
}

/// The `challenge` of a Slack `url_verification` request, which Slack sends once when an
/// Events API URL is set and which must be echoed back for Slack to accept the URL.
fn slack_challenge(kind: &SourceKind, body: &str) -> Option<String> {
    if !matches!(kind, SourceKind::Slack(_)) {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    if v.get("type")?.as_str()? != "url_verification" {
        return None;
    }
    Some(v.get("challenge")?.as_str()?.to_owned())
}

/// The start of a body as text for the log: lossy UTF-8 without NUL, which PostgreSQL text
/// cannot hold.
fn preview(body: &[u8]) -> String {
    let cut = &body[..body.len().min(LOG_BODY_PREVIEW)];
    crate::domain::text::strip_nul(&String::from_utf8_lossy(cut)).into_owned()
}

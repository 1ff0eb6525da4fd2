//! Messages: what a message may carry, its retention and schedule, and publishing it, which
//! is the hot path: the message and its deliveries are committed in one transaction before
//! the caller answers (so an acknowledged message is never lost), then the dispatcher is woken
//! so the first attempt starts at once.

use super::{SendError, Sending};
use crate::domain::*;
use crate::store::{
    AttemptFilter, CreateMessageOutcome, FanOut, IdempotentWrite, MessageFilter, PageRequest,
    StoredResponse,
};
use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeMap, BTreeSet};

const MAX_MESSAGE_CHANNELS: usize = 10;
const DEFAULT_RETENTION_DAYS: i64 = 90;

/// How far ahead `deliverAt` may be, as the Svix SDKs document it: at least a minute (less is
/// just "now", and a clock a little behind the client's would make it the past) and at most
/// 24 hours.
const DELIVER_AT_MIN_AHEAD: Duration = Duration::minutes(1);
const DELIVER_AT_MAX_AHEAD: Duration = Duration::hours(24);

/// A message as given, not yet checked.
#[derive(Debug, Clone)]
pub struct MessageInput {
    pub event_type: String,
    pub event_id: Option<String>,
    /// The exact JSON text received: that is what is signed and delivered.
    pub payload: String,
    pub channels: Option<BTreeSet<String>>,
    pub tags: Option<BTreeSet<String>>,
    /// Days.
    pub payload_retention_period: Option<i64>,
    pub payload_retention_hours: Option<i64>,
    /// Scheduled delivery: no attempt before this time.
    pub deliver_at: Option<DateTime<Utc>>,
}

/// A message to publish, checked.
pub struct NewMessage {
    pub event_type: EventTypeName,
    pub event_id: Option<String>,
    pub payload: String,
    pub channels: Option<BTreeSet<ChannelName>>,
    pub tags: Option<BTreeSet<String>>,
    pub retention_days: Option<i64>,
    pub deliver_at: Option<DateTime<Utc>>,
}

/// What publishing came to.
#[derive(Debug)]
pub enum Published {
    /// Stored and queued.
    Created,
    /// The idempotency key had been used: the first response, nothing was written.
    Replayed(StoredResponse),
}

/// Channel names, at most `max`; an empty set means none.
pub fn parse_channels(
    set: Option<BTreeSet<String>>,
    max: usize,
) -> Result<Option<BTreeSet<ChannelName>>, SendError> {
    match set {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) if s.len() > max => Err(SendError::Validation(format!(
            "at most {max} channels are allowed"
        ))),
        Some(s) => Ok(Some(
            s.iter()
                .map(|c| ChannelName::parse(c))
                .collect::<Result<_, _>>()?,
        )),
    }
}

impl MessageInput {
    fn parse(self) -> Result<NewMessage, SendError> {
        if !self.payload.trim_start().starts_with('{') {
            return Err(SendError::Validation(
                "payload must be a JSON object".into(),
            ));
        }
        if let Some(id) = &self.event_id {
            if id.is_empty() || id.len() > 256 {
                return Err(SendError::Validation(
                    "eventId must be 1 to 256 characters".into(),
                ));
            }
        }
        let retention_days = match (self.payload_retention_hours, self.payload_retention_period) {
            (Some(h), _) if !(1..=24 * 365).contains(&h) => {
                return Err(SendError::Validation(
                    "payloadRetentionHours must be between 1 and 8760".into(),
                ))
            }
            (Some(h), _) => Some((h + 23) / 24),
            (None, Some(d)) if !(1..=365).contains(&d) => {
                return Err(SendError::Validation(
                    "payloadRetentionPeriod must be between 1 and 365 days".into(),
                ))
            }
            (None, d) => d,
        };
        Ok(NewMessage {
            event_type: EventTypeName::parse(&self.event_type)?,
            event_id: self.event_id,
            payload: self.payload,
            channels: parse_channels(self.channels, MAX_MESSAGE_CHANNELS)?,
            tags: self.tags.filter(|t| !t.is_empty()),
            retention_days,
            deliver_at: self.deliver_at,
        })
    }
}

/// Checks a `deliverAt` against the server's clock. A few seconds of slack below the minute
/// allow for the time the request took and for clocks that differ a little.
fn check_deliver_at(at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), SendError> {
    let slack = Duration::seconds(5);
    if at < now + DELIVER_AT_MIN_AHEAD - slack || at > now + DELIVER_AT_MAX_AHEAD {
        return Err(SendError::Validation(format!(
            "deliverAt must be at least a minute and at most 24 hours ahead (it is {at}, now is {now})"
        )));
    }
    Ok(())
}

impl Sending {
    /// Checks a message before anything is looked up: its fields, and its `deliverAt`
    /// against the clock.
    pub fn check_message(&self, input: MessageInput) -> Result<NewMessage, SendError> {
        let new = input.parse()?;
        if let Some(at) = new.deliver_at {
            check_deliver_at(at, self.clock.now())?;
        }
        Ok(new)
    }

    /// The message record a [`NewMessage`] becomes, stamped now (not stored yet: the API
    /// renders its answer from it, to keep under the idempotency key in the same commit).
    pub fn compose(&self, app: &AppId, new: NewMessage) -> Message {
        let now = self.clock.now();
        Message {
            id: MessageId::generate(),
            app_id: app.clone(),
            event_type: new.event_type,
            event_id: new.event_id,
            payload: Some(new.payload),
            channels: new.channels,
            tags: new.tags,
            created_at: now,
            payload_expires_at: now
                + Duration::days(new.retention_days.unwrap_or(DEFAULT_RETENTION_DAYS)),
            deliver_at: new.deliver_at,
            received: None,
        }
    }

    /// Stores a message with its deliveries (and, with `idempotency`, the response to replay)
    /// in one transaction, then wakes the dispatcher.
    pub async fn publish(
        &self,
        msg: &Message,
        fan_out: FanOut,
        idempotency: Option<IdempotentWrite>,
    ) -> Result<Published, SendError> {
        // A taken eventId comes back as the store's Conflict (`store::EVENT_ID_TAKEN`).
        let outcome = self.store.create_message(msg, fan_out, idempotency).await?;
        // A claim that rode on the commit already told the dispatcher; a wake would only make
        // it read the queue's next due time again (5 % of the CPU at 1,000 msgs/s).
        if outcome.wakes_dispatcher() {
            self.waker.wake();
        }
        Ok(match outcome {
            CreateMessageOutcome::Created { .. } => Published::Created,
            CreateMessageOutcome::Replayed(first) => Published::Replayed(first),
        })
    }

    /// Publishes `messages` together, each fanned out to its application's subscribed
    /// endpoints: all are stored with their deliveries in one transaction, or none is (a taken
    /// eventId among them is the store's `Conflict`). A source's log entry for them, if
    /// given, is stored in the same transaction. Returns the deliveries queued.
    pub async fn publish_together(
        &self,
        messages: Vec<Message>,
        entry: Option<crate::domain::sources::Arrival>,
    ) -> Result<u64, SendError> {
        let queued = self.store.accept_messages(messages, entry).await?;
        if queued > 0 {
            self.waker.wake();
        }
        Ok(queued)
    }

    /// The message "send test event" publishes: example `index` of the event type's schemas.
    pub async fn example_message(
        &self,
        event_type: &str,
        index: usize,
    ) -> Result<NewMessage, SendError> {
        let name = EventTypeName::parse(event_type)?;
        let et = self
            .store
            .get_event_type(&name)
            .await?
            .ok_or_else(|| SendError::not_found("event type"))?;
        let example = et.example(index).ok_or_else(|| {
            SendError::Validation(format!(
                "event type `{name}` has no example #{index} in its schemas"
            ))
        })?;
        Ok(NewMessage {
            event_type: name,
            event_id: None,
            payload: example.to_string(),
            channels: None,
            tags: None,
            retention_days: None,
            deliver_at: None,
        })
    }

    /// "Send test event" from the console: the event type's first example, to this endpoint
    /// only, through the same engine as every other message. Answers the stored message.
    pub async fn send_test(
        &self,
        app: &AppId,
        ep: &Endpoint,
        event_type: &str,
    ) -> Result<Message, SendError> {
        let new = self.example_message(event_type, 0).await?;
        let msg = self.compose(app, new);
        self.publish(&msg, FanOut::Only(ep.id.clone()), None)
            .await?;
        Ok(msg)
    }

    /// One page of an application's messages.
    pub async fn list_messages(
        &self,
        app: &AppId,
        page: &PageRequest,
        filter: &MessageFilter,
    ) -> Result<Vec<Message>, SendError> {
        Ok(self.store.list_messages(app, page, filter).await?)
    }

    /// One page of an application's delivery attempts.
    pub async fn list_attempts(
        &self,
        app: &AppId,
        filter: &AttemptFilter,
        page: &PageRequest,
    ) -> Result<Vec<Attempt>, SendError> {
        Ok(self.store.list_attempts(app, filter, page).await?)
    }

    /// Finds a message of an application by its id or, as in Svix, by its `eventId`.
    pub async fn message(&self, app: &AppId, id_or_event_id: &str) -> Result<Message, SendError> {
        let found = match MessageId::parse(id_or_event_id) {
            Ok(id) => self.store.get_message(app, &id).await?,
            Err(_) => None,
        };
        let found = match found {
            Some(m) => Some(m),
            None => {
                self.store
                    .get_message_by_event_id(app, id_or_event_id)
                    .await?
            }
        };
        found.ok_or_else(|| SendError::not_found("message"))
    }

    /// Queues a message for one endpoint again, unless its payload has expired.
    pub async fn resend(
        &self,
        app: &AppId,
        msg: &Message,
        ep: &EndpointId,
    ) -> Result<(), SendError> {
        if msg.payload.is_none() {
            return Err(SendError::Validation(
                "the message's payload has expired (payloadRetentionPeriod), so it cannot be resent"
                    .into(),
            ));
        }
        if self.store.requeue(app, &msg.id, ep).await? {
            self.waker.wake();
        }
        Ok(())
    }

    /// Drops a message's payload (Svix's `expunge_content`): for a message sent with something
    /// it should not have carried. It stays listed with its attempts and cannot be resent.
    pub async fn expunge_content(
        &self,
        app: &AppId,
        id_or_event_id: &str,
    ) -> Result<(), SendError> {
        let msg = self.message(app, id_or_event_id).await?;
        if !self.store.expunge_payload(app, &msg.id).await? {
            return Err(SendError::not_found("message"));
        }
        Ok(())
    }

    /// [`Self::expunge_content`] for many messages (ids or eventIds); each one's result by the
    /// key it was named by, as Svix's `bulk_expunge_content` answers.
    pub async fn bulk_expunge_content(
        &self,
        app: &AppId,
        keys: &[String],
    ) -> Result<BTreeMap<String, Expunged>, SendError> {
        if keys.len() > MAX_BULK_EXPUNGE {
            return Err(SendError::Validation(format!(
                "ids: at most {MAX_BULK_EXPUNGE} messages at a time"
            )));
        }
        let mut results = BTreeMap::new();
        for key in keys {
            let outcome = match self.expunge_content(app, key).await {
                Ok(()) => Expunged::Expunged,
                Err(SendError::NotFound(_)) => Expunged::NotFound,
                Err(e) => return Err(e),
            };
            results.insert(key.clone(), outcome);
        }
        Ok(results)
    }

    /// Empties one attempt's recorded response body (Svix's attempt `expunge_content`).
    pub async fn expunge_attempt_content(
        &self,
        app: &AppId,
        id_or_event_id: &str,
        attempt: &str,
    ) -> Result<(), SendError> {
        let msg = self.message(app, id_or_event_id).await?;
        let attempt = AttemptId::parse(attempt).map_err(|_| SendError::not_found("attempt"))?;
        if !self
            .store
            .expunge_attempt_response(app, &msg.id, &attempt)
            .await?
        {
            return Err(SendError::not_found("attempt"));
        }
        Ok(())
    }

    /// Whether a message of this type (and these channels) would go anywhere: some enabled
    /// endpoint subscribes to it (Svix's `precheck`).
    pub async fn precheck(
        &self,
        app: &AppId,
        event_type: &str,
        channels: Option<BTreeSet<String>>,
    ) -> Result<bool, SendError> {
        let event_type = EventTypeName::parse(event_type)?;
        let channels = parse_channels(channels, MAX_MESSAGE_CHANNELS)?;
        let mut page = PageRequest {
            limit: 250,
            iterator: None,
            ascending: true,
        };
        loop {
            let endpoints = self.store.list_endpoints(app, &page).await?;
            if endpoints
                .iter()
                .any(|ep| ep.fields.subscribes_to(&event_type, channels.as_ref()))
            {
                return Ok(true);
            }
            match endpoints.last() {
                Some(last) if endpoints.len() == page.limit as usize => {
                    page.iterator = Some(last.id.to_string());
                }
                _ => return Ok(false),
            }
        }
    }
}

/// The most messages one bulk expunge names.
pub const MAX_BULK_EXPUNGE: usize = 1_000;

/// What a bulk expunge did to one message (Svix's `BulkExpungeStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expunged {
    Expunged,
    NotFound,
}

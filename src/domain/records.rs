//! The records Kanca stores, as the rest of the code sees them.
//!
//! These are plain data: the store builds them from rows, the API renders them, the delivery
//! engine reads them. Timestamps are UTC; the store keeps them as milliseconds since the epoch
//! so both backends index and compare them the same way.

use super::{
    AppId, AttemptId, ChannelName, EndpointId, EndpointSecret, EndpointUrl, EventTypeName,
    MessageId, TaskId, Uid,
};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};

pub type Metadata = BTreeMap<String, String>;

#[derive(Debug, Clone)]
pub struct Application {
    pub id: AppId,
    pub uid: Option<Uid>,
    pub name: String,
    pub throttle_rate: Option<u16>,
    pub metadata: Metadata,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The fields a user sets on an application (create and full update).
#[derive(Debug, Clone)]
pub struct ApplicationFields {
    pub uid: Option<Uid>,
    pub name: String,
    pub throttle_rate: Option<u16>,
    pub metadata: Metadata,
}

#[derive(Debug, Clone)]
pub struct EventType {
    pub name: EventTypeName,
    pub description: String,
    pub archived: bool,
    pub deprecated: bool,
    /// JSON Schema documents by version, with `examples`; "send test event" sends the first.
    pub schemas: Option<serde_json::Value>,
    pub group_name: Option<String>,
    pub feature_flags: Option<BTreeSet<String>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct EventTypeFields {
    pub description: String,
    pub archived: bool,
    pub deprecated: bool,
    pub schemas: Option<serde_json::Value>,
    pub group_name: Option<String>,
    pub feature_flags: Option<BTreeSet<String>>,
}

impl EventType {
    /// The example payload "send test event" delivers: `examples[index]` of the newest
    /// schema version that has examples (JSON Schema's `examples`, or a single `example`).
    pub fn example(&self, index: usize) -> Option<serde_json::Value> {
        let schemas = self.schemas.as_ref()?.as_object()?;
        let mut versions: Vec<(&String, &serde_json::Value)> = schemas.iter().collect();
        // Versions are "1", "2", …: the newest first, numerically when they are numbers.
        versions.sort_by(|a, b| match (a.0.parse::<u64>(), b.0.parse::<u64>()) {
            (Ok(x), Ok(y)) => y.cmp(&x),
            _ => b.0.cmp(a.0),
        });
        versions.into_iter().find_map(|(_, schema)| {
            if let Some(list) = schema.get("examples").and_then(|e| e.as_array()) {
                list.get(index).cloned()
            } else if index == 0 {
                schema.get("example").cloned()
            } else {
                None
            }
        })
    }
}

#[derive(Debug, Clone)]
pub struct Endpoint {
    pub id: EndpointId,
    pub app_id: AppId,
    pub fields: EndpointFields,
    pub secret: EndpointSecret,
    /// Secrets replaced by a rotation, each signing beside the current one until it expires.
    pub retired_secrets: Vec<RetiredSecret>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct RetiredSecret {
    pub secret: EndpointSecret,
    pub expires_at: DateTime<Utc>,
}

impl Endpoint {
    /// The secrets a delivery made at `now` is signed with: the current one first, then every
    /// retired one still in its grace period.
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> impl Iterator<Item = &EndpointSecret> {
        std::iter::once(&self.secret).chain(
            self.retired_secrets
                .iter()
                .filter(move |r| r.expires_at > now)
                .map(|r| &r.secret),
        )
    }
}

/// The fields a user sets on an endpoint (create and full update).
#[derive(Debug, Clone)]
pub struct EndpointFields {
    pub uid: Option<Uid>,
    pub url: EndpointUrl,
    pub description: String,
    /// `None`: every event type.
    pub event_types: Option<BTreeSet<EventTypeName>>,
    /// `None`: every message, whatever its channels.
    pub channels: Option<BTreeSet<ChannelName>>,
    pub disabled: bool,
    pub throttle_rate: Option<u16>,
    pub metadata: Metadata,
    pub headers: BTreeMap<String, String>,
}

impl EndpointFields {
    /// Whether a message of this type on these channels goes to this endpoint: its event type
    /// is subscribed (or the endpoint takes all), and, when the endpoint names channels, the
    /// message carries at least one of them.
    pub fn subscribes_to(
        &self,
        event_type: &EventTypeName,
        channels: Option<&BTreeSet<ChannelName>>,
    ) -> bool {
        if self.disabled {
            return false;
        }
        if let Some(types) = &self.event_types {
            if !types.contains(event_type) {
                return false;
            }
        }
        match (&self.channels, channels) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(wanted), Some(got)) => wanted.iter().any(|c| got.contains(c)),
        }
    }
}

/// Sent `message.attempt.failing` after this many failed attempts in a row for one message
/// and endpoint (Svix: 4).
pub const FAILING_AFTER_ATTEMPTS: u32 = 4;

#[derive(Debug, Clone)]
pub struct Message {
    pub id: MessageId,
    pub app_id: AppId,
    pub event_type: EventTypeName,
    pub event_id: Option<String>,
    /// The payload's JSON text exactly as it was received: it is what we sign and send.
    /// `None` once the retention period has expired.
    pub payload: Option<String>,
    pub channels: Option<BTreeSet<ChannelName>>,
    pub tags: Option<BTreeSet<String>>,
    pub created_at: DateTime<Utc>,
    pub payload_expires_at: DateTime<Utc>,
    /// Svix's `deliverAt`: no attempt before this time (`None`: at once).
    pub deliver_at: Option<DateTime<Utc>>,
    /// For a message a source accepted: the request it came in as (method, path, headers),
    /// whose headers go on to its destinations. `None` for every other message.
    pub received: Option<super::sources::ReceivedRequest>,
}

impl Message {
    /// When the first attempt of each of its deliveries is due.
    pub fn first_attempt_at(&self) -> DateTime<Utc> {
        self.deliver_at.unwrap_or(self.created_at)
    }

    /// An event Kanca publishes itself (operational webhooks, the workspace's events): the
    /// payload is `{"type": …, "data": …}`, as Svix's operational webhooks send it, kept for
    /// 90 days. `data` is written straight to the payload's text, not built as a JSON tree
    /// first: every incoming-webhook post makes one of these, and the tree (built, copied
    /// into the envelope, printed, dropped) was a twentieth of the server's time.
    pub fn own_event(
        app: &AppId,
        event_type: &'static str,
        data: &impl serde::Serialize,
        now: DateTime<Utc>,
    ) -> Self {
        #[derive(serde::Serialize)]
        struct Envelope<'a, T> {
            r#type: &'a str,
            data: &'a T,
        }
        let payload = serde_json::to_string(&Envelope {
            r#type: event_type,
            data,
        })
        .expect("plain data serialises");
        Self {
            id: MessageId::generate(),
            app_id: app.clone(),
            event_type: EventTypeName::parse(event_type).expect("static event type"),
            event_id: None,
            payload: Some(payload),
            channels: None,
            tags: None,
            created_at: now,
            payload_expires_at: now + chrono::Duration::days(90),
            deliver_at: None,
            received: None,
        }
    }
}

/// Where one message stands for one endpoint. The numbers are Svix's `MessageStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Success = 0,
    Pending = 1,
    Fail = 2,
    Sending = 3,
    Canceled = 4,
}

impl DeliveryStatus {
    pub fn from_i64(v: i64) -> Self {
        match v {
            0 => Self::Success,
            2 => Self::Fail,
            3 => Self::Sending,
            4 => Self::Canceled,
            _ => Self::Pending,
        }
    }

    /// Still to be attempted (or being attempted), so a next attempt time means something.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Pending | Self::Sending)
    }

    pub fn text(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Pending => "pending",
            Self::Fail => "fail",
            Self::Sending => "sending",
            Self::Canceled => "canceled",
        }
    }
}

/// Why an attempt was made: by the schedule, or by a person (resend, recover, test event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerType {
    Scheduled = 0,
    Manual = 1,
}

impl TriggerType {
    pub fn from_i64(v: i64) -> Self {
        if v == 1 {
            Self::Manual
        } else {
            Self::Scheduled
        }
    }
}

/// A message queued for one endpoint, with where it stands for that endpoint (Svix's
/// `EndpointMessageOut`).
#[derive(Debug, Clone)]
pub struct EndpointMessage {
    pub message: Message,
    pub status: DeliveryStatus,
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// A message's delivery to one endpoint, with the endpoint it went to.
#[derive(Debug, Clone)]
pub struct MessageDestination {
    pub endpoint: Endpoint,
    pub status: DeliveryStatus,
    pub next_attempt_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct Attempt {
    pub id: AttemptId,
    pub msg_id: MessageId,
    pub endpoint_id: EndpointId,
    pub url: String,
    /// 0 when no HTTP response was received.
    pub response_status_code: i16,
    /// The first 64 KiB of the response body, or the failure reason when there was none.
    pub response: String,
    pub response_duration_ms: i64,
    /// Only `Success` or `Fail`: an attempt is recorded once it has ended.
    pub status: DeliveryStatus,
    pub trigger_type: TriggerType,
    /// For failures without a usable response: dns, connect, timeout, tls, SSRF guard.
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Counts of an endpoint's deliveries by status.
#[derive(Debug, Clone, Copy, Default)]
pub struct EndpointStats {
    pub success: i64,
    pub pending: i64,
    pub sending: i64,
    pub fail: i64,
    pub canceled: i64,
}

/// A background task as Svix reports it: the kind (`endpoint.replay`), how it ended, and what
/// it did.
#[derive(Debug, Clone, PartialEq)]
pub struct BackgroundTask {
    pub id: TaskId,
    pub task: String,
    pub status: String,
    pub data: serde_json::Value,
    pub updated_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(types: Option<&[&str]>, channels: Option<&[&str]>) -> EndpointFields {
        EndpointFields {
            uid: None,
            url: EndpointUrl::parse("https://example.com", false).unwrap(),
            description: String::new(),
            event_types: types
                .map(|t| t.iter().map(|s| EventTypeName::parse(s).unwrap()).collect()),
            channels: channels.map(|c| c.iter().map(|s| ChannelName::parse(s).unwrap()).collect()),
            disabled: false,
            throttle_rate: None,
            metadata: Metadata::new(),
            headers: BTreeMap::new(),
        }
    }

    #[test]
    fn subscription_matching_follows_svix() {
        let t = EventTypeName::parse("user.created").unwrap();
        let other = EventTypeName::parse("user.deleted").unwrap();
        let ch: BTreeSet<_> = [ChannelName::parse("p1").unwrap()].into();
        assert!(fields(None, None).subscribes_to(&t, None));
        assert!(fields(Some(&["user.created"]), None).subscribes_to(&t, Some(&ch)));
        assert!(!fields(Some(&["user.created"]), None).subscribes_to(&other, None));
        assert!(fields(None, Some(&["p1"])).subscribes_to(&t, Some(&ch)));
        assert!(!fields(None, Some(&["p2"])).subscribes_to(&t, Some(&ch)));
        assert!(!fields(None, Some(&["p1"])).subscribes_to(&t, None));
    }

    #[test]
    fn example_comes_from_the_newest_schema() {
        let et = EventType {
            name: EventTypeName::parse("a.b").unwrap(),
            description: String::new(),
            archived: false,
            deprecated: false,
            schemas: Some(serde_json::json!({
                "1": {"examples": [{"v": 1}]},
                "2": {"examples": [{"v": 2}, {"v": 3}]}
            })),
            group_name: None,
            feature_flags: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        assert_eq!(et.example(0), Some(serde_json::json!({"v": 2})));
        assert_eq!(et.example(1), Some(serde_json::json!({"v": 3})));
        assert_eq!(et.example(2), None);
    }

    /// Kanca's own events read as Svix's operational webhooks do: `type`, then `data`, as the
    /// data serialises itself (no detour through a JSON tree, which sorted every key).
    #[test]
    fn an_own_event_is_type_then_data_as_written() {
        #[derive(serde::Serialize)]
        struct Data {
            zebra: u8,
            apple: &'static str,
        }
        let app = AppId::from_trusted("app_1".to_owned());
        let msg = Message::own_event(
            &app,
            "message.posted",
            &Data {
                zebra: 1,
                apple: "a",
            },
            Utc::now(),
        );
        assert_eq!(
            msg.payload.as_deref(),
            Some(r#"{"type":"message.posted","data":{"zebra":1,"apple":"a"}}"#)
        );
        assert_eq!(msg.event_type.as_str(), "message.posted");
        assert_eq!(
            msg.payload_expires_at - msg.created_at,
            chrono::Duration::days(90)
        );
    }
}

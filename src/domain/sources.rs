//! Sources (Svix's Ingest API): where a provider's webhooks arrive, and how each type of
//! source is verified.
//!
//! A [`SourceKind`] is parsed from the `type` and `config` of Svix's `IngestSourceIn`; the
//! config's secret becomes a [`SourceSecret`] that never shows in `Debug`. Types that Svix's
//! SDKs list but Kanca cannot verify yet are refused at parse time, with a message that says
//! so, rather than accepted and left unverified.

pub use super::ids::SourceId;
use super::{AppId, MessageId, Metadata, ParseError, Uid};
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde_json::Value;

/// The types that sign as Svix does (Standard Webhooks), as the SDKs list them.
pub const SVIX_SCHEME_TYPES: &[&str] = &[
    "svix",
    "beehiiv",
    "brex",
    "clerk",
    "guesty",
    "incident-io",
    "lithic",
    "nash",
    "open-ai",
    "pleo",
    "psi-fi",
    "render",
    "replicate",
    "resend",
    "safebase",
    "sardine",
    "stych",
];

/// The other types Svix's SDKs list, which Kanca answers 422 "not supported yet".
pub const UNSUPPORTED_TYPES: &[&str] = &[
    "adobe-sign",
    "airwallex",
    "checkbook",
    "docusign",
    "easypost",
    "hubspot",
    "meta",
    "merge",
    "nango",
    "openclaw",
    "orum-io",
    "panda-doc",
    "port-io",
    "rutter",
    "segment",
    "tailscale",
    "telnyx",
    "vapi",
    "veriff",
    "vgs",
    "zoom",
];

/// A provider's signing secret, as the provider hands it out. Hidden from `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct SourceSecret(String);

impl SourceSecret {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        if s.is_empty() || s.len() > 1024 {
            return Err(ParseError::new(
                "config.secret must be 1 to 1024 characters",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SourceSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SourceSecret(…)")
    }
}

/// How a source's requests are verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// No signature scheme: whoever knows the URL may post.
    GenericWebhook,
    /// `X-Hub-Signature-256: sha256=<hex HMAC of the body>`.
    Github(SourceSecret),
    /// `Stripe-Signature: t=…,v1=…`, keyed with the whole `whsec_…` string.
    Stripe(SourceSecret),
    /// Slack's v0 scheme with `X-Slack-Request-Timestamp`.
    Slack(SourceSecret),
    /// `X-Shopify-Hmac-Sha256: <base64 HMAC of the body>`.
    Shopify(SourceSecret),
    /// Standard Webhooks, for `svix` and every type that signs as Svix does; the key is the
    /// base64 after `whsec_`. `type_name` is the type as given (`clerk`, `resend`, …).
    StandardWebhooks {
        type_name: &'static str,
        key: Vec<u8>,
        secret: SourceSecret,
    },
    /// Scheduled webhooks: no requests come in; Kanca itself emits the payload on the
    /// schedule, as if a provider had sent it.
    Cron(CronSchedule),
}

/// A `cron` source's config (Svix's `CronConfig`): when to fire and what to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronSchedule {
    /// A cron expression as Svix documents it (five fields, UTC: `5 4 * * *`). A sixth,
    /// leading seconds field is accepted too (a Kanca extension, for schedules under a
    /// minute).
    pub schedule: String,
    /// The body sent on every tick, as given.
    pub payload: String,
    /// The `content-type` the body is sent with (`application/json` when not given).
    pub content_type: Option<String>,
}

impl CronSchedule {
    /// The most a payload may hold: a message's payload limit would refuse more on every tick.
    pub const MAX_PAYLOAD: usize = 256 * 1024;

    fn parse(config: Option<&Value>) -> Result<Self, KindError> {
        let field = |name: &str| -> Result<Option<String>, KindError> {
            match config.and_then(|c| c.get(name)) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(KindError::Invalid(format!(
                    "config.{name} must be a string"
                ))),
            }
        };
        let schedule = field("schedule")?
            .ok_or_else(|| KindError::Invalid("a `cron` source needs config.schedule".into()))?;
        let payload = field("payload")?
            .ok_or_else(|| KindError::Invalid("a `cron` source needs config.payload".into()))?;
        if payload.len() > Self::MAX_PAYLOAD || payload.contains('\0') {
            return Err(KindError::Invalid(format!(
                "config.payload must be text of at most {} bytes",
                Self::MAX_PAYLOAD
            )));
        }
        let content_type = field("contentType")?;
        if let Some(ct) = &content_type {
            if ct.parse::<http::HeaderValue>().is_err() || ct.is_empty() || ct.len() > 256 {
                return Err(KindError::Invalid(
                    "config.contentType must be a valid header value".into(),
                ));
            }
        }
        let this = Self {
            schedule: schedule.trim().to_owned(),
            payload,
            content_type,
        };
        this.cron()?;
        Ok(this)
    }

    /// The parsed expression. Five fields, or six with leading seconds; `@hourly` and the
    /// other nicknames too.
    pub fn cron(&self) -> Result<croner::Cron, KindError> {
        croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Optional)
            .build()
            .parse(&self.schedule)
            .map_err(|e| {
                KindError::Invalid(format!("config.schedule is not a cron expression: {e}"))
            })
    }

    /// The first tick strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron().ok()?.find_next_occurrence(&t, false).ok()
    }

    /// The last tick at or before `t`.
    pub fn last_at_or_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron().ok()?.find_previous_occurrence(&t, true).ok()
    }

    pub fn content_type(&self) -> &str {
        self.content_type.as_deref().unwrap_or("application/json")
    }

    /// The config as Svix's `CronConfig` shows it (nothing in it is secret).
    pub fn config(&self) -> Value {
        let mut out = serde_json::json!({ "schedule": self.schedule, "payload": self.payload });
        if let Some(ct) = &self.content_type {
            out["contentType"] = Value::String(ct.clone());
        }
        out
    }
}

impl SourceKind {
    /// The kind that `type` and `config` (Svix's `IngestSourceIn`) describe.
    pub fn parse(type_name: &str, config: Option<&Value>) -> Result<Self, KindError> {
        let secret = || -> Result<SourceSecret, KindError> {
            let s = config
                .and_then(|c| c.get("secret"))
                .ok_or_else(|| {
                    KindError::Invalid(format!("a `{type_name}` source needs config.secret"))
                })?
                .as_str()
                .ok_or_else(|| KindError::Invalid("config.secret must be a string".into()))?;
            SourceSecret::parse(s).map_err(|e| KindError::Invalid(e.0))
        };
        if let Some(c) = config {
            if !c.is_object() && !c.is_null() {
                return Err(KindError::Invalid("config must be an object".into()));
            }
        }
        Ok(match type_name {
            "generic-webhook" => Self::GenericWebhook,
            "github" => Self::Github(secret()?),
            "stripe" => Self::Stripe(secret()?),
            "slack" => Self::Slack(secret()?),
            "shopify" => Self::Shopify(secret()?),
            "cron" => Self::Cron(CronSchedule::parse(config)?),
            t => {
                if let Some(name) = SVIX_SCHEME_TYPES.iter().find(|n| **n == t) {
                    let secret = secret()?;
                    let key = super::EndpointSecret::parse(secret.expose())
                        .map_err(|e| KindError::Invalid(format!("config.secret: {e}")))?
                        .key()
                        .to_vec();
                    Self::StandardWebhooks {
                        type_name: name,
                        key,
                        secret,
                    }
                } else if UNSUPPORTED_TYPES.contains(&t) {
                    return Err(KindError::NotSupported(t.to_owned()));
                } else {
                    return Err(KindError::Invalid(format!("unknown source type `{t}`")));
                }
            }
        })
    }

    /// The type as Svix names it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::GenericWebhook => "generic-webhook",
            Self::Github(_) => "github",
            Self::Stripe(_) => "stripe",
            Self::Slack(_) => "slack",
            Self::Shopify(_) => "shopify",
            Self::StandardWebhooks { type_name, .. } => type_name,
            Self::Cron(_) => "cron",
        }
    }

    /// The config as stored (secret included); [`SourceKind::parse`] reads it back.
    pub fn stored_config(&self) -> Value {
        if let Self::Cron(c) = self {
            return c.config();
        }
        match self.secret() {
            Some(s) => serde_json::json!({ "secret": s.expose() }),
            None => serde_json::json!({}),
        }
    }

    pub fn secret(&self) -> Option<&SourceSecret> {
        match self {
            Self::GenericWebhook | Self::Cron(_) => None,
            Self::Github(s) | Self::Stripe(s) | Self::Slack(s) | Self::Shopify(s) => Some(s),
            Self::StandardWebhooks { secret, .. } => Some(secret),
        }
    }
}

/// Why a `type` and `config` were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KindError {
    #[error("{0}")]
    Invalid(String),
    #[error("source type `{0}` is not supported yet")]
    NotSupported(String),
}

/// The secret part of a source's ingest URL: 32 random bytes, URL-safe.
#[derive(Clone, PartialEq, Eq)]
pub struct IngestToken(String);

impl IngestToken {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut bytes);
        Self(hex::encode(bytes))
    }

    /// What a request's path segment says; only the store can tell whether it is a source's.
    pub fn from_path(s: &str) -> Option<Self> {
        (s.len() == 48 && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| Self(s.to_owned()))
    }

    pub(crate) fn from_trusted(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for IngestToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IngestToken(…)")
    }
}

/// The fields a user sets on a source.
#[derive(Debug, Clone)]
pub struct SourceFields {
    pub uid: Option<Uid>,
    pub name: String,
    pub kind: SourceKind,
    pub metadata: Metadata,
    /// The application that what the source accepts is also published into, as provider
    /// events (`github.push`): a Kanca extension to Svix's Ingest API.
    pub publish_to: Option<AppId>,
}

#[derive(Debug, Clone)]
pub struct Source {
    pub id: SourceId,
    /// The internal application whose endpoints are the source's destinations.
    pub app_id: AppId,
    pub fields: SourceFields,
    pub token: IngestToken,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The request line and headers a source accepted, kept with the message it became (the
/// body is the message's payload).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReceivedRequest {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

/// What became of a request at a source's URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArrivalOutcome {
    Accepted,
    Duplicate,
    Rejected,
}

impl ArrivalOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Duplicate => "duplicate",
            Self::Rejected => "rejected",
        }
    }

    pub fn from_stored(s: &str) -> Self {
        match s {
            "accepted" => Self::Accepted,
            "duplicate" => Self::Duplicate,
            _ => Self::Rejected,
        }
    }
}

/// One entry of a source's log.
#[derive(Debug, Clone)]
pub struct Arrival {
    /// Given by the store (0 before it is stored).
    pub id: i64,
    pub source_id: SourceId,
    pub received_at: DateTime<Utc>,
    pub request: ReceivedRequest,
    /// The first bytes of the body, for the log (lossy UTF-8).
    pub body_preview: String,
    pub outcome: ArrivalOutcome,
    /// Why it was rejected.
    pub reason: Option<String>,
    /// The provider's delivery id, when the type has one.
    pub dedupe_id: Option<String>,
    /// The message it became (accepted) or repeats (duplicate).
    pub msg_id: Option<MessageId>,
}

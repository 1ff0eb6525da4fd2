//! Outgoing webhooks: when a person writes in a channel, matching hooks send Slack's request to
//! their callback URLs, and a reply with `text` or `attachments` is posted back.
//!
//! The requests are deliveries like any other, so they get the engine's retries, attempt log
//! and metrics. The shape:
//!
//! - An internal application ([`APP_UID`]) holds one endpoint per callback URL. Its Svix
//!   channel is the hook's id, so one message per trigger fans out to all of a hook's URLs.
//! - The message payload is the exact request body (form-encoded or JSON, as the hook says);
//!   the endpoint's secret is the hook's signing secret, and its metadata says the content type.
//! - [`SlackProfile`] is registered for that application: it sets `Content-Type`,
//!   `X-Slack-Request-Timestamp` and `X-Slack-Signature` instead of the Standard Webhooks
//!   headers, and turns a 2xx reply into a `bot` message (threaded for
//!   `response_type: "comment"`). Bot messages never fire outgoing webhooks (`post.rs`).
//!
//! The reply's channel and thread come from the request body that was delivered, so a reply
//! goes where the triggering message was, even for hooks that listen on every channel.

use super::{Workspace, WorkspaceError};
use crate::delivery::profile::DeliveryProfile;
use crate::domain::workspace::*;
use crate::domain::*;
use crate::store::{AttemptFilter, DeliveryJob, DynStore, FanOut, PageRequest};
use async_trait::async_trait;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::distributions::{Alphanumeric, DistString};
use rand::RngCore;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::sync::Weak;

/// The uid of the internal application whose endpoints are callback URLs.
pub const APP_UID: &str = "kanca-slack-outgoing";
/// The event type of its messages (never shown: the application is internal).
const EVENT_TYPE: &str = "slack.outgoing_webhook";
/// Metadata key on each endpoint: `form` or `json`.
const CONTENT_TYPE_KEY: &str = "contentType";
/// The `team_domain` sent in requests.
pub const TEAM_DOMAIN: &str = "kanca";
/// At most this many callback URLs per hook.
const MAX_CALLBACK_URLS: usize = 10;

pub async fn ensure_app(store: &DynStore) -> anyhow::Result<AppId> {
    let uid = Uid::parse(APP_UID).expect("static uid");
    Ok(store
        .ensure_internal_app(&uid, "Slack outgoing webhooks")
        .await?)
}

/// Slack's request signature: `v0=` + hex(HMAC-SHA256(secret, "v0:{timestamp}:{body}")).
pub fn slack_signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(b"v0:");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b":");
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// A stable, Slack-shaped user id for a person's name (Kanca has no user directory).
pub fn user_id_for(name: &str) -> String {
    let digest = Sha256::digest(name.as_bytes());
    format!("U{}", hex::encode_upper(&digest[..5]))
}

/// What an outgoing webhook is created with (`POST /api/v1/outgoing-webhooks`).
#[derive(Debug, Clone)]
pub struct NewOutgoingHook {
    pub name: String,
    pub channel: Option<String>,
    pub trigger_words: Vec<String>,
    pub trigger_when: TriggerWhen,
    pub callback_urls: Vec<String>,
    pub content_type: OutgoingContentType,
}

impl Workspace {
    pub async fn create_outgoing_hook(
        &self,
        input: NewOutgoingHook,
    ) -> Result<OutgoingHook, WorkspaceError> {
        let name = input.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 80 {
            return Err(WorkspaceError::Invalid(
                "`name` must be 1 to 80 characters long".into(),
            ));
        }
        let trigger_words = input
            .trigger_words
            .iter()
            .map(|w| TriggerWord::parse(w))
            .collect::<Result<Vec<_>, _>>()?;
        let channel = match input.channel.as_deref().filter(|c| !c.trim().is_empty()) {
            Some(key) => Some(self.channel(key).await?),
            None => None,
        };
        if channel.is_none() && trigger_words.is_empty() {
            return Err(WorkspaceError::Invalid(
                "give a `channel`, `triggerWords`, or both".into(),
            ));
        }
        if input.callback_urls.is_empty() || input.callback_urls.len() > MAX_CALLBACK_URLS {
            return Err(WorkspaceError::Invalid(format!(
                "`callbackUrls` must hold 1 to {MAX_CALLBACK_URLS} URLs"
            )));
        }
        let callback_urls = input
            .callback_urls
            .iter()
            .map(|u| EndpointUrl::parse(u, self.deps.allow_private_targets))
            .collect::<Result<Vec<_>, _>>()?;
        let id = OutgoingHookId::generate();
        let mut secret_bytes = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut secret_bytes);
        let signing_secret = hex::encode(secret_bytes);
        // The endpoint signs with the bytes of the signing secret's text, which is how Slack
        // uses it as an HMAC key.
        let endpoint_secret = EndpointSecret::parse(&format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(signing_secret.as_bytes())
        ))
        .expect("32 bytes make a valid secret");
        let svix_channel = ChannelName::parse(id.as_str()).expect("hook ids are valid names");
        let mut endpoint_ids = Vec::with_capacity(callback_urls.len());
        for url in &callback_urls {
            let fields = EndpointFields {
                uid: None,
                url: url.clone(),
                description: name.clone(),
                event_types: None,
                channels: Some(BTreeSet::from([svix_channel.clone()])),
                disabled: false,
                throttle_rate: None,
                metadata: [
                    ("outgoingHookId".to_owned(), id.to_string()),
                    (
                        CONTENT_TYPE_KEY.to_owned(),
                        input.content_type.as_str().to_owned(),
                    ),
                ]
                .into(),
                headers: Default::default(),
            };
            let ep = self
                .deps
                .store
                .create_endpoint(&self.outgoing_app, fields, endpoint_secret.clone())
                .await?;
            endpoint_ids.push(ep.id);
        }
        let hook = OutgoingHook {
            id,
            name,
            channel_id: channel.map(|c| c.id),
            trigger_words,
            trigger_when: input.trigger_when,
            callback_urls,
            endpoint_ids,
            content_type: input.content_type,
            token: Alphanumeric.sample_string(&mut rand::thread_rng(), 24),
            signing_secret,
            created_at: crate::store::from_ms(crate::store::to_ms(self.deps.clock.now())),
        };
        self.deps.store.create_outgoing_hook(&hook).await?;
        Ok(hook)
    }

    pub async fn outgoing_hook(&self, id: &str) -> Result<OutgoingHook, WorkspaceError> {
        let id = OutgoingHookId::parse(id).map_err(|_| outgoing_not_found())?;
        self.deps
            .store
            .get_outgoing_hook(&id)
            .await?
            .ok_or_else(outgoing_not_found)
    }

    pub async fn list_outgoing_hooks(&self) -> Result<Vec<OutgoingHook>, WorkspaceError> {
        Ok(self.deps.store.list_outgoing_hooks().await?)
    }

    /// The newest `limit` attempts to call this hook's callback URLs: the engine's attempt log
    /// (the internal application's routes are hidden from the API, so this is where it shows).
    pub async fn outgoing_attempts(
        &self,
        id: &str,
        limit: u32,
    ) -> Result<Vec<Attempt>, WorkspaceError> {
        let hook = self.outgoing_hook(id).await?;
        let mut attempts = Vec::new();
        for ep in &hook.endpoint_ids {
            let filter = AttemptFilter {
                msg_id: None,
                endpoint_id: Some(ep.clone()),
                status: None,
            };
            let page = PageRequest {
                limit,
                iterator: None,
                ascending: false,
            };
            attempts.extend(
                self.deps
                    .store
                    .list_attempts(&self.outgoing_app, &filter, &page)
                    .await?,
            );
        }
        // Attempt ids are time-ordered.
        attempts.sort_by(|a, b| b.id.cmp(&a.id));
        attempts.truncate(limit as usize);
        Ok(attempts)
    }

    /// Deletes a hook and its callback endpoints (requests already queued are canceled when
    /// their endpoint is found gone).
    pub async fn delete_outgoing_hook(&self, id: &str) -> Result<(), WorkspaceError> {
        let hook = self.outgoing_hook(id).await?;
        self.deps.store.delete_outgoing_hook(&hook.id).await?;
        for ep in &hook.endpoint_ids {
            match self
                .deps
                .store
                .delete_endpoint(&self.outgoing_app, ep)
                .await
            {
                Ok(()) | Err(crate::store::StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Queues Slack's request for every hook that `msg` (written by a person) triggers.
    pub(crate) async fn fire_outgoing(&self, channel: &Channel, msg: &ChannelMessage) {
        let hooks = match self.deps.store.list_outgoing_hooks().await {
            Ok(hooks) => hooks,
            Err(e) => {
                tracing::error!(error = %e, "could not read outgoing webhooks");
                return;
            }
        };
        let mut queued = false;
        for hook in hooks {
            let Some(trigger_word) = hook.trigger_for(&channel.id, &msg.text) else {
                continue;
            };
            let body = request_body(&hook, self.team_id(), channel, msg, &trigger_word);
            let now = self.deps.clock.now();
            let svix_channel = ChannelName::parse(hook.id.as_str()).expect("hook ids are names");
            let message = Message {
                id: MessageId::generate(),
                app_id: self.outgoing_app.clone(),
                event_type: EventTypeName::parse(EVENT_TYPE).expect("static event type"),
                event_id: None,
                payload: Some(body),
                channels: Some(BTreeSet::from([svix_channel])),
                tags: None,
                created_at: now,
                payload_expires_at: now + chrono::Duration::days(30),
            };
            match self
                .deps
                .store
                .create_message(&message, FanOut::Subscribed, None)
                .await
            {
                Ok(_) => queued = true,
                Err(e) => {
                    tracing::error!(error = %e, hook = %hook.id, "could not queue an outgoing webhook")
                }
            }
        }
        if queued {
            self.deps.waker.wake();
        }
    }

    /// Posts an outgoing webhook's reply (the 2xx answer to `job`) back into the channel.
    async fn post_reply(&self, job: &DeliveryJob, answer: &str) {
        let Ok(reply) = serde_json::from_str::<Value>(answer.trim()) else {
            return;
        };
        let Ok(parsed) = super::payload::parse_json(answer.trim()) else {
            return;
        };
        if parsed.text.is_none() && parsed.attachments.is_none() {
            return;
        }
        let Some(request) = job.payload.as_deref().and_then(request_fields) else {
            return;
        };
        let channel = match self.channel(&request.channel_id).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "the channel of an outgoing webhook reply is gone");
                return;
            }
        };
        let thread_ts = if reply.get("response_type").and_then(Value::as_str) == Some("comment") {
            request
                .thread_ts
                .as_deref()
                .or(Some(request.timestamp.as_str()))
                .and_then(|t| Ts::parse(t).ok())
        } else {
            None
        };
        let hook_name = job.endpoint.fields.description.clone();
        let msg = NewMessage {
            text: parsed.text.unwrap_or_default(),
            username: parsed.username.or_else(|| Some(hook_name.clone())),
            icon_emoji: parsed.icon_emoji,
            icon_url: parsed.icon_url,
            attachments: parsed.attachments,
            blocks: parsed.blocks,
            thread_ts,
            posted_by: PosterKind::Bot,
            poster_name: hook_name,
        };
        if let Err(e) = self.post_message(&channel, msg).await {
            tracing::warn!(error = %e, channel = %channel.id, "could not post an outgoing webhook reply");
        }
    }
}

/// Slack's fields for one triggered hook, encoded as the hook says.
fn request_body(
    hook: &OutgoingHook,
    team: &TeamId,
    channel: &Channel,
    msg: &ChannelMessage,
    trigger_word: &str,
) -> String {
    let ts = msg.ts.to_string();
    let thread_ts = msg.thread_ts.map(|t| t.to_string());
    let mut fields: Vec<(&str, String)> = vec![
        ("token", hook.token.clone()),
        ("team_id", team.to_string()),
        ("team_domain", TEAM_DOMAIN.to_owned()),
        ("service_id", hook.id.to_string()),
        ("channel_id", channel.id.to_string()),
        ("channel_name", channel.name.as_str().to_owned()),
        ("timestamp", ts),
        ("user_id", user_id_for(&msg.poster_name)),
        ("user_name", msg.poster_name.clone()),
        ("text", msg.text.clone()),
        ("trigger_word", trigger_word.to_owned()),
    ];
    if let Some(t) = thread_ts {
        fields.push(("thread_ts", t));
    }
    match hook.content_type {
        OutgoingContentType::Form => {
            serde_urlencoded::to_string(&fields).expect("string pairs encode")
        }
        OutgoingContentType::Json => {
            let map: serde_json::Map<String, Value> = fields
                .into_iter()
                .map(|(k, v)| (k.to_owned(), Value::String(v)))
                .collect();
            json!(map).to_string()
        }
    }
}

/// The fields of a delivered request that a reply needs.
struct RequestFields {
    channel_id: String,
    timestamp: String,
    thread_ts: Option<String>,
}

/// Reads them back from the body we sent (form or JSON).
fn request_fields(body: &str) -> Option<RequestFields> {
    let get = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    if body.trim_start().starts_with('{') {
        let v: Value = serde_json::from_str(body).ok()?;
        Some(RequestFields {
            channel_id: get(&v, "channel_id")?,
            timestamp: get(&v, "timestamp")?,
            thread_ts: get(&v, "thread_ts"),
        })
    } else {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(body).ok()?;
        let find = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        Some(RequestFields {
            channel_id: find("channel_id")?,
            timestamp: find("timestamp")?,
            thread_ts: find("thread_ts"),
        })
    }
}

fn outgoing_not_found() -> WorkspaceError {
    WorkspaceError::NotFound("outgoing webhook not found".into())
}

/// Signs outgoing-webhook deliveries as Slack does and posts their replies back.
pub struct SlackProfile {
    /// Weak: the workspace owns the registry entry's lifetime, not the other way round.
    workspace: Weak<Workspace>,
}

impl SlackProfile {
    pub fn new(workspace: Weak<Workspace>) -> Self {
        Self { workspace }
    }
}

#[async_trait]
impl DeliveryProfile for SlackProfile {
    fn headers(&self, job: &DeliveryJob, timestamp: i64, body: &[u8]) -> HeaderMap {
        let content_type = OutgoingContentType::from_trusted(
            job.endpoint
                .fields
                .metadata
                .get(CONTENT_TYPE_KEY)
                .map(String::as_str)
                .unwrap_or("form"),
        );
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type.mime()));
        headers.insert("x-slack-request-timestamp", HeaderValue::from(timestamp));
        let signature = slack_signature(job.endpoint.secret.key(), timestamp, body);
        headers.insert(
            "x-slack-signature",
            HeaderValue::try_from(signature).expect("hex is ASCII"),
        );
        headers
    }

    async fn answered(&self, job: &DeliveryJob, _status: u16, body: &str) {
        if let Some(workspace) = self.workspace.upgrade() {
            workspace.post_reply(job, body).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slack's published example (DESIGN.md).
    #[test]
    fn slack_v0_test_vector() {
        let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        assert_eq!(
            slack_signature(
                b"8f742231b10e8888abcd99yyyzzz85a5",
                1531420618,
                body.as_bytes()
            ),
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
        );
    }

    #[test]
    fn request_fields_round_trip_both_encodings() {
        let form = "channel_id=C1&timestamp=1.000001&text=a+b";
        let f = request_fields(form).unwrap();
        assert_eq!(
            (f.channel_id.as_str(), f.timestamp.as_str()),
            ("C1", "1.000001")
        );
        let json = r#"{"channel_id":"C2","timestamp":"2.000002","thread_ts":"1.0"}"#;
        let f = request_fields(json).unwrap();
        assert_eq!(f.thread_ts.as_deref(), Some("1.0"));
    }
}

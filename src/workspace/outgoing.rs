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
//! - [`super::callback::SlackProfile`] is registered for that application: it sets
//!   `Content-Type`, `X-Slack-Request-Timestamp` and `X-Slack-Signature` instead of the
//!   Standard Webhooks headers, and turns a 2xx reply into a `bot` message (threaded for
//!   `response_type: "comment"`). Bot messages never fire outgoing webhooks (`post.rs`).

use super::{Workspace, WorkspaceError};
use crate::domain::workspace::*;
use crate::domain::*;
use crate::store::{AttemptFilter, DynStore, PageRequest};
use base64::Engine as _;
use rand::distributions::{Alphanumeric, DistString};
use rand::RngCore;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

/// The uid of the internal application whose endpoints are callback URLs.
pub const APP_UID: &str = "kanca-slack-outgoing";
/// The event type of its messages (never shown: the application is internal).
const EVENT_TYPE: &str = "slack.outgoing_webhook";
/// Metadata key on each endpoint: `form` or `json`.
pub(crate) const CONTENT_TYPE_KEY: &str = "contentType";
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
            .map(|u| {
                let allowed = self.deps.allow_private_targets || self.deps.own_bins.contains(u);
                EndpointUrl::parse(u, allowed)
            })
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
}

/// Slack's request for every hook that `msg` (written by a person) triggers, as messages of the
/// internal application `app` to queue with the message itself (`post.rs`). Each one's Svix
/// channel is its hook's id, so it fans out to that hook's callback URLs.
pub(crate) fn requests_for(
    hooks: &[OutgoingHook],
    app: &AppId,
    team: &TeamId,
    channel: &Channel,
    msg: &ChannelMessage,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<Message> {
    hooks
        .iter()
        .filter_map(|hook| {
            let trigger_word = hook.trigger_for(&channel.id, &msg.text)?;
            let svix_channel = ChannelName::parse(hook.id.as_str()).expect("hook ids are names");
            Some(Message {
                id: MessageId::generate(),
                app_id: app.clone(),
                event_type: EventTypeName::parse(EVENT_TYPE).expect("static event type"),
                event_id: None,
                payload: Some(request_body(hook, team, channel, msg, &trigger_word)),
                channels: Some(BTreeSet::from([svix_channel])),
                tags: None,
                created_at: now,
                payload_expires_at: now + chrono::Duration::days(30),
                deliver_at: None,
                received: None,
            })
        })
        .collect()
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

fn outgoing_not_found() -> WorkspaceError {
    WorkspaceError::NotFound("outgoing webhook not found".into())
}

//! People acting on apps: slash commands, Block Kit button clicks (`block_actions`), the
//! `response_url` an app answers them through later, and ephemeral messages.
//!
//! - A slash command (`/deploy prod` typed in the console's composer, or posted through
//!   `POST /api/v1/channels/{c}/commands`) sends Slack's signed form to the command's URL and
//!   waits 3 seconds for the immediate answer, as Slack does: empty (nothing shown), plain text
//!   (shown to the person only), or JSON with `response_type` `ephemeral` (the default) or
//!   `in_channel` (posted for everyone).
//! - A click on a button of a bot's message sends `block_actions` (form `payload=<json>`) to
//!   the interactivity URL of the app that posted the message.
//! - Both carry a `response_url` ([`ResponseUrl`]): it takes up to [`RESPONSE_USES`] answers
//!   within 30 minutes, posted into the channel (`in_channel`), shown to the person only
//!   (the default), or replacing or deleting the message with the button (`replace_original`,
//!   `delete_original`). The URL is self-verifying (an HMAC under the app's signing secret), so
//!   any node can take it without shared state; its use count is kept per node.
//! - Ephemeral messages (these answers, and `chat.postEphemeral`) are never stored, as in Slack,
//!   where they do not survive a reload: each node keeps the newest ones of each channel in
//!   memory for the console and `GET /api/v1/channels/{c}/ephemeral`.
//!
//! Nothing here goes through the delivery engine: Slack does not retry these requests either
//! (a person is waiting, and a late answer is an error shown to them).

use super::bot::SlackApiError;
use super::channels::event_ts;
use super::events_api::{bot_user, verification_token};
use super::outgoing::TEAM_DOMAIN;
use super::payload::{IncomingPayload, PayloadError};
use super::{slack_json, Workspace, WorkspaceError};
use crate::domain::workspace::*;
use crate::store::slack::MessageEdit;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::distributions::{Alphanumeric, DistString};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many answers a `response_url` takes (Slack's limit).
pub const RESPONSE_USES: u32 = 5;
/// How long a `response_url` works (Slack's limit).
const RESPONSE_URL_LIFETIME: chrono::Duration = chrono::Duration::minutes(30);
/// Ephemeral messages kept per channel, and for how long.
const EPHEMERAL_PER_CHANNEL: usize = 200;
const EPHEMERAL_LIFETIME: Duration = Duration::from_secs(60 * 60);

/// One ephemeral message: what a person (and no one else) saw.
#[derive(Debug, Clone)]
pub struct Ephemeral {
    pub for_user: UserId,
    pub message: ChannelMessage,
    at: Instant,
}

/// The newest ephemeral messages of each channel, in memory.
#[derive(Default)]
pub(crate) struct EphemeralBox(Mutex<HashMap<ChannelId, VecDeque<Ephemeral>>>);

impl EphemeralBox {
    fn push(&self, for_user: UserId, message: ChannelMessage) {
        let mut all = self.0.lock().expect("ephemeral box");
        let list = all.entry(message.channel_id.clone()).or_default();
        while list
            .front()
            .is_some_and(|e| e.at.elapsed() > EPHEMERAL_LIFETIME)
            || list.len() >= EPHEMERAL_PER_CHANNEL
        {
            list.pop_front();
        }
        list.push_back(Ephemeral {
            for_user,
            message,
            at: Instant::now(),
        });
    }

    fn for_user(&self, channel: &ChannelId, user: &UserId) -> Vec<ChannelMessage> {
        let all = self.0.lock().expect("ephemeral box");
        all.get(channel)
            .map(|list| {
                list.iter()
                    .filter(|e| &e.for_user == user && e.at.elapsed() <= EPHEMERAL_LIFETIME)
                    .map(|e| e.message.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// How often each `response_url` (by its nonce) was used on this node.
#[derive(Default)]
pub(crate) struct ResponseUses(Mutex<HashMap<String, (u32, chrono::DateTime<chrono::Utc>)>>);

impl ResponseUses {
    /// Counts one use; `false` when the URL has had its [`RESPONSE_USES`].
    fn take(&self, nonce: &str, expires: chrono::DateTime<chrono::Utc>) -> bool {
        let now = chrono::Utc::now();
        let mut uses = self.0.lock().expect("response uses");
        uses.retain(|_, (_, exp)| *exp > now);
        let entry = uses.entry(nonce.to_owned()).or_insert((0, expires));
        if entry.0 >= RESPONSE_USES {
            return false;
        }
        entry.0 += 1;
        true
    }
}

/// What a `response_url` stands for, signed into it.
#[derive(Debug, Serialize, Deserialize)]
struct ResponseClaims {
    /// The channel.
    c: String,
    /// The person who typed the command or clicked.
    u: String,
    /// The message with the button, for `replace_original` / `delete_original`.
    #[serde(skip_serializing_if = "Option::is_none")]
    m: Option<i64>,
    /// Expiry, Unix seconds.
    e: i64,
    /// Identifies this URL for its use count.
    n: String,
}

/// A `response_url`: `{public}/commands/{team}/{app}/{token}` (or `/actions/…`), where the
/// token is the claims and their HMAC under the app's signing secret.
pub struct ResponseUrl;

impl ResponseUrl {
    fn make(
        public_url: &str,
        kind: &str,
        team: &TeamId,
        app: &SlackApp,
        claims: &ResponseClaims,
    ) -> String {
        let body = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(claims).expect("claims serialize"));
        let mac = Self::mac(app, &body);
        format!("{public_url}/{kind}/{team}/{}/{body}.{mac}", app.id)
    }

    fn mac(app: &SlackApp, body: &str) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(app.signing_secret.as_bytes()).expect("any key length");
        mac.update(b"kanca response_url:");
        mac.update(body.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..18])
    }

    /// The claims of a token, when its HMAC is the app's (compared in constant time).
    fn open(app: &SlackApp, token: &str) -> Option<ResponseClaims> {
        use subtle::ConstantTimeEq;
        let (body, mac) = token.split_once('.')?;
        let expected = Self::mac(app, body);
        if !bool::from(mac.as_bytes().ct_eq(expected.as_bytes())) {
            return None;
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// Why a `response_url` refused an answer, as Slack names it (`{"ok": false, "error": …}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RespondError {
    /// Not a URL Kanca made, or its app is gone.
    InvalidUrl,
    ExpiredUrl,
    UsedUrl,
    Payload(PayloadError),
    ChannelNotFound,
    IsArchived,
    MessageNotFound,
    Unavailable,
}

impl RespondError {
    pub fn code(self) -> &'static str {
        match self {
            Self::InvalidUrl => "invalid_token",
            Self::ExpiredUrl => "expired_url",
            Self::UsedUrl => "used_url",
            Self::Payload(p) => p.code(),
            Self::ChannelNotFound => "channel_not_found",
            Self::IsArchived => "is_archived",
            Self::MessageNotFound => "message_not_found",
            Self::Unavailable => "internal_error",
        }
    }

    /// Slack answers a bad `response_url` 404, a bad body 400.
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidUrl | Self::ExpiredUrl | Self::UsedUrl => 404,
            Self::Unavailable => 503,
            _ => 400,
        }
    }
}

/// What a slash command came to.
#[derive(Debug)]
pub struct CommandOutcome {
    pub command: String,
    /// The app's HTTP status, when it answered.
    pub status: Option<u16>,
    /// `ephemeral` or `in_channel`, when the answer showed something.
    pub response_type: Option<&'static str>,
    /// What the answer showed.
    pub text: Option<String>,
    /// The message posted for everyone (`in_channel`), or shown to the person (`ephemeral`).
    pub message: Option<ChannelMessage>,
    /// Slack's name for a failed command (`operation_timeout`, `http_service_error`).
    pub error: Option<&'static str>,
}

/// What a click came to.
#[derive(Debug)]
pub struct ClickOutcome {
    pub status: Option<u16>,
    pub error: Option<String>,
}

impl Workspace {
    /// A person runs `/command text` in a channel.
    pub async fn run_command(
        &self,
        channel_key: &str,
        user: &str,
        command: &str,
        text: &str,
    ) -> Result<CommandOutcome, WorkspaceError> {
        let user = person_name(user)?;
        let name = CommandName::parse(command).map_err(|_| command_not_found(command))?;
        let channel = self.channel(channel_key).await?;
        if channel.archived {
            return Err(WorkspaceError::Archived);
        }
        let apps = self.all_apps().await?;
        let Some((app, cmd)) = apps.iter().find_map(|a| {
            a.slash_commands
                .iter()
                .find(|c| c.command == name)
                .map(|c| (a, c))
        }) else {
            return Err(command_not_found(command));
        };
        let person = self.ensure_person(user).await?;
        let now = self.deps.clock.now();
        let claims = ResponseClaims {
            c: channel.id.to_string(),
            u: person.id.to_string(),
            m: None,
            e: (now + RESPONSE_URL_LIFETIME).timestamp(),
            n: Alphanumeric.sample_string(&mut rand::thread_rng(), 16),
        };
        let response_url = ResponseUrl::make(
            &self.deps.public_url,
            "commands",
            self.team_id(),
            app,
            &claims,
        );
        let fields: Vec<(&str, String)> = vec![
            ("token", verification_token(app)),
            ("team_id", self.team_id().to_string()),
            ("team_domain", TEAM_DOMAIN.to_owned()),
            ("channel_id", channel.id.to_string()),
            ("channel_name", channel.name.as_str().to_owned()),
            ("user_id", person.id.to_string()),
            ("user_name", person.name.clone()),
            ("command", name.as_str().to_owned()),
            ("text", text.trim().to_owned()),
            ("api_app_id", app.id.to_string()),
            ("is_enterprise_install", "false".to_owned()),
            ("response_url", response_url),
            ("trigger_id", trigger_id()),
        ];
        let body = serde_urlencoded::to_string(&fields).expect("string pairs encode");
        let result = self
            .app_request(
                app,
                &cmd.url,
                "application/x-www-form-urlencoded",
                body.into_bytes(),
            )
            .await;
        let mut outcome = CommandOutcome {
            command: name.as_str().to_owned(),
            status: result.status,
            response_type: None,
            text: None,
            message: None,
            error: None,
        };
        let failed = match (result.status, &result.failure) {
            (Some(200), _) => None,
            (None, Some(f)) if f.starts_with("timeout") => Some("operation_timeout"),
            _ => Some("http_service_error"),
        };
        if let Some(error) = failed {
            // What Slack's client shows the person.
            outcome.error = Some(error);
            let note = format!("{} failed with the error \"{error}\"", name.as_str());
            let msg = self.ephemeral_message(&channel, app, &note, None, None, None, now);
            self.ephemeral.push(person.id.clone(), msg.clone());
            self.wake_channel_views(&channel).await;
            outcome.message = Some(msg);
            return Ok(outcome);
        }
        let answer = result.body.trim();
        if answer.is_empty() {
            return Ok(outcome);
        }
        let parsed = if answer.starts_with('{') {
            let Ok(value) = serde_json::from_str::<Value>(answer) else {
                outcome.error = Some("invalid_payload");
                return Ok(outcome);
            };
            let in_channel =
                value.get("response_type").and_then(Value::as_str) == Some("in_channel");
            match super::payload::parse_json(answer) {
                Ok(p) => Some((p, in_channel)),
                // `{}` or an ack without content shows nothing.
                Err(PayloadError::NoText) => None,
                Err(e) => {
                    outcome.error = Some(e.code());
                    return Ok(outcome);
                }
            }
        } else {
            Some((text_payload(answer), false))
        };
        let Some((payload, in_channel)) = parsed else {
            return Ok(outcome);
        };
        outcome.text = payload.text.clone();
        if in_channel {
            outcome.response_type = Some("in_channel");
            let posted = self.post_for_app(&channel, app, payload).await?;
            outcome.message = Some(posted);
        } else {
            outcome.response_type = Some("ephemeral");
            let msg = self.ephemeral_from(&channel, app, payload, now);
            self.ephemeral.push(person.id.clone(), msg.clone());
            self.wake_channel_views(&channel).await;
            outcome.message = Some(msg);
        }
        Ok(outcome)
    }

    /// A person clicks the button `action_id` of message `ts`: `block_actions` goes to the
    /// interactivity URL of the app that posted the message.
    pub async fn click(
        &self,
        channel_key: &str,
        ts: &str,
        user: &str,
        action_id: &str,
    ) -> Result<ClickOutcome, WorkspaceError> {
        let user = person_name(user)?;
        let channel = self.channel(channel_key).await?;
        let ts = Ts::parse(ts).map_err(|_| message_not_found())?;
        let message = self
            .deps
            .store
            .get_channel_message(&channel.id, ts)
            .await?
            .ok_or_else(message_not_found)?;
        let (block_id, element) = message
            .blocks
            .as_deref()
            .and_then(|b| find_button(b, action_id))
            .ok_or_else(|| {
                WorkspaceError::Coded(
                    404,
                    "action_not_found",
                    format!("the message has no button with action_id `{action_id}`"),
                )
            })?;
        let apps = self.all_apps().await?;
        let app = message
            .user_id
            .as_ref()
            .and_then(|u| apps.iter().find(|a| &a.bot_user_id == u))
            .ok_or_else(|| {
                WorkspaceError::Coded(
                    409,
                    "not_an_app_message",
                    "only a message a Slack app posted can be interacted with".into(),
                )
            })?;
        let Some(url) = &app.interactivity_url else {
            return Err(WorkspaceError::Coded(
                409,
                "no_interactivity_url",
                format!("the app `{}` has no interactivity URL", app.name),
            ));
        };
        let person = self.ensure_person(user).await?;
        let now = self.deps.clock.now();
        let claims = ResponseClaims {
            c: channel.id.to_string(),
            u: person.id.to_string(),
            m: Some(message.ts.micros()),
            e: (now + RESPONSE_URL_LIFETIME).timestamp(),
            n: Alphanumeric.sample_string(&mut rand::thread_rng(), 16),
        };
        let response_url = ResponseUrl::make(
            &self.deps.public_url,
            "actions",
            self.team_id(),
            app,
            &claims,
        );
        let team = self.team_id();
        let bot = bot_user(app);
        let mut action = json!({
            "type": element.get("type").cloned().unwrap_or(json!("button")),
            "action_id": action_id,
            "block_id": block_id,
            "action_ts": event_ts(now),
        });
        for key in ["text", "value", "style"] {
            if let Some(v) = element.get(key) {
                action[key] = v.clone();
            }
        }
        let payload = json!({
            "type": "block_actions",
            "user": {
                "id": person.id,
                "username": person.name,
                "name": person.name,
                "team_id": team,
            },
            "api_app_id": app.id,
            "token": verification_token(app),
            "container": {
                "type": "message",
                "message_ts": message.ts.to_string(),
                "channel_id": channel.id,
                "is_ephemeral": false,
            },
            "trigger_id": trigger_id(),
            "team": { "id": team, "domain": TEAM_DOMAIN },
            "enterprise": null,
            "is_enterprise_install": false,
            "channel": { "id": channel.id, "name": channel.name },
            "message": slack_json::message(team, &message, Some(&bot), &[]),
            "state": { "values": {} },
            "response_url": response_url,
            "actions": [action],
        });
        let body = serde_urlencoded::to_string([("payload", payload.to_string())])
            .expect("string pairs encode");
        let result = self
            .app_request(
                app,
                url,
                "application/x-www-form-urlencoded",
                body.into_bytes(),
            )
            .await;
        let error = match (result.status, result.failure) {
            (Some(200), _) => None,
            (Some(status), _) => Some(format!("the app answered HTTP {status}")),
            (None, failure) => Some(failure.unwrap_or_else(|| "no answer".into())),
        };
        Ok(ClickOutcome {
            status: result.status,
            error,
        })
    }

    /// An answer posted to a `response_url` (`kind` is `commands` or `actions`).
    pub async fn respond(
        &self,
        app_id: &str,
        token: &str,
        body: &[u8],
        content_type: Option<&str>,
    ) -> Result<(), RespondError> {
        let app = match SlackAppId::parse(app_id) {
            Ok(id) => self
                .deps
                .store
                .get_slack_app(&id)
                .await
                .map_err(|_| RespondError::Unavailable)?,
            Err(_) => None,
        }
        .ok_or(RespondError::InvalidUrl)?;
        let claims = ResponseUrl::open(&app, token).ok_or(RespondError::InvalidUrl)?;
        let expires =
            chrono::DateTime::from_timestamp(claims.e, 0).ok_or(RespondError::InvalidUrl)?;
        let now = self.deps.clock.now();
        if now > expires {
            return Err(RespondError::ExpiredUrl);
        }
        // The body: JSON (Bolt's `respond()`), or a form whose `payload` holds it.
        let text = std::str::from_utf8(body)
            .map_err(|_| RespondError::Payload(PayloadError::InvalidPayload))?;
        let is_form = content_type.is_some_and(|ct| {
            ct.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
        let json_text = if is_form && !text.trim_start().starts_with('{') {
            serde_urlencoded::from_str::<Vec<(String, String)>>(text)
                .ok()
                .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "payload"))
                .map(|(_, v)| v)
                .ok_or(RespondError::Payload(PayloadError::InvalidPayload))?
        } else {
            text.to_owned()
        };
        let value: Value = serde_json::from_str(json_text.trim())
            .map_err(|_| RespondError::Payload(PayloadError::InvalidPayload))?;
        if !value.is_object() {
            return Err(RespondError::Payload(PayloadError::InvalidPayload));
        }
        let flag = |k: &str| match value.get(k) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s == "true",
            _ => false,
        };
        let channel = self
            .channel(&claims.c)
            .await
            .map_err(|_| RespondError::ChannelNotFound)?;
        let original = claims.m.map(Ts::from_micros);
        // Counted before acting: a refused answer still used the URL, as in Slack.
        if !self.response_uses.take(&claims.n, expires) {
            return Err(RespondError::UsedUrl);
        }
        if flag("delete_original") {
            let Some(ts) = original else {
                return Ok(());
            };
            let previous = self.original(&channel, ts).await?;
            return self
                .remove_message(&channel, &previous)
                .await
                .map_err(respond_error);
        }
        let payload =
            super::payload::parse_json(json_text.trim()).map_err(RespondError::Payload)?;
        if channel.archived {
            return Err(RespondError::IsArchived);
        }
        if let (true, Some(ts)) = (flag("replace_original"), original) {
            let previous = self.original(&channel, ts).await?;
            let edit = MessageEdit {
                text: payload.text.unwrap_or_default(),
                attachments: payload.attachments,
                blocks: payload.blocks,
                edited: Ts::from_micros(now.timestamp_micros()),
            };
            self.edit_message(&channel, &previous, &edit)
                .await
                .map_err(respond_error)?;
            return Ok(());
        }
        if value.get("response_type").and_then(Value::as_str) == Some("in_channel") {
            self.post_for_app(&channel, &app, payload)
                .await
                .map_err(|e| match e {
                    WorkspaceError::Archived => RespondError::IsArchived,
                    WorkspaceError::NotFound(_) => RespondError::ChannelNotFound,
                    _ => RespondError::Unavailable,
                })?;
        } else {
            let user = UserId::parse(&claims.u).map_err(|_| RespondError::InvalidUrl)?;
            let msg = self.ephemeral_from(&channel, &app, payload, now);
            self.ephemeral.push(user, msg);
            self.wake_channel_views(&channel).await;
        }
        Ok(())
    }

    /// `chat.postEphemeral`: a bot shows `payload` to one person in a channel.
    pub async fn post_ephemeral_as_bot(
        &self,
        app: &SlackApp,
        user: Option<&str>,
        payload: IncomingPayload,
    ) -> Result<(Channel, ChannelMessage), SlackApiError> {
        let user = user
            .filter(|u| !u.trim().is_empty())
            .ok_or(SlackApiError::UserNotFound)?;
        let user = UserId::parse(user.trim()).map_err(|_| SlackApiError::UserNotFound)?;
        if self.deps.store.get_user(&user).await?.is_none() {
            return Err(SlackApiError::UserNotFound);
        }
        let channel = self.channel_for_bot(payload.channel.as_deref()).await?;
        if channel.archived {
            return Err(SlackApiError::IsArchived);
        }
        let msg = self.ephemeral_from(&channel, app, payload, self.deps.clock.now());
        self.ephemeral.push(user, msg.clone());
        self.wake_channel_views(&channel).await;
        Ok((channel, msg))
    }

    /// The ephemeral messages `user` (a person's name) sees in a channel, oldest first.
    pub async fn ephemeral_for(
        &self,
        channel_key: &str,
        user: &str,
    ) -> Result<Vec<ChannelMessage>, WorkspaceError> {
        let channel = self.channel(channel_key).await?;
        let id = UserId::parse(&super::outgoing::user_id_for(user.trim()))
            .expect("user ids are U and hex");
        Ok(self.ephemeral.for_user(&channel.id, &id))
    }

    /// A message the app posts for everyone (a command's `in_channel` answer).
    async fn post_for_app(
        &self,
        channel: &Channel,
        app: &SlackApp,
        payload: IncomingPayload,
    ) -> Result<ChannelMessage, WorkspaceError> {
        let msg = NewChannelMessage {
            text: payload.text.unwrap_or_default(),
            mrkdwn: payload.mrkdwn,
            username: payload.username,
            icon_emoji: payload.icon_emoji,
            icon_url: payload.icon_url,
            attachments: payload.attachments,
            blocks: payload.blocks,
            thread_ts: payload.thread_ts,
            posted_by: PosterKind::Bot,
            poster_name: app.name.clone(),
            user_id: Some(app.bot_user_id.clone()),
        };
        self.post_message(channel, msg).await
    }

    fn ephemeral_from(
        &self,
        channel: &Channel,
        app: &SlackApp,
        payload: IncomingPayload,
        now: chrono::DateTime<chrono::Utc>,
    ) -> ChannelMessage {
        self.ephemeral_message(
            channel,
            app,
            payload.text.as_deref().unwrap_or_default(),
            payload.attachments,
            payload.blocks,
            payload.thread_ts,
            now,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn ephemeral_message(
        &self,
        channel: &Channel,
        app: &SlackApp,
        text: &str,
        attachments: Option<String>,
        blocks: Option<String>,
        thread_ts: Option<Ts>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> ChannelMessage {
        ChannelMessage {
            channel_id: channel.id.clone(),
            ts: Ts::from_micros(now.timestamp_micros()),
            text: text.to_owned(),
            mrkdwn: true,
            username: None,
            icon_emoji: None,
            icon_url: None,
            attachments,
            blocks,
            thread_ts,
            posted_by: PosterKind::Bot,
            poster_name: app.name.clone(),
            user_id: Some(app.bot_user_id.clone()),
            edited: None,
        }
    }

    async fn original(&self, channel: &Channel, ts: Ts) -> Result<ChannelMessage, RespondError> {
        self.deps
            .store
            .get_channel_message(&channel.id, ts)
            .await
            .map_err(|_| RespondError::Unavailable)?
            .ok_or(RespondError::MessageNotFound)
    }

    async fn channel_for_bot(&self, key: Option<&str>) -> Result<Channel, SlackApiError> {
        let key = key
            .filter(|k| !k.trim().is_empty())
            .ok_or(SlackApiError::ChannelNotFound)?;
        self.channel(key).await.map_err(|e| match e {
            WorkspaceError::Store(e) => SlackApiError::Store(e),
            _ => SlackApiError::ChannelNotFound,
        })
    }

    async fn wake_channel_views(&self, channel: &Channel) {
        self.deps
            .live
            .publish(&format!("channel:{}", channel.id))
            .await;
    }
}

fn respond_error(e: SlackApiError) -> RespondError {
    match e {
        SlackApiError::MessageNotFound => RespondError::MessageNotFound,
        SlackApiError::ChannelNotFound => RespondError::ChannelNotFound,
        SlackApiError::IsArchived => RespondError::IsArchived,
        _ => RespondError::Unavailable,
    }
}

/// A plain-text immediate answer.
fn text_payload(text: &str) -> IncomingPayload {
    IncomingPayload {
        text: Some(text.to_owned()),
        mrkdwn: true,
        attachments: None,
        blocks: None,
        username: None,
        icon_emoji: None,
        icon_url: None,
        channel: None,
        thread_ts: None,
    }
}

/// The button `action_id` in a message's blocks: in an `actions` block's elements or as a
/// section's accessory. Returns its block's id and the element.
fn find_button(blocks: &str, action_id: &str) -> Option<(String, Value)> {
    let blocks: Vec<Value> = serde_json::from_str(blocks).ok()?;
    for (i, block) in blocks.iter().enumerate() {
        let block_id = block
            .get("block_id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| format!("b{i}"));
        let elements = block
            .get("elements")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .chain(block.get("accessory"));
        for element in elements {
            let is_button = element.get("type").and_then(Value::as_str) == Some("button");
            if is_button && element.get("action_id").and_then(Value::as_str) == Some(action_id) {
                return Some((block_id, element.clone()));
            }
        }
    }
    None
}

/// Slack's trigger ids: three dot-separated parts of digits and hex.
fn trigger_id() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    format!(
        "{}.{}.{}",
        rng.gen_range(100_000_000_000u64..999_999_999_999),
        rng.gen_range(10_000_000_000u64..99_999_999_999),
        hex::encode(rng.gen::<[u8; 16]>())
    )
}

fn person_name(user: &str) -> Result<&str, WorkspaceError> {
    let user = user.trim();
    if user.is_empty() || user.chars().count() > 80 {
        return Err(WorkspaceError::Invalid(
            "`user` must be 1 to 80 characters long".into(),
        ));
    }
    Ok(user)
}

fn command_not_found(command: &str) -> WorkspaceError {
    WorkspaceError::Coded(
        404,
        "command_not_found",
        format!("`{}` is not a slash command of any app", command.trim()),
    )
}

fn message_not_found() -> WorkspaceError {
    WorkspaceError::Coded(404, "message_not_found", "message not found".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> SlackApp {
        SlackApp {
            id: SlackAppId::generate(),
            name: "Deploy".into(),
            bot_id: BotId::generate(),
            bot_user_id: UserId::generate(),
            signing_secret: generate_signing_secret(),
            events: None,
            slash_commands: Vec::new(),
            interactivity_url: None,
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn response_urls_open_only_with_their_apps_secret() {
        let a = app();
        let claims = ResponseClaims {
            c: "C1".into(),
            u: "U1".into(),
            m: Some(5),
            e: 10,
            n: "nonce".into(),
        };
        let url = ResponseUrl::make("http://k", "commands", &TeamId::generate(), &a, &claims);
        let token = url.rsplit('/').next().unwrap();
        let opened = ResponseUrl::open(&a, token).unwrap();
        assert_eq!((opened.c.as_str(), opened.m), ("C1", Some(5)));
        assert!(ResponseUrl::open(&app(), token).is_none());
        let forged = token.replace('.', "x.");
        assert!(ResponseUrl::open(&a, &forged).is_none());
    }

    #[test]
    fn a_response_url_takes_five_answers() {
        let uses = ResponseUses::default();
        let later = chrono::Utc::now() + chrono::Duration::minutes(5);
        for _ in 0..RESPONSE_USES {
            assert!(uses.take("n", later));
        }
        assert!(!uses.take("n", later));
        assert!(uses.take("other", later));
    }

    #[test]
    fn buttons_are_found_in_actions_and_accessories() {
        let blocks = r#"[{"type":"section","text":{"type":"mrkdwn","text":"x"},"accessory":{"type":"button","action_id":"a1","text":{"type":"plain_text","text":"A"}}},
            {"type":"actions","block_id":"acts","elements":[{"type":"button","action_id":"approve","value":"v"}]}]"#;
        assert_eq!(find_button(blocks, "a1").unwrap().0, "b0");
        let (block, el) = find_button(blocks, "approve").unwrap();
        assert_eq!((block.as_str(), el["value"].as_str()), ("acts", Some("v")));
        assert!(find_button(blocks, "nope").is_none());
    }
}

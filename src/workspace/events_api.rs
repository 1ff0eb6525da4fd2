//! Slack's Events API: an app's event subscription, its `url_verification` challenge, and the
//! signed `event_callback` envelopes that follow what happens in the workspace.
//!
//! The envelopes are deliveries like any other, as outgoing webhooks' requests are, so they get
//! the engine's claims, attempt log and metrics:
//!
//! - An internal application ([`APP_UID`]) holds one endpoint per app whose subscription is
//!   verified, its uid the app's id and its Svix channel the app's id, so a message meant for
//!   one app reaches only that app's request URL. Its secret is the app's signing secret.
//! - Each envelope is built for one app (`api_app_id`, `authorizations` and the verification
//!   `token` are the app's), so one workspace event is one message per subscribed app.
//! - [`SlackEventsProfile`] signs them as Slack does (`X-Slack-Signature`, v0) and, on a retry,
//!   adds `X-Slack-Retry-Num` and `X-Slack-Retry-Reason`, read from the attempt before; it
//!   gives an app 3 seconds and retries on Slack's schedule (at once, after a minute, after five
//!   minutes; `KANCA_SLACK_EVENTS_RETRY_SCHEDULE`), then gives up, every attempt in the log.
//!   An app that answers with `X-Slack-No-Retry: 1` is not retried.
//!
//! Events are stored in the same transaction as their change (a message, a channel, an edit, a
//! deletion, a reaction), so a change is never stored without them. A join changes nothing
//! stored (every bot is in every channel), so its `member_joined_channel` is stored alone.
//!
//! Every app's bot is in every channel (Kanca's channels are all public and bots join them
//! all), so every subscribed app hears every channel, its own messages included, as a Slack app
//! does: Bolt drops its own events itself.

use super::slack_json;
use super::{Workspace, WorkspaceError};
use crate::delivery::profile::DeliveryProfile;
use crate::delivery::schedule::RetrySchedule;
use crate::domain::workspace::*;
use crate::domain::*;
use crate::store::{AttemptFilter, DeliveryJob, DynStore, FanOut, PageRequest, StoreError};
use async_trait::async_trait;
use base64::Engine as _;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use rand::distributions::{Alphanumeric, DistString};
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// The uid of the internal application whose endpoints are apps' request URLs.
pub const APP_UID: &str = "kanca-slack-events";
/// The event type of its messages (never shown: the application is internal).
const EVENT_TYPE: &str = "slack.event_callback";
/// How long an app has to answer a request from Kanca, as Slack gives it.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(3);
/// How long a node trusts its copy of the app list when another node may have changed it.
const APPS_TTL: Duration = Duration::from_secs(1);

pub async fn ensure_app(store: &DynStore) -> anyhow::Result<AppId> {
    let uid = Uid::parse(APP_UID).expect("static uid");
    Ok(store.ensure_internal_app(&uid, "Slack Events API").await?)
}

/// The legacy verification token Slack puts in every request (`token`): derived from the
/// signing secret, so it is stable and needs no column. Bolt checks the signature, not this.
pub fn verification_token(app: &SlackApp) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(app.signing_secret.as_bytes()).expect("any key length");
    mac.update(b"kanca verification token");
    let digest = mac.finalize().into_bytes();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(&digest[..18])
        .replace(['-', '_'], "x")
}

/// Whether an app subscribed to `event` (`message` is subscribed as `message.channels` or
/// plain `message`).
fn subscribes(app: &SlackApp, event: &str) -> bool {
    let Some(sub) = app.events.as_ref().filter(|s| s.verified) else {
        return false;
    };
    sub.event_types.iter().any(|t| {
        let t = t.as_str();
        t == event || (event == "message" && t.starts_with("message."))
    })
}

/// The bot user of an app, as message objects show it.
pub(crate) fn bot_user(app: &SlackApp) -> WsUser {
    WsUser {
        id: app.bot_user_id.clone(),
        name: super::apps::handle_for(&app.name),
        real_name: app.name.clone(),
        is_bot: true,
        app_id: Some(app.id.clone()),
        bot_id: Some(app.bot_id.clone()),
        deleted: false,
        created_at: app.created_at,
    }
}

/// Slack's event ids: `Ev` and ten upper-case letters and digits.
fn event_id() -> String {
    format!(
        "Ev{}",
        Alphanumeric
            .sample_string(&mut rand::thread_rng(), 10)
            .to_uppercase()
    )
}

/// Builds the envelopes of workspace events for the apps subscribed to them.
pub(crate) struct EventFactory {
    team: TeamId,
    events_app: AppId,
    apps: Arc<Vec<SlackApp>>,
    now: chrono::DateTime<chrono::Utc>,
}

impl EventFactory {
    /// `message` (and `app_mention` for each app it mentions) for a message just posted.
    pub fn for_message(&self, channel: &Channel, m: &ChannelMessage) -> Vec<Message> {
        if !self.apps.iter().any(|a| a.events.is_some()) {
            return Vec::new();
        }
        let poster = m
            .user_id
            .as_ref()
            .and_then(|u| self.apps.iter().find(|a| &a.bot_user_id == u))
            .map(bot_user);
        let mut event = slack_json::message(&self.team, m, poster.as_ref(), &[]);
        event["channel"] = json!(channel.id);
        event["event_ts"] = json!(m.ts.to_string());
        event["channel_type"] = json!("channel");
        let mut out = self.to_subscribers("message", &event);
        for app in self.apps.iter() {
            let mention = format!("<@{}>", app.bot_user_id);
            if m.text.contains(&mention)
                && subscribes(app, "app_mention")
                && m.user_id.as_ref() != Some(&app.bot_user_id)
            {
                let mut mention_event = json!({
                    "type": "app_mention",
                    "user": m.user_id,
                    "text": m.text,
                    "ts": m.ts.to_string(),
                    "channel": channel.id,
                    "event_ts": m.ts.to_string(),
                    "team": self.team,
                });
                if let Some(blocks) = event.get("blocks") {
                    mention_event["blocks"] = blocks.clone();
                }
                if let Some(thread) = m.thread_ts {
                    mention_event["thread_ts"] = json!(thread.to_string());
                }
                out.push(self.envelope(app, mention_event));
            }
        }
        out
    }

    /// Every app, subscribed or not.
    pub fn apps(&self) -> &[SlackApp] {
        &self.apps
    }

    /// `event` (of Slack type `name`) for every app subscribed to `name`.
    pub fn to_subscribers(&self, name: &str, event: &Value) -> Vec<Message> {
        self.apps
            .iter()
            .filter(|a| subscribes(a, name))
            .map(|a| self.envelope(a, event.clone()))
            .collect()
    }

    /// The `event_callback` envelope of `event` for `app`, as a message of the internal
    /// application on the app's own channel.
    fn envelope(&self, app: &SlackApp, event: Value) -> Message {
        let body = json!({
            "token": verification_token(app),
            "team_id": self.team,
            "context_team_id": self.team,
            "context_enterprise_id": null,
            "api_app_id": app.id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id(),
            "event_time": self.now.timestamp(),
            "authorizations": [{
                "enterprise_id": null,
                "team_id": self.team,
                "user_id": app.bot_user_id,
                "is_bot": true,
                "is_enterprise_install": false,
            }],
            "is_ext_shared_channel": false,
        });
        Message {
            id: MessageId::generate(),
            app_id: self.events_app.clone(),
            event_type: EventTypeName::parse(EVENT_TYPE).expect("static event type"),
            event_id: None,
            payload: Some(body.to_string()),
            channels: Some(BTreeSet::from([app_channel(app)])),
            tags: None,
            created_at: self.now,
            payload_expires_at: self.now + chrono::Duration::days(7),
            deliver_at: None,
            received: None,
        }
    }
}

fn app_channel(app: &SlackApp) -> ChannelName {
    ChannelName::parse(app.id.as_str()).expect("app ids are valid channel names")
}

/// This node's copy of the app list, for the events of every message.
#[derive(Default)]
pub(crate) struct AppsCache(Mutex<Option<(Instant, Arc<Vec<SlackApp>>)>>);

impl Workspace {
    /// Every app, from a copy at most [`APPS_TTL`] old (changes made on this node are seen at
    /// once; another node's within the TTL).
    pub(crate) async fn all_apps(&self) -> Result<Arc<Vec<SlackApp>>, StoreError> {
        if let Some((at, apps)) = self.apps_cache.0.lock().expect("apps cache").as_ref() {
            if at.elapsed() < APPS_TTL {
                return Ok(apps.clone());
            }
        }
        let apps = Arc::new(self.deps.store.list_slack_apps().await?);
        *self.apps_cache.0.lock().expect("apps cache") = Some((Instant::now(), apps.clone()));
        Ok(apps)
    }

    pub(crate) fn forget_apps(&self) {
        *self.apps_cache.0.lock().expect("apps cache") = None;
    }

    /// The envelopes' builder for events happening now.
    pub(crate) async fn event_factory(&self) -> Result<EventFactory, StoreError> {
        Ok(EventFactory {
            team: self.team_id().clone(),
            events_app: self.slack_events_app.clone(),
            apps: self.all_apps().await?,
            now: self.deps.clock.now(),
        })
    }

    /// Stores (and queues) events that could not share their change's transaction. A failure
    /// is logged: the change itself has happened.
    pub(crate) async fn publish_events(&self, events: Vec<Message>) {
        let mut queued = false;
        for msg in events {
            match self
                .deps
                .store
                .create_message(&msg, FanOut::Subscribed, None)
                .await
            {
                Ok(_) => queued = true,
                Err(e) => tracing::error!(error = %e, "storing a Slack event failed"),
            }
        }
        if queued {
            self.deps.waker.wake();
        }
    }

    /// Sends `event` (Slack type `name`) to every app subscribed to it, after its change.
    pub(crate) async fn announce(&self, name: &str, event: Value) {
        match self.event_factory().await {
            Ok(f) => {
                let events = f.to_subscribers(name, &event);
                self.publish_events(events).await;
            }
            Err(e) => tracing::error!(error = %e, "reading Slack apps for an event failed"),
        }
    }

    /// Slack's `url_verification`: POSTs a challenge to `url`, signed with the app's secret,
    /// and succeeds when the answer (plain text, JSON or a form) gives the challenge back.
    pub(crate) async fn verify_request_url(
        &self,
        app: &SlackApp,
        url: &EndpointUrl,
    ) -> Result<(), WorkspaceError> {
        let challenge = Alphanumeric.sample_string(&mut rand::thread_rng(), 48);
        let body = json!({
            "token": verification_token(app),
            "challenge": challenge,
            "type": "url_verification",
        })
        .to_string();
        let result = self
            .app_request(app, url, "application/json", body.into_bytes())
            .await;
        let refused = |why: String| {
            Err(WorkspaceError::UrlVerification(format!(
                "the request URL did not answer Slack's url_verification challenge: {why}"
            )))
        };
        match result.status {
            None => return refused(result.failure.unwrap_or_else(|| "no answer".into())),
            Some(200) => {}
            Some(other) => return refused(format!("it answered HTTP {other}")),
        }
        let answer = result.body.trim();
        let echoed = answer == challenge
            || serde_json::from_str::<Value>(answer)
                .ok()
                .and_then(|v| {
                    v.get("challenge")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .is_some_and(|c| c == challenge)
            || serde_urlencoded::from_str::<Vec<(String, String)>>(answer)
                .ok()
                .is_some_and(|pairs| {
                    pairs
                        .iter()
                        .any(|(k, v)| k == "challenge" && *v == challenge)
                });
        if echoed {
            Ok(())
        } else {
            refused("the answer did not hold the challenge".into())
        }
    }

    /// One signed request to an app (a challenge, a slash command, an interaction), answered
    /// within [`ANSWER_WITHIN`], through the delivery sender's SSRF guard.
    pub(crate) async fn app_request(
        &self,
        app: &SlackApp,
        url: &EndpointUrl,
        content_type: &'static str,
        body: Vec<u8>,
    ) -> crate::delivery::sender::SendResult {
        let timestamp = self.deps.clock.now().timestamp();
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert("x-slack-request-timestamp", HeaderValue::from(timestamp));
        let signature =
            super::callback::slack_signature(app.signing_secret.as_bytes(), timestamp, &body);
        headers.insert(
            "x-slack-signature",
            HeaderValue::try_from(signature).expect("hex is ASCII"),
        );
        self.deps
            .sender
            .post_within(url, headers, Bytes::from(body), Some(ANSWER_WITHIN))
            .await
    }

    /// Makes the events endpoint match the app's subscription: there, with the request URL,
    /// when it is verified; gone otherwise.
    pub(crate) async fn sync_events_endpoint(&self, app: &SlackApp) -> Result<(), WorkspaceError> {
        let store = &self.deps.store;
        let uid = Uid::parse(app.id.as_str()).expect("app ids are valid uids");
        let key = IdOrUid::parse(app.id.as_str()).expect("app ids are valid keys");
        let existing = store.get_endpoint(&self.slack_events_app, &key).await?;
        match (app.events.as_ref().filter(|e| e.verified), existing) {
            (Some(sub), existing) => {
                let fields = EndpointFields {
                    uid: Some(uid),
                    url: sub.request_url.clone(),
                    description: app.name.clone(),
                    event_types: None,
                    channels: Some(BTreeSet::from([app_channel(app)])),
                    disabled: false,
                    throttle_rate: None,
                    metadata: [
                        ("slackAppId".to_owned(), app.id.to_string()),
                        (
                            super::outgoing::CONTENT_TYPE_KEY.to_owned(),
                            "json".to_owned(),
                        ),
                    ]
                    .into(),
                    headers: Default::default(),
                };
                match existing {
                    Some(ep) => {
                        store
                            .update_endpoint(&self.slack_events_app, &ep.id, fields)
                            .await?;
                    }
                    None => {
                        let secret = EndpointSecret::parse(&format!(
                            "whsec_{}",
                            base64::engine::general_purpose::STANDARD
                                .encode(app.signing_secret.as_bytes())
                        ))
                        .expect("32 bytes make a valid secret");
                        store
                            .create_endpoint(&self.slack_events_app, fields, secret)
                            .await?;
                    }
                }
            }
            (None, Some(ep)) => match store.delete_endpoint(&self.slack_events_app, &ep.id).await {
                Ok(()) | Err(StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            },
            (None, None) => {}
        }
        Ok(())
    }

    /// The newest `limit` Events API requests to an app's request URL, every attempt (the
    /// internal application is hidden from the API, so this is where they show).
    pub async fn slack_event_attempts(
        &self,
        app: &SlackApp,
        limit: u32,
    ) -> Result<Vec<Attempt>, WorkspaceError> {
        let key = IdOrUid::parse(app.id.as_str()).expect("app ids are valid keys");
        let Some(ep) = self
            .deps
            .store
            .get_endpoint(&self.slack_events_app, &key)
            .await?
        else {
            return Ok(Vec::new());
        };
        let filter = AttemptFilter {
            msg_id: None,
            endpoint_id: Some(ep.id),
            status: None,
        };
        let page = PageRequest {
            limit,
            iterator: None,
            ascending: false,
        };
        Ok(self
            .deps
            .store
            .list_attempts(&self.slack_events_app, &filter, &page)
            .await?)
    }

    /// The payload of one of the app's event messages (for the console's attempt log).
    pub async fn slack_event_payload(&self, msg: &MessageId) -> Option<String> {
        self.deps
            .store
            .get_message(&self.slack_events_app, msg)
            .await
            .ok()
            .flatten()
            .and_then(|m| m.payload)
    }
}

/// Slack's name for why the attempt before a retry failed (`X-Slack-Retry-Reason`).
fn retry_reason(previous: Option<&Attempt>) -> &'static str {
    let Some(a) = previous else {
        return "unknown_error";
    };
    let failure = a.failure_reason.as_deref().unwrap_or("");
    if a.response_status_code == 0 {
        if failure.starts_with("timeout") {
            "http_timeout"
        } else if failure.starts_with("connect") || failure.starts_with("dns") {
            "connection_failed"
        } else if failure.starts_with("tls") {
            "ssl_error"
        } else {
            "unknown_error"
        }
    } else if (300..400).contains(&a.response_status_code) {
        "too_many_redirects"
    } else {
        "http_error"
    }
}

/// Signs Events API deliveries as Slack does, and retries them as Slack does.
pub struct SlackEventsProfile {
    workspace: Weak<Workspace>,
    schedule: RetrySchedule,
}

impl SlackEventsProfile {
    pub fn new(workspace: Weak<Workspace>, schedule: RetrySchedule) -> Self {
        Self {
            workspace,
            schedule,
        }
    }
}

#[async_trait]
impl DeliveryProfile for SlackEventsProfile {
    async fn headers(&self, job: &DeliveryJob, timestamp: i64, body: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert("x-slack-request-timestamp", HeaderValue::from(timestamp));
        let signature =
            super::callback::slack_signature(job.endpoint.secret.key(), timestamp, body);
        headers.insert(
            "x-slack-signature",
            HeaderValue::try_from(signature).expect("hex is ASCII"),
        );
        if job.attempts_made > 0 {
            let previous = match self.workspace.upgrade() {
                Some(ws) => {
                    let filter = AttemptFilter {
                        msg_id: Some(job.msg_id.clone()),
                        endpoint_id: Some(job.endpoint.id.clone()),
                        status: None,
                    };
                    let page = PageRequest {
                        limit: 1,
                        iterator: None,
                        ascending: false,
                    };
                    ws.deps
                        .store
                        .list_attempts(&job.app_id, &filter, &page)
                        .await
                        .ok()
                        .and_then(|mut a| a.pop())
                }
                None => None,
            };
            headers.insert("x-slack-retry-num", HeaderValue::from(job.attempts_made));
            headers.insert(
                "x-slack-retry-reason",
                HeaderValue::from_static(retry_reason(previous.as_ref())),
            );
        }
        headers
    }

    fn schedule(&self) -> Option<&RetrySchedule> {
        Some(&self.schedule)
    }

    fn timeout(&self) -> Option<Duration> {
        Some(ANSWER_WITHIN)
    }

    fn no_retry(&self, headers: &[(String, String)]) -> bool {
        headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("x-slack-no-retry") && v.trim() == "1")
    }

    async fn answered(&self, _job: &DeliveryJob, _status: u16, _body: &str) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(status: i16, failure: Option<&str>) -> Attempt {
        Attempt {
            id: AttemptId::generate(),
            msg_id: MessageId::generate(),
            endpoint_id: EndpointId::generate(),
            url: "http://x".into(),
            response_status_code: status,
            response: String::new(),
            response_duration_ms: 1,
            status: DeliveryStatus::Fail,
            trigger_type: TriggerType::Scheduled,
            failure_reason: failure.map(str::to_owned),
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn retry_reasons_are_slacks_names() {
        assert_eq!(
            retry_reason(Some(&attempt(0, Some("timeout: x")))),
            "http_timeout"
        );
        assert_eq!(
            retry_reason(Some(&attempt(0, Some("connect: refused")))),
            "connection_failed"
        );
        assert_eq!(
            retry_reason(Some(&attempt(0, Some("tls: bad")))),
            "ssl_error"
        );
        assert_eq!(retry_reason(Some(&attempt(500, None))), "http_error");
        assert_eq!(
            retry_reason(Some(&attempt(302, None))),
            "too_many_redirects"
        );
        assert_eq!(retry_reason(None), "unknown_error");
    }

    #[test]
    fn event_ids_look_like_slacks() {
        let id = event_id();
        assert!(id.starts_with("Ev") && id.len() == 12, "{id}");
    }
}

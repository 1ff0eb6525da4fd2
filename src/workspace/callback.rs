//! What travels to an outgoing webhook's callback URL and back: the Slack signature on the
//! request, and the reply posted into the channel.
//!
//! [`SlackProfile`] is the [`DeliveryProfile`] registered for the internal outgoing-webhook
//! application, so the delivery engine sends these requests (with its retries and attempt log)
//! without knowing what Slack is. The reply's channel and thread come from the request body
//! that was delivered, so a reply goes where the triggering message was, even for hooks that
//! listen on every channel.

use super::outgoing::CONTENT_TYPE_KEY;
use super::Workspace;
use crate::delivery::profile::DeliveryProfile;
use crate::domain::workspace::*;
use crate::store::DeliveryJob;
use async_trait::async_trait;
use hmac::{Hmac, Mac};
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use serde_json::Value;
use sha2::Sha256;
use std::sync::Weak;

/// Slack's request signature: `v0=` + hex(HMAC-SHA256(secret, "v0:{timestamp}:{body}")).
pub fn slack_signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(b"v0:");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b":");
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// Whether `header` (an `X-Slack-Signature` value) is the signature of this request under
/// `secret`; compared in constant time.
pub fn verify_slack_signature(secret: &[u8], timestamp: i64, body: &[u8], header: &str) -> bool {
    use subtle::ConstantTimeEq;
    let expected = slack_signature(secret, timestamp, body);
    header.trim().as_bytes().ct_eq(expected.as_bytes()).into()
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
    async fn headers(&self, job: &DeliveryJob, timestamp: i64, body: &[u8]) -> HeaderMap {
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

impl Workspace {
    /// Posts an outgoing webhook's reply (the 2xx answer to `job`) back into the channel.
    pub(crate) async fn post_reply(&self, job: &DeliveryJob, answer: &str) {
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
        let msg = NewChannelMessage {
            text: parsed.text.unwrap_or_default(),
            mrkdwn: parsed.mrkdwn,
            username: parsed.username.or_else(|| Some(hook_name.clone())),
            icon_emoji: parsed.icon_emoji,
            icon_url: parsed.icon_url,
            attachments: parsed.attachments,
            blocks: parsed.blocks,
            thread_ts,
            posted_by: PosterKind::Bot,
            poster_name: hook_name,
            user_id: None,
        };
        if let Err(e) = self.post_message(&channel, msg).await {
            tracing::warn!(error = %e, channel = %channel.id, "could not post an outgoing webhook reply");
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

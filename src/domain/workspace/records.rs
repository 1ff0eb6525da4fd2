//! The workspace's records, as the store returns them and the workspace works with them.

use super::*;
use crate::domain::{EndpointId, EndpointUrl};
use chrono::{DateTime, Utc};

#[derive(Debug, Clone)]
pub struct Channel {
    pub id: ChannelId,
    pub name: SlackChannelName,
    pub archived: bool,
    pub created_at: DateTime<Utc>,
}

/// A message as stored in a channel.
#[derive(Debug, Clone)]
pub struct ChannelMessage {
    pub channel_id: ChannelId,
    pub ts: Ts,
    pub text: String,
    /// Slack's `mrkdwn` flag: `false` shows `text` as typed, without formatting.
    pub mrkdwn: bool,
    pub username: Option<String>,
    pub icon_emoji: Option<String>,
    pub icon_url: Option<String>,
    /// The `attachments` JSON exactly as the sender gave it (every field kept).
    pub attachments: Option<String>,
    /// The `blocks` JSON exactly as the sender gave it.
    pub blocks: Option<String>,
    pub thread_ts: Option<Ts>,
    pub posted_by: PosterKind,
    /// The person's name, the hook's name or the outgoing webhook's name.
    pub poster_name: String,
    /// The user who posted it, when it was one (a person, or an app's bot user through the
    /// Web API); `None` for incoming webhooks and outgoing-webhook replies, as in Slack.
    pub user_id: Option<UserId>,
    /// When `chat.update` last changed it (Slack's `edited.ts`).
    pub edited: Option<Ts>,
}

/// A message about to be posted: everything but the channel and `ts`, which the store assigns.
#[derive(Debug, Clone)]
pub struct NewChannelMessage {
    pub text: String,
    /// Slack's `mrkdwn` flag: `false` shows `text` as typed, without formatting.
    pub mrkdwn: bool,
    pub username: Option<String>,
    pub icon_emoji: Option<String>,
    pub icon_url: Option<String>,
    pub attachments: Option<String>,
    pub blocks: Option<String>,
    pub thread_ts: Option<Ts>,
    pub posted_by: PosterKind,
    pub poster_name: String,
    pub user_id: Option<UserId>,
}

impl NewChannelMessage {
    /// The message as stored in `channel` under `ts` (which the store hands out).
    pub fn stored_as(&self, channel: &ChannelId, ts: Ts) -> ChannelMessage {
        ChannelMessage {
            channel_id: channel.clone(),
            ts,
            text: self.text.clone(),
            mrkdwn: self.mrkdwn,
            username: self.username.clone(),
            icon_emoji: self.icon_emoji.clone(),
            icon_url: self.icon_url.clone(),
            attachments: self.attachments.clone(),
            blocks: self.blocks.clone(),
            thread_ts: self.thread_ts,
            posted_by: self.posted_by,
            poster_name: self.poster_name.clone(),
            user_id: self.user_id.clone(),
            edited: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct IncomingHook {
    pub id: HookId,
    pub name: String,
    pub channel_id: ChannelId,
    pub username: Option<String>,
    pub icon_emoji: Option<String>,
    pub icon_url: Option<String>,
    /// Senders cannot override channel, username or icon.
    pub locked: bool,
    /// `None`: the server's default rate.
    pub rate: Option<HookRate>,
    pub allowed_ips: AllowedIps,
    pub revoked: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct OutgoingHook {
    pub id: OutgoingHookId,
    pub name: String,
    pub channel_id: Option<ChannelId>,
    pub trigger_words: Vec<TriggerWord>,
    pub trigger_when: TriggerWhen,
    pub callback_urls: Vec<EndpointUrl>,
    /// One endpoint of the internal outgoing-webhook application per callback URL, in order.
    pub endpoint_ids: Vec<EndpointId>,
    pub content_type: OutgoingContentType,
    /// Sent in every request body, as Slack does (the legacy check).
    pub token: String,
    /// Signs every request (`X-Slack-Signature`).
    pub signing_secret: String,
    pub created_at: DateTime<Utc>,
}

impl OutgoingHook {
    /// The trigger word this message fires on, if any: `Some("")` for a channel-only hook
    /// (every message of its channel fires it).
    pub fn trigger_for(&self, channel: &ChannelId, text: &str) -> Option<String> {
        if self.channel_id.as_ref().is_some_and(|c| c != channel) {
            return None;
        }
        if self.trigger_words.is_empty() {
            return Some(String::new());
        }
        let first = text.split_whitespace().next().unwrap_or("");
        self.trigger_words
            .iter()
            .find(|w| match self.trigger_when {
                TriggerWhen::FirstWord => first == w.as_str(),
                TriggerWhen::StartsWith => text.trim_start().starts_with(w.as_str()),
            })
            .map(|w| w.as_str().to_owned())
    }
}

/// An unauthorized request to a hook (or a block it caused), for operators.
#[derive(Debug, Clone)]
pub struct Incident {
    /// Its row's id (0 before it is stored): the list's iterator.
    pub id: i64,
    /// The first time in its window.
    pub at: DateTime<Utc>,
    /// The latest repeat.
    pub last_at: DateTime<Utc>,
    /// How many times it happened in its window (same address, same reason).
    pub hits: i64,
    pub ip: String,
    /// The request path of the first one, with any token masked ([`mask_hook_path`]).
    pub path: String,
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(channel: Option<ChannelId>, words: &[&str], when: TriggerWhen) -> OutgoingHook {
        OutgoingHook {
            id: OutgoingHookId::generate(),
            name: "h".into(),
            channel_id: channel,
            trigger_words: words
                .iter()
                .map(|w| TriggerWord::parse(w).unwrap())
                .collect(),
            trigger_when: when,
            callback_urls: vec![],
            endpoint_ids: vec![],
            content_type: OutgoingContentType::Form,
            token: String::new(),
            signing_secret: String::new(),
            created_at: Utc::now(),
        }
    }

    #[test]
    fn trigger_modes() {
        let c = ChannelId::generate();
        let first = hook(None, &["deploy"], TriggerWhen::FirstWord);
        assert_eq!(first.trigger_for(&c, "deploy now"), Some("deploy".into()));
        assert_eq!(first.trigger_for(&c, "deployment now"), None);
        let starts = hook(None, &["deploy"], TriggerWhen::StartsWith);
        assert_eq!(
            starts.trigger_for(&c, "deployment now"),
            Some("deploy".into())
        );
        assert_eq!(starts.trigger_for(&c, "please deploy"), None);
        let channel_only = hook(Some(c.clone()), &[], TriggerWhen::FirstWord);
        assert_eq!(
            channel_only.trigger_for(&c, "anything"),
            Some(String::new())
        );
        assert_eq!(
            channel_only.trigger_for(&ChannelId::generate(), "anything"),
            None
        );
    }
}

//! Channels and the messages in them: create, rename, archive and unarchive, list; and the
//! JSON views of both, shared by the API and the events (so a subscriber sees exactly what
//! the API shows).

use super::events::{CHANNEL_ARCHIVED, CHANNEL_CREATED};
use super::{Workspace, WorkspaceError};
use crate::domain::workspace::*;
use crate::domain::Message;
use crate::store::workspace::ChannelMessageQuery;
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::value::RawValue;

/// A channel as the API shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelView {
    pub id: ChannelId,
    pub name: SlackChannelName,
    pub is_archived: bool,
    pub created_at: DateTime<Utc>,
}

impl From<Channel> for ChannelView {
    fn from(c: Channel) -> Self {
        Self {
            id: c.id,
            name: c.name,
            is_archived: c.archived,
            created_at: c.created_at,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct PostedByView {
    pub kind: &'static str,
    pub name: String,
}

/// A message as the API and `message.posted` show it. Attachments and blocks are the sender's
/// JSON as given, field for field and in its order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    pub ts: Ts,
    pub channel_id: ChannelId,
    pub text: String,
    /// Slack's `mrkdwn` flag: `false` when the sender asked for `text` unformatted.
    pub mrkdwn: bool,
    pub username: Option<String>,
    pub icon_emoji: Option<String>,
    pub icon_url: Option<String>,
    pub attachments: Option<Box<RawValue>>,
    pub blocks: Option<Box<RawValue>>,
    pub thread_ts: Option<Ts>,
    pub posted_by: PostedByView,
}

impl From<ChannelMessage> for MessageView {
    fn from(m: ChannelMessage) -> Self {
        let raw = |s: Option<String>| s.and_then(|s| RawValue::from_string(s).ok());
        Self {
            ts: m.ts,
            channel_id: m.channel_id,
            text: m.text,
            mrkdwn: m.mrkdwn,
            username: m.username,
            icon_emoji: m.icon_emoji,
            icon_url: m.icon_url,
            attachments: raw(m.attachments),
            blocks: raw(m.blocks),
            thread_ts: m.thread_ts,
            posted_by: PostedByView {
                kind: m.posted_by.as_str(),
                name: m.poster_name,
            },
        }
    }
}

/// Which messages to list: a page before (newest first) or after a `ts`, maybe one thread.
#[derive(Debug, Clone)]
pub struct MessagePage {
    pub from: Option<Ts>,
    pub limit: u32,
    pub ascending: bool,
    pub thread: Option<Ts>,
}

impl Workspace {
    pub async fn create_channel(&self, name: &str) -> Result<Channel, WorkspaceError> {
        self.create_channel_by(name, None).await
    }

    /// Creates a channel that `creator` (a bot, through `conversations.create`) made.
    pub async fn create_channel_by(
        &self,
        name: &str,
        creator: Option<&UserId>,
    ) -> Result<Channel, WorkspaceError> {
        let channel = Channel {
            id: ChannelId::generate(),
            name: SlackChannelName::parse(name)?,
            archived: false,
            created_at: crate::store::from_ms(crate::store::to_ms(self.deps.clock.now())),
        };
        // The events are stored in the channel's own transaction: no channel without them.
        let mut events = vec![self.channel_event(CHANNEL_CREATED, &channel)];
        let slack = self.event_factory().await?;
        events.extend(slack.to_subscribers(
            "channel_created",
            &serde_json::json!({
                "type": "channel_created",
                "channel": {
                    "id": channel.id,
                    "name": channel.name,
                    "created": channel.created_at.timestamp(),
                    "creator": creator.map(|c| c.as_str()).unwrap_or(""),
                },
                "event_ts": event_ts(self.deps.clock.now()),
            }),
        ));
        let deliveries = self
            .deps
            .store
            .create_channel(&channel, &events)
            .await
            .map_err(conflict)?;
        self.wake_if(deliveries);
        Ok(channel)
    }

    /// The channel an id or name (`#` optional) refers to.
    pub async fn channel(&self, key: &str) -> Result<Channel, WorkspaceError> {
        let key = ChannelRef::parse(key).map_err(|_| not_found())?;
        self.deps
            .store
            .get_channel(&key)
            .await?
            .ok_or_else(not_found)
    }

    pub async fn list_channels(&self) -> Result<Vec<Channel>, WorkspaceError> {
        Ok(self.deps.store.list_channels().await?)
    }

    pub async fn rename_channel(&self, key: &str, name: &str) -> Result<Channel, WorkspaceError> {
        let channel = self.channel(key).await?;
        let name = SlackChannelName::parse(name)?;
        self.deps
            .store
            .rename_channel(&channel.id, &name)
            .await
            .map_err(conflict)?;
        Ok(Channel { name, ..channel })
    }

    /// Archives (or unarchives) a channel; archiving publishes `channel.archived`, in the same
    /// transaction. Doing it twice is not an error and publishes nothing the second time (the
    /// store decides, so two concurrent requests publish one event).
    pub async fn set_archived(&self, key: &str, archived: bool) -> Result<Channel, WorkspaceError> {
        let channel = self.channel(key).await?;
        if channel.archived == archived {
            return Ok(channel);
        }
        let channel = Channel {
            archived,
            ..channel
        };
        let events: Vec<Message> = if archived {
            vec![self.channel_event(CHANNEL_ARCHIVED, &channel)]
        } else {
            Vec::new()
        };
        let changed = self
            .deps
            .store
            .set_channel_archived(&channel.id, archived, &events)
            .await
            .map_err(conflict)?;
        self.wake_if(changed.unwrap_or(0));
        Ok(channel)
    }

    /// Up to `limit` of a channel's messages posted after `after` (a `ts`; from the first when
    /// `None`), oldest first: what a live stream sends next, in the API and the console alike.
    pub async fn messages_after(
        &self,
        channel: &ChannelId,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ChannelMessage>, WorkspaceError> {
        let page = MessagePage {
            from: after.map(Ts::parse).transpose()?,
            limit,
            ascending: true,
            thread: None,
        };
        self.list_messages(channel, &page).await
    }

    pub async fn list_messages(
        &self,
        channel: &ChannelId,
        page: &MessagePage,
    ) -> Result<Vec<ChannelMessage>, WorkspaceError> {
        let query = ChannelMessageQuery {
            from: page.from,
            limit: page.limit,
            ascending: page.ascending,
            thread: page.thread,
            top_level: false,
        };
        Ok(self
            .deps
            .store
            .list_channel_messages(channel, &query)
            .await?)
    }

    /// A `channel.*` event about `channel`, for the store to insert with the change.
    fn channel_event(&self, event_type: &'static str, channel: &Channel) -> Message {
        let data = serde_json::json!({
            "teamId": self.team_id(),
            "channel": ChannelView::from(channel.clone()),
        });
        Message::own_event(self.events_app(), event_type, &data, self.deps.clock.now())
    }

    /// Wakes the dispatcher after a commit that queued deliveries.
    fn wake_if(&self, deliveries: usize) {
        if deliveries > 0 {
            self.deps.waker.wake();
        }
    }
}

fn not_found() -> WorkspaceError {
    WorkspaceError::NotFound("channel not found".into())
}

fn conflict(e: StoreError) -> WorkspaceError {
    match e {
        StoreError::Conflict(what) => WorkspaceError::Conflict(what),
        StoreError::NotFound => not_found(),
        other => WorkspaceError::Store(other),
    }
}

/// An `event_ts` for an event that is not a message: now, in Slack's `ts` form.
pub(crate) fn event_ts(now: chrono::DateTime<chrono::Utc>) -> String {
    Ts::from_micros(now.timestamp_micros()).to_string()
}

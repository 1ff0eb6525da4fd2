//! A bot's messages: posting, editing and deleting its own, reading a channel's history and
//! threads (Slack's windows and cursors), and reacting.

use super::{page_of, MessageWindow, Page, SlackApiError};
use crate::domain::workspace::*;
use crate::store::slack::{MessageEdit, ReactionChange};
use crate::workspace::payload::IncomingPayload;
use crate::workspace::{slack_json, Workspace};
use std::collections::HashMap;

impl Workspace {
    /// `chat.postMessage`: the bot posts `payload` into its `channel` (an id or a name).
    pub async fn post_as_bot(
        &self,
        app: &SlackApp,
        payload: IncomingPayload,
    ) -> Result<(Channel, ChannelMessage), SlackApiError> {
        let channel = self.bot_channel(payload.channel.as_deref()).await?;
        if channel.archived {
            return Err(SlackApiError::IsArchived);
        }
        let message = NewChannelMessage {
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
        let posted = self.post_message(&channel, message).await?;
        Ok((channel, posted))
    }

    /// `chat.update`: the bot replaces the text, attachments and blocks of one of its own
    /// messages.
    pub async fn update_as_bot(
        &self,
        app: &SlackApp,
        ts: Option<&str>,
        payload: IncomingPayload,
    ) -> Result<(Channel, ChannelMessage), SlackApiError> {
        let channel = self.bot_channel(payload.channel.as_deref()).await?;
        let previous = self.own_message(app, &channel, ts, true).await?;
        if channel.archived {
            return Err(SlackApiError::IsArchived);
        }
        let edit = MessageEdit {
            text: payload.text.unwrap_or_default(),
            attachments: payload.attachments,
            blocks: payload.blocks,
            edited: Ts::from_micros(self.deps.clock.now().timestamp_micros()),
        };
        let edited = self.edit_message(&channel, &previous, &edit).await?;
        Ok((channel, edited))
    }

    /// Replaces a message's content and tells subscribed apps (`message` with subtype
    /// `message_changed`, stored in the edit's transaction), then wakes the channel's live
    /// views.
    pub(crate) async fn edit_message(
        &self,
        channel: &Channel,
        previous: &ChannelMessage,
        edit: &MessageEdit,
    ) -> Result<ChannelMessage, SlackApiError> {
        let factory = self.event_factory().await?;
        let expected = ChannelMessage {
            text: edit.text.clone(),
            attachments: edit.attachments.clone(),
            blocks: edit.blocks.clone(),
            edited: Some(edit.edited),
            ..previous.clone()
        };
        let poster = |m: &ChannelMessage| {
            m.user_id
                .as_ref()
                .and_then(|u| factory.apps().iter().find(|a| &a.bot_user_id == u))
                .map(crate::workspace::events_api::bot_user)
        };
        let team = self.team_id();
        let now = self.deps.clock.now();
        let event = serde_json::json!({
            "type": "message",
            "subtype": "message_changed",
            "hidden": true,
            "channel": channel.id,
            "channel_type": "channel",
            "ts": crate::workspace::channels::event_ts(now),
            "event_ts": crate::workspace::channels::event_ts(now),
            "message": slack_json::message(team, &expected, poster(&expected).as_ref(), &[]),
            "previous_message": slack_json::message(team, previous, poster(previous).as_ref(), &[]),
        });
        let events = factory.to_subscribers("message", &event);
        let edited = self
            .deps
            .store
            .edit_channel_message(&channel.id, previous.ts, edit, &events)
            .await?
            .ok_or(SlackApiError::MessageNotFound)?;
        self.after_change(channel, &events).await;
        Ok(edited)
    }

    /// Deletes a message and tells subscribed apps (`message` with subtype
    /// `message_deleted`, stored in the deletion's transaction), then wakes the channel's live
    /// views.
    pub(crate) async fn remove_message(
        &self,
        channel: &Channel,
        previous: &ChannelMessage,
    ) -> Result<(), SlackApiError> {
        let now = self.deps.clock.now();
        let event = serde_json::json!({
            "type": "message",
            "subtype": "message_deleted",
            "hidden": true,
            "channel": channel.id,
            "channel_type": "channel",
            "ts": crate::workspace::channels::event_ts(now),
            "event_ts": crate::workspace::channels::event_ts(now),
            "deleted_ts": previous.ts.to_string(),
            "previous_message": slack_json::message(self.team_id(), previous, None, &[]),
        });
        let events = self
            .event_factory()
            .await?
            .to_subscribers("message", &event);
        if !self
            .deps
            .store
            .delete_channel_message(&channel.id, previous.ts, &events)
            .await?
        {
            return Err(SlackApiError::MessageNotFound);
        }
        self.after_change(channel, &events).await;
        Ok(())
    }

    /// After a change stored with its events: the dispatcher and the channel's views wake.
    async fn after_change(&self, channel: &Channel, events: &[crate::domain::Message]) {
        if !events.is_empty() {
            self.deps.waker.wake();
        }
        self.wake_channel(channel).await;
    }

    /// `chat.delete`: the bot deletes one of its own messages.
    pub async fn delete_as_bot(
        &self,
        app: &SlackApp,
        channel: Option<&str>,
        ts: Option<&str>,
    ) -> Result<(Channel, Ts), SlackApiError> {
        let channel = self.bot_channel(channel).await?;
        let previous = self.own_message(app, &channel, ts, false).await?;
        self.remove_message(&channel, &previous).await?;
        Ok((channel, previous.ts))
    }

    /// `conversations.history`: a channel's messages newest first, thread replies left out.
    pub async fn bot_history(
        &self,
        channel: Option<&str>,
        window: &MessageWindow,
    ) -> Result<(Channel, Page<ChannelMessage, Ts>), SlackApiError> {
        let channel = self.bot_channel(channel).await?;
        // Newest first: start below the cursor, or at `latest` (itself included if asked).
        let from = match (window.cursor, window.latest) {
            (Some(cursor), _) => Some(cursor),
            (None, Some(latest)) if window.inclusive => Some(Ts::from_micros(latest.micros() + 1)),
            (None, latest) => latest,
        };
        let query = crate::store::workspace::ChannelMessageQuery {
            from,
            limit: window.limit + 1,
            ascending: false,
            thread: None,
            top_level: true,
        };
        let oldest = window.oldest;
        let inclusive = window.inclusive;
        let rows = self
            .deps
            .store
            .list_channel_messages(&channel.id, &query)
            .await?;
        let rows = rows
            .into_iter()
            .take_while(|m| match oldest {
                Some(o) if inclusive => m.ts >= o,
                Some(o) => m.ts > o,
                None => true,
            })
            .collect();
        Ok((channel, page_of(rows, window.limit, |m| m.ts)))
    }

    /// `conversations.replies`: a thread's parent, then its replies, oldest first.
    pub async fn bot_replies(
        &self,
        channel: Option<&str>,
        ts: Option<&str>,
        window: &MessageWindow,
    ) -> Result<(Channel, Page<ChannelMessage, Ts>), SlackApiError> {
        let channel = self.bot_channel(channel).await?;
        let parent = ts
            .map(Ts::parse)
            .transpose()
            .map_err(|_| SlackApiError::ThreadNotFound)?
            .ok_or(SlackApiError::InvalidArguments)?;
        if self
            .deps
            .store
            .get_channel_message(&channel.id, parent)
            .await?
            .is_none()
        {
            return Err(SlackApiError::ThreadNotFound);
        }
        let from = match (window.cursor, window.oldest) {
            (Some(cursor), _) => Some(cursor),
            (None, Some(oldest)) if window.inclusive => Some(Ts::from_micros(oldest.micros() - 1)),
            (None, oldest) => oldest,
        };
        let query = crate::store::workspace::ChannelMessageQuery {
            from,
            limit: window.limit + 1,
            ascending: true,
            thread: Some(parent),
            top_level: false,
        };
        let (latest, inclusive) = (window.latest, window.inclusive);
        let rows = self
            .deps
            .store
            .list_channel_messages(&channel.id, &query)
            .await?
            .into_iter()
            .take_while(|m| match latest {
                Some(l) if inclusive => m.ts <= l,
                Some(l) => m.ts < l,
                None => true,
            })
            .collect();
        Ok((channel, page_of(rows, window.limit, |m| m.ts)))
    }

    /// The users who posted `messages`, to show their bot and app ids.
    pub async fn posters_of(
        &self,
        messages: &[ChannelMessage],
    ) -> Result<HashMap<UserId, WsUser>, SlackApiError> {
        let mut users = HashMap::new();
        for id in messages.iter().filter_map(|m| m.user_id.as_ref()) {
            if !users.contains_key(id) {
                if let Some(user) = self.deps.store.get_user(id).await? {
                    users.insert(id.clone(), user);
                }
            }
        }
        Ok(users)
    }

    /// The reactions to `messages` (all of one channel), oldest first.
    pub async fn reactions_of(
        &self,
        channel: &ChannelId,
        messages: &[ChannelMessage],
    ) -> Result<Vec<Reaction>, SlackApiError> {
        let (Some(first), Some(last)) = (
            messages.iter().map(|m| m.ts).min(),
            messages.iter().map(|m| m.ts).max(),
        ) else {
            return Ok(Vec::new());
        };
        Ok(self
            .deps
            .store
            .reactions_between(channel, first, last)
            .await?)
    }

    /// `reactions.add` (`adding`) and `reactions.remove`, as the app's bot user.
    pub async fn bot_react(
        &self,
        app: &SlackApp,
        channel: Option<&str>,
        ts: Option<&str>,
        name: Option<&str>,
        adding: bool,
    ) -> Result<(), SlackApiError> {
        let channel = self.bot_channel(channel).await?;
        let ts = ts
            .and_then(|t| Ts::parse(t).ok())
            .ok_or(SlackApiError::MessageNotFound)?;
        let name = name
            .and_then(|n| ReactionName::parse(n).ok())
            .ok_or(SlackApiError::InvalidName)?;
        let reaction = Reaction {
            ts,
            name,
            user_id: app.bot_user_id.clone(),
        };
        let store = &self.deps.store;
        // Read first: the event names the message's author (`item_user`).
        let item_user = store
            .get_channel_message(&channel.id, ts)
            .await?
            .ok_or(SlackApiError::MessageNotFound)?
            .user_id;
        let kind = if adding {
            "reaction_added"
        } else {
            "reaction_removed"
        };
        let event = serde_json::json!({
            "type": kind,
            "user": app.bot_user_id,
            "reaction": reaction.name,
            "item_user": item_user,
            "item": { "type": "message", "channel": channel.id, "ts": ts.to_string() },
            "event_ts": crate::workspace::channels::event_ts(self.deps.clock.now()),
        });
        let events = self.event_factory().await?.to_subscribers(kind, &event);
        let change = if adding {
            let now = crate::store::to_ms(self.deps.clock.now());
            store
                .add_reaction(&channel.id, &reaction, now, &events)
                .await?
        } else {
            store
                .remove_reaction(&channel.id, &reaction, &events)
                .await?
        };
        match change {
            ReactionChange::Done => {
                self.after_change(&channel, &events).await;
                Ok(())
            }
            ReactionChange::NoMessage => Err(SlackApiError::MessageNotFound),
            ReactionChange::Unchanged if adding => Err(SlackApiError::AlreadyReacted),
            ReactionChange::Unchanged => Err(SlackApiError::NoReaction),
        }
    }

    /// A message of `channel` that `app`'s bot posted.
    async fn own_message(
        &self,
        app: &SlackApp,
        channel: &Channel,
        ts: Option<&str>,
        updating: bool,
    ) -> Result<ChannelMessage, SlackApiError> {
        let ts = ts
            .and_then(|t| Ts::parse(t).ok())
            .ok_or(SlackApiError::MessageNotFound)?;
        let message = self
            .deps
            .store
            .get_channel_message(&channel.id, ts)
            .await?
            .ok_or(SlackApiError::MessageNotFound)?;
        if message.user_id.as_ref() != Some(&app.bot_user_id) {
            return Err(if updating {
                SlackApiError::CantUpdateMessage
            } else {
                SlackApiError::CantDeleteMessage
            });
        }
        Ok(message)
    }
}

//! Posting: the one way a message enters a channel, whoever posts it (a person through the
//! API, an incoming webhook, an outgoing webhook's reply).
//!
//! After the message is committed (with its `ts`, unique and increasing per channel), three
//! things follow: the channel's live streams are woken (`channel:{id}`), `message.posted` is
//! published, and, for messages written by people, matching outgoing webhooks fire. Replies
//! are posted as `bot` messages and never fire outgoing webhooks, which is what makes a bot
//! answering a bot impossible; incoming-webhook (`app`) messages do not fire them either, as in
//! Slack, where outgoing webhooks ignore bot posts.
//!
//! The event and the outgoing requests are queued right after the message's own transaction,
//! not inside it: the workspace's tables and the delivery queue are written by different
//! writers (the SQLite backend group-commits publishes). A crash between the two commits can
//! therefore leave a stored message without its event; everything acknowledged to the sender
//! after that point (the `ok`) has both.

use super::channels::{ChannelView, MessageView};
use super::events::MESSAGE_POSTED;
use super::{Workspace, WorkspaceError};
use crate::domain::workspace::*;
use crate::store::workspace::PostResult;

/// Slack's limit on a message's text (characters).
pub const MAX_TEXT_CHARS: usize = 40_000;

impl Workspace {
    /// Stores `msg` in `channel` and sets off what follows a message (see the module doc).
    pub async fn post_message(
        &self,
        channel: &Channel,
        msg: NewMessage,
    ) -> Result<ChannelMessage, WorkspaceError> {
        let now_us = self.deps.clock.now().timestamp_micros();
        let posted = match self
            .deps
            .store
            .post_channel_message(&channel.id, &msg, now_us)
            .await?
        {
            PostResult::Posted(m) => *m,
            PostResult::Archived => return Err(WorkspaceError::Archived),
            PostResult::NoChannel => {
                return Err(WorkspaceError::NotFound("channel not found".into()))
            }
        };
        self.deps
            .live
            .publish(&format!("channel:{}", channel.id))
            .await;
        let data = serde_json::json!({
            "teamId": self.team_id(),
            "channel": ChannelView::from(channel.clone()),
            "message": MessageView::from(posted.clone()),
        });
        self.publish_event(MESSAGE_POSTED, data).await;
        if posted.posted_by == PosterKind::User {
            self.fire_outgoing(channel, &posted).await;
        }
        Ok(posted)
    }

    /// A person posts `text` (`POST /api/v1/channels/{idOrName}/messages`).
    pub async fn post_as_user(
        &self,
        channel_key: &str,
        user: &str,
        text: &str,
        thread_ts: Option<&str>,
    ) -> Result<ChannelMessage, WorkspaceError> {
        let user = user.trim();
        if user.is_empty() || user.chars().count() > 80 {
            return Err(WorkspaceError::Invalid(
                "`user` must be 1 to 80 characters long".into(),
            ));
        }
        if text.trim().is_empty() {
            return Err(WorkspaceError::Invalid("`text` must not be empty".into()));
        }
        if text.chars().count() > MAX_TEXT_CHARS {
            return Err(WorkspaceError::Invalid(format!(
                "`text` is longer than {MAX_TEXT_CHARS} characters"
            )));
        }
        let thread_ts = thread_ts.map(Ts::parse).transpose()?;
        let channel = self.channel(channel_key).await?;
        self.post_message(
            &channel,
            NewMessage {
                text: text.to_owned(),
                username: None,
                icon_emoji: None,
                icon_url: None,
                attachments: None,
                blocks: None,
                thread_ts,
                posted_by: PosterKind::User,
                poster_name: user.to_owned(),
            },
        )
        .await
    }
}

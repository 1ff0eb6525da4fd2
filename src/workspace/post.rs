//! Posting: the one way a message enters a channel, whoever posts it (a person through the
//! API, an incoming webhook, an outgoing webhook's reply).
//!
//! A message does not come alone: it is published as `message.posted`, and a message written
//! by a person fires the outgoing webhooks it triggers. Both are messages for the delivery
//! engine, and DESIGN.md's first decision holds for them too: the database is the queue, and
//! nothing is "stored but not queued". So the channel message, its event and its
//! outgoing-webhook requests, with all their deliveries, are written in ONE transaction
//! ([`crate::store::workspace::WorkspaceStore::post_channel_message`] with its
//! [`FollowUps`], built here once the store has given the message its `ts`). A crash or a
//! database error stores either all of them or none, and a sender is told `ok` only after the
//! commit. After it, the dispatcher is woken (other nodes hear of the work through the store)
//! and the channel's live streams are woken (`channel:{id}`).
//!
//! Replies are posted as `bot` messages and never fire outgoing webhooks, which is what makes a
//! bot answering a bot impossible; incoming-webhook (`app`) messages do not fire them either, as
//! in Slack, where outgoing webhooks ignore bot posts.

use super::channels::{ChannelView, MessageView};
use super::events::MESSAGE_POSTED;
use super::outgoing::requests_for;
use super::{Workspace, WorkspaceError};
use crate::domain::workspace::*;
use crate::domain::Message;
use crate::store::workspace::{FollowUps, PostResult};

/// Slack's limit on a message's text (characters).
pub const MAX_TEXT_CHARS: usize = 40_000;

impl Workspace {
    /// Stores `msg` in `channel` with what follows it (see the module doc); nothing is stored
    /// when this fails.
    pub async fn post_message(
        &self,
        channel: &Channel,
        msg: NewChannelMessage,
    ) -> Result<ChannelMessage, WorkspaceError> {
        let now = self.deps.clock.now();
        let hooks = match msg.posted_by {
            PosterKind::User => self.deps.store.list_outgoing_hooks().await?,
            PosterKind::App | PosterKind::Bot => Vec::new(),
        };
        let slack_events = self.event_factory().await?;
        let follow_ups = self.follow_ups(channel.clone(), hooks, slack_events, now);
        let (posted, deliveries) = match self
            .deps
            .store
            .post_channel_message(&channel.id, &msg, now.timestamp_micros(), follow_ups)
            .await?
        {
            PostResult::Posted {
                message,
                deliveries,
            } => (*message, deliveries),
            PostResult::Archived => return Err(WorkspaceError::Archived),
            PostResult::NoChannel => {
                return Err(WorkspaceError::NotFound("channel not found".into()))
            }
        };
        if deliveries > 0 {
            self.deps.waker.wake();
        }
        self.deps
            .live
            .publish(&format!("channel:{}", channel.id))
            .await;
        Ok(posted)
    }

    /// The messages that follow a channel message, built by the store once it has its `ts`:
    /// its `message.posted` event, the requests of the outgoing `hooks` it triggers, and the
    /// Events API envelopes (`message`, `app_mention`) of the Slack apps subscribed to them.
    fn follow_ups(
        &self,
        channel: Channel,
        hooks: Vec<OutgoingHook>,
        slack_events: super::events_api::EventFactory,
        now: chrono::DateTime<chrono::Utc>,
    ) -> FollowUps {
        let team = self.team_id().clone();
        let events_app = self.events_app().clone();
        let outgoing_app = self.outgoing_app.clone();
        Box::new(move |posted: &ChannelMessage| {
            let mut messages = requests_for(&hooks, &outgoing_app, &team, &channel, posted, now);
            messages.extend(slack_events.for_message(&channel, posted));
            let data = Posted {
                team_id: &team,
                channel: ChannelView::from(channel),
                message: MessageView::from(posted.clone()),
            };
            messages.insert(
                0,
                Message::own_event(&events_app, MESSAGE_POSTED, &data, now),
            );
            messages
        })
    }

    /// `@handle` of an app's bot becomes `<@U…>`, as Slack's clients write a mention (so
    /// the app gets its `app_mention`).
    async fn link_mentions(&self, text: &str) -> Result<String, WorkspaceError> {
        if !text.contains('@') {
            return Ok(text.to_owned());
        }
        let apps = self.all_apps().await?;
        let mut out = text.to_owned();
        for app in apps.iter() {
            let handle = format!("@{}", super::apps::handle_for(&app.name));
            let mut linked = String::with_capacity(out.len());
            let mut rest = out.as_str();
            while let Some(at) = rest.find(&handle) {
                let after = &rest[at + handle.len()..];
                let ends_word = after
                    .chars()
                    .next()
                    .is_none_or(|c| !(c.is_alphanumeric() || c == '-' || c == '_' || c == '.'));
                let starts_word = rest[..at]
                    .chars()
                    .next_back()
                    .is_none_or(|c| c.is_whitespace() || c == '(');
                linked.push_str(&rest[..at]);
                if ends_word && starts_word {
                    linked.push_str(&format!("<@{}>", app.bot_user_id));
                } else {
                    linked.push_str(&handle);
                }
                rest = after;
            }
            linked.push_str(rest);
            out = linked;
        }
        Ok(out)
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
        // A person is a user of the workspace (`users.info` knows them) from their first post.
        let person = self.ensure_person(user).await?;
        let text = self.link_mentions(text).await?;
        self.post_message(
            &channel,
            NewChannelMessage {
                text,
                mrkdwn: true,
                username: None,
                icon_emoji: None,
                icon_url: None,
                attachments: None,
                blocks: None,
                thread_ts,
                posted_by: PosterKind::User,
                poster_name: user.to_owned(),
                user_id: Some(person.id),
            },
        )
        .await
    }
}

/// The `data` of a `message.posted` event.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Posted<'a> {
    team_id: &'a TeamId,
    channel: ChannelView,
    message: MessageView,
}

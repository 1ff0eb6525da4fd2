//! What an app's bot does through Slack's Web API, below the routes: post, edit and delete
//! messages, react to them, read channels, history, threads and users, create and join
//! channels. `crate::api::slack_web` turns HTTP into these calls and their results into
//! Slack's JSON.
//!
//! Every refusal is a [`SlackApiError`] named as Slack names it (`channel_not_found`,
//! `is_archived`, `msg_too_long` …), because Slack's SDKs and the bots built on them branch on
//! those names. A bot's message goes through [`Workspace::post_message`] like any other, so it
//! is in the live view and published as `message.posted`; it is posted as
//! [`PosterKind::Bot`], so it never fires outgoing webhooks (a bot answering a bot is how
//! loops start).
//!
//! Each app's calls are rate-limited ([`WebApiLimiter`]) the way Slack answers an app that
//! calls too often: HTTP 429 with `Retry-After` and `ratelimited`.

use super::payload::{IncomingPayload, PayloadError};
use super::{Workspace, WorkspaceError};
use crate::domain::workspace::*;
use crate::store::slack::{MessageEdit, ReactionChange};
use crate::store::StoreError;
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::time::Duration;

/// Why a Web API call failed, as Slack names it in `{"ok": false, "error": …}`.
#[derive(Debug, thiserror::Error)]
pub enum SlackApiError {
    #[error("not_authed")]
    NotAuthed,
    #[error("invalid_auth")]
    InvalidAuth,
    #[error("channel_not_found")]
    ChannelNotFound,
    #[error("is_archived")]
    IsArchived,
    /// A message's content was refused (`no_text`, `msg_too_long`, `invalid_blocks` …).
    #[error("{}", .0.code())]
    Payload(PayloadError),
    #[error("message_not_found")]
    MessageNotFound,
    #[error("thread_not_found")]
    ThreadNotFound,
    #[error("cant_update_message")]
    CantUpdateMessage,
    #[error("cant_delete_message")]
    CantDeleteMessage,
    #[error("name_taken")]
    NameTaken,
    #[error("invalid_name")]
    InvalidName,
    #[error("user_not_found")]
    UserNotFound,
    #[error("already_reacted")]
    AlreadyReacted,
    #[error("no_reaction")]
    NoReaction,
    #[error("invalid_cursor")]
    InvalidCursor,
    #[error("invalid_ts_latest")]
    InvalidTsLatest,
    #[error("invalid_ts_oldest")]
    InvalidTsOldest,
    /// A required argument is missing or malformed (Slack's catch-all).
    #[error("invalid_arguments")]
    InvalidArguments,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SlackApiError {
    /// Slack's error name.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotAuthed => "not_authed",
            Self::InvalidAuth => "invalid_auth",
            Self::ChannelNotFound => "channel_not_found",
            Self::IsArchived => "is_archived",
            Self::Payload(p) => p.code(),
            Self::MessageNotFound => "message_not_found",
            Self::ThreadNotFound => "thread_not_found",
            Self::CantUpdateMessage => "cant_update_message",
            Self::CantDeleteMessage => "cant_delete_message",
            Self::NameTaken => "name_taken",
            Self::InvalidName => "invalid_name",
            Self::UserNotFound => "user_not_found",
            Self::AlreadyReacted => "already_reacted",
            Self::NoReaction => "no_reaction",
            Self::InvalidCursor => "invalid_cursor",
            Self::InvalidTsLatest => "invalid_ts_latest",
            Self::InvalidTsOldest => "invalid_ts_oldest",
            Self::InvalidArguments => "invalid_arguments",
            Self::Store(_) => "internal_error",
        }
    }
}

impl From<WorkspaceError> for SlackApiError {
    fn from(e: WorkspaceError) -> Self {
        match e {
            WorkspaceError::NotFound(_) => Self::ChannelNotFound,
            WorkspaceError::Archived => Self::IsArchived,
            WorkspaceError::Conflict(_) => Self::NameTaken,
            WorkspaceError::Invalid(_) => Self::InvalidArguments,
            WorkspaceError::Store(e) => Self::Store(e),
        }
    }
}

/// A window of a channel's messages, Slack's way: `latest` and `oldest` bound it (exclusive
/// unless `inclusive`), `cursor` continues an earlier page, at most `limit` per page.
#[derive(Debug, Clone, Default)]
pub struct MessageWindow {
    pub latest: Option<Ts>,
    pub oldest: Option<Ts>,
    pub inclusive: bool,
    pub limit: u32,
    /// The last `ts` of the previous page.
    pub cursor: Option<Ts>,
}

/// A page of something, with where the next one starts.
#[derive(Debug, Clone)]
pub struct Page<T, C> {
    pub items: Vec<T>,
    /// `Some` when there is more: give it back as the cursor.
    pub next: Option<C>,
}

/// Per-app limits on Web API calls (a token bucket per app, `governor`).
pub struct WebApiLimiter {
    limiter: DefaultKeyedRateLimiter<SlackAppId>,
}

impl WebApiLimiter {
    pub fn new(rate: HookRate) -> Self {
        let per_second = NonZeroU32::new(rate.per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(rate.burst).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
        }
    }

    /// Whether `app` may call now; `Err(wait)` says how long until it may.
    pub fn admit(&self, app: &SlackAppId) -> Result<(), Duration> {
        self.limiter
            .check_key(app)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

impl Workspace {
    /// The app a request's token names: `not_authed` without one, `invalid_auth` for one that
    /// is not a current bot token.
    pub async fn authenticate_bot(&self, token: Option<&str>) -> Result<SlackApp, SlackApiError> {
        let token = token
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(SlackApiError::NotAuthed)?;
        self.app_for_token(token)
            .await?
            .ok_or(SlackApiError::InvalidAuth)
    }

    /// Whether `app` may make another Web API call now ([`WebApiLimiter`]).
    pub fn admit_web_api_call(&self, app: &SlackApp) -> Result<(), Duration> {
        self.web_api_limiter.admit(&app.id)
    }

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
        let ts = self.own_message(app, &channel, ts, true).await?;
        if channel.archived {
            return Err(SlackApiError::IsArchived);
        }
        let edit = MessageEdit {
            text: payload.text.unwrap_or_default(),
            attachments: payload.attachments,
            blocks: payload.blocks,
            edited: Ts::from_micros(self.deps.clock.now().timestamp_micros()),
        };
        let edited = self
            .deps
            .store
            .edit_channel_message(&channel.id, ts, &edit)
            .await?
            .ok_or(SlackApiError::MessageNotFound)?;
        self.wake_channel(&channel).await;
        Ok((channel, edited))
    }

    /// `chat.delete`: the bot deletes one of its own messages.
    pub async fn delete_as_bot(
        &self,
        app: &SlackApp,
        channel: Option<&str>,
        ts: Option<&str>,
    ) -> Result<(Channel, Ts), SlackApiError> {
        let channel = self.bot_channel(channel).await?;
        let ts = self.own_message(app, &channel, ts, false).await?;
        if !self
            .deps
            .store
            .delete_channel_message(&channel.id, ts)
            .await?
        {
            return Err(SlackApiError::MessageNotFound);
        }
        self.wake_channel(&channel).await;
        Ok((channel, ts))
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

    /// `conversations.list`: channels by name, after the cursor's name.
    pub async fn bot_channels(
        &self,
        after: Option<&SlackChannelName>,
        limit: u32,
        exclude_archived: bool,
    ) -> Result<Page<Channel, SlackChannelName>, SlackApiError> {
        let rows: Vec<Channel> = self
            .deps
            .store
            .list_channels()
            .await?
            .into_iter()
            .filter(|c| after.is_none_or(|a| c.name > *a))
            .filter(|c| !(exclude_archived && c.archived))
            .take(limit as usize + 1)
            .collect();
        Ok(page_of(rows, limit, |c| c.name.clone()))
    }

    /// `conversations.info` and `conversations.join` (every bot is in every channel, so
    /// joining only checks that the channel can be joined).
    pub async fn bot_channel_info(
        &self,
        channel: Option<&str>,
        joining: bool,
    ) -> Result<Channel, SlackApiError> {
        let channel = self.bot_channel(channel).await?;
        if joining && channel.archived {
            return Err(SlackApiError::IsArchived);
        }
        Ok(channel)
    }

    /// `conversations.create`.
    pub async fn bot_create_channel(&self, name: Option<&str>) -> Result<Channel, SlackApiError> {
        let name = name.ok_or(SlackApiError::InvalidName)?;
        // Slack does not fold case or drop a `#` here: such a name is refused.
        if name.starts_with('#') || name.chars().any(|c| c.is_uppercase()) {
            return Err(SlackApiError::InvalidName);
        }
        match self.create_channel(name).await {
            Ok(channel) => Ok(channel),
            Err(WorkspaceError::Invalid(_)) => Err(SlackApiError::InvalidName),
            Err(e) => Err(e.into()),
        }
    }

    /// `users.list`: users by id, after the cursor's.
    pub async fn bot_users(
        &self,
        after: Option<&UserId>,
        limit: u32,
    ) -> Result<Page<WsUser, UserId>, SlackApiError> {
        let rows = self.deps.store.list_users(after, limit + 1).await?;
        Ok(page_of(rows, limit, |u| u.id.clone()))
    }

    /// `users.info`.
    pub async fn bot_user(&self, id: Option<&str>) -> Result<WsUser, SlackApiError> {
        let id = id
            .and_then(|id| UserId::parse(id.trim()).ok())
            .ok_or(SlackApiError::UserNotFound)?;
        self.deps
            .store
            .get_user(&id)
            .await?
            .ok_or(SlackApiError::UserNotFound)
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
        let change = if adding {
            let now = crate::store::to_ms(self.deps.clock.now());
            store.add_reaction(&channel.id, &reaction, now).await?
        } else {
            store.remove_reaction(&channel.id, &reaction).await?
        };
        match change {
            ReactionChange::Done => Ok(()),
            ReactionChange::NoMessage => Err(SlackApiError::MessageNotFound),
            ReactionChange::Unchanged if adding => Err(SlackApiError::AlreadyReacted),
            ReactionChange::Unchanged => Err(SlackApiError::NoReaction),
        }
    }

    /// The channel a Web API call names (an id, or a name with or without `#`).
    async fn bot_channel(&self, key: Option<&str>) -> Result<Channel, SlackApiError> {
        let key = key
            .filter(|k| !k.trim().is_empty())
            .ok_or(SlackApiError::ChannelNotFound)?;
        self.channel(key).await.map_err(|e| match e {
            WorkspaceError::Store(e) => SlackApiError::Store(e),
            _ => SlackApiError::ChannelNotFound,
        })
    }

    /// The `ts` of a message of `channel` that `app`'s bot posted.
    async fn own_message(
        &self,
        app: &SlackApp,
        channel: &Channel,
        ts: Option<&str>,
        updating: bool,
    ) -> Result<Ts, SlackApiError> {
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
        Ok(ts)
    }

    /// Tells the channel's live views that something changed.
    async fn wake_channel(&self, channel: &Channel) {
        self.deps
            .live
            .publish(&format!("channel:{}", channel.id))
            .await;
    }
}

/// `rows` fetched with one more than `limit`: the page, and its cursor made by `cursor` from
/// the last item when there is a next page.
fn page_of<T, C>(mut rows: Vec<T>, limit: u32, cursor: impl Fn(&T) -> C) -> Page<T, C> {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = if more { rows.last().map(cursor) } else { None };
    Page { items: rows, next }
}

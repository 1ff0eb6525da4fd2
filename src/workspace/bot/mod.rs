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
//!
//! - [`messages`]: `chat.*`, `conversations.history` and `.replies`, `reactions.*`.
//! - [`directory`]: `conversations.list`, `.info`, `.join`, `.create`, and `users.*`.

mod directory;
mod messages;

use super::payload::PayloadError;
use super::{Workspace, WorkspaceError};
use crate::domain::workspace::*;
use crate::store::StoreError;
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
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
            WorkspaceError::Invalid(_)
            | WorkspaceError::UrlVerification(_)
            | WorkspaceError::Coded(..) => Self::InvalidArguments,
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

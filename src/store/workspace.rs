//! Storage for the Slack-compatible workspace (`crate::workspace`): the team, channels, their
//! messages, incoming and outgoing webhooks (security incidents: [`super::security`]).
//!
//! A sub-trait of [`super::Store`] so the workspace's tables stay in files of their own; each
//! backend implements it in its `workspace.rs`.
//!
//! The workspace's *events* (`message.posted` …) and outgoing-webhook requests are ordinary
//! messages of applications, but they are not written through [`super::Store::create_message`]:
//! the writes that change the workspace (post a message, create or archive a channel) take
//! them as arguments and insert them, with their deliveries, in their own transaction. The
//! database is the queue (DESIGN.md): a change is never stored without what must follow it.

use super::StoreResult;
use crate::domain::workspace::*;
use crate::domain::Message;
use async_trait::async_trait;

/// The messages that follow a channel message into the delivery queue (its `message.posted`
/// event, the outgoing-webhook requests it triggers). They carry the message's `ts`, which the
/// store hands out inside the transaction, so the store calls this with the stored message and
/// inserts what it returns, each fanned out to its application's subscribed endpoints, before
/// it commits.
pub type FollowUps = Box<dyn FnOnce(&ChannelMessage) -> Vec<Message> + Send>;

/// What posting a message into a channel came to.
#[derive(Debug, Clone)]
pub enum PostResult {
    /// Stored with its `ts`, unique and increasing in its channel, together with its follow-up
    /// messages, which queued this many deliveries.
    Posted {
        message: Box<ChannelMessage>,
        deliveries: usize,
    },
    Archived,
    NoChannel,
}

/// Which messages of a channel to list.
#[derive(Debug, Clone)]
pub struct ChannelMessageQuery {
    /// Only messages after (ascending) or before (descending) this `ts`.
    pub from: Option<Ts>,
    pub limit: u32,
    pub ascending: bool,
    /// Only this thread: its parent and its replies.
    pub thread: Option<Ts>,
    /// Leave out thread replies (Slack's `conversations.history` shows only a thread's parent).
    pub top_level: bool,
}

impl ChannelMessageQuery {
    /// The page's statement, with only the filters this query sets, and the values of its
    /// parameters after the first (the channel id, `{mark}1`); `mark` is the backend's
    /// placeholder (`?` for SQLite, `$` for PostgreSQL).
    ///
    /// Why not one statement with `(?2 IS NULL OR ts > ?2)`: a prepared statement is planned
    /// before its values are known, so SQLite could not use `ts > ?2` to seek in the
    /// `(channel_id, ts)` key and read the channel from its first message on every page. A
    /// live stream reads a page per new message, so posting N messages read N²/2 rows.
    pub(crate) fn sql(&self, mark: char) -> (String, Vec<i64>) {
        let (cmp, dir) = if self.ascending {
            (">", "ASC")
        } else {
            ("<", "DESC")
        };
        let mut sql = format!("SELECT * FROM ws_message WHERE channel_id = {mark}1");
        let mut values = Vec::new();
        let next = |v: i64, values: &mut Vec<i64>| {
            values.push(v);
            format!("{mark}{}", values.len() + 1)
        };
        if let Some(from) = self.from {
            let p = next(from.micros(), &mut values);
            sql.push_str(&format!(" AND ts {cmp} {p}"));
        }
        if let Some(thread) = self.thread {
            let p = next(thread.micros(), &mut values);
            sql.push_str(&format!(" AND (ts = {p} OR thread_ts = {p})"));
        }
        if self.top_level {
            sql.push_str(" AND (thread_ts IS NULL OR thread_ts = ts)");
        }
        let p = next(i64::from(self.limit), &mut values);
        sql.push_str(&format!(" ORDER BY ts {dir} LIMIT {p}"));
        (sql, values)
    }
}

#[async_trait]
pub trait WorkspaceStore: Send + Sync {
    /// The workspace's team id: the stored one, or `candidate` stored now (first start).
    async fn ensure_team(&self, candidate: &TeamId) -> StoreResult<TeamId>;

    // Channels.
    /// Stores the channel and `events` (fanned out to subscribed endpoints) in one transaction;
    /// returns the deliveries queued. Fails with `Conflict` when the name is taken.
    async fn create_channel(&self, channel: &Channel, events: &[Message]) -> StoreResult<usize>;
    async fn get_channel(&self, key: &ChannelRef) -> StoreResult<Option<Channel>>;
    async fn list_channels(&self) -> StoreResult<Vec<Channel>>;
    async fn rename_channel(&self, id: &ChannelId, name: &SlackChannelName) -> StoreResult<()>;
    /// Archives or unarchives a channel and stores `events` in the same transaction. `None`
    /// when the channel was already so (nothing is written, the events neither); otherwise
    /// the deliveries queued. `NotFound` when there is no such channel.
    async fn set_channel_archived(
        &self,
        id: &ChannelId,
        archived: bool,
        events: &[Message],
    ) -> StoreResult<Option<usize>>;

    // Messages.
    /// Gives the message the channel's next `ts` (at least `now_us`, after every earlier one)
    /// and stores it with its [`FollowUps`], in one transaction; an archived or missing
    /// channel stores nothing, and an error stores nothing at all.
    async fn post_channel_message(
        &self,
        channel: &ChannelId,
        msg: &NewChannelMessage,
        now_us: i64,
        follow_ups: FollowUps,
    ) -> StoreResult<PostResult>;
    async fn list_channel_messages(
        &self,
        channel: &ChannelId,
        query: &ChannelMessageQuery,
    ) -> StoreResult<Vec<ChannelMessage>>;

    // Incoming webhooks.
    async fn create_incoming_hook(&self, hook: &IncomingHook, digest: &[u8; 32])
        -> StoreResult<()>;
    /// The hook and the digest of its current token.
    async fn get_incoming_hook(&self, id: &HookId) -> StoreResult<Option<(IncomingHook, Vec<u8>)>>;
    async fn list_incoming_hooks(&self) -> StoreResult<Vec<IncomingHook>>;
    /// `NotFound` when there is no such hook.
    async fn revoke_incoming_hook(&self, id: &HookId) -> StoreResult<()>;
    /// A new token for a hook that is not revoked; `NotFound` otherwise.
    async fn set_incoming_hook_token(&self, id: &HookId, digest: &[u8; 32]) -> StoreResult<()>;

    // Outgoing webhooks.
    async fn create_outgoing_hook(&self, hook: &OutgoingHook) -> StoreResult<()>;
    async fn get_outgoing_hook(&self, id: &OutgoingHookId) -> StoreResult<Option<OutgoingHook>>;
    async fn list_outgoing_hooks(&self) -> StoreResult<Vec<OutgoingHook>>;
    async fn delete_outgoing_hook(&self, id: &OutgoingHookId) -> StoreResult<()>;
}

//! Storage for the Slack platform (issue 19): apps with their bot users, the workspace's
//! people, and what the Web API does to messages beyond posting them (read one, edit,
//! delete, react).
//!
//! A sub-trait of [`super::Store`] beside [`super::WorkspaceStore`], whose tables it shares:
//! posting stays there (it is the workspace's one way in, with its follow-up messages); this
//! holds what only the Slack platform needs, so neither file holds two ideas. Each backend
//! implements it in its `slack.rs`.

use super::StoreResult;
use crate::domain::workspace::*;
use crate::domain::Message;
use async_trait::async_trait;

/// What adding or removing a reaction came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReactionChange {
    Done,
    /// Adding: this user already reacted so. Removing: there is no such reaction.
    Unchanged,
    /// The message does not exist.
    NoMessage,
}

/// A message's new content (`chat.update`): text, attachments and blocks, each `None` to
/// clear it (Slack replaces the whole message).
#[derive(Debug, Clone)]
pub struct MessageEdit {
    pub text: String,
    pub attachments: Option<String>,
    pub blocks: Option<String>,
    pub edited: Ts,
}

#[async_trait]
pub trait SlackStore: Send + Sync {
    // Apps.
    /// Stores the app and its bot user in one transaction.
    async fn create_slack_app(
        &self,
        app: &SlackApp,
        bot_user: &WsUser,
        token_digest: &[u8; 32],
    ) -> StoreResult<()>;
    async fn get_slack_app(&self, id: &SlackAppId) -> StoreResult<Option<SlackApp>>;
    async fn list_slack_apps(&self) -> StoreResult<Vec<SlackApp>>;
    /// Saves name, events, slash commands and interactivity URL, and renames the bot user
    /// with the app; `NotFound` when there is no such app.
    async fn update_slack_app(&self, app: &SlackApp) -> StoreResult<()>;
    /// Deletes the app (its token stops working at once) and marks its bot user deleted;
    /// `NotFound` when there is no such app.
    async fn delete_slack_app(&self, id: &SlackAppId) -> StoreResult<()>;
    /// A new bot token; `NotFound` when there is no such app.
    async fn set_slack_app_token(&self, id: &SlackAppId, digest: &[u8; 32]) -> StoreResult<()>;
    /// The app whose token has this SHA-256 digest.
    async fn slack_app_by_token(&self, digest: &[u8; 32]) -> StoreResult<Option<SlackApp>>;

    // Users.
    /// The stored user with `user.id`, or `user` stored now.
    async fn ensure_user(&self, user: &WsUser) -> StoreResult<WsUser>;
    async fn get_user(&self, id: &UserId) -> StoreResult<Option<WsUser>>;
    /// Up to `limit` users after `after` (by id).
    async fn list_users(&self, after: Option<&UserId>, limit: u32) -> StoreResult<Vec<WsUser>>;

    // Messages.
    async fn get_channel_message(
        &self,
        channel: &ChannelId,
        ts: Ts,
    ) -> StoreResult<Option<ChannelMessage>>;
    /// The message as changed, or `None` when there is no such message. `events` (the Events
    /// API's `message_changed` for subscribed apps) are queued in the same transaction when
    /// the message is changed, and not at all otherwise.
    async fn edit_channel_message(
        &self,
        channel: &ChannelId,
        ts: Ts,
        edit: &MessageEdit,
        events: &[Message],
    ) -> StoreResult<Option<ChannelMessage>>;
    /// Deletes the message and its reactions, queuing `events` in the same transaction;
    /// `false` (and nothing queued) when there was no such message.
    async fn delete_channel_message(
        &self,
        channel: &ChannelId,
        ts: Ts,
        events: &[Message],
    ) -> StoreResult<bool>;

    // Reactions. `events` are queued in the change's transaction when it is `Done`.
    async fn add_reaction(
        &self,
        channel: &ChannelId,
        reaction: &Reaction,
        now_ms: i64,
        events: &[Message],
    ) -> StoreResult<ReactionChange>;
    async fn remove_reaction(
        &self,
        channel: &ChannelId,
        reaction: &Reaction,
        events: &[Message],
    ) -> StoreResult<ReactionChange>;
    /// The reactions to the messages of `channel` whose `ts` is within `first..=last`, oldest
    /// first.
    async fn reactions_between(
        &self,
        channel: &ChannelId,
        first: Ts,
        last: Ts,
    ) -> StoreResult<Vec<Reaction>>;
}

/// Reading this trait's rows, once for both backends (as [`super::cells`] does for the rest).
pub(crate) mod rows {
    use crate::domain::workspace::*;
    use crate::domain::EndpointUrl;
    use crate::store::cells::{json_col, Cells};
    use crate::store::from_ms;

    /// A slash command as kept in `ws_slack_app.slash_commands` (a JSON array).
    #[derive(serde::Serialize, serde::Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct StoredCommand {
        command: String,
        url: String,
        description: String,
        usage_hint: String,
    }

    pub(crate) fn commands_json(commands: &[SlashCommand]) -> String {
        let stored: Vec<StoredCommand> = commands
            .iter()
            .map(|c| StoredCommand {
                command: c.command.as_str().to_owned(),
                url: c.url.as_str().to_owned(),
                description: c.description.clone(),
                usage_hint: c.usage_hint.clone(),
            })
            .collect();
        serde_json::to_string(&stored).expect("commands serialize")
    }

    pub(crate) fn event_types_json(app: &SlackApp) -> String {
        crate::store::cells::json_list(
            app.events
                .iter()
                .flat_map(|e| e.event_types.iter().map(|t| t.as_str())),
        )
    }

    pub(crate) fn slack_app(r: &impl Cells) -> SlackApp {
        let commands: Vec<StoredCommand> = json_col(r, "slash_commands");
        let event_types: Vec<String> = json_col(r, "event_types");
        let events = r
            .opt_text("event_request_url")
            .and_then(|u| EndpointUrl::from_trusted(&u))
            .map(|request_url| EventSubscription {
                request_url,
                event_types: event_types
                    .into_iter()
                    .map(SlackEventName::from_trusted)
                    .collect(),
                verified: r.flag("events_verified"),
            });
        SlackApp {
            id: SlackAppId::from_trusted(r.text("id")),
            name: r.text("name"),
            bot_id: BotId::from_trusted(r.text("bot_id")),
            bot_user_id: UserId::from_trusted(r.text("bot_user_id")),
            signing_secret: r.text("signing_secret"),
            events,
            slash_commands: commands
                .into_iter()
                .filter_map(|c| {
                    Some(SlashCommand {
                        command: CommandName::from_trusted(c.command),
                        url: EndpointUrl::from_trusted(&c.url)?,
                        description: c.description,
                        usage_hint: c.usage_hint,
                    })
                })
                .collect(),
            interactivity_url: r
                .opt_text("interactivity_url")
                .and_then(|u| EndpointUrl::from_trusted(&u)),
            created_at: from_ms(r.int("created_at")),
        }
    }

    pub(crate) fn user(r: &impl Cells) -> WsUser {
        WsUser {
            id: UserId::from_trusted(r.text("id")),
            name: r.text("name"),
            real_name: r.text("real_name"),
            is_bot: r.flag("is_bot"),
            app_id: r.opt_text("app_id").map(SlackAppId::from_trusted),
            bot_id: r.opt_text("bot_id").map(BotId::from_trusted),
            deleted: r.flag("deleted"),
            created_at: from_ms(r.int("created_at")),
        }
    }

    pub(crate) fn reaction(r: &impl Cells) -> Reaction {
        Reaction {
            ts: Ts::from_micros(r.int("ts")),
            name: ReactionName::from_trusted(r.text("name")),
            user_id: UserId::from_trusted(r.text("user_id")),
        }
    }
}

//! The Web API's methods: each reads its arguments, makes one call into the bot service
//! ([`crate::workspace::bot`]) and writes Slack's answer (without `ok`, which the caller adds).

use super::args::Args;
use super::shapes;
use crate::api::Services;
use crate::domain::workspace::*;
use crate::workspace::bot::{MessageWindow, SlackApiError};
use crate::workspace::payload::{self, PayloadError};
use serde_json::{json, Value};

/// The methods Kanca serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Method {
    AuthTest,
    ChatPostMessage,
    ChatUpdate,
    ChatDelete,
    ChatPostEphemeral,
    ConversationsList,
    ConversationsInfo,
    ConversationsHistory,
    ConversationsReplies,
    ConversationsCreate,
    ConversationsJoin,
    UsersInfo,
    UsersList,
    ReactionsAdd,
    ReactionsRemove,
}

impl Method {
    pub(super) fn named(name: &str) -> Option<Self> {
        Some(match name {
            "auth.test" => Self::AuthTest,
            "chat.postMessage" => Self::ChatPostMessage,
            "chat.update" => Self::ChatUpdate,
            "chat.delete" => Self::ChatDelete,
            "chat.postEphemeral" => Self::ChatPostEphemeral,
            "conversations.list" => Self::ConversationsList,
            "conversations.info" => Self::ConversationsInfo,
            "conversations.history" => Self::ConversationsHistory,
            "conversations.replies" => Self::ConversationsReplies,
            "conversations.create" => Self::ConversationsCreate,
            "conversations.join" => Self::ConversationsJoin,
            "users.info" => Self::UsersInfo,
            "users.list" => Self::UsersList,
            "reactions.add" => Self::ReactionsAdd,
            "reactions.remove" => Self::ReactionsRemove,
            _ => return None,
        })
    }
}

/// Page sizes: Slack's default and the most it gives at once.
const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

pub(super) async fn run(
    state: &Services,
    app: &SlackApp,
    method: Method,
    args: &Args,
) -> Result<Value, SlackApiError> {
    let ws = &state.workspace;
    let team = ws.team_id();
    match method {
        Method::AuthTest => {
            let bot = ws.bot_user(Some(app.bot_user_id.as_str())).await?;
            Ok(json!({
                "url": format!("{}/", state.config.public_url),
                "team": "Kanca",
                "user": bot.name,
                "team_id": team,
                "user_id": app.bot_user_id,
                "bot_id": app.bot_id,
                "app_id": app.id,
                "is_enterprise_install": false,
            }))
        }
        Method::ChatPostMessage => {
            let (channel, posted) = ws.post_as_bot(app, message_payload(args)?).await?;
            let bot = ws.bot_user(Some(app.bot_user_id.as_str())).await.ok();
            Ok(json!({
                "channel": channel.id,
                "ts": posted.ts.to_string(),
                "message": shapes::message(team, &posted, bot.as_ref(), &[]),
            }))
        }
        Method::ChatUpdate => {
            let ts = args.text("ts");
            let (channel, edited) = ws
                .update_as_bot(app, ts.as_deref(), message_payload(args)?)
                .await?;
            let bot = ws.bot_user(Some(app.bot_user_id.as_str())).await.ok();
            Ok(json!({
                "channel": channel.id,
                "ts": edited.ts.to_string(),
                "text": edited.text,
                "message": shapes::message(team, &edited, bot.as_ref(), &[]),
            }))
        }
        Method::ChatDelete => {
            let ts = args.text("ts");
            let (channel, ts) = ws
                .delete_as_bot(app, args.str("channel"), ts.as_deref())
                .await?;
            Ok(json!({ "channel": channel.id, "ts": ts.to_string() }))
        }
        Method::ChatPostEphemeral => {
            let (_, msg) = ws
                .post_ephemeral_as_bot(app, args.str("user"), message_payload(args)?)
                .await?;
            Ok(json!({ "message_ts": msg.ts.to_string() }))
        }
        Method::ConversationsList => {
            let after = cursor(args, "channel")?
                .map(|name| SlackChannelName::parse(&name))
                .transpose()
                .map_err(|_| SlackApiError::InvalidCursor)?;
            let limit = limit(args)?;
            let page = ws
                .bot_channels(after.as_ref(), limit, args.flag("exclude_archived"))
                .await?;
            let channels: Vec<Value> = page
                .items
                .iter()
                .map(|c| shapes::channel(team, c))
                .collect();
            let next = page.next.map(|n| shapes::cursor("channel", n.as_str()));
            Ok(json!({
                "channels": channels,
                "response_metadata": shapes::next_cursor(next),
            }))
        }
        Method::ConversationsInfo | Method::ConversationsJoin => {
            let joining = method == Method::ConversationsJoin;
            let channel = ws
                .bot_channel_info(app, args.str("channel"), joining)
                .await?;
            Ok(json!({ "channel": shapes::channel(team, &channel) }))
        }
        Method::ConversationsHistory => {
            let window = window(args)?;
            let (channel, page) = ws.bot_history(args.str("channel"), &window).await?;
            messages_page(state, &channel, page).await
        }
        Method::ConversationsReplies => {
            let window = window(args)?;
            let ts = args.text("ts");
            let (channel, page) = ws
                .bot_replies(args.str("channel"), ts.as_deref(), &window)
                .await?;
            messages_page(state, &channel, page).await
        }
        Method::ConversationsCreate => {
            let channel = ws.bot_create_channel(app, args.str("name")).await?;
            Ok(json!({ "channel": shapes::channel(team, &channel) }))
        }
        Method::UsersInfo => {
            let user = ws.bot_user(args.str("user")).await?;
            Ok(json!({ "user": shapes::user(team, &user) }))
        }
        Method::UsersList => {
            let after = cursor(args, "users")?
                .map(|id| UserId::parse(&id))
                .transpose()
                .map_err(|_| SlackApiError::InvalidCursor)?;
            let page = ws.bot_users(after.as_ref(), limit(args)?).await?;
            let members: Vec<Value> = page.items.iter().map(|u| shapes::user(team, u)).collect();
            let next = page.next.map(|id| shapes::cursor("users", id.as_str()));
            Ok(json!({
                "members": members,
                "cache_ts": state.clock.now().timestamp(),
                "response_metadata": shapes::next_cursor(next),
            }))
        }
        Method::ReactionsAdd | Method::ReactionsRemove => {
            let ts = args.text("timestamp");
            ws.bot_react(
                app,
                args.str("channel"),
                ts.as_deref(),
                args.str("name"),
                method == Method::ReactionsAdd,
            )
            .await?;
            Ok(json!({}))
        }
    }
}

/// A message's content from the arguments, checked as Slack checks it (`no_text`,
/// `msg_too_long`, `invalid_blocks` …) by the parser incoming webhooks use.
fn message_payload(args: &Args) -> Result<payload::IncomingPayload, SlackApiError> {
    payload::parse_json(&args.to_json()).map_err(|e| match e {
        PayloadError::InvalidPayload => SlackApiError::InvalidArguments,
        other => SlackApiError::Payload(other),
    })
}

fn limit(args: &Args) -> Result<u32, SlackApiError> {
    args.limit(DEFAULT_LIMIT, MAX_LIMIT)
        .map_err(|()| SlackApiError::InvalidArguments)
}

/// The value of the `cursor` argument, which must be of `kind`.
fn cursor(args: &Args, kind: &str) -> Result<Option<String>, SlackApiError> {
    args.str("cursor")
        .map(|c| shapes::cursor_value(kind, c).ok_or(SlackApiError::InvalidCursor))
        .transpose()
}

/// `latest`, `oldest`, `inclusive`, `limit` and `cursor` of `conversations.history` and
/// `.replies`.
fn window(args: &Args) -> Result<MessageWindow, SlackApiError> {
    let ts = |name: &str, invalid: SlackApiError| match args.text(name) {
        None => Ok(None),
        // Slack's "0" for `oldest` means "from the beginning".
        Some(t) if t == "0" => Ok(None),
        Some(t) => Ts::parse(&t).map(Some).map_err(|_| invalid),
    };
    let cursor = cursor(args, "next_ts")?
        .map(|micros| micros.parse::<i64>().map(Ts::from_micros))
        .transpose()
        .map_err(|_| SlackApiError::InvalidCursor)?;
    Ok(MessageWindow {
        latest: ts("latest", SlackApiError::InvalidTsLatest)?,
        oldest: ts("oldest", SlackApiError::InvalidTsOldest)?,
        inclusive: args.flag("inclusive"),
        limit: limit(args)?,
        cursor,
    })
}

/// A page of messages with their posters and reactions, as `conversations.history` and
/// `.replies` answer.
async fn messages_page(
    state: &Services,
    channel: &Channel,
    page: crate::workspace::bot::Page<ChannelMessage, Ts>,
) -> Result<Value, SlackApiError> {
    let ws = &state.workspace;
    let posters = ws.posters_of(&page.items).await?;
    let reactions = ws.reactions_of(&channel.id, &page.items).await?;
    let messages: Vec<Value> = page
        .items
        .iter()
        .map(|m| {
            let poster = m.user_id.as_ref().and_then(|u| posters.get(u));
            shapes::message(ws.team_id(), m, poster, &reactions)
        })
        .collect();
    let has_more = page.next.is_some();
    let next = page
        .next
        .map(|ts| shapes::cursor("next_ts", &ts.micros().to_string()));
    Ok(json!({
        "messages": messages,
        "has_more": has_more,
        "pin_count": 0,
        "response_metadata": shapes::next_cursor(next),
    }))
}

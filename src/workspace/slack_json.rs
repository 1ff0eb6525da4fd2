//! Slack's objects as Slack writes them: messages, conversations and users. The Web API
//! (`crate::api::slack_web`) answers with them, and the Events API's envelopes and the
//! interactivity payloads carry them, so one shape serves all three. Field names and types
//! follow Slack's documentation, so SDK models (`slack_sdk`'s, `@slack/web-api`'s typed
//! responses, Bolt's event types) read them.

use crate::domain::workspace::*;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// A message object. `poster` is its user (for a bot's message: its bot and app ids), and
/// `reactions` may hold other messages' reactions too.
pub fn message(
    team: &TeamId,
    m: &ChannelMessage,
    poster: Option<&WsUser>,
    reactions: &[Reaction],
) -> Value {
    let mut o = Map::new();
    o.insert("type".into(), json!("message"));
    o.insert("ts".into(), json!(m.ts.to_string()));
    o.insert("text".into(), json!(m.text));
    o.insert("team".into(), json!(team));
    if let Some(user) = &m.user_id {
        o.insert("user".into(), json!(user));
    }
    match (poster, m.posted_by) {
        (Some(bot), _) if bot.is_bot => {
            if let (Some(bot_id), Some(app_id)) = (&bot.bot_id, &bot.app_id) {
                o.insert("bot_id".into(), json!(bot_id));
                o.insert("app_id".into(), json!(app_id));
                o.insert(
                    "bot_profile".into(),
                    json!({
                        "id": bot_id,
                        "app_id": app_id,
                        "name": bot.real_name,
                        "deleted": bot.deleted,
                        "team_id": team,
                    }),
                );
            }
        }
        // Incoming webhooks and outgoing-webhook replies: Slack's classic bot messages.
        (_, PosterKind::App | PosterKind::Bot) => {
            o.insert("subtype".into(), json!("bot_message"));
            o.insert("username".into(), json!(m.poster_name));
        }
        _ => {}
    }
    if let Some(username) = &m.username {
        o.insert("username".into(), json!(username));
    }
    let mut icons = Map::new();
    if let Some(emoji) = &m.icon_emoji {
        icons.insert("emoji".into(), json!(emoji));
    }
    if let Some(url) = &m.icon_url {
        icons.insert("image_64".into(), json!(url));
    }
    if !icons.is_empty() {
        o.insert("icons".into(), Value::Object(icons));
    }
    let raw = |s: &Option<String>| s.as_deref().and_then(|s| serde_json::from_str(s).ok());
    if let Some(blocks) = raw(&m.blocks) {
        o.insert("blocks".into(), blocks);
    }
    if let Some(attachments) = raw(&m.attachments) {
        o.insert("attachments".into(), attachments);
    }
    if let Some(thread) = m.thread_ts {
        o.insert("thread_ts".into(), json!(thread.to_string()));
    }
    if let Some(edited) = m.edited {
        o.insert(
            "edited".into(),
            json!({ "user": m.user_id, "ts": edited.to_string() }),
        );
    }
    let reactions = grouped(m.ts, reactions);
    if !reactions.is_empty() {
        o.insert("reactions".into(), Value::Array(reactions));
    }
    Value::Object(o)
}

/// A message's reactions as Slack groups them: one entry per emoji, in the order first used.
fn grouped(ts: Ts, reactions: &[Reaction]) -> Vec<Value> {
    let mut order: Vec<&ReactionName> = Vec::new();
    let mut users: HashMap<&ReactionName, Vec<&UserId>> = HashMap::new();
    for r in reactions.iter().filter(|r| r.ts == ts) {
        if !users.contains_key(&r.name) {
            order.push(&r.name);
        }
        users.entry(&r.name).or_default().push(&r.user_id);
    }
    order
        .into_iter()
        .map(|name| {
            let who = &users[name];
            json!({ "name": name, "users": who, "count": who.len() })
        })
        .collect()
}

/// A conversation object (Kanca's channels are public channels).
pub fn channel(team: &TeamId, c: &Channel) -> Value {
    json!({
        "id": c.id,
        "name": c.name,
        "is_channel": true,
        "is_group": false,
        "is_im": false,
        "is_mpim": false,
        "is_private": false,
        "created": c.created_at.timestamp(),
        "is_archived": c.archived,
        "is_general": false,
        "unlinked": 0,
        "name_normalized": c.name,
        "is_shared": false,
        "is_org_shared": false,
        "is_pending_ext_shared": false,
        "is_ext_shared": false,
        "pending_shared": [],
        "context_team_id": team,
        "shared_team_ids": [team],
        "is_member": true,
        "creator": "",
        "topic": { "value": "", "creator": "", "last_set": 0 },
        "purpose": { "value": "", "creator": "", "last_set": 0 },
        "previous_names": [],
    })
}

/// A user object.
pub fn user(team: &TeamId, u: &WsUser) -> Value {
    let mut profile = json!({
        "real_name": u.real_name,
        "real_name_normalized": u.real_name,
        "display_name": u.name,
        "display_name_normalized": u.name,
        "team": team,
    });
    if let (Some(bot_id), Some(app_id)) = (&u.bot_id, &u.app_id) {
        profile["bot_id"] = json!(bot_id);
        profile["api_app_id"] = json!(app_id);
        profile["always_active"] = json!(true);
    }
    json!({
        "id": u.id,
        "team_id": team,
        "name": u.name,
        "deleted": u.deleted,
        "real_name": u.real_name,
        "tz": "UTC",
        "tz_label": "Coordinated Universal Time",
        "tz_offset": 0,
        "profile": profile,
        "is_admin": false,
        "is_owner": false,
        "is_primary_owner": false,
        "is_restricted": false,
        "is_ultra_restricted": false,
        "is_bot": u.is_bot,
        "is_app_user": false,
        "updated": u.created_at.timestamp(),
    })
}

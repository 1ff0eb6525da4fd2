//! The workspace's events: `message.posted`, `channel.created` and `channel.archived`,
//! published into the built-in application with uid `workspace`.
//!
//! That application is an ordinary, visible one: users add endpoints to it (through the API,
//! the SDKs or the console) to follow the conversation, and the engine delivers the events like
//! any other message, signed and retried. It is created on first start if missing, and the three
//! event types are put in the catalog with a JSON Schema and an example, so "send test event"
//! works for them.
//!
//! An event is never published on its own: the store inserts it in the transaction of the
//! change it describes (`post.rs`, `channels.rs`), so a change is never stored without it.

use crate::domain::*;
use crate::store::{DynStore, StoreError};
use serde_json::{json, Value};

/// The uid of the application the workspace's events are published into.
pub const APP_UID: &str = "workspace";

pub const MESSAGE_POSTED: &str = "message.posted";
pub const CHANNEL_CREATED: &str = "channel.created";
pub const CHANNEL_ARCHIVED: &str = "channel.archived";

/// The `workspace` application's id, creating it (and the event types) when missing. Another
/// node may be doing the same at the same moment: a conflict means it won, so read it back.
pub async fn ensure_app(store: &DynStore) -> anyhow::Result<AppId> {
    for (name, description, schema) in catalog() {
        let name = EventTypeName::parse(name).expect("static event type");
        if store.get_event_type(&name).await?.is_none() {
            let fields = EventTypeFields {
                description: description.into(),
                archived: false,
                deprecated: false,
                schemas: Some(json!({ "1": schema })),
                group_name: Some("workspace".into()),
                feature_flags: None,
            };
            match store.create_event_type(&name, fields).await {
                Ok(_) | Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    let key = IdOrUid::parse(APP_UID).expect("static uid");
    if let Some(app) = store.get_app(&key).await? {
        return Ok(app.id);
    }
    let fields = ApplicationFields {
        uid: Some(Uid::parse(APP_UID).expect("static uid")),
        name: "Workspace".into(),
        throttle_rate: None,
        metadata: Metadata::new(),
    };
    match store.create_app(fields).await {
        Ok(app) => Ok(app.id),
        Err(StoreError::Conflict(_)) => Ok(store
            .get_app(&key)
            .await?
            .ok_or_else(|| anyhow::anyhow!("the workspace application vanished"))?
            .id),
        Err(e) => Err(e.into()),
    }
}

fn channel_schema() -> Value {
    json!({
        "type": "object",
        "required": ["id", "name"],
        "properties": {
            "id": {"type": "string", "description": "Channel id (C…)"},
            "name": {"type": "string"},
            "isArchived": {"type": "boolean"},
            "createdAt": {"type": "string", "format": "date-time"}
        }
    })
}

/// The three event types: name, description, JSON Schema (with an example).
fn catalog() -> Vec<(&'static str, &'static str, Value)> {
    let channel_example = json!({
        "id": "C0123456789", "name": "alerts", "isArchived": false,
        "createdAt": "2026-01-01T00:00:00Z"
    });
    vec![
        (
            MESSAGE_POSTED,
            "A message was posted into a workspace channel (by a person, an incoming webhook or an outgoing webhook's reply).",
            json!({
                "type": "object",
                "required": ["type", "data"],
                "properties": {
                    "type": {"const": MESSAGE_POSTED},
                    "data": {
                        "type": "object",
                        "required": ["teamId", "channel", "message"],
                        "properties": {
                            "teamId": {"type": "string"},
                            "channel": channel_schema(),
                            "message": {
                                "type": "object",
                                "required": ["ts", "channelId", "text", "mrkdwn", "postedBy"],
                                "properties": {
                                    "ts": {"type": "string"},
                                    "channelId": {"type": "string"},
                                    "text": {"type": "string"},
                                    "mrkdwn": {
                                        "type": "boolean",
                                        "description": "false: the sender asked for `text` without formatting (Slack's `mrkdwn` flag)"
                                    },
                                    "username": {"type": ["string", "null"]},
                                    "iconEmoji": {"type": ["string", "null"]},
                                    "iconUrl": {"type": ["string", "null"]},
                                    "attachments": {"type": ["array", "null"]},
                                    "blocks": {"type": ["array", "null"]},
                                    "threadTs": {"type": ["string", "null"]},
                                    "postedBy": {
                                        "type": "object",
                                        "properties": {
                                            "kind": {"enum": ["user", "app", "bot"]},
                                            "name": {"type": "string"}
                                        }
                                    }
                                }
                            }
                        }
                    }
                },
                "examples": [{
                    "type": MESSAGE_POSTED,
                    "data": {
                        "teamId": "T0123456789",
                        "channel": channel_example,
                        "message": {
                            "ts": "1767225600.000100", "channelId": "C0123456789",
                            "text": "deploy finished", "mrkdwn": true, "username": null, "iconEmoji": null,
                            "iconUrl": null, "attachments": null, "blocks": null,
                            "threadTs": null, "postedBy": {"kind": "user", "name": "ada"}
                        }
                    }
                }]
            }),
        ),
        (
            CHANNEL_CREATED,
            "A workspace channel was created.",
            json!({
                "type": "object",
                "required": ["type", "data"],
                "properties": {
                    "type": {"const": CHANNEL_CREATED},
                    "data": {"type": "object", "properties": {"teamId": {"type": "string"}, "channel": channel_schema()}}
                },
                "examples": [{"type": CHANNEL_CREATED, "data": {"teamId": "T0123456789", "channel": channel_example}}]
            }),
        ),
        (
            CHANNEL_ARCHIVED,
            "A workspace channel was archived.",
            json!({
                "type": "object",
                "required": ["type", "data"],
                "properties": {
                    "type": {"const": CHANNEL_ARCHIVED},
                    "data": {"type": "object", "properties": {"teamId": {"type": "string"}, "channel": channel_schema()}}
                },
                "examples": [{"type": CHANNEL_ARCHIVED, "data": {"teamId": "T0123456789", "channel": {
                    "id": "C0123456789", "name": "alerts", "isArchived": true,
                    "createdAt": "2026-01-01T00:00:00Z"
                }}}]
            }),
        ),
    ]
}

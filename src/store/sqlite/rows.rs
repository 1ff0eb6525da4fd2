//! Turning SQLite rows into domain records. Values written by Kanca are trusted to be valid;
//! JSON columns that fail to parse (only possible by editing the file by hand) read as empty.

use super::super::from_ms;
use crate::domain::*;
use serde::de::DeserializeOwned;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use std::collections::BTreeSet;

pub(super) fn json_col<T: DeserializeOwned + Default>(row: &SqliteRow, col: &str) -> T {
    row.get::<Option<String>, _>(col)
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default()
}

pub(super) fn opt_json_col<T: DeserializeOwned>(row: &SqliteRow, col: &str) -> Option<T> {
    row.get::<Option<String>, _>(col)
        .and_then(|s| serde_json::from_str(&s).ok())
}

pub(super) fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("plain data serialises")
}

pub(super) fn names_to_json<T: std::fmt::Display>(set: &Option<BTreeSet<T>>) -> Option<String> {
    set.as_ref()
        .map(|s| to_json(&s.iter().map(|v| v.to_string()).collect::<Vec<_>>()))
}

pub(super) fn app(row: &SqliteRow) -> Application {
    Application {
        id: AppId::from_trusted(row.get("id")),
        uid: row.get::<Option<String>, _>("uid").map(Uid::from_trusted),
        name: row.get("name"),
        throttle_rate: row.get::<Option<i64>, _>("throttle_rate").map(|v| v as u16),
        metadata: json_col(row, "metadata"),
        created_at: from_ms(row.get("created_at")),
        updated_at: from_ms(row.get("updated_at")),
    }
}

pub(super) fn event_type(row: &SqliteRow) -> EventType {
    EventType {
        name: EventTypeName::from_trusted(row.get("name")),
        description: row.get("description"),
        archived: row.get("archived"),
        deprecated: row.get("deprecated"),
        schemas: opt_json_col(row, "schemas"),
        group_name: row.get("group_name"),
        feature_flags: opt_json_col(row, "feature_flags"),
        created_at: from_ms(row.get("created_at")),
        updated_at: from_ms(row.get("updated_at")),
    }
}

/// Reads an endpoint from columns named as in the `endpoint` table, optionally prefixed
/// (`ep_url` …) when it comes from a join.
pub(super) fn endpoint_prefixed(row: &SqliteRow, p: &str) -> Endpoint {
    let col = |c: &str| format!("{p}{c}");
    let secret: String = row.get(col("secret").as_str());
    let url: String = row.get(col("url").as_str());
    let opt_set = |c: &str| -> Option<Vec<String>> { opt_json_col(row, &col(c)) };
    Endpoint {
        id: EndpointId::from_trusted(row.get(col("id").as_str())),
        app_id: AppId::from_trusted(row.get(col("app_id").as_str())),
        fields: EndpointFields {
            uid: row
                .get::<Option<String>, _>(col("uid").as_str())
                .map(Uid::from_trusted),
            url: EndpointUrl::from_trusted(&url).unwrap_or_else(|| {
                EndpointUrl::from_trusted("http://invalid.invalid/").expect("valid")
            }),
            description: row.get(col("description").as_str()),
            event_types: opt_set("event_types")
                .map(|v| v.into_iter().map(EventTypeName::from_trusted).collect()),
            channels: opt_set("channels")
                .map(|v| v.into_iter().map(ChannelName::from_trusted).collect()),
            disabled: row.get(col("disabled").as_str()),
            throttle_rate: row
                .get::<Option<i64>, _>(col("throttle_rate").as_str())
                .map(|v| v as u16),
            metadata: json_col(row, &col("metadata")),
            headers: json_col(row, &col("headers")),
        },
        secret: EndpointSecret::parse(&secret).unwrap_or_else(|_| EndpointSecret::generate()),
        retired_secrets: retired_secrets(&json_col::<Vec<StoredSecret>>(row, &col("old_secrets"))),
        created_at: from_ms(row.get(col("created_at").as_str())),
        updated_at: from_ms(row.get(col("updated_at").as_str())),
    }
}

pub(super) fn endpoint(row: &SqliteRow) -> Endpoint {
    endpoint_prefixed(row, "")
}

pub(super) fn message(row: &SqliteRow) -> Message {
    let channels: Option<Vec<String>> = opt_json_col(row, "channels");
    Message {
        id: MessageId::from_trusted(row.get("id")),
        app_id: AppId::from_trusted(row.get("app_id")),
        event_type: EventTypeName::from_trusted(row.get("event_type")),
        event_id: row.get("event_id"),
        payload: row.get("payload"),
        channels: channels.map(|v| v.into_iter().map(ChannelName::from_trusted).collect()),
        tags: opt_json_col(row, "tags"),
        created_at: from_ms(row.get("created_at")),
        payload_expires_at: from_ms(row.get("payload_expires_at")),
        deliver_at: row.get::<Option<i64>, _>("deliver_at").map(from_ms),
    }
}

pub(super) fn attempt(row: &SqliteRow) -> Attempt {
    Attempt {
        id: AttemptId::from_trusted(row.get("id")),
        msg_id: MessageId::from_trusted(row.get("msg_id")),
        endpoint_id: EndpointId::from_trusted(row.get("endpoint_id")),
        url: row.get("url"),
        response_status_code: row.get::<i64, _>("response_status_code") as i16,
        response: row.get("response"),
        response_duration_ms: row.get("duration_ms"),
        status: DeliveryStatus::from_i64(row.get("status")),
        trigger_type: TriggerType::from_i64(row.get("trigger_type")),
        failure_reason: row.get("failure_reason"),
        created_at: from_ms(row.get("created_at")),
    }
}

/// How a retired secret is kept in `endpoint.old_secrets`.
#[derive(serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct StoredSecret {
    pub key: String,
    pub expires_at: i64,
}

fn retired_secrets(stored: &[StoredSecret]) -> Vec<RetiredSecret> {
    stored
        .iter()
        .filter_map(|s| {
            Some(RetiredSecret {
                secret: EndpointSecret::parse(&s.key).ok()?,
                expires_at: from_ms(s.expires_at),
            })
        })
        .collect()
}

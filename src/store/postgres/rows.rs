//! Turning PostgreSQL rows into domain records. Values written by Kanca are trusted to be
//! valid; JSON columns that fail to parse (only possible by editing the database by hand) read
//! as empty, exactly as on SQLite.
//!
//! Column types are narrower than SQLite's one INTEGER (SMALLINT statuses, INTEGER counts), and
//! sqlx reads a column only as its exact Rust width, so each getter here names the width the
//! migration gave the column.

use super::super::from_ms;
use crate::domain::*;
use serde::de::DeserializeOwned;
use sqlx::postgres::PgRow;
use sqlx::Row;
use std::collections::BTreeSet;

pub(super) fn json_col<T: DeserializeOwned + Default>(row: &PgRow, col: &str) -> T {
    row.get::<Option<String>, _>(col)
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default()
}

pub(super) fn opt_json_col<T: DeserializeOwned>(row: &PgRow, col: &str) -> Option<T> {
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

/// A `SMALLINT` status or trigger column, in the `i64` the domain's decoders take.
pub(super) fn small(row: &PgRow, col: &str) -> i64 {
    i64::from(row.get::<i16, _>(col))
}

pub(super) fn app(row: &PgRow) -> Application {
    Application {
        id: AppId::from_trusted(row.get("id")),
        uid: row.get::<Option<String>, _>("uid").map(Uid::from_trusted),
        name: row.get("name"),
        throttle_rate: row.get::<Option<i32>, _>("throttle_rate").map(|v| v as u16),
        metadata: json_col(row, "metadata"),
        created_at: from_ms(row.get("created_at")),
        updated_at: from_ms(row.get("updated_at")),
    }
}

pub(super) fn event_type(row: &PgRow) -> EventType {
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

/// Reads an endpoint from the columns of the `endpoint` table. Joins select `e.*` and give
/// their other columns prefixed aliases (`d_status` …) so the two never collide.
pub(super) fn endpoint(row: &PgRow) -> Endpoint {
    let secret: String = row.get("secret");
    let url: String = row.get("url");
    let opt_set = |c: &str| -> Option<Vec<String>> { opt_json_col(row, c) };
    Endpoint {
        id: EndpointId::from_trusted(row.get("id")),
        app_id: AppId::from_trusted(row.get("app_id")),
        fields: EndpointFields {
            uid: row.get::<Option<String>, _>("uid").map(Uid::from_trusted),
            url: EndpointUrl::from_trusted(&url).unwrap_or_else(|| {
                EndpointUrl::from_trusted("http://invalid.invalid/").expect("valid")
            }),
            description: row.get("description"),
            event_types: opt_set("event_types")
                .map(|v| v.into_iter().map(EventTypeName::from_trusted).collect()),
            channels: opt_set("channels")
                .map(|v| v.into_iter().map(ChannelName::from_trusted).collect()),
            disabled: row.get("disabled"),
            throttle_rate: row.get::<Option<i32>, _>("throttle_rate").map(|v| v as u16),
            metadata: json_col(row, "metadata"),
            headers: json_col(row, "headers"),
        },
        secret: EndpointSecret::parse(&secret).unwrap_or_else(|_| EndpointSecret::generate()),
        retired_secrets: retired_secrets(&json_col::<Vec<StoredSecret>>(row, "old_secrets")),
        created_at: from_ms(row.get("created_at")),
        updated_at: from_ms(row.get("updated_at")),
    }
}

pub(super) fn message(row: &PgRow) -> Message {
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

pub(super) fn attempt(row: &PgRow) -> Attempt {
    // Written from a `String`, so always UTF-8; the lossy read only guards hand edits.
    let response: Vec<u8> = row.get("response");
    Attempt {
        id: AttemptId::from_trusted(row.get("id")),
        msg_id: MessageId::from_trusted(row.get("msg_id")),
        endpoint_id: EndpointId::from_trusted(row.get("endpoint_id")),
        url: row.get("url"),
        response_status_code: row.get::<i16, _>("response_status_code"),
        response: String::from_utf8(response)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        response_duration_ms: row.get("duration_ms"),
        status: DeliveryStatus::from_i64(small(row, "status")),
        trigger_type: TriggerType::from_i64(small(row, "trigger_type")),
        failure_reason: row.get("failure_reason"),
        created_at: from_ms(row.get("created_at")),
    }
}

/// How a retired secret is kept in `endpoint.old_secrets` (the same JSON as on SQLite).
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

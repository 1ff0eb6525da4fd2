//! Turning rows into domain records, once for both backends.
//!
//! The two databases hand back the same columns with different types: SQLite has one
//! INTEGER, PostgreSQL has SMALLINT, INTEGER and BIGINT, and sqlx reads a column only as its
//! exact Rust width; an attempt's response body is TEXT on SQLite and BYTEA on PostgreSQL (a
//! body may hold NUL). [`Cells`] reads a cell as what the domain wants whatever the column's
//! type, so each record is read by one function here. Values written by Kanca are trusted to
//! be valid; JSON columns that fail to parse (only possible by editing the database by hand)
//! read as empty.

use super::from_ms;
use crate::domain::workspace::*;
use crate::domain::*;
use serde::de::DeserializeOwned;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Column, Row, TypeInfo};

/// One row's cells, read by column name.
pub(crate) trait Cells {
    fn text(&self, col: &str) -> String;
    fn opt_text(&self, col: &str) -> Option<String>;
    /// Any integer column, whatever its width.
    fn int(&self, col: &str) -> i64;
    fn opt_int(&self, col: &str) -> Option<i64>;
    fn flag(&self, col: &str) -> bool;
    /// Text kept as text or as bytes (read lossily: Kanca only writes UTF-8 there).
    fn body(&self, col: &str) -> String;
    /// A BLOB (SQLite) or BYTEA (PostgreSQL) column.
    fn bytes(&self, col: &str) -> Vec<u8>;
}

impl Cells for SqliteRow {
    fn text(&self, col: &str) -> String {
        self.get(col)
    }
    fn opt_text(&self, col: &str) -> Option<String> {
        self.get(col)
    }
    fn int(&self, col: &str) -> i64 {
        self.get(col)
    }
    fn opt_int(&self, col: &str) -> Option<i64> {
        self.get(col)
    }
    fn flag(&self, col: &str) -> bool {
        self.get(col)
    }
    fn body(&self, col: &str) -> String {
        self.get(col)
    }
    fn bytes(&self, col: &str) -> Vec<u8> {
        self.get(col)
    }
}

impl Cells for PgRow {
    fn text(&self, col: &str) -> String {
        self.get(col)
    }
    fn opt_text(&self, col: &str) -> Option<String> {
        self.get(col)
    }
    fn int(&self, col: &str) -> i64 {
        self.opt_int(col).unwrap_or_default()
    }
    fn opt_int(&self, col: &str) -> Option<i64> {
        // Found by name once; read by position in the width the column has.
        let column = self.column(col);
        let at = column.ordinal();
        match column.type_info().name() {
            "INT2" => self.get::<Option<i16>, _>(at).map(i64::from),
            "INT4" => self.get::<Option<i32>, _>(at).map(i64::from),
            _ => self.get(at),
        }
    }
    fn flag(&self, col: &str) -> bool {
        self.get(col)
    }
    fn body(&self, col: &str) -> String {
        let bytes: Vec<u8> = self.get(col);
        String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
    fn bytes(&self, col: &str) -> Vec<u8> {
        self.get(col)
    }
}

/// A rusqlite row's cell by column name: the one thing the hot path's two row kinds (a plain
/// [`rusqlite::Row`], and one read through its statement's [`Columns`]) do differently.
pub(crate) trait RawCell {
    fn cell(&self, col: &str) -> Option<rusqlite::types::ValueRef<'_>>;
}

impl RawCell for rusqlite::Row<'_> {
    fn cell(&self, col: &str) -> Option<rusqlite::types::ValueRef<'_>> {
        self.get_ref(col).ok()
    }
}

/// The SQLite hot path's rows (`store/sqlite/hot.rs`). A cell of an unexpected type reads as
/// empty, as a JSON column that does not parse does: only a hand-edited database has one.
impl<R: RawCell> Cells for R {
    fn text(&self, col: &str) -> String {
        self.opt_text(col).unwrap_or_default()
    }
    fn opt_text(&self, col: &str) -> Option<String> {
        cell_text(self.cell(col)?)
    }
    fn int(&self, col: &str) -> i64 {
        self.opt_int(col).unwrap_or_default()
    }
    fn opt_int(&self, col: &str) -> Option<i64> {
        cell_int(self.cell(col)?)
    }
    fn flag(&self, col: &str) -> bool {
        self.int(col) != 0
    }
    fn body(&self, col: &str) -> String {
        self.text(col)
    }
    fn bytes(&self, col: &str) -> Vec<u8> {
        self.cell(col).map(cell_bytes).unwrap_or_default()
    }
}

fn cell_text(v: rusqlite::types::ValueRef<'_>) -> Option<String> {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Text(t) | ValueRef::Blob(t) => Some(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(r) => Some(r.to_string()),
        ValueRef::Null => None,
    }
}

fn cell_int(v: rusqlite::types::ValueRef<'_>) -> Option<i64> {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Integer(i) => Some(i),
        ValueRef::Real(r) => Some(r as i64),
        _ => None,
    }
}

fn cell_bytes(v: rusqlite::types::ValueRef<'_>) -> Vec<u8> {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Text(b) | ValueRef::Blob(b) => b.to_vec(),
        _ => Vec::new(),
    }
}

/// A rusqlite statement's columns by name, looked up once per statement rather than once per
/// cell: rusqlite finds a named column by asking SQLite for each column's name in turn until
/// one matches, and a claimed delivery's row has some forty columns read by name (the
/// endpoint's among them), which made those lookups a tenth of a claim.
pub(crate) struct Columns(std::collections::HashMap<String, usize>);

impl Columns {
    pub fn of(stmt: &rusqlite::Statement<'_>) -> Self {
        let mut by_name = std::collections::HashMap::with_capacity(stmt.column_count());
        for (i, name) in stmt.column_names().into_iter().enumerate() {
            // The first of two columns with one name, as rusqlite's own lookup finds.
            by_name.entry(name.to_ascii_lowercase()).or_insert(i);
        }
        Self(by_name)
    }

    /// `row` (of the statement these columns are of), read by name through this map.
    pub fn on<'a>(&'a self, row: &'a rusqlite::Row<'a>) -> Named<'a> {
        Named { row, columns: self }
    }

    fn at(&self, col: &str) -> Option<usize> {
        match self.0.get(col) {
            Some(i) => Some(*i),
            None => self.0.get(&col.to_ascii_lowercase()).copied(),
        }
    }
}

/// A row read through its statement's [`Columns`].
pub(crate) struct Named<'a> {
    row: &'a rusqlite::Row<'a>,
    columns: &'a Columns,
}

impl RawCell for Named<'_> {
    fn cell(&self, col: &str) -> Option<rusqlite::types::ValueRef<'_>> {
        self.row.get_ref(self.columns.at(col)?).ok()
    }
}

/// A value as the JSON text a column keeps.
pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("plain data serialises")
}

/// A set of names as a JSON array of strings (`NULL` for no set).
pub(crate) fn names_to_json<T: std::fmt::Display>(
    set: &Option<std::collections::BTreeSet<T>>,
) -> Option<String> {
    set.as_ref()
        .map(|s| to_json(&s.iter().map(|v| v.to_string()).collect::<Vec<_>>()))
}

pub(crate) fn json_col<T: DeserializeOwned + Default>(row: &impl Cells, col: &str) -> T {
    opt_json_col(row, col).unwrap_or_default()
}

pub(crate) fn opt_json_col<T: DeserializeOwned>(row: &impl Cells, col: &str) -> Option<T> {
    row.opt_text(col)
        .and_then(|s| serde_json::from_str(&s).ok())
}

pub(crate) fn app(row: &impl Cells) -> Application {
    Application {
        id: AppId::from_trusted(row.text("id")),
        uid: row.opt_text("uid").map(Uid::from_trusted),
        name: row.text("name"),
        throttle_rate: row.opt_int("throttle_rate").map(|v| v as u16),
        metadata: json_col(row, "metadata"),
        created_at: from_ms(row.int("created_at")),
        updated_at: from_ms(row.int("updated_at")),
    }
}

pub(crate) fn event_type(row: &impl Cells) -> EventType {
    EventType {
        name: EventTypeName::from_trusted(row.text("name")),
        description: row.text("description"),
        archived: row.flag("archived"),
        deprecated: row.flag("deprecated"),
        schemas: opt_json_col(row, "schemas"),
        group_name: row.opt_text("group_name"),
        feature_flags: opt_json_col(row, "feature_flags"),
        created_at: from_ms(row.int("created_at")),
        updated_at: from_ms(row.int("updated_at")),
    }
}

pub(crate) fn endpoint(row: &impl Cells) -> Endpoint {
    endpoint_prefixed(row, "")
}

/// Reads an endpoint from columns named as in the `endpoint` table, optionally prefixed
/// (`ep_url` …) when it comes from a join.
pub(crate) fn endpoint_prefixed(row: &impl Cells, p: &str) -> Endpoint {
    // Most reads are unprefixed: no new string per cell for them.
    let col = |c: &'static str| -> std::borrow::Cow<'static, str> {
        if p.is_empty() {
            c.into()
        } else {
            format!("{p}{c}").into()
        }
    };
    let opt_set = |c: &'static str| -> Option<Vec<String>> { opt_json_col(row, &col(c)) };
    let url = row.text(&col("url"));
    Endpoint {
        id: EndpointId::from_trusted(row.text(&col("id"))),
        app_id: AppId::from_trusted(row.text(&col("app_id"))),
        fields: EndpointFields {
            uid: row.opt_text(&col("uid")).map(Uid::from_trusted),
            url: EndpointUrl::from_trusted(&url).unwrap_or_else(|| {
                EndpointUrl::from_trusted("http://invalid.invalid/").expect("valid")
            }),
            description: row.text(&col("description")),
            event_types: opt_set("event_types")
                .map(|v| v.into_iter().map(EventTypeName::from_trusted).collect()),
            channels: opt_set("channels")
                .map(|v| v.into_iter().map(ChannelName::from_trusted).collect()),
            disabled: row.flag(&col("disabled")),
            throttle_rate: row.opt_int(&col("throttle_rate")).map(|v| v as u16),
            metadata: json_col(row, &col("metadata")),
            headers: json_col(row, &col("headers")),
        },
        secret: EndpointSecret::parse(&row.text(&col("secret")))
            .unwrap_or_else(|_| EndpointSecret::generate()),
        retired_secrets: retired_secrets(&json_col::<Vec<StoredSecret>>(row, &col("old_secrets"))),
        created_at: from_ms(row.int(&col("created_at"))),
        updated_at: from_ms(row.int(&col("updated_at"))),
    }
}

pub(crate) fn message(row: &impl Cells) -> Message {
    let channels: Option<Vec<String>> = opt_json_col(row, "channels");
    Message {
        id: MessageId::from_trusted(row.text("id")),
        app_id: AppId::from_trusted(row.text("app_id")),
        event_type: EventTypeName::from_trusted(row.text("event_type")),
        event_id: row.opt_text("event_id"),
        payload: row.opt_text("payload"),
        channels: channels.map(|v| v.into_iter().map(ChannelName::from_trusted).collect()),
        tags: opt_json_col(row, "tags"),
        created_at: from_ms(row.int("created_at")),
        payload_expires_at: from_ms(row.int("payload_expires_at")),
        deliver_at: row.opt_int("deliver_at").map(from_ms),
        received: row
            .opt_text("received")
            .and_then(|t| serde_json::from_str(&t).ok()),
    }
}

/// The headers to pass on from a message's `received` column (JSON of
/// [`crate::domain::sources::ReceivedRequest`]); none when the message did not come from a
/// source.
pub(crate) fn received_headers(json: Option<String>) -> Vec<(String, String)> {
    json.and_then(|t| serde_json::from_str::<crate::domain::sources::ReceivedRequest>(&t).ok())
        .map(|r| r.headers)
        .unwrap_or_default()
}

pub(crate) fn attempt(row: &impl Cells) -> Attempt {
    Attempt {
        id: AttemptId::from_trusted(row.text("id")),
        msg_id: MessageId::from_trusted(row.text("msg_id")),
        endpoint_id: EndpointId::from_trusted(row.text("endpoint_id")),
        url: row.text("url"),
        response_status_code: row.int("response_status_code") as i16,
        response: row.body("response"),
        response_duration_ms: row.int("duration_ms"),
        status: DeliveryStatus::from_i64(row.int("status")),
        trigger_type: TriggerType::from_i64(row.int("trigger_type")),
        failure_reason: row.opt_text("failure_reason"),
        created_at: from_ms(row.int("created_at")),
    }
}

pub(crate) fn channel(r: &impl Cells) -> Channel {
    Channel {
        id: ChannelId::from_trusted(r.text("id")),
        name: SlackChannelName::from_trusted(r.text("name")),
        archived: r.flag("archived"),
        created_at: from_ms(r.int("created_at")),
    }
}

pub(crate) fn channel_message(r: &impl Cells) -> ChannelMessage {
    ChannelMessage {
        channel_id: ChannelId::from_trusted(r.text("channel_id")),
        ts: Ts::from_micros(r.int("ts")),
        text: r.text("text"),
        mrkdwn: r.flag("mrkdwn"),
        username: r.opt_text("username"),
        icon_emoji: r.opt_text("icon_emoji"),
        icon_url: r.opt_text("icon_url"),
        attachments: r.opt_text("attachments"),
        blocks: r.opt_text("blocks"),
        thread_ts: r.opt_int("thread_ts").map(Ts::from_micros),
        posted_by: PosterKind::from_trusted(&r.text("posted_by")),
        poster_name: r.text("poster_name"),
        user_id: r.opt_text("user_id").map(UserId::from_trusted),
        edited: r.opt_int("edited_ts").map(Ts::from_micros),
    }
}

pub(crate) fn incoming_hook(r: &impl Cells) -> IncomingHook {
    let ips: Vec<String> = json_col(r, "allowed_ips");
    let rate = match (r.opt_int("rate_per_sec"), r.opt_int("rate_burst")) {
        (Some(p), Some(b)) => HookRate::parse(p as u32, b as u32).ok(),
        _ => None,
    };
    IncomingHook {
        id: HookId::from_trusted(r.text("id")),
        name: r.text("name"),
        channel_id: ChannelId::from_trusted(r.text("channel_id")),
        username: r.opt_text("username"),
        icon_emoji: r.opt_text("icon_emoji"),
        icon_url: r.opt_text("icon_url"),
        locked: r.flag("locked"),
        rate,
        allowed_ips: AllowedIps::parse(&ips).unwrap_or_default(),
        revoked: r.flag("revoked"),
        created_at: from_ms(r.int("created_at")),
    }
}

pub(crate) fn outgoing_hook(r: &impl Cells) -> OutgoingHook {
    let words: Vec<String> = json_col(r, "trigger_words");
    let urls: Vec<String> = json_col(r, "callback_urls");
    let eps: Vec<String> = json_col(r, "endpoint_ids");
    OutgoingHook {
        id: OutgoingHookId::from_trusted(r.text("id")),
        name: r.text("name"),
        channel_id: r.opt_text("channel_id").map(ChannelId::from_trusted),
        trigger_words: words.into_iter().map(TriggerWord::from_trusted).collect(),
        trigger_when: TriggerWhen::from_trusted(&r.text("trigger_when")),
        callback_urls: urls
            .iter()
            .filter_map(|u| EndpointUrl::from_trusted(u))
            .collect(),
        endpoint_ids: eps.into_iter().map(EndpointId::from_trusted).collect(),
        content_type: OutgoingContentType::from_trusted(&r.text("content_type")),
        token: r.text("token"),
        signing_secret: r.text("signing_secret"),
        created_at: from_ms(r.int("created_at")),
    }
}

pub(crate) fn bin(row: &impl Cells) -> crate::domain::bins::Bin {
    use crate::domain::bins::*;
    Bin {
        id: BinId::from_trusted(row.text("id")),
        settings: BinSettings {
            name: row.opt_text("name"),
            response: crate::store::bins::response_from_json(&row.text("response")),
            max_requests: row.int("max_requests") as u32,
        },
        expires_at: row
            .opt_int("expires_at")
            .map(from_ms)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC),
        created_at: from_ms(row.int("created_at")),
        updated_at: from_ms(row.int("updated_at")),
    }
}

pub(crate) fn capture(row: &impl Cells) -> crate::domain::bins::Capture {
    use crate::domain::bins::*;
    Capture {
        id: CaptureId::from_seq(row.int("seq")),
        bin_id: BinId::from_trusted(row.text("bin_id")),
        method: row.text("method"),
        path: row.text("path"),
        query: row.text("query"),
        headers: crate::store::bins::headers_from_json(&row.text("headers")),
        body: row.bytes("body"),
        remote_addr: row.text("remote_addr"),
        received_at: from_ms(row.int("received_at")),
    }
}

/// Strings as a JSON array, as list columns keep them.
pub(crate) fn json_list<T: AsRef<str>>(items: impl IntoIterator<Item = T>) -> String {
    let v: Vec<String> = items.into_iter().map(|s| s.as_ref().to_owned()).collect();
    serde_json::to_string(&v).expect("strings serialize")
}

/// How a retired secret is kept in `endpoint.old_secrets` (the same JSON on both backends).
#[derive(serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StoredSecret {
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

pub(crate) fn app_token(row: &impl Cells) -> crate::domain::portal::AppToken {
    let capabilities: Vec<String> = json_col(row, "capabilities");
    crate::domain::portal::AppToken {
        id: crate::domain::AppTokenId::from_trusted(row.text("id")),
        app_id: AppId::from_trusted(row.text("app_id")),
        capabilities: crate::domain::portal::Capabilities::from_stored(&capabilities),
        feature_flags: json_col(row, "feature_flags"),
        session_id: row.opt_text("session_id"),
        created_at: from_ms(row.int("created_at")),
        expires_at: from_ms(row.int("expires_at")),
        last_used_at: row.opt_int("last_used_at").map(from_ms),
    }
}

/// A source from its row. Its kind is read back from the type and config Kanca stored; if
/// they no longer parse (a hand-edited database) the row is an error rather than a source
/// that would accept unverified requests.
pub(crate) fn source(row: &impl Cells) -> super::StoreResult<sources::Source> {
    use crate::domain::sources::*;
    let config: serde_json::Value = json_col(row, "config");
    let kind_name = row.text("kind");
    let kind = SourceKind::parse(&kind_name, Some(&config)).map_err(|e| {
        super::StoreError::Other(anyhow::anyhow!("stored source has an unreadable type: {e}"))
    })?;
    Ok(Source {
        id: SourceId::from_trusted(row.text("id")),
        app_id: AppId::from_trusted(row.text("app_id")),
        fields: SourceFields {
            uid: row.opt_text("uid").map(Uid::from_trusted),
            name: row.text("name"),
            kind,
            metadata: json_col(row, "metadata"),
            publish_to: row.opt_text("publish_app_id").map(AppId::from_trusted),
        },
        token: IngestToken::from_trusted(row.text("token")),
        created_at: from_ms(row.int("created_at")),
        updated_at: from_ms(row.int("updated_at")),
    })
}

/// An entry of a source's log from its row.
pub(crate) fn arrival(row: &impl Cells) -> sources::Arrival {
    use crate::domain::sources::*;
    Arrival {
        id: row.int("id"),
        source_id: SourceId::from_trusted(row.text("source_id")),
        received_at: from_ms(row.int("received_at")),
        request: ReceivedRequest {
            method: row.text("method"),
            path: row.text("path"),
            headers: json_col(row, "headers"),
        },
        body_preview: row.text("body"),
        outcome: ArrivalOutcome::from_stored(&row.text("outcome")),
        reason: row.opt_text("reason"),
        dedupe_id: row.opt_text("dedupe_id"),
        msg_id: row.opt_text("msg_id").map(MessageId::from_trusted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reading through [`Columns`] finds what rusqlite's own lookup by name finds: the first of
    /// two columns with one name, names in any case, nothing for a name the row lacks.
    #[test]
    fn cells_read_through_columns_match_reads_by_name() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let mut stmt = conn
            .prepare("SELECT 1 AS id, 'a' AS Url, NULL AS uid, x'ff00' AS body, 2 AS id, 2.5 AS r")
            .unwrap();
        let columns = Columns::of(&stmt);
        stmt.query_row([], |row| {
            let named = columns.on(row);
            for col in ["id", "url", "URL", "uid", "body", "r", "missing"] {
                assert_eq!(named.opt_text(col), row.opt_text(col), "{col}");
                assert_eq!(named.opt_int(col), row.opt_int(col), "{col}");
                assert_eq!(named.bytes(col), row.bytes(col), "{col}");
            }
            assert_eq!(named.int("id"), 1);
            assert_eq!(named.text("Url"), "a");
            assert_eq!(named.opt_text("missing"), None);
            Ok(())
        })
        .unwrap();
    }
}

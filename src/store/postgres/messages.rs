//! Messages, their deliveries and attempts, and idempotency keys.
//!
//! On SQLite one writer makes "look up the key, then write the message" safe. Here two nodes
//! can take the same request at once, so the idempotency row is written *first*, in the
//! message's transaction: the primary key lets one transaction have it, and the other waits
//! on the index until the first commits, then replays its response.

use super::resources::page_sql;
use super::rows::{self, small};
use super::writer::publish_all;
use super::PgStore;
use crate::domain::*;
use crate::store::group_commit::PublishIn;
use crate::store::*;
use async_trait::async_trait;
use sqlx::{PgConnection, Row};

/// How long a response is replayed for its idempotency key (Svix: 24 hours).
const IDEMPOTENCY_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

/// Stores a message and queues its deliveries on `conn`, inside the caller's transaction; the
/// caller commits and then announces the work ([`PgStore::announce_work`]). On `Replayed` the
/// caller must roll back.
pub(super) async fn create_in(
    tx: &mut PgConnection,
    msg: &Message,
    fan_out: &FanOut,
    idempotency: Option<&IdempotentWrite>,
) -> StoreResult<CreateMessageOutcome> {
    // A batch of one: the group-commit writer's statements.
    let one = PublishIn {
        msg,
        fan_out,
        idempotency,
    };
    let (mut outcomes, _) = publish_all(tx, std::slice::from_ref(&one)).await?;
    outcomes
        .pop()
        .ok_or_else(|| StoreError::Other(anyhow::anyhow!("a publish had no outcome")))
}

/// Writes the idempotency row with the response to replay, unless a live one holds the key.
/// Returns whether this request owns the key. A row past the window is overwritten, as
/// SQLite's `INSERT OR REPLACE` does, so an old key can be used again. A concurrent insert of
/// the same key makes this wait until that transaction ends: if it commits, the key is taken;
/// if it rolls back, this one proceeds.
pub(super) async fn take_key(
    conn: &mut PgConnection,
    w: &IdempotentWrite,
    at: DateTime<Utc>,
) -> StoreResult<bool> {
    let now = to_ms(at);
    let taken = sqlx::query(
        "INSERT INTO idempotency (key, scope, status, body, created_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (key, scope) DO UPDATE
            SET status = EXCLUDED.status, body = EXCLUDED.body, created_at = EXCLUDED.created_at
            WHERE idempotency.created_at <= $6
         RETURNING 1",
    )
    .bind(&w.key)
    .bind(&w.scope)
    .bind(w.response.status as i16)
    .bind(&w.response.body)
    .bind(now)
    .bind(now - IDEMPOTENCY_WINDOW_MS)
    .fetch_optional(conn)
    .await?;
    Ok(taken.is_some())
}

pub(super) fn stored_response(row: &sqlx::postgres::PgRow) -> StoredResponse {
    StoredResponse {
        status: row.get::<i16, _>("status") as u16,
        body: row.get("body"),
    }
}

pub(super) async fn get_idempotent(
    s: &PgStore,
    key: &str,
    scope: &str,
) -> StoreResult<Option<StoredResponse>> {
    let row = sqlx::query(
        "SELECT status, body FROM idempotency WHERE key = $1 AND scope = $2 AND created_at > $3",
    )
    .bind(key)
    .bind(scope)
    .bind(to_ms(s.clock.now()) - IDEMPOTENCY_WINDOW_MS)
    .fetch_optional(&s.pool)
    .await?;
    Ok(row.as_ref().map(stored_response))
}

/// Inserts a pending row for the key unless a live one exists; the primary key makes the
/// insert the claim, across nodes.
pub(super) async fn claim_idempotent(
    s: &PgStore,
    key: &str,
    scope: &str,
) -> StoreResult<IdempotencyClaim> {
    let pending = IdempotentWrite {
        key: key.to_owned(),
        scope: scope.to_owned(),
        response: StoredResponse {
            status: IDEMPOTENCY_PENDING,
            body: Vec::new(),
        },
    };
    let mut conn = s.pool.acquire().await?;
    if take_key(&mut conn, &pending, s.clock.now()).await? {
        return Ok(IdempotencyClaim::Claimed);
    }
    let row = sqlx::query("SELECT status, body FROM idempotency WHERE key = $1 AND scope = $2")
        .bind(key)
        .bind(scope)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(match row.as_ref().map(stored_response) {
        Some(r) if r.status != IDEMPOTENCY_PENDING => IdempotencyClaim::Done(r),
        _ => IdempotencyClaim::InProgress,
    })
}

pub(super) async fn release_idempotent(s: &PgStore, key: &str, scope: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM idempotency WHERE key = $1 AND scope = $2 AND status = $3")
        .bind(key)
        .bind(scope)
        .bind(IDEMPOTENCY_PENDING as i16)
        .execute(&s.pool)
        .await?;
    Ok(())
}

pub(super) async fn put_idempotent(s: &PgStore, w: &IdempotentWrite) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO idempotency (key, scope, status, body, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (key, scope) DO UPDATE
            SET status = EXCLUDED.status, body = EXCLUDED.body, created_at = EXCLUDED.created_at",
    )
    .bind(&w.key)
    .bind(&w.scope)
    .bind(w.response.status as i16)
    .bind(&w.response.body)
    .bind(to_ms(s.clock.now()))
    .execute(&s.pool)
    .await?;
    Ok(())
}

#[async_trait]
impl MessageStore for PgStore {
    async fn expunge_all_payloads(&self, app: &AppId) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE message SET payload = NULL WHERE app_id = $1 AND payload IS NOT NULL",
        )
        .bind(app.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn expunge_payload(&self, app: &AppId, msg: &MessageId) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE message SET payload = NULL WHERE app_id = $1 AND id = $2")
            .bind(app.as_str())
            .bind(msg.as_str())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn expunge_attempt_response(
        &self,
        app: &AppId,
        msg: &MessageId,
        attempt: &AttemptId,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE attempt SET response = ''::bytea WHERE app_id = $1 AND msg_id = $2 AND id = $3",
        )
        .bind(app.as_str())
        .bind(msg.as_str())
        .bind(attempt.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn get_message(&self, app: &AppId, id: &MessageId) -> StoreResult<Option<Message>> {
        let row = sqlx::query("SELECT * FROM message WHERE app_id = $1 AND id = $2")
            .bind(app.as_str())
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(rows::message))
    }

    async fn get_message_by_event_id(
        &self,
        app: &AppId,
        event_id: &str,
    ) -> StoreResult<Option<Message>> {
        let row = sqlx::query("SELECT * FROM message WHERE app_id = $1 AND event_id = $2")
            .bind(app.as_str())
            .bind(event_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(rows::message))
    }

    /// The messages queued for one endpoint, with where each stands for it; paged by message id.
    async fn endpoint_messages(
        &self,
        app: &AppId,
        endpoint: &EndpointId,
        page: &PageRequest,
        filter: &EndpointMessageFilter,
    ) -> StoreResult<Vec<EndpointMessage>> {
        let (cmp, dir) = page_sql(page);
        let f = &filter.messages;
        let types: Option<Vec<&str>> = f
            .event_types
            .as_ref()
            .map(|t| t.iter().map(|n| n.as_str()).collect());
        let sql = format!(
            "SELECT d.status AS d_status, d.next_attempt_at AS d_next, m.*
         FROM delivery d JOIN message m ON m.id = d.msg_id
         WHERE d.app_id = $1 AND d.endpoint_id = $2 AND ($3::text IS NULL OR m.id {cmp} $3)
           AND ($4::text[] IS NULL OR m.event_type = ANY($4))
           AND ($5::text IS NULL OR m.channels::jsonb @> jsonb_build_array($5::text))
           AND ($6::bigint IS NULL OR m.created_at < $6)
           AND ($7::bigint IS NULL OR m.created_at > $7)
           AND ($8::smallint IS NULL OR d.status = $8)
         ORDER BY m.id {dir} LIMIT $9"
        );
        let rows = sqlx::query(&sql)
            .bind(app.as_str())
            .bind(endpoint.as_str())
            .bind(page.iterator.as_deref())
            .bind(types)
            .bind(f.channel.as_ref().map(|c| c.as_str()))
            .bind(f.before.map(to_ms))
            .bind(f.after.map(to_ms))
            .bind(filter.status.map(|s| s as i16))
            .bind(i64::from(page.limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|row| {
                let status = DeliveryStatus::from_i64(small(row, "d_status"));
                EndpointMessage {
                    message: rows::message(row),
                    status,
                    next_attempt_at: status
                        .is_open()
                        .then(|| row.get::<Option<i64>, _>("d_next").map(from_ms))
                        .flatten(),
                }
            })
            .collect())
    }

    async fn list_messages(
        &self,
        app: &AppId,
        page: &PageRequest,
        filter: &MessageFilter,
    ) -> StoreResult<Vec<Message>> {
        let (cmp, dir) = page_sql(page);
        let types: Option<Vec<&str>> = filter
            .event_types
            .as_ref()
            .map(|t| t.iter().map(|n| n.as_str()).collect());
        // `channels` is JSON text written by Kanca (names from a safe alphabet), so the cast to
        // JSONB cannot fail; NULL channels match no channel filter, as on SQLite.
        let sql = format!(
            "SELECT * FROM message m
         WHERE app_id = $1 AND ($2::text IS NULL OR id {cmp} $2)
           AND ($3::text[] IS NULL OR event_type = ANY($3))
           AND ($4::text IS NULL OR m.channels::jsonb @> jsonb_build_array($4::text))
           AND ($5::bigint IS NULL OR created_at < $5)
           AND ($6::bigint IS NULL OR created_at > $6)
           AND ($7::smallint IS NULL OR EXISTS (SELECT 1 FROM delivery d WHERE d.msg_id = m.id AND d.status = $7))
         ORDER BY id {dir} LIMIT $8"
        );
        let rows = sqlx::query(&sql)
            .bind(app.as_str())
            .bind(page.iterator.as_deref())
            .bind(types)
            .bind(filter.channel.as_ref().map(|c| c.as_str()))
            .bind(filter.before.map(to_ms))
            .bind(filter.after.map(to_ms))
            .bind(filter.status.map(|s| s as i16))
            .bind(i64::from(page.limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(rows::message).collect())
    }

    async fn message_destinations(
        &self,
        app: &AppId,
        msg: &MessageId,
        page: &PageRequest,
    ) -> StoreResult<Vec<MessageDestination>> {
        let (cmp, dir) = page_sql(page);
        let sql = format!(
            "SELECT d.status AS d_status, d.next_attempt_at AS d_next, e.*
         FROM delivery d JOIN endpoint e ON e.id = d.endpoint_id
         WHERE d.app_id = $1 AND d.msg_id = $2 AND ($3::text IS NULL OR e.id {cmp} $3)
         ORDER BY e.id {dir} LIMIT $4"
        );
        let rows = sqlx::query(&sql)
            .bind(app.as_str())
            .bind(msg.as_str())
            .bind(page.iterator.as_deref())
            .bind(i64::from(page.limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|row| {
                let status = DeliveryStatus::from_i64(small(row, "d_status"));
                MessageDestination {
                    endpoint: rows::endpoint(row),
                    status,
                    next_attempt_at: match status {
                        DeliveryStatus::Pending | DeliveryStatus::Sending => {
                            row.get::<Option<i64>, _>("d_next").map(from_ms)
                        }
                        _ => None,
                    },
                }
            })
            .collect())
    }

    async fn list_attempts(
        &self,
        app: &AppId,
        filter: &AttemptFilter,
        page: &PageRequest,
    ) -> StoreResult<Vec<Attempt>> {
        let (cmp, dir) = page_sql(page);
        let sql = format!(
            "SELECT * FROM attempt
         WHERE app_id = $1 AND ($2::text IS NULL OR msg_id = $2)
           AND ($3::text IS NULL OR endpoint_id = $3)
           AND ($4::smallint IS NULL OR status = $4) AND ($5::text IS NULL OR id {cmp} $5)
         ORDER BY id {dir} LIMIT $6"
        );
        let rows = sqlx::query(&sql)
            .bind(app.as_str())
            .bind(filter.msg_id.as_ref().map(|m| m.as_str()))
            .bind(filter.endpoint_id.as_ref().map(|e| e.as_str()))
            .bind(filter.status.map(|st| st as i16))
            .bind(page.iterator.as_deref())
            .bind(i64::from(page.limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(rows::attempt).collect())
    }

    async fn get_attempt(
        &self,
        app: &AppId,
        msg: &MessageId,
        id: &AttemptId,
    ) -> StoreResult<Option<Attempt>> {
        let row =
            sqlx::query("SELECT * FROM attempt WHERE app_id = $1 AND msg_id = $2 AND id = $3")
                .bind(app.as_str())
                .bind(msg.as_str())
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.as_ref().map(rows::attempt))
    }
}

//! Messages, their deliveries and attempts, and idempotency keys.

use super::batch::publish_all;
use super::resources::page_sql;
use super::rows::{self, to_json};
use super::SqliteStore;
use crate::domain::*;
use crate::store::group_commit::PublishIn;
use crate::store::rules::{self, EndpointsByApp};
use crate::store::*;
use async_trait::async_trait;
use sqlx::{Row, SqliteConnection, SqlitePool};

/// How long a response is replayed for its idempotency key (Svix: 24 hours).
pub(super) const IDEMPOTENCY_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

/// The endpoints a message goes to, and how its deliveries are triggered
/// ([`rules::fan_out_targets`]). Read inside the writing transaction, so an endpoint created or
/// disabled concurrently is either fully in or fully out of the message's deliveries.
pub(super) async fn targets(
    conn: &mut SqliteConnection,
    cache: &mut EndpointsByApp,
    msg: &Message,
    fan_out: &FanOut,
) -> StoreResult<(Vec<String>, TriggerType)> {
    let enabled = match cache.get(&msg.app_id) {
        Some(eps) => eps,
        None => {
            let eps = sqlx::query("SELECT * FROM endpoint WHERE app_id = ? AND disabled = 0")
                .bind(msg.app_id.as_str())
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(rows::endpoint)
                .collect();
            cache.insert(&msg.app_id, eps)
        }
    };
    Ok(rules::fan_out_targets(enabled, msg, fan_out))
}

/// Stores one message and queues its deliveries on `conn`, inside the caller's transaction:
/// a batch of one ([`publish_all`]), so one write and many take the same path.
pub(super) async fn create_in(
    conn: &mut SqliteConnection,
    cache: &mut EndpointsByApp,
    msg: &Message,
    fan_out: &FanOut,
    idempotency: Option<&IdempotentWrite>,
    now: DateTime<Utc>,
) -> StoreResult<CreateMessageOutcome> {
    let one = PublishIn {
        msg,
        fan_out,
        idempotency,
    };
    let mut outcomes = publish_all(conn, cache, std::slice::from_ref(&one), now).await?;
    outcomes
        .pop()
        .ok_or_else(|| StoreError::Other(anyhow::anyhow!("a publish had no outcome")))
}

pub(super) async fn find_idempotent(
    conn: &mut SqliteConnection,
    key: &str,
    scope: &str,
    now: DateTime<Utc>,
) -> StoreResult<Option<StoredResponse>> {
    let row = sqlx::query(
        "SELECT status, body FROM idempotency WHERE key = ? AND scope = ? AND created_at > ?",
    )
    .bind(key)
    .bind(scope)
    .bind(to_ms(now) - IDEMPOTENCY_WINDOW_MS)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| StoredResponse {
        status: r.get::<i64, _>("status") as u16,
        body: r.get("body"),
    }))
}

pub(super) async fn get_idempotent(
    pool: &SqlitePool,
    key: &str,
    scope: &str,
    now: DateTime<Utc>,
) -> StoreResult<Option<StoredResponse>> {
    let mut conn = pool.acquire().await?;
    find_idempotent(&mut conn, key, scope, now).await
}

pub(super) async fn put_idempotent(
    conn: &mut SqliteConnection,
    w: &IdempotentWrite,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query("INSERT OR REPLACE INTO idempotency (key, scope, status, body, created_at) VALUES (?, ?, ?, ?, ?)")
        .bind(&w.key)
        .bind(&w.scope)
        .bind(i64::from(w.response.status))
        .bind(&w.response.body)
        .bind(to_ms(now))
        .execute(conn)
        .await?;
    Ok(())
}

/// Inserts a pending row for the key unless a live one exists (one writer, so the
/// statement is atomic); an expired row is taken over.
pub(super) async fn claim_idempotent(
    conn: &mut SqliteConnection,
    key: &str,
    scope: &str,
    at: DateTime<Utc>,
) -> StoreResult<IdempotencyClaim> {
    let now = to_ms(at);
    let taken = sqlx::query(
        "INSERT INTO idempotency (key, scope, status, body, created_at) VALUES (?, ?, ?, x'', ?)
         ON CONFLICT (key, scope) DO UPDATE
            SET status = excluded.status, body = excluded.body, created_at = excluded.created_at
            WHERE idempotency.created_at <= ?",
    )
    .bind(key)
    .bind(scope)
    .bind(i64::from(IDEMPOTENCY_PENDING))
    .bind(now)
    .bind(now - IDEMPOTENCY_WINDOW_MS)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        > 0;
    if taken {
        return Ok(IdempotencyClaim::Claimed);
    }
    Ok(match find_idempotent(conn, key, scope, at).await? {
        Some(r) if r.status != IDEMPOTENCY_PENDING => IdempotencyClaim::Done(r),
        _ => IdempotencyClaim::InProgress,
    })
}

pub(super) async fn release_idempotent(
    conn: &mut SqliteConnection,
    key: &str,
    scope: &str,
) -> StoreResult<()> {
    sqlx::query("DELETE FROM idempotency WHERE key = ? AND scope = ? AND status = ?")
        .bind(key)
        .bind(scope)
        .bind(i64::from(IDEMPOTENCY_PENDING))
        .execute(conn)
        .await?;
    Ok(())
}

#[async_trait]
impl MessageStore for SqliteStore {
    async fn expunge_all_payloads(&self, app: &AppId) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE message SET payload = NULL WHERE app_id = ?1 AND payload IS NOT NULL",
        )
        .bind(app.as_str())
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected())
    }

    async fn expunge_payload(&self, app: &AppId, msg: &MessageId) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE message SET payload = NULL WHERE app_id = ? AND id = ?")
            .bind(app.as_str())
            .bind(msg.as_str())
            .execute(&self.write)
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
            "UPDATE attempt SET response = '' WHERE app_id = ? AND msg_id = ? AND id = ?",
        )
        .bind(app.as_str())
        .bind(msg.as_str())
        .bind(attempt.as_str())
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn get_message(&self, app: &AppId, id: &MessageId) -> StoreResult<Option<Message>> {
        let row = sqlx::query("SELECT * FROM message WHERE app_id = ? AND id = ?")
            .bind(app.as_str())
            .bind(id.as_str())
            .fetch_optional(&self.read)
            .await?;
        Ok(row.as_ref().map(rows::message))
    }

    async fn get_message_by_event_id(
        &self,
        app: &AppId,
        event_id: &str,
    ) -> StoreResult<Option<Message>> {
        let row = sqlx::query("SELECT * FROM message WHERE app_id = ? AND event_id = ?")
            .bind(app.as_str())
            .bind(event_id)
            .fetch_optional(&self.read)
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
        let types = f
            .event_types
            .as_ref()
            .map(|t| to_json(&t.iter().map(|n| n.as_str()).collect::<Vec<_>>()));
        let sql = format!(
            "SELECT d.status AS d_status, d.next_attempt_at AS d_next, m.*
         FROM delivery d JOIN message m ON m.id = d.msg_id
         WHERE d.app_id = ?1 AND d.endpoint_id = ?2 AND (?3 IS NULL OR m.id {cmp} ?3)
           AND (?4 IS NULL OR m.event_type IN (SELECT value FROM json_each(?4)))
           AND (?5 IS NULL OR EXISTS (SELECT 1 FROM json_each(m.channels) WHERE value = ?5))
           AND (?6 IS NULL OR m.created_at < ?6)
           AND (?7 IS NULL OR m.created_at > ?7)
           AND (?8 IS NULL OR d.status = ?8)
         ORDER BY m.id {dir} LIMIT ?9"
        );
        let rows = sqlx::query(&sql)
            .bind(app.as_str())
            .bind(endpoint.as_str())
            .bind(page.iterator.as_deref())
            .bind(types)
            .bind(f.channel.as_ref().map(|c| c.as_str()))
            .bind(f.before.map(to_ms))
            .bind(f.after.map(to_ms))
            .bind(filter.status.map(|s| s as i64))
            .bind(i64::from(page.limit))
            .fetch_all(&self.read)
            .await?;
        Ok(rows
            .iter()
            .map(|row| {
                let status = DeliveryStatus::from_i64(row.get("d_status"));
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
        let types = filter
            .event_types
            .as_ref()
            .map(|t| to_json(&t.iter().map(|n| n.as_str()).collect::<Vec<_>>()));
        let sql = format!(
            "SELECT * FROM message m
         WHERE app_id = ?1 AND (?2 IS NULL OR id {cmp} ?2)
           AND (?3 IS NULL OR event_type IN (SELECT value FROM json_each(?3)))
           AND (?4 IS NULL OR EXISTS (SELECT 1 FROM json_each(m.channels) WHERE value = ?4))
           AND (?5 IS NULL OR created_at < ?5)
           AND (?6 IS NULL OR created_at > ?6)
           AND (?7 IS NULL OR EXISTS (SELECT 1 FROM delivery d WHERE d.msg_id = m.id AND d.status = ?7))
         ORDER BY id {dir} LIMIT ?8"
        );
        let rows = sqlx::query(&sql)
            .bind(app.as_str())
            .bind(page.iterator.as_deref())
            .bind(types)
            .bind(filter.channel.as_ref().map(|c| c.as_str()))
            .bind(filter.before.map(to_ms))
            .bind(filter.after.map(to_ms))
            .bind(filter.status.map(|s| s as i64))
            .bind(i64::from(page.limit))
            .fetch_all(&self.read)
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
         WHERE d.app_id = ?1 AND d.msg_id = ?2 AND (?3 IS NULL OR e.id {cmp} ?3)
         ORDER BY e.id {dir} LIMIT ?4"
        );
        let rows = sqlx::query(&sql)
            .bind(app.as_str())
            .bind(msg.as_str())
            .bind(page.iterator.as_deref())
            .bind(i64::from(page.limit))
            .fetch_all(&self.read)
            .await?;
        Ok(rows
            .iter()
            .map(|row| {
                let status = DeliveryStatus::from_i64(row.get("d_status"));
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
         WHERE app_id = ?1 AND (?2 IS NULL OR msg_id = ?2) AND (?3 IS NULL OR endpoint_id = ?3)
           AND (?4 IS NULL OR status = ?4) AND (?5 IS NULL OR id {cmp} ?5)
         ORDER BY id {dir} LIMIT ?6"
        );
        let rows = sqlx::query(&sql)
            .bind(app.as_str())
            .bind(filter.msg_id.as_ref().map(|m| m.as_str()))
            .bind(filter.endpoint_id.as_ref().map(|e| e.as_str()))
            .bind(filter.status.map(|st| st as i64))
            .bind(page.iterator.as_deref())
            .bind(i64::from(page.limit))
            .fetch_all(&self.read)
            .await?;
        Ok(rows.iter().map(rows::attempt).collect())
    }

    async fn get_attempt(
        &self,
        app: &AppId,
        msg: &MessageId,
        id: &AttemptId,
    ) -> StoreResult<Option<Attempt>> {
        let row = sqlx::query("SELECT * FROM attempt WHERE app_id = ? AND msg_id = ? AND id = ?")
            .bind(app.as_str())
            .bind(msg.as_str())
            .bind(id.as_str())
            .fetch_optional(&self.read)
            .await?;
        Ok(row.as_ref().map(rows::attempt))
    }
}

//! The delivery queue: claiming due work with a lease, and recording what happened.

use super::rows::{self, to_json};
use super::SqliteStore;
use crate::domain::*;
use crate::store::cells::received_headers;
use crate::store::rules::{status, trigger};
use crate::store::*;
use async_trait::async_trait;
use sqlx::Row;

#[async_trait]
impl QueueStore for SqliteStore {
    async fn replay_candidates(
        &self,
        app: &AppId,
        endpoint: &EndpointId,
        which: ReplayWhich,
        window: (DateTime<Utc>, DateTime<Utc>),
        after: Option<&MessageId>,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        let (queued, status) = match which {
            ReplayWhich::Missing => (false, None),
            ReplayWhich::Sent(status) => (true, status.map(|s| s as i64)),
        };
        let rows = sqlx::query(
            "SELECT * FROM message m
             WHERE m.app_id = ?1 AND m.created_at >= ?2 AND m.created_at < ?3
               AND m.payload IS NOT NULL AND (?4 IS NULL OR m.id > ?4)
               AND EXISTS (SELECT 1 FROM delivery d WHERE d.msg_id = m.id AND d.endpoint_id = ?5
                             AND (?6 IS NULL OR d.status = ?6)) = ?7
             ORDER BY m.id LIMIT ?8",
        )
        .bind(app.as_str())
        .bind(to_ms(window.0))
        .bind(to_ms(window.1))
        .bind(after.map(|m| m.as_str()))
        .bind(endpoint.as_str())
        .bind(status)
        .bind(queued)
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        Ok(rows.iter().map(rows::message).collect())
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        limit: u32,
        lease: Duration,
    ) -> StoreResult<Vec<DeliveryJob>> {
        let now_ms = to_ms(now);
        let lease_until = now_ms + lease.as_millis() as i64;
        let mut tx = self.write.begin().await?;
        // Two index scans joined by UNION ALL (an OR would defeat the partial indexes): work
        // whose lease ran out (its worker died; rare, and overdue by then) first, so a backlog of
        // due work cannot starve it, then due pending work in due order.
        let ids: Vec<i64> = sqlx::query(concat!(
            "UPDATE delivery SET status = ",
            status!(Sending),
            ", lease_until = ?1, leased_by = ?4, updated_at = ?2, paced = 0
         WHERE id IN (
            SELECT id FROM (
                SELECT id FROM (SELECT id FROM delivery WHERE status = ",
            status!(Sending),
            " AND lease_until < ?2
                                ORDER BY lease_until LIMIT ?3)
                UNION ALL
                SELECT id FROM (SELECT id FROM delivery WHERE status = ",
            status!(Pending),
            " AND next_attempt_at <= ?2
                                ORDER BY next_attempt_at LIMIT ?3)
            ) LIMIT ?3)
         RETURNING id"
        ))
        .bind(lease_until)
        .bind(now_ms)
        .bind(i64::from(limit))
        .bind(&self.node)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
        if ids.is_empty() {
            tx.commit().await?;
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
        "SELECT d.id AS d_id, d.attempts AS d_attempts, d.trigger_type AS d_trigger, d.reserved AS d_reserved,
                d.recovering AS d_recovering, m.id AS m_id, m.event_type AS m_event_type, m.event_id AS m_event_id, m.payload AS m_payload, m.received AS m_received, e.*
         FROM delivery d
         JOIN message m ON m.id = d.msg_id
         JOIN endpoint e ON e.id = d.endpoint_id
         WHERE d.id IN (SELECT value FROM json_each(?))
         ORDER BY d.id",
    )
    .bind(to_json(&ids))
    .fetch_all(&mut *tx)
    .await?;
        tx.commit().await?;
        Ok(rows
            .iter()
            .map(|row| {
                let endpoint = rows::endpoint(row);
                DeliveryJob {
                    delivery_id: row.get("d_id"),
                    msg_id: MessageId::from_trusted(row.get("m_id")),
                    app_id: endpoint.app_id.clone(),
                    event_type: EventTypeName::from_trusted(row.get("m_event_type")),
                    event_id: row.get("m_event_id"),
                    payload: row.get("m_payload"),
                    attempts_made: row.get::<i64, _>("d_attempts") as u32,
                    reserved: row.get("d_reserved"),
                    trigger: TriggerType::from_i64(row.get("d_trigger")),
                    recovering: row.get::<i64, _>("d_recovering") != 0,
                    received_headers: received_headers(row.get("m_received")),
                    endpoint,
                }
            })
            .collect())
    }

    async fn clear_expired_payloads(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<u64> {
        let done = sqlx::query(
        "UPDATE message SET payload = NULL
         WHERE id IN (SELECT id FROM message WHERE payload IS NOT NULL AND payload_expires_at <= ? LIMIT ?)",
    )
    .bind(to_ms(now))
    .bind(i64::from(limit))
    .execute(&self.write)
    .await?;
        Ok(done.rows_affected())
    }

    async fn next_due_at(&self) -> StoreResult<Option<DateTime<Utc>>> {
        let row = sqlx::query(concat!(
            "SELECT MIN(t) FROM (
            SELECT MIN(next_attempt_at) AS t FROM delivery WHERE status = ",
            status!(Pending),
            "
            UNION ALL
            SELECT MIN(lease_until) AS t FROM delivery WHERE status = ",
            status!(Sending),
            ")"
        ))
        .fetch_one(&self.read)
        .await?;
        Ok(row.get::<Option<i64>, _>(0).map(from_ms))
    }

    async fn defer(&self, deferrals: &[Deferral]) -> StoreResult<()> {
        if deferrals.is_empty() {
            return Ok(());
        }
        // One statement for the lot: each statement is a round trip to the connection's thread.
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(concat!(
            "UPDATE delivery SET status = ",
            status!(Pending),
            ", next_attempt_at = v.column2, reserved = v.column3,
                paced = v.column4, lease_until = NULL, leased_by = NULL
         FROM ("
        ));
        q.push_values(deferrals, |mut row, d| {
            row.push_bind(d.delivery_id)
                .push_bind(to_ms(d.until))
                .push_bind(d.reserved)
                .push_bind(d.paced);
        });
        // Only deliveries this node still holds: a lease that ran out is someone else's now.
        q.push(concat!(
            ") AS v WHERE delivery.id = v.column1 AND delivery.status = ",
            status!(Sending),
            " AND delivery.leased_by = "
        ));
        q.push_bind(&self.node);
        q.build().execute(&self.write).await?;
        Ok(())
    }

    async fn recall_paced(&self, endpoint: &EndpointId, now: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query(concat!(
            "UPDATE delivery SET next_attempt_at = ?2, paced = 0
         WHERE endpoint_id = ?1 AND status = ",
            status!(Pending),
            " AND paced = 1 AND next_attempt_at > ?2"
        ))
        .bind(endpoint.as_str())
        .bind(to_ms(now))
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected())
    }

    async fn queue_depth(&self, now: DateTime<Utc>) -> StoreResult<(i64, i64)> {
        let row = sqlx::query(
        concat!("SELECT COALESCE(SUM(next_attempt_at <= ?1), 0) AS due, COALESCE(SUM(next_attempt_at > ?1), 0) AS later
         FROM delivery WHERE status = ", status!(Pending)),
    )
    .bind(to_ms(now))
    .fetch_one(&self.read)
    .await?;
        Ok((row.get("due"), row.get("later")))
    }

    async fn release_own_leases(&self) -> StoreResult<u64> {
        let now = to_ms(self.clock.now());
        let done = sqlx::query(concat!(
            "UPDATE delivery SET status = ",
            status!(Pending),
            ", lease_until = NULL, leased_by = NULL, next_attempt_at = ?,
                updated_at = ?
         WHERE status = ",
            status!(Sending)
        ))
        .bind(now)
        .bind(now)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected())
    }

    async fn requeue(
        &self,
        app: &AppId,
        msg: &MessageId,
        endpoint: &EndpointId,
    ) -> StoreResult<bool> {
        let now = to_ms(self.clock.now());
        let done = sqlx::query(concat!(
            "INSERT INTO delivery (msg_id, endpoint_id, app_id, status, attempts, next_attempt_at,
                               trigger_type, created_at, updated_at)
         VALUES (?1, ?2, ?3, ",
            status!(Pending),
            ", 0, ?4, ",
            trigger!(Manual),
            ", ?4, ?4)
         ON CONFLICT (msg_id, endpoint_id) DO UPDATE
            SET status = ",
            status!(Pending),
            ", attempts = 0, next_attempt_at = ?4, lease_until = NULL,
                trigger_type = ",
            trigger!(Manual),
            ", updated_at = ?4,
                recovering = CASE WHEN delivery.status = ",
            status!(Success),
            " THEN 0
                                  WHEN delivery.status = ",
            status!(Fail),
            " OR delivery.attempts >= ?5 THEN 1
                                  ELSE delivery.recovering END
            WHERE delivery.status != ",
            status!(Sending)
        ))
        .bind(msg.as_str())
        .bind(endpoint.as_str())
        .bind(app.as_str())
        .bind(now)
        .bind(i64::from(FAILING_AFTER_ATTEMPTS))
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn recover_failed(
        &self,
        app: &AppId,
        endpoint: &EndpointId,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let now = to_ms(self.clock.now());
        let done = sqlx::query(
        concat!("UPDATE delivery SET status = ", status!(Pending), ", attempts = 0, next_attempt_at = ?1, lease_until = NULL,
                trigger_type = ",
            trigger!(Manual),
            ", updated_at = ?1, recovering = 1
         WHERE app_id = ?2 AND endpoint_id = ?3 AND status = ", status!(Fail), "
           AND msg_id IN (SELECT id FROM message WHERE app_id = ?2 AND created_at >= ?4 AND created_at < ?5)"),
    )
    .bind(now)
    .bind(app.as_str())
    .bind(endpoint.as_str())
    .bind(to_ms(since))
    .bind(to_ms(until))
    .execute(&self.write)
    .await?;
        Ok(done.rows_affected())
    }
}

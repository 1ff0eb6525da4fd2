//! The delivery queue: claiming due work with a lease, recording what happened, and telling
//! the other nodes when there is new work.
//!
//! Several nodes claim from the same table at once. A claim locks the rows it picks with
//! `FOR UPDATE SKIP LOCKED` and marks them sending (status 3) with a lease, in one statement:
//! a row another node is claiming is skipped rather than waited for, and a row it has just
//! claimed no longer matches once its lock is released, so no delivery is ever handed to two
//! nodes. A node that dies leaves its leases to run out; the next claim after that takes the
//! deliveries back.
//!
//! New work is announced with `NOTIFY kanca_work` inside the transaction that creates it;
//! PostgreSQL delivers it only on commit (and folds repeats within one transaction into
//! one), so a listener never wakes for work it cannot yet see.

use super::rows::{self, small};
use super::PgStore;
use crate::domain::*;
use crate::store::cells::received_headers;
use crate::store::rules::{status, trigger};
use crate::store::*;
use async_trait::async_trait;
use sqlx::Row;
use tokio_util::sync::CancellationToken;

/// The channel every node listens on.
const WORK_CHANNEL: &str = "kanca_work";

/// Announces new work to every node's [`watch_new_work`], when the caller's transaction
/// commits.
/// Tells every node that work was queued, once per burst: each call to
/// [`PgStore::announce_work`] after a commit pokes this task, pokes that come while it is
/// sending coalesce into the next `NOTIFY`. A `NOTIFY` inside the writing transaction would
/// have been exactly once per commit, but PostgreSQL serialises committing transactions that
/// notify behind one global lock, which capped publishing at a few hundred per second. A node
/// that dies between its commit and the announcement only costs the others a safety poll.
pub(super) async fn announce_work_forever(
    pool: sqlx::PgPool,
    pokes: std::sync::Arc<tokio::sync::Notify>,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = pokes.notified() => {}
            _ = stop.cancelled() => return,
        }
        if let Err(e) = sqlx::query("SELECT pg_notify($1, '')")
            .bind(WORK_CHANNEL)
            .execute(&pool)
            .await
        {
            tracing::warn!(error = %e, "could not announce new work to other nodes");
        }
    }
}

/// Calls `on_work` for every notification on [`WORK_CHANNEL`] (and once after a lost
/// connection, since news may have been missed), until the store is dropped.
pub(super) async fn watch_new_work(
    s: &PgStore,
    on_work: std::sync::Arc<dyn Fn() + Send + Sync>,
) -> StoreResult<()> {
    super::notify::watch(s, WORK_CHANNEL, std::sync::Arc::new(move |_| on_work())).await
}

#[async_trait]
impl QueueStore for PgStore {
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
            ReplayWhich::Sent(status) => (true, status.map(|s| s as i16)),
        };
        let rows = sqlx::query(
            "SELECT * FROM message m
             WHERE m.app_id = $1 AND m.created_at >= $2 AND m.created_at < $3
               AND m.payload IS NOT NULL AND ($4 IS NULL OR m.id > $4)
               AND EXISTS (SELECT 1 FROM delivery d WHERE d.msg_id = m.id AND d.endpoint_id = $5
                             AND ($6 IS NULL OR d.status = $6)) = $7
             ORDER BY m.id LIMIT $8",
        )
        .bind(app.as_str())
        .bind(to_ms(window.0))
        .bind(to_ms(window.1))
        .bind(after.map(|m| m.as_str()))
        .bind(endpoint.as_str())
        .bind(status)
        .bind(queued)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
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
        // Work whose lease ran out (its node died) first, so a backlog of due work cannot starve
        // it, then due pending work in due order, as on SQLite. Two arms rather than one `(status = 1 AND …) OR (status = 3 AND …) ORDER BY
        // next_attempt_at`: each arm is an ordered range scan of its partial index that stops
        // after `limit` rows, where the OR would read every matching row and sort them, or walk
        // the future schedule, on every claim. The lock is taken in each arm (FOR UPDATE is not
        // allowed on a UNION); rows locked but cut by the final LIMIT are freed at commit and
        // claimed next time. The join reads what the sender needs in the same round trip.
        let rows = sqlx::query(
        concat!("WITH expired AS (
            SELECT id FROM delivery WHERE status = ", status!(Sending), " AND lease_until < $2
            ORDER BY lease_until LIMIT $3 FOR UPDATE SKIP LOCKED
         ), due AS (
            SELECT id FROM delivery WHERE status = ", status!(Pending), " AND next_attempt_at <= $2
            ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED
         ), claimed AS (
            UPDATE delivery SET status = ", status!(Sending), ", lease_until = $1, leased_by = $4, updated_at = $2, paced = FALSE
            WHERE id IN (SELECT id FROM (SELECT id FROM expired UNION ALL SELECT id FROM due) AS c
                         LIMIT $3)
            RETURNING id, msg_id, endpoint_id, attempts, trigger_type, reserved, recovering
         )
         SELECT c.id AS d_id, c.attempts AS d_attempts, c.trigger_type AS d_trigger,
                c.reserved AS d_reserved, c.recovering AS d_recovering, m.id AS m_id, m.event_type AS m_event_type,
                m.event_id AS m_event_id, m.payload AS m_payload, m.received AS m_received, e.*
         FROM claimed c
         JOIN message m ON m.id = c.msg_id
         JOIN endpoint e ON e.id = c.endpoint_id
         ORDER BY c.id"),
    )
    .bind(lease_until)
    .bind(now_ms)
    .bind(i64::from(limit))
    .bind(&self.node)
    .fetch_all(&self.pool)
    .await?;
        let mut endpoints = crate::store::rules::ClaimedEndpoints::default();
        Ok(rows
            .iter()
            .map(|row| {
                let endpoint = endpoints.get_or_read(row.get("id"), || rows::endpoint(row));
                DeliveryJob {
                    delivery_id: row.get("d_id"),
                    msg_id: MessageId::from_trusted(row.get("m_id")),
                    app_id: endpoint.app_id.clone(),
                    event_type: EventTypeName::from_trusted(row.get("m_event_type")),
                    event_id: row.get("m_event_id"),
                    payload: row.get("m_payload"),
                    attempts_made: row.get::<i32, _>("d_attempts") as u32,
                    reserved: row.get("d_reserved"),
                    trigger: TriggerType::from_i64(small(row, "d_trigger")),
                    recovering: small(row, "d_recovering") != 0,
                    received_headers: received_headers(row.get("m_received")),
                    endpoint,
                }
            })
            .collect())
    }

    async fn clear_expired_payloads(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<u64> {
        // SKIP LOCKED: every node runs the sweep; each takes a different batch instead of queueing
        // behind the others' row locks.
        let done = sqlx::query(
            "UPDATE message SET payload = NULL
         WHERE id IN (SELECT id FROM message WHERE payload IS NOT NULL AND payload_expires_at <= $1
                      LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(to_ms(now))
        .bind(i64::from(limit))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn next_due_at(&self) -> StoreResult<Option<DateTime<Utc>>> {
        // LEAST ignores NULLs; each MIN is one probe of its partial index.
        let at: Option<i64> = sqlx::query_scalar(concat!(
            "SELECT LEAST((SELECT MIN(next_attempt_at) FROM delivery WHERE status = ",
            status!(Pending),
            "),
                      (SELECT MIN(lease_until) FROM delivery WHERE status = ",
            status!(Sending),
            "))"
        ))
        .fetch_one(&self.pool)
        .await?;
        Ok(at.map(from_ms))
    }

    async fn defer(&self, deferrals: &[Deferral]) -> StoreResult<()> {
        if deferrals.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = deferrals.iter().map(|d| d.delivery_id).collect();
        let until: Vec<i64> = deferrals.iter().map(|d| to_ms(d.until)).collect();
        let reserved: Vec<bool> = deferrals.iter().map(|d| d.reserved).collect();
        let paced: Vec<bool> = deferrals.iter().map(|d| d.paced).collect();
        // One statement for the batch, atomic on its own: no `BEGIN`/`COMMIT` round trips
        // around it. `status = 3`: a delivery whose lease ran out and that another node has
        // claimed and finished meanwhile is not moved back.
        sqlx::query(concat!(
            "UPDATE delivery d SET status = ",
            status!(Pending),
            ", next_attempt_at = x.until, reserved = x.reserved,
                paced = x.paced, lease_until = NULL, leased_by = NULL
         FROM UNNEST($1::bigint[], $2::bigint[], $3::boolean[], $5::boolean[])
              AS x(id, until, reserved, paced)
         WHERE d.id = x.id AND d.status = ",
            status!(Sending),
            " AND d.leased_by = $4"
        ))
        .bind(&ids)
        .bind(&until)
        .bind(&reserved)
        .bind(&self.node)
        .bind(&paced)
        .execute(&self.pool)
        .await?;
        // The deferred time may be earlier than what other nodes are sleeping until.
        self.announce_work();
        Ok(())
    }

    async fn recall_paced(&self, endpoint: &EndpointId, now: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query(concat!(
            "UPDATE delivery SET next_attempt_at = $2, paced = FALSE
         WHERE endpoint_id = $1 AND status = ",
            status!(Pending),
            " AND paced AND next_attempt_at > $2"
        ))
        .bind(endpoint.as_str())
        .bind(to_ms(now))
        .execute(&self.pool)
        .await?;
        if done.rows_affected() > 0 {
            self.announce_work();
        }
        Ok(done.rows_affected())
    }

    async fn queue_depth(&self, now: DateTime<Utc>) -> StoreResult<(i64, i64)> {
        let row = sqlx::query(concat!(
            "SELECT COUNT(*) FILTER (WHERE next_attempt_at <= $1) AS due,
                COUNT(*) FILTER (WHERE next_attempt_at > $1) AS later
         FROM delivery WHERE status = ",
            status!(Pending)
        ))
        .bind(to_ms(now))
        .fetch_one(&self.pool)
        .await?;
        Ok((row.get("due"), row.get("later")))
    }

    async fn release_own_leases(&self) -> StoreResult<u64> {
        let now = to_ms(self.clock.now());
        let done = sqlx::query(concat!(
            "UPDATE delivery SET status = ",
            status!(Pending),
            ", lease_until = NULL, leased_by = NULL, next_attempt_at = $1,
                updated_at = $1
         WHERE status = ",
            status!(Sending),
            " AND leased_by = $2"
        ))
        .bind(now)
        .bind(&self.node)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() > 0 {
            self.announce_work();
        }
        Ok(done.rows_affected())
    }

    async fn requeue(
        &self,
        app: &AppId,
        msg: &MessageId,
        endpoint: &EndpointId,
    ) -> StoreResult<bool> {
        let now = to_ms(self.clock.now());
        let mut tx = self.pool.begin().await?;
        // A delivery being claimed or sent holds its row lock or status 3; the upsert waits for
        // the lock, then sees status 3 and leaves it alone.
        let done = sqlx::query(concat!(
            "INSERT INTO delivery (msg_id, endpoint_id, app_id, status, attempts, next_attempt_at,
                               trigger_type, created_at, updated_at)
         VALUES ($1, $2, $3, ",
            status!(Pending),
            ", 0, $4, ",
            trigger!(Manual),
            ", $4, $4)
         ON CONFLICT (msg_id, endpoint_id) DO UPDATE
            SET status = ",
            status!(Pending),
            ", attempts = 0, next_attempt_at = $4, lease_until = NULL,
                trigger_type = ",
            trigger!(Manual),
            ", updated_at = $4,
                recovering = CASE WHEN delivery.status = ",
            status!(Success),
            " THEN 0
                                  WHEN delivery.status = ",
            status!(Fail),
            " OR delivery.attempts >= $5 THEN 1
                                  ELSE delivery.recovering END
            WHERE delivery.status <> ",
            status!(Sending)
        ))
        .bind(msg.as_str())
        .bind(endpoint.as_str())
        .bind(app.as_str())
        .bind(now)
        .bind(FAILING_AFTER_ATTEMPTS as i32)
        .execute(&mut *tx)
        .await?;
        let queued = done.rows_affected() > 0;
        tx.commit().await?;
        if queued {
            self.announce_work();
        }
        Ok(queued)
    }

    async fn recover_failed(
        &self,
        app: &AppId,
        endpoint: &EndpointId,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let now = to_ms(self.clock.now());
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(concat!(
            "UPDATE delivery SET status = ",
            status!(Pending),
            ", attempts = 0, next_attempt_at = $1, lease_until = NULL,
                trigger_type = ",
            trigger!(Manual),
            ", updated_at = $1, recovering = 1
         WHERE app_id = $2 AND endpoint_id = $3 AND status = ",
            status!(Fail),
            "
           AND msg_id IN (SELECT id FROM message
                          WHERE app_id = $2 AND created_at >= $4 AND created_at < $5)"
        ))
        .bind(now)
        .bind(app.as_str())
        .bind(endpoint.as_str())
        .bind(to_ms(since))
        .bind(to_ms(until))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        if done.rows_affected() > 0 {
            self.announce_work();
        }
        Ok(done.rows_affected())
    }
}

//! PostgreSQL's part in group commit ([`crate::store::group_commit`]): a batch of publishes
//! and attempt records in a handful of array statements, instead of a transaction (and a WAL
//! flush) each.
//!
//! Idempotency keys are claimed one by one (another node may hold a key: that wait must stay
//! per key); each application's endpoints are read once; all messages go in with one
//! `UNNEST` statement and all deliveries with another. Attempt records go the same way: all
//! attempts in one insert, each endpoint's run of failures written only where it changes
//! ([`rules::FailureRuns`]), all deliveries moved on in one update. After a commit that queued
//! work, other nodes are told (`NOTIFY`, through [`PgStore::announce_work`]).

use super::messages::{stored_response, take_key};
use super::rows::{self, names_to_json, to_json};
use super::PgStore;
use crate::domain::*;
use crate::store::group_commit::{BatchWriter, PublishIn, RecordIn};
use crate::store::health::WriteHealth;
use crate::store::rules::{self, status, trigger, EndpointsByApp, FailureRuns, KeysInBatch};
use crate::store::*;
use async_trait::async_trait;
use sqlx::PgConnection;
use sqlx::{Postgres, Transaction};
use std::collections::HashMap;

#[async_trait]
impl BatchWriter for PgStore {
    type Tx = Transaction<'static, Postgres>;

    async fn begin(&self) -> StoreResult<Self::Tx> {
        Ok(self.pool.begin().await?)
    }

    async fn commit(&self, tx: Self::Tx) -> StoreResult<()> {
        Ok(tx.commit().await?)
    }

    async fn publish_all(
        &self,
        tx: &mut Self::Tx,
        publishes: &[PublishIn<'_>],
        _now: DateTime<Utc>,
    ) -> StoreResult<(Vec<CreateMessageOutcome>, u64)> {
        publish_all(tx, publishes).await
    }

    async fn record_all(
        &self,
        tx: &mut Self::Tx,
        records: &[RecordIn<'_>],
    ) -> StoreResult<Vec<Option<DateTime<Utc>>>> {
        record_all(tx, &self.node, records).await
    }

    /// Other nodes hear of the new work (`queue::announce_work_forever`).
    fn queued(&self) {
        self.announce_work();
    }

    fn health(&self) -> &WriteHealth {
        &self.health
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

/// Stores `batch`'s messages and queues their deliveries on `tx`, inside the caller's
/// transaction; returns each publish's outcome and how many deliveries were queued. The
/// caller commits, then announces the work.
pub(super) async fn publish_all(
    tx: &mut PgConnection,
    batch: &[PublishIn<'_>],
) -> StoreResult<(Vec<CreateMessageOutcome>, u64)> {
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut endpoints = EndpointsByApp::default();
    let mut keys_in_batch = KeysInBatch::default();
    // Column arrays for the two UNNEST inserts.
    let (mut ids, mut apps, mut types, mut event_ids, mut payloads) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut channels, mut tags, mut created, mut expires) = (vec![], vec![], vec![], vec![]);
    let mut deliver_at: Vec<Option<i64>> = vec![];
    let mut received: Vec<Option<String>> = vec![];
    let (mut d_msg, mut d_ep, mut d_app, mut d_at, mut d_trigger) =
        (vec![], vec![], vec![], vec![], vec![]);
    for p in batch {
        if let Some(idem) = p.idempotency {
            if let Some(first) = keys_in_batch.earlier(idem) {
                outcomes.push(CreateMessageOutcome::Replayed(first));
                continue;
            }
            // The key is as old as the message it answers for.
            if !take_key(&mut *tx, idem, p.msg.created_at).await? {
                // Under READ COMMITTED this new statement sees the row that beat us.
                let row = sqlx::query(
                    "SELECT status, body FROM idempotency WHERE key = $1 AND scope = $2",
                )
                .bind(&idem.key)
                .bind(&idem.scope)
                .fetch_one(&mut *tx)
                .await?;
                outcomes.push(CreateMessageOutcome::Replayed(stored_response(&row)));
                continue;
            }
            keys_in_batch.take(idem);
        }
        let m = p.msg;
        let enabled = match endpoints.get(&m.app_id) {
            Some(eps) => eps,
            None => {
                let eps = sqlx::query("SELECT * FROM endpoint WHERE app_id = $1 AND NOT disabled")
                    .bind(m.app_id.as_str())
                    .fetch_all(&mut *tx)
                    .await?
                    .iter()
                    .map(rows::endpoint)
                    .collect();
                endpoints.insert(&m.app_id, eps)
            }
        };
        let (targets, trigger) = rules::fan_out_targets(enabled, m, p.fan_out);
        outcomes.push(CreateMessageOutcome::Created {
            deliveries: targets.len(),
            claimed: false,
        });
        let at = to_ms(m.created_at);
        for ep in targets {
            d_msg.push(m.id.as_str());
            d_ep.push(ep);
            d_app.push(m.app_id.as_str());
            d_at.push(at);
            d_trigger.push(trigger as i16);
        }
        ids.push(m.id.as_str());
        apps.push(m.app_id.as_str());
        types.push(m.event_type.as_str());
        event_ids.push(m.event_id.as_deref());
        payloads.push(m.payload.as_deref());
        channels.push(names_to_json(&m.channels));
        tags.push(m.tags.as_ref().map(to_json));
        created.push(at);
        expires.push(to_ms(m.payload_expires_at));
        deliver_at.push(m.deliver_at.map(to_ms));
        received.push(m.received.as_ref().map(to_json));
    }
    if !ids.is_empty() {
        sqlx::query(
            "INSERT INTO message (id, app_id, event_type, event_id, payload, channels, tags,
                                  created_at, payload_expires_at, deliver_at, received)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                  $6::text[], $7::text[], $8::bigint[], $9::bigint[],
                                  $10::bigint[], $11::text[])",
        )
        .bind(&ids)
        .bind(&apps)
        .bind(&types)
        .bind(&event_ids)
        .bind(&payloads)
        .bind(&channels)
        .bind(&tags)
        .bind(&created)
        .bind(&expires)
        .bind(&deliver_at)
        .bind(&received)
        .execute(&mut *tx)
        .await
        // Alone (the one-at-a-time retry), a taken eventId is this publish's conflict.
        .map_err(|e| StoreError::conflict_or(e, EVENT_ID_TAKEN))?;
    }
    let mut queued = 0;
    if !d_msg.is_empty() {
        // As on the single path: only endpoints that still exist (and are enabled, unless
        // aimed at by a test event) get a delivery.
        queued = sqlx::query(concat!(
            "INSERT INTO delivery (msg_id, endpoint_id, app_id, status, next_attempt_at,
                                   trigger_type, created_at, updated_at)
             SELECT v.m, e.id, v.a, ",
            status!(Pending),
            ", COALESCE(m.deliver_at, v.at), v.t, v.at, v.at
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::smallint[])
                  AS v(m, ep, a, at, t)
             JOIN endpoint e ON e.id = v.ep AND e.app_id = v.a AND (NOT e.disabled OR v.t = ",
            trigger!(Manual),
            ")
             JOIN message m ON m.id = v.m"
        ))
        .bind(&d_msg)
        .bind(&d_ep)
        .bind(&d_app)
        .bind(&d_at)
        .bind(&d_trigger)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    Ok((outcomes, queued))
}

/// Records attempts and moves their deliveries on, on `tx`, inside the caller's transaction;
/// returns each endpoint's run of failures after its attempt ([`FailureRuns::record`]).
pub(super) async fn record_all(
    tx: &mut PgConnection,
    node: &str,
    records: &[RecordIn<'_>],
) -> StoreResult<Vec<Option<DateTime<Utc>>>> {
    if records.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = records.iter().map(|r| r.delivery_id).collect();
    // Each endpoint's run of failures as it stands, replayed through the batch in order.
    let rows = sqlx::query(
        "SELECT d.id AS d_id, e.id AS e_id, e.failing_since AS since
         FROM delivery d JOIN endpoint e ON e.id = d.endpoint_id WHERE d.id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    use sqlx::Row;
    let endpoint_of: HashMap<i64, String> = rows
        .iter()
        .map(|r| (r.get("d_id"), r.get("e_id")))
        .collect();
    let mut runs = FailureRuns::new(
        rows.iter()
            .map(|r| (r.get("e_id"), r.get::<Option<i64>, _>("since").map(from_ms))),
    );
    let results: Vec<_> = records
        .iter()
        .map(|r| match (r.attempt, endpoint_of.get(&r.delivery_id)) {
            (Some(a), Some(ep)) => runs.record(ep, a),
            _ => None,
        })
        .collect();

    let attempts: Vec<(i64, &Attempt)> = records
        .iter()
        .filter_map(|r| r.attempt.map(|a| (r.delivery_id, a)))
        .collect();
    if !attempts.is_empty() {
        let col = |f: fn(&(i64, &Attempt)) -> String| attempts.iter().map(f).collect::<Vec<_>>();
        sqlx::query(
            "INSERT INTO attempt (id, app_id, msg_id, endpoint_id, url, response_status_code,
                                  response, duration_ms, status, trigger_type, failure_reason,
                                  created_at)
             SELECT v.id, d.app_id, d.msg_id, d.endpoint_id, v.url, v.code, v.body, v.ms, v.st,
                    v.tt, v.why, v.at
             FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::smallint[], $5::bytea[],
                         $6::bigint[], $7::smallint[], $8::smallint[], $9::text[], $10::bigint[])
                  AS v(id, delivery, url, code, body, ms, st, tt, why, at)
             JOIN delivery d ON d.id = v.delivery",
        )
        .bind(col(|(_, a)| a.id.to_string()))
        .bind(attempts.iter().map(|(d, _)| *d).collect::<Vec<_>>())
        .bind(col(|(_, a)| a.url.clone()))
        .bind(
            attempts
                .iter()
                .map(|(_, a)| a.response_status_code)
                .collect::<Vec<_>>(),
        )
        .bind(
            attempts
                .iter()
                .map(|(_, a)| a.response.as_bytes().to_vec())
                .collect::<Vec<_>>(),
        )
        .bind(
            attempts
                .iter()
                .map(|(_, a)| a.response_duration_ms)
                .collect::<Vec<_>>(),
        )
        .bind(
            attempts
                .iter()
                .map(|(_, a)| a.status as i16)
                .collect::<Vec<_>>(),
        )
        .bind(
            attempts
                .iter()
                .map(|(_, a)| a.trigger_type as i16)
                .collect::<Vec<_>>(),
        )
        .bind(
            attempts
                .iter()
                .map(|(_, a)| a.failure_reason.clone())
                .collect::<Vec<_>>(),
        )
        .bind(
            attempts
                .iter()
                .map(|(_, a)| to_ms(a.created_at))
                .collect::<Vec<_>>(),
        )
        .execute(&mut *tx)
        .await?;
    }

    // Only the endpoints whose run changed are written: each write takes the row's lock.
    // The edges of a run, in id order so concurrent batches lock endpoint rows in one order.
    let changed = runs.changed();
    if !changed.is_empty() {
        sqlx::query(
            "UPDATE endpoint SET failing_since = v.since
             FROM UNNEST($1::text[], $2::bigint[]) AS v(id, since) WHERE endpoint.id = v.id",
        )
        .bind(
            changed
                .iter()
                .map(|(id, _)| id.to_string())
                .collect::<Vec<_>>(),
        )
        .bind(
            changed
                .iter()
                .map(|(_, since)| since.map(to_ms))
                .collect::<Vec<_>>(),
        )
        .execute(&mut *tx)
        .await?;
    }

    let now = records
        .iter()
        .map(|r| to_ms(r.now))
        .max()
        .unwrap_or_default();
    let mut status = Vec::with_capacity(records.len());
    let mut next = Vec::with_capacity(records.len());
    for r in records {
        let (st, n) = r.update.row();
        status.push(st as i16);
        next.push(n.map(to_ms));
    }
    sqlx::query(concat!(
        "UPDATE delivery d SET status = v.st, next_attempt_at = v.next, attempts = d.attempts + v.inc,
                lease_until = NULL, leased_by = NULL, reserved = FALSE, updated_at = $5
         FROM UNNEST($1::bigint[], $2::smallint[], $3::bigint[], $4::int[]) AS v(id, st, next, inc)
         WHERE d.id = v.id AND d.status = ",
        status!(Sending),
        " AND d.leased_by = $6"
    ))
    .bind(&ids)
    .bind(&status)
    .bind(&next)
    .bind(records.iter().map(|r| i32::from(r.attempt.is_some())).collect::<Vec<_>>())
    .bind(now)
    // A lease this node lost (it ran out and another node claimed the delivery) is not ours
    // to move on; the attempt above is still history and stays recorded.
    .bind(node)
    .execute(&mut *tx)
    .await?;
    Ok(results)
}

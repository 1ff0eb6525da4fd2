//! The writer's fast path: a whole batch of publishes and attempt records in a handful of
//! statements, however many writes it holds.
//!
//! Each statement sent to SQLite through sqlx costs a round trip to the connection's worker
//! thread, which under load costs more than the statement. So rows of one kind go in one
//! multi-row statement: all messages, all deliveries, all attempts, all delivery updates.
//! Everything that needs deciding per write (idempotency replays, fan-out, an endpoint's run
//! of failures) is decided in memory first, in batch order, exactly as the one-at-a-time path
//! (`create_in`, `record_attempt_in`) would. If any statement fails, the caller rolls the batch
//! back and replays it one write at a time, so one bad write cannot fail the others.

use super::messages::{find_idempotent, targets};
use super::rows::{names_to_json, to_json};
use crate::domain::*;
use crate::store::group_commit::{PublishIn, RecordIn};
use crate::store::rules::EndpointsByApp;
use crate::store::rules::{status, FailureRuns, KeysInBatch};
use crate::store::*;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};
use std::collections::HashMap;

/// Rows per multi-row statement; far below SQLite's limit of 32,766 bound values.
const ROWS_PER_STATEMENT: usize = 256;

pub(super) async fn publish_all(
    conn: &mut SqliteConnection,
    cache: &mut EndpointsByApp,
    ops: &[PublishIn<'_>],
    now: DateTime<Utc>,
) -> Result<Vec<CreateMessageOutcome>, StoreError> {
    let mut outcomes = Vec::with_capacity(ops.len());
    let mut keys_in_batch = KeysInBatch::default();
    let mut messages: Vec<&Message> = Vec::new();
    let mut deliveries: Vec<(&str, String, &str, i64, i64, i64)> = Vec::new();
    let mut keys: Vec<&IdempotentWrite> = Vec::new();
    for op in ops {
        if let Some(idem) = op.idempotency {
            if let Some(first) = keys_in_batch.earlier(idem) {
                outcomes.push(CreateMessageOutcome::Replayed(first));
                continue;
            }
            if let Some(first) = find_idempotent(conn, &idem.key, &idem.scope, now).await? {
                outcomes.push(CreateMessageOutcome::Replayed(first));
                continue;
            }
            keys_in_batch.take(idem);
            keys.push(idem);
        }
        let msg = op.msg;
        let (targets, trigger) = targets(conn, cache, msg, op.fan_out).await?;
        outcomes.push(CreateMessageOutcome::Created {
            deliveries: targets.len(),
        });
        let created = to_ms(msg.created_at);
        let due = to_ms(msg.first_attempt_at());
        for ep in targets {
            deliveries.push((
                msg.id.as_str(),
                ep,
                msg.app_id.as_str(),
                created,
                trigger as i64,
                due,
            ));
        }
        messages.push(msg);
    }

    for chunk in messages.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO message (id, app_id, event_type, event_id, payload, channels, tags, created_at, payload_expires_at, deliver_at, received) ",
        );
        q.push_values(chunk, |mut row, m| {
            row.push_bind(m.id.as_str())
                .push_bind(m.app_id.as_str())
                .push_bind(m.event_type.as_str())
                .push_bind(m.event_id.as_deref())
                .push_bind(m.payload.as_deref())
                .push_bind(names_to_json(&m.channels))
                .push_bind(m.tags.as_ref().map(to_json))
                .push_bind(to_ms(m.created_at))
                .push_bind(to_ms(m.payload_expires_at))
                .push_bind(m.deliver_at.map(to_ms))
                .push_bind(m.received.as_ref().map(to_json));
        });
        // Alone (the one-at-a-time replay), a taken eventId is this publish's conflict.
        q.build()
            .execute(&mut *conn)
            .await
            .map_err(|e| StoreError::conflict_or(e, EVENT_ID_TAKEN))?;
    }
    for chunk in deliveries.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO delivery (msg_id, endpoint_id, app_id, status, next_attempt_at, trigger_type, created_at, updated_at) ",
        );
        q.push_values(chunk, |mut row, (msg, ep, app, created, trigger, due)| {
            row.push_bind(*msg)
                .push_bind(ep.as_str())
                .push_bind(*app)
                .push_bind(DeliveryStatus::Pending as i64)
                .push_bind(*due)
                .push_bind(*trigger)
                .push_bind(*created)
                .push_bind(*created);
        });
        q.build().execute(&mut *conn).await?;
    }
    if !keys.is_empty() {
        let now = to_ms(now);
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT OR REPLACE INTO idempotency (key, scope, status, body, created_at) ",
        );
        q.push_values(&keys, |mut row, w| {
            row.push_bind(w.key.as_str())
                .push_bind(w.scope.as_str())
                .push_bind(i64::from(w.response.status))
                .push_bind(w.response.body.as_slice())
                .push_bind(now);
        });
        q.build().execute(&mut *conn).await?;
    }
    Ok(outcomes)
}

pub(super) async fn record_all(
    conn: &mut SqliteConnection,
    node: &str,
    ops: &[RecordIn<'_>],
) -> Result<Vec<Option<DateTime<Utc>>>, StoreError> {
    // Each endpoint's run of failures as it stands, then replayed through the batch in order.
    let ids: Vec<i64> = ops.iter().map(|o| o.delivery_id).collect();
    let rows = sqlx::query(
        "SELECT d.id AS d_id, e.id AS e_id, e.failing_since AS since
         FROM delivery d JOIN endpoint e ON e.id = d.endpoint_id
         WHERE d.id IN (SELECT value FROM json_each(?))",
    )
    .bind(to_json(&ids))
    .fetch_all(&mut *conn)
    .await?;
    let endpoint_of: HashMap<i64, String> = rows
        .iter()
        .map(|r| (r.get("d_id"), r.get("e_id")))
        .collect();
    let mut runs = FailureRuns::new(
        rows.iter()
            .map(|r| (r.get("e_id"), r.get::<Option<i64>, _>("since").map(from_ms))),
    );
    let results: Vec<_> = ops
        .iter()
        .map(|op| match (op.attempt, endpoint_of.get(&op.delivery_id)) {
            (Some(a), Some(ep)) => runs.record(ep, a),
            _ => None,
        })
        .collect();

    let attempts: Vec<(i64, &Attempt)> = ops
        .iter()
        .filter_map(|o| o.attempt.map(|a| (o.delivery_id, a)))
        .collect();
    for chunk in attempts.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO attempt (id, app_id, msg_id, endpoint_id, url, response_status_code, response,
                                  duration_ms, status, trigger_type, failure_reason, created_at)
             SELECT v.column1, d.app_id, d.msg_id, d.endpoint_id, v.column3, v.column4, v.column5,
                    v.column6, v.column7, v.column8, v.column9, v.column10
             FROM (",
        );
        q.push_values(chunk, |mut row, (delivery_id, a)| {
            row.push_bind(a.id.as_str())
                .push_bind(*delivery_id)
                .push_bind(a.url.as_str())
                .push_bind(i64::from(a.response_status_code))
                .push_bind(a.response.as_str())
                .push_bind(a.response_duration_ms)
                .push_bind(a.status as i64)
                .push_bind(a.trigger_type as i64)
                .push_bind(a.failure_reason.as_deref())
                .push_bind(to_ms(a.created_at));
        });
        q.push(") AS v JOIN delivery d ON d.id = v.column2");
        q.build().execute(&mut *conn).await?;
    }

    // Only runs that changed are written: SQLite rewrites a row's page even when an UPDATE
    // sets the values it already has, and that page would go to the log with every batch.
    for chunk in runs.changed().chunks(ROWS_PER_STATEMENT) {
        let mut q =
            QueryBuilder::<Sqlite>::new("UPDATE endpoint SET failing_since = v.column2 FROM (");
        q.push_values(chunk, |mut row, (id, since)| {
            row.push_bind(*id).push_bind(since.map(to_ms));
        });
        q.push(") AS v WHERE endpoint.id = v.column1");
        q.build().execute(&mut *conn).await?;
    }

    let now = ops.iter().map(|o| to_ms(o.now)).max().unwrap_or_default();
    for chunk in ops.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "UPDATE delivery SET status = v.column2, next_attempt_at = v.column3,
                    attempts = attempts + v.column4, lease_until = NULL, leased_by = NULL,
                    reserved = 0, updated_at = ",
        );
        q.push_bind(now);
        q.push(" FROM (");
        q.push_values(chunk, |mut row, o| {
            let (status, next) = o.update.row();
            row.push_bind(o.delivery_id)
                .push_bind(status as i64)
                .push_bind(next.map(to_ms))
                .push_bind(i64::from(o.attempt.is_some()));
        });
        // A lease this node lost (it ran out and another claim took it) is not ours to move
        // on; the attempt above is still history and stays recorded.
        q.push(concat!(
            ") AS v WHERE delivery.id = v.column1 AND delivery.status = ",
            status!(Sending),
            " AND delivery.leased_by = "
        ));
        q.push_bind(node);
        q.build().execute(&mut *conn).await?;
    }
    Ok(results)
}

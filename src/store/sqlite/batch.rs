//! Publishing on a transaction of sqlx's: a channel message's event is stored and queued in
//! the same transaction as the channel message (`workspace.rs`). The group-commit writer's
//! publishes take the hot path instead (`hot.rs`); both decide replays and fan-out with the
//! same rules ([`crate::store::rules`]).
//!
//! Each statement sent through sqlx is a round trip to the connection's thread, so rows of one
//! kind go in one multi-row statement (all messages, then all deliveries). If a statement
//! fails, the caller's transaction fails with it.

use super::messages::{find_idempotent, targets};
use super::rows::{names_to_json, to_json};
use crate::domain::*;
use crate::store::group_commit::PublishIn;
use crate::store::rules::EndpointsByApp;
use crate::store::rules::KeysInBatch;
use crate::store::*;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

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
            claimed: false,
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

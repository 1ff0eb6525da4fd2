//! The SQLite hot path: publishes, claims and attempt records, run synchronously on a
//! connection of their own inside the group-commit writer (`writer.rs`).
//!
//! # Why not through sqlx
//!
//! sqlx runs each SQLite connection on a worker thread of its own and sends it every
//! statement over a channel: each statement costs two thread hand-offs (measured at 1,000
//! messages/s: 40 % of the server's CPU samples in those threads, a third in the kernel
//! switching between them, SQLite itself 1.4 %). A delivery took about thirteen such round
//! trips (its publish, its claim, its attempt record, each with `BEGIN` and `COMMIT`). Here a
//! whole batch is plain function calls on the writer's task: statements are prepared once
//! and cached, rows go in one at a time (no multi-row statements to build), and a batch costs
//! no thread hand-off at all. SQLite's work is microseconds per row and a commit in WAL mode
//! with `synchronous = NORMAL` does not wait for the disk, so running it on the async task is
//! shorter than handing it off would be; a batch is bounded by `MAX_BATCH` writes.
//!
//! # One writer still
//!
//! SQLite lets one connection write at a time. The rest of the SQLite backend writes through
//! sqlx's one-connection write pool; this connection takes that pool's connection for the
//! length of each transaction ([`HotTx`]), so the two never write at once and neither ever
//! meets `SQLITE_BUSY` from the other (nor from the `TRUNCATE` checkpoints, which run on the
//! pool's connection between transactions). It is opened lazily, after migrations, and
//! opened again after a failure that leaves it unusable.

use super::messages::IDEMPOTENCY_WINDOW_MS;
use crate::domain::bins::*;
use crate::domain::workspace::*;
use crate::domain::*;
use crate::store::bins::{headers_to_json, response_from_json, CaptureOutcome};
use crate::store::cells::{self, names_to_json, to_json};
use crate::store::group_commit::{PublishIn, RecordIn};
use crate::store::rules::{self, status, EndpointsByApp, FailureRuns, KeysInBatch};
use crate::store::workspace::{FollowUps, PostResult};
use crate::store::*;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::PathBuf;

/// How the hot connection is opened: the database file and the size cap.
#[derive(Clone)]
pub(super) struct HotSettings {
    pub path: PathBuf,
    pub max_bytes: Option<u64>,
    pub wal_limit: u64,
}

/// The hot path's connection, opened on first use.
pub(super) struct HotConn {
    settings: HotSettings,
    conn: Option<Connection>,
    /// Where each column of the claim's read and of the endpoint read is, found on first use:
    /// the statements and the schema do not change while the process runs, and finding them
    /// lowercases and hashes some 25 names per claim.
    claim_columns: std::sync::OnceLock<cells::Columns>,
    endpoint_columns: std::sync::OnceLock<cells::Columns>,
}

impl HotConn {
    pub fn new(settings: HotSettings) -> Self {
        Self {
            settings,
            conn: None,
            claim_columns: std::sync::OnceLock::new(),
            endpoint_columns: std::sync::OnceLock::new(),
        }
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open(&self.settings.path)?;
        // The same settings as the sqlx connections (`mod.rs`); checkpoints are the
        // background checkpointer's job, never a commit's.
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;
             PRAGMA temp_store = MEMORY;
             PRAGMA wal_autocheckpoint = 0;
             PRAGMA journal_size_limit = {};",
            self.settings.wal_limit
        ))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        if let Some(max) = self.settings.max_bytes {
            let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
            let pages = (max / page_size.max(512) as u64).max(1);
            conn.execute_batch(&format!("PRAGMA max_page_count = {pages}"))?;
        }
        conn.set_prepared_statement_cache_capacity(32);
        Ok(conn)
    }

    /// Starts a write transaction (`IMMEDIATE`: the write lock is taken now, not at the first
    /// write, so the transaction never has to give up half-way to another writer).
    pub fn begin(&mut self) -> StoreResult<()> {
        if self.conn.is_none() {
            self.conn = Some(self.open()?);
        }
        let result = self.control("BEGIN IMMEDIATE");
        if result.is_err() {
            self.abandon_if_stuck();
        }
        Ok(result?)
    }

    pub fn commit(&mut self) -> StoreResult<()> {
        let result = self.control("COMMIT");
        if result.is_err() {
            self.rollback();
        }
        Ok(result?)
    }

    /// Ends a transaction that will not be committed. A failed `COMMIT` (a full disk) may
    /// already have rolled it back, or may leave the connection inside it; a connection that
    /// cannot get out is closed, and the next transaction opens a fresh one, so a failed write
    /// leaves nothing behind (the trap `still_usable` in `mod.rs` guards the pool against).
    pub fn rollback(&mut self) {
        if let Some(conn) = &self.conn {
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
        }
        self.abandon_if_stuck();
    }

    fn abandon_if_stuck(&mut self) {
        if self.conn.as_ref().is_some_and(|c| !c.is_autocommit()) {
            tracing::warn!(
                "closing the SQLite hot-path connection: a failed transaction left it open"
            );
            self.conn = None;
        }
    }

    pub fn in_transaction(&self) -> bool {
        self.conn.as_ref().is_some_and(|c| !c.is_autocommit())
    }

    fn conn(&self) -> &Connection {
        self.conn.as_ref().expect("begin opened the connection")
    }

    /// Runs a transaction statement (`BEGIN`, `COMMIT`, a savepoint) prepared once per
    /// connection: each batch runs two to four of them, and parsing them anew each time was
    /// 2 % of the server's samples at 1,000 msgs/s.
    fn control(&self, sql: &'static str) -> rusqlite::Result<()> {
        self.conn().prepare_cached(sql)?.execute([]).map(drop)
    }

    /// Stores the messages and queues their deliveries, deciding replays and fan-out in batch
    /// order exactly as one publish at a time would.
    pub fn publish_all(
        &self,
        cache: &mut EndpointsByApp,
        ops: &[PublishIn<'_>],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<CreateMessageOutcome>> {
        let conn = self.conn();
        let mut outcomes = Vec::with_capacity(ops.len());
        let mut keys_in_batch = KeysInBatch::default();
        let mut insert_message = conn.prepare_cached(
            "INSERT INTO message (id, app_id, event_type, event_id, payload, channels, tags,
                                  created_at, payload_expires_at, deliver_at, received)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        let mut insert_delivery = conn.prepare_cached(concat!(
            "INSERT INTO delivery (msg_id, endpoint_id, app_id, status, next_attempt_at,
                                   trigger_type, created_at, updated_at)
             VALUES (?1, ?2, ?3, ",
            status!(Pending),
            ", ?4, ?5, ?6, ?6)"
        ))?;
        for op in ops {
            if let Some(idem) = op.idempotency {
                if let Some(first) = keys_in_batch.earlier(idem) {
                    outcomes.push(CreateMessageOutcome::Replayed(first));
                    continue;
                }
                if let Some(first) = self.find_idempotent(&idem.key, &idem.scope, now)? {
                    outcomes.push(CreateMessageOutcome::Replayed(first));
                    continue;
                }
                keys_in_batch.take(idem);
            }
            let msg = op.msg;
            insert_message
                .execute(params![
                    msg.id.as_str(),
                    msg.app_id.as_str(),
                    msg.event_type.as_str(),
                    msg.event_id.as_deref(),
                    msg.payload.as_deref(),
                    names_to_json(&msg.channels),
                    msg.tags.as_ref().map(to_json),
                    to_ms(msg.created_at),
                    to_ms(msg.payload_expires_at),
                    msg.deliver_at.map(to_ms),
                    msg.received.as_ref().map(to_json),
                ])
                // Alone (the one-at-a-time replay), a taken eventId is this publish's conflict.
                .map_err(|e| StoreError::conflict_or_sqlite(e, EVENT_ID_TAKEN))?;
            let enabled = match cache.get(&msg.app_id) {
                Some(eps) => eps,
                None => cache.insert(&msg.app_id, self.enabled_endpoints(&msg.app_id)?),
            };
            let (targets, trigger) = rules::fan_out_targets(enabled, msg, op.fan_out);
            let (created, due) = (to_ms(msg.created_at), to_ms(msg.first_attempt_at()));
            for endpoint in &targets {
                insert_delivery.execute(params![
                    msg.id.as_str(),
                    endpoint,
                    msg.app_id.as_str(),
                    due,
                    trigger as i64,
                    created,
                ])?;
            }
            if let Some(idem) = op.idempotency {
                conn.prepare_cached(
                    "INSERT OR REPLACE INTO idempotency (key, scope, status, body, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![
                    idem.key,
                    idem.scope,
                    i64::from(idem.response.status),
                    idem.response.body,
                    to_ms(now),
                ])?;
            }
            outcomes.push(CreateMessageOutcome::Created {
                deliveries: targets.len(),
                claimed: false,
            });
        }
        Ok(outcomes)
    }

    fn find_idempotent(
        &self,
        key: &str,
        scope: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<StoredResponse>> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT status, body FROM idempotency WHERE key = ?1 AND scope = ?2 AND created_at > ?3",
            )?
            .query_row(
                params![key, scope, to_ms(now) - IDEMPOTENCY_WINDOW_MS],
                |r| {
                    Ok(StoredResponse {
                        status: r.get::<_, i64>(0)? as u16,
                        body: r.get(1)?,
                    })
                },
            )
            .optional()?)
    }

    fn enabled_endpoints(&self, app: &AppId) -> StoreResult<Vec<Endpoint>> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT * FROM endpoint WHERE app_id = ?1 AND disabled = 0")?;
        let columns = self
            .endpoint_columns
            .get_or_init(|| cells::Columns::of(&stmt));
        let rows = stmt.query_map([app.as_str()], |row| Ok(cells::endpoint(&columns.on(row))))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records the attempts and moves their deliveries on; returns each endpoint's run of
    /// failures after its attempt, in order.
    pub fn record_all(
        &self,
        node: &str,
        ops: &[RecordIn<'_>],
    ) -> StoreResult<Vec<Option<DateTime<Utc>>>> {
        let conn = self.conn();
        // Each endpoint's run of failures as it stands, then replayed through the batch in
        // order.
        let mut endpoint_of = Vec::with_capacity(ops.len());
        let mut stored = Vec::new();
        {
            let mut find = conn.prepare_cached(
                "SELECT e.id, e.failing_since FROM delivery d JOIN endpoint e ON e.id = d.endpoint_id
                 WHERE d.id = ?1",
            )?;
            for op in ops {
                let found: Option<(String, Option<i64>)> = find
                    .query_row([op.delivery_id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                if let Some((ep, since)) = &found {
                    stored.push((ep.clone(), since.map(from_ms)));
                }
                endpoint_of.push(found.map(|(ep, _)| ep));
            }
        }
        let mut runs = FailureRuns::new(stored);
        let results = ops
            .iter()
            .zip(&endpoint_of)
            .map(|(op, ep)| match (op.attempt, ep) {
                (Some(a), Some(ep)) => runs.record(ep, a),
                _ => None,
            })
            .collect();

        let mut insert_attempt = conn.prepare_cached(
            "INSERT INTO attempt (id, app_id, msg_id, endpoint_id, url, response_status_code,
                                  response, duration_ms, status, trigger_type, failure_reason,
                                  created_at)
             SELECT ?1, d.app_id, d.msg_id, d.endpoint_id, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10
             FROM delivery d WHERE d.id = ?2",
        )?;
        for op in ops {
            let Some(a) = op.attempt else { continue };
            insert_attempt.execute(params![
                a.id.as_str(),
                op.delivery_id,
                a.url,
                i64::from(a.response_status_code),
                a.response,
                a.response_duration_ms,
                a.status as i64,
                a.trigger_type as i64,
                a.failure_reason.as_deref(),
                to_ms(a.created_at),
            ])?;
        }

        // Only runs that changed are written: SQLite rewrites a row's page even when an
        // UPDATE sets the values it already has, and that page would go to the log.
        let changed = runs.changed();
        if !changed.is_empty() {
            let mut update =
                conn.prepare_cached("UPDATE endpoint SET failing_since = ?2 WHERE id = ?1")?;
            for (id, since) in changed {
                update.execute(params![id, since.map(to_ms)])?;
            }
        }

        // A lease this node lost (it ran out and another claim took it) is not ours to move
        // on; the attempt above is still history and stays recorded.
        let mut move_on = conn.prepare_cached(concat!(
            "UPDATE delivery SET status = ?2, next_attempt_at = ?3, attempts = attempts + ?4,
                    lease_until = NULL, leased_by = NULL, reserved = 0, updated_at = ?5
             WHERE id = ?1 AND status = ",
            status!(Sending),
            " AND leased_by = ?6"
        ))?;
        for op in ops {
            let (status, next) = op.update.row();
            move_on.execute(params![
                op.delivery_id,
                status as i64,
                next.map(to_ms),
                i64::from(op.attempt.is_some()),
                to_ms(op.now),
                node,
            ])?;
        }
        Ok(results)
    }

    /// Claims up to `limit` due deliveries for `node` with a lease, with everything their
    /// delivery needs (message, endpoint) read in the same transaction.
    pub fn claim(
        &self,
        node: &str,
        now: DateTime<Utc>,
        limit: u32,
        lease: Duration,
    ) -> StoreResult<Claimed> {
        let conn = self.conn();
        let now_ms = to_ms(now);
        let lease_until = now_ms + lease.as_millis() as i64;
        // Two index scans joined by UNION ALL (an OR would defeat the partial indexes): work
        // whose lease ran out (its worker died; rare, and overdue by then) first, so a backlog
        // of due work cannot starve it, then due pending work in due order.
        let ids: Vec<i64> = conn
            .prepare_cached(concat!(
                "UPDATE delivery SET status = ",
                status!(Sending),
                ", lease_until = ?1, leased_by = ?4, updated_at = ?2, paced = 0
                 WHERE id IN (
                    SELECT id FROM (
                        SELECT id FROM (SELECT id FROM delivery WHERE status = ",
                status!(Sending),
                " AND lease_until < ?2 ORDER BY lease_until LIMIT ?3)
                        UNION ALL
                        SELECT id FROM (SELECT id FROM delivery WHERE status = ",
                status!(Pending),
                " AND next_attempt_at <= ?2 ORDER BY next_attempt_at LIMIT ?3)
                    ) LIMIT ?3)
                 RETURNING id"
            ))?
            .query_map(params![lease_until, now_ms, i64::from(limit), node], |r| {
                r.get(0)
            })?
            .collect::<Result<Vec<i64>, _>>()?;
        let next_due = if ids.len() < limit as usize {
            self.next_due_at()?
        } else {
            None
        };
        if ids.is_empty() {
            return Ok(Claimed {
                jobs: Vec::new(),
                next_due,
            });
        }
        let mut read = conn.prepare_cached(
            "SELECT d.id AS d_id, d.attempts AS d_attempts, d.trigger_type AS d_trigger,
                    d.reserved AS d_reserved, d.recovering AS d_recovering, m.id AS m_id,
                    m.event_type AS m_event_type, m.event_id AS m_event_id,
                    m.payload AS m_payload, m.received AS m_received, e.*
             FROM delivery d
             JOIN message m ON m.id = d.msg_id
             JOIN endpoint e ON e.id = d.endpoint_id
             WHERE d.id IN (SELECT value FROM json_each(?1))
             ORDER BY d.id",
        )?;
        let columns = self.claim_columns.get_or_init(|| cells::Columns::of(&read));
        let mut endpoints = rules::ClaimedEndpoints::default();
        let jobs = read.query_map([to_json(&ids)], |row| {
            use crate::store::cells::Cells;
            let row = &columns.on(row);
            let endpoint = endpoints.get_or_read(&row.text("id"), || cells::endpoint(row));
            Ok(DeliveryJob {
                delivery_id: row.int("d_id"),
                msg_id: MessageId::from_trusted(row.text("m_id")),
                app_id: endpoint.app_id.clone(),
                event_type: EventTypeName::from_trusted(row.text("m_event_type")),
                event_id: row.opt_text("m_event_id"),
                payload: row.opt_text("m_payload"),
                attempts_made: row.int("d_attempts") as u32,
                reserved: row.flag("d_reserved"),
                trigger: TriggerType::from_i64(row.int("d_trigger")),
                recovering: row.flag("d_recovering"),
                received_headers: cells::received_headers(row.opt_text("m_received")),
                endpoint,
            })
        })?;
        Ok(Claimed {
            jobs: jobs.collect::<Result<_, _>>()?,
            next_due,
        })
    }

    /// Sends throttled deliveries back to the queue, each due at its own time. Only those
    /// `node` still holds: a lease that ran out is someone else's now. A cached statement per
    /// row: on this connection a statement is a function call, not a round trip.
    pub fn defer(&self, node: &str, deferrals: &[Deferral]) -> StoreResult<()> {
        let mut update = self.conn().prepare_cached(concat!(
            "UPDATE delivery SET status = ",
            status!(Pending),
            ", next_attempt_at = ?2, reserved = ?3, paced = ?4, lease_until = NULL,
                leased_by = NULL
             WHERE id = ?1 AND status = ",
            status!(Sending),
            " AND leased_by = ?5"
        ))?;
        for d in deferrals {
            update.execute(params![
                d.delivery_id,
                to_ms(d.until),
                d.reserved,
                d.paced,
                node
            ])?;
        }
        Ok(())
    }

    /// Brings the endpoint's paced deliveries forward to `now`; returns how many.
    pub fn recall_paced(&self, endpoint: &EndpointId, now: DateTime<Utc>) -> StoreResult<u64> {
        let n = self
            .conn()
            .prepare_cached(concat!(
                "UPDATE delivery SET next_attempt_at = ?2, paced = 0
                 WHERE endpoint_id = ?1 AND status = ",
                status!(Pending),
                " AND paced = 1 AND next_attempt_at > ?2"
            ))?
            .execute(params![endpoint.as_str(), to_ms(now)])?;
        Ok(n as u64)
    }

    /// The earliest due time of pending work or of a lease running out.
    fn next_due_at(&self) -> StoreResult<Option<DateTime<Utc>>> {
        let at: Option<i64> = self
            .conn()
            .prepare_cached(super::queue::NEXT_DUE)?
            .query_row([], |r| r.get(0))?;
        Ok(at.map(from_ms))
    }
}

/// Writes of the workspace and the bins that come by the thousand (incoming-webhook posts,
/// bin captures), run as the writer's jobs ([`crate::store::group_commit::GroupCommit::job`]),
/// each under a savepoint of its own.
impl HotConn {
    pub fn savepoint(&self) -> StoreResult<()> {
        Ok(self.control("SAVEPOINT job")?)
    }

    pub fn release_savepoint(&self) -> StoreResult<()> {
        Ok(self.control("RELEASE job")?)
    }

    pub fn rollback_to_savepoint(&self) -> StoreResult<()> {
        Ok(self.conn().execute_batch("ROLLBACK TO job; RELEASE job")?)
    }

    /// Stores a request a bin received, numbered after the bin's last, and forgets the
    /// oldest past the bin's maximum.
    pub fn capture(&self, bin_id: &BinId, r: &NewCapture) -> StoreResult<CaptureOutcome> {
        let conn = self.conn();
        let claimed: Option<(i64, i64, String)> = conn
            .prepare_cached(
                "UPDATE bin SET last_seq = last_seq + 1
                 WHERE id = ?1 AND (expires_at IS NULL OR expires_at > ?2)
                 RETURNING last_seq, max_requests, response",
            )?
            .query_row(params![bin_id.as_str(), to_ms(r.received_at)], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .optional()?;
        let Some((seq, max, response)) = claimed else {
            let exists = conn
                .prepare_cached("SELECT 1 FROM bin WHERE id = ?1")?
                .exists([bin_id.as_str()])?;
            return Ok(if exists {
                CaptureOutcome::Expired
            } else {
                CaptureOutcome::NotFound
            });
        };
        conn.prepare_cached(
            "INSERT INTO bin_request
               (bin_id, seq, method, path, query, headers, body, remote_addr, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            bin_id.as_str(),
            seq,
            r.method,
            r.path,
            r.query,
            headers_to_json(&r.headers),
            r.body.as_ref(),
            r.remote_addr,
            to_ms(r.received_at),
        ])?;
        conn.prepare_cached("DELETE FROM bin_request WHERE bin_id = ?1 AND seq <= ?2")?
            .execute(params![bin_id.as_str(), seq - max])?;
        let captured = Capture {
            id: CaptureId::from_seq(seq),
            bin_id: bin_id.clone(),
            method: r.method.clone(),
            path: r.path.clone(),
            query: r.query.clone(),
            headers: r.headers.clone(),
            body: r.body.to_vec(),
            remote_addr: r.remote_addr.clone(),
            received_at: r.received_at,
        };
        Ok(CaptureOutcome::Captured(
            Box::new(captured),
            response_from_json(&response),
        ))
    }

    /// Posts a message into a channel under the next `ts`, with its follow-up messages
    /// (events, outgoing-webhook requests) stored and queued in the same transaction.
    /// Stores `messages` with their deliveries (fan-out to subscribed endpoints) as part of
    /// the caller's transaction: all of them or, on an error (a taken eventId among them),
    /// none once the caller rolls back. Returns the deliveries queued.
    pub fn publish_together(&self, messages: &[Message]) -> StoreResult<usize> {
        let publishes: Vec<PublishIn<'_>> = messages
            .iter()
            .map(|msg| PublishIn {
                msg,
                fan_out: &FanOut::Subscribed,
                idempotency: None,
            })
            .collect();
        let mut cache = EndpointsByApp::default();
        let now = messages.first().map(|m| m.created_at).unwrap_or_default();
        Ok(self
            .publish_all(&mut cache, &publishes, now)?
            .iter()
            .map(|o| match o {
                CreateMessageOutcome::Created { deliveries, .. } => *deliveries,
                CreateMessageOutcome::Replayed(_) => 0,
            })
            .sum())
    }

    /// Deletes all but the newest `keep` entries of a source's log; returns how many went.
    pub fn prune_arrivals(
        &self,
        source: &crate::domain::sources::SourceId,
        keep: u32,
    ) -> StoreResult<usize> {
        Ok(self
            .conn()
            .prepare_cached(
                "DELETE FROM ingest_arrival WHERE source_id = ?1 AND id <= (
                     SELECT id FROM ingest_arrival WHERE source_id = ?1
                     ORDER BY id DESC LIMIT 1 OFFSET ?2)",
            )?
            .execute(params![source.as_str(), i64::from(keep)])?)
    }

    /// Adds an entry to a source's log (see `SourceStore::record_arrival`).
    pub fn record_arrival(&self, a: &crate::domain::sources::Arrival) -> StoreResult<i64> {
        Ok(self
            .conn()
            .prepare_cached(
                "INSERT INTO ingest_arrival (source_id, received_at, method, path, headers, body,
                                             outcome, reason, dedupe_id, msg_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING id",
            )?
            .query_row(
                params![
                    a.source_id.as_str(),
                    to_ms(a.received_at),
                    a.request.method,
                    a.request.path,
                    to_json(&a.request.headers),
                    a.body_preview,
                    a.outcome.as_str(),
                    a.reason.as_deref(),
                    a.dedupe_id.as_deref(),
                    a.msg_id.as_ref().map(|m| m.as_str()),
                ],
                |row| row.get(0),
            )?)
    }

    pub fn post_channel_message(
        &self,
        channel_id: &ChannelId,
        m: &NewChannelMessage,
        now_us: i64,
        follow_ups: FollowUps,
    ) -> StoreResult<PostResult> {
        let conn = self.conn();
        let ts: Option<i64> = conn
            .prepare_cached(
                "UPDATE ws_channel SET last_ts = max(?2, last_ts + 1)
                 WHERE id = ?1 AND archived = 0 RETURNING last_ts",
            )?
            .query_row(params![channel_id.as_str(), now_us], |row| row.get(0))
            .optional()?;
        let Some(ts) = ts else {
            let exists = conn
                .prepare_cached("SELECT 1 FROM ws_channel WHERE id = ?1")?
                .exists([channel_id.as_str()])?;
            return Ok(if exists {
                PostResult::Archived
            } else {
                PostResult::NoChannel
            });
        };
        conn.prepare_cached(
            "INSERT INTO ws_message (channel_id, ts, text, username, icon_emoji, icon_url,
                 attachments, blocks, thread_ts, posted_by, poster_name, mrkdwn, user_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        )?
        .execute(params![
            channel_id.as_str(),
            ts,
            m.text,
            m.username,
            m.icon_emoji,
            m.icon_url,
            m.attachments,
            m.blocks,
            m.thread_ts.map(Ts::micros),
            m.posted_by.as_str(),
            m.poster_name,
            m.mrkdwn,
            m.user_id.as_ref().map(|u| u.as_str()),
        ])?;
        let message = m.stored_as(channel_id, Ts::from_micros(ts));
        let deliveries = self.publish_together(&follow_ups(&message))?;
        Ok(PostResult::Posted {
            message: Box::new(message),
            deliveries,
        })
    }
}

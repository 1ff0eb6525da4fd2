//! The PostgreSQL backend: one database that any number of Kanca nodes share.
//!
//! It keeps the SQLite backend's observable behaviour; what changes is who else is writing.
//! SQLite has one writer, this node. Here every node writes at once, so:
//!
//! - Work is claimed with `FOR UPDATE SKIP LOCKED` and a lease (`queue.rs`): two nodes never
//!   claim the same delivery, and a dead node's deliveries come back when their lease runs out.
//!   A node that restarts (same node id) takes back only its own leases at once
//!   ([`QueueStore::release_own_leases`]); other nodes' leases are theirs until they run out.
//! - Writes that SQLite's single writer made serial take row locks or rely on unique indexes
//!   (idempotency keys, fan-out, secret rotation), as each function explains.
//! - After a commit that queued work, a background task sends `NOTIFY kanca_work` (coalesced,
//!   `queue::announce_work_forever`), and [`Store::watch_new_work`] turns those into wake-ups,
//!   so an idle node starts on a message another node accepted without waiting for its poll.
//! - Publishes and attempt records are group-committed per node (`writer.rs`), as on SQLite.
//!
//! One pool of `MAX_CONNECTIONS` serves every query: PostgreSQL runs writers side by side,
//! so SQLite's split into a one-connection write pool and a read pool has no reason to exist.
//! The notification listener holds its own connection, outside that pool, for as long as it
//! runs.

mod bins;
mod charts;
mod endpoints;
mod messages;
mod notify;
mod portal;
mod queue;
mod resources;
mod rows;
mod security;
mod slack;
mod sources;
mod workspace;
mod writer;

use super::group_commit::GroupCommit;
use super::health::WriteHealth;
use super::*;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::str::FromStr;
use tokio_util::sync::{CancellationToken, DropGuard};

/// Connections in the pool. Ten covers a node's API handlers and dispatcher; every node opens
/// its own pool, so PostgreSQL's `max_connections` must allow nodes × this (plus a listener
/// connection per node). To be made configurable.
const MAX_CONNECTIONS: u32 = 10;

pub struct PgStore {
    pool: PgPool,
    /// Group commit for publishes and attempt records (`writer.rs`).
    publisher: GroupCommit,
    /// Pokes the task that announces new work to other nodes (`queue::announce_work_forever`).
    work_announcer: std::sync::Arc<tokio::sync::Notify>,
    /// This node's id, written into the leases it takes.
    node: String,
    options: PgConnectOptions,
    /// Whether writes succeed (read by `/api/v1/health` and `/metrics`).
    health: WriteHealth,
    /// Stamps rows and decides what is due ([`StoreOptions::clock`]).
    clock: Clock,
    /// Cancels background tasks (the notification listener) when the store is dropped.
    stop: CancellationToken,
    _stop_on_drop: DropGuard,
}

impl PgStore {
    /// Other nodes should look for work: called after a commit that queued some.
    fn announce_work(&self) {
        self.work_announcer.notify_one();
    }

    pub async fn connect(
        url: &str,
        node: &str,
        opts: &StoreOptions,
    ) -> anyhow::Result<std::sync::Arc<Self>> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            // While the database is down, a request waits this long for a connection and is
            // then answered 503 with `Retry-After`, rather than hanging for half a minute.
            .acquire_timeout(opts.acquire_timeout)
            // A connection whose transaction did not end cleanly is not handed out again.
            .after_release(|conn, _| {
                Box::pin(async move {
                    use sqlx::Connection;
                    Ok(!conn.is_in_transaction())
                })
            })
            .connect_with(options.clone())
            .await?;
        let stop = CancellationToken::new();
        let work_announcer = std::sync::Arc::new(tokio::sync::Notify::new());
        tokio::spawn(queue::announce_work_forever(
            pool.clone(),
            work_announcer.clone(),
            stop.clone(),
        ));
        // The publish writer holds the store weakly, so dropping the store ends it.
        Ok(std::sync::Arc::new_cyclic(|store| Self {
            publisher: GroupCommit::spawn(store.clone()),
            work_announcer,
            pool,
            node: node.to_owned(),
            options,
            health: WriteHealth::default(),
            clock: opts.clock.clone(),
            _stop_on_drop: stop.clone().drop_guard(),
            stop,
        }))
    }

    /// Brings the schema up to date. Safe to run from several nodes at once: sqlx's
    /// PostgreSQL migrator (sqlx-postgres 0.8, `migrate.rs`, `lock`) takes
    /// `pg_advisory_lock` on a key derived from the database name before it reads
    /// `_sqlx_migrations`, so a second node waits, then finds every migration applied.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        sqlx::migrate!("./migrations/postgres")
            .run(&self.pool)
            .await?;
        Ok(())
    }
}

/// Maps a unique-constraint failure to a conflict the API can explain.
pub(super) fn conflict_or(err: sqlx::Error, what: &str) -> StoreError {
    StoreError::conflict_or(err, what)
}

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    fn write_health(&self) -> &WriteHealth {
        &self.health
    }

    async fn probe_write(&self) -> StoreResult<()> {
        let result: Result<(), sqlx::Error> = async {
            let mut tx = self.pool.begin().await?;
            sqlx::query(
                "INSERT INTO write_probe (id, at) VALUES (1, now())
                         ON CONFLICT (id) DO UPDATE SET at = EXCLUDED.at",
            )
            .execute(&mut *tx)
            .await?;
            tx.commit().await
        }
        .await;
        match &result {
            Ok(()) => self.health.succeeded(),
            Err(e) if super::health::is_unavailable(e) => self.health.failed(e),
            Err(_) => {}
        }
        result.map_err(Into::into)
    }

    async fn close(&self) {
        self.stop.cancel();
        self.pool.close().await;
    }

    async fn create_message(
        &self,
        msg: &Message,
        fan_out: FanOut,
        idempotency: Option<IdempotentWrite>,
    ) -> StoreResult<CreateMessageOutcome> {
        self.publisher.publish(msg, fan_out, idempotency).await
    }
    async fn get_idempotent(&self, key: &str, scope: &str) -> StoreResult<Option<StoredResponse>> {
        messages::get_idempotent(self, key, scope).await
    }
    async fn put_idempotent(&self, write: IdempotentWrite) -> StoreResult<()> {
        messages::put_idempotent(self, &write).await
    }
    async fn claim_idempotent(&self, key: &str, scope: &str) -> StoreResult<IdempotencyClaim> {
        messages::claim_idempotent(self, key, scope).await
    }
    async fn release_idempotent(&self, key: &str, scope: &str) -> StoreResult<()> {
        messages::release_idempotent(self, key, scope).await
    }

    async fn record_attempt(
        &self,
        delivery_id: i64,
        attempt: Option<&Attempt>,
        update: DeliveryUpdate,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<DateTime<Utc>>> {
        self.publisher
            .record(delivery_id, attempt, update, now)
            .await
    }
    async fn watch_new_work(&self, on_work: Arc<dyn Fn() + Send + Sync>) -> StoreResult<()> {
        queue::watch_new_work(self, on_work).await
    }
    async fn announce_live(&self, topic: &str) -> StoreResult<()> {
        notify::notify(self, LIVE_CHANNEL, topic).await
    }
    async fn watch_live(&self, on_topic: OnLiveTopic) -> StoreResult<()> {
        notify::watch(self, LIVE_CHANNEL, on_topic).await
    }
}

/// The `NOTIFY` channel of live-stream topics (`crate::live`).
const LIVE_CHANNEL: &str = "kanca_live";

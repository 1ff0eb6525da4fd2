//! The embedded SQLite backend: one file in the data directory, nothing to install.
//!
//! SQLite allows one writer at a time, so Kanca keeps two pools: a single-connection write
//! pool (writers queue in the pool instead of retrying on `SQLITE_BUSY`) and a small read pool
//! that WAL mode lets run beside the writer. `synchronous = NORMAL` in WAL mode means a commit
//! survives the process being killed (`kill -9`); only an OS crash or power cut can lose the
//! last commits, which is the usual trade for an embedded queue. Publishes and attempt
//! records, the writes that come by the thousand, are group-committed (`writer.rs`).

mod batch;
mod bins;
mod charts;
mod endpoints;
mod hot;
mod messages;
mod portal;
mod queue;
mod reads;
mod resources;
mod rows;
mod security;
mod slack;
mod sources;
mod wal;
mod workspace;
mod writer;

use super::group_commit::GroupCommit;
use super::health::WriteHealth;
use super::*;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr;

pub struct SqliteStore {
    write: SqlitePool,
    read: SqlitePool,
    /// Point reads on the request path, without sqlx's thread hand-off (`reads.rs`).
    reads: reads::Reads,
    /// The background checkpointer's connection (`wal.rs`), closed last on shutdown.
    checkpointer: SqlitePool,
    /// This node's id, written into the leases it takes.
    node: String,
    /// Group commit for publishes and attempt records.
    writer: GroupCommit,
    /// What the writer writes through; the writer ends when this is dropped.
    _batches: Arc<writer::Batches>,
    /// Whether writes succeed (read by `/api/v1/health` and `/metrics`).
    health: Arc<WriteHealth>,
    /// Stamps rows and decides what is due ([`StoreOptions::clock`]).
    clock: Clock,
}

impl SqliteStore {
    pub async fn connect(url: &str, node: &str, opts: &StoreOptions) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            .pragma("temp_store", "memory")
            // Every page a transaction changes goes to the log whole. At 4 KiB (SQLite's
            // default) a delivery's three small transactions wrote about 45 KiB to disk; at
            // 2 KiB, about 20 KiB (`kanca bench --rate 300`, BENCHMARKS.md). It applies when
            // the file is created; an existing database keeps its page size.
            .page_size(PAGE_SIZE)
            // When a checkpoint lets the log start over, the file is cut back to this size
            // instead of staying as large as it ever grew.
            .pragma("journal_size_limit", opts.wal_limit.to_string());
        let max_bytes = opts.max_database_bytes;
        // Set by the hot path (`writer.rs`) just before it gives back the write connection it
        // held only as a lock: that connection ran no statement, so it needs no check.
        let held_as_lock = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let released_unused = held_as_lock.clone();
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            // A ping is a round trip to the connection's thread and tells nothing about a
            // local file; a broken connection is replaced on release (`still_usable`).
            .test_before_acquire(false)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if let Some(max) = max_bytes {
                        cap_size(conn, max).await?;
                    }
                    Ok(())
                })
            })
            .after_release(move |conn, _| {
                let unused = released_unused.swap(false, std::sync::atomic::Ordering::AcqRel);
                Box::pin(async move {
                    if unused {
                        return Ok(true);
                    }
                    still_usable(conn).await
                })
            })
            // Checkpoints are left to a background connection (`wal.rs`): run inside a
            // commit, they stall every writer waiting behind it for the length of an fsync.
            .connect_with(options.clone().pragma("wal_autocheckpoint", "0"))
            .await?;
        let checkpointer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        let db_path = options.get_filename().to_path_buf();
        let wal_path = std::path::PathBuf::from(format!("{}-wal", db_path.display()));
        tokio::spawn(wal::checkpoint_regularly(
            checkpointer.clone(),
            write.clone(),
            wal_path,
            opts.wal_limit,
        ));
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.read_only(true))
            .await?;
        let health = Arc::new(WriteHealth::default());
        let reads = reads::Reads::new(db_path.clone());
        let hot = hot::HotConn::new(hot::HotSettings {
            path: db_path,
            max_bytes,
            wal_limit: opts.wal_limit,
        });
        let batches = Arc::new(writer::Batches {
            lock: writer::WriteLock::new(write.clone(), held_as_lock),
            hot: Arc::new(tokio::sync::Mutex::new(hot)),
            node: node.to_owned(),
            health: health.clone(),
            clock: opts.clock.clone(),
        });
        Ok(Self {
            writer: GroupCommit::spawn(Arc::downgrade(&batches)),
            _batches: batches,
            write,
            read,
            reads,
            checkpointer,
            node: node.to_owned(),
            health,
            clock: opts.clock.clone(),
        })
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&self.write)
            .await?;
        Ok(())
    }
}

/// A small write that needs new pages, as a publish does: it fails while the disk (or
/// `KANCA_SQLITE_MAX_SIZE`) is full and succeeds once there is room again.
async fn probe(write: &SqlitePool) -> Result<(), sqlx::Error> {
    let mut tx = write.begin().await?;
    sqlx::query("INSERT OR REPLACE INTO write_probe (id, filler) VALUES (1, zeroblob(16384))")
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM write_probe")
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// The page size of databases Kanca creates.
const PAGE_SIZE: u32 = 2048;

/// Caps the database file at `max` bytes (`KANCA_SQLITE_MAX_SIZE`): past it SQLite answers
/// `SQLITE_FULL`, exactly as on a full disk. The cap is in pages, of the size this file has.
async fn cap_size(conn: &mut sqlx::SqliteConnection, max: u64) -> Result<(), sqlx::Error> {
    let page_size: i64 = sqlx::query_scalar("PRAGMA page_size")
        .fetch_one(&mut *conn)
        .await?;
    let pages = (max / page_size.max(512) as u64).max(1);
    sqlx::query(&format!("PRAGMA max_page_count = {pages}"))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Whether the write connection can go back to the pool: it must not be inside a
/// transaction, neither by SQLite's own state nor by the driver's count of them.
///
/// A `COMMIT` that fails (a full disk) can leave the two disagreeing: SQLite rolls the
/// transaction back by itself, the driver's `ROLLBACK` then fails ("no transaction is
/// active") and its count stays at one, so the next "transaction" is only a savepoint inside
/// whatever SQLite does next, and after one more failure every later "commit" releases a
/// savepoint in a transaction that is never committed: writes answered as stored, visible on
/// this connection only, gone on restart. A connection in that state is closed here and the
/// pool opens a fresh one, so a failed write leaves nothing behind.
async fn still_usable(conn: &mut sqlx::SqliteConnection) -> Result<bool, sqlx::Error> {
    use sqlx::Connection;
    if conn.is_in_transaction() {
        tracing::warn!("closing the SQLite write connection: a failed transaction left it open");
        return Ok(false);
    }
    let mut handle = conn.lock_handle().await?;
    // SAFETY: the handle is locked, so the connection's worker thread is not using it, and
    // `sqlite3_get_autocommit` only reads the connection's state.
    let autocommit =
        unsafe { libsqlite3_sys::sqlite3_get_autocommit(handle.as_raw_handle().as_ptr()) } != 0;
    if !autocommit {
        tracing::warn!("closing the SQLite write connection: SQLite left a transaction open");
    }
    Ok(autocommit)
}

/// Maps a unique-constraint failure to a conflict the API can explain.
pub(super) fn conflict_or(err: sqlx::Error, what: &str) -> StoreError {
    StoreError::conflict_or(err, what)
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    fn write_health(&self) -> &WriteHealth {
        &self.health
    }

    async fn probe_write(&self) -> StoreResult<()> {
        let result = probe(&self.write).await;
        match &result {
            Ok(()) => self.health.succeeded(),
            Err(e) if super::health::is_unavailable(e) => self.health.failed(e),
            Err(_) => {}
        }
        result.map_err(Into::into)
    }

    /// Checkpoints the whole log into the database file and closes every connection; the last
    /// one to close removes the log, so a clean stop leaves no WAL behind.
    async fn close(&self) {
        self.read.close().await;
        wal::truncate(&self.write).await;
        self.write.close().await;
        self.checkpointer.close().await;
    }

    async fn create_message(
        &self,
        msg: &Message,
        fan_out: FanOut,
        idempotency: Option<IdempotentWrite>,
    ) -> StoreResult<CreateMessageOutcome> {
        self.writer.publish(msg, fan_out, idempotency).await
    }
    async fn get_idempotent(&self, key: &str, scope: &str) -> StoreResult<Option<StoredResponse>> {
        messages::get_idempotent(&self.read, key, scope, self.clock.now()).await
    }
    async fn put_idempotent(&self, write: IdempotentWrite) -> StoreResult<()> {
        let mut conn = self.write.acquire().await?;
        messages::put_idempotent(&mut conn, &write, self.clock.now()).await?;
        Ok(())
    }
    async fn claim_idempotent(&self, key: &str, scope: &str) -> StoreResult<IdempotencyClaim> {
        let mut conn = self.write.acquire().await?;
        messages::claim_idempotent(&mut conn, key, scope, self.clock.now()).await
    }
    async fn release_idempotent(&self, key: &str, scope: &str) -> StoreResult<()> {
        let mut conn = self.write.acquire().await?;
        messages::release_idempotent(&mut conn, key, scope).await
    }

    async fn record_attempt(
        &self,
        delivery_id: i64,
        attempt: Option<&Attempt>,
        update: DeliveryUpdate,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<DateTime<Utc>>> {
        self.writer.record(delivery_id, attempt, update, now).await
    }
    /// Nothing to watch: this node is the only writer, and the in-process waker hears of
    /// every piece of work it creates.
    async fn watch_new_work(&self, _on_work: Arc<dyn Fn() + Send + Sync>) -> StoreResult<()> {
        Ok(())
    }
    /// Nothing to tell: every live stream of this database is served by this process, and
    /// [`crate::live::LiveHub`] wakes them in-process.
    async fn announce_live(&self, _topic: &str) -> StoreResult<()> {
        Ok(())
    }
    async fn watch_live(&self, _on_topic: OnLiveTopic) -> StoreResult<()> {
        Ok(())
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use sqlx::Row;

    /// A migrated store in a directory of its own (kept alive by the returned guard).
    pub async fn migrated() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("kanca.db").display());
        let store = SqliteStore::connect(&url, "test", &StoreOptions::default())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        (dir, store)
    }

    /// Every index's columns, by table, with whether it is partial (`WHERE`).
    async fn indexes(store: &SqliteStore) -> Vec<(String, String, Vec<String>, bool)> {
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
               AND name NOT LIKE '_sqlx_%'",
        )
        .fetch_all(&store.write)
        .await
        .unwrap();
        let mut all = Vec::new();
        for table in tables {
            let list = sqlx::query(&format!("PRAGMA index_list('{table}')"))
                .fetch_all(&store.write)
                .await
                .unwrap();
            for index in list {
                let name: String = index.get("name");
                let partial: i64 = index.get("partial");
                let columns = sqlx::query(&format!("PRAGMA index_info('{name}')"))
                    .fetch_all(&store.write)
                    .await
                    .unwrap()
                    .iter()
                    .map(|c| c.get::<Option<String>, _>("name").unwrap_or_default())
                    .collect();
                all.push((table.clone(), name, columns, partial == 1));
            }
        }
        all
    }

    /// Every index costs a page write per row written to its table, in every commit: an index
    /// whose columns begin another index of the same table serves no lookup the longer one
    /// does not, and only costs. (Partial indexes are left out: they are smaller on purpose.)
    #[tokio::test]
    async fn no_index_is_the_first_columns_of_another() {
        let (_dir, store) = migrated().await;
        let all = indexes(&store).await;
        assert!(
            all.iter().any(|(t, _, _, _)| t == "delivery"),
            "no indexes read: {all:?}"
        );
        for (table, name, columns, partial) in &all {
            if *partial {
                continue;
            }
            for (other_table, other, other_columns, other_partial) in &all {
                if other_table != table || other == name || *other_partial {
                    continue;
                }
                assert!(
                    !(other_columns.len() > columns.len() && other_columns.starts_with(columns)),
                    "{table}: index {name} {columns:?} is the start of {other} {other_columns:?}"
                );
            }
        }
    }

    /// SQLite's plan for `sql` with `values` bound to its parameters after the first (a text),
    /// one line per step (`SEARCH t USING INDEX …`, `SCAN t`).
    pub async fn explain(store: &SqliteStore, sql: &str, values: &[i64]) -> Vec<String> {
        let text = format!("EXPLAIN QUERY PLAN {sql}");
        let mut query = sqlx::query(&text);
        if sql.contains("?1") {
            query = query.bind("C1");
        }
        for v in values {
            query = query.bind(*v);
        }
        let rows = query.fetch_all(&store.write).await.unwrap();
        rows.iter().map(|r| r.get::<String, _>("detail")).collect()
    }
}

//! Keeping the write-ahead log bounded.
//!
//! In WAL mode every commit appends the pages it changed to `kanca.db-wal`; a checkpoint
//! copies them back into the database file. The log can only start over from its beginning
//! once a checkpoint has copied *every* frame and no reader still needs one. Under steady
//! load that moment never comes: passive checkpoints (which never block the writer) copy
//! what is there, but new frames arrive meanwhile, so the log keeps growing (measured: 1.36 GB
//! after a minute at 300 messages/s) and, with a full disk, starts losing writes.
//!
//! So a background task looks at the log four times a second and checkpoints:
//! - passively, once a second, while the log is under the limit (`KANCA_SQLITE_WAL_LIMIT`):
//!   the writer is never held up;
//! - with `RESTART` once it passes the limit, on the write connection between two of its
//!   transactions: that waits for readers of old frames and copies the rest, holding the
//!   writer for the time of that copy, so the next commit writes the log from its beginning
//!   again. A passive checkpoint runs just before it, so the rest is only what was committed
//!   during that one: the RESTART used to copy (and sync) up to a second of log while the
//!   writer waited, at 1,000 msgs/s a 40–55 ms stall every two to four seconds, which was the
//!   p99 (BENCHMARKS.md, step 5). What is left, 14–17 ms of copying and syncing every 1.6 s
//!   at 1,000 msgs/s on the project's machine, is still that rate's p99 (step 6). The file
//!   keeps its blocks (cut back to the limit by `journal_size_limit`): `TRUNCATE` here freed
//!   them all and the log then allocated them again while growing, and on ext4 those metadata
//!   changes wait for the journal's commits. Measured at 1,000 msgs/s: p99
//!   publish→delivered 44–65 ms with `TRUNCATE`, 19–20 ms with `RESTART` (BENCHMARKS.md);
//! - with `TRUNCATE` when no write has committed for a second, so an idle node's log is
//!   empty;
//! - and once more on shutdown ([`truncate`]), before the last connection closes (which
//!   removes the file).

use sqlx::SqlitePool;
use std::path::PathBuf;
use std::time::Duration;

/// How often the log's size is looked at: it can pass the limit by what is written in this
/// time, at most.
const LOOK_EVERY: Duration = Duration::from_millis(250);
/// Passive checkpoints, every this many looks (a second).
const PASSIVE_EVERY: u32 = 4;

/// Runs as long as the pool is open. Passive checkpoints run on `pool`, a connection of their
/// own; `TRUNCATE` runs on the write connection (`write`), between the writer's transactions,
/// because from anywhere else it would make the writer's next transaction fail with
/// `SQLITE_BUSY` (its snapshot went stale under it) instead of waiting.
pub(super) async fn checkpoint_regularly(
    pool: SqlitePool,
    write: SqlitePool,
    wal: PathBuf,
    limit: u64,
) {
    let mut tick = tokio::time::interval(LOOK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_version: Option<i64> = None;
    let mut looks: u32 = 0;
    loop {
        tick.tick().await;
        if pool.is_closed() || write.is_closed() {
            return;
        }
        looks = looks.wrapping_add(1);
        let size = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        let over = size > limit;
        let mode = if looks % PASSIVE_EVERY != 0 {
            if !over {
                continue;
            }
            "RESTART"
        } else {
            // `data_version` changes on this connection whenever another one commits.
            let version: Option<i64> = sqlx::query_scalar("PRAGMA data_version")
                .fetch_one(&pool)
                .await
                .ok();
            let idle = version.is_some() && version == last_version;
            last_version = version;
            if idle && size > 0 {
                // A RESTART leaves the file in place (over the limit, it is cut back only
                // by the next commit, which an idle node does not make).
                "TRUNCATE"
            } else if over {
                "RESTART"
            } else {
                "PASSIVE"
            }
        };
        if mode == "RESTART" {
            // Most of the log is copied (and the files synced) first without holding the
            // writer, so the RESTART, which holds it, has only what came meanwhile to copy.
            if let Err(e) = checkpoint(&pool, "PASSIVE").await {
                if !pool.is_closed() {
                    tracing::warn!(error = %e, wal_bytes = size, "WAL checkpoint failed");
                }
            }
        }
        // Both modes that wait for the writer run between its transactions.
        let on = if mode == "PASSIVE" { &pool } else { &write };
        if let Err(e) = checkpoint(on, mode).await {
            if !pool.is_closed() && !write.is_closed() {
                tracing::warn!(error = %e, mode, wal_bytes = size, "WAL checkpoint failed");
            }
        }
    }
}

/// Copies the whole log into the database file and empties it (shutdown).
pub(super) async fn truncate(pool: &SqlitePool) {
    if let Err(e) = checkpoint(pool, "TRUNCATE").await {
        tracing::warn!(error = %e, "the final WAL checkpoint failed");
    }
}

async fn checkpoint(pool: &SqlitePool, mode: &str) -> Result<(), sqlx::Error> {
    // (busy, log frames, frames copied); busy = 1 when a RESTART or TRUNCATE could not finish
    // in the busy timeout, which the next tick tries again.
    let (busy, _, _): (i64, i64, i64) = sqlx::query_as(&format!("PRAGMA wal_checkpoint({mode})"))
        .fetch_one(pool)
        .await?;
    if busy != 0 && mode != "PASSIVE" {
        tracing::debug!(
            mode,
            "a WAL checkpoint was held up by a reader; trying next tick"
        );
    }
    Ok(())
}

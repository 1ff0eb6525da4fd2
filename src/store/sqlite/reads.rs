//! Point reads on the request path, run synchronously on read-only connections of their own.
//!
//! Why: sqlx hands every SQLite statement to the connection's worker thread and waits for the
//! answer, two thread switches per statement. An incoming-webhook post read its hook and its
//! channel that way before its write, and the channel's live stream read the new messages the
//! same way: at full speed, 39 % of the server's CPU samples were in sqlx's worker threads
//! (`kanca bench --scenario incoming-webhook`, BENCHMARKS.md). Most of that turned out to be the
//! page statement scanning the channel, fixed in [`crate::store::workspace::ChannelMessageQuery`];
//! moving the reads here gave the rest (3,162–3,302 → 3,804 posts/s before that fix). An indexed
//! lookup in SQLite itself takes microseconds,
//! less than the hand-off, so these reads run inline on the calling task, as the writer's
//! statements do (`hot.rs`), through statements prepared once per connection.
//!
//! They read the committed state, like the sqlx read pool: WAL mode lets any number of
//! readers run beside the one writer without waiting for it. A connection is taken from a
//! small stack for the length of one read and put back, so concurrent requests each get
//! their own; at most [`KEEP`] are kept open.

use crate::store::{StoreError, StoreResult};
use rusqlite::{Connection, OpenFlags};
use std::path::PathBuf;
use std::sync::Mutex;

/// Idle connections kept for the next reads; more are opened while more requests read at once.
const KEEP: usize = 4;

pub(super) struct Reads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Reads {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `read` on an idle connection (opening one if none is idle).
    pub fn with<T>(&self, read: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> StoreResult<T> {
        let idle = self.idle.lock().expect("read connections").pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.open()?,
        };
        let result = read(&conn);
        // A connection that failed may be fine (a missing row is not an error here, a full
        // disk does not affect reads) but is not worth the doubt: it is dropped, and the next
        // read opens a fresh one.
        if result.is_ok() {
            let mut idle = self.idle.lock().expect("read connections");
            if idle.len() < KEEP {
                idle.push(conn);
            }
        }
        result.map_err(StoreError::from)
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // A reader waits only when a checkpoint is restarting the log, for moments.
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.set_prepared_statement_cache_capacity(16);
        Ok(conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_see_committed_rows_and_reuse_their_connections() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
                 INSERT INTO t VALUES (1, 'one');",
            )
            .unwrap();
        let reads = Reads::new(path);
        let read = |id: i64| {
            reads.with(|c| {
                use rusqlite::OptionalExtension;
                c.prepare_cached("SELECT v FROM t WHERE id = ?1")?
                    .query_row([id], |r| r.get::<_, String>(0))
                    .optional()
            })
        };
        assert_eq!(read(1).unwrap().as_deref(), Some("one"));
        assert_eq!(read(2).unwrap(), None);
        writer
            .execute("INSERT INTO t VALUES (2, 'two')", [])
            .unwrap();
        assert_eq!(read(2).unwrap().as_deref(), Some("two"));
        assert_eq!(
            reads.idle.lock().unwrap().len(),
            1,
            "one connection, reused"
        );
        // A failing read gives a clear error and does not keep its connection.
        let err = reads
            .with(|c| c.execute_batch("SELECT * FROM missing"))
            .unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
        assert_eq!(reads.idle.lock().unwrap().len(), 0);
    }
}

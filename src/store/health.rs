//! Storage faults: which database errors mean "storage is unavailable right now", and this
//! node's running view of whether its writes succeed.
//!
//! A full disk, an I/O error or a database that does not answer is not the client's fault and
//! not a bug either: the same request can succeed once the operator has freed space or the
//! database is back. Such errors become [`super::StoreError::Unavailable`], which the API
//! answers with 503 and `Retry-After` (never 202: nothing was stored), so clients retry.
//!
//! [`WriteHealth`] is what `/api/v1/health` and `/metrics` read: the group-commit writers
//! report every batch's outcome to it, so the health check says "failing" while writes fail,
//! not only while the database refuses a `SELECT 1`. It logs one error line when an episode of
//! failures starts and one line when writes succeed again, not one per request.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What `Retry-After` says on a 503 for unavailable storage, in seconds: long enough not to
/// hammer a database that is down, short enough that a freed disk is used at once.
pub const RETRY_AFTER_SECS: u64 = 2;

/// Whether a database error means the storage itself is unavailable (full, failing, down or
/// out of connections), as opposed to a problem with one statement or its data.
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => true,
        sqlx::Error::Database(db) => {
            let Some(code) = db.code() else { return false };
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                code.parse::<i32>()
                    .is_ok_and(|c| sqlite_code_is_unavailable(c & 0xff))
            } else {
                postgres_state_is_unavailable(&code)
            }
        }
        _ => false,
    }
}

/// The same for the SQLite hot path's driver (`store/sqlite/hot.rs`).
pub fn is_unavailable_sqlite(e: &rusqlite::Error) -> bool {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => sqlite_code_is_unavailable(f.extended_code & 0xff),
        _ => false,
    }
}

/// SQLite primary result codes that say the file or the disk under it cannot take the write:
/// `SQLITE_BUSY` (5, after the busy timeout), `SQLITE_LOCKED` (6), `SQLITE_NOMEM` (7),
/// `SQLITE_READONLY` (8), `SQLITE_IOERR` (10), `SQLITE_FULL` (13, also what
/// `max_page_count` yields), `SQLITE_CANTOPEN` (14), `SQLITE_PROTOCOL` (15).
fn sqlite_code_is_unavailable(primary: i32) -> bool {
    matches!(primary, 5 | 6 | 7 | 8 | 10 | 13 | 14 | 15)
}

/// PostgreSQL SQLSTATEs of the same kind: connection exceptions (class 08), insufficient
/// resources (53: disk full, out of memory, too many connections), operator intervention
/// (57P01–57P03: shutting down, cannot connect now), system errors (58), a read-only
/// standby (25006), serialization failures or deadlocks (40001, 40P01), which a retry
/// resolves, and the database refusing or lacking connections to it while it is being
/// restored or recreated (55000 "not currently accepting connections", 3D000).
fn postgres_state_is_unavailable(state: &str) -> bool {
    state.starts_with("08")
        || state.starts_with("53")
        || state.starts_with("58")
        || matches!(
            state,
            "57P01" | "57P02" | "57P03" | "25006" | "40001" | "40P01" | "55000" | "3D000"
        )
}

/// This node's view of whether its writes succeed.
#[derive(Debug, Default)]
pub struct WriteHealth {
    failing: AtomicBool,
    failures: AtomicU64,
    /// What failed first in the current episode, for the health answer.
    last_error: Mutex<Option<String>>,
    /// When a write last failed for want of storage.
    last_failure: Mutex<Option<Instant>>,
    /// When an episode's start was last logged; see [`QUIET`].
    last_logged: Mutex<Option<Instant>>,
    /// Whether the current episode's start was logged, so its end is too.
    logged: AtomicBool,
}

/// Near a size cap or on a nearly full disk, small writes fit while large ones do not, so
/// writes can fail and succeed by turns many times a second. An episode that starts within
/// this long of the last logged one is not logged again (it is still counted and shown by
/// the health check): one line per outage, not one per flap.
const QUIET: Duration = Duration::from_secs(30);

impl WriteHealth {
    /// A write committed: the episode (if any) is over.
    pub fn succeeded(&self) {
        if self.failing.swap(false, Ordering::AcqRel) {
            if self.logged.swap(false, Ordering::AcqRel) {
                tracing::warn!("storage writes succeed again");
            }
            *self.last_error.lock().expect("health lock") = None;
        }
    }

    /// A write failed because storage is unavailable. Logs at error level once per episode.
    pub fn failed(&self, error: &dyn std::fmt::Display) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        *self.last_failure.lock().expect("health lock") = Some(Instant::now());
        if !self.failing.swap(true, Ordering::AcqRel) {
            let text = error.to_string();
            let mut last_logged = self.last_logged.lock().expect("health lock");
            if last_logged.is_none_or(|at| at.elapsed() >= QUIET) {
                tracing::error!(error = %text,
                    "storage writes are failing; answering 503 until they succeed again");
                *last_logged = Some(Instant::now());
                self.logged.store(true, Ordering::Release);
            } else {
                tracing::debug!(error = %text, "storage writes are failing again");
            }
            *self.last_error.lock().expect("health lock") = Some(text);
        }
    }

    /// Whether the last write this node tried failed for want of storage.
    pub fn is_failing(&self) -> bool {
        self.failing.load(Ordering::Acquire)
    }

    /// Whether writes are failing and one failed within `window`: then the health check need
    /// not probe (a small probe can fit where the writes in flight do not).
    pub fn failed_within(&self, window: Duration) -> bool {
        self.is_failing()
            && self
                .last_failure
                .lock()
                .expect("health lock")
                .is_some_and(|at| at.elapsed() < window)
    }

    /// Writes that failed for want of storage since the process started (for `/metrics`).
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// The error that started the current episode, if writes are failing.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().expect("health lock").clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_codes() {
        // SQLITE_FULL and an extended I/O error code (SQLITE_IOERR_WRITE = 778).
        assert!(sqlite_code_is_unavailable(13));
        assert!(sqlite_code_is_unavailable(778 & 0xff));
        // SQLITE_CONSTRAINT (19) is the statement's problem, not the storage's.
        assert!(!sqlite_code_is_unavailable(19));
    }

    #[test]
    fn postgres_states() {
        for s in ["08006", "53100", "57P01", "58030", "40001"] {
            assert!(postgres_state_is_unavailable(s), "{s}");
        }
        for s in ["23505", "22021", "23503", "42P01"] {
            assert!(!postgres_state_is_unavailable(s), "{s}");
        }
    }

    #[test]
    fn one_episode_counts_every_failure() {
        let h = WriteHealth::default();
        assert!(!h.is_failing());
        h.failed(&"disk full");
        h.failed(&"disk full again");
        assert!(h.is_failing());
        assert_eq!(h.failures(), 2);
        assert_eq!(h.last_error().as_deref(), Some("disk full"));
        h.succeeded();
        assert!(!h.is_failing());
        assert_eq!(h.last_error(), None);
    }

    #[test]
    fn a_flapping_store_is_logged_once() {
        let h = WriteHealth::default();
        h.failed(&"full");
        assert!(
            h.logged.load(Ordering::Acquire),
            "the first episode is logged"
        );
        h.succeeded();
        h.failed(&"full again");
        assert!(h.is_failing(), "still reported as failing");
        assert!(
            !h.logged.load(Ordering::Acquire),
            "an episode right after the last is not logged again"
        );
        assert_eq!(h.failures(), 2);
    }
}

//! SQLite's part in group commit ([`crate::store::group_commit`]): its transactions, run on
//! the hot-path connection (`hot.rs`) while holding the write pool's one connection, so the
//! backend still has one writer at a time.
//!
//! When storage fails mid-batch (a full disk, an I/O error), SQLite may roll the transaction
//! back on its own or leave it open; [`HotConn::rollback`] ends it either way and replaces a
//! connection that cannot get out of it, so the next batch starts on a clean connection.
//!
//! The write pool's connection is kept between batches that come close together
//! ([`WriteLock`]): sqlx pings a connection on its way back to the pool, a round trip to its
//! thread. At 1,000 msgs/s (three small batches per message) those pings, with the tokio
//! workers they woke, were about half of the server's thread switches.

use super::hot::HotConn;
use crate::store::group_commit::{BatchWriter, Job, PublishIn, RecordIn};
use crate::store::health::WriteHealth;
use crate::store::rules::EndpointsByApp;
use crate::store::*;
use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqlitePool};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use tokio::sync::{Mutex, OwnedMutexGuard};

/// How long the writer keeps the connection while batches keep coming before it goes back
/// to the pool, whose queue is fair: a write waiting there gets its turn within this.
const KEEP_BUSY: Duration = Duration::from_millis(20);

/// The write pool's one connection, held by the writer as a lock: while the writer has it, no
/// other write can start on SQLite (the pool's other users queue for it instead of meeting
/// `SQLITE_BUSY`). Kept from one batch to the next while they follow within the writer's
/// [`IDLE_AFTER`] (a write of the management API waits at most that long behind an idle
/// writer), for at most [`KEEP_BUSY`] at a stretch.
///
/// [`IDLE_AFTER`]: crate::store::group_commit::IDLE_AFTER
pub(super) struct WriteLock {
    pool: SqlitePool,
    kept: std::sync::Mutex<Option<Kept>>,
    /// Tells the write pool that the connection coming back was only held as a lock
    /// (`mod.rs`), so its `after_release` check is skipped (sqlx still pings it).
    held_as_lock: Arc<AtomicBool>,
}

struct Kept {
    conn: PoolConnection<Sqlite>,
    since: Instant,
}

impl WriteLock {
    pub fn new(pool: SqlitePool, held_as_lock: Arc<AtomicBool>) -> Arc<Self> {
        Arc::new(Self {
            pool,
            kept: std::sync::Mutex::new(None),
            held_as_lock,
        })
    }

    /// The connection: the one kept since the last batch if it has not been kept too long,
    /// else one from the pool (after whoever was waiting for it).
    async fn take(&self) -> StoreResult<Kept> {
        let kept = self.kept.lock().expect("not poisoned").take();
        match kept {
            Some(k) if k.since.elapsed() < KEEP_BUSY => return Ok(k),
            Some(k) => self.give_back(k),
            None => {}
        }
        let conn = self.pool.acquire().await?;
        Ok(Kept {
            conn,
            since: Instant::now(),
        })
    }

    fn keep(&self, k: Kept) {
        *self.kept.lock().expect("not poisoned") = Some(k);
    }

    fn give_back(&self, k: Kept) {
        // The pool has one connection, so the release this flag is for is the next one.
        self.held_as_lock.store(true, Ordering::Release);
        drop(k.conn);
    }

    /// Gives the connection back to the pool if the writer kept it.
    pub fn let_go(&self) {
        let kept = self.kept.lock().expect("not poisoned").take();
        if let Some(k) = kept {
            self.give_back(k);
        }
    }

    pub fn is_kept(&self) -> bool {
        self.kept.lock().expect("not poisoned").is_some()
    }
}

pub(super) struct Batches {
    /// The write pool's connection, held for the length of each transaction and kept between
    /// transactions that come close together.
    pub lock: Arc<WriteLock>,
    pub hot: Arc<Mutex<HotConn>>,
    /// This node's id: only its own leases are moved on.
    pub node: String,
    pub health: Arc<WriteHealth>,
    pub clock: Clock,
}

/// A transaction on the hot connection. Dropped without [`BatchWriter::commit`], it is rolled
/// back.
pub(super) struct HotTx {
    conn: OwnedMutexGuard<HotConn>,
    /// Held, not used: no other write can start on SQLite until this transaction ends.
    writer: Option<Kept>,
    lock: Arc<WriteLock>,
}

impl HotTx {
    /// The connection, for a job ([`crate::store::group_commit::GroupCommit::job`]), which
    /// gets the transaction as `&mut dyn Any`.
    pub fn of(tx: &mut dyn std::any::Any) -> StoreResult<&HotConn> {
        tx.downcast_mut::<HotTx>()
            .map(|tx| &*tx.conn)
            .ok_or_else(|| {
                StoreError::Other(anyhow::anyhow!("a job got another backend's transaction"))
            })
    }
}

impl Drop for HotTx {
    fn drop(&mut self) {
        if self.conn.in_transaction() {
            self.conn.rollback();
        }
        if let Some(kept) = self.writer.take() {
            self.lock.keep(kept);
        }
    }
}

#[async_trait]
impl BatchWriter for Batches {
    type Tx = HotTx;

    async fn begin(&self) -> StoreResult<Self::Tx> {
        let writer = self.lock.take().await?;
        let conn = self.hot.clone().lock_owned().await;
        let mut tx = HotTx {
            conn,
            writer: Some(writer),
            lock: self.lock.clone(),
        };
        // Dropped on failure: the connection is kept for the next batch.
        tx.conn.begin()?;
        Ok(tx)
    }

    async fn commit(&self, mut tx: Self::Tx) -> StoreResult<()> {
        tx.conn.commit()
    }

    async fn publish_all(
        &self,
        tx: &mut Self::Tx,
        publishes: &[PublishIn<'_>],
        now: DateTime<Utc>,
    ) -> StoreResult<(Vec<CreateMessageOutcome>, u64)> {
        let mut endpoints = EndpointsByApp::default();
        let outcomes = tx.conn.publish_all(&mut endpoints, publishes, now)?;
        let queued = outcomes
            .iter()
            .map(|o| match o {
                CreateMessageOutcome::Created { deliveries, .. } => *deliveries as u64,
                CreateMessageOutcome::Replayed(_) => 0,
            })
            .sum();
        Ok((outcomes, queued))
    }

    async fn record_all(
        &self,
        tx: &mut Self::Tx,
        records: &[RecordIn<'_>],
    ) -> StoreResult<Vec<Option<DateTime<Utc>>>> {
        tx.conn.record_all(&self.node, records)
    }

    async fn claim_all(
        &self,
        tx: &mut Self::Tx,
        claims: &[(u32, Duration, DateTime<Utc>)],
    ) -> StoreResult<Vec<Claimed>> {
        claims
            .iter()
            .map(|(limit, lease, now)| tx.conn.claim(&self.node, *now, *limit, *lease))
            .collect()
    }

    async fn run_jobs(
        &self,
        tx: &mut Self::Tx,
        jobs: &mut [&mut (dyn Job + 'static)],
    ) -> StoreResult<Vec<Option<StoreError>>> {
        let mut failed = Vec::with_capacity(jobs.len());
        for job in jobs.iter_mut() {
            tx.conn.savepoint()?;
            match job.run(tx) {
                Ok(()) => {
                    tx.conn.release_savepoint()?;
                    failed.push(None);
                }
                Err(e) if e.is_unavailable() => return Err(e),
                Err(e) => {
                    tx.conn.rollback_to_savepoint()?;
                    failed.push(Some(e));
                }
            }
        }
        Ok(failed)
    }

    fn keeps_between_batches(&self) -> bool {
        self.lock.is_kept()
    }

    fn idle(&self) {
        self.lock.let_go();
    }

    fn health(&self) -> &WriteHealth {
        &self.health
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::migrated;
    use crate::store::group_commit::IDLE_AFTER;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    /// An empty claim: a batch of its own, one transaction on the hot connection.
    async fn batch(store: &super::super::SqliteStore) {
        let claimed = store
            .writer
            .claim(chrono::DateTime::UNIX_EPOCH, 1, Duration::from_secs(30))
            .await
            .unwrap();
        assert!(claimed.jobs.is_empty());
    }

    #[tokio::test]
    async fn the_writer_keeps_the_write_lock_between_batches_and_lets_go_when_idle() {
        let (_dir, store) = migrated().await;
        batch(&store).await;
        assert!(
            store._batches.lock.is_kept(),
            "the next batch should not have to take the lock from the pool again"
        );
        let mut waited = Duration::ZERO;
        while store._batches.lock.is_kept() {
            assert!(
                waited < Duration::from_secs(5),
                "the idle writer kept the lock"
            );
            tokio::time::sleep(IDLE_AFTER).await;
            waited += IDLE_AFTER;
        }
        // Back in the pool: a write outside the writer goes ahead, and the next batch too.
        sqlx::query("INSERT OR REPLACE INTO write_probe (id, filler) VALUES (1, x'00')")
            .execute(&store.write)
            .await
            .unwrap();
        batch(&store).await;
    }

    #[tokio::test]
    async fn a_write_outside_the_writer_gets_its_turn_while_batches_keep_coming() {
        let (_dir, store) = migrated().await;
        let store = Arc::new(store);
        let done = Arc::new(AtomicBool::new(false));
        // Batches back to back, never IDLE_AFTER apart, until the other write is through (or
        // for ten seconds, which means it was held back for as long as batches came).
        let busy = tokio::spawn({
            let (store, done) = (store.clone(), done.clone());
            async move {
                let until = tokio::time::Instant::now() + Duration::from_secs(10);
                let mut batches = 0u32;
                while !done.load(Ordering::Acquire) {
                    if tokio::time::Instant::now() >= until {
                        return (false, batches);
                    }
                    batch(&store).await;
                    batches += 1;
                }
                (true, batches)
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        sqlx::query("INSERT OR REPLACE INTO write_probe (id, filler) VALUES (1, x'00')")
            .execute(&store.write)
            .await
            .unwrap();
        done.store(true, Ordering::Release);
        let (interleaved, batches) = busy.await.unwrap();
        assert!(
            interleaved,
            "the write waited until the batches stopped ({batches} batches)"
        );
        assert!(batches > 1, "the batches were not back to back");
    }

    mod linger {
        use super::super::super::SqliteStore;
        use super::migrated;
        use crate::domain::*;
        use crate::store::group_commit::GroupCommit;
        use crate::store::*;
        use chrono::{DateTime, TimeDelta, Utc};
        use std::sync::Arc;
        use std::time::Duration;

        /// Longer than any test here takes: a record held back this long would fail the test
        /// by its timeout, and one shown held back is held for a reason, not for the machine.
        const LINGER: Duration = Duration::from_secs(60);

        async fn app_with_endpoint(store: &SqliteStore) -> AppId {
            let app = store
                .create_app(ApplicationFields {
                    uid: None,
                    name: "linger".into(),
                    throttle_rate: None,
                    metadata: Default::default(),
                })
                .await
                .unwrap();
            store
                .create_endpoint(
                    &app.id,
                    EndpointFields {
                        uid: None,
                        url: EndpointUrl::parse("https://example.com/hook", false).unwrap(),
                        description: String::new(),
                        event_types: None,
                        channels: None,
                        disabled: false,
                        throttle_rate: None,
                        metadata: Default::default(),
                        headers: Default::default(),
                    },
                    EndpointSecret::generate(),
                )
                .await
                .unwrap();
            app.id
        }

        /// The tests' one time: later than any real clock, so every delivery is due by it.
        fn at() -> DateTime<Utc> {
            DateTime::from_timestamp(4_000_000_000, 0).expect("in range")
        }

        fn message(app: &AppId) -> Message {
            let created_at = at() - TimeDelta::seconds(1);
            Message {
                id: MessageId::generate(),
                app_id: app.clone(),
                event_type: EventTypeName::parse("a.b").unwrap(),
                event_id: None,
                payload: Some("{}".into()),
                channels: None,
                tags: None,
                created_at,
                payload_expires_at: created_at + TimeDelta::days(1),
                deliver_at: None,
                received: None,
            }
        }

        /// `n` messages published through `writer`, one after the other; their deliveries
        /// claimed, the first returned.
        async fn claimed(writer: &GroupCommit, app: &AppId, n: usize) -> DeliveryJob {
            for _ in 0..n {
                writer
                    .publish(&message(app), FanOut::Subscribed, None)
                    .await
                    .unwrap();
            }
            let mut jobs = writer
                .claim(at(), 10, Duration::from_secs(60))
                .await
                .unwrap()
                .jobs;
            assert_eq!(jobs.len(), n);
            jobs.remove(0)
        }

        async fn status(store: &SqliteStore, delivery: i64) -> i64 {
            sqlx::query_scalar("SELECT status FROM delivery WHERE id = ?")
                .bind(delivery)
                .fetch_one(&store.read)
                .await
                .unwrap()
        }

        #[tokio::test]
        async fn a_record_while_publishes_come_often_waits_for_the_next_to_share_its_commit() {
            let (_dir, store) = migrated().await;
            let app = app_with_endpoint(&store).await;
            let writer = Arc::new(GroupCommit::with_linger(
                Arc::downgrade(&store._batches),
                LINGER,
            ));
            // Publishes that come more often than the linger.
            let job = claimed(&writer, &app, 2).await;

            let record = tokio::spawn({
                let writer = writer.clone();
                async move {
                    writer
                        .record(job.delivery_id, None, DeliveryUpdate::Delivered, at())
                        .await
                }
            });
            // Time for the record to reach the writer: it is held back, not committed.
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert!(!record.is_finished(), "the record did not wait");
            assert_eq!(
                status(&store, job.delivery_id).await,
                DeliveryStatus::Sending as i64
            );

            // The next publish takes it along, in its own commit.
            writer
                .publish(&message(&app), FanOut::Subscribed, None)
                .await
                .unwrap();
            let recorded = tokio::time::timeout(Duration::from_secs(10), record)
                .await
                .expect("the record was answered with the publish's commit");
            recorded.unwrap().unwrap();
            assert_eq!(
                status(&store, job.delivery_id).await,
                DeliveryStatus::Success as i64
            );
        }

        /// As at 100 msgs/s: the record comes a moment after its publish, but nothing says
        /// another publish is near.
        #[tokio::test]
        async fn a_record_after_a_lone_publish_commits_at_once() {
            let (_dir, store) = migrated().await;
            let app = app_with_endpoint(&store).await;
            let writer = GroupCommit::with_linger(Arc::downgrade(&store._batches), LINGER);
            let job = claimed(&writer, &app, 1).await;
            tokio::time::timeout(
                Duration::from_secs(10),
                writer.record(job.delivery_id, None, DeliveryUpdate::Delivered, at()),
            )
            .await
            .expect("a record with no publish to wait for was held back")
            .unwrap();
            assert_eq!(
                status(&store, job.delivery_id).await,
                DeliveryStatus::Success as i64
            );
        }
    }
}

//! SQLite's part in group commit ([`crate::store::group_commit`]): its transactions, run on
//! the hot-path connection (`hot.rs`) while holding the write pool's one connection, so the
//! backend still has one writer at a time.
//!
//! When storage fails mid-batch (a full disk, an I/O error), SQLite may roll the transaction
//! back on its own or leave it open; [`HotConn::rollback`] ends it either way and replaces a
//! connection that cannot get out of it, so the next batch starts on a clean connection.

use super::hot::HotConn;
use crate::store::group_commit::{BatchWriter, Job, PublishIn, RecordIn};
use crate::store::health::WriteHealth;
use crate::store::rules::EndpointsByApp;
use crate::store::*;
use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqlitePool};
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{Mutex, OwnedMutexGuard};

pub(super) struct Batches {
    /// The write pool: its connection is held for the length of each transaction.
    pub pool: SqlitePool,
    pub hot: Arc<Mutex<HotConn>>,
    /// Tells the write pool that the connection coming back was only held as a lock
    /// (`mod.rs`): checking it would cost a round trip to its thread per batch.
    pub held_as_lock: Arc<AtomicBool>,
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
    writer: Option<PoolConnection<Sqlite>>,
    held_as_lock: Arc<AtomicBool>,
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
        // The pool has one connection, so the release this flag is for is the next one.
        self.held_as_lock.store(true, Ordering::Release);
        drop(self.writer.take());
    }
}

#[async_trait]
impl BatchWriter for Batches {
    type Tx = HotTx;

    async fn begin(&self) -> StoreResult<Self::Tx> {
        let writer = self.pool.acquire().await?;
        let mut conn = self.hot.clone().lock_owned().await;
        conn.begin()?;
        Ok(HotTx {
            conn,
            writer: Some(writer),
            held_as_lock: self.held_as_lock.clone(),
        })
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
                CreateMessageOutcome::Created { deliveries } => *deliveries as u64,
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

    fn health(&self) -> &WriteHealth {
        &self.health
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

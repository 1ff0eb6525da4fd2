//! SQLite's part in group commit ([`crate::store::group_commit`]): its transactions on the
//! one write connection, and the batch statements of `batch.rs`.
//!
//! When storage fails mid-batch (a full disk, an I/O error), SQLite may roll the transaction
//! back on its own; the write pool checks the connection as it comes back and replaces it if
//! the failure left it inside a transaction (`still_usable` in `mod.rs`), so the next batch
//! starts on a clean connection.

use super::batch::{publish_all, record_all};
use crate::store::group_commit::{BatchWriter, PublishIn, RecordIn};
use crate::store::health::WriteHealth;
use crate::store::rules::EndpointsByApp;
use crate::store::*;
use sqlx::{Sqlite, SqlitePool, Transaction};

pub(super) struct Batches {
    pub pool: SqlitePool,
    /// This node's id: only its own leases are moved on.
    pub node: String,
    pub health: Arc<WriteHealth>,
    pub clock: Clock,
}

#[async_trait]
impl BatchWriter for Batches {
    type Tx = Transaction<'static, Sqlite>;

    async fn begin(&self) -> StoreResult<Self::Tx> {
        Ok(self.pool.begin().await?)
    }

    async fn commit(&self, tx: Self::Tx) -> StoreResult<()> {
        Ok(tx.commit().await?)
    }

    async fn publish_all(
        &self,
        tx: &mut Self::Tx,
        publishes: &[PublishIn<'_>],
        now: DateTime<Utc>,
    ) -> StoreResult<(Vec<CreateMessageOutcome>, u64)> {
        let mut endpoints = EndpointsByApp::default();
        let outcomes = publish_all(tx, &mut endpoints, publishes, now).await?;
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
        record_all(tx, &self.node, records).await
    }

    fn health(&self) -> &WriteHealth {
        &self.health
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

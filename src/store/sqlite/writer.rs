//! Group commit: the hot writes (publishing a message, recording an attempt) are queued to
//! one writer task that applies whatever has queued up in a single transaction.
//!
//! SQLite commits one transaction at a time, and each commit costs far more than the rows in
//! it, so under load a transaction per message caps throughput at the commit rate. Here
//! concurrent requests share a commit: the writer takes up to [`MAX_BATCH`] queued writes,
//! applies them with a few multi-row statements (`batch.rs`), commits once, then answers every
//! caller. Should any statement fail, the batch is rolled back and replayed one write at a
//! time, each in its own savepoint, so one bad write fails alone and the others commit. Nobody is answered before the commit, so a 202 still
//! means "stored". When only one request is waiting, the batch is that one request: there is
//! no timer and no added latency.
//!
//! The queue is bounded ([`QUEUE_DEPTH`]): when the database cannot keep up, callers wait for
//! room instead of piling up in memory.
//!
//! When storage itself fails (a full disk, an I/O error), there is nothing to replay: every
//! caller in the batch gets [`StoreError::Unavailable`] (503, nothing stored), the write
//! connection is checked and replaced if the failure left it inside a transaction
//! (`still_usable` in `mod.rs`), and [`WriteHealth`] hears of it. The next batch tries again
//! on a clean connection, so writes succeed again as soon as there is room, without a restart.

use super::batch::{publish_all, record_all, PublishIn, RecordIn};
use super::messages::create_in;
use crate::domain::{Attempt, Message};
use crate::store::health::WriteHealth;
use crate::store::rules::EndpointsByApp;
use crate::store::*;
use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};

/// The most writes committed together.
const MAX_BATCH: usize = 512;
/// Writes waiting for the writer before callers are held back.
const QUEUE_DEPTH: usize = 4096;

enum WriteOp {
    Publish {
        msg: Message,
        fan_out: FanOut,
        idempotency: Option<IdempotentWrite>,
        reply: oneshot::Sender<StoreResult<CreateMessageOutcome>>,
    },
    Record {
        delivery_id: i64,
        attempt: Option<Attempt>,
        update: DeliveryUpdate,
        now: DateTime<Utc>,
        reply: oneshot::Sender<StoreResult<Option<DateTime<Utc>>>>,
    },
}

/// The handle callers queue writes through; the task ends when every handle is dropped.
pub(super) struct Writer {
    queue: mpsc::Sender<WriteOp>,
}

impl Writer {
    pub fn spawn(pool: SqlitePool, node: String, health: Arc<WriteHealth>, clock: Clock) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(run(pool, node, health, clock, rx));
        Self { queue }
    }

    pub async fn publish(
        &self,
        msg: &Message,
        fan_out: FanOut,
        idempotency: Option<IdempotentWrite>,
    ) -> StoreResult<CreateMessageOutcome> {
        let (reply, answer) = oneshot::channel();
        self.send(WriteOp::Publish {
            msg: msg.clone(),
            fan_out,
            idempotency,
            reply,
        })
        .await?;
        answer.await.map_err(|_| stopped())?
    }

    pub async fn record(
        &self,
        delivery_id: i64,
        attempt: Option<&Attempt>,
        update: DeliveryUpdate,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<DateTime<Utc>>> {
        let (reply, answer) = oneshot::channel();
        self.send(WriteOp::Record {
            delivery_id,
            attempt: attempt.cloned(),
            update,
            now,
            reply,
        })
        .await?;
        answer.await.map_err(|_| stopped())?
    }

    async fn send(&self, op: WriteOp) -> StoreResult<()> {
        self.queue.send(op).await.map_err(|_| stopped())
    }
}

fn stopped() -> StoreError {
    StoreError::Other(anyhow::anyhow!("the SQLite writer has stopped"))
}

async fn run(
    pool: SqlitePool,
    node: String,
    health: Arc<WriteHealth>,
    clock: Clock,
    mut rx: mpsc::Receiver<WriteOp>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // One time for the whole batch: what it stamps (idempotency keys) reads as one commit.
        apply(&pool, &node, &health, clock.now(), &mut batch).await;
    }
}

/// What one write came to, held until the batch has committed.
enum Done {
    Publish(StoreResult<CreateMessageOutcome>),
    Record(StoreResult<Option<DateTime<Utc>>>),
}

async fn apply(
    pool: &SqlitePool,
    node: &str,
    health: &WriteHealth,
    now: DateTime<Utc>,
    batch: &mut Vec<WriteOp>,
) {
    match apply_together(pool, node, now, batch).await {
        Ok(done) => {
            health.succeeded();
            answer(batch, done)
        }
        Err(e) if e.is_unavailable() => {
            health.failed(&e);
            fail_all(batch, &e);
        }
        Err(e) => {
            tracing::debug!(error = %e, writes = batch.len(), "a write batch failed; replaying it one write at a time");
            apply_one_by_one(pool, node, health, now, batch).await;
        }
    }
}

/// Answers every caller of a batch that did not commit with the error that stopped it.
fn fail_all(batch: &mut Vec<WriteOp>, e: &StoreError) {
    let err = || match e {
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        other => StoreError::Other(anyhow::anyhow!("the write batch failed: {other}")),
    };
    for op in batch.drain(..) {
        let _ = match op {
            WriteOp::Publish { reply, .. } => reply.send(Err(err())).map_err(drop),
            WriteOp::Record { reply, .. } => reply.send(Err(err())).map_err(drop),
        };
    }
}

/// The fast path: the whole batch in one transaction of multi-row statements.
async fn apply_together(
    pool: &SqlitePool,
    node: &str,
    now: DateTime<Utc>,
    batch: &[WriteOp],
) -> StoreResult<Vec<Done>> {
    let mut publishes = Vec::new();
    let mut records = Vec::new();
    for op in batch {
        match op {
            WriteOp::Publish {
                msg,
                fan_out,
                idempotency,
                ..
            } => publishes.push(PublishIn {
                msg,
                fan_out,
                idempotency: idempotency.as_ref(),
            }),
            WriteOp::Record {
                delivery_id,
                attempt,
                update,
                now,
                ..
            } => records.push(RecordIn {
                delivery_id: *delivery_id,
                attempt: attempt.as_ref(),
                update: *update,
                now: *now,
            }),
        }
    }
    let mut tx = pool.begin().await?;
    let mut cache = EndpointsByApp::default();
    let mut published = publish_all(&mut tx, &mut cache, &publishes, now)
        .await?
        .into_iter();
    let mut recorded = record_all(&mut tx, node, &records).await?.into_iter();
    tx.commit().await?;
    Ok(batch
        .iter()
        .map(|op| match op {
            WriteOp::Publish { .. } => {
                Done::Publish(Ok(published.next().expect("one outcome per publish")))
            }
            WriteOp::Record { .. } => {
                Done::Record(Ok(recorded.next().expect("one result per record")))
            }
        })
        .collect())
}

/// Answers every caller of a committed batch.
fn answer(batch: &mut Vec<WriteOp>, done: Vec<Done>) {
    for (op, result) in batch.drain(..).zip(done) {
        // A caller that gave up (its request was dropped) does not mind.
        let _ = match (op, result) {
            (WriteOp::Publish { reply, .. }, Done::Publish(r)) => reply.send(r).map_err(drop),
            (WriteOp::Record { reply, .. }, Done::Record(r)) => reply.send(r).map_err(drop),
            _ => unreachable!("results are pushed in the order of the batch"),
        };
    }
}

/// The slow path: each write in its own savepoint, so a bad one fails alone.
async fn apply_one_by_one(
    pool: &SqlitePool,
    node: &str,
    health: &WriteHealth,
    batch_time: DateTime<Utc>,
    batch: &mut Vec<WriteOp>,
) {
    let mut done = Vec::with_capacity(batch.len());
    let committed: Result<(), StoreError> = async {
        let mut tx = pool.begin().await?;
        let mut cache = EndpointsByApp::default();
        for op in batch.iter() {
            // A savepoint: `begin` on a connection already in a transaction nests.
            let mut savepoint = sqlx::Connection::begin(&mut *tx).await?;
            let result = match op {
                WriteOp::Publish {
                    msg,
                    fan_out,
                    idempotency,
                    ..
                } => Done::Publish(
                    create_in(
                        &mut savepoint,
                        &mut cache,
                        msg,
                        fan_out,
                        idempotency.as_ref(),
                        batch_time,
                    )
                    .await,
                ),
                WriteOp::Record {
                    delivery_id,
                    attempt,
                    update,
                    now,
                    ..
                } => {
                    // A batch of one: the same statements as the fast path.
                    let one = RecordIn {
                        delivery_id: *delivery_id,
                        attempt: attempt.as_ref(),
                        update: *update,
                        now: *now,
                    };
                    Done::Record(
                        record_all(&mut savepoint, node, std::slice::from_ref(&one))
                            .await
                            .map(|mut runs| runs.pop().flatten()),
                    )
                }
            };
            let error = match &result {
                Done::Publish(r) => r.as_ref().err(),
                Done::Record(r) => r.as_ref().err(),
            };
            match error {
                None => savepoint.commit().await?,
                // Storage gave out mid-replay: nothing of this batch can be kept.
                Some(StoreError::Unavailable(m)) => return Err(StoreError::Unavailable(m.clone())),
                Some(_) => savepoint.rollback().await?,
            }
            done.push(result);
        }
        tx.commit().await?;
        Ok(())
    }
    .await;

    match committed {
        Ok(()) => {
            health.succeeded();
            answer(batch, done)
        }
        Err(e) => {
            if e.is_unavailable() {
                health.failed(&e);
            } else {
                tracing::error!(error = %e, writes = batch.len(), "a write batch failed to commit");
            }
            fail_all(batch, &e);
        }
    }
}

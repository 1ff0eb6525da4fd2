//! Group commit, for every backend: the hot writes (publishing a message, recording an
//! attempt) are queued to one writer task per node, which applies whatever has queued up in a
//! single transaction.
//!
//! A commit costs far more than the rows in it (an fsync on SQLite, a WAL flush and a round
//! trip on PostgreSQL), so a transaction per message caps throughput at the commit rate. Here
//! concurrent requests share a commit: the writer takes up to [`MAX_BATCH`] queued writes,
//! the backend applies them with a few multi-row statements ([`BatchWriter`]), the writer
//! commits once, then answers every caller. Nobody is answered before the commit, so a 202
//! still means "stored". When only one request is waiting, the batch is that one request:
//! there is no timer and no added latency.
//!
//! Should a statement fail, the batch is rolled back and each write is applied again alone,
//! in its own transaction through the same statements (a batch of one), so one bad write
//! fails alone and the others commit. When storage itself fails (a full disk, an I/O error, a
//! database that is down), there is nothing to retry: every caller in the batch gets
//! [`StoreError::Unavailable`] (503, nothing stored) and [`WriteHealth`] hears of it. The
//! next batch tries again, so writes succeed again as soon as storage is back.
//!
//! The queue is bounded ([`QUEUE_DEPTH`]): when the database cannot keep up, callers wait
//! for room instead of piling up in memory.
//!
//! A backend may also take the dispatcher's claims through the writer
//! ([`GroupCommit::claim`]; SQLite does, since it has one writer anyway): a claim then shares
//! its transaction with the attempt records and publishes queued beside it, and comes after
//! them in it, so work published or sent back for a retry in the same batch can be claimed.
//!
//! A claim can also wait in the writer ([`GroupCommit::claim_on_next_queue`]): the dispatcher
//! leaves one there while it sleeps, and the next batch that queues deliveries makes it in its
//! own transaction, after everything else in it. The dispatcher then gets the new work with
//! the publisher's commit instead of waking, asking and waiting for a commit of its own: at
//! rates where every message is its own batch, that is one commit in three.
//!
//! And it may take writes of its own ([`GroupCommit::job`]: SQLite's bin captures and channel
//! posts), each run in the batch's transaction under a savepoint of its own
//! ([`BatchWriter::run_jobs`]), so a job that fails is undone alone and the batch commits.

use super::health::WriteHealth;
use super::*;
use async_trait::async_trait;
use std::sync::Weak;
use tokio::sync::{mpsc, oneshot};

/// The most writes committed together.
const MAX_BATCH: usize = 512;
/// Writes waiting for the writer before callers are held back.
const QUEUE_DEPTH: usize = 4096;
/// How long the writer waits for the next write before telling the backend it is idle
/// ([`BatchWriter::idle`]). Short: a backend that keeps its write lock between batches holds
/// back every other writer until then.
pub(crate) const IDLE_AFTER: Duration = Duration::from_millis(5);
/// How long a batch of attempt records alone waits for a publish to share its commit with,
/// when publishes have been coming that often ([`linger`]).
const RECORD_LINGER: Duration = Duration::from_millis(2);
/// The most records a batch may hold and still wait ([`linger`]): more share a commit among
/// themselves already, and come when deliveries are many, where the permits their workers
/// hold while waiting are what the dispatcher needs to claim more.
const LINGER_UP_TO: usize = 4;

/// A publish in a batch.
pub(crate) struct PublishIn<'a> {
    pub msg: &'a Message,
    pub fan_out: &'a FanOut,
    pub idempotency: Option<&'a IdempotentWrite>,
}

/// An attempt record in a batch.
pub(crate) struct RecordIn<'a> {
    pub delivery_id: i64,
    pub attempt: Option<&'a Attempt>,
    pub update: DeliveryUpdate,
    pub now: DateTime<Utc>,
}

/// What a backend does for the writer: its SQL for a batch, and its transactions.
#[async_trait]
pub(crate) trait BatchWriter: Send + Sync + 'static {
    /// An open transaction on the backend's write connection.
    type Tx: Send + 'static;

    async fn begin(&self) -> StoreResult<Self::Tx>;
    async fn commit(&self, tx: Self::Tx) -> StoreResult<()>;
    /// Stores the messages and queues their deliveries; returns each publish's outcome (in
    /// order) and how many deliveries were queued in all.
    async fn publish_all(
        &self,
        tx: &mut Self::Tx,
        publishes: &[PublishIn<'_>],
        now: DateTime<Utc>,
    ) -> StoreResult<(Vec<CreateMessageOutcome>, u64)>;
    /// Records the attempts and moves their deliveries on; returns each endpoint's run of
    /// failures after its attempt (in order).
    async fn record_all(
        &self,
        tx: &mut Self::Tx,
        records: &[RecordIn<'_>],
    ) -> StoreResult<Vec<Option<DateTime<Utc>>>>;
    /// Claims due deliveries for each `(limit, lease, now)`, in order, after the batch's
    /// publishes and records. Only for backends whose store claims through
    /// [`GroupCommit::claim`].
    async fn claim_all(
        &self,
        _tx: &mut Self::Tx,
        _claims: &[(u32, Duration, DateTime<Utc>)],
    ) -> StoreResult<Vec<Claimed>> {
        Err(StoreError::Other(anyhow::anyhow!(
            "this backend does not claim through its writer"
        )))
    }
    /// Runs each job in `tx` under a savepoint of its own, after the batch's other writes;
    /// returns each job's own failure (undone, the batch goes on), or fails the batch when
    /// storage itself fails. Only for backends whose store queues [`GroupCommit::job`]s.
    async fn run_jobs(
        &self,
        _tx: &mut Self::Tx,
        _jobs: &mut [&mut (dyn Job + 'static)],
    ) -> StoreResult<Vec<Option<StoreError>>> {
        Err(StoreError::Other(anyhow::anyhow!(
            "this backend runs no jobs in its writer"
        )))
    }
    /// Called after every commit that queued deliveries (PostgreSQL tells the other nodes).
    fn queued(&self) {}
    /// Whether the backend keeps something from one batch to the next (SQLite: its write
    /// lock) that it gives up in [`BatchWriter::idle`].
    fn keeps_between_batches(&self) -> bool {
        false
    }
    /// Called when no write has come for [`IDLE_AFTER`] while the backend
    /// [keeps something between batches](BatchWriter::keeps_between_batches).
    fn idle(&self) {}
    fn health(&self) -> &WriteHealth;
    fn now(&self) -> DateTime<Utc>;
}

/// A backend's own write, run by the writer in its transaction ([`GroupCommit::job`]).
pub(crate) trait Job: Send {
    /// Does the write in `tx` (the backend's [`BatchWriter::Tx`]). Runs at most once; the
    /// caller is answered only after the commit, by [`Job::answer`].
    fn run(&mut self, tx: &mut dyn std::any::Any) -> StoreResult<()>;
    /// How many deliveries the write queued (the writer wakes other nodes when any did).
    fn queued(&self) -> u64 {
        0
    }
    /// Answers the caller: with what [`Job::run`] made once the commit succeeded, or with why
    /// the write did not happen.
    fn answer(self: Box<Self>, outcome: StoreResult<()>);
}

/// A [`Job`] from a closure: `write` runs once in the transaction; its value is sent to the
/// caller after the commit.
struct Write<T, F> {
    write: Option<F>,
    made: Option<T>,
    reply: oneshot::Sender<StoreResult<T>>,
    queued: fn(&T) -> u64,
}

impl<T, F> Job for Write<T, F>
where
    T: Send + 'static,
    F: FnOnce(&mut dyn std::any::Any) -> StoreResult<T> + Send + 'static,
{
    fn run(&mut self, tx: &mut dyn std::any::Any) -> StoreResult<()> {
        let write = self.write.take().ok_or_else(|| {
            StoreError::Other(anyhow::anyhow!(
                "a write was tried twice after its batch failed"
            ))
        })?;
        self.made = Some(write(tx)?);
        Ok(())
    }

    fn queued(&self) -> u64 {
        self.made.as_ref().map_or(0, |m| (self.queued)(m))
    }

    fn answer(self: Box<Self>, outcome: StoreResult<()>) {
        let Write { made, reply, .. } = *self;
        let result = outcome.and_then(|()| {
            made.ok_or_else(|| StoreError::Other(anyhow::anyhow!("a write did not run")))
        });
        // A caller that gave up (its request was dropped) does not mind.
        let _ = reply.send(result);
    }
}

enum Op {
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
    Claim {
        limit: u32,
        lease: Duration,
        now: DateTime<Utc>,
        reply: oneshot::Sender<StoreResult<Claimed>>,
    },
    Job(Box<dyn Job>),
}

/// The handle callers queue writes through.
pub(crate) struct GroupCommit {
    queue: mpsc::Sender<Op>,
    standing: Arc<Standing>,
}

/// The claim waiting in the writer for the next batch that queues deliveries, if any
/// ([`GroupCommit::claim_on_next_queue`]). At most one: a node has one dispatcher.
#[derive(Default)]
struct Standing(std::sync::Mutex<Option<Rider>>);

struct Rider {
    /// Which [`WaitingClaim`] this is, so a withdrawal never takes a newer one.
    id: u64,
    limit: u32,
    lease: Duration,
    reply: oneshot::Sender<StoreResult<Claimed>>,
}

impl Standing {
    fn take(&self) -> Option<Rider> {
        self.0.lock().expect("not poisoned").take()
    }
}

/// A claim left in the writer ([`GroupCommit::claim_on_next_queue`]): answered after the
/// commit of the next batch that queued deliveries, with what it claimed in that batch's
/// transaction.
pub struct WaitingClaim {
    id: u64,
    standing: Arc<Standing>,
    answer: oneshot::Receiver<StoreResult<Claimed>>,
}

impl WaitingClaim {
    /// Waits for the claim to be made. Cancel-safe: dropping the future leaves the claim
    /// waiting, to be [withdrawn](Self::withdraw) or awaited again.
    pub async fn made(&mut self) -> StoreResult<Claimed> {
        (&mut self.answer).await.unwrap_or_else(|_| Err(stopped()))
    }

    /// Gives up on the claim without waiting (shutdown): a batch that took it already still
    /// makes it, and what it claims stays leased to this node until the node starts again
    /// ([`crate::store::QueueStore::release_own_leases`]) or the lease runs out.
    pub fn abandon(self) {
        self.take_back();
    }

    /// Removes this claim from the writer if no batch has taken it; says whether it did.
    fn take_back(&self) -> bool {
        let mut slot = self.standing.0.lock().expect("not poisoned");
        let waiting = slot.as_ref().is_some_and(|r| r.id == self.id);
        if waiting {
            *slot = None;
        }
        waiting
    }

    /// Takes the claim back. `None` if no batch had taken it yet: nothing was claimed. Else a
    /// batch is making it or has made it, and its answer is returned once that batch has
    /// committed (or failed), so what it claimed is never left leased and unsent.
    pub async fn withdraw(self) -> Option<StoreResult<Claimed>> {
        if self.take_back() {
            return None;
        }
        Some(self.answer.await.unwrap_or_else(|_| Err(stopped())))
    }
}

impl GroupCommit {
    /// Starts the writer task for `backend`; it ends when the backend is dropped.
    pub fn spawn<W: BatchWriter>(backend: Weak<W>) -> Self {
        Self::with_linger(backend, RECORD_LINGER)
    }

    /// [`Self::spawn`], with records held back up to `linger` ([`linger`]; tests use a
    /// long one, so that what they show does not depend on the machine's speed).
    pub fn with_linger<W: BatchWriter>(backend: Weak<W>, linger: Duration) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE_DEPTH);
        let standing = Arc::new(Standing::default());
        tokio::spawn(run(backend, rx, standing.clone(), linger));
        Self { queue, standing }
    }

    /// Leaves a claim of up to `limit` due deliveries in the writer, to be made in the
    /// transaction of the next batch that queues deliveries, after that batch's own writes
    /// (backends that implement [`BatchWriter::claim_all`]). Replaces a claim left before
    /// and not withdrawn (its holder gets an error).
    pub fn claim_on_next_queue(&self, limit: u32, lease: Duration) -> WaitingClaim {
        static IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let id = IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (reply, answer) = oneshot::channel();
        *self.standing.0.lock().expect("not poisoned") = Some(Rider {
            id,
            limit,
            lease,
            reply,
        });
        WaitingClaim {
            id,
            standing: self.standing.clone(),
            answer,
        }
    }

    pub async fn publish(
        &self,
        msg: &Message,
        fan_out: FanOut,
        idempotency: Option<IdempotentWrite>,
    ) -> StoreResult<CreateMessageOutcome> {
        let (reply, answer) = oneshot::channel();
        self.send(Op::Publish {
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
        self.send(Op::Record {
            delivery_id,
            attempt: attempt.cloned(),
            update,
            now,
            reply,
        })
        .await?;
        answer.await.map_err(|_| stopped())?
    }

    /// Claims due deliveries in the writer's next transaction (backends that implement
    /// [`BatchWriter::claim_all`]).
    pub async fn claim(
        &self,
        now: DateTime<Utc>,
        limit: u32,
        lease: Duration,
    ) -> StoreResult<Claimed> {
        let (reply, answer) = oneshot::channel();
        self.send(Op::Claim {
            limit,
            lease,
            now,
            reply,
        })
        .await?;
        answer.await.map_err(|_| stopped())?
    }

    /// Runs `write` in the writer's next transaction, under a savepoint of its own, and
    /// answers with what it made once that transaction has committed. `write` gets the
    /// backend's [`BatchWriter::Tx`]; `queued` says how many deliveries its value queued.
    pub async fn job<T, F>(&self, write: F, queued: fn(&T) -> u64) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn std::any::Any) -> StoreResult<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.send(Op::Job(Box::new(Write {
            write: Some(write),
            made: None,
            reply,
            queued,
        })))
        .await?;
        answer.await.map_err(|_| stopped())?
    }

    async fn send(&self, op: Op) -> StoreResult<()> {
        self.queue.send(op).await.map_err(|_| stopped())
    }
}

fn stopped() -> StoreError {
    StoreError::Other(anyhow::anyhow!("the store's writer has stopped"))
}

async fn run<W: BatchWriter>(
    backend: Weak<W>,
    mut rx: mpsc::Receiver<Op>,
    standing: Arc<Standing>,
    record_linger: Duration,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // When publishes were applied, to tell whether the next is near ([`linger`]).
    let mut publishes = PublishPace::default();
    loop {
        let keeping = backend.upgrade().is_some_and(|b| b.keeps_between_batches());
        let received = if keeping {
            tokio::select! {
                n = rx.recv_many(&mut batch, MAX_BATCH) => n,
                _ = tokio::time::sleep(IDLE_AFTER) => {
                    if let Some(backend) = backend.upgrade() {
                        backend.idle();
                    }
                    continue;
                }
            }
        } else {
            rx.recv_many(&mut batch, MAX_BATCH).await
        };
        if received == 0 {
            // Every handle is gone: let go of what the backend kept.
            if let Some(backend) = backend.upgrade() {
                backend.idle();
            }
            return;
        }
        if keeping && batch.len() < MAX_BATCH {
            // Let the tasks that were about to queue a write do so first: with its lock kept,
            // the writer would otherwise start on whatever was there, and batches would be
            // smaller (more commits, more log written per message) under load.
            tokio::task::yield_now().await;
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(op) => batch.push(op),
                    Err(_) => break,
                }
            }
        }
        linger(&mut rx, &mut batch, &publishes, record_linger).await;
        if batch.iter().any(|op| matches!(op, Op::Publish { .. })) {
            publishes.applied(std::time::Instant::now());
        }
        let Some(backend) = backend.upgrade() else {
            return;
        };
        apply(&*backend, &mut batch, &standing).await;
    }
}

/// Holds back a batch of attempt records alone for up to `wait` ([`RECORD_LINGER`]) while
/// publishes come more often than that ([`PublishPace`]), so the next publish shares its
/// commit.
///
/// At a steady 1,000 msgs/s every message is a batch of its own, and so is the record of its
/// delivery a moment later: two commits per message, each writing the delivery's pages to the
/// log again. Nothing waits on a record but the worker that made it (no caller is answered
/// before it is durable, so nothing acknowledged depends on it), and a crash meanwhile only
/// means the delivery is sent again when its lease runs out, as for a crash during the
/// request. Without publishes that often (a backlog draining, a quiet hour, 100 msgs/s)
/// records commit at once: waiting then would only hold the workers' permits. Only publishes
/// count: they come from outside, whatever the workers do, where the dispatcher's claims (and
/// its deferrals) wait for the permits that lingering records hold. Nor do batches of more
/// than [`LINGER_UP_TO`] records wait: at full speed they share commits well enough, and
/// holding their permits cost deliveries per second.
///
/// The worker waits the longer for its record, holding its permit; the publisher waits only
/// for the records' statements, in a transaction it needed anyway.
async fn linger(
    rx: &mut mpsc::Receiver<Op>,
    batch: &mut Vec<Op>,
    publishes: &PublishPace,
    wait: Duration,
) {
    // Cheapest first: at full speed batches are large and this returns at once.
    if batch.len() > LINGER_UP_TO
        || !publishes.next_within(wait)
        || !batch.iter().all(|op| matches!(op, Op::Record { .. }))
    {
        return;
    }
    let room = MAX_BATCH - batch.len();
    tokio::select! {
        // None more (the handles are gone): the batch goes alone, and the writer ends after it.
        _ = rx.recv_many(batch, room) => {}
        _ = tokio::time::sleep(wait) => {}
    }
}

/// When the last two batches with publishes were applied: whether the next publish is
/// likely within a record's [`linger`].
#[derive(Default)]
struct PublishPace {
    last: Option<std::time::Instant>,
    gap: Option<Duration>,
}

impl PublishPace {
    fn applied(&mut self, at: std::time::Instant) {
        self.gap = self.last.map(|last| at.duration_since(last));
        self.last = Some(at);
    }

    /// Publishes came less than `wait` apart, and the last came less than `wait` ago: at
    /// 100 msgs/s a record made a millisecond after its publish would wait in vain.
    fn next_within(&self, wait: Duration) -> bool {
        match (self.last, self.gap) {
            (Some(last), Some(gap)) => gap < wait && last.elapsed() < wait,
            _ => false,
        }
    }
}

/// What one write came to.
enum Done {
    Publish(StoreResult<CreateMessageOutcome>),
    Record(StoreResult<Option<DateTime<Utc>>>),
    Claim(StoreResult<Claimed>),
    Job(StoreResult<()>),
}

async fn apply<W: BatchWriter>(backend: &W, batch: &mut Vec<Op>, standing: &Standing) {
    // One time for the whole batch: what it stamps reads as one commit.
    let now = backend.now();
    match together(backend, batch, now, standing).await {
        Ok((done, queued)) => {
            backend.health().succeeded();
            if queued > 0 {
                backend.queued();
            }
            answer(batch, done);
        }
        // The database is down or full: applying each write alone would only fail again, one
        // timeout at a time. Every caller is told at once (503, nothing stored).
        Err(StoreError::Unavailable(m)) => {
            backend.health().failed(&m);
            let done = batch.iter().map(|op| unavailable_for(op, &m)).collect();
            answer(batch, done);
        }
        Err(e) => {
            tracing::debug!(error = %e, writes = batch.len(), "a write batch failed; applying each write alone");
            let mut done = Vec::with_capacity(batch.len());
            let mut down: Option<String> = None;
            for op in batch.iter_mut() {
                let result = match &down {
                    // Storage gave out meanwhile: the rest would only wait for it too.
                    Some(m) => unavailable_for(op, m),
                    None => alone(backend, op, now, standing).await,
                };
                if let Some(m) = down_reason(&result) {
                    if down.is_none() {
                        backend.health().failed(&m);
                    }
                    down = Some(m);
                }
                done.push(result);
            }
            answer(batch, done);
        }
    }
}

/// The fast path: the whole batch in one transaction. A claim waiting in the writer rides on
/// it if the batch queued deliveries, and is answered after the commit (or with the batch's
/// failure).
async fn together<W: BatchWriter>(
    backend: &W,
    batch: &mut [Op],
    now: DateTime<Utc>,
    standing: &Standing,
) -> StoreResult<(Vec<Done>, u64)> {
    let mut rider = None;
    let written = write(backend, batch, now, standing, &mut rider).await;
    match (rider, written) {
        (None, written) => written.map(|(done, queued, _)| (done, queued)),
        (Some(rider), Ok((mut done, queued, claimed))) => {
            let claimed = claimed.expect("a rider's claim is made in its batch");
            // The claim ran after every publish of the batch, in its transaction: the
            // dispatcher gets what they queued, or the time it falls due, with its answer.
            for d in &mut done {
                if let Done::Publish(Ok(CreateMessageOutcome::Created { claimed, .. })) = d {
                    *claimed = true;
                }
            }
            // A dispatcher that stopped waiting does not mind; its leases run out.
            let _ = rider.reply.send(Ok(claimed));
            Ok((done, queued))
        }
        (Some(rider), Err(e)) => {
            let _ = rider.reply.send(Err(ridden_batch_failed(&e)));
            Err(e)
        }
    }
}

/// What a claim that rode on a failed batch is told: the dispatcher claims again by itself.
fn ridden_batch_failed(e: &StoreError) -> StoreError {
    match e {
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        e => StoreError::Other(anyhow::anyhow!("the batch the claim rode on failed: {e}")),
    }
}

type Written = (Vec<Done>, u64, Option<Claimed>);

async fn write<W: BatchWriter>(
    backend: &W,
    batch: &mut [Op],
    now: DateTime<Utc>,
    standing: &Standing,
    rider: &mut Option<Rider>,
) -> StoreResult<Written> {
    let mut publishes = Vec::new();
    let mut records = Vec::new();
    let mut claims = Vec::new();
    for op in batch.iter() {
        match op {
            Op::Publish {
                msg,
                fan_out,
                idempotency,
                ..
            } => publishes.push(PublishIn {
                msg,
                fan_out,
                idempotency: idempotency.as_ref(),
            }),
            Op::Record {
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
            Op::Claim {
                limit, lease, now, ..
            } => claims.push((*limit, *lease, *now)),
            Op::Job(_) => {}
        }
    }
    let mut tx = backend.begin().await?;
    let (published, queued) = backend.publish_all(&mut tx, &publishes, now).await?;
    let recorded = backend.record_all(&mut tx, &records).await?;
    let mut jobs: Vec<&mut (dyn Job + 'static)> = batch
        .iter_mut()
        .filter_map(|op| match op {
            Op::Job(job) => Some(&mut **job),
            _ => None,
        })
        .collect();
    let (jobs_failed, jobs_queued) = if jobs.is_empty() {
        (Vec::new(), 0)
    } else {
        let failed = backend.run_jobs(&mut tx, &mut jobs).await?;
        let queued: u64 = jobs.iter().map(|j| j.queued()).sum();
        (failed, queued)
    };
    drop(jobs);
    let queued = queued + jobs_queued;
    // Claims come last, so they can take what this batch queued (or a job brought forward).
    if queued > 0 {
        *rider = standing.take();
    }
    if let Some(r) = rider.as_ref() {
        claims.push((r.limit, r.lease, now));
    }
    let mut claimed = if claims.is_empty() {
        Vec::new()
    } else {
        backend.claim_all(&mut tx, &claims).await?
    };
    let ridden = rider
        .as_ref()
        .map(|_| claimed.pop().expect("the rider's claim is the last"));
    backend.commit(tx).await?;
    let mut jobs_failed = jobs_failed.into_iter();
    let (mut published, mut recorded) = (published.into_iter(), recorded.into_iter());
    let mut claimed = claimed.into_iter();
    let done = batch
        .iter()
        .map(|op| match op {
            Op::Publish { .. } => {
                Done::Publish(Ok(published.next().expect("one outcome per publish")))
            }
            Op::Record { .. } => Done::Record(Ok(recorded.next().expect("one run per record"))),
            Op::Claim { .. } => Done::Claim(Ok(claimed.next().expect("one batch per claim"))),
            Op::Job(_) => Done::Job(match jobs_failed.next().expect("one result per job") {
                None => Ok(()),
                Some(e) => Err(e),
            }),
        })
        .collect();
    Ok((done, queued, ridden))
}

/// The slow path: one write in its own transaction, through the same statements.
async fn alone<W: BatchWriter>(
    backend: &W,
    op: &mut Op,
    now: DateTime<Utc>,
    standing: &Standing,
) -> Done {
    let one = std::slice::from_mut(op);
    match together(backend, one, now, standing).await {
        Ok((mut done, queued)) => {
            if queued > 0 {
                backend.queued();
            }
            done.pop().expect("one result for one write")
        }
        Err(e) => match op {
            Op::Publish { .. } => Done::Publish(Err(e)),
            Op::Record { .. } => Done::Record(Err(e)),
            Op::Claim { .. } => Done::Claim(Err(e)),
            Op::Job(_) => Done::Job(Err(e)),
        },
    }
}

fn down_reason(done: &Done) -> Option<String> {
    match done {
        Done::Publish(Err(StoreError::Unavailable(m)))
        | Done::Record(Err(StoreError::Unavailable(m)))
        | Done::Claim(Err(StoreError::Unavailable(m)))
        | Done::Job(Err(StoreError::Unavailable(m))) => Some(m.clone()),
        _ => None,
    }
}

fn unavailable_for(op: &Op, m: &str) -> Done {
    match op {
        Op::Publish { .. } => Done::Publish(Err(StoreError::Unavailable(m.to_owned()))),
        Op::Record { .. } => Done::Record(Err(StoreError::Unavailable(m.to_owned()))),
        Op::Claim { .. } => Done::Claim(Err(StoreError::Unavailable(m.to_owned()))),
        Op::Job(_) => Done::Job(Err(StoreError::Unavailable(m.to_owned()))),
    }
}

/// Answers every caller of a batch, in order.
fn answer(batch: &mut Vec<Op>, done: Vec<Done>) {
    for (op, result) in batch.drain(..).zip(done) {
        // A caller that gave up (its request was dropped) does not mind.
        let _ = match (op, result) {
            (Op::Publish { reply, .. }, Done::Publish(r)) => reply.send(r).map_err(drop),
            (Op::Record { reply, .. }, Done::Record(r)) => reply.send(r).map_err(drop),
            (Op::Claim { reply, .. }, Done::Claim(r)) => reply.send(r).map_err(drop),
            (Op::Job(job), Done::Job(r)) => {
                job.answer(r);
                Ok(())
            }
            _ => unreachable!("results are made in the order of the batch"),
        };
    }
}

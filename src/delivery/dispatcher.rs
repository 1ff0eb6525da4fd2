//! The dispatcher: claims due deliveries and hands each to a worker task.
//!
//! It sleeps until one of three things happens: new work is committed ([`super::Waker`]), the
//! earliest scheduled delivery falls due, or the safety poll fires (a few seconds; it only
//! matters if a wake-up was missed). It never polls per message. While it sleeps, a claim
//! waits in the store's writer where the backend has one (SQLite), so new work comes to it
//! already claimed, in the commit that queued it ([`Dispatcher::wait`]). Concurrency is bounded by a
//! semaphore and the dispatcher claims no more work than it has permits for, so the queue
//! stays in the database rather than growing in memory. Each claimed delivery passes the
//! endpoint's limits ([`super::throttle`]) or goes back to the queue with the time it may go.
//!
//! It also claims no more than the active endpoints have room for
//! ([`super::throttle::Limiter::room`]), plus one newcomer's share to find work of other
//! endpoints. When a claim had to send work back
//! for an endpoint's pace, the newcomer's share is left out for a while ([`PROBE_PAUSE`],
//! doubling while the looks find nothing else): the work at the head of the queue is the
//! full endpoints', and claiming it again would only send it back again. A full endpoint's
//! line draining to half wakes the dispatcher.

use super::throttle::Admission;
use super::worker;
use super::Engine;
use crate::delivery::metrics::OutcomeLabel;
use crate::store::{Claimed, Deferral, DeliveryJob, StoreResult, WaitingClaim};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The most deliveries claimed in one round trip.
const CLAIM_BATCH: usize = 256;
/// After a claim sent work back for an endpoint's pace, how long claims take only what the
/// active endpoints have room for, before looking again for work of endpoints not active yet.
/// Doubled, up to [`PROBE_PAUSE_MAX`], each time the look finds only the full endpoints' work
/// again; back to this, and to looking at every claim, as soon as a look sends nothing back.
const PROBE_PAUSE: Duration = Duration::from_millis(10);
const PROBE_PAUSE_MAX: Duration = Duration::from_millis(160);

pub struct Dispatcher {
    engine: Arc<Engine>,
    permits: Arc<Semaphore>,
}

impl Dispatcher {
    pub fn new(engine: Arc<Engine>) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(engine.config.max_in_flight.max(1))),
            engine,
        }
    }

    /// Runs until `shutdown` is cancelled. Deliveries in flight are tracked by `tracker`;
    /// the caller waits for them (or leaves them to be retried after restart).
    pub async fn run(self, shutdown: CancellationToken, tracker: TaskTracker) {
        let engine = &self.engine;
        // A lease outlives the request it covers (bounded by the delivery timeout) and the
        // write that records it, so a live worker never loses its claim; a dead worker's
        // deliveries come back after it.
        let lease = engine.config.delivery_timeout * 2 + Duration::from_secs(5);
        // Set while the active endpoints are full and the due work found was theirs: until
        // then, claim only what they have room for.
        let mut probe_paused_until: Option<tokio::time::Instant> = None;
        let mut probe_pause = PROBE_PAUSE;
        // A claim made for the dispatcher in another commit while it waited ([`Self::wait`]).
        let mut ridden: Option<Ridden> = None;
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            let now = engine.clock.now();
            let (claimed, limit, probing) = match ridden.take() {
                Some(Ridden {
                    claimed: Err(e), ..
                }) => {
                    // The batch it rode on failed (one bad write in it, or storage): claim
                    // again by itself, which says so if storage is down.
                    tracing::debug!(error = %e, "a claim that rode on a batch failed with it");
                    continue;
                }
                Some(r) => (r.claimed, r.limit, r.probing),
                None => {
                    let free = self.permits.available_permits();
                    if free == 0 {
                        tokio::select! {
                            permit = self.permits.acquire() => drop(permit),
                            _ = shutdown.cancelled() => return,
                        }
                        continue;
                    }
                    let probing =
                        probe_paused_until.is_none_or(|at| tokio::time::Instant::now() >= at);
                    let limit = self.limit(probing);
                    if limit == 0 {
                        // Every active endpoint is at its share, line included, and the last
                        // claim found only their work: claiming now would only send it back.
                        // Wait for room, or for the next look for other endpoints' work.
                        let until = probe_paused_until.unwrap_or_else(tokio::time::Instant::now);
                        tokio::select! {
                            _ = engine.limiter.room_freed() => {}
                            _ = tokio::time::sleep_until(until) => {}
                            _ = shutdown.cancelled() => return,
                        }
                        continue;
                    }
                    let claimed = engine
                        .store
                        .claim_due_and_next(now, limit as u32, lease)
                        .await;
                    (claimed, limit, probing)
                }
            };
            let Claimed { jobs, next_due } = match claimed {
                Ok(claimed) => claimed,
                Err(e) => {
                    tracing::error!(error = %e, "claiming due deliveries failed; retrying shortly");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = shutdown.cancelled() => return,
                    }
                    continue;
                }
            };
            let claimed = jobs.len();
            let mut deferrals = Vec::new();
            for job in jobs {
                let (endpoint, reserved) = (job.endpoint.clone(), job.reserved);
                match engine.limiter.admit(&endpoint, reserved, now, job) {
                    Admission::Go(job) => {
                        // Claimed no more than the free permits (which only grow while the
                        // dispatcher waits), and only a delivery that goes takes one, so this
                        // does not wait.
                        let permit = self
                            .permits
                            .clone()
                            .acquire_owned()
                            .await
                            .expect("the semaphore is never closed");
                        tracker.spawn(run_in_turn(engine.clone(), job, permit));
                    }
                    Admission::Queued => {}
                    Admission::Wait {
                        item: job,
                        until,
                        reserved,
                        paced,
                    } => {
                        engine.metrics.count(OutcomeLabel::Throttled);
                        deferrals.push(Deferral {
                            delivery_id: job.delivery_id,
                            until,
                            reserved,
                            paced,
                        });
                    }
                }
            }
            if let Err(e) = engine.store.defer(&deferrals).await {
                // Their leases will run out and they will be claimed again.
                tracing::error!(error = %e, count = deferrals.len(), "sending throttled deliveries back to the queue failed");
            }
            let paced = deferrals.iter().any(|d| d.paced);
            if paced {
                if probing && probe_paused_until.is_some() {
                    probe_pause = (probe_pause * 2).min(PROBE_PAUSE_MAX);
                }
                probe_paused_until = Some(tokio::time::Instant::now() + probe_pause);
            } else if probing {
                // The look found work that could go: look freely again.
                probe_pause = PROBE_PAUSE;
                probe_paused_until = None;
            }
            if claimed == limit && !paced {
                continue; // there may be more due right now
            }
            // The next due time came with the claim (read in its transaction where the
            // backend can); what was just deferred may fall due before it.
            let next_due = deferrals.iter().map(|d| d.until).chain(next_due).min();
            let wait = match next_due {
                Some(at) => (at - engine.clock.now())
                    .to_std()
                    .unwrap_or(Duration::ZERO)
                    .min(engine.config.safety_poll),
                None => engine.config.safety_poll,
            };
            if wait.is_zero() && claimed == 0 {
                // Due work exists but none could be claimed (a live lease elsewhere): do not spin.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            let probing = probe_paused_until.is_none_or(|at| tokio::time::Instant::now() >= at);
            let until = tokio::time::Instant::now() + wait;
            match self.wait(until, paced, probing, lease, &shutdown).await {
                Woke::Look => {}
                Woke::Ridden(r) => ridden = Some(r),
                Woke::Stop => return,
            }
        }
    }

    /// How many deliveries to claim now: no more than the free permits, a batch, and what the
    /// endpoints have room for.
    fn limit(&self, probing: bool) -> usize {
        self.permits
            .available_permits()
            .min(CLAIM_BATCH)
            .min(self.engine.limiter.room(probing))
    }

    /// Waits until new work is committed, `until` (the next due time, or the safety poll), room
    /// for a paced endpoint, or shutdown.
    ///
    /// Meanwhile a claim waits in the store's writer where it has one
    /// ([`crate::store::QueueStore::claim_on_next_queue`]): the next commit that queues
    /// deliveries makes it, and the dispatcher wakes with that work claimed instead of asking
    /// for it in a commit of its own. A publish whose commit the claim rode does not wake the
    /// waker (`CreateMessageOutcome::Created { claimed }`); other writers do, and a wake with
    /// the claim still waiting may be for work a claim before took: the due time is read (a
    /// point read, no write) and the claim left waiting unless something is due now. A wake
    /// that moves the next due time earlier (a retry) moves `until` with it.
    async fn wait(
        &self,
        mut until: tokio::time::Instant,
        paced: bool,
        probing: bool,
        lease: Duration,
        shutdown: &CancellationToken,
    ) -> Woke {
        let engine = &self.engine;
        loop {
            let limit = self.limit(probing);
            let mut waiting = if limit > 0 {
                engine.store.claim_on_next_queue(limit as u32, lease)
            } else {
                None
            };
            let woken = tokio::select! {
                biased;
                _ = shutdown.cancelled() => {
                    if let Some(w) = waiting {
                        w.abandon();
                    }
                    return Woke::Stop;
                }
                claimed = made(&mut waiting) => {
                    return Woke::Ridden(Ridden { claimed, limit, probing });
                }
                _ = engine.waker.woken() => true,
                _ = engine.limiter.room_freed(), if paced => false,
                _ = tokio::time::sleep_until(until) => false,
            };
            let Some(w) = waiting else {
                return Woke::Look;
            };
            if let Some(claimed) = w.withdraw().await {
                return Woke::Ridden(Ridden {
                    claimed,
                    limit,
                    probing,
                });
            }
            if !woken {
                return Woke::Look;
            }
            match engine.store.next_due_at().await {
                Ok(Some(at)) => {
                    let now = engine.clock.now();
                    if at <= now {
                        return Woke::Look;
                    }
                    let after = (at - now).to_std().unwrap_or(Duration::ZERO);
                    until = until.min(tokio::time::Instant::now() + after);
                }
                Ok(None) => {}
                // The claim will find out what is wrong, and say so.
                Err(_) => return Woke::Look,
            }
        }
    }
}

/// A claim made while the dispatcher waited, with what it was asked with.
struct Ridden {
    claimed: StoreResult<Claimed>,
    limit: usize,
    probing: bool,
}

/// How [`Dispatcher::wait`] ended.
enum Woke {
    /// Claim and look: something may be due.
    Look,
    Ridden(Ridden),
    Stop,
}

/// The waiting claim's answer; never, without one.
async fn made(waiting: &mut Option<WaitingClaim>) -> StoreResult<Claimed> {
    match waiting {
        Some(w) => w.made().await,
        None => std::future::pending().await,
    }
}

/// Runs a delivery, then, on the same task and slot, each delivery that was waiting in its
/// endpoint's line. When the endpoint goes idle with paced work in the queue, brings that work
/// forward (the endpoint is faster now than its pace assumed).
async fn run_in_turn(engine: Arc<Engine>, mut job: DeliveryJob, permit: OwnedSemaphorePermit) {
    loop {
        let endpoint = job.endpoint.id.clone();
        let started = std::time::Instant::now();
        worker::execute(&engine, job).await;
        let next = engine
            .limiter
            .next(&endpoint, engine.clock.now(), started.elapsed());
        if next.recall_paced {
            match engine
                .store
                .recall_paced(&endpoint, engine.clock.now())
                .await
            {
                Ok(0) => {}
                Ok(n) => {
                    tracing::debug!(endpoint_id = %endpoint, deliveries = n,
                        "endpoint caught up: paced deliveries brought forward");
                    engine.waker.wake();
                }
                Err(e) => tracing::warn!(error = %e, endpoint_id = %endpoint,
                    "bringing paced deliveries forward failed; they go at their paced time"),
            }
        }
        match next.item {
            Some(queued) => job = queued,
            None => break,
        }
    }
    drop(permit);
}

//! The dispatcher: claims due deliveries and runs them, one named outcome each.
//!
//! It sleeps until one of three things happens: new work is committed ([`Waker`]), the
//! earliest scheduled retry falls due, or the safety poll fires (a few seconds; it only
//! matters if a wake-up was missed). It never polls per message. Concurrency is bounded by a
//! semaphore, and the dispatcher claims no more work than it has permits for, so the queue
//! stays in the database rather than growing in memory.

use super::schedule::RetrySchedule;
use super::sender::Sender;
use super::signing::sign;
use super::Waker;
use crate::domain::{Attempt, AttemptId, DeliveryStatus};
use crate::store::{DeliveryJob, DeliveryUpdate, DynStore};
use bytes::Bytes;
use chrono::Utc;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How a delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    FailedWillRetry,
    FailedExhausted,
    /// Not attempted: the endpoint was disabled or the payload had expired.
    Canceled(&'static str),
    /// The attempt happened but could not be recorded; its lease will run out and it will be
    /// tried again (at-least-once).
    NotRecorded,
}

pub struct DispatcherConfig {
    pub schedule: RetrySchedule,
    pub delivery_timeout: Duration,
    /// Deliveries in flight at once, across all endpoints.
    pub max_in_flight: usize,
    /// How often to look for due work when nothing woke us.
    pub safety_poll: Duration,
}

pub struct Dispatcher {
    store: DynStore,
    sender: Arc<Sender>,
    waker: Waker,
    config: Arc<DispatcherConfig>,
    permits: Arc<Semaphore>,
}

/// The most deliveries claimed in one round trip.
const CLAIM_BATCH: usize = 256;

impl Dispatcher {
    pub fn new(store: DynStore, sender: Sender, waker: Waker, config: DispatcherConfig) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(config.max_in_flight.max(1))),
            store,
            sender: Arc::new(sender),
            waker,
            config: Arc::new(config),
        }
    }

    /// Runs until `shutdown` is cancelled. Deliveries in flight are tracked by `tracker`;
    /// the caller waits for them (or leaves them to be retried after restart).
    pub async fn run(self, shutdown: CancellationToken, tracker: TaskTracker) {
        // A lease outlives the request it covers, so a live worker never loses its claim.
        let lease = self.config.delivery_timeout + Duration::from_secs(30);
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            let free = self.permits.available_permits();
            if free == 0 {
                tokio::select! {
                    permit = self.permits.acquire() => drop(permit),
                    _ = shutdown.cancelled() => return,
                }
                continue;
            }
            let limit = free.min(CLAIM_BATCH);
            let jobs = match self.store.claim_due(Utc::now(), limit as u32, lease).await {
                Ok(jobs) => jobs,
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
            for job in jobs {
                let permit = self
                    .permits
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed");
                let store = self.store.clone();
                let sender = self.sender.clone();
                let config = self.config.clone();
                tracker.spawn(async move {
                    execute(&store, &sender, &config, job).await;
                    drop(permit);
                });
            }
            if claimed == limit {
                continue; // there may be more due right now
            }
            let wait = match self.store.next_due_at().await {
                Ok(Some(at)) => (at - Utc::now())
                    .to_std()
                    .unwrap_or(Duration::ZERO)
                    .min(self.config.safety_poll),
                _ => self.config.safety_poll,
            };
            if wait.is_zero() && claimed == 0 {
                // Due work exists but none could be claimed (a live lease elsewhere): do not spin.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            tokio::select! {
                _ = self.waker.woken() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }
}

/// Runs one claimed delivery to its outcome and records it.
pub async fn execute(
    store: &DynStore,
    sender: &Sender,
    config: &DispatcherConfig,
    job: DeliveryJob,
) -> Outcome {
    let (attempt, update, outcome) = match try_execute(sender, config, &job).await {
        Attempted::Skipped(reason) => (None, DeliveryUpdate::Canceled, Outcome::Canceled(reason)),
        Attempted::Done(attempt) => {
            let attempts_made = job.attempts_made + 1;
            if attempt.status == DeliveryStatus::Success {
                (Some(attempt), DeliveryUpdate::Delivered, Outcome::Delivered)
            } else if let Some(at) = config.schedule.next_attempt_at(attempts_made, Utc::now()) {
                (
                    Some(attempt),
                    DeliveryUpdate::RetryAt(at),
                    Outcome::FailedWillRetry,
                )
            } else {
                (
                    Some(attempt),
                    DeliveryUpdate::Exhausted,
                    Outcome::FailedExhausted,
                )
            }
        }
    };
    let recorded = store
        .record_attempt(job.delivery_id, attempt.as_ref(), update)
        .await;
    let outcome = match recorded {
        Ok(()) => outcome,
        Err(e) => {
            tracing::error!(error = %e, msg_id = %job.msg_id, endpoint_id = %job.endpoint.id,
                "recording an attempt failed; the delivery will be retried when its lease ends");
            Outcome::NotRecorded
        }
    };
    match &attempt {
        Some(a) => tracing::info!(
            msg_id = %job.msg_id,
            endpoint_id = %job.endpoint.id,
            attempt_id = %a.id,
            status_code = a.response_status_code,
            duration_ms = a.response_duration_ms,
            failure = a.failure_reason.as_deref(),
            outcome = ?outcome,
            "delivery attempt"
        ),
        None => tracing::info!(msg_id = %job.msg_id, endpoint_id = %job.endpoint.id,
            outcome = ?outcome, "delivery skipped"),
    }
    outcome
}

enum Attempted {
    Done(Attempt),
    Skipped(&'static str),
}

/// Signs and sends one delivery; returns the attempt to record.
async fn try_execute(sender: &Sender, _config: &DispatcherConfig, job: &DeliveryJob) -> Attempted {
    if job.endpoint.fields.disabled {
        return Attempted::Skipped("endpoint disabled");
    }
    let Some(payload) = &job.payload else {
        return Attempted::Skipped("payload expired");
    };
    let now = Utc::now();
    let timestamp = now.timestamp();
    let body = Bytes::from(payload.clone().into_bytes());
    let signature = sign(
        job.endpoint.secret.key(),
        job.msg_id.as_str(),
        timestamp,
        &body,
    );
    let headers = delivery_headers(job, timestamp, &signature);

    let url = &job.endpoint.fields.url;
    let result = sender.post(url, headers, body).await;
    let success = result.is_success();
    let failure_reason = match (&result.failure, result.status) {
        (Some(reason), _) => Some(reason.clone()),
        (None, Some(code)) if !success => Some(format!("endpoint answered HTTP {code}")),
        _ => None,
    };
    Attempted::Done(Attempt {
        id: AttemptId::generate(),
        msg_id: job.msg_id.clone(),
        endpoint_id: job.endpoint.id.clone(),
        url: url.as_str().to_owned(),
        response_status_code: result.status.map(|s| s as i16).unwrap_or(0),
        response: result.body,
        response_duration_ms: result.duration.as_millis() as i64,
        status: if success {
            DeliveryStatus::Success
        } else {
            DeliveryStatus::Fail
        },
        trigger_type: job.trigger,
        failure_reason,
        created_at: now,
    })
}

/// The endpoint's custom headers, then the Standard Webhooks and `svix-*` headers (custom
/// headers can never override these: their names are refused when the endpoint is saved).
fn delivery_headers(job: &DeliveryJob, timestamp: i64, signature: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in &job.endpoint.fields.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            headers.insert(n, v);
        }
    }
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let id = HeaderValue::try_from(job.msg_id.as_str()).expect("ids are ASCII");
    let ts = HeaderValue::from(timestamp);
    let sig = HeaderValue::try_from(signature).expect("signatures are ASCII");
    for (prefix, value) in [("id", &id), ("timestamp", &ts), ("signature", &sig)] {
        for family in ["webhook", "svix"] {
            let name = HeaderName::try_from(format!("{family}-{prefix}")).expect("static names");
            headers.insert(name, value.clone());
        }
    }
    headers
}

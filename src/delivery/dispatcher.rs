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
use chrono::{DateTime, Utc};
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
    /// The endpoint answered 410 Gone: the delivery failed for good and the endpoint is
    /// disabled.
    EndpointGone,
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
    let (attempt, update, outcome) = match try_execute(sender, &job).await {
        Attempted::Skipped(reason) => (None, DeliveryUpdate::Canceled, Outcome::Canceled(reason)),
        Attempted::Done {
            attempt,
            retry_after,
        } => {
            let (update, outcome) = next_step(
                &config.schedule,
                job.attempts_made + 1,
                &attempt,
                retry_after,
                Utc::now(),
            );
            (Some(attempt), update, outcome)
        }
    };
    if outcome == Outcome::EndpointGone {
        // 410 Gone: the receiver says this endpoint will never accept deliveries again.
        let disabled = store
            .set_endpoint_disabled(&job.app_id, &job.endpoint.id, true)
            .await;
        if let Err(e) = disabled {
            tracing::error!(error = %e, endpoint_id = %job.endpoint.id, "disabling an endpoint after 410 failed");
        }
    }
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
    Done {
        attempt: Attempt,
        /// The endpoint's `Retry-After`, on a 429 or 503.
        retry_after: Option<Duration>,
    },
    Skipped(&'static str),
}

/// The longest wait a `Retry-After` can impose.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// Where a delivery goes after an attempt: delivered; retried on the schedule (a `Retry-After`
/// on 503 sets the time, on 429 it can only lengthen the wait, both capped at 24 h); given up
/// when the schedule is used up; or, on 410 Gone, given up with the endpoint disabled.
pub fn next_step(
    schedule: &RetrySchedule,
    attempts_made: u32,
    attempt: &Attempt,
    retry_after: Option<Duration>,
    now: DateTime<Utc>,
) -> (DeliveryUpdate, Outcome) {
    if attempt.status == DeliveryStatus::Success {
        return (DeliveryUpdate::Delivered, Outcome::Delivered);
    }
    if attempt.response_status_code == 410 {
        return (DeliveryUpdate::Exhausted, Outcome::EndpointGone);
    }
    let Some(scheduled) = schedule.next_attempt_at(attempts_made, now) else {
        return (DeliveryUpdate::Exhausted, Outcome::FailedExhausted);
    };
    let at = match retry_after.map(|d| d.min(MAX_RETRY_AFTER)) {
        Some(wait) => {
            let asked = now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::zero());
            if attempt.response_status_code == 429 {
                scheduled.max(asked)
            } else {
                asked
            }
        }
        None => scheduled,
    };
    (DeliveryUpdate::RetryAt(at), Outcome::FailedWillRetry)
}

/// Signs and sends one delivery; returns the attempt to record.
async fn try_execute(sender: &Sender, job: &DeliveryJob) -> Attempted {
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
    let retry_after = result.retry_after;
    Attempted::Done {
        retry_after,
        attempt: Attempt {
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
        },
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{EndpointId, MessageId, TriggerType};

    fn attempt(code: i16) -> Attempt {
        Attempt {
            id: AttemptId::generate(),
            msg_id: MessageId::generate(),
            endpoint_id: EndpointId::generate(),
            url: "https://example.com".into(),
            response_status_code: code,
            response: String::new(),
            response_duration_ms: 1,
            status: if (200..300).contains(&code) {
                DeliveryStatus::Success
            } else {
                DeliveryStatus::Fail
            },
            trigger_type: TriggerType::Scheduled,
            failure_reason: None,
            created_at: Utc::now(),
        }
    }

    fn wait_of(update: DeliveryUpdate, now: DateTime<Utc>) -> Duration {
        match update {
            DeliveryUpdate::RetryAt(at) => (at - now).to_std().unwrap(),
            other => panic!("expected a retry, got {other:?}"),
        }
    }

    #[test]
    fn success_failure_and_exhaustion() {
        let s = RetrySchedule::parse("10s").unwrap();
        let now = Utc::now();
        assert_eq!(next_step(&s, 1, &attempt(200), None, now).1, Outcome::Delivered);
        assert_eq!(next_step(&s, 1, &attempt(500), None, now).1, Outcome::FailedWillRetry);
        assert_eq!(next_step(&s, 1, &attempt(302), None, now).1, Outcome::FailedWillRetry);
        assert_eq!(next_step(&s, 2, &attempt(500), None, now).1, Outcome::FailedExhausted);
    }

    #[test]
    fn gone_gives_up_at_once() {
        let s = RetrySchedule::parse("10s,10s").unwrap();
        let (update, outcome) = next_step(&s, 1, &attempt(410), None, Utc::now());
        assert_eq!((update, outcome), (DeliveryUpdate::Exhausted, Outcome::EndpointGone));
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let s = RetrySchedule::parse("10s").unwrap();
        let now = Utc::now();
        // 503: the endpoint's wait wins, shorter or longer than the schedule.
        let w = wait_of(next_step(&s, 1, &attempt(503), Some(Duration::from_secs(2)), now).0, now);
        assert_eq!(w, Duration::from_secs(2));
        let w = wait_of(next_step(&s, 1, &attempt(503), Some(Duration::from_secs(3600)), now).0, now);
        assert_eq!(w, Duration::from_secs(3600));
        // 429: never sooner than the schedule.
        let w = wait_of(next_step(&s, 1, &attempt(429), Some(Duration::from_secs(1)), now).0, now);
        assert!(w >= Duration::from_secs(8), "{w:?}");
        // Capped at 24 hours.
        let w = wait_of(
            next_step(&s, 1, &attempt(503), Some(Duration::from_secs(7 * 86400)), now).0,
            now,
        );
        assert_eq!(w, MAX_RETRY_AFTER);
    }
}

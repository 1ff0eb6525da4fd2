//! One unit of delivery work: sign and send a claimed delivery, name its outcome, record the
//! attempt, and tell operators when it matters (failing, exhausted, recovered, disabled).

use super::metrics::OutcomeLabel;
use super::operational::FAILING_AFTER_ATTEMPTS;
use super::schedule::RetrySchedule;
use super::signing::sign;
use super::Engine;
use crate::domain::{Attempt, AttemptId, DeliveryStatus};
use crate::store::{DeliveryJob, DeliveryUpdate};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use std::time::Duration;

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

impl Outcome {
    fn label(&self) -> OutcomeLabel {
        match self {
            Self::Delivered => OutcomeLabel::Delivered,
            Self::FailedWillRetry => OutcomeLabel::FailedWillRetry,
            Self::FailedExhausted => OutcomeLabel::FailedExhausted,
            Self::EndpointGone => OutcomeLabel::EndpointGone,
            Self::Canceled(_) => OutcomeLabel::Canceled,
            Self::NotRecorded => OutcomeLabel::NotRecorded,
        }
    }
}

/// Runs one admitted delivery to its outcome and records it.
pub async fn execute(engine: &Engine, job: DeliveryJob) -> Outcome {
    engine.metrics.in_flight.inc();
    let profile = engine.profiles.get(&job.app_id);
    let attempted = try_execute(engine, &job, profile.as_deref()).await;
    engine.metrics.in_flight.dec();
    let now = engine.clock.now();
    let (attempt, update, outcome, latency) = match attempted {
        Attempted::Skipped(reason) => (
            None,
            DeliveryUpdate::Canceled,
            Outcome::Canceled(reason),
            Duration::ZERO,
        ),
        Attempted::Done {
            attempt,
            retry_after,
            latency,
            final_answer,
        } => {
            let schedule = profile
                .as_deref()
                .and_then(|p| p.schedule())
                .unwrap_or(&engine.config.schedule);
            let (update, outcome) = if final_answer && attempt.status != DeliveryStatus::Success {
                // The receiver asked not to be retried (Slack's `X-Slack-No-Retry: 1`).
                (DeliveryUpdate::Exhausted, Outcome::FailedExhausted)
            } else {
                next_step(schedule, job.attempts_made + 1, &attempt, retry_after, now)
            };
            (Some(attempt), update, outcome, latency)
        }
    };
    if outcome == Outcome::EndpointGone {
        // Disabled before the attempt is recorded: whoever sees the delivery failed (the API,
        // the portal) then also sees the endpoint disabled, never the other way round. Were
        // the record to fail, the delivery is retried after its lease and finds the endpoint
        // disabled.
        disable_endpoint(engine, &job, true, None).await;
    }
    let recorded = engine
        .store
        .record_attempt(job.delivery_id, attempt.as_ref(), update, now)
        .await;
    let outcome = match recorded {
        Ok(failing_since) => {
            if matches!(update, DeliveryUpdate::RetryAt(_)) {
                // The dispatcher may be asleep until later than this retry: let it re-plan.
                engine.waker.wake();
            }
            after_recorded(engine, &job, attempt.as_ref(), &outcome, failing_since, now).await;
            if let (Outcome::Delivered, Some(a)) = (&outcome, &attempt) {
                if let Some(profile) = &profile {
                    profile
                        .answered(&job, a.response_status_code as u16, &a.response)
                        .await;
                }
            }
            outcome
        }
        Err(e) => {
            tracing::error!(error = %e, msg_id = %job.msg_id, endpoint_id = %job.endpoint.id,
                "recording an attempt failed; the delivery will be retried when its lease ends");
            Outcome::NotRecorded
        }
    };
    engine.metrics.count(outcome.label());
    match &attempt {
        Some(a) => {
            engine
                .metrics
                .attempt_seconds
                .observe(latency.as_secs_f64());
            tracing::info!(
                msg_id = %job.msg_id,
                endpoint_id = %job.endpoint.id,
                attempt_id = %a.id,
                status_code = a.response_status_code,
                duration_ms = a.response_duration_ms,
                failure = a.failure_reason.as_deref(),
                outcome = ?outcome,
                "delivery attempt"
            )
        }
        None => tracing::info!(msg_id = %job.msg_id, endpoint_id = %job.endpoint.id,
            outcome = ?outcome, "delivery skipped"),
    }
    outcome
}

/// Disables an endpoint that asked for it (410, `gone`) or has failed for too long, with its
/// `endpoint.disabled` operational event stored in the same transaction as the change.
async fn disable_endpoint(
    engine: &Engine,
    job: &DeliveryJob,
    gone: bool,
    failing_since: Option<DateTime<Utc>>,
) {
    let event = engine
        .ops
        .endpoint_disabled_automatically(&job.app_id, &job.endpoint, failing_since)
        .await;
    let queued = event.is_some();
    let events: crate::store::EndpointEvents = Box::new(move |_| event.into_iter().collect());
    match engine
        .store
        .set_endpoint_disabled_with_events(&job.app_id, &job.endpoint.id, true, events)
        .await
    {
        Ok(()) => {
            tracing::warn!(endpoint_id = %job.endpoint.id, gone, "endpoint disabled");
            if queued {
                engine.waker.wake();
            }
        }
        Err(e) => {
            tracing::error!(error = %e, endpoint_id = %job.endpoint.id, "disabling an endpoint failed")
        }
    }
}

/// Disables endpoints that have failed for too long, and sends the operational events an
/// attempt calls for.
async fn after_recorded(
    engine: &Engine,
    job: &DeliveryJob,
    attempt: Option<&Attempt>,
    outcome: &Outcome,
    failing_since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) {
    let Some(attempt) = attempt else { return };
    let ops = &engine.ops;
    let attempts_made = job.attempts_made + 1;
    let failed_too_long = failing_since.is_some_and(|since| {
        chrono::Duration::from_std(engine.config.disable_after)
            .is_ok_and(|limit| now - since >= limit)
    });
    // A 410 disabled the endpoint before the attempt was recorded (see `deliver`).
    if failed_too_long && *outcome != Outcome::EndpointGone {
        disable_endpoint(engine, job, false, failing_since).await;
    }
    let event = match outcome {
        Outcome::FailedWillRetry if attempts_made == FAILING_AFTER_ATTEMPTS => {
            Some("message.attempt.failing")
        }
        Outcome::FailedExhausted | Outcome::EndpointGone => Some("message.attempt.exhausted"),
        Outcome::Delivered if attempts_made > FAILING_AFTER_ATTEMPTS || job.recovering => {
            Some("message.attempt.recovered")
        }
        _ => None,
    };
    if let Some(event) = event {
        ops.attempt_event(event, &job.app_id, job.event_id.as_deref(), attempt)
            .await;
    }
}

enum Attempted {
    Done {
        attempt: Attempt,
        /// The endpoint's `Retry-After`, on a 429 or 503.
        retry_after: Option<Duration>,
        latency: Duration,
        /// The profile read the answer as "do not retry".
        final_answer: bool,
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
async fn try_execute(
    engine: &Engine,
    job: &DeliveryJob,
    profile: Option<&dyn super::profile::DeliveryProfile>,
) -> Attempted {
    if job.endpoint.fields.disabled {
        return Attempted::Skipped("endpoint disabled");
    }
    let Some(payload) = &job.payload else {
        return Attempted::Skipped("payload expired");
    };
    let now = engine.clock.now();
    let timestamp = now.timestamp();
    let body = Bytes::from(payload.clone().into_bytes());
    let headers = match profile {
        Some(profile) => profile.headers(job, timestamp, &body).await,
        None => {
            // During a rotation the retired secret signs beside the new one, space-separated.
            let signature = job
                .endpoint
                .signing_secrets(now)
                .map(|secret| sign(secret.key(), job.msg_id.as_str(), timestamp, &body))
                .collect::<Vec<_>>()
                .join(" ");
            delivery_headers(job, timestamp, &signature)
        }
    };

    let url = &job.endpoint.fields.url;
    let timeout = profile.and_then(|p| p.timeout());
    let result = engine.sender.post_within(url, headers, body, timeout).await;
    let success = result.is_success();
    let failure_reason = match (&result.failure, result.status) {
        (Some(reason), _) => Some(reason.clone()),
        (None, Some(code)) if !success => Some(format!("endpoint answered HTTP {code}")),
        _ => None,
    };
    let final_answer = profile.is_some_and(|p| p.no_retry(&result.headers));
    Attempted::Done {
        retry_after: result.retry_after,
        final_answer,
        latency: result.duration,
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

/// Headers of the provider's request that are about that one hop, not the webhook: they are
/// never passed on.
const HOP_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "expect",
];

/// For a message a source accepted, the provider's headers as they arrived (its content type
/// included); then the endpoint's custom headers, then the Standard Webhooks and `svix-*`
/// headers (custom headers can never override these: their names are refused when the
/// endpoint is saved, and a provider's own `webhook-*` headers are replaced by Kanca's).
fn delivery_headers(job: &DeliveryJob, timestamp: i64, signature: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in &job.received_headers {
        if HOP_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            headers.append(n, v);
        }
    }
    let passed_on_type = headers.contains_key(CONTENT_TYPE);
    for (name, value) in &job.endpoint.fields.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            headers.insert(n, v);
        }
    }
    if !passed_on_type {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    let id = HeaderValue::try_from(job.msg_id.as_str()).expect("ids are ASCII");
    let ts = HeaderValue::from(timestamp);
    let sig = HeaderValue::try_from(signature).expect("signatures are ASCII");
    for (names, value) in [
        (SIGNED_HEADERS[0], id),
        (SIGNED_HEADERS[1], ts),
        (SIGNED_HEADERS[2], sig),
    ] {
        for name in names {
            headers.insert(HeaderName::from_static(name), value.clone());
        }
    }
    headers
}

/// The Standard Webhooks headers and their `svix-*` twins, by what they carry (id, timestamp,
/// signature): static names, so a delivery does not format and parse six header names.
const SIGNED_HEADERS: [[&str; 2]; 3] = [
    ["webhook-id", "svix-id"],
    ["webhook-timestamp", "svix-timestamp"],
    ["webhook-signature", "svix-signature"],
];

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
        assert_eq!(
            next_step(&s, 1, &attempt(200), None, now).1,
            Outcome::Delivered
        );
        assert_eq!(
            next_step(&s, 1, &attempt(500), None, now).1,
            Outcome::FailedWillRetry
        );
        assert_eq!(
            next_step(&s, 1, &attempt(302), None, now).1,
            Outcome::FailedWillRetry
        );
        assert_eq!(
            next_step(&s, 2, &attempt(500), None, now).1,
            Outcome::FailedExhausted
        );
    }

    #[test]
    fn gone_gives_up_at_once() {
        let s = RetrySchedule::parse("10s,10s").unwrap();
        let (update, outcome) = next_step(&s, 1, &attempt(410), None, Utc::now());
        assert_eq!(
            (update, outcome),
            (DeliveryUpdate::Exhausted, Outcome::EndpointGone)
        );
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let s = RetrySchedule::parse("10s").unwrap();
        let now = Utc::now();
        // 503: the endpoint's wait wins, shorter or longer than the schedule.
        let w = wait_of(
            next_step(&s, 1, &attempt(503), Some(Duration::from_secs(2)), now).0,
            now,
        );
        assert_eq!(w, Duration::from_secs(2));
        let w = wait_of(
            next_step(&s, 1, &attempt(503), Some(Duration::from_secs(3600)), now).0,
            now,
        );
        assert_eq!(w, Duration::from_secs(3600));
        // 429: never sooner than the schedule.
        let w = wait_of(
            next_step(&s, 1, &attempt(429), Some(Duration::from_secs(1)), now).0,
            now,
        );
        assert!(w >= Duration::from_secs(8), "{w:?}");
        // Capped at 24 hours.
        let w = wait_of(
            next_step(
                &s,
                1,
                &attempt(503),
                Some(Duration::from_secs(7 * 86400)),
                now,
            )
            .0,
            now,
        );
        assert_eq!(w, MAX_RETRY_AFTER);
    }
}

//! The store's decisions that do not depend on the database, written once for every backend.
//!
//! A backend reads rows, asks these functions what to write, and writes it in its own SQL:
//! which endpoints a message fans out to, what an attempt does to its endpoint's run of
//! failures, which status and due time a delivery takes after an attempt, and which
//! idempotency keys a batch has already used. Keeping them here means SQLite and PostgreSQL
//! cannot drift apart on a rule, and each rule is unit-tested once, without a database.

use crate::domain::*;
use crate::store::{from_ms, to_ms, DeliveryUpdate, FanOut, IdempotentWrite, StoredResponse};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// [`DeliveryStatus`] values as SQL literals, to be `concat!`ed into statements.
///
/// They stay literal in the SQL text (not bound) because the queue's partial indexes
/// (`delivery_due … WHERE status = 1`, `delivery_leased … WHERE status = 3`) are only used
/// when a query's predicate matches theirs literally. `rules::tests` checks that each literal
/// is the enum's value.
macro_rules! status {
    (Success) => {
        "0"
    };
    (Pending) => {
        "1"
    };
    (Fail) => {
        "2"
    };
    (Sending) => {
        "3"
    };
    (Canceled) => {
        "4"
    };
}
pub(crate) use status;

/// [`TriggerType`] values as SQL literals, as [`status!`] is for statuses.
macro_rules! trigger {
    (Scheduled) => {
        "0"
    };
    (Manual) => {
        "1"
    };
}
pub(crate) use trigger;

impl DeliveryUpdate {
    /// The status the delivery row takes after this update, and when it is next due (only a
    /// retry has a next attempt).
    pub fn row(self) -> (DeliveryStatus, Option<DateTime<Utc>>) {
        match self {
            Self::Delivered => (DeliveryStatus::Success, None),
            Self::RetryAt(at) => (DeliveryStatus::Pending, Some(at)),
            Self::Exhausted => (DeliveryStatus::Fail, None),
            Self::Canceled => (DeliveryStatus::Canceled, None),
        }
    }
}

/// The endpoints `msg` goes to, given its application's enabled endpoints, and how its
/// deliveries are triggered. A message aimed at one endpoint is a person's test event: it
/// goes there whatever the endpoint subscribes to, as a manual trigger.
pub fn fan_out_targets(
    enabled: &[Endpoint],
    msg: &Message,
    fan_out: &FanOut,
) -> (Vec<String>, TriggerType) {
    match fan_out {
        FanOut::Subscribed => (
            enabled
                .iter()
                .filter(|ep| {
                    ep.fields
                        .subscribes_to(&msg.event_type, msg.channels.as_ref())
                })
                .map(|ep| ep.id.as_str().to_owned())
                .collect(),
            TriggerType::Scheduled,
        ),
        FanOut::Only(id) => (vec![id.as_str().to_owned()], TriggerType::Manual),
    }
}

/// Each application's enabled endpoints, read once per write batch: a batch of publishes to
/// one application fans out against one read of its endpoints.
#[derive(Default)]
pub struct EndpointsByApp(HashMap<String, Vec<Endpoint>>);

impl EndpointsByApp {
    /// The endpoints read for `app` earlier in this batch, if any.
    pub fn get(&self, app: &AppId) -> Option<&[Endpoint]> {
        self.0.get(app.as_str()).map(Vec::as_slice)
    }

    pub fn insert(&mut self, app: &AppId, endpoints: Vec<Endpoint>) -> &[Endpoint] {
        self.0.entry(app.as_str().to_owned()).or_insert(endpoints)
    }
}

/// The endpoints of one claim, each read from its row once and shared by that claim's jobs
/// for it: a claim of 256 deliveries to one endpoint parses and allocates its URL, secrets and
/// headers once rather than 256 times, and the dispatcher's and worker's copies are reference
/// counts.
#[derive(Default)]
pub struct ClaimedEndpoints(HashMap<String, std::sync::Arc<Endpoint>>);

impl ClaimedEndpoints {
    /// The endpoint with this id, read by `read` the first time the claim meets it.
    pub fn get_or_read(
        &mut self,
        id: &str,
        read: impl FnOnce() -> Endpoint,
    ) -> std::sync::Arc<Endpoint> {
        if let Some(e) = self.0.get(id) {
            return e.clone();
        }
        let e = std::sync::Arc::new(read());
        self.0.insert(id.to_owned(), e.clone());
        e
    }
}

/// The idempotency keys a batch of publishes has used so far: a key repeated within one
/// batch answers like a key already stored (with the first request's response), since the
/// first one has not committed yet and the database cannot see it.
#[derive(Default)]
pub struct KeysInBatch<'a>(HashMap<(&'a str, &'a str), &'a StoredResponse>);

impl<'a> KeysInBatch<'a> {
    /// The response kept for this key by an earlier publish of the batch.
    pub fn earlier(&self, idem: &IdempotentWrite) -> Option<StoredResponse> {
        self.0
            .get(&(idem.key.as_str(), idem.scope.as_str()))
            .map(|r| (*r).clone())
    }

    /// This publish takes the key: later ones in the batch replay its response.
    pub fn take(&mut self, idem: &'a IdempotentWrite) {
        self.0
            .insert((idem.key.as_str(), idem.scope.as_str()), &idem.response);
    }
}

/// Endpoints' runs of failures (`endpoint.failing_since`), replayed through a batch of
/// attempts in order.
///
/// A run starts when a failed request was made and ends with the next success; it is what
/// auto-disable and the `endpoint.disabled`/`…failing` operational events look at. Only runs
/// that changed are written back ([`Self::changed`]): an unconditional write would rewrite
/// the endpoint's row with every attempt (a page in SQLite's log each time; a row lock that
/// serialises all deliveries to one endpoint on PostgreSQL).
#[derive(Debug, Default)]
pub struct FailureRuns {
    before: HashMap<String, Option<DateTime<Utc>>>,
    now: HashMap<String, Option<DateTime<Utc>>>,
}

impl FailureRuns {
    /// Starts from each endpoint's run as stored (`None`: not failing).
    pub fn new(stored: impl IntoIterator<Item = (String, Option<DateTime<Utc>>)>) -> Self {
        let before: HashMap<_, _> = stored.into_iter().collect();
        Self {
            now: before.clone(),
            before,
        }
    }

    /// Counts `attempt` to `endpoint`; returns since when the endpoint has been failing
    /// without a success (`None` after a success).
    pub fn record(&mut self, endpoint: &str, attempt: &Attempt) -> Option<DateTime<Utc>> {
        let run = self.now.entry(endpoint.to_owned()).or_default();
        *run = if attempt.status == DeliveryStatus::Success {
            None
        } else {
            // To the millisecond, as stored: what is returned reads back the same.
            Some(run.unwrap_or(from_ms(to_ms(attempt.created_at))))
        };
        *run
    }

    /// The runs that differ from what is stored: the only endpoint rows to write.
    pub fn changed(&self) -> Vec<(&str, Option<DateTime<Utc>>)> {
        let mut changed: Vec<_> = self
            .now
            .iter()
            .filter(|(id, run)| self.before.get(*id) != Some(*run))
            .map(|(id, run)| (id.as_str(), *run))
            .collect();
        // In id order, so concurrent batches lock endpoint rows in one order.
        changed.sort_unstable_by(|a, b| a.0.cmp(b.0));
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(ok: bool, at_ms: i64) -> Attempt {
        Attempt {
            id: AttemptId::generate(),
            msg_id: MessageId::generate(),
            endpoint_id: EndpointId::generate(),
            url: "https://example.com/".into(),
            response: String::new(),
            response_status_code: if ok { 200 } else { 500 },
            response_duration_ms: 1,
            status: if ok {
                DeliveryStatus::Success
            } else {
                DeliveryStatus::Fail
            },
            trigger_type: TriggerType::Scheduled,
            failure_reason: None,
            created_at: from_ms(at_ms),
        }
    }

    #[test]
    fn status_literals_are_the_enums_values() {
        for (literal, status) in [
            (status!(Success), DeliveryStatus::Success),
            (status!(Pending), DeliveryStatus::Pending),
            (status!(Fail), DeliveryStatus::Fail),
            (status!(Sending), DeliveryStatus::Sending),
            (status!(Canceled), DeliveryStatus::Canceled),
        ] {
            assert_eq!(literal, (status as i64).to_string());
        }
        assert_eq!(
            trigger!(Scheduled),
            (TriggerType::Scheduled as i64).to_string()
        );
        assert_eq!(trigger!(Manual), (TriggerType::Manual as i64).to_string());
    }

    #[test]
    fn an_update_sets_status_and_only_a_retry_is_due_again() {
        let at = from_ms(1_000);
        assert_eq!(
            DeliveryUpdate::Delivered.row(),
            (DeliveryStatus::Success, None)
        );
        assert_eq!(
            DeliveryUpdate::RetryAt(at).row(),
            (DeliveryStatus::Pending, Some(at))
        );
        assert_eq!(
            DeliveryUpdate::Exhausted.row(),
            (DeliveryStatus::Fail, None)
        );
        assert_eq!(
            DeliveryUpdate::Canceled.row(),
            (DeliveryStatus::Canceled, None)
        );
    }

    #[test]
    fn a_run_of_failures_starts_at_the_first_failure_and_ends_with_a_success() {
        let mut runs = FailureRuns::new([("a".to_owned(), None), ("b".to_owned(), None)]);
        assert_eq!(runs.record("a", &attempt(false, 10)), Some(from_ms(10)));
        assert_eq!(
            runs.record("a", &attempt(false, 20)),
            Some(from_ms(10)),
            "a later failure keeps the start"
        );
        assert_eq!(runs.record("b", &attempt(true, 30)), None);
        assert_eq!(
            runs.changed(),
            vec![("a", Some(from_ms(10)))],
            "b is unchanged"
        );
        assert_eq!(runs.record("a", &attempt(true, 40)), None);
        assert!(
            runs.changed().is_empty(),
            "failed and recovered in one batch"
        );
    }

    #[test]
    fn a_stored_run_continues_and_an_unknown_endpoint_starts_one() {
        let mut runs = FailureRuns::new([("a".to_owned(), Some(from_ms(5)))]);
        assert_eq!(runs.record("a", &attempt(false, 50)), Some(from_ms(5)));
        assert_eq!(runs.record("z", &attempt(false, 60)), Some(from_ms(60)));
        assert_eq!(runs.changed(), vec![("z", Some(from_ms(60)))]);
        assert_eq!(runs.record("a", &attempt(true, 70)), None);
        assert_eq!(
            runs.changed(),
            vec![("a", None), ("z", Some(from_ms(60)))],
            "in id order"
        );
    }

    #[test]
    fn a_run_starts_at_the_millisecond_the_database_keeps() {
        let mut a = attempt(false, 0);
        a.created_at = from_ms(1_500) + chrono::TimeDelta::microseconds(999);
        let mut runs = FailureRuns::new([]);
        assert_eq!(runs.record("a", &a), Some(from_ms(1_500)));
    }

    #[test]
    fn a_key_used_earlier_in_the_batch_replays_its_response() {
        let write = |key: &str, status: u16| IdempotentWrite {
            key: key.into(),
            scope: "app_1".into(),
            response: StoredResponse {
                status,
                body: b"{}".to_vec(),
            },
        };
        let (first, again, other) = (write("k", 202), write("k", 500), write("j", 202));
        let mut keys = KeysInBatch::default();
        assert!(keys.earlier(&first).is_none());
        keys.take(&first);
        assert_eq!(keys.earlier(&again).map(|r| r.status), Some(202));
        assert!(keys.earlier(&other).is_none());
    }
}

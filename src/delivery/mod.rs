//! The delivery engine: claims due deliveries, signs and sends them, records every attempt,
//! and schedules retries.
//!
//! - [`dispatcher`] owns the loop: it is woken at once when new work is committed (and sleeps
//!   until the next scheduled delivery otherwise), claims due deliveries in batches with a
//!   lease, passes each through the endpoint's limits ([`throttle`]) and runs it as a task
//!   bounded by a semaphore.
//! - [`worker`] is one unit of work: send, name the outcome, record the attempt.
//! - [`sender`] makes the HTTP request with one pooled client; [`ssrf`] is the resolver that
//!   refuses private addresses after DNS resolution, so DNS rebinding cannot get around it.
//! - [`signing`] produces Standard Webhooks signatures; [`schedule`] decides when to retry.
//! - [`operational`] tells operators about endpoints and failing deliveries, as deliveries.
//! - [`profile`] lets a module above register another signing scheme (and a reply handler)
//!   for one application's deliveries: Slack's outgoing webhooks use it.
//! - [`metrics`] counts what happens, for `/metrics`; [`retention`] drops expired payloads.
//!
//! The engine knows nothing about routes: the API, the Slack workspace and the console all
//! queue work through the store and call [`Waker::wake`].

pub mod dispatcher;
pub mod metrics;
pub mod operational;
pub mod profile;
pub mod retention;
pub mod schedule;
pub mod sender;
pub mod signing;
pub mod ssrf;
pub mod throttle;
pub mod worker;

use crate::clock::Clock;
use crate::store::DynStore;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Wakes the dispatcher after new work has been committed, so a fresh message is sent at once
/// instead of on the next poll. Cheap to clone and to call; wake-ups coalesce.
#[derive(Clone, Default)]
pub struct Waker(Arc<Notify>);

impl Waker {
    pub fn wake(&self) {
        self.0.notify_one();
    }

    pub(crate) async fn woken(&self) {
        self.0.notified().await
    }
}

pub struct EngineConfig {
    pub schedule: schedule::RetrySchedule,
    pub delivery_timeout: Duration,
    /// Deliveries in flight at once, across all endpoints.
    pub max_in_flight: usize,
    /// How often to look for due work when nothing woke us.
    pub safety_poll: Duration,
    /// An endpoint failing without a single success for this long is disabled.
    pub disable_after: Duration,
}

/// Everything a delivery needs, shared by the dispatcher and its workers.
pub struct Engine {
    pub store: DynStore,
    pub sender: sender::Sender,
    pub config: EngineConfig,
    pub clock: Clock,
    pub waker: Waker,
    pub metrics: metrics::Metrics,
    /// Per-endpoint limits; deliveries waiting in an endpoint's line keep their permit.
    pub limiter: throttle::Limiter<crate::store::DeliveryJob>,
    pub ops: operational::Operational,
    /// Signing schemes other than Standard Webhooks, per application ([`profile`]).
    pub profiles: Arc<profile::Profiles>,
}

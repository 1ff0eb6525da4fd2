//! The delivery engine: claims due deliveries, signs and sends them, records every attempt,
//! and schedules retries.
//!
//! - [`dispatcher`] owns the loop: it is woken at once when new work is committed (and sleeps
//!   until the next scheduled retry otherwise), claims due deliveries in batches with a lease,
//!   and runs each one as a task bounded by a semaphore.
//! - [`sender`] makes the HTTP request with one pooled client; [`ssrf`] is the resolver that
//!   refuses private addresses after DNS resolution, so DNS rebinding cannot get around it.
//! - [`signing`] produces Standard Webhooks signatures; [`schedule`] decides when to retry.
//!
//! The engine knows nothing about routes: the API, the Slack workspace and the console all
//! queue work through the store and call [`Waker::wake`].

pub mod dispatcher;
pub mod schedule;
pub mod sender;
pub mod signing;
pub mod ssrf;

use std::sync::Arc;
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

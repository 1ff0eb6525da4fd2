//! Delivery profiles: how the deliveries of one application are signed and what is done with
//! the endpoint's answer, for applications whose deliveries are not Standard Webhooks.
//!
//! The engine's default is Standard Webhooks (JSON body, `webhook-*` and `svix-*` headers).
//! Some of Kanca's own applications speak another protocol over the same machinery: Slack's
//! outgoing webhooks are form or JSON bodies signed with `X-Slack-Signature`, and their 2xx
//! reply may carry a message to post back. A module above the engine (the workspace) registers
//! a [`DeliveryProfile`] for its internal application at startup, before the dispatcher runs;
//! the engine then asks the profile for the headers and hands it the answer, and still owns
//! everything else (claims, retries, the attempt log, metrics). The engine never learns what
//! Slack is, and layers keep pointing one way.
//!
//! Profiles are chosen per application rather than per endpoint: the endpoints of such an
//! application are all created by its owner, so the application is the natural unit, and no
//! column is needed on the endpoint table.

use super::schedule::RetrySchedule;
use crate::domain::AppId;
use crate::store::DeliveryJob;
use async_trait::async_trait;
use reqwest::header::HeaderMap;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

#[async_trait]
pub trait DeliveryProfile: Send + Sync + 'static {
    /// Every header of this delivery (content type and signature included) for `body`, sent
    /// at `timestamp` (seconds since the epoch). Async so that a retry can say why the one
    /// before it failed (Slack's `X-Slack-Retry-Reason`), which only the attempt log knows.
    async fn headers(&self, job: &DeliveryJob, timestamp: i64, body: &[u8]) -> HeaderMap;

    /// The retry schedule of this application's deliveries, when it is not the engine's
    /// (Slack retries events three times within minutes, not over a day).
    fn schedule(&self) -> Option<&RetrySchedule> {
        None
    }

    /// Whether a failed answer with these headers asks not to be retried (Slack's
    /// `X-Slack-No-Retry: 1`). The delivery then fails for good at once.
    fn no_retry(&self, _headers: &[(String, String)]) -> bool {
        false
    }

    /// How long the receiver has to answer, when it is not the engine's delivery timeout
    /// (Slack gives an app 3 seconds).
    fn timeout(&self) -> Option<Duration> {
        None
    }

    /// Called once the endpoint's 2xx answer has been recorded, with its body (the first
    /// 64 KiB). Failures are the profile's to log: the delivery has succeeded.
    async fn answered(&self, job: &DeliveryJob, status: u16, body: &str);
}

/// The registered profiles, by application.
#[derive(Default)]
pub struct Profiles(RwLock<HashMap<AppId, Arc<dyn DeliveryProfile>>>);

impl Profiles {
    /// Deliveries of `app` use `profile` from now on. Register before the dispatcher starts, so
    /// no delivery of that application goes out with the default signing.
    pub fn register(&self, app: AppId, profile: Arc<dyn DeliveryProfile>) {
        self.0
            .write()
            .expect("delivery profiles lock")
            .insert(app, profile);
    }

    pub fn get(&self, app: &AppId) -> Option<Arc<dyn DeliveryProfile>> {
        self.0
            .read()
            .expect("delivery profiles lock")
            .get(app)
            .cloned()
    }
}

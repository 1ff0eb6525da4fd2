//! Operational webhooks: Kanca tells its operators about endpoints and failing deliveries
//! (`endpoint.created|updated|deleted|disabled`, `message.attempt.failing|exhausted|recovered`)
//! in Svix's event shapes.
//!
//! The events are messages of an internal application whose endpoints are the ones registered
//! at `/api/v1/operational-webhook/endpoint`, so they are signed, retried and logged by the
//! same engine as everything else. Events about that application's own deliveries are never
//! emitted, so a failing operational endpoint cannot feed itself.

use super::Waker;
use crate::clock::Clock;
use crate::domain::*;
use crate::store::{DynStore, FanOut};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// The uid of the internal application that holds operational endpoints.
pub const APP_UID: &str = "kanca-operational";

/// `message.attempt.failing` is sent after this many failed attempts in a row (Svix: 4). It
/// lives in `domain` because the store needs it too, to tell a resent delivery whose failure
/// was already reported (see `DeliveryJob::recovering`).
pub use crate::domain::FAILING_AFTER_ATTEMPTS;

#[derive(Clone)]
pub struct Operational {
    store: DynStore,
    waker: Waker,
    clock: Clock,
    app_id: AppId,
}

impl Operational {
    pub async fn init(store: DynStore, waker: Waker, clock: Clock) -> anyhow::Result<Self> {
        let uid = Uid::parse(APP_UID).expect("static uid");
        let app_id = store
            .ensure_internal_app(&uid, "Operational webhooks")
            .await?;
        Ok(Self {
            store,
            waker,
            clock,
            app_id,
        })
    }

    /// The internal application whose endpoints receive operational events.
    pub fn app_id(&self) -> &AppId {
        &self.app_id
    }

    /// `endpoint.created|updated|deleted` about an endpoint of `app`, to be stored in the
    /// same transaction as the change (`crate::send`); `None` for the operational
    /// application's own endpoints.
    pub fn endpoint_changed(
        &self,
        event_type: &'static str,
        app: &Application,
        ep: &Endpoint,
    ) -> Option<Message> {
        if app.id == self.app_id {
            return None;
        }
        let data = json!({
            "appId": app.id,
            "appUid": app.uid,
            "endpointId": ep.id,
            "endpointUid": ep.fields.uid,
        });
        Some(self.event(event_type, data))
    }

    /// `endpoint.disabled` by a person (`trigger: manual`), to be stored with the change.
    pub fn endpoint_disabled_manually(&self, app: &Application, ep: &Endpoint) -> Option<Message> {
        if app.id == self.app_id {
            return None;
        }
        let app_uid = app.uid.as_ref().map(|u| u.to_string());
        Some(self.event(
            "endpoint.disabled",
            disabled_data(&app.id, app_uid, ep, None, "manual"),
        ))
    }

    /// `endpoint.disabled` by the delivery engine (`trigger: automatic`: failing since
    /// `fail_since` for too long, or 410 Gone), to be stored with the change.
    pub async fn endpoint_disabled_automatically(
        &self,
        app_id: &AppId,
        ep: &Endpoint,
        fail_since: Option<DateTime<Utc>>,
    ) -> Option<Message> {
        if *app_id == self.app_id {
            return None;
        }
        let app_uid = self.app_uid(app_id).await;
        let data = disabled_data(app_id, app_uid, ep, fail_since, "automatic");
        Some(self.event("endpoint.disabled", data))
    }

    /// `message.attempt.failing|exhausted|recovered` about one attempt.
    pub async fn attempt_event(
        &self,
        event_type: &'static str,
        app_id: &AppId,
        event_id: Option<&str>,
        a: &Attempt,
    ) {
        if *app_id == self.app_id {
            return;
        }
        let app_uid = self.app_uid(app_id).await;
        let data = json!({
            "appId": app_id,
            "appUid": app_uid,
            "msgId": a.msg_id,
            "msgEventId": event_id,
            "endpointId": a.endpoint_id,
            "lastAttempt": {
                "id": a.id,
                "timestamp": a.created_at,
                "responseStatusCode": a.response_status_code,
                "response": a.response,
                "url": a.url,
            },
        });
        self.emit(event_type, data).await;
    }

    async fn app_uid(&self, app_id: &AppId) -> Option<String> {
        let key = IdOrUid::parse(app_id.as_str()).ok()?;
        self.store
            .get_app(&key)
            .await
            .ok()
            .flatten()?
            .uid
            .map(|u| u.to_string())
    }

    /// An event of the operational application, stamped now.
    fn event(&self, event_type: &'static str, data: Value) -> Message {
        Message::own_event(&self.app_id, event_type, &data, self.clock.now())
    }

    /// Publishes an event to the operational endpoints. Failures are logged, never passed on:
    /// an operator notice must not fail the request or delivery it is about.
    async fn emit(&self, event_type: &'static str, data: Value) {
        let msg = self.event(event_type, data);
        match self
            .store
            .create_message(&msg, FanOut::Subscribed, None)
            .await
        {
            Ok(outcome) => {
                if outcome.wakes_dispatcher() {
                    self.waker.wake()
                }
            }
            Err(e) => {
                tracing::error!(error = %e, event_type, "could not queue an operational event")
            }
        }
    }
}

/// What `endpoint.disabled` carries.
fn disabled_data(
    app_id: &AppId,
    app_uid: Option<String>,
    ep: &Endpoint,
    fail_since: Option<DateTime<Utc>>,
    trigger: &str,
) -> Value {
    json!({
        "appId": app_id,
        "appUid": app_uid,
        "endpointId": ep.id,
        "endpointUid": ep.fields.uid,
        "failSince": fail_since,
        "trigger": trigger,
    })
}

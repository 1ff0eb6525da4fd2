//! Endpoints, where an application's messages go: the rules of an upsert and an update (a PUT
//! keeps the headers it does not name; a PATCH keeps every field it does not name), secrets
//! and their rotation, and the operational event each change is stored with. What they
//! accept is `endpoint_input`.
//!
//! The operational webhook endpoints are endpoints of an internal application and go through
//! these same methods (events about them are not emitted, so they cannot feed themselves).

use super::endpoint_input::*;
use super::{SendError, Sending};
use crate::domain::*;
use crate::store::{AttemptStats, EndpointEvents, PageRequest, ReplayWhich};
use chrono::{DateTime, Utc};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

/// The custom headers as Svix answers them.
pub fn headers_out(ep: &Endpoint) -> serde_json::Value {
    json!({ "headers": ep.fields.headers, "sensitive": [] })
}

impl Sending {
    /// Finds an endpoint of an application by id or uid.
    pub async fn endpoint(&self, app: &AppId, key: &str) -> Result<Endpoint, SendError> {
        let key = IdOrUid::parse(key).map_err(|_| SendError::not_found("endpoint"))?;
        self.store
            .get_endpoint(app, &key)
            .await?
            .ok_or_else(|| SendError::not_found("endpoint"))
    }

    /// An application (by id or uid) and one of its endpoints (by id or uid).
    pub async fn app_and_endpoint(
        &self,
        app: &str,
        endpoint: &str,
    ) -> Result<(Application, Endpoint), SendError> {
        let app = self.app(app).await?;
        let ep = self.endpoint(&app.id, endpoint).await?;
        Ok((app, ep))
    }

    pub async fn list_endpoints(
        &self,
        app: &AppId,
        page: &PageRequest,
    ) -> Result<Vec<Endpoint>, SendError> {
        Ok(self.store.list_endpoints(app, page).await?)
    }

    /// Creates an endpoint (with a fresh secret unless one is given), stored with its
    /// `endpoint.created`.
    pub async fn create_endpoint(
        &self,
        app: &Application,
        input: EndpointInput,
    ) -> Result<Endpoint, SendError> {
        let allow_private = self.allows_private_url(&input.url);
        let (fields, secret) = input.parse(allow_private)?;
        let secret = secret.unwrap_or_else(EndpointSecret::generate);
        let events = self.events(app, |ops, app, ep| {
            ops.endpoint_changed("endpoint.created", app, ep)
                .into_iter()
                .collect()
        });
        let ep = self
            .store
            .create_endpoint_with_events(&app.id, fields, secret, events)
            .await?;
        self.wake_for(app);
        Ok(ep)
    }

    /// A full update of the endpoint `key` names, or, as Svix's `upsert` does, a create when
    /// the application has no endpoint with this id or uid: `key` becomes the new endpoint's
    /// uid unless the input names one. `true` when it was created.
    pub async fn put_endpoint(
        &self,
        app: &Application,
        key: &str,
        mut input: EndpointInput,
    ) -> Result<(Endpoint, bool), SendError> {
        match self.endpoint(&app.id, key).await {
            Ok(ep) => {
                // Addressed by its uid and given none: keep it (see `put_app`).
                if input.uid.is_none() && ep.fields.uid.as_ref().is_some_and(|u| u.as_str() == key)
                {
                    input.uid = Some(key.to_owned());
                }
                Ok((self.update_endpoint(app, ep, input).await?, false))
            }
            Err(SendError::NotFound(_)) if is_uid(key) => {
                input.uid.get_or_insert_with(|| key.to_owned());
                Ok((self.create_endpoint(app, input).await?, true))
            }
            Err(e) => Err(e),
        }
    }

    /// Replaces the endpoint's fields; headers not given are kept (they have their own
    /// route in Svix), and so is the secret (it has its own too).
    pub async fn update_endpoint(
        &self,
        app: &Application,
        ep: Endpoint,
        input: EndpointInput,
    ) -> Result<Endpoint, SendError> {
        let had_headers = input.headers.is_some();
        let allow_private = self.allows_private_url(&input.url);
        let (mut fields, _secret) = input.parse(allow_private)?;
        if !had_headers {
            fields.headers = ep.fields.headers.clone();
        }
        self.save_endpoint(app, ep, fields).await
    }

    pub async fn patch_endpoint(
        &self,
        app: &Application,
        ep: Endpoint,
        patch: EndpointPatchInput,
    ) -> Result<Endpoint, SendError> {
        let old = ep.fields.clone();
        let fields = EndpointFields {
            uid: match patch.uid {
                None => old.uid,
                Some(None) => None,
                Some(Some(u)) => Some(parse_uid(&u)?),
            },
            url: match patch.url {
                Some(u) => EndpointUrl::parse(&u, self.allows_private_url(&u))?,
                None => old.url,
            },
            description: patch.description.unwrap_or(old.description),
            event_types: match patch.event_types {
                Some(t) => parse_event_types(t)?,
                None => old.event_types,
            },
            channels: match patch.channels {
                Some(c) => super::parse_channels(c, MAX_CHANNELS)?,
                None => old.channels,
            },
            disabled: patch.disabled.unwrap_or(old.disabled),
            throttle_rate: patch.throttle_rate.unwrap_or(old.throttle_rate),
            metadata: patch.metadata.unwrap_or(old.metadata),
            headers: match patch.headers {
                Some(h) => parse_headers(Some(h))?,
                None => old.headers,
            },
        };
        self.save_endpoint(app, ep, fields).await
    }

    /// Turns an endpoint off or on (the console's switch), as a PATCH of `disabled` does.
    pub async fn set_endpoint_disabled(
        &self,
        app: &Application,
        ep: Endpoint,
        disabled: bool,
    ) -> Result<Endpoint, SendError> {
        let patch = EndpointPatchInput {
            disabled: Some(disabled),
            ..Default::default()
        };
        self.patch_endpoint(app, ep, patch).await
    }

    /// Stores the new fields with `endpoint.updated`, and `endpoint.disabled` (manual) when
    /// the change turned it off.
    async fn save_endpoint(
        &self,
        app: &Application,
        ep: Endpoint,
        fields: EndpointFields,
    ) -> Result<Endpoint, SendError> {
        let was_disabled = ep.fields.disabled;
        let events = self.events(app, move |ops, app, updated| {
            let mut events: Vec<Message> = ops
                .endpoint_changed("endpoint.updated", app, updated)
                .into_iter()
                .collect();
            if updated.fields.disabled && !was_disabled {
                events.extend(ops.endpoint_disabled_manually(app, updated));
            }
            events
        });
        let updated = self
            .store
            .update_endpoint_with_events(&app.id, &ep.id, fields, events)
            .await?;
        self.wake_for(app);
        Ok(updated)
    }

    /// Deletes the endpoint, stored with its `endpoint.deleted`.
    pub async fn delete_endpoint(&self, app: &Application, ep: Endpoint) -> Result<(), SendError> {
        let events = self.events(app, |ops, app, ep| {
            ops.endpoint_changed("endpoint.deleted", app, ep)
                .into_iter()
                .collect()
        });
        self.store
            .delete_endpoint_with_events(&app.id, &ep.id, events)
            .await?;
        self.wake_for(app);
        Ok(())
    }

    /// Replaces the signing secret (with `key`, or a fresh one). The old secret keeps signing
    /// beside the new one for the grace period, so receivers can switch without dropping
    /// deliveries.
    pub async fn rotate_secret(
        &self,
        app: &AppId,
        ep: &Endpoint,
        input: SecretRotateInput,
    ) -> Result<EndpointSecret, SendError> {
        let new = match input.key.as_deref() {
            Some(k) => EndpointSecret::parse(k)?,
            None => EndpointSecret::generate(),
        };
        let grace = input.grace_period_seconds.unwrap_or(ROTATION_GRACE_SECONDS);
        if grace > MAX_ROTATION_GRACE_SECONDS {
            return Err(SendError::Validation(format!(
                "gracePeriodSeconds may be at most {MAX_ROTATION_GRACE_SECONDS} (7 days)"
            )));
        }
        let now = self.clock.now();
        let expires = now + chrono::Duration::seconds(i64::from(grace));
        self.store
            .rotate_secret(app, &ep.id, &new, expires, now)
            .await?;
        tracing::info!(endpoint_id = %ep.id, "endpoint secret rotated");
        Ok(new)
    }

    /// Replaces (`merge: false`) or merges (`merge: true`; a `None` value removes one) the
    /// custom headers.
    pub async fn set_endpoint_headers(
        &self,
        app: &AppId,
        ep: &Endpoint,
        input: HeadersInput,
        merge: bool,
    ) -> Result<(), SendError> {
        let mut headers = if merge {
            ep.fields.headers.clone()
        } else {
            BTreeMap::new()
        };
        let mut set = BTreeMap::new();
        for (name, value) in input.headers {
            match value {
                Some(v) => {
                    set.insert(name, v);
                }
                None => {
                    headers.remove(&name.to_ascii_lowercase());
                }
            }
        }
        headers.extend(parse_headers(Some(set))?);
        for name in input.delete_headers.unwrap_or_default() {
            headers.remove(&name.to_ascii_lowercase());
        }
        self.store
            .set_endpoint_headers(app, &ep.id, &headers)
            .await?;
        Ok(())
    }

    pub async fn endpoint_stats(
        &self,
        app: &AppId,
        ep: &EndpointId,
    ) -> Result<EndpointStats, SendError> {
        Ok(self.store.endpoint_stats(app, ep).await?)
    }

    /// The endpoint's attempts by outcome in `[since, until)`, each rounded out to the hour
    /// as Svix does; by default the 28 days up to now.
    pub async fn attempt_stats(
        &self,
        app: &AppId,
        ep: &EndpointId,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> Result<AttemptStats, SendError> {
        const HOUR_MS: i64 = 60 * 60 * 1000;
        let until = until.unwrap_or_else(|| self.clock.now());
        let since = since.unwrap_or(until - chrono::Duration::days(28));
        if since >= until {
            return Err(SendError::Validation("since: must be before until".into()));
        }
        let floor = |t: DateTime<Utc>| t.timestamp_millis().div_euclid(HOUR_MS) * HOUR_MS;
        let ceil = |t: DateTime<Utc>| floor(t - chrono::Duration::milliseconds(1)) + HOUR_MS;
        let at = |ms: i64| DateTime::from_timestamp_millis(ms).unwrap_or_default();
        Ok(self
            .store
            .attempt_stats(app, ep, at(floor(since)), at(ceil(until)))
            .await?)
    }

    /// Queues again every message that failed for good on this endpoint since `since` (and
    /// before `until`, default now); returns how many.
    pub async fn recover(
        &self,
        app: &AppId,
        ep: &Endpoint,
        since: DateTime<Utc>,
        until: Option<DateTime<Utc>>,
    ) -> Result<u64, SendError> {
        let until = until.unwrap_or_else(|| self.clock.now());
        if since >= until {
            return Err(SendError::Validation("since must be before until".into()));
        }
        let n = self.store.recover_failed(app, &ep.id, since, until).await?;
        if n > 0 {
            self.waker.wake();
        }
        tracing::info!(endpoint_id = %ep.id, deliveries = n, "recover queued failed deliveries again");
        Ok(n)
    }

    /// Queues messages of a time window for the endpoint again (Svix's `replay-missing` and
    /// `bulk-replay`), page by page, and returns how many were queued. `Missing`: the messages
    /// it was never sent and subscribes to now. `Sent(..)`: the messages it was sent (in one
    /// status, if given), narrowed by `event_types` and `channel`. A message being sent right
    /// now, or whose payload is gone, is left out.
    pub async fn replay(
        &self,
        app: &AppId,
        ep: &Endpoint,
        which: ReplayWhich,
        since: DateTime<Utc>,
        until: Option<DateTime<Utc>>,
        filter: &ReplayFilter,
    ) -> Result<u64, SendError> {
        const PAGE: u32 = 500;
        let until = until.unwrap_or_else(|| self.clock.now());
        if since >= until {
            return Err(SendError::Validation("since: must be before until".into()));
        }
        let mut queued = 0;
        let mut after: Option<MessageId> = None;
        loop {
            let page = self
                .store
                .replay_candidates(app, &ep.id, which, (since, until), after.as_ref(), PAGE)
                .await?;
            for msg in &page {
                let wanted = match which {
                    ReplayWhich::Missing => ep
                        .fields
                        .subscribes_to(&msg.event_type, msg.channels.as_ref()),
                    ReplayWhich::Sent(_) => filter.admits(msg),
                };
                if wanted && self.store.requeue(app, &msg.id, &ep.id).await? {
                    queued += 1;
                }
            }
            match page.last() {
                Some(last) if page.len() == PAGE as usize => after = Some(last.id.clone()),
                _ => break,
            }
        }
        if queued > 0 {
            self.waker.wake();
        }
        tracing::info!(endpoint_id = %ep.id, messages = queued, ?which, "replay queued messages again");
        Ok(queued)
    }

    /// The operational events of a change to an endpoint of `app`, made by `make` from the
    /// endpoint as the store leaves it.
    fn events(
        &self,
        app: &Application,
        make: impl FnOnce(
                &crate::delivery::operational::Operational,
                &Application,
                &Endpoint,
            ) -> Vec<Message>
            + Send
            + 'static,
    ) -> EndpointEvents {
        let ops = self.ops.clone();
        let app = app.clone();
        Box::new(move |ep| make(&ops, &app, ep))
    }

    /// After a change to an endpoint of `app`: its operational events may have queued
    /// deliveries (none for the operational application's own endpoints).
    fn wake_for(&self, app: &Application) {
        if app.id != *self.ops.app_id() {
            self.waker.wake();
        }
    }
}

/// What a bulk replay narrows its messages to.
#[derive(Debug, Clone, Default)]
pub struct ReplayFilter {
    pub event_types: Option<BTreeSet<EventTypeName>>,
    pub channel: Option<ChannelName>,
}

impl ReplayFilter {
    fn admits(&self, msg: &Message) -> bool {
        self.event_types
            .as_ref()
            .is_none_or(|types| types.contains(&msg.event_type))
            && self.channel.as_ref().is_none_or(|c| {
                msg.channels
                    .as_ref()
                    .is_some_and(|channels| channels.contains(c))
            })
    }
}

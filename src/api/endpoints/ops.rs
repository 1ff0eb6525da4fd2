//! What the endpoint routes do, for any application: the application's own routes (`mod.rs`)
//! and the operational webhook routes (`api/operational.rs`) call these same functions, which
//! also tell operators about every change.

use super::super::messages::NewMessage;
use super::super::{AppState, ListQuery, ListResponse};
use super::input::*;
use crate::domain::*;
use crate::error::ApiError;
use chrono::{DateTime, Utc};
use serde_json::json;
use std::collections::BTreeMap;

pub async fn create(
    state: &AppState,
    app: &Application,
    body: EndpointIn,
) -> Result<Endpoint, ApiError> {
    let allow_private = state.allows_private_url(&body.url);
    let (fields, secret) = body.parse(allow_private)?;
    let secret = secret.unwrap_or_else(EndpointSecret::generate);
    let ep = state.store.create_endpoint(&app.id, fields, secret).await?;
    state
        .ops
        .endpoint_changed("endpoint.created", app, &ep)
        .await;
    Ok(ep)
}

pub async fn list(
    state: &AppState,
    app: &AppId,
    q: &ListQuery,
) -> Result<ListResponse<EndpointOut>, ApiError> {
    let page = q.page(true)?;
    let rows = state.store.list_endpoints(app, &page).await?;
    Ok(ListResponse::from_rows(
        rows,
        &page,
        |e| e.id.to_string(),
        EndpointOut::from,
    ))
}

pub async fn update(
    state: &AppState,
    app: &Application,
    ep: Endpoint,
    body: EndpointIn,
) -> Result<Endpoint, ApiError> {
    let had_headers = body.headers.is_some();
    let allow_private = state.allows_private_url(&body.url);
    let (mut fields, _secret) = body.parse(allow_private)?;
    if !had_headers {
        // Headers have their own route in Svix; a PUT without them keeps them.
        fields.headers = ep.fields.headers.clone();
    }
    save(state, app, ep, fields).await
}

pub async fn patch(
    state: &AppState,
    app: &Application,
    ep: Endpoint,
    body: EndpointPatch,
) -> Result<Endpoint, ApiError> {
    let old = ep.fields.clone();
    let fields = EndpointFields {
        uid: match body.uid {
            None => old.uid,
            Some(None) => None,
            Some(Some(u)) => Some(parse_uid(&u)?),
        },
        url: match body.url {
            Some(u) => EndpointUrl::parse(&u, state.allows_private_url(&u))?,
            None => old.url,
        },
        description: body.description.unwrap_or(old.description),
        event_types: match body.event_types {
            Some(t) => parse_event_types(t)?,
            None => old.event_types,
        },
        channels: match body.channels {
            Some(c) => parse_channels(c, MAX_CHANNELS)?,
            None => old.channels,
        },
        disabled: body.disabled.unwrap_or(old.disabled),
        throttle_rate: body.throttle_rate.unwrap_or(old.throttle_rate),
        metadata: body.metadata.unwrap_or(old.metadata),
        headers: old.headers,
    };
    save(state, app, ep, fields).await
}

async fn save(
    state: &AppState,
    app: &Application,
    ep: Endpoint,
    fields: EndpointFields,
) -> Result<Endpoint, ApiError> {
    let was_disabled = ep.fields.disabled;
    let updated = state.store.update_endpoint(&app.id, &ep.id, fields).await?;
    state
        .ops
        .endpoint_changed("endpoint.updated", app, &updated)
        .await;
    if updated.fields.disabled && !was_disabled {
        state
            .ops
            .endpoint_disabled(&app.id, &updated, None, "manual")
            .await;
    }
    Ok(updated)
}

pub async fn delete(state: &AppState, app: &Application, ep: Endpoint) -> Result<(), ApiError> {
    state.store.delete_endpoint(&app.id, &ep.id).await?;
    state
        .ops
        .endpoint_changed("endpoint.deleted", app, &ep)
        .await;
    Ok(())
}

/// Replaces the signing secret (with `key`, or a fresh one). The old secret keeps signing
/// beside the new one for the grace period, so receivers can switch without dropping
/// deliveries.
pub async fn rotate_secret(
    state: &AppState,
    app: &AppId,
    ep: &Endpoint,
    body: SecretRotateIn,
) -> Result<EndpointSecret, ApiError> {
    let new = match body.key.as_deref() {
        Some(k) => EndpointSecret::parse(k)?,
        None => EndpointSecret::generate(),
    };
    let grace = body.grace_period_seconds.unwrap_or(ROTATION_GRACE_SECONDS);
    if grace > MAX_ROTATION_GRACE_SECONDS {
        return Err(ApiError::Validation(format!(
            "gracePeriodSeconds may be at most {MAX_ROTATION_GRACE_SECONDS} (7 days)"
        )));
    }
    let now = state.clock.now();
    let expires = now + chrono::Duration::seconds(i64::from(grace));
    state
        .store
        .rotate_secret(app, &ep.id, &new, expires, now)
        .await?;
    tracing::info!(endpoint_id = %ep.id, "endpoint secret rotated");
    Ok(new)
}

pub fn headers_out(ep: &Endpoint) -> serde_json::Value {
    json!({ "headers": ep.fields.headers, "sensitive": [] })
}

/// PUT replaces the custom headers; PATCH merges them (a `null` value removes one).
pub async fn set_headers(
    state: &AppState,
    app: &AppId,
    ep: &Endpoint,
    body: HeadersIn,
    merge: bool,
) -> Result<(), ApiError> {
    let mut headers = if merge {
        ep.fields.headers.clone()
    } else {
        BTreeMap::new()
    };
    let mut set = BTreeMap::new();
    for (name, value) in body.headers {
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
    for name in body.delete_headers.unwrap_or_default() {
        headers.remove(&name.to_ascii_lowercase());
    }
    state
        .store
        .set_endpoint_headers(app, &ep.id, &headers)
        .await?;
    Ok(())
}

/// Queues again every message that failed for good on this endpoint since `since` (and before
/// `until`, default now); returns how many.
pub async fn recover(
    state: &AppState,
    app: &AppId,
    ep: &Endpoint,
    since: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
) -> Result<u64, ApiError> {
    let until = until.unwrap_or_else(Utc::now);
    if since >= until {
        return Err(ApiError::Validation("since must be before until".into()));
    }
    let n = state
        .store
        .recover_failed(app, &ep.id, since, until)
        .await?;
    if n > 0 {
        state.waker.wake();
    }
    tracing::info!(endpoint_id = %ep.id, deliveries = n, "recover queued failed deliveries again");
    Ok(n)
}

/// The message "send test event" publishes: example `index` of the event type's schemas.
pub async fn example_message(
    state: &AppState,
    event_type: &str,
    index: usize,
) -> Result<NewMessage, ApiError> {
    let name = EventTypeName::parse(event_type)?;
    let et = state
        .store
        .get_event_type(&name)
        .await?
        .ok_or_else(|| ApiError::not_found("event type"))?;
    let example = et.example(index).ok_or_else(|| {
        ApiError::Validation(format!(
            "event type `{name}` has no example #{index} in its schemas"
        ))
    })?;
    Ok(NewMessage {
        event_type: name,
        event_id: None,
        payload: example.to_string(),
        channels: None,
        tags: None,
        retention_days: None,
        deliver_at: None,
    })
}

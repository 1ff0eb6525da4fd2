//! `/api/v1/app/{app}/endpoint`: where an application's messages go.

use super::applications;
use super::extract::double_option;
use super::idempotency::IdempotencyKey;
use super::messages::{publish, NewMessage};
use super::{ApiJson, ApiQuery, AppState, ListQuery, ListResponse};
use crate::domain::*;
use crate::error::ApiError;
use crate::store::FanOut;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/app/{app_id}/endpoint", get(list).post(create))
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}",
            get(fetch).put(update).patch(patch).delete(delete),
        )
        .route("/app/{app_id}/endpoint/{endpoint_id}/secret", get(secret))
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/secret/rotate",
            post(rotate_secret),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/headers",
            get(get_headers).put(put_headers).patch(patch_headers),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/send-example",
            post(send_example),
        )
        .route("/app/{app_id}/endpoint/{endpoint_id}/stats", get(stats))
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/recover",
            post(recover),
        )
}

#[derive(Debug, Deserialize)]
struct RecoverIn {
    since: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
}

/// Queues again every message that failed for good on this endpoint since a time (and before
/// `until`, default now). Svix runs this as a background task; here it is one statement, so
/// the task it reports is already finished.
async fn recover(
    State(state): State<AppState>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<RecoverIn>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let app = applications::resolve(&state, &app_id).await?;
    let ep = resolve(&state, &app.id, &endpoint_id).await?;
    let now = Utc::now();
    let until = body.until.unwrap_or(now);
    if body.since >= until {
        return Err(ApiError::Validation("since must be before until".into()));
    }
    let n = state
        .store
        .recover_failed(&app.id, &ep.id, body.since, until)
        .await?;
    if n > 0 {
        state.waker.wake();
    }
    tracing::info!(endpoint_id = %ep.id, deliveries = n, "recover queued failed deliveries again");
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "id": format!("qtask_{}", MessageId::generate().as_str().trim_start_matches(MessageId::PREFIX)),
            "status": "finished",
            "task": "endpoint.recover",
            "updatedAt": now,
            "recovered": n,
        })),
    ))
}

/// How many channels one endpoint may subscribe to (Svix's limit).
const MAX_CHANNELS: usize = 10;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EndpointIn {
    url: String,
    description: Option<String>,
    #[serde(alias = "rateLimit")]
    throttle_rate: Option<u16>,
    uid: Option<String>,
    disabled: Option<bool>,
    #[serde(alias = "filterTypes")]
    event_types: Option<BTreeSet<String>>,
    channels: Option<BTreeSet<String>>,
    secret: Option<String>,
    metadata: Option<Metadata>,
    headers: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EndpointPatch {
    url: Option<String>,
    description: Option<String>,
    #[serde(default, alias = "rateLimit", deserialize_with = "double_option")]
    throttle_rate: Option<Option<u16>>,
    #[serde(default, deserialize_with = "double_option")]
    uid: Option<Option<String>>,
    disabled: Option<bool>,
    #[serde(default, alias = "filterTypes", deserialize_with = "double_option")]
    event_types: Option<Option<BTreeSet<String>>>,
    #[serde(default, deserialize_with = "double_option")]
    channels: Option<Option<BTreeSet<String>>>,
    metadata: Option<Metadata>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointOut {
    id: EndpointId,
    uid: Option<Uid>,
    url: String,
    description: String,
    event_types: Option<BTreeSet<EventTypeName>>,
    channels: Option<BTreeSet<ChannelName>>,
    disabled: bool,
    throttle_rate: Option<u16>,
    metadata: Metadata,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Endpoint> for EndpointOut {
    fn from(e: Endpoint) -> Self {
        let f = e.fields;
        Self {
            id: e.id,
            uid: f.uid,
            url: f.url.as_str().to_owned(),
            description: f.description,
            event_types: f.event_types,
            channels: f.channels,
            disabled: f.disabled,
            throttle_rate: f.throttle_rate,
            metadata: f.metadata,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

fn parse_uid(uid: &str) -> Result<Uid, ApiError> {
    Ok(Uid::parse_for(EndpointId::PREFIX, uid)?)
}

/// An empty list means "no filter", as in Svix.
fn parse_event_types(
    set: Option<BTreeSet<String>>,
) -> Result<Option<BTreeSet<EventTypeName>>, ApiError> {
    match set {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) => Ok(Some(
            s.iter()
                .map(|t| EventTypeName::parse(t))
                .collect::<Result<_, _>>()?,
        )),
    }
}

pub(super) fn parse_channels(
    set: Option<BTreeSet<String>>,
    max: usize,
) -> Result<Option<BTreeSet<ChannelName>>, ApiError> {
    match set {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) if s.len() > max => Err(ApiError::Validation(format!(
            "at most {max} channels are allowed"
        ))),
        Some(s) => Ok(Some(
            s.iter()
                .map(|c| ChannelName::parse(c))
                .collect::<Result<_, _>>()?,
        )),
    }
}

/// Custom headers sent with every delivery. Names that would break signing or the HTTP
/// exchange itself (hop-by-hop headers) are refused.
fn parse_headers(
    headers: Option<BTreeMap<String, String>>,
) -> Result<BTreeMap<String, String>, ApiError> {
    const RESERVED: &[&str] = &[
        "connection",
        "content-length",
        "content-type",
        "host",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
    ];
    let mut out = BTreeMap::new();
    for (name, value) in headers.unwrap_or_default() {
        let lower = name.to_ascii_lowercase();
        if axum::http::HeaderName::try_from(lower.as_str()).is_err() {
            return Err(ApiError::Validation(format!(
                "`{name}` is not a valid header name"
            )));
        }
        if RESERVED.contains(&lower.as_str())
            || lower.starts_with("webhook-")
            || lower.starts_with("svix-")
        {
            return Err(ApiError::Validation(format!(
                "header `{name}` is set by Kanca itself and cannot be overridden"
            )));
        }
        if axum::http::HeaderValue::try_from(value.as_str()).is_err() {
            return Err(ApiError::Validation(format!(
                "the value of header `{name}` is not valid"
            )));
        }
        out.insert(lower, value);
    }
    Ok(out)
}

impl EndpointIn {
    fn parse(
        self,
        allow_private: bool,
    ) -> Result<(EndpointFields, Option<EndpointSecret>), ApiError> {
        let fields = EndpointFields {
            uid: self.uid.as_deref().map(parse_uid).transpose()?,
            url: EndpointUrl::parse(&self.url, allow_private)?,
            description: self.description.unwrap_or_default(),
            event_types: parse_event_types(self.event_types)?,
            channels: parse_channels(self.channels, MAX_CHANNELS)?,
            disabled: self.disabled.unwrap_or(false),
            throttle_rate: self.throttle_rate,
            metadata: self.metadata.unwrap_or_default(),
            headers: parse_headers(self.headers)?,
        };
        let secret = self
            .secret
            .as_deref()
            .map(EndpointSecret::parse)
            .transpose()?;
        Ok((fields, secret))
    }
}

/// Finds an endpoint of an application by id or uid, or answers 404.
pub(super) async fn resolve(
    state: &AppState,
    app: &AppId,
    key: &str,
) -> Result<Endpoint, ApiError> {
    let key = IdOrUid::parse(key).map_err(|_| ApiError::not_found("endpoint"))?;
    state
        .store
        .get_endpoint(app, &key)
        .await?
        .ok_or_else(|| ApiError::not_found("endpoint"))
}

/// The endpoint routes, for any application: the application's own routes below and the
/// operational webhook routes call the same functions.
pub(super) mod ops {
    use super::*;

    pub async fn create(
        state: &AppState,
        app: &Application,
        body: EndpointIn,
    ) -> Result<Endpoint, ApiError> {
        let (fields, secret) = body.parse(state.config.allow_private_targets)?;
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
        let (mut fields, _secret) = body.parse(state.config.allow_private_targets)?;
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
                Some(u) => EndpointUrl::parse(&u, state.config.allow_private_targets)?,
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
    ) -> Result<(), ApiError> {
        let new = match body.key.as_deref() {
            Some(k) => EndpointSecret::parse(k)?,
            None => EndpointSecret::generate(),
        };
        let grace = body.grace_period_seconds.unwrap_or(ROTATION_GRACE_SECONDS);
        if grace > ROTATION_GRACE_SECONDS {
            return Err(ApiError::Validation(format!(
                "gracePeriodSeconds may be at most {ROTATION_GRACE_SECONDS} (24 hours)"
            )));
        }
        let now = state.clock.now();
        let expires = now + chrono::Duration::seconds(i64::from(grace));
        state
            .store
            .rotate_secret(app, &ep.id, &new, expires, now)
            .await?;
        tracing::info!(endpoint_id = %ep.id, "endpoint secret rotated");
        Ok(())
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
}

/// The rotate body is optional: `curl -X POST …/secret/rotate` with nothing rotates to a
/// fresh secret.
pub(super) fn parse_rotate_body(bytes: &[u8]) -> Result<SecretRotateIn, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(SecretRotateIn {
            key: None,
            grace_period_seconds: None,
        });
    }
    super::extract::parse_json(bytes)
}

/// Svix's default and longest grace period for a rotated secret: 24 hours.
const ROTATION_GRACE_SECONDS: u32 = 24 * 60 * 60;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SecretRotateIn {
    key: Option<String>,
    grace_period_seconds: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct HeadersIn {
    headers: BTreeMap<String, Option<String>>,
    delete_headers: Option<Vec<String>>,
}

async fn create(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    ApiJson(body): ApiJson<EndpointIn>,
) -> Result<(StatusCode, Json<EndpointOut>), ApiError> {
    let app = applications::resolve(&state, &app_id).await?;
    let ep = ops::create(&state, &app, body).await?;
    Ok((StatusCode::CREATED, Json(ep.into())))
}

async fn list(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<ListResponse<EndpointOut>>, ApiError> {
    let app = applications::resolve(&state, &app_id).await?;
    Ok(Json(ops::list(&state, &app.id, &q).await?))
}

/// Resolves the application and the endpoint named in the path.
async fn app_and_endpoint(
    state: &AppState,
    app_id: &str,
    endpoint_id: &str,
) -> Result<(Application, Endpoint), ApiError> {
    let app = applications::resolve(state, app_id).await?;
    let ep = resolve(state, &app.id, endpoint_id).await?;
    Ok((app, ep))
}

async fn fetch(
    State(state): State<AppState>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
) -> Result<Json<EndpointOut>, ApiError> {
    let (_, ep) = app_and_endpoint(&state, &app_id, &endpoint_id).await?;
    Ok(Json(ep.into()))
}

async fn update(
    State(state): State<AppState>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<EndpointIn>,
) -> Result<Json<EndpointOut>, ApiError> {
    let (app, ep) = app_and_endpoint(&state, &app_id, &endpoint_id).await?;
    Ok(Json(ops::update(&state, &app, ep, body).await?.into()))
}

async fn patch(
    State(state): State<AppState>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<EndpointPatch>,
) -> Result<Json<EndpointOut>, ApiError> {
    let (app, ep) = app_and_endpoint(&state, &app_id, &endpoint_id).await?;
    Ok(Json(ops::patch(&state, &app, ep, body).await?.into()))
}

async fn delete(
    State(state): State<AppState>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (app, ep) = app_and_endpoint(&state, &app_id, &endpoint_id).await?;
    ops::delete(&state, &app, ep).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn secret(
    State(state): State<AppState>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (_, ep) = app_and_endpoint(&state, &app_id, &endpoint_id).await?;
    Ok(Json(json!({ "key": ep.secret.expose() })))
}

async fn rotate_secret(
    State(state): State<AppState>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let (app, ep) = app_and_endpoint(&state, &app_id, &endpoint_id).await?;
    let body = parse_rotate_body(&body)?;
    ops::rotate_secret(&state, &app.id, &ep, body).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_headers(
    State(state): State<AppState>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (_, ep) = app_and_endpoint(&state, &app_id, &endpoint_id).await?;
    Ok(Json(ops::headers_out(&ep)))
}

async fn put_headers(
    State(state): State<AppState>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<HeadersIn>,
) -> Result<StatusCode, ApiError> {
    let (app, ep) = app_and_endpoint(&state, &app_id, &endpoint_id).await?;
    ops::set_headers(&state, &app.id, &ep, body, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn patch_headers(
    State(state): State<AppState>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<HeadersIn>,
) -> Result<StatusCode, ApiError> {
    let (app, ep) = app_and_endpoint(&state, &app_id, &endpoint_id).await?;
    ops::set_headers(&state, &app.id, &ep, body, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventExampleIn {
    event_type: String,
    example_index: Option<usize>,
}

/// "Send test event": delivers an example payload of the chosen event type to this endpoint
/// only, through the same engine as every other message.
async fn send_example(
    State(state): State<AppState>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    idempotency: Option<Extension<IdempotencyKey>>,
    ApiJson(body): ApiJson<EventExampleIn>,
) -> Result<Response, ApiError> {
    let app = applications::resolve(&state, &app_id).await?;
    let ep = resolve(&state, &app.id, &endpoint_id).await?;
    let name = EventTypeName::parse(&body.event_type)?;
    let et = state
        .store
        .get_event_type(&name)
        .await?
        .ok_or_else(|| ApiError::not_found("event type"))?;
    let index = body.example_index.unwrap_or(0);
    let example = et.example(index).ok_or_else(|| {
        ApiError::Validation(format!(
            "event type `{name}` has no example #{index} in its schemas"
        ))
    })?;
    let msg = NewMessage {
        event_type: name,
        event_id: None,
        payload: example.to_string(),
        channels: None,
        tags: None,
        retention_days: None,
    };
    publish(
        &state,
        &app.id,
        msg,
        FanOut::Only(ep.id),
        idempotency.map(|e| e.0),
        true,
    )
    .await
}

async fn stats(
    State(state): State<AppState>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let app = applications::resolve(&state, &app_id).await?;
    let ep = resolve(&state, &app.id, &endpoint_id).await?;
    let s = state.store.endpoint_stats(&app.id, &ep.id).await?;
    Ok(Json(json!({
        "success": s.success,
        "pending": s.pending,
        "sending": s.sending,
        "fail": s.fail,
        "canceled": s.canceled,
    })))
}

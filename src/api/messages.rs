//! `/api/v1/app/{app}/msg`: publishing messages and reading them back.
//!
//! Publishing is the hot path: the message and its deliveries are committed in one
//! transaction before the 202 (so an acknowledged message is never lost), then the dispatcher
//! is woken so the first attempt starts at once ([`crate::send`]). What is left here is Svix's
//! wire format: the body, the answer, and the idempotency key's stored response.

use super::applications;
use super::idempotency::{stored_response, AlreadyStored, IdempotencyKey};
use super::{ApiQuery, ListQuery, ListResponse, Services, VerbatimJson};
use crate::domain::*;
use crate::error::ApiError;
use crate::send::{Expunged, MessageInput, NewMessage, Published, SendError};
use crate::store::{FanOut, IdempotentWrite, MessageFilter, StoredResponse};
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::BTreeSet;

pub fn router() -> Router<Services> {
    Router::new()
        .route("/app/{app_id}/msg", get(list).post(create))
        .route("/app/{app_id}/msg/{msg_id}", get(fetch))
        .route(
            "/app/{app_id}/msg/{msg_id}/content",
            delete(expunge_content),
        )
        .route("/app/{app_id}/msg/bulk-expunge", post(bulk_expunge_content))
        .route("/app/{app_id}/msg/precheck/active", post(precheck))
        .route(
            "/app/{app_id}/msg/expunge-all-contents",
            post(expunge_all_contents),
        )
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MessageIn {
    event_type: String,
    event_id: Option<String>,
    /// Kept as the exact text received: that is what is signed and delivered.
    #[schema(value_type = Object)]
    payload: Box<RawValue>,
    channels: Option<BTreeSet<String>>,
    tags: Option<BTreeSet<String>>,
    payload_retention_period: Option<i64>,
    payload_retention_hours: Option<i64>,
    /// Svix lets a message create its application on the fly.
    #[schema(value_type = Option<Object>)]
    application: Option<serde_json::Value>,
    /// Scheduled delivery: no attempt before this time.
    deliver_at: Option<DateTime<Utc>>,
}

impl MessageIn {
    fn input(self) -> MessageInput {
        MessageInput {
            event_type: self.event_type,
            event_id: self.event_id,
            payload: self.payload.get().to_owned(),
            channels: self.channels,
            tags: self.tags,
            payload_retention_period: self.payload_retention_period,
            payload_retention_hours: self.payload_retention_hours,
            deliver_at: self.deliver_at,
        }
    }
}

/// Svix's `MessageOut`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageOut<'a> {
    id: &'a MessageId,
    event_type: &'a EventTypeName,
    event_id: Option<&'a str>,
    payload: &'a RawValue,
    channels: Option<&'a BTreeSet<ChannelName>>,
    tags: Option<&'a BTreeSet<String>>,
    timestamp: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deliver_at: Option<DateTime<Utc>>,
}

/// [`MessageOut`] as the OpenAPI document describes it (that type borrows and holds raw JSON,
/// which the schema derive cannot read).
#[derive(utoipa::ToSchema)]
#[schema(as = MessageOut, rename_all = "camelCase")]
#[allow(dead_code)]
pub(crate) struct MessageDoc {
    id: String,
    event_type: String,
    event_id: Option<String>,
    /// `{}` when asked `with_content=false` or after the retention period.
    #[schema(value_type = Object)]
    payload: serde_json::Value,
    channels: Option<Vec<String>>,
    tags: Option<Vec<String>>,
    timestamp: DateTime<Utc>,
    deliver_at: Option<DateTime<Utc>>,
}

/// Stands in for a payload that is not shown (`with_content=false`) or has expired.
fn empty_payload() -> &'static RawValue {
    serde_json::from_str("{}").expect("static JSON")
}

impl<'a> MessageOut<'a> {
    pub fn new(m: &'a Message, payload: &'a RawValue) -> Self {
        Self {
            id: &m.id,
            event_type: &m.event_type,
            event_id: m.event_id.as_deref(),
            payload,
            channels: m.channels.as_ref(),
            tags: m.tags.as_ref(),
            timestamp: m.created_at,
            deliver_at: m.deliver_at,
        }
    }
}

/// Renders a message; `with_content=false` leaves the payload out, as in Svix. Serialized
/// once, straight to JSON text: the payload's bytes appear exactly as they were published.
pub fn render_message(m: &Message, with_content: bool) -> Box<RawValue> {
    let raw = m
        .payload
        .as_deref()
        .filter(|_| with_content)
        .and_then(|p| RawValue::from_string(p.to_owned()).ok());
    let payload: &RawValue = match raw.as_deref() {
        Some(p) => p,
        None => empty_payload(),
    };
    serde_json::value::to_raw_value(&MessageOut::new(m, payload)).expect("plain data serialises")
}

/// Stores a message with its deliveries and wakes the dispatcher; answers 202 with the
/// message. Shared by `POST …/msg` and "send test event".
pub(super) async fn publish(
    state: &Services,
    app: &AppId,
    new: NewMessage,
    fan_out: FanOut,
    idempotency: Option<IdempotencyKey>,
    with_content: bool,
) -> Result<Response, ApiError> {
    let msg = state.send.compose(app, new);
    let body = render_message(&msg, with_content).get().as_bytes().to_vec();
    let write = idempotency.map(|k| IdempotentWrite {
        key: k.key,
        scope: k.scope,
        response: StoredResponse {
            status: StatusCode::ACCEPTED.as_u16(),
            body: body.clone(),
        },
    });
    let stored_here = write.is_some();
    let mut response = match state.send.publish(&msg, fan_out, write).await? {
        Published::Created => {
            let mut r = (StatusCode::ACCEPTED, body).into_response();
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r
        }
        Published::Replayed(first) => stored_response(first),
    };
    if stored_here {
        response.extensions_mut().insert(AlreadyStored);
    }
    Ok(response)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ContentQuery {
    with_content: Option<bool>,
}

#[utoipa::path(
    post,
    path = "/api/v1/app/{app_id}/msg",
    tag = "message",
    params(("app_id" = String, Path, description = "Application id or uid"), ContentQuery),
    request_body = MessageIn,
    responses(
        (status = 202, description = "Stored and queued", body = MessageDoc),
        crate::api::openapi::NotJson,
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound,
        crate::api::openapi::Conflict,
        crate::api::openapi::TooLarge,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn create(
    State(state): State<Services>,
    Path(app_id): Path<String>,
    ApiQuery(q): ApiQuery<ContentQuery>,
    idempotency: Option<Extension<IdempotencyKey>>,
    VerbatimJson(body): VerbatimJson<MessageIn>,
) -> Result<Response, ApiError> {
    let application = body.application.clone();
    let new = state.send.check_message(body.input())?;
    let app = match state.send.app(&app_id).await {
        Ok(app) => app,
        Err(SendError::NotFound(_)) if application.is_some() => {
            let input = applications::input_for_message(application.unwrap_or_default())?;
            state.send.create_app_for_message(&app_id, input).await?
        }
        Err(e) => return Err(e.into()),
    };
    publish(
        &state,
        &app.id,
        new,
        FanOut::Subscribed,
        idempotency.map(|e| e.0),
        q.with_content.unwrap_or(true),
    )
    .await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct MessageListQuery {
    channel: Option<String>,
    before: Option<DateTime<Utc>>,
    after: Option<DateTime<Utc>>,
    pub(crate) with_content: Option<bool>,
    /// Comma-separated, as the Svix SDKs send it.
    event_types: Option<String>,
}

impl MessageListQuery {
    pub(crate) fn filter(&self) -> Result<MessageFilter, ApiError> {
        Ok(MessageFilter {
            event_types: self
                .event_types
                .as_deref()
                .map(|s| {
                    s.split(',')
                        .filter(|t| !t.is_empty())
                        .map(EventTypeName::parse)
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()?,
            channel: self
                .channel
                .as_deref()
                .map(ChannelName::parse)
                .transpose()?,
            before: self.before,
            after: self.after,
            status: None,
        })
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/msg",
    tag = "message",
    params(("app_id" = String, Path, description = "Application id or uid"), ListQuery, MessageListQuery),
    responses(
        (status = 200, body = ListResponse<MessageDoc>),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn list(
    State(state): State<Services>,
    Path(app_id): Path<String>,
    ApiQuery(list): ApiQuery<ListQuery>,
    ApiQuery(q): ApiQuery<MessageListQuery>,
) -> Result<Json<ListResponse<Box<RawValue>>>, ApiError> {
    let app = state.send.app(&app_id).await?;
    let page = list.page(false)?;
    let filter = q.filter()?;
    let rows = state.send.list_messages(&app.id, &page, &filter).await?;
    let with_content = q.with_content.unwrap_or(true);
    Ok(Json(ListResponse::from_rows(
        rows,
        &page,
        |m| m.id.to_string(),
        |m| render_message(&m, with_content),
    )))
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/msg/{msg_id}",
    tag = "message",
    params(("app_id" = String, Path, description = "Application id or uid"), ("msg_id" = String, Path, description = "Message id or eventId"), ContentQuery),
    responses(
        (status = 200, body = MessageDoc),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn fetch(
    State(state): State<Services>,
    Path((app_id, msg_id)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<ContentQuery>,
) -> Result<Json<Box<RawValue>>, ApiError> {
    let app = state.send.app(&app_id).await?;
    let msg = state.send.message(&app.id, &msg_id).await?;
    Ok(Json(render_message(&msg, q.with_content.unwrap_or(true))))
}

/// Drops the message's payload; it stays listed with its attempts and cannot be resent.
#[utoipa::path(
    delete,
    path = "/api/v1/app/{app_id}/msg/{msg_id}/content",
    tag = "message",
    params(("app_id" = String, Path, description = "Application id or uid"), ("msg_id" = String, Path, description = "Message id or eventId")),
    responses(
        (status = 204, description = "The payload is gone"),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound
    ),
)]
pub(crate) async fn expunge_content(
    State(state): State<Services>,
    Path((app_id, msg_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let app = state.send.app(&app_id).await?;
    state.send.expunge_content(&app.id, &msg_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Svix's `BulkExpungeContentsIn`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct BulkExpungeIn {
    /// Message ids or eventIds.
    ids: Option<Vec<String>>,
}

/// Svix's `BulkExpungeContentsOut`: each named message's result, by the key it was named by.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct BulkExpungeOut {
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    results: std::collections::BTreeMap<String, Expunged>,
}

#[utoipa::path(
    post,
    path = "/api/v1/app/{app_id}/msg/bulk-expunge",
    tag = "message",
    params(("app_id" = String, Path, description = "Application id or uid")),
    request_body = BulkExpungeIn,
    responses(
        (status = 200, body = BulkExpungeOut),
        crate::api::openapi::NotJson,
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound,
        crate::api::openapi::TooLarge,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn bulk_expunge_content(
    State(state): State<Services>,
    Path(app_id): Path<String>,
    super::ApiJson(body): super::ApiJson<BulkExpungeIn>,
) -> Result<Json<BulkExpungeOut>, ApiError> {
    let app = state.send.app(&app_id).await?;
    let ids = body.ids.unwrap_or_default();
    let results = state.send.bulk_expunge_content(&app.id, &ids).await?;
    Ok(Json(BulkExpungeOut { results }))
}

/// Svix's `MessagePrecheckIn`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PrecheckIn {
    event_type: String,
    channels: Option<BTreeSet<String>>,
}

/// Svix's `MessagePrecheckOut`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct PrecheckOut {
    active: bool,
}

/// Whether a message of this event type (and channels) would reach any enabled endpoint.
#[utoipa::path(
    post,
    path = "/api/v1/app/{app_id}/msg/precheck/active",
    tag = "message",
    params(("app_id" = String, Path, description = "Application id or uid")),
    request_body = PrecheckIn,
    responses(
        (status = 200, body = PrecheckOut),
        crate::api::openapi::NotJson,
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound,
        crate::api::openapi::TooLarge,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn precheck(
    State(state): State<Services>,
    Path(app_id): Path<String>,
    super::ApiJson(body): super::ApiJson<PrecheckIn>,
) -> Result<Json<PrecheckOut>, ApiError> {
    let app = state.send.app(&app_id).await?;
    let active = state
        .send
        .precheck(&app.id, &body.event_type, body.channels)
        .await?;
    Ok(Json(PrecheckOut { active }))
}

/// Drops the payload of every message of the application. Done before the answer; reported as
/// a finished `application.purge_content` task with `data.messagesPurged`.
#[utoipa::path(
    post,
    path = "/api/v1/app/{app_id}/msg/expunge-all-contents",
    tag = "message",
    params(("app_id" = String, Path, description = "Application id or uid")),
    responses(
        (status = 202, description = "Done (the task is finished)", body = super::background_tasks::TaskOut),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound
    ),
)]
pub(crate) async fn expunge_all_contents(
    State(state): State<Services>,
    Path(app_id): Path<String>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let app = state.send.app(&app_id).await?;
    let n = state.send.expunge_all_contents(&app.id).await?;
    super::background_tasks::finished(
        &state,
        &app.id,
        "application.purge_content",
        serde_json::json!({ "messagesPurged": n }),
    )
    .await
}

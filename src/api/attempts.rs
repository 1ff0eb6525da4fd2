//! Attempts: every request made while delivering, by message or by endpoint, and where each
//! message stands for each endpoint.

use super::{endpoints, messages};
use super::{ApiQuery, ListQuery, ListResponse, Services};
use crate::domain::*;
use crate::error::ApiError;
use crate::store::{AttemptFilter, EndpointMessageFilter};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

pub fn router() -> Router<Services> {
    Router::new()
        .route("/app/{app_id}/attempt/msg/{msg_id}", get(by_message))
        .route(
            "/app/{app_id}/attempt/endpoint/{endpoint_id}",
            get(by_endpoint),
        )
        .route(
            "/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}",
            get(fetch),
        )
        .route(
            "/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}/content",
            delete(expunge_content),
        )
        .route("/app/{app_id}/msg/{msg_id}/endpoint", get(destinations))
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/msg",
            get(endpoint_messages),
        )
        .route(
            "/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend",
            post(resend),
        )
}

/// Sends a message to an endpoint again, now, with a fresh retry schedule. The answer is
/// Svix's `EmptyResponse` (`{}`): today's SDKs parse a JSON body here, older ones ignore it.
#[utoipa::path(
    post,
    path = "/api/v1/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend",
    tag = "message-attempt",
    params(("app_id" = String, Path, description = "Application id or uid"), ("msg_id" = String, Path, description = "Message id or eventId"), ("endpoint_id" = String, Path, description = "Endpoint id or uid")),
    responses(
        (status = 202, description = "Queued again", body = crate::api::openapi::EmptyOut),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn resend(
    State(state): State<Services>,
    Path((app_id, msg_id, endpoint_id)): Path<(String, String, String)>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let app = state.send.app(&app_id).await?;
    let msg = state.send.message(&app.id, &msg_id).await?;
    let ep = state.send.endpoint(&app.id, &endpoint_id).await?;
    state.send.resend(&app.id, &msg, &ep.id).await?;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({}))))
}

/// Svix's `MessageAttemptOut`, plus `failureReason`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptOut {
    #[schema(value_type = String)]
    id: AttemptId,
    #[schema(value_type = String)]
    msg_id: MessageId,
    #[schema(value_type = String)]
    endpoint_id: EndpointId,
    url: String,
    response: String,
    response_status_code: i16,
    response_duration_ms: i64,
    status: u8,
    status_text: &'static str,
    trigger_type: u8,
    /// Why the attempt failed when the endpoint's answer does not say: dns, connect, timeout,
    /// tls, or the SSRF guard. Kanca's addition to Svix's shape.
    failure_reason: Option<String>,
    timestamp: DateTime<Utc>,
}

impl From<Attempt> for AttemptOut {
    fn from(a: Attempt) -> Self {
        Self {
            id: a.id,
            msg_id: a.msg_id,
            endpoint_id: a.endpoint_id,
            url: a.url,
            response: a.response,
            response_status_code: a.response_status_code,
            response_duration_ms: a.response_duration_ms,
            status: a.status as u8,
            status_text: a.status.text(),
            trigger_type: a.trigger_type as u8,
            failure_reason: a.failure_reason,
            timestamp: a.created_at,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AttemptQuery {
    status: Option<i64>,
    endpoint_id: Option<String>,
}

fn status_filter(status: Option<i64>) -> Result<Option<DeliveryStatus>, ApiError> {
    match status {
        None => Ok(None),
        Some(s @ 0..=4) => Ok(Some(DeliveryStatus::from_i64(s))),
        Some(_) => Err(ApiError::Validation("status must be 0 to 4".into())),
    }
}

async fn list(
    state: &Services,
    app: &AppId,
    filter: AttemptFilter,
    q: &ListQuery,
) -> Result<Json<ListResponse<AttemptOut>>, ApiError> {
    let page = q.page(false)?;
    let rows = state.send.list_attempts(app, &filter, &page).await?;
    Ok(Json(ListResponse::from_rows(
        rows,
        &page,
        |a| a.id.to_string(),
        AttemptOut::from,
    )))
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/attempt/msg/{msg_id}",
    tag = "message-attempt",
    params(("app_id" = String, Path, description = "Application id or uid"), ("msg_id" = String, Path, description = "Message id or eventId"), ListQuery, AttemptQuery),
    responses(
        (status = 200, body = ListResponse<AttemptOut>),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn by_message(
    State(state): State<Services>,
    Path((app_id, msg_id)): Path<(String, String)>,
    ApiQuery(page): ApiQuery<ListQuery>,
    ApiQuery(q): ApiQuery<AttemptQuery>,
) -> Result<Json<ListResponse<AttemptOut>>, ApiError> {
    let app = state.send.app(&app_id).await?;
    let msg = state.send.message(&app.id, &msg_id).await?;
    let endpoint_id = match q.endpoint_id.as_deref() {
        Some(e) => Some(state.send.endpoint(&app.id, e).await?.id),
        None => None,
    };
    let filter = AttemptFilter {
        msg_id: Some(msg.id),
        endpoint_id,
        status: status_filter(q.status)?,
    };
    list(&state, &app.id, filter, &page).await
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}",
    tag = "message-attempt",
    params(("app_id" = String, Path, description = "Application id or uid"), ("endpoint_id" = String, Path, description = "Endpoint id or uid"), ListQuery, AttemptQuery),
    responses(
        (status = 200, body = ListResponse<AttemptOut>),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn by_endpoint(
    State(state): State<Services>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    ApiQuery(page): ApiQuery<ListQuery>,
    ApiQuery(q): ApiQuery<AttemptQuery>,
) -> Result<Json<ListResponse<AttemptOut>>, ApiError> {
    let app = state.send.app(&app_id).await?;
    let ep = state.send.endpoint(&app.id, &endpoint_id).await?;
    let filter = AttemptFilter {
        msg_id: None,
        endpoint_id: Some(ep.id),
        status: status_filter(q.status)?,
    };
    list(&state, &app.id, filter, &page).await
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}",
    tag = "message-attempt",
    params(("app_id" = String, Path, description = "Application id or uid"), ("msg_id" = String, Path, description = "Message id or eventId"), ("attempt_id" = String, Path, description = "Attempt id")),
    responses(
        (status = 200, body = AttemptOut),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound
    ),
)]
pub(crate) async fn fetch(
    State(state): State<Services>,
    Path((app_id, msg_id, attempt_id)): Path<(String, String, String)>,
) -> Result<Json<AttemptOut>, ApiError> {
    let app = state.send.app(&app_id).await?;
    let msg = state.send.message(&app.id, &msg_id).await?;
    let id = AttemptId::parse(&attempt_id).map_err(|_| ApiError::not_found("attempt"))?;
    let attempt = state
        .store
        .get_attempt(&app.id, &msg.id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("attempt"))?;
    Ok(Json(attempt.into()))
}

/// Svix's `MessageEndpointOut`: an endpoint, with this message's status for it. Both
/// generations of field names, as in [`endpoints::EndpointOut`].
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DestinationOut {
    #[schema(value_type = String)]
    id: EndpointId,
    #[schema(value_type = Option<String>)]
    uid: Option<Uid>,
    url: String,
    description: String,
    version: u8,
    #[schema(value_type = Option<Vec<String>>)]
    event_types: Option<BTreeSet<EventTypeName>>,
    #[schema(value_type = Option<Vec<String>>)]
    filter_types: Option<BTreeSet<EventTypeName>>,
    #[schema(value_type = Option<Vec<String>>)]
    channels: Option<BTreeSet<ChannelName>>,
    disabled: bool,
    throttle_rate: Option<u16>,
    rate_limit: Option<u16>,
    status: u8,
    status_text: &'static str,
    next_attempt: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/msg/{msg_id}/endpoint",
    tag = "message-attempt",
    params(("app_id" = String, Path, description = "Application id or uid"), ("msg_id" = String, Path, description = "Message id or eventId"), ListQuery),
    responses(
        (status = 200, body = ListResponse<DestinationOut>),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn destinations(
    State(state): State<Services>,
    Path((app_id, msg_id)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<ListResponse<DestinationOut>>, ApiError> {
    let app = state.send.app(&app_id).await?;
    let msg = state.send.message(&app.id, &msg_id).await?;
    let page = q.page(true)?;
    let rows = state
        .store
        .message_destinations(&app.id, &msg.id, &page)
        .await?;
    Ok(Json(ListResponse::from_rows(
        rows,
        &page,
        |d| d.endpoint.id.to_string(),
        |d| {
            let e = d.endpoint;
            DestinationOut {
                id: e.id,
                uid: e.fields.uid,
                url: e.fields.url.as_str().to_owned(),
                description: e.fields.description,
                version: endpoints::ENDPOINT_VERSION,
                filter_types: e.fields.event_types.clone(),
                event_types: e.fields.event_types,
                channels: e.fields.channels,
                disabled: e.fields.disabled,
                throttle_rate: e.fields.throttle_rate,
                rate_limit: e.fields.throttle_rate,
                status: d.status as u8,
                status_text: d.status.text(),
                next_attempt: d.next_attempt_at,
                created_at: e.created_at,
                updated_at: e.updated_at,
            }
        },
    )))
}

/// Svix's `EndpointMessageOut` as the OpenAPI document describes it: a message and where it
/// stands for the endpoint (the handler builds it as JSON).
#[derive(utoipa::ToSchema)]
#[schema(as = EndpointMessageOut, rename_all = "camelCase")]
#[allow(dead_code)]
pub(crate) struct EndpointMessageDoc {
    id: String,
    event_type: String,
    event_id: Option<String>,
    #[schema(value_type = Object)]
    payload: serde_json::Value,
    channels: Option<Vec<String>>,
    tags: Option<Vec<String>>,
    timestamp: DateTime<Utc>,
    deliver_at: Option<DateTime<Utc>>,
    status: u8,
    status_text: String,
    next_attempt: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct EndpointMessageQuery {
    status: Option<i64>,
}

/// `GET /app/{app}/endpoint/{ep}/msg`: the messages queued for an endpoint ("list attempted
/// messages" in the SDKs), newest first, each as Svix's `EndpointMessageOut`: the message
/// with where it stands for this endpoint.
#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/msg",
    tag = "message-attempt",
    params(("app_id" = String, Path, description = "Application id or uid"), ("endpoint_id" = String, Path, description = "Endpoint id or uid"), ListQuery, messages::MessageListQuery, EndpointMessageQuery),
    responses(
        (status = 200, body = ListResponse<EndpointMessageDoc>),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn endpoint_messages(
    State(state): State<Services>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    ApiQuery(page): ApiQuery<ListQuery>,
    ApiQuery(q): ApiQuery<messages::MessageListQuery>,
    ApiQuery(s): ApiQuery<EndpointMessageQuery>,
) -> Result<Json<ListResponse<serde_json::Value>>, ApiError> {
    let app = state.send.app(&app_id).await?;
    let ep = state.send.endpoint(&app.id, &endpoint_id).await?;
    let page = page.page(false)?;
    let filter = EndpointMessageFilter {
        messages: q.filter()?,
        status: status_filter(s.status)?,
    };
    let rows = state
        .store
        .endpoint_messages(&app.id, &ep.id, &page, &filter)
        .await?;
    let with_content = q.with_content.unwrap_or(true);
    Ok(Json(ListResponse::from_rows(
        rows,
        &page,
        |m| m.message.id.to_string(),
        |m| {
            let mut out = serde_json::to_value(messages::render_message(&m.message, with_content))
                .expect("plain data serialises");
            out["status"] = serde_json::json!(m.status as u8);
            out["statusText"] = serde_json::json!(m.status.text());
            out["nextAttempt"] = serde_json::json!(m.next_attempt_at);
            out
        },
    )))
}

/// Empties the attempt's recorded response body (for a receiver that answered with something
/// it should not have).
#[utoipa::path(
    delete,
    path = "/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}/content",
    tag = "message-attempt",
    params(("app_id" = String, Path, description = "Application id or uid"), ("msg_id" = String, Path, description = "Message id or eventId"), ("attempt_id" = String, Path, description = "Attempt id")),
    responses(
        (status = 204, description = "The response body is gone"),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound
    ),
)]
pub(crate) async fn expunge_content(
    State(state): State<Services>,
    Path((app_id, msg_id, attempt_id)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let app = state.send.app(&app_id).await?;
    state
        .send
        .expunge_attempt_content(&app.id, &msg_id, &attempt_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

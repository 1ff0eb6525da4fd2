//! `/api/v1/app/{app}/endpoint`: where an application's messages go.
//!
//! `input` is Svix's JSON for endpoints; the service ([`crate::send`]) does the work (shared
//! with the operational webhook routes and the console); this file holds the routes.

use super::background_tasks::finished;
use super::idempotency::IdempotencyKey;
use super::messages::publish;
use super::{ApiJson, ApiQuery, ListQuery, ListResponse, Services};
use crate::domain::*;
use crate::error::ApiError;
use crate::send::ReplayFilter;
use crate::store::{FanOut, ReplayWhich};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

pub(crate) mod input;

pub use input::EndpointOut;
pub(crate) use input::ENDPOINT_VERSION;
pub(crate) use input::{parse_rotate_body, EndpointIn, EndpointPatch, HeadersIn};
pub(crate) use input::{EndpointInWire, SecretRotateIn};

pub fn router() -> Router<Services> {
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
            "/app/{app_id}/endpoint/{endpoint_id}/attempt-stats",
            get(attempt_stats),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/transformation",
            get(get_transformation).patch(patch_transformation),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/replay-missing",
            post(replay_missing),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/bulk-replay",
            post(bulk_replay),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/recover",
            post(recover),
        )
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct RecoverIn {
    since: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
}

/// Queues again every message that failed for good on this endpoint since a time (and before
/// `until`, default now). Svix runs this as a background task; here it is one statement, so
/// the task it reports is already finished.
#[utoipa::path(
    post,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/recover",
    tag = "endpoint",
    params(("app_id" = String, Path, description = "Application id or uid"), ("endpoint_id" = String, Path, description = "Endpoint id or uid")),
    request_body = RecoverIn,
    responses(
        (status = 202, description = "Queued again (the task is finished)", body = super::background_tasks::TaskOut),
        crate::api::openapi::NotJson,
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound,
        crate::api::openapi::TooLarge,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn recover(
    State(state): State<Services>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<RecoverIn>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let (app, ep) = state.send.app_and_endpoint(&app_id, &endpoint_id).await?;
    let n = state
        .send
        .recover(&app.id, &ep, body.since, body.until)
        .await?;
    finished(
        &state,
        &app.id,
        "endpoint.recover",
        json!({ "recovered": n }),
    )
    .await
}

/// Svix's `ReplayIn`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct ReplayIn {
    since: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
}

/// Svix's `BulkReplayIn`. `tag` and `statusCodeClass` are refused rather than ignored: a
/// replay wider than asked for cannot be taken back.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BulkReplayIn {
    since: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
    event_types: Option<Vec<String>>,
    channel: Option<String>,
    /// 0 success, 1 pending, 2 fail, 3 sending, 4 canceled.
    status: Option<i64>,
    #[schema(value_type = Option<i64>)]
    status_code_class: Option<serde_json::Value>,
    tag: Option<String>,
}

/// Queues the messages of a time window that the endpoint was never sent and subscribes to
/// (created before it existed, or before it subscribed). Done at once; reported as a
/// finished `endpoint.replay` task with `data.messagesSent`.
#[utoipa::path(
    post,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/replay-missing",
    tag = "endpoint",
    params(("app_id" = String, Path, description = "Application id or uid"), ("endpoint_id" = String, Path, description = "Endpoint id or uid")),
    request_body = ReplayIn,
    responses(
        (status = 202, description = "Queued (the task is finished)", body = Object),
        crate::api::openapi::NotJson,
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound,
        crate::api::openapi::TooLarge,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn replay_missing(
    State(state): State<Services>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<ReplayIn>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let (app, ep) = state.send.app_and_endpoint(&app_id, &endpoint_id).await?;
    let n = state
        .send
        .replay(
            &app.id,
            &ep,
            ReplayWhich::Missing,
            body.since,
            body.until,
            &ReplayFilter::default(),
        )
        .await?;
    finished(
        &state,
        &app.id,
        "endpoint.replay",
        json!({ "messagesSent": n }),
    )
    .await
}

/// Queues again the messages of a time window that were sent to the endpoint, delivered or
/// not, narrowed by event types, channel and status. Reported as a finished
/// `endpoint.bulk-replay` task with `data.messagesSent`.
#[utoipa::path(
    post,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/bulk-replay",
    tag = "endpoint",
    params(("app_id" = String, Path, description = "Application id or uid"), ("endpoint_id" = String, Path, description = "Endpoint id or uid")),
    request_body = BulkReplayIn,
    responses(
        (status = 202, description = "Queued (the task is finished)", body = Object),
        crate::api::openapi::NotJson,
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound,
        crate::api::openapi::TooLarge,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn bulk_replay(
    State(state): State<Services>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<BulkReplayIn>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let (app, ep) = state.send.app_and_endpoint(&app_id, &endpoint_id).await?;
    if body.tag.is_some() || body.status_code_class.is_some() {
        return Err(ApiError::Validation(
            "tag and statusCodeClass: not supported by bulk-replay yet".into(),
        ));
    }
    let status = match body.status {
        None => None,
        Some(s @ 0..=4) => Some(DeliveryStatus::from_i64(s)),
        Some(_) => {
            return Err(ApiError::Validation(
                "status: must be 0 (success), 1, 2, 3 or 4".into(),
            ))
        }
    };
    let filter = ReplayFilter {
        event_types: match body.event_types {
            None => None,
            Some(types) => Some(
                types
                    .iter()
                    .map(|t| EventTypeName::parse(t))
                    .collect::<Result<_, _>>()?,
            ),
        },
        channel: body
            .channel
            .as_deref()
            .map(ChannelName::parse)
            .transpose()?,
    };
    let n = state
        .send
        .replay(
            &app.id,
            &ep,
            ReplayWhich::Sent(status),
            body.since,
            body.until,
            &filter,
        )
        .await?;
    finished(
        &state,
        &app.id,
        "endpoint.bulk-replay",
        json!({ "messagesSent": n }),
    )
    .await
}

/// One page of an application's endpoints.
pub(crate) async fn list_page(
    state: &Services,
    app: &AppId,
    q: &ListQuery,
) -> Result<ListResponse<EndpointOut>, ApiError> {
    let page = q.page(true)?;
    let rows = state.send.list_endpoints(app, &page).await?;
    Ok(ListResponse::from_rows(
        rows,
        &page,
        |e| e.id.to_string(),
        EndpointOut::from,
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/app/{app_id}/endpoint",
    tag = "endpoint",
    params(("app_id" = String, Path, description = "Application id or uid")),
    request_body = input::EndpointInWire,
    responses(
        (status = 201, body = EndpointOut),
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
    ApiJson(body): ApiJson<EndpointIn>,
) -> Result<(StatusCode, Json<EndpointOut>), ApiError> {
    let app = state.send.app(&app_id).await?;
    let ep = state.send.create_endpoint(&app, body.0).await?;
    Ok((StatusCode::CREATED, Json(ep.into())))
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/endpoint",
    tag = "endpoint",
    params(("app_id" = String, Path, description = "Application id or uid"), ListQuery),
    responses(
        (status = 200, body = ListResponse<EndpointOut>),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn list(
    State(state): State<Services>,
    Path(app_id): Path<String>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<ListResponse<EndpointOut>>, ApiError> {
    let app = state.send.app(&app_id).await?;
    Ok(Json(list_page(&state, &app.id, &q).await?))
}

/// Resolves the application and the endpoint named in the path.
async fn app_and_endpoint(
    state: &Services,
    app_id: &str,
    endpoint_id: &str,
) -> Result<(Application, Endpoint), ApiError> {
    Ok(state.send.app_and_endpoint(app_id, endpoint_id).await?)
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}",
    tag = "endpoint",
    params(("app_id" = String, Path, description = "Application id or uid"), ("endpoint_id" = String, Path, description = "Endpoint id or uid")),
    responses(
        (status = 200, body = EndpointOut),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound
    ),
)]
pub(crate) async fn fetch(
    State(state): State<Services>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
) -> Result<Json<EndpointOut>, ApiError> {
    let (_, ep) = app_and_endpoint(&state, &app_id, &endpoint_id).await?;
    Ok(Json(ep.into()))
}

#[utoipa::path(
    put,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}",
    tag = "endpoint",
    params(("app_id" = String, Path, description = "Application id or uid"), ("endpoint_id" = String, Path, description = "Endpoint id or uid")),
    request_body = input::EndpointInWire,
    responses(
        (status = 200, body = EndpointOut),
        (status = 201, description = "Created (upsert)", body = EndpointOut),
        crate::api::openapi::NotJson,
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound,
        crate::api::openapi::Conflict,
        crate::api::openapi::TooLarge,
        crate::api::openapi::Invalid
    ),
)]
/// A full update, or, as Svix's `upsert` does, a create when the application has no endpoint
/// with this id or uid: the path's key becomes the new endpoint's uid unless the body names
/// one.
pub(crate) async fn update(
    State(state): State<Services>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<EndpointIn>,
) -> Result<(StatusCode, Json<EndpointOut>), ApiError> {
    let app = state.send.app(&app_id).await?;
    let (ep, created) = state.send.put_endpoint(&app, &endpoint_id, body.0).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(ep.into())))
}

#[utoipa::path(
    patch,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}",
    tag = "endpoint",
    params(("app_id" = String, Path, description = "Application id or uid"), ("endpoint_id" = String, Path, description = "Endpoint id or uid")),
    request_body = input::EndpointPatchWire,
    responses(
        (status = 200, body = EndpointOut),
        crate::api::openapi::NotJson,
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound,
        crate::api::openapi::Conflict,
        crate::api::openapi::TooLarge,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn patch(
    State(state): State<Services>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<EndpointPatch>,
) -> Result<Json<EndpointOut>, ApiError> {
    let (app, ep) = app_and_endpoint(&state, &app_id, &endpoint_id).await?;
    Ok(Json(
        state.send.patch_endpoint(&app, ep, body.0).await?.into(),
    ))
}

#[utoipa::path(
    delete,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}",
    tag = "endpoint",
    params(("app_id" = String, Path, description = "Application id or uid"), ("endpoint_id" = String, Path, description = "Endpoint id or uid")),
    responses(
        (status = 204, description = "Deleted"),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound
    ),
)]
pub(crate) async fn delete(
    State(state): State<Services>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (app, ep) = app_and_endpoint(&state, &app_id, &endpoint_id).await?;
    state.send.delete_endpoint(&app, ep).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret",
    tag = "endpoint",
    params(("app_id" = String, Path, description = "Application id or uid"), ("endpoint_id" = String, Path, description = "Endpoint id or uid")),
    responses(
        (status = 200, description = "The signing secret (`EndpointSecretOut`)", body = Object),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound
    ),
)]
pub(crate) async fn secret(
    State(state): State<Services>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (_, ep) = app_and_endpoint(&state, &app_id, &endpoint_id).await?;
    Ok(Json(json!({ "key": ep.secret.expose() })))
}

/// Answers the new secret as `EndpointSecretOut` (`{"key"}`), which today's SDKs parse; older
/// SDKs ignore the body of this call.
#[utoipa::path(
    post,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret/rotate",
    tag = "endpoint",
    params(("app_id" = String, Path, description = "Application id or uid"), ("endpoint_id" = String, Path, description = "Endpoint id or uid")),
    request_body = Option<input::SecretRotateIn>,
    responses(
        (status = 200, description = "The new secret (`EndpointSecretOut`)", body = Object),
        crate::api::openapi::NotJson,
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound,
        crate::api::openapi::TooLarge,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn rotate_secret(
    State(state): State<Services>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (app, ep) = app_and_endpoint(&state, &app_id, &endpoint_id).await?;
    let body = parse_rotate_body(&body)?;
    let new = state.send.rotate_secret(&app.id, &ep, body).await?;
    Ok(Json(json!({ "key": new.expose() })))
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers",
    tag = "endpoint",
    params(("app_id" = String, Path, description = "Application id or uid"), ("endpoint_id" = String, Path, description = "Endpoint id or uid")),
    responses(
        (status = 200, description = "`EndpointHeadersOut`", body = Object),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound
    ),
)]
pub(crate) async fn get_headers(
    State(state): State<Services>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (_, ep) = app_and_endpoint(&state, &app_id, &endpoint_id).await?;
    Ok(Json(crate::send::headers_out(&ep)))
}

#[utoipa::path(
    put,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers",
    tag = "endpoint",
    params(("app_id" = String, Path, description = "Application id or uid"), ("endpoint_id" = String, Path, description = "Endpoint id or uid")),
    request_body = input::HeadersIn,
    responses(
        (status = 204, description = "Replaced"),
        crate::api::openapi::NotJson,
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound,
        crate::api::openapi::TooLarge,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn put_headers(
    State(state): State<Services>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<HeadersIn>,
) -> Result<StatusCode, ApiError> {
    let (app, ep) = app_and_endpoint(&state, &app_id, &endpoint_id).await?;
    state
        .send
        .set_endpoint_headers(&app.id, &ep, body.into(), false)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    patch,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers",
    tag = "endpoint",
    params(("app_id" = String, Path, description = "Application id or uid"), ("endpoint_id" = String, Path, description = "Endpoint id or uid")),
    request_body = input::HeadersIn,
    responses(
        (status = 204, description = "Changed"),
        crate::api::openapi::NotJson,
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound,
        crate::api::openapi::TooLarge,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn patch_headers(
    State(state): State<Services>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<HeadersIn>,
) -> Result<StatusCode, ApiError> {
    let (app, ep) = app_and_endpoint(&state, &app_id, &endpoint_id).await?;
    state
        .send
        .set_endpoint_headers(&app.id, &ep, body.into(), true)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EventExampleIn {
    event_type: String,
    example_index: Option<usize>,
}

/// "Send test event": delivers an example payload of the chosen event type to this endpoint
/// only, through the same engine as every other message.
#[utoipa::path(
    post,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/send-example",
    tag = "endpoint",
    params(("app_id" = String, Path, description = "Application id or uid"), ("endpoint_id" = String, Path, description = "Endpoint id or uid")),
    request_body = EventExampleIn,
    responses(
        (status = 202, description = "Stored and queued for this endpoint only", body = super::messages::MessageDoc),
        crate::api::openapi::NotJson,
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound,
        crate::api::openapi::Conflict,
        crate::api::openapi::TooLarge,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn send_example(
    State(state): State<Services>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    idempotency: Option<Extension<IdempotencyKey>>,
    ApiJson(body): ApiJson<EventExampleIn>,
) -> Result<Response, ApiError> {
    let (app, ep) = state.send.app_and_endpoint(&app_id, &endpoint_id).await?;
    let msg = state
        .send
        .example_message(&body.event_type, body.example_index.unwrap_or(0))
        .await?;
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

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/stats",
    tag = "endpoint",
    params(("app_id" = String, Path, description = "Application id or uid"), ("endpoint_id" = String, Path, description = "Endpoint id or uid")),
    responses(
        (status = 200, description = "Deliveries by status (`EndpointStats`)", body = Object),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound
    ),
)]
pub(crate) async fn stats(
    State(state): State<Services>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (app, ep) = state.send.app_and_endpoint(&app_id, &endpoint_id).await?;
    let s = state.send.endpoint_stats(&app.id, &ep.id).await?;
    Ok(Json(json!({
        "success": s.success,
        "pending": s.pending,
        "sending": s.sending,
        "fail": s.fail,
        "canceled": s.canceled,
    })))
}

/// The window of `attempt-stats` (Svix's `since`/`until`, rounded out to the hour).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct StatsWindow {
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
}

/// Svix's `EndpointAttemptStats`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct AttemptStatsOut {
    success: u64,
    fail: u64,
    canceled: u64,
}

/// The endpoint's attempts by outcome in a window (by default the last 28 days).
#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/attempt-stats",
    tag = "endpoint",
    params(("app_id" = String, Path, description = "Application id or uid"), ("endpoint_id" = String, Path, description = "Endpoint id or uid"), StatsWindow),
    responses(
        (status = 200, body = AttemptStatsOut),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn attempt_stats(
    State(state): State<Services>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    ApiQuery(window): ApiQuery<StatsWindow>,
) -> Result<Json<AttemptStatsOut>, ApiError> {
    let (app, ep) = state.send.app_and_endpoint(&app_id, &endpoint_id).await?;
    let s = state
        .send
        .attempt_stats(&app.id, &ep.id, window.since, window.until)
        .await?;
    Ok(Json(AttemptStatsOut {
        success: s.success,
        fail: s.fail,
        canceled: s.canceled,
    }))
}

/// Svix's `EndpointTransformationPatch`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct TransformationPatch {
    code: Option<String>,
    enabled: Option<bool>,
    variables: Option<std::collections::BTreeMap<String, String>>,
}

/// Svix runs a customer's JavaScript on each payload ("transformations"); Kanca runs no
/// customer code, so an endpoint's transformation is always off, and says so.
#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation",
    tag = "endpoint",
    params(("app_id" = String, Path, description = "Application id or uid"), ("endpoint_id" = String, Path, description = "Endpoint id or uid")),
    responses(
        (status = 200, description = "`EndpointTransformationOut`: always `{\"enabled\": false}`", body = Object),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound
    ),
)]
pub(crate) async fn get_transformation(
    State(state): State<Services>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    state.send.app_and_endpoint(&app_id, &endpoint_id).await?;
    Ok(Json(json!({ "enabled": false })))
}

/// Turning a transformation off (or sending nothing) is accepted; code, variables or
/// `enabled: true` are refused with 422, since they would never run.
#[utoipa::path(
    patch,
    path = "/api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation",
    tag = "endpoint",
    params(("app_id" = String, Path, description = "Application id or uid"), ("endpoint_id" = String, Path, description = "Endpoint id or uid")),
    request_body = TransformationPatch,
    responses(
        (status = 204, description = "Nothing to change: transformations are off"),
        crate::api::openapi::NotJson,
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound,
        crate::api::openapi::TooLarge,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn patch_transformation(
    State(state): State<Services>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<TransformationPatch>,
) -> Result<StatusCode, ApiError> {
    state.send.app_and_endpoint(&app_id, &endpoint_id).await?;
    if body.code.is_some() || body.variables.is_some() || body.enabled == Some(true) {
        return Err(ApiError::Validation(
            "endpoint transformations are not supported: Kanca runs no customer code".into(),
        ));
    }
    Ok(StatusCode::NO_CONTENT)
}

//! Svix's Ingest API (`/ingest/api/v1/source…`) and the public URL that providers post to
//! (`/ingest/{token}`).
//!
//! Shapes are those of the pinned SDKs' `ingest` module (`IngestSourceIn`/`Out`,
//! `IngestEndpointIn`/`Out`, `RotateTokenOut`, `IngestEndpointSecretOut`,
//! `IngestEndpointHeadersOut`): a source's `type` and `config` are adjacently tagged, and the
//! `config` answered never holds the secret. Ingest endpoints are endpoints of the source's
//! internal application, so their routes call the same [`crate::send`] methods as
//! `/api/v1/app/{app}/endpoint` does. The work is in [`crate::sources`].

use super::endpoints::{parse_rotate_body, EndpointIn, EndpointOut, HeadersIn};
use super::{ApiJson, ApiQuery, ListQuery, ListResponse, Services};
use crate::domain::sources::{Arrival, Source, SourceKind};
use crate::domain::{Application, Endpoint, Metadata};
use crate::error::ApiError;
use crate::http::access::client_ip;
use crate::sources::{IncomingRequest, Received, SourceInput};
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;
use utoipa::ToSchema;

/// The management routes, under `/ingest/api/v1` (admin token required, applied by the
/// caller).
pub fn router() -> Router<Services> {
    Router::new()
        .route("/source", get(list).post(create))
        .route("/source/{source_id}", get(fetch).put(upsert).delete(delete))
        .route("/source/{source_id}/token/rotate", post(rotate_token))
        .route("/source/{source_id}/log", get(log))
        .route(
            "/source/{source_id}/endpoint",
            get(list_endpoints).post(create_endpoint),
        )
        .route(
            "/source/{source_id}/endpoint/{endpoint_id}",
            get(fetch_endpoint)
                .put(upsert_endpoint)
                .delete(delete_endpoint),
        )
        .route(
            "/source/{source_id}/endpoint/{endpoint_id}/secret",
            get(endpoint_secret),
        )
        .route(
            "/source/{source_id}/endpoint/{endpoint_id}/secret/rotate",
            post(rotate_endpoint_secret),
        )
        .route(
            "/source/{source_id}/endpoint/{endpoint_id}/headers",
            get(get_headers).put(put_headers).patch(patch_headers),
        )
}

/// What the workspace's guard counts failed ingest requests under (as it counts a hook's by
/// its id): one key for every source, since an unknown token names none.
const GUARD_KEY: &str = "ingest";

/// The public route: any method to `/ingest/{token}` (the token is the secret).
pub fn public_router() -> Router<Services> {
    Router::new().route("/ingest/{token}", any(receive))
}

/// Svix's `IngestSourceIn`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = IngestSourceIn)]
pub(crate) struct SourceIn {
    name: String,
    uid: Option<String>,
    #[schema(value_type = Option<HashMap<String, String>>)]
    metadata: Option<Metadata>,
    /// `generic-webhook`, `github`, `stripe`, `slack`, `shopify`, `cron`, `svix` and the types
    /// that sign as Svix does.
    #[serde(rename = "type")]
    type_name: String,
    /// The type's settings: `{"secret"}` for the signed types, `{"schedule", "payload",
    /// "contentType"}` for `cron`, none for `generic-webhook`.
    #[schema(value_type = Option<Object>)]
    config: Option<Value>,
    /// A Kanca extension: the application (id or uid) that what the source accepts is also
    /// published into, with the provider's event type (`github.push`).
    #[serde(rename = "publishToApp")]
    publish_to_app: Option<String>,
}

impl From<SourceIn> for SourceInput {
    fn from(s: SourceIn) -> Self {
        Self {
            name: s.name,
            uid: s.uid,
            metadata: s.metadata,
            type_name: s.type_name,
            config: s.config,
            publish_to: s.publish_to_app,
        }
    }
}

/// Svix's `IngestSourceOut`, as [`source_out`] makes it (for the document).
#[allow(dead_code)]
#[derive(Serialize, ToSchema)]
#[schema(as = IngestSourceOut)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SourceOutDoc {
    id: String,
    uid: Option<String>,
    name: String,
    ingest_url: String,
    #[schema(value_type = String, format = DateTime)]
    created_at: String,
    #[schema(value_type = String, format = DateTime)]
    updated_at: String,
    metadata: HashMap<String, String>,
    #[serde(rename = "type")]
    type_name: String,
    /// Without the secret: `{}` for signed types, the whole `CronConfig` for `cron`.
    #[schema(value_type = Option<Object>)]
    config: Option<Value>,
    /// Kanca extension: the application accepted requests are also published into.
    publish_to_app: Option<String>,
}

/// Svix's `RotateTokenOut`.
#[allow(dead_code)]
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RotateTokenOut {
    ingest_url: String,
}

/// One entry of a source's log (Kanca's own).
#[allow(dead_code)]
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ArrivalOut {
    id: String,
    #[schema(value_type = String, format = DateTime)]
    received_at: String,
    method: String,
    path: String,
    /// `[name, value]` pairs in arrival order.
    headers: Vec<Vec<String>>,
    /// The first 4 KiB of the body, as text.
    body: String,
    /// `accepted`, `duplicate` or `rejected`.
    status: String,
    reason: Option<String>,
    dedupe_id: Option<String>,
    msg_id: Option<String>,
}

/// Svix's `IngestSourceOut`: the type's `config` without its secret (`{}`; none at all for
/// `generic-webhook`, a unit variant in the SDKs; a `cron` source's whole `CronConfig`, which
/// holds no secret), and Kanca's `publishToApp` when set.
fn source_out(state: &Services, s: &Source) -> Value {
    let mut out = json!({
        "id": s.id,
        "name": s.fields.name,
        "ingestUrl": state.sources.ingest_url(s),
        "createdAt": s.created_at,
        "updatedAt": s.updated_at,
        "metadata": s.fields.metadata,
        "type": s.fields.kind.type_name(),
    });
    if let Some(uid) = &s.fields.uid {
        out["uid"] = json!(uid);
    }
    if let SourceKind::Cron(schedule) = &s.fields.kind {
        out["config"] = schedule.config();
    } else if s.fields.kind.secret().is_some() {
        out["config"] = json!({});
    }
    if let Some(app) = &s.fields.publish_to {
        out["publishToApp"] = json!(app);
    }
    out
}

#[utoipa::path(
    post,
    path = "/ingest/api/v1/source",
    tag = "ingest",
    params(("source_id" = String, Path, description = "Source id or uid")),
    request_body = SourceIn,
    responses(
        (status = 201, body = SourceOutDoc),
        crate::api::openapi::NotJson,
        crate::api::openapi::Unauthorized,
        crate::api::openapi::Conflict,
        crate::api::openapi::TooLarge,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn create(
    State(state): State<Services>,
    ApiJson(body): ApiJson<SourceIn>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let source = state.sources.create(body.into()).await?;
    Ok((StatusCode::CREATED, Json(source_out(&state, &source))))
}

#[utoipa::path(
    get,
    path = "/ingest/api/v1/source",
    tag = "ingest",
    params(ListQuery),
    responses(
        (status = 200, body = ListResponse<SourceOutDoc>),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn list(
    State(state): State<Services>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<ListResponse<Value>>, ApiError> {
    let page = q.page(false)?;
    let rows = state.sources.list(&page).await?;
    Ok(Json(ListResponse::from_rows(
        rows,
        &page,
        |s| s.id.to_string(),
        |s| source_out(&state, &s),
    )))
}

#[utoipa::path(
    get,
    path = "/ingest/api/v1/source/{source_id}",
    tag = "ingest",
    params(("source_id" = String, Path, description = "Source id or uid")),
    responses(
        (status = 200, body = SourceOutDoc),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound
    ),
)]
pub(crate) async fn fetch(
    State(state): State<Services>,
    Path(source_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let source = state.sources.get(&source_id).await?;
    Ok(Json(source_out(&state, &source)))
}

#[utoipa::path(
    put,
    path = "/ingest/api/v1/source/{source_id}",
    tag = "ingest",
    params(("source_id" = String, Path, description = "Source id or uid")),
    request_body = SourceIn,
    responses(
        (status = 200, description = "Updated", body = SourceOutDoc),
        (status = 201, description = "Created under this uid", body = SourceOutDoc),
        crate::api::openapi::NotJson,
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound,
        crate::api::openapi::Conflict,
        crate::api::openapi::TooLarge,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn upsert(
    State(state): State<Services>,
    Path(source_id): Path<String>,
    ApiJson(body): ApiJson<SourceIn>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (source, created) = state.sources.upsert(&source_id, body.into()).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(source_out(&state, &source))))
}

#[utoipa::path(
    delete,
    path = "/ingest/api/v1/source/{source_id}",
    tag = "ingest",
    params(("source_id" = String, Path, description = "Source id or uid")),
    responses(
        (status = 204, description = "Deleted with its endpoints, messages and log"),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound
    ),
)]
pub(crate) async fn delete(
    State(state): State<Services>,
    Path(source_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.sources.delete(&source_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Svix's `RotateTokenOut`.
#[utoipa::path(
    post,
    path = "/ingest/api/v1/source/{source_id}/token/rotate",
    tag = "ingest",
    params(("source_id" = String, Path, description = "Source id or uid")),
    responses(
        (status = 200, body = RotateTokenOut),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound
    ),
)]
pub(crate) async fn rotate_token(
    State(state): State<Services>,
    Path(source_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let source = state.sources.rotate_token(&source_id).await?;
    Ok(Json(
        json!({ "ingestUrl": state.sources.ingest_url(&source) }),
    ))
}

fn arrival_out(a: Arrival) -> Value {
    json!({
        "id": a.id.to_string(),
        "receivedAt": a.received_at,
        "method": a.request.method,
        "path": a.request.path,
        "headers": a.request.headers,
        "body": a.body_preview,
        "status": a.outcome.as_str(),
        "reason": a.reason,
        "dedupeId": a.dedupe_id,
        "msgId": a.msg_id,
    })
}

/// Kanca's log of what arrived at the source's URL, newest first: `status` is `accepted`,
/// `duplicate` or `rejected` (then `reason` says why); `msgId` is the message it became.
#[utoipa::path(
    get,
    path = "/ingest/api/v1/source/{source_id}/log",
    tag = "ingest",
    params(("source_id" = String, Path, description = "Source id or uid"), ListQuery),
    responses(
        (status = 200, description = "Kanca extension: what arrived, newest first", body = ListResponse<ArrivalOut>),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn log(
    State(state): State<Services>,
    Path(source_id): Path<String>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<ListResponse<Value>>, ApiError> {
    let source = state.sources.get(&source_id).await?;
    let page = q.page(false)?;
    let rows = state.sources.log(&source, &page).await?;
    Ok(Json(ListResponse::from_rows(
        rows,
        &page,
        |a| a.id.to_string(),
        arrival_out,
    )))
}

async fn source_app(state: &Services, source_id: &str) -> Result<Application, ApiError> {
    let source = state.sources.get(source_id).await?;
    Ok(state.sources.application(&source))
}

async fn source_endpoint(
    state: &Services,
    source_id: &str,
    endpoint_id: &str,
) -> Result<(Application, Endpoint), ApiError> {
    let app = source_app(state, source_id).await?;
    let ep = state.send.endpoint(&app.id, endpoint_id).await?;
    Ok((app, ep))
}

/// `IngestEndpointIn` is a subset of an application endpoint's fields; filters make no sense
/// for a source (every request goes to every enabled endpoint), so they are refused.
fn ingest_endpoint_input(body: EndpointIn) -> Result<crate::send::EndpointInput, ApiError> {
    let input = body.0;
    if input.event_types.is_some() || input.channels.is_some() {
        return Err(ApiError::Validation(
            "ingest endpoints take every request of their source: eventTypes and channels are not accepted".into(),
        ));
    }
    Ok(input)
}

#[utoipa::path(
    post,
    path = "/ingest/api/v1/source/{source_id}/endpoint",
    tag = "ingest",
    params(("source_id" = String, Path, description = "Source id or uid")),
    request_body = super::endpoints::EndpointInWire,
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
pub(crate) async fn create_endpoint(
    State(state): State<Services>,
    Path(source_id): Path<String>,
    ApiJson(body): ApiJson<EndpointIn>,
) -> Result<(StatusCode, Json<EndpointOut>), ApiError> {
    let app = source_app(&state, &source_id).await?;
    let input = ingest_endpoint_input(body)?;
    let ep = state.send.create_endpoint(&app, input).await?;
    Ok((StatusCode::CREATED, Json(ep.into())))
}

#[utoipa::path(
    get,
    path = "/ingest/api/v1/source/{source_id}/endpoint",
    tag = "ingest",
    params(("source_id" = String, Path, description = "Source id or uid"), ListQuery),
    responses(
        (status = 200, body = ListResponse<EndpointOut>),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn list_endpoints(
    State(state): State<Services>,
    Path(source_id): Path<String>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<ListResponse<EndpointOut>>, ApiError> {
    let app = source_app(&state, &source_id).await?;
    let page = q.page(false)?;
    let rows = state.send.list_endpoints(&app.id, &page).await?;
    Ok(Json(ListResponse::from_rows(
        rows,
        &page,
        |e| e.id.to_string(),
        EndpointOut::from,
    )))
}

#[utoipa::path(
    get,
    path = "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}",
    tag = "ingest",
    params(("source_id" = String, Path, description = "Source id or uid"), ("endpoint_id" = String, Path, description = "Ingest endpoint id or uid")),
    responses(
        (status = 200, body = EndpointOut),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound
    ),
)]
pub(crate) async fn fetch_endpoint(
    State(state): State<Services>,
    Path((source_id, endpoint_id)): Path<(String, String)>,
) -> Result<Json<EndpointOut>, ApiError> {
    let (_, ep) = source_endpoint(&state, &source_id, &endpoint_id).await?;
    Ok(Json(ep.into()))
}

#[utoipa::path(
    put,
    path = "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}",
    tag = "ingest",
    params(("source_id" = String, Path, description = "Source id or uid"), ("endpoint_id" = String, Path, description = "Ingest endpoint id or uid")),
    request_body = super::endpoints::EndpointInWire,
    responses(
        (status = 200, description = "Updated", body = EndpointOut),
        (status = 201, description = "Created under this uid", body = EndpointOut),
        crate::api::openapi::NotJson,
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound,
        crate::api::openapi::Conflict,
        crate::api::openapi::TooLarge,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn upsert_endpoint(
    State(state): State<Services>,
    Path((source_id, endpoint_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<EndpointIn>,
) -> Result<(StatusCode, Json<EndpointOut>), ApiError> {
    let app = source_app(&state, &source_id).await?;
    let input = ingest_endpoint_input(body)?;
    let (ep, created) = state.send.put_endpoint(&app, &endpoint_id, input).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(ep.into())))
}

#[utoipa::path(
    delete,
    path = "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}",
    tag = "ingest",
    params(("source_id" = String, Path, description = "Source id or uid"), ("endpoint_id" = String, Path, description = "Ingest endpoint id or uid")),
    responses(
        (status = 204, description = "Deleted"),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound
    ),
)]
pub(crate) async fn delete_endpoint(
    State(state): State<Services>,
    Path((source_id, endpoint_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (app, ep) = source_endpoint(&state, &source_id, &endpoint_id).await?;
    state.send.delete_endpoint(&app, ep).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/secret",
    tag = "ingest",
    params(("source_id" = String, Path, description = "Source id or uid"), ("endpoint_id" = String, Path, description = "Ingest endpoint id or uid")),
    responses(
        (status = 200, description = "The signing secret (`IngestEndpointSecretOut`)", body = Object),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound
    ),
)]
pub(crate) async fn endpoint_secret(
    State(state): State<Services>,
    Path((source_id, endpoint_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (_, ep) = source_endpoint(&state, &source_id, &endpoint_id).await?;
    Ok(Json(json!({ "key": ep.secret.expose() })))
}

/// The SDKs expect no body (`returns_nothing`); 204 as Svix answers.
#[utoipa::path(
    post,
    path = "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/secret/rotate",
    tag = "ingest",
    params(("source_id" = String, Path, description = "Source id or uid"), ("endpoint_id" = String, Path, description = "Ingest endpoint id or uid")),
    request_body = Option<super::endpoints::SecretRotateIn>,
    responses(
        (status = 204, description = "Rotated; the old secret still signs for 24 hours"),
        crate::api::openapi::NotJson,
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn rotate_endpoint_secret(
    State(state): State<Services>,
    Path((source_id, endpoint_id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let (app, ep) = source_endpoint(&state, &source_id, &endpoint_id).await?;
    let body = parse_rotate_body(&body)?;
    state.send.rotate_secret(&app.id, &ep, body).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/headers",
    tag = "ingest",
    params(("source_id" = String, Path, description = "Source id or uid"), ("endpoint_id" = String, Path, description = "Ingest endpoint id or uid")),
    responses(
        (status = 200, description = "`IngestEndpointHeadersOut`", body = Object),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound
    ),
)]
pub(crate) async fn get_headers(
    State(state): State<Services>,
    Path((source_id, endpoint_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (_, ep) = source_endpoint(&state, &source_id, &endpoint_id).await?;
    Ok(Json(crate::send::headers_out(&ep)))
}

#[utoipa::path(
    put,
    path = "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/headers",
    tag = "ingest",
    params(("source_id" = String, Path, description = "Source id or uid"), ("endpoint_id" = String, Path, description = "Ingest endpoint id or uid")),
    request_body = super::endpoints::HeadersIn,
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
    Path((source_id, endpoint_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<HeadersIn>,
) -> Result<StatusCode, ApiError> {
    let (app, ep) = source_endpoint(&state, &source_id, &endpoint_id).await?;
    state
        .send
        .set_endpoint_headers(&app.id, &ep, body.into(), false)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    patch,
    path = "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/headers",
    tag = "ingest",
    params(("source_id" = String, Path, description = "Source id or uid"), ("endpoint_id" = String, Path, description = "Ingest endpoint id or uid")),
    request_body = super::endpoints::HeadersIn,
    responses(
        (status = 204, description = "Merged"),
        crate::api::openapi::NotJson,
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound,
        crate::api::openapi::TooLarge,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn patch_headers(
    State(state): State<Services>,
    Path((source_id, endpoint_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<HeadersIn>,
) -> Result<StatusCode, ApiError> {
    let (app, ep) = source_endpoint(&state, &source_id, &endpoint_id).await?;
    state
        .send
        .set_endpoint_headers(&app.id, &ep, body.into(), true)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A provider's request. Answers 200 once it is stored with its deliveries (or was already
/// accepted: a duplicate), 401 with a short reason when it fails verification (also a
/// security incident), 404 for a URL that is not (or no longer) a source's.
async fn receive(
    State(state): State<Services>,
    Path(token): Path<String>,
    req: Request,
) -> Result<Response, ApiError> {
    let ip = client_ip(&state, &req);
    // Guessing ingest URLs is counted like guessing hook URLs: past the threshold the address
    // is blocked, and while it is, its requests are not even looked up.
    if state.workspace.guard().is_blocked(ip, GUARD_KEY) {
        return Err(ApiError::NotFound("no source at this URL".into()));
    }
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, state.config.max_body_bytes)
        .await
        .map_err(|_| ApiError::PayloadTooLarge(Some(state.config.max_body_bytes)))?;
    let incoming = IncomingRequest {
        method: parts.method.as_str().to_owned(),
        path,
        headers: parts.headers,
        body,
    };
    // The token is the secret: never put it in an incident or a log line.
    let redacted = "/ingest/…";
    match state.sources.receive(&token, incoming).await? {
        Received::Accepted(msg_id) => {
            Ok(Json(json!({ "status": "accepted", "msgId": msg_id })).into_response())
        }
        Received::Duplicate(msg_id) => {
            Ok(Json(json!({ "status": "duplicate", "msgId": msg_id })).into_response())
        }
        Received::Rejected(reason) => {
            state
                .workspace
                .record_incident(ip, redacted, &format!("source request rejected: {reason}"))
                .await;
            Ok((
                StatusCode::UNAUTHORIZED,
                Json(json!({ "code": "verification_failed", "detail": reason })),
            )
                .into_response())
        }
        Received::SlackChallenge(challenge) => {
            Ok(Json(json!({ "challenge": challenge })).into_response())
        }
        Received::Unstorable(reason) => Ok((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Json(json!({ "code": "unsupported_body", "detail": reason })),
        )
            .into_response()),
        Received::UnknownSource => {
            state
                .workspace
                .record_incident(ip, redacted, "unknown ingest URL")
                .await;
            let effect = state.workspace.guard().record_failure(ip, GUARD_KEY);
            if effect == crate::workspace::guard::FailureEffect::Blocked {
                state
                    .workspace
                    .record_incident(
                        ip,
                        redacted,
                        "address blocked from ingest URLs after repeated unknown URLs",
                    )
                    .await;
            }
            Err(ApiError::NotFound("no source at this URL".into()))
        }
    }
}

//! `/api/v1/operational-webhook/endpoint`: where Kanca sends its operational events
//! (`endpoint.*`, `message.attempt.*`). These are endpoints of an internal application, so
//! they share the endpoint code (and the delivery engine) with every other endpoint.

use super::endpoints::{list_page, EndpointIn, EndpointOut, EndpointPatch, HeadersIn};
use super::{ApiJson, ApiQuery, ListQuery, ListResponse, Services};
use crate::domain::{Application, Endpoint};
use crate::error::ApiError;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

pub fn router() -> Router<Services> {
    Router::new()
        .route("/operational-webhook/endpoint", get(list).post(create))
        .route(
            "/operational-webhook/endpoint/{endpoint_id}",
            get(fetch).put(update).patch(patch).delete(delete),
        )
        .route(
            "/operational-webhook/endpoint/{endpoint_id}/secret",
            get(secret),
        )
        .route(
            "/operational-webhook/endpoint/{endpoint_id}/secret/rotate",
            post(rotate_secret),
        )
        .route(
            "/operational-webhook/endpoint/{endpoint_id}/headers",
            get(get_headers).put(put_headers).patch(patch_headers),
        )
}

/// The internal application, as the shared endpoint code expects one.
fn ops_app(state: &Services) -> Application {
    let now = state.clock.now();
    Application {
        id: state.send.operational_app().clone(),
        uid: None,
        name: "Operational webhooks".into(),
        throttle_rate: None,
        metadata: Default::default(),
        created_at: now,
        updated_at: now,
    }
}

async fn find(state: &Services, endpoint_id: &str) -> Result<(Application, Endpoint), ApiError> {
    let app = ops_app(state);
    let ep = state.send.endpoint(&app.id, endpoint_id).await?;
    Ok((app, ep))
}

#[utoipa::path(
    post,
    path = "/api/v1/operational-webhook/endpoint",
    tag = "operational-webhook-endpoint",
    request_body = super::endpoints::input::EndpointInWire,
    responses(
        (status = 201, body = EndpointOut),
        crate::api::openapi::NotJson,
        crate::api::openapi::Unauthorized,
        crate::api::openapi::Conflict,
        crate::api::openapi::TooLarge,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn create(
    State(state): State<Services>,
    ApiJson(body): ApiJson<EndpointIn>,
) -> Result<(StatusCode, Json<EndpointOut>), ApiError> {
    let ep = state.send.create_endpoint(&ops_app(&state), body.0).await?;
    Ok((StatusCode::CREATED, Json(ep.into())))
}

#[utoipa::path(
    get,
    path = "/api/v1/operational-webhook/endpoint",
    tag = "operational-webhook-endpoint",
    params(ListQuery),
    responses(
        (status = 200, body = ListResponse<EndpointOut>),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn list(
    State(state): State<Services>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<ListResponse<EndpointOut>>, ApiError> {
    Ok(Json(
        list_page(&state, state.send.operational_app(), &q).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/operational-webhook/endpoint/{endpoint_id}",
    tag = "operational-webhook-endpoint",
    params(("endpoint_id" = String, Path, description = "Endpoint id or uid")),
    responses(
        (status = 200, body = EndpointOut),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound
    ),
)]
pub(crate) async fn fetch(
    State(state): State<Services>,
    Path(endpoint_id): Path<String>,
) -> Result<Json<EndpointOut>, ApiError> {
    Ok(Json(find(&state, &endpoint_id).await?.1.into()))
}

#[utoipa::path(
    put,
    path = "/api/v1/operational-webhook/endpoint/{endpoint_id}",
    tag = "operational-webhook-endpoint",
    params(("endpoint_id" = String, Path, description = "Endpoint id or uid")),
    request_body = super::endpoints::input::EndpointInWire,
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
pub(crate) async fn update(
    State(state): State<Services>,
    Path(endpoint_id): Path<String>,
    ApiJson(body): ApiJson<EndpointIn>,
) -> Result<Json<EndpointOut>, ApiError> {
    let (app, ep) = find(&state, &endpoint_id).await?;
    Ok(Json(
        state.send.update_endpoint(&app, ep, body.0).await?.into(),
    ))
}

#[utoipa::path(
    patch,
    path = "/api/v1/operational-webhook/endpoint/{endpoint_id}",
    tag = "operational-webhook-endpoint",
    params(("endpoint_id" = String, Path, description = "Endpoint id or uid")),
    request_body = super::endpoints::input::EndpointPatchWire,
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
    Path(endpoint_id): Path<String>,
    ApiJson(body): ApiJson<EndpointPatch>,
) -> Result<Json<EndpointOut>, ApiError> {
    let (app, ep) = find(&state, &endpoint_id).await?;
    Ok(Json(
        state.send.patch_endpoint(&app, ep, body.0).await?.into(),
    ))
}

#[utoipa::path(
    delete,
    path = "/api/v1/operational-webhook/endpoint/{endpoint_id}",
    tag = "operational-webhook-endpoint",
    params(("endpoint_id" = String, Path, description = "Endpoint id or uid")),
    responses(
        (status = 204, description = "Deleted"),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound
    ),
)]
pub(crate) async fn delete(
    State(state): State<Services>,
    Path(endpoint_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (app, ep) = find(&state, &endpoint_id).await?;
    state.send.delete_endpoint(&app, ep).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/api/v1/operational-webhook/endpoint/{endpoint_id}/secret",
    tag = "operational-webhook-endpoint",
    params(("endpoint_id" = String, Path, description = "Endpoint id or uid")),
    responses(
        (status = 200, description = "The signing secret", body = Object),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound
    ),
)]
pub(crate) async fn secret(
    State(state): State<Services>,
    Path(endpoint_id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (_, ep) = find(&state, &endpoint_id).await?;
    Ok(Json(json!({ "key": ep.secret.expose() })))
}

#[utoipa::path(
    post,
    path = "/api/v1/operational-webhook/endpoint/{endpoint_id}/secret/rotate",
    tag = "operational-webhook-endpoint",
    params(("endpoint_id" = String, Path, description = "Endpoint id or uid")),
    request_body = Option<super::endpoints::input::SecretRotateIn>,
    responses(
        (status = 200, description = "The new secret", body = Object),
        crate::api::openapi::NotJson,
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound,
        crate::api::openapi::TooLarge,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn rotate_secret(
    State(state): State<Services>,
    Path(endpoint_id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (app, ep) = find(&state, &endpoint_id).await?;
    let body = super::endpoints::parse_rotate_body(&body)?;
    let new = state.send.rotate_secret(&app.id, &ep, body).await?;
    Ok(Json(json!({ "key": new.expose() })))
}

#[utoipa::path(
    get,
    path = "/api/v1/operational-webhook/endpoint/{endpoint_id}/headers",
    tag = "operational-webhook-endpoint",
    params(("endpoint_id" = String, Path, description = "Endpoint id or uid")),
    responses(
        (status = 200, body = Object),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound
    ),
)]
pub(crate) async fn get_headers(
    State(state): State<Services>,
    Path(endpoint_id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (_, ep) = find(&state, &endpoint_id).await?;
    Ok(Json(crate::send::headers_out(&ep)))
}

#[utoipa::path(
    put,
    path = "/api/v1/operational-webhook/endpoint/{endpoint_id}/headers",
    tag = "operational-webhook-endpoint",
    params(("endpoint_id" = String, Path, description = "Endpoint id or uid")),
    request_body = super::endpoints::input::HeadersIn,
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
    Path(endpoint_id): Path<String>,
    ApiJson(body): ApiJson<HeadersIn>,
) -> Result<StatusCode, ApiError> {
    let (app, ep) = find(&state, &endpoint_id).await?;
    state
        .send
        .set_endpoint_headers(&app.id, &ep, body.into(), false)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    patch,
    path = "/api/v1/operational-webhook/endpoint/{endpoint_id}/headers",
    tag = "operational-webhook-endpoint",
    params(("endpoint_id" = String, Path, description = "Endpoint id or uid")),
    request_body = super::endpoints::input::HeadersIn,
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
    Path(endpoint_id): Path<String>,
    ApiJson(body): ApiJson<HeadersIn>,
) -> Result<StatusCode, ApiError> {
    let (app, ep) = find(&state, &endpoint_id).await?;
    state
        .send
        .set_endpoint_headers(&app.id, &ep, body.into(), true)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

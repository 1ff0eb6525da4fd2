//! `/api/v1/operational-webhook/endpoint`: where Kanca sends its operational events
//! (`endpoint.*`, `message.attempt.*`). These are endpoints of an internal application, so
//! they share the endpoint code (and the delivery engine) with every other endpoint.

use super::endpoints::{ops, resolve, EndpointIn, EndpointOut, EndpointPatch, HeadersIn};
use super::{ApiJson, ApiQuery, AppState, ListQuery, ListResponse};
use crate::domain::{Application, Endpoint};
use crate::error::ApiError;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

pub fn router() -> Router<AppState> {
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
fn ops_app(state: &AppState) -> Application {
    let now = state.clock.now();
    Application {
        id: state.ops.app_id().clone(),
        uid: None,
        name: "Operational webhooks".into(),
        throttle_rate: None,
        metadata: Default::default(),
        created_at: now,
        updated_at: now,
    }
}

async fn find(state: &AppState, endpoint_id: &str) -> Result<(Application, Endpoint), ApiError> {
    let app = ops_app(state);
    let ep = resolve(state, &app.id, endpoint_id).await?;
    Ok((app, ep))
}

async fn create(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<EndpointIn>,
) -> Result<(StatusCode, Json<EndpointOut>), ApiError> {
    let ep = ops::create(&state, &ops_app(&state), body).await?;
    Ok((StatusCode::CREATED, Json(ep.into())))
}

async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<ListResponse<EndpointOut>>, ApiError> {
    Ok(Json(ops::list(&state, state.ops.app_id(), &q).await?))
}

async fn fetch(
    State(state): State<AppState>,
    Path(endpoint_id): Path<String>,
) -> Result<Json<EndpointOut>, ApiError> {
    Ok(Json(find(&state, &endpoint_id).await?.1.into()))
}

async fn update(
    State(state): State<AppState>,
    Path(endpoint_id): Path<String>,
    ApiJson(body): ApiJson<EndpointIn>,
) -> Result<Json<EndpointOut>, ApiError> {
    let (app, ep) = find(&state, &endpoint_id).await?;
    Ok(Json(ops::update(&state, &app, ep, body).await?.into()))
}

async fn patch(
    State(state): State<AppState>,
    Path(endpoint_id): Path<String>,
    ApiJson(body): ApiJson<EndpointPatch>,
) -> Result<Json<EndpointOut>, ApiError> {
    let (app, ep) = find(&state, &endpoint_id).await?;
    Ok(Json(ops::patch(&state, &app, ep, body).await?.into()))
}

async fn delete(
    State(state): State<AppState>,
    Path(endpoint_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (app, ep) = find(&state, &endpoint_id).await?;
    ops::delete(&state, &app, ep).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn secret(
    State(state): State<AppState>,
    Path(endpoint_id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (_, ep) = find(&state, &endpoint_id).await?;
    Ok(Json(json!({ "key": ep.secret.expose() })))
}

async fn rotate_secret(
    State(state): State<AppState>,
    Path(endpoint_id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (app, ep) = find(&state, &endpoint_id).await?;
    let body = super::endpoints::parse_rotate_body(&body)?;
    let new = ops::rotate_secret(&state, &app.id, &ep, body).await?;
    Ok(Json(json!({ "key": new.expose() })))
}

async fn get_headers(
    State(state): State<AppState>,
    Path(endpoint_id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (_, ep) = find(&state, &endpoint_id).await?;
    Ok(Json(ops::headers_out(&ep)))
}

async fn put_headers(
    State(state): State<AppState>,
    Path(endpoint_id): Path<String>,
    ApiJson(body): ApiJson<HeadersIn>,
) -> Result<StatusCode, ApiError> {
    let (app, ep) = find(&state, &endpoint_id).await?;
    ops::set_headers(&state, &app.id, &ep, body, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn patch_headers(
    State(state): State<AppState>,
    Path(endpoint_id): Path<String>,
    ApiJson(body): ApiJson<HeadersIn>,
) -> Result<StatusCode, ApiError> {
    let (app, ep) = find(&state, &endpoint_id).await?;
    ops::set_headers(&state, &app.id, &ep, body, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

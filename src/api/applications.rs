//! `/api/v1/app`: applications, the tenants that own endpoints and messages.

use super::extract::double_option;
use super::{ApiJson, ApiQuery, ListQuery, ListResponse, Services};
use crate::domain::{AppId, Application, Metadata, Uid};
use crate::error::ApiError;
use crate::send::{ApplicationInput, ApplicationPatch as PatchInput};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub fn router() -> Router<Services> {
    Router::new().route("/app", get(list).post(create)).route(
        "/app/{app_id}",
        get(fetch).put(update).patch(patch).delete(delete),
    )
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApplicationIn {
    name: String,
    uid: Option<String>,
    #[serde(alias = "rateLimit")]
    throttle_rate: Option<u16>,
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    metadata: Option<Metadata>,
}

impl From<ApplicationIn> for ApplicationInput {
    fn from(a: ApplicationIn) -> Self {
        Self {
            name: a.name,
            uid: a.uid,
            throttle_rate: a.throttle_rate,
            metadata: a.metadata,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApplicationPatch {
    name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    uid: Option<Option<String>>,
    #[serde(default, alias = "rateLimit", deserialize_with = "double_option")]
    #[schema(value_type = Option<u16>)]
    throttle_rate: Option<Option<u16>>,
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    metadata: Option<Metadata>,
}

impl From<ApplicationPatch> for PatchInput {
    fn from(p: ApplicationPatch) -> Self {
        Self {
            name: p.name,
            uid: p.uid,
            throttle_rate: p.throttle_rate,
            metadata: p.metadata,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationOut {
    #[schema(value_type = String)]
    id: AppId,
    #[schema(value_type = Option<String>)]
    uid: Option<Uid>,
    name: String,
    throttle_rate: Option<u16>,
    #[schema(value_type = std::collections::HashMap<String, String>)]
    metadata: Metadata,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Application> for ApplicationOut {
    fn from(a: Application) -> Self {
        Self {
            id: a.id,
            uid: a.uid,
            name: a.name,
            throttle_rate: a.throttle_rate,
            metadata: a.metadata,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct CreateQuery {
    get_if_exists: Option<bool>,
}

#[utoipa::path(
    post,
    path = "/api/v1/app",
    tag = "application",
    params(CreateQuery),
    request_body = ApplicationIn,
    responses(
        (status = 201, body = ApplicationOut),
        (status = 200, description = "Existing, with `get_if_exists=true`", body = ApplicationOut),
        crate::api::openapi::NotJson,
        crate::api::openapi::Unauthorized,
        crate::api::openapi::Conflict,
        crate::api::openapi::TooLarge,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn create(
    State(state): State<Services>,
    ApiQuery(q): ApiQuery<CreateQuery>,
    ApiJson(body): ApiJson<ApplicationIn>,
) -> Result<(StatusCode, Json<ApplicationOut>), ApiError> {
    let get_if_exists = q.get_if_exists.unwrap_or(false);
    let (app, created) = state.send.create_app(body.into(), get_if_exists).await?;
    Ok((created_or_ok(created), Json(app.into())))
}

#[utoipa::path(
    get,
    path = "/api/v1/app",
    tag = "application",
    params(ListQuery),
    responses(
        (status = 200, body = ListResponse<ApplicationOut>),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn list(
    State(state): State<Services>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<ListResponse<ApplicationOut>>, ApiError> {
    let page = q.page(true)?;
    let rows = state.send.list_apps(&page).await?;
    Ok(Json(ListResponse::from_rows(
        rows,
        &page,
        |a| a.id.to_string(),
        ApplicationOut::from,
    )))
}

#[utoipa::path(
    get,
    path = "/api/v1/app/{app_id}",
    tag = "application",
    params(("app_id" = String, Path, description = "Application id or uid")),
    responses(
        (status = 200, body = ApplicationOut),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound
    ),
)]
pub(crate) async fn fetch(
    State(state): State<Services>,
    Path(app_id): Path<String>,
) -> Result<Json<ApplicationOut>, ApiError> {
    Ok(Json(state.send.app_fresh(&app_id).await?.into()))
}

#[utoipa::path(
    put,
    path = "/api/v1/app/{app_id}",
    tag = "application",
    params(("app_id" = String, Path, description = "Application id or uid")),
    request_body = ApplicationIn,
    responses(
        (status = 200, body = ApplicationOut),
        (status = 201, description = "Created (upsert)", body = ApplicationOut),
        crate::api::openapi::NotJson,
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound,
        crate::api::openapi::Conflict,
        crate::api::openapi::TooLarge,
        crate::api::openapi::Invalid
    ),
)]
/// A full update, or, as Svix's `upsert` does, a create when nothing has this id or uid yet:
/// the path's key becomes the new application's uid unless the body names one.
pub(crate) async fn update(
    State(state): State<Services>,
    Path(app_id): Path<String>,
    ApiJson(body): ApiJson<ApplicationIn>,
) -> Result<(StatusCode, Json<ApplicationOut>), ApiError> {
    let (app, created) = state.send.put_app(&app_id, body.into()).await?;
    Ok((created_or_ok(created), Json(app.into())))
}

fn created_or_ok(created: bool) -> StatusCode {
    if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
}

#[utoipa::path(
    patch,
    path = "/api/v1/app/{app_id}",
    tag = "application",
    params(("app_id" = String, Path, description = "Application id or uid")),
    request_body = ApplicationPatch,
    responses(
        (status = 200, body = ApplicationOut),
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
    Path(app_id): Path<String>,
    ApiJson(body): ApiJson<ApplicationPatch>,
) -> Result<Json<ApplicationOut>, ApiError> {
    Ok(Json(
        state.send.patch_app(&app_id, body.into()).await?.into(),
    ))
}

#[utoipa::path(
    delete,
    path = "/api/v1/app/{app_id}",
    tag = "application",
    params(("app_id" = String, Path, description = "Application id or uid")),
    responses(
        (status = 204, description = "Deleted"),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound
    ),
)]
pub(crate) async fn delete(
    State(state): State<Services>,
    Path(app_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.send.delete_app(&app_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The application a message names in its `application` field (Svix's "create the
/// application with the first message"), as the service takes it.
pub(crate) fn input_for_message(body: serde_json::Value) -> Result<ApplicationInput, ApiError> {
    let input: ApplicationIn = serde_json::from_value(body)
        .map_err(|e| ApiError::Validation(format!("invalid application: {e}")))?;
    Ok(input.into())
}

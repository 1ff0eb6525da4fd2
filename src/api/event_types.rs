//! `/api/v1/event-type`: the event catalog. Each type has a description and JSON Schemas with
//! examples; "send test event" delivers an example.

use super::extract::double_option;
use super::{ApiJson, ApiQuery, ListQuery, ListResponse, Services};
use crate::domain::{EventType, EventTypeName};
use crate::error::ApiError;
use crate::send::{EventTypeInput, EventTypePatch as PatchInput};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

pub fn router() -> Router<Services> {
    Router::new()
        .route("/event-type", get(list).post(create))
        .route("/event-type/import/openapi", post(import_openapi))
        .route(
            "/event-type/{name}",
            get(fetch).put(update).patch(patch).delete(delete),
        )
}

/// The body of create (with `name`) and of a full update (without).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EventTypeIn {
    name: Option<String>,
    #[serde(default)]
    description: String,
    archived: Option<bool>,
    deprecated: Option<bool>,
    schemas: Option<serde_json::Value>,
    group_name: Option<String>,
    feature_flags: Option<BTreeSet<String>>,
    /// Older clients send one flag.
    feature_flag: Option<String>,
}

impl EventTypeIn {
    fn input(self) -> EventTypeInput {
        let feature_flags = match (self.feature_flags, self.feature_flag) {
            (Some(set), _) => Some(set),
            (None, Some(one)) => Some([one].into()),
            (None, None) => None,
        };
        EventTypeInput {
            description: self.description,
            archived: self.archived,
            deprecated: self.deprecated,
            schemas: self.schemas,
            group_name: self.group_name,
            feature_flags,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EventTypePatch {
    description: Option<String>,
    archived: Option<bool>,
    deprecated: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Object>)]
    schemas: Option<Option<serde_json::Value>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    group_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Vec<String>>)]
    feature_flags: Option<Option<BTreeSet<String>>>,
}

impl From<EventTypePatch> for PatchInput {
    fn from(p: EventTypePatch) -> Self {
        Self {
            description: p.description,
            archived: p.archived,
            deprecated: p.deprecated,
            schemas: p.schemas,
            group_name: p.group_name,
            feature_flags: p.feature_flags,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeOut {
    #[schema(value_type = String)]
    name: EventTypeName,
    description: String,
    archived: bool,
    deprecated: bool,
    schemas: Option<serde_json::Value>,
    group_name: Option<String>,
    feature_flags: Option<BTreeSet<String>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<EventType> for EventTypeOut {
    fn from(e: EventType) -> Self {
        Self {
            name: e.name,
            description: e.description,
            archived: e.archived,
            deprecated: e.deprecated,
            schemas: e.schemas,
            group_name: e.group_name,
            feature_flags: e.feature_flags,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/event-type",
    tag = "event-type",
    request_body = EventTypeIn,
    responses(
        (status = 201, body = EventTypeOut),
        crate::api::openapi::NotJson,
        crate::api::openapi::Unauthorized,
        crate::api::openapi::Conflict,
        crate::api::openapi::TooLarge,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn create(
    State(state): State<Services>,
    ApiJson(body): ApiJson<EventTypeIn>,
) -> Result<(StatusCode, Json<EventTypeOut>), ApiError> {
    let name = body
        .name
        .clone()
        .ok_or_else(|| ApiError::Validation("invalid request body: missing field `name`".into()))?;
    let et = state.send.create_event_type(&name, body.input()).await?;
    Ok((StatusCode::CREATED, Json(et.into())))
}

/// Read beside [`ListQuery`] from the same query string.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ArchivedQuery {
    include_archived: Option<bool>,
}

#[utoipa::path(
    get,
    path = "/api/v1/event-type",
    tag = "event-type",
    params(ListQuery, ArchivedQuery),
    responses(
        (status = 200, body = ListResponse<EventTypeOut>),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn list(
    State(state): State<Services>,
    ApiQuery(list): ApiQuery<ListQuery>,
    ApiQuery(q): ApiQuery<ArchivedQuery>,
) -> Result<Json<ListResponse<EventTypeOut>>, ApiError> {
    let page = list.page(true)?;
    let rows = state
        .send
        .list_event_types(&page, q.include_archived.unwrap_or(false))
        .await?;
    Ok(Json(ListResponse::from_rows(
        rows,
        &page,
        |e| e.name.to_string(),
        EventTypeOut::from,
    )))
}

#[utoipa::path(
    get,
    path = "/api/v1/event-type/{event_type_name}",
    tag = "event-type",
    params(("event_type_name" = String, Path, description = "Event type name")),
    responses(
        (status = 200, body = EventTypeOut),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound
    ),
)]
pub(crate) async fn fetch(
    State(state): State<Services>,
    Path(name): Path<String>,
) -> Result<Json<EventTypeOut>, ApiError> {
    Ok(Json(state.send.event_type(&name).await?.into()))
}

/// A full update; like Svix, it creates the event type when it does not exist yet.
#[utoipa::path(
    put,
    path = "/api/v1/event-type/{event_type_name}",
    tag = "event-type",
    params(("event_type_name" = String, Path, description = "Event type name")),
    request_body = EventTypeIn,
    responses(
        (status = 200, body = EventTypeOut),
        (status = 201, description = "Created", body = EventTypeOut),
        crate::api::openapi::NotJson,
        crate::api::openapi::Unauthorized,
        crate::api::openapi::TooLarge,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn update(
    State(state): State<Services>,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<EventTypeIn>,
) -> Result<(StatusCode, Json<EventTypeOut>), ApiError> {
    let (et, created) = state.send.put_event_type(&name, body.input()).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(et.into())))
}

#[utoipa::path(
    patch,
    path = "/api/v1/event-type/{event_type_name}",
    tag = "event-type",
    params(("event_type_name" = String, Path, description = "Event type name")),
    request_body = EventTypePatch,
    responses(
        (status = 200, body = EventTypeOut),
        crate::api::openapi::NotJson,
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound,
        crate::api::openapi::TooLarge,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn patch(
    State(state): State<Services>,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<EventTypePatch>,
) -> Result<Json<EventTypeOut>, ApiError> {
    Ok(Json(
        state
            .send
            .patch_event_type(&name, body.into())
            .await?
            .into(),
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeleteQuery {
    expunge: Option<bool>,
}

/// Archives the event type (it stays in the catalog, hidden from lists by default), or with
/// `?expunge=true` removes it, as Svix does.
#[utoipa::path(
    delete,
    path = "/api/v1/event-type/{event_type_name}",
    tag = "event-type",
    params(("event_type_name" = String, Path, description = "Event type name"), DeleteQuery),
    responses(
        (status = 204, description = "Archived, or removed with `expunge=true`"),
        crate::api::openapi::Unauthorized,
        crate::api::openapi::NotFound,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn delete(
    State(state): State<Services>,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<DeleteQuery>,
) -> Result<StatusCode, ApiError> {
    state
        .send
        .delete_event_type(&name, q.expunge.unwrap_or(false))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Svix's `EventTypeImportOpenApiIn`: the document as JSON (`spec`) or as text (`specRaw`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ImportOpenApiIn {
    #[schema(value_type = Option<Object>)]
    spec: Option<serde_json::Value>,
    spec_raw: Option<String>,
    dry_run: Option<bool>,
    replace_all: Option<bool>,
}

/// Svix's `EventTypeImportOpenApiOut` (`to_modify` is snake_case there too).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ImportOpenApiOut {
    #[schema(value_type = Object)]
    data: serde_json::Value,
}

/// Creates or updates the event types an OpenAPI document's `webhooks` describe (`x-webhooks`
/// in OpenAPI 3.0), each with its request body schema as schema "1". `replaceAll` archives
/// the types the document does not name; `dryRun` changes nothing and lists what would
/// change. `specRaw` must be JSON: YAML is not read.
#[utoipa::path(
    post,
    path = "/api/v1/event-type/import/openapi",
    tag = "event-type",
    request_body = ImportOpenApiIn,
    responses(
        (status = 200, body = ImportOpenApiOut),
        crate::api::openapi::NotJson,
        crate::api::openapi::Unauthorized,
        crate::api::openapi::Conflict,
        crate::api::openapi::TooLarge,
        crate::api::openapi::Invalid
    ),
)]
pub(crate) async fn import_openapi(
    State(state): State<Services>,
    ApiJson(body): ApiJson<ImportOpenApiIn>,
) -> Result<Json<ImportOpenApiOut>, ApiError> {
    let spec = match (body.spec, body.spec_raw) {
        (Some(spec), None) => spec,
        (None, Some(raw)) => serde_json::from_str(&raw).map_err(|_| {
            ApiError::Validation("specRaw: must be a JSON document (YAML is not read)".into())
        })?,
        _ => {
            return Err(ApiError::Validation(
                "give the document as exactly one of spec or specRaw".into(),
            ))
        }
    };
    let (modified, to_modify) = state
        .send
        .import_openapi(
            &spec,
            body.dry_run.unwrap_or(false),
            body.replace_all.unwrap_or(false),
        )
        .await?;
    let mut data = serde_json::json!({ "modified": modified });
    if body.dry_run.unwrap_or(false) {
        data["to_modify"] = serde_json::to_value(to_modify).map_err(anyhow::Error::from)?;
    }
    Ok(Json(ImportOpenApiOut { data }))
}

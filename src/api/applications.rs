//! `/api/v1/app`: applications, the tenants that own endpoints and messages.

use super::extract::double_option;
use super::{ApiJson, ApiQuery, AppState, ListQuery, ListResponse};
use crate::domain::{AppId, Application, ApplicationFields, IdOrUid, Metadata, Uid};
use crate::error::ApiError;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub fn router() -> Router<AppState> {
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

impl ApplicationIn {
    fn parse(self) -> Result<ApplicationFields, ApiError> {
        Ok(ApplicationFields {
            uid: self
                .uid
                .map(|u| Uid::parse_for(AppId::PREFIX, &u))
                .transpose()?,
            name: parse_name(self.name)?,
            throttle_rate: self.throttle_rate,
            metadata: self.metadata.unwrap_or_default(),
        })
    }
}

fn parse_name(name: String) -> Result<String, ApiError> {
    if name.trim().is_empty() {
        return Err(ApiError::Validation("name must not be empty".into()));
    }
    Ok(name)
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

/// Finds an application by id or uid, or answers 404. Every call under `/app/{app}/…`
/// starts here, so found applications are remembered for [`AppCache::TTL`].
pub async fn resolve(state: &AppState, key: &str) -> Result<Application, ApiError> {
    if let Some(app) = state.apps.get(key) {
        return Ok(app);
    }
    let found = resolve_fresh(state, key).await?;
    state.apps.put(key, &found);
    Ok(found)
}

/// Finds an application in the store, bypassing the cache.
async fn resolve_fresh(state: &AppState, key: &str) -> Result<Application, ApiError> {
    let key = IdOrUid::parse(key).map_err(|_| ApiError::not_found("application"))?;
    state
        .store
        .get_app(&key)
        .await?
        .ok_or_else(|| ApiError::not_found("application"))
}

/// Recently resolved applications, by the id or uid they were asked for.
///
/// Publishing resolves the application on every message, and a database read per message
/// costs more than the rest of the request. Entries live one second: a change made on this
/// node clears them at once; one made on another node shows within the second. A message
/// for an application deleted meanwhile still fails cleanly (404): its insert breaks the
/// foreign key.
#[derive(Default)]
pub struct AppCache {
    entries: std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, Application)>>,
}

impl AppCache {
    const TTL: std::time::Duration = std::time::Duration::from_secs(1);
    /// Bounds memory: past this many keys the cache starts over.
    const MAX_ENTRIES: usize = 10_000;

    fn get(&self, key: &str) -> Option<Application> {
        let entries = self.entries.lock().expect("app cache lock");
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < Self::TTL)
            .map(|(_, app)| app.clone())
    }

    fn put(&self, key: &str, app: &Application) {
        let mut entries = self.entries.lock().expect("app cache lock");
        if entries.len() >= Self::MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key.to_owned(), (std::time::Instant::now(), app.clone()));
    }

    /// Forgets everything: applications changed (rare, so precision is not worth it).
    pub fn clear(&self) {
        self.entries.lock().expect("app cache lock").clear();
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
        (status = 400, description = "The body is not JSON", body = crate::api::openapi::ErrorOut),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::openapi::ErrorOut),
        (status = 409, description = "Conflicts with what is stored", body = crate::api::openapi::ErrorOut),
        (status = 413, description = "The body is over the limit", body = crate::api::openapi::ErrorOut),
        (status = 422, description = "Invalid input (Svix's HTTPValidationError plus `code`)", body = crate::api::openapi::ValidationErrorOut)
    ),
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<CreateQuery>,
    ApiJson(body): ApiJson<ApplicationIn>,
) -> Result<(StatusCode, Json<ApplicationOut>), ApiError> {
    let fields = body.parse()?;
    let get_if_exists = q.get_if_exists.unwrap_or(false);
    if let (true, Some(uid)) = (get_if_exists, &fields.uid) {
        let key = IdOrUid::parse(uid.as_str())?;
        if let Some(existing) = state.store.get_app(&key).await? {
            return Ok((StatusCode::OK, Json(existing.into())));
        }
    }
    let app = state.store.create_app(fields).await?;
    Ok((StatusCode::CREATED, Json(app.into())))
}

#[utoipa::path(
    get,
    path = "/api/v1/app",
    tag = "application",
    params(ListQuery),
    responses(
        (status = 200, body = ListResponse<ApplicationOut>),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::openapi::ErrorOut),
        (status = 422, description = "Invalid input (Svix's HTTPValidationError plus `code`)", body = crate::api::openapi::ValidationErrorOut)
    ),
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<ListResponse<ApplicationOut>>, ApiError> {
    let page = q.page(true)?;
    let rows = state.store.list_apps(&page).await?;
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
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::openapi::ErrorOut),
        (status = 404, description = "Not found", body = crate::api::openapi::ErrorOut)
    ),
)]
pub(crate) async fn fetch(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
) -> Result<Json<ApplicationOut>, ApiError> {
    Ok(Json(resolve_fresh(&state, &app_id).await?.into()))
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
        (status = 400, description = "The body is not JSON", body = crate::api::openapi::ErrorOut),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::openapi::ErrorOut),
        (status = 404, description = "Not found", body = crate::api::openapi::ErrorOut),
        (status = 409, description = "Conflicts with what is stored", body = crate::api::openapi::ErrorOut),
        (status = 413, description = "The body is over the limit", body = crate::api::openapi::ErrorOut),
        (status = 422, description = "Invalid input (Svix's HTTPValidationError plus `code`)", body = crate::api::openapi::ValidationErrorOut)
    ),
)]
/// A full update, or, as Svix's `upsert` does, a create when nothing has this id or uid yet:
/// the path's key becomes the new application's uid unless the body names one.
pub(crate) async fn update(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    ApiJson(mut body): ApiJson<ApplicationIn>,
) -> Result<(StatusCode, Json<ApplicationOut>), ApiError> {
    match resolve(&state, &app_id).await {
        Ok(app) => {
            // Addressed by its uid and given none: keep it, or the next upsert by that uid
            // would create a second application.
            if body.uid.is_none() && app.uid.as_ref().is_some_and(|u| u.as_str() == app_id) {
                body.uid = Some(app_id);
            }
            let fields = body.parse()?;
            if fields.uid != app.uid {
                refuse_built_in(&state, &app, "given another uid")?;
            }
            let updated = state.store.update_app(&app.id, fields).await?;
            state.apps.clear();
            Ok((StatusCode::OK, Json(updated.into())))
        }
        Err(ApiError::NotFound(_)) if Uid::parse_for(AppId::PREFIX, &app_id).is_ok() => {
            body.uid.get_or_insert(app_id);
            let created = state.store.create_app(body.parse()?).await?;
            state.apps.clear();
            Ok((StatusCode::CREATED, Json(created.into())))
        }
        Err(e) => Err(e),
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
        (status = 400, description = "The body is not JSON", body = crate::api::openapi::ErrorOut),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::openapi::ErrorOut),
        (status = 404, description = "Not found", body = crate::api::openapi::ErrorOut),
        (status = 409, description = "Conflicts with what is stored", body = crate::api::openapi::ErrorOut),
        (status = 413, description = "The body is over the limit", body = crate::api::openapi::ErrorOut),
        (status = 422, description = "Invalid input (Svix's HTTPValidationError plus `code`)", body = crate::api::openapi::ValidationErrorOut)
    ),
)]
pub(crate) async fn patch(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    ApiJson(body): ApiJson<ApplicationPatch>,
) -> Result<Json<ApplicationOut>, ApiError> {
    let app = resolve(&state, &app_id).await?;
    let built_in = refuse_built_in(&state, &app, "given another uid");
    let old_uid = app.uid.clone();
    let fields = ApplicationFields {
        uid: match body.uid {
            None => app.uid,
            Some(None) => None,
            Some(Some(u)) => Some(Uid::parse_for(AppId::PREFIX, &u)?),
        },
        name: match body.name {
            Some(n) => parse_name(n)?,
            None => app.name,
        },
        throttle_rate: body.throttle_rate.unwrap_or(app.throttle_rate),
        metadata: body.metadata.unwrap_or(app.metadata),
    };
    if fields.uid != old_uid {
        built_in?;
    }
    let updated = state.store.update_app(&app.id, fields).await?;
    state.apps.clear();
    Ok(Json(updated.into()))
}

/// The built-in `workspace` application receives the workspace's events (every channel
/// message is published into it, in the same transaction): deleting it would break every
/// channel and hook, and changing its uid would make the next start create another one.
fn refuse_built_in(state: &AppState, app: &Application, what: &str) -> Result<(), ApiError> {
    if &app.id == state.workspace.events_app() {
        return Err(ApiError::Conflict(format!(
            "the built-in `{}` application cannot be {what}: the workspace publishes its events into it",
            crate::workspace::events::APP_UID
        )));
    }
    Ok(())
}

#[utoipa::path(
    delete,
    path = "/api/v1/app/{app_id}",
    tag = "application",
    params(("app_id" = String, Path, description = "Application id or uid")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::openapi::ErrorOut),
        (status = 404, description = "Not found", body = crate::api::openapi::ErrorOut)
    ),
)]
pub(crate) async fn delete(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let app = resolve(&state, &app_id).await?;
    refuse_built_in(&state, &app, "deleted")?;
    state.store.delete_app(&app.id).await?;
    state.apps.clear();
    Ok(StatusCode::NO_CONTENT)
}

/// Creates the application a message names in its `application` field (Svix's "create the
/// application with the first message"); the path segment becomes its uid.
pub async fn create_for_message(
    state: &AppState,
    key: &str,
    body: serde_json::Value,
) -> Result<Application, ApiError> {
    let mut input: ApplicationIn = serde_json::from_value(body)
        .map_err(|e| ApiError::Validation(format!("invalid application: {e}")))?;
    if input.uid.is_none() {
        input.uid = Some(key.to_owned());
    }
    match state.store.create_app(input.parse()?).await {
        Ok(app) => Ok(app),
        // Another request created it meanwhile.
        Err(crate::store::StoreError::Conflict(_)) => resolve(state, key).await,
        Err(e) => Err(e.into()),
    }
}

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

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApplicationIn {
    name: String,
    uid: Option<String>,
    #[serde(alias = "rateLimit")]
    throttle_rate: Option<u16>,
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

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApplicationPatch {
    name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    uid: Option<Option<String>>,
    #[serde(default, alias = "rateLimit", deserialize_with = "double_option")]
    throttle_rate: Option<Option<u16>>,
    metadata: Option<Metadata>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationOut {
    id: AppId,
    uid: Option<Uid>,
    name: String,
    throttle_rate: Option<u16>,
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

/// Finds an application by id or uid, or answers 404.
pub async fn resolve(state: &AppState, key: &str) -> Result<Application, ApiError> {
    let key = IdOrUid::parse(key).map_err(|_| ApiError::not_found("application"))?;
    state
        .store
        .get_app(&key)
        .await?
        .ok_or_else(|| ApiError::not_found("application"))
}

#[derive(Debug, Deserialize)]
struct CreateQuery {
    get_if_exists: Option<bool>,
}

async fn create(
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

async fn list(
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

async fn fetch(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
) -> Result<Json<ApplicationOut>, ApiError> {
    Ok(Json(resolve(&state, &app_id).await?.into()))
}

async fn update(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    ApiJson(body): ApiJson<ApplicationIn>,
) -> Result<Json<ApplicationOut>, ApiError> {
    let app = resolve(&state, &app_id).await?;
    let fields = body.parse()?;
    Ok(Json(state.store.update_app(&app.id, fields).await?.into()))
}

async fn patch(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    ApiJson(body): ApiJson<ApplicationPatch>,
) -> Result<Json<ApplicationOut>, ApiError> {
    let app = resolve(&state, &app_id).await?;
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
    Ok(Json(state.store.update_app(&app.id, fields).await?.into()))
}

async fn delete(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let app = resolve(&state, &app_id).await?;
    state.store.delete_app(&app.id).await?;
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

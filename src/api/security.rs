//! `/api/v1/security/incidents`: refused requests to hook URLs (unknown or revoked token,
//! address not allowed), wrong admin tokens (API and console sign-in) and the temporary
//! blocks they caused. Repeats of one reason from one address within a window
//! (`KANCA_INCIDENT_WINDOW`) are one incident with a count (`hits`, `lastAt`). Paged like every
//! list (`limit`, `iterator`, newest first unless `order=ascending`). Paths are stored with any
//! token masked; tokens themselves never are.

use super::{ApiQuery, ListQuery, ListResponse, Services};
use crate::error::ApiError;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Serialize;

pub fn router() -> Router<Services> {
    Router::new().route("/security/incidents", get(list))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct IncidentOut {
    id: String,
    /// The first time in its window.
    at: DateTime<Utc>,
    /// The latest repeat.
    last_at: DateTime<Utc>,
    hits: i64,
    ip: String,
    path: String,
    reason: String,
}

async fn list(
    State(state): State<Services>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<ListResponse<IncidentOut>>, ApiError> {
    let page = q.page(false)?;
    if page
        .iterator
        .as_deref()
        .is_some_and(|i| i.parse::<i64>().is_err())
    {
        return Err(ApiError::Validation(
            "iterator must be an incident id from a previous page".into(),
        ));
    }
    let incidents = state.workspace.list_incidents(&page).await?;
    Ok(Json(ListResponse::from_rows(
        incidents,
        &page,
        |i| i.id.to_string(),
        |i| IncidentOut {
            id: i.id.to_string(),
            at: i.at,
            last_at: i.last_at,
            hits: i.hits,
            ip: i.ip,
            path: i.path,
            reason: i.reason,
        },
    )))
}

//! `/api/v1/security/incidents`: unauthorized requests to hook URLs (unknown or revoked token,
//! address not allowed) and the temporary blocks they caused, newest first. Paths are stored
//! with the token masked.

use super::{ApiQuery, AppState};
use crate::error::ApiError;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

pub fn router() -> Router<AppState> {
    Router::new().route("/security/incidents", get(list))
}

#[derive(Debug, Deserialize)]
struct IncidentsQuery {
    limit: Option<u32>,
}

#[derive(Debug, Serialize)]
struct IncidentOut {
    at: DateTime<Utc>,
    ip: String,
    path: String,
    reason: String,
}

#[derive(Debug, Serialize)]
struct IncidentsOut {
    data: Vec<IncidentOut>,
}

async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<IncidentsQuery>,
) -> Result<Json<IncidentsOut>, ApiError> {
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::Validation(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let incidents = state.workspace.list_incidents(limit).await?;
    Ok(Json(IncidentsOut {
        data: incidents
            .into_iter()
            .map(|i| IncidentOut {
                at: i.at,
                ip: i.ip,
                path: i.path,
                reason: i.reason,
            })
            .collect(),
    }))
}

//! `GET /api/v1/health`: whether this node is up and its database answers; `/health/ping`:
//! whether it answers at all. They need no token, so load balancers and uptime checks can
//! call them.

use super::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/health/ping", get(ping))
}

/// What `GET /api/v1/health` answers.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct HealthOut {
    /// `ok` or `error`.
    status: String,
    /// `ok` or `unreachable`.
    database: String,
}

/// `GET /api/v1/health/ping`: 204 while the process answers at all, as Svix's server does; it
/// asks nothing of the database, so it tells "up" from "healthy".
#[utoipa::path(
    get,
    path = "/api/v1/health/ping",
    tag = "health",
    responses(
        (status = 204, description = "The server answers")
    ),
    security(()),
)]
pub(crate) async fn ping() -> StatusCode {
    StatusCode::NO_CONTENT
}

#[utoipa::path(
    get,
    path = "/api/v1/health",
    tag = "health",
    responses(
        (status = 200, description = "Up, and the database answers", body = HealthOut),
        (status = 503, description = "The database does not answer", body = HealthOut)
    ),
    security(()),
)]
pub(crate) async fn health(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({"status": "ok", "database": "ok"})),
        ),
        Err(e) => {
            tracing::error!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "error", "database": "unreachable"})),
            )
        }
    }
}

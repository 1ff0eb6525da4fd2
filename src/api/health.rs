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

/// `GET /api/v1/health/ping`: 204 while the process answers at all, as Svix's server does; it
/// asks nothing of the database, so it tells "up" from "healthy".
async fn ping() -> StatusCode {
    StatusCode::NO_CONTENT
}

async fn health(State(state): State<AppState>) -> impl IntoResponse {
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

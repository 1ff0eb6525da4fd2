//! `GET /api/v1/health`: whether this node is up and can use its database; `/health/ping`:
//! whether it answers at all (204, as Svix's server). It needs no token,
//! so load balancers and uptime checks can call it.
//!
//! "Can use" means both: the database answers a read, and a small write that needs room (as
//! a publish does) commits. A node whose disk is full answers reads happily while every
//! publish is refused, so a read alone would report it healthy; the write probe makes the
//! check say 503 exactly while writes fail, and 200 again as soon as they succeed, without
//! waiting for traffic to find out. While real writes are failing (one failed in the last
//! few seconds), it says 503 without probing: a small probe can fit where a publish does not.

use super::Services;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

pub fn router() -> Router<Services> {
    Router::new()
        .route("/health", get(health))
        .route("/health/ping", get(ping))
}

/// While writes have failed this recently, the check reports failing without probing.
const RECENT_FAILURE: std::time::Duration = std::time::Duration::from_secs(5);

/// What `GET /api/v1/health` answers.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct HealthOut {
    /// `ok` or `error`.
    status: String,
    /// `ok`, `unreachable` or `writes_failing`.
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
        (status = 503, description = "The database does not answer, or writes fail", body = HealthOut)
    ),
    security(()),
)]
pub(crate) async fn health(State(state): State<Services>) -> impl IntoResponse {
    let read = state.store.ping().await;
    let write = match &read {
        Ok(()) if state.store.write_health().failed_within(RECENT_FAILURE) => Err(()),
        Ok(()) => state.store.probe_write().await.map_err(drop),
        Err(_) => Ok(()),
    };
    match (read, write) {
        (Ok(()), Ok(())) => (
            StatusCode::OK,
            Json(json!({"status": "ok", "database": "ok"})),
        ),
        (Err(e), _) => {
            tracing::warn!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "error", "database": "unreachable"})),
            )
        }
        // The probe has told the write health, which logs the episode once.
        (Ok(()), Err(_)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "error", "database": "writes_failing"})),
        ),
    }
}

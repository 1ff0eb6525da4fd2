//! The HTTP API under `/api/v1`: Svix-compatible sending API and Kanca's own resources; beside
//! it, Slack's Web API at `/api/{method}` ([`slack_web`]).
//!
//! One file per resource, each exposing `router()`: it turns a request into domain values,
//! makes one call into a service below ([`crate::send`], [`crate::workspace`],
//! [`crate::inspect`], [`crate::sources`]) and turns the result into Svix's answer. This module
//! holds what the routes share: bearer-token auth (the admin token, or an app portal token
//! scoped by `app_scope`), JSON and query extractors that turn bad input into clear 4xx
//! answers, keyset pagination, and idempotency keys.

pub(crate) mod app_scope;
pub(crate) mod applications;
pub(crate) mod attempts;
mod auth;
mod background_tasks;
mod bins;
mod channels;
pub(crate) mod endpoints;
pub(crate) mod event_types;
mod extract;
mod health;
mod idempotency;
mod incoming_webhooks;
mod ingest;
pub(crate) mod messages;
mod openapi;
mod operational;
mod outgoing_webhooks;
mod pagination;
mod security;
mod slack_apps;
mod slack_interact;
mod slack_web;

pub use extract::{ApiJson, ApiQuery, VerbatimJson};
pub use pagination::{ListQuery, ListResponse};

use crate::domain::portal::AppTokenSecret;
use crate::error::ApiError;
use crate::http::access::{admin_token_failed, bearer_token, client_ip};
pub(crate) use crate::services::Services;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header::CONTENT_LENGTH;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;

/// The `/api/v1` router with auth, body limits and idempotency applied.
pub fn router(state: Services) -> Router {
    let limit = state.config.max_body_bytes;
    let managed = Router::new()
        .merge(applications::router())
        .merge(auth::router())
        .merge(background_tasks::router())
        .merge(event_types::router())
        .merge(endpoints::router())
        .merge(messages::router())
        .merge(attempts::router())
        .merge(operational::router())
        .merge(bins::router())
        .merge(channels::router())
        .merge(incoming_webhooks::router())
        .merge(outgoing_webhooks::router())
        .merge(security::router())
        .merge(slack_apps::router())
        .merge(slack_interact::router())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            idempotency::replay_or_record,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            require_credentials,
        ));
    Router::new()
        .nest(
            "/api/v1",
            managed
                .merge(health::router())
                .merge(openapi::router())
                .fallback(unknown_route),
        )
        .nest(
            "/ingest/api/v1",
            ingest::router()
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    idempotency::replay_or_record,
                ))
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    require_admin_token,
                ))
                .fallback(unknown_route),
        )
        .merge(ingest::public_router())
        // Slack's Web API (`/api/chat.postMessage` …): bot tokens, Slack's bodies.
        .merge(slack_web::router())
        .merge(metrics_router(&state))
        .merge(bins::public_router())
        // Slack apps' `response_url`s: public (the URL is the credential), Slack's bodies.
        .merge(slack_interact::response_router(limit))
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            reject_oversized,
        ))
        // Public (the hook URL is the secret, so no admin token), with its own body limit that
        // answers in Slack's text/plain rather than the API's JSON.
        .merge(incoming_webhooks::services_router(limit))
        .with_state(state)
}

/// `GET /metrics`: Prometheus text. It needs the admin token like every management route
/// (Prometheus sends one with `authorization: {credentials: …}`).
async fn render_metrics(State(state): State<Services>) -> Result<Response, ApiError> {
    let health = state.store.write_health();
    state
        .metrics
        .storage_write_failures
        .set(health.failures() as i64);
    state
        .metrics
        .storage_failing
        .set(i64::from(health.is_failing()));
    // While the database is down the scrape still answers, with the last queue depths: an
    // outage is when the other figures matter most.
    match state.store.queue_depth(state.clock.now()).await {
        Ok((due, scheduled)) => {
            state.metrics.queue_due.set(due);
            state.metrics.queue_scheduled.set(scheduled);
        }
        Err(e) => tracing::debug!(error = %e, "metrics: queue depth unavailable"),
    }
    let mut response = Response::new(axum::body::Body::from(state.metrics.render()));
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(response)
}

/// A delivery-only node's routes: health and metrics, nothing that manages data.
pub fn worker_router(state: Services) -> Router {
    Router::new()
        .nest("/api/v1", health::router().fallback(unknown_route))
        .merge(metrics_router(&state))
        .with_state(state)
}

fn metrics_router(state: &Services) -> Router<Services> {
    Router::new()
        .route("/metrics", axum::routing::get(render_metrics))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            require_admin_token,
        ))
}

/// An unknown `/api/v1` route answers 401 without the token, like every management route,
/// so which routes exist is not told to someone who may not use them.
async fn unknown_route(State(state): State<Services>, req: Request) -> ApiError {
    let ip = client_ip(&state, &req);
    if let Some(wait) = state.workspace.guard().admin_blocked_for(ip) {
        return ApiError::TooManyAttempts(wait);
    }
    match bearer_token(req.headers()) {
        Some(t) if state.config.token_matches(t) => ApiError::NotFound("no such route".into()),
        Some(t) if matches!(state.send.verify_app_token(t).await, Ok(Some(_))) => {
            ApiError::NotFound("no such route".into())
        }
        Some(_) => {
            admin_token_failed(&state, ip, req.uri().path(), "wrong admin token (API)").await;
            ApiError::Authentication
        }
        None => ApiError::Authentication,
    }
}

/// `Authorization: Bearer <admin token>` on every management route.
///
/// Wrong tokens are counted per client address: past `KANCA_AUTH_FAILURE_THRESHOLD` within
/// the window, the address is answered 429 with `Retry-After` (before its token is even
/// looked at) until its block ends, and each wrong token is a security incident. A request
/// without a token is refused but not counted: it guesses nothing.
async fn require_admin_token(
    State(state): State<Services>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let ip = client_ip(&state, &req);
    if let Some(wait) = state.workspace.guard().admin_blocked_for(ip) {
        return Err(ApiError::TooManyAttempts(wait));
    }
    match bearer_token(req.headers()) {
        Some(t) if state.config.token_matches(t) => Ok(next.run(req).await),
        Some(_) => {
            admin_token_failed(&state, ip, req.uri().path(), "wrong admin token (API)").await;
            Err(ApiError::Authentication)
        }
        None => Err(ApiError::Authentication),
    }
}

/// Every management route: the admin token, or an application token (the app portal's) for
/// what [`app_scope`] lets it reach. Wrong and ended application tokens count towards the
/// address's block like wrong admin tokens. The handler learns who called from the
/// [`app_scope::Caller`] extension.
async fn require_credentials(
    State(state): State<Services>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let ip = client_ip(&state, &req);
    if let Some(wait) = state.workspace.guard().admin_blocked_for(ip) {
        return Err(ApiError::TooManyAttempts(wait));
    }
    let caller = match bearer_token(req.headers()) {
        Some(t) if state.config.token_matches(t) => app_scope::Caller::Admin,
        Some(t) if AppTokenSecret::looks_like(t) => match state.send.verify_app_token(t).await? {
            Some(token) => {
                app_scope::authorize(&state, &token, req.method(), req.uri().path()).await?;
                app_scope::Caller::App(std::sync::Arc::new(token))
            }
            None => {
                let reason = "unknown or ended application token (API)";
                admin_token_failed(&state, ip, req.uri().path(), reason).await;
                return Err(ApiError::Authentication);
            }
        },
        Some(_) => {
            admin_token_failed(&state, ip, req.uri().path(), "wrong admin token (API)").await;
            return Err(ApiError::Authentication);
        }
        None => return Err(ApiError::Authentication),
    };
    req.extensions_mut().insert(caller);
    Ok(next.run(req).await)
}

/// Refuses a body whose declared length is over the limit before reading any of it. Bodies
/// without a length (chunked) are cut off by `DefaultBodyLimit` as they stream in.
async fn reject_oversized(
    State(state): State<Services>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let limit = state.config.max_body_bytes;
    match within_declared_limit(req, limit).await {
        Some(req) => Ok(next.run(req).await),
        None => Err(ApiError::PayloadTooLarge(Some(limit))),
    }
}

/// The request back when its declared `Content-Length` (if any) is within `limit`; `None` when
/// it is over, after reading and dropping a bounded amount of the body: a client still
/// writing its body when the answer comes often sees a broken pipe instead of the 413. Past
/// the bound the connection is closed anyway, so a huge upload cannot keep us reading. Each
/// caller answers in its own protocol's words (JSON here, Slack's text on hook URLs).
pub(crate) async fn within_declared_limit(req: Request, limit: usize) -> Option<Request> {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_none_or(|n| n <= limit as u64) {
        return Some(req);
    }
    let bound = (limit * 4).min(16 * 1024 * 1024);
    let mut body = req.into_body().into_data_stream();
    let mut read = 0usize;
    while read <= bound {
        match futures::StreamExt::next(&mut body).await {
            Some(Ok(chunk)) => read += chunk.len(),
            _ => break,
        }
    }
    None
}

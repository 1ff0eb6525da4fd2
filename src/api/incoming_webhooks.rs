//! Incoming webhooks: managing them under `/api/v1/incoming-webhooks` (admin token), and the
//! public hook URL `/services/{T}/{B}/{token}`, which needs no admin token (the URL is the
//! secret) and answers in Slack's `text/plain` bodies, not the API's JSON errors.

use super::idempotency::HoldsSecret;
use super::{ApiJson, ListResponse, Services};
use crate::domain::workspace::IncomingHook;
use crate::error::ApiError;
use crate::workspace::incoming::{HookRequest, NewIncomingHook, SlackAnswer};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

pub fn router() -> Router<Services> {
    Router::new()
        .route("/incoming-webhooks", get(list).post(create))
        .route("/incoming-webhooks/{id}", get(fetch).delete(revoke))
        .route("/incoming-webhooks/{id}/regenerate", post(regenerate))
}

/// The public hook URLs, with the server's body limit (`KANCA_MAX_BODY_BYTES`).
pub fn services_router(max_body_bytes: usize) -> Router<Services> {
    Router::new()
        .route("/services/{team}/{hook}/{token}", post(receive))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(axum::middleware::from_fn(move |req, next| {
            refuse_declared_oversize(req, next, max_body_bytes)
        }))
}

/// A body declared (`Content-Length`) over the limit is refused before it is read, as on the
/// API (`super::within_declared_limit`), but with Slack's kind of answer.
async fn refuse_declared_oversize(
    req: axum::extract::Request,
    next: axum::middleware::Next,
    max: usize,
) -> Response {
    match super::within_declared_limit(req, max).await {
        Some(req) => next.run(req).await,
        None => too_large(),
    }
}

fn too_large() -> Response {
    let mut response = slack(SlackAnswer {
        status: 413,
        body: "payload_too_large",
        retry_after: None,
    });
    // The rest of the body may be unread: this connection cannot carry another request.
    response.headers_mut().insert(
        axum::http::header::CONNECTION,
        HeaderValue::from_static("close"),
    );
    response
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RateIn {
    per_second: u32,
    burst: u32,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct HookIn {
    name: String,
    channel: String,
    username: Option<String>,
    icon_emoji: Option<String>,
    icon_url: Option<String>,
    #[serde(default)]
    locked: bool,
    rate_limit: Option<RateIn>,
    #[serde(default)]
    allowed_ips: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RateOut {
    per_second: u32,
    burst: u32,
}

/// A hook as the API shows it. `url` is only present when it was just made (create,
/// regenerate): only a digest of the token is kept.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct HookOut {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    name: String,
    channel_id: String,
    username: Option<String>,
    icon_emoji: Option<String>,
    icon_url: Option<String>,
    locked: bool,
    rate_limit: Option<RateOut>,
    allowed_ips: Vec<String>,
    revoked: bool,
    created_at: DateTime<Utc>,
}

impl HookOut {
    fn new(h: IncomingHook, url: Option<String>) -> Self {
        Self {
            id: h.id.to_string(),
            url,
            name: h.name,
            channel_id: h.channel_id.to_string(),
            username: h.username,
            icon_emoji: h.icon_emoji,
            icon_url: h.icon_url,
            locked: h.locked,
            rate_limit: h.rate.map(|r| RateOut {
                per_second: r.per_second,
                burst: r.burst,
            }),
            allowed_ips: h.allowed_ips.to_strings(),
            revoked: h.revoked,
            created_at: h.created_at,
        }
    }
}

async fn create(
    State(state): State<Services>,
    ApiJson(body): ApiJson<HookIn>,
) -> Result<impl IntoResponse, ApiError> {
    let input = NewIncomingHook {
        name: body.name,
        channel: body.channel,
        username: body.username,
        icon_emoji: body.icon_emoji,
        icon_url: body.icon_url,
        locked: body.locked,
        rate: body.rate_limit.map(|r| (r.per_second, r.burst)),
        allowed_ips: body.allowed_ips,
    };
    let (hook, url) = state.workspace.create_incoming_hook(input).await?;
    Ok((
        StatusCode::CREATED,
        Extension(HoldsSecret),
        Json(HookOut::new(hook, Some(url))),
    ))
}

async fn list(State(state): State<Services>) -> Result<Json<ListResponse<HookOut>>, ApiError> {
    let hooks = state.workspace.list_incoming_hooks().await?;
    Ok(Json(ListResponse {
        data: hooks.into_iter().map(|h| HookOut::new(h, None)).collect(),
        iterator: None,
        prev_iterator: None,
        done: true,
    }))
}

async fn fetch(
    State(state): State<Services>,
    Path(id): Path<String>,
) -> Result<Json<HookOut>, ApiError> {
    Ok(Json(HookOut::new(
        state.workspace.incoming_hook(&id).await?,
        None,
    )))
}

async fn revoke(
    State(state): State<Services>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.workspace.revoke_incoming_hook(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn regenerate(
    State(state): State<Services>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let (hook, url) = state.workspace.regenerate_incoming_hook(&id).await?;
    Ok((Extension(HoldsSecret), Json(HookOut::new(hook, Some(url)))))
}

/// `POST /services/{T}/{B}/{token}`: Slack's incoming-webhook protocol. The address is the
/// connection's, unless it is a trusted proxy (`KANCA_TRUSTED_PROXIES`): anyone can send
/// `X-Forwarded-For`.
async fn receive(
    State(state): State<Services>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((team, hook, token)): Path<(String, String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return too_large()
        }
        Err(_) => {
            return slack(SlackAnswer {
                status: 400,
                body: "invalid_payload",
                retry_after: None,
            })
        }
    };
    let answer = state
        .workspace
        .receive(HookRequest {
            team: &team,
            hook: &hook,
            token: &token,
            ip: state.workspace.guard().client_ip(peer, &headers),
            path: uri.path(),
            content_type: headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()),
            body: &body,
        })
        .await;
    slack(answer)
}

fn slack(answer: SlackAnswer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (
        status,
        [(CONTENT_TYPE, "text/plain; charset=utf-8")],
        answer.body,
    )
        .into_response();
    if let Some(secs) = answer.retry_after {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

//! Slack's Web API at `/api/{method}`, as Slack serves it at `https://slack.com/api/`, so
//! `slack_sdk.WebClient(base_url=…)` and `@slack/web-api` (`slackApiUrl`) work unchanged.
//!
//! Slack's conventions, which its SDKs rely on:
//!
//! - `GET` or `POST`; arguments in the query string, a form body
//!   (`application/x-www-form-urlencoded`, where `blocks` and `attachments` are JSON text) or a
//!   JSON body (where they are lists). All three are merged, the body winning.
//! - The token as `Authorization: Bearer xoxb-…` or a `token` argument.
//! - Always HTTP 200, with `{"ok": true, …}` or `{"ok": false, "error": "<name>"}`; the one
//!   exception is the rate limit: 429 with `Retry-After` and `ratelimited`.
//! - Unknown tokens are counted per client address and recorded as security incidents, like
//!   wrong admin tokens, and an address blocked for guessing is answered `ratelimited`.
//! - Lists page with `cursor`/`limit` and answer `response_metadata.next_cursor` (empty on the
//!   last page); cursors are opaque base64, shaped as Slack's (`next_ts:…`).
//!
//! The route only translates: [`args`] reads the arguments, [`methods`] calls the workspace's
//! bot service ([`crate::workspace::bot`]) and [`shapes`] writes Slack's objects. The path
//! `/api/{method}` is beside `/api/v1/…`, not under it: axum's router prefers the literal `v1`
//! segment, and no Slack method is called `v1`.

mod args;
mod methods;
mod shapes;

use super::Services;
use crate::http::access::{admin_token_failed, bearer_token, client_ip};
use crate::workspace::bot::SlackApiError;
use args::Args;
use axum::extract::{Path, Request, State};
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

pub fn router() -> Router<Services> {
    Router::new().route("/api/{method}", get(call).post(call))
}

/// The scopes a Kanca bot token has: all that the methods here need. Slack sends them in
/// `X-OAuth-Scopes`, and some SDK helpers read it.
const SCOPES: &str = "chat:write,chat:write.customize,channels:read,channels:history,\
channels:join,channels:manage,groups:read,users:read,reactions:read,reactions:write,commands";

async fn call(State(state): State<Services>, Path(method): Path<String>, req: Request) -> Response {
    let Some(method) = methods::Method::named(&method) else {
        return answer(
            StatusCode::OK,
            json!({ "ok": false, "error": "unknown_method", "req_method": method }),
        );
    };
    // An address that has been guessing tokens (admin or bot) waits, as on the API.
    let ip = client_ip(&state, &req);
    if let Some(wait) = state.workspace.guard().admin_blocked_for(ip) {
        return rate_limited(wait);
    }
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, state.config.max_body_bytes).await else {
        return answer(
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({ "ok": false, "error": "request_too_large" }),
        );
    };
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let args = match Args::read(parts.uri.query(), content_type, &body) {
        Ok(args) => args,
        Err(code) => return error(code),
    };
    let token = bearer_token(&parts.headers).or(args.str("token"));
    let app = match state.workspace.authenticate_bot(token).await {
        Ok(app) => app,
        Err(e) => {
            if matches!(e, SlackApiError::InvalidAuth) {
                // Counted and recorded like a wrong admin token; the path holds no secret
                // (a token in the query string is not part of it).
                let reason = "unknown bot token (Slack Web API)";
                admin_token_failed(&state, ip, parts.uri.path(), reason).await;
            }
            return failure(e);
        }
    };
    if let Err(wait) = state.workspace.admit_web_api_call(&app) {
        return rate_limited(wait);
    }
    match methods::run(&state, &app, method, &args).await {
        Ok(mut body) => {
            body["ok"] = Value::Bool(true);
            let mut response = answer(StatusCode::OK, body);
            response
                .headers_mut()
                .insert("x-oauth-scopes", HeaderValue::from_static(SCOPES));
            response
        }
        Err(e) => failure(e),
    }
}

/// Slack's 429: `ratelimited`, and `Retry-After` in whole seconds (at least one).
fn rate_limited(wait: std::time::Duration) -> Response {
    let mut response = answer(
        StatusCode::TOO_MANY_REQUESTS,
        json!({ "ok": false, "error": "ratelimited" }),
    );
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(secs.max(1)));
    response
}

fn failure(e: SlackApiError) -> Response {
    if let SlackApiError::Store(store) = &e {
        tracing::error!(error = %store, "Slack Web API call failed");
    }
    error(e.code())
}

fn error(code: &str) -> Response {
    answer(StatusCode::OK, json!({ "ok": false, "error": code }))
}

/// Slack's answer: JSON, with Slack's content type.
fn answer(status: StatusCode, body: Value) -> Response {
    let text = serde_json::to_string(&body).expect("JSON values serialize");
    let mut response = (status, text).into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

//! What the buttons on an endpoint's page do. Each action calls the same function as its API
//! route, then goes back to the page with a notice (post/redirect/get, so a reload never
//! repeats it).
//!
//! "Send test event" answers JSON when the page's script asks for it (`accept:
//! application/json`): the message id and where to ask for the attempt's result, which the
//! script then shows in place. Without the script the browser goes to the message's page.
//!
//! Mounted under the console's and the portal's application base alike ([`Scope`]); each
//! action first asks the scope for its capability.

use super::endpoint_page::{find_endpoint, preview};
use super::error::PageError;
use super::form::FormFields;
use super::scope::{Param, Scope};
use crate::domain::portal::PortalAction;
use crate::domain::*;
use crate::send::{HeadersInput, SecretRotateInput};
use crate::services::Services;
use crate::store::{AttemptFilter, PageRequest};
use axum::extract::State;
use axum::http::header::ACCEPT;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{NaiveDateTime, TimeZone, Utc};
use serde_json::json;
use std::collections::BTreeMap;

/// How much of the response body the test-event result carries.
const RESULT_BODY_PREVIEW: usize = 4096;

/// Routes under an application's base (see [`Scope`]).
pub fn app_routes() -> Router<Services> {
    let ep = "/endpoints/{endpoint_id}";
    Router::new()
        .route(&format!("{ep}/state"), post(set_state))
        .route(&format!("{ep}/delete"), post(delete))
        .route(&format!("{ep}/secret/rotate"), post(rotate))
        .route(&format!("{ep}/headers"), post(headers))
        .route(&format!("{ep}/recover"), post(recover))
        .route(&format!("{ep}/test"), post(send_test))
        .route(&format!("{ep}/test/{{msg_id}}"), get(test_result))
}

fn back_to(scope: &Scope, ep: &Endpoint, notice: &str) -> Response {
    Redirect::to(&format!(
        "{}/endpoints/{}?notice={notice}",
        scope.base, ep.id
    ))
    .into_response()
}

/// The scope (after checking it may do `action`) and the endpoint the path names.
async fn target(
    state: &Services,
    scope: &Scope,
    params: &Param,
    action: PortalAction,
) -> Result<Endpoint, PageError> {
    scope.require(action)?;
    find_endpoint(state, scope, params.get("endpoint_id")).await
}

async fn delete(
    State(state): State<Services>,
    scope: Scope,
    params: Param,
) -> Result<Response, PageError> {
    let ep = target(&state, &scope, &params, PortalAction::ManageEndpoint).await?;
    state.send.delete_endpoint(&scope.app, ep).await?;
    Ok(Redirect::to(&format!("{}?notice=deleted", scope.home())).into_response())
}

async fn set_state(
    State(state): State<Services>,
    scope: Scope,
    params: Param,
    form: FormFields,
) -> Result<Response, PageError> {
    let ep = target(&state, &scope, &params, PortalAction::ManageEndpoint).await?;
    let app = &scope.app;
    let disabled = match form.text("disabled").as_str() {
        "true" => true,
        "false" => false,
        _ => {
            return Err(PageError::status(
                StatusCode::UNPROCESSABLE_ENTITY,
                "`disabled` must be true or false.",
            ))
        }
    };
    let updated = state.send.set_endpoint_disabled(app, ep, disabled).await?;
    let notice = if disabled { "disabled" } else { "enabled" };
    Ok(back_to(&scope, &updated, notice))
}

async fn rotate(
    State(state): State<Services>,
    scope: Scope,
    params: Param,
) -> Result<Response, PageError> {
    let ep = target(&state, &scope, &params, PortalAction::RotateSecret).await?;
    state
        .send
        .rotate_secret(&scope.app.id, &ep, SecretRotateInput::default())
        .await?;
    Ok(back_to(&scope, &ep, "rotated"))
}

/// The textarea's lines as a header change (see [`super::endpoint_form::header_lines`]).
fn parse_header_lines(text: &str) -> Result<BTreeMap<String, Option<String>>, PageError> {
    let lines = super::endpoint_form::header_lines(text)
        .map_err(|e| PageError::status(StatusCode::UNPROCESSABLE_ENTITY, &e))?;
    Ok(lines.into_iter().map(|(k, v)| (k, Some(v))).collect())
}

async fn headers(
    State(state): State<Services>,
    scope: Scope,
    params: Param,
    form: FormFields,
) -> Result<Response, PageError> {
    let ep = target(&state, &scope, &params, PortalAction::ManageEndpoint).await?;
    let app = &scope.app;
    let input = HeadersInput {
        headers: parse_header_lines(&form.text("headers"))?,
        delete_headers: None,
    };
    // Replace, not merge: the textarea shows them all, so what it holds is the whole set.
    state
        .send
        .set_endpoint_headers(&app.id, &ep, input, false)
        .await?;
    Ok(back_to(&scope, &ep, "headers"))
}

/// `datetime-local` sends `2026-11-23T17:05` (seconds optional); the form says it is UTC.
fn parse_local_utc(s: &str) -> Option<chrono::DateTime<Utc>> {
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .map(|t| Utc.from_utc_datetime(&t))
}

async fn recover(
    State(state): State<Services>,
    scope: Scope,
    params: Param,
    form: FormFields,
) -> Result<Response, PageError> {
    let ep = target(&state, &scope, &params, PortalAction::CreateAttempts).await?;
    let app = &scope.app;
    let since = parse_local_utc(&form.text("since")).ok_or_else(|| {
        PageError::status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Enter the time to recover from as a date and time (UTC).",
        )
    })?;
    state.send.recover(&app.id, &ep, since, None).await?;
    Ok(back_to(&scope, &ep, "recovered"))
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// Publishes the chosen event type's example to this endpoint only, through the engine.
async fn send_test(
    State(state): State<Services>,
    scope: Scope,
    params: Param,
    request_headers: HeaderMap,
    form: FormFields,
) -> Result<Response, Response> {
    let json = wants_json(&request_headers);
    let fail = |e: PageError| -> Response {
        if json {
            let (status, detail) = e.parts();
            (status, Json(json!({ "detail": detail }))).into_response()
        } else {
            e.into_response()
        }
    };
    let ep = target(&state, &scope, &params, PortalAction::CreateAttempts)
        .await
        .map_err(fail)?;
    let app = &scope.app;
    let msg = state
        .send
        .send_test(&app.id, &ep, &form.text("event_type"))
        .await
        .map_err(|e| fail(e.into()))?;
    if json {
        let result_url = format!("{}/endpoints/{}/test/{}", scope.base, ep.id, msg.id);
        Ok((
            StatusCode::ACCEPTED,
            Json(json!({ "msgId": msg.id, "resultUrl": result_url })),
        )
            .into_response())
    } else {
        Ok(Redirect::to(&format!("{}/messages/{}", scope.base, msg.id)).into_response())
    }
}

/// The latest attempt of a message to this endpoint, for the page's script.
async fn test_result(
    State(state): State<Services>,
    scope: Scope,
    params: Param,
) -> Result<Json<serde_json::Value>, PageError> {
    let ep = target(&state, &scope, &params, PortalAction::View).await?;
    let app = &scope.app;
    let msg_id =
        MessageId::parse(params.get("msg_id")).map_err(|_| PageError::not_found("message"))?;
    let filter = AttemptFilter {
        msg_id: Some(msg_id),
        endpoint_id: Some(ep.id),
        status: None,
    };
    let page = PageRequest {
        limit: 1,
        iterator: None,
        ascending: false,
    };
    let latest = state
        .store
        .list_attempts(&app.id, &filter, &page)
        .await?
        .into_iter()
        .next();
    Ok(Json(match latest {
        None => json!({ "done": false }),
        Some(a) => json!({
            "done": true,
            "success": a.status == DeliveryStatus::Success,
            "statusCode": a.response_status_code,
            "durationMs": a.response_duration_ms,
            "failureReason": a.failure_reason,
            "response": preview(&a.response, RESULT_BODY_PREVIEW),
        }),
    }))
}

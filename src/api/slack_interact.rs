//! People acting on Slack apps through the API ([`crate::workspace::interact`]): running a
//! slash command, clicking a button, reading one's ephemeral messages (admin token, Kanca's
//! JSON); and the public `response_url`s apps answer through (`/commands/…`, `/actions/…`:
//! the URL is the credential, answered in Slack's `{"ok": …}` bodies).

use super::{ApiJson, ApiQuery, ListResponse, Services};
use crate::error::ApiError;
use crate::workspace::channels::MessageView;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub fn router() -> Router<Services> {
    Router::new()
        .route("/channels/{key}/commands", post(command))
        .route("/channels/{key}/ephemeral", get(ephemeral))
        .route("/channels/{key}/messages/{ts}/actions", post(action))
}

/// The `response_url`s, public, with the server's body limit.
pub fn response_router(max_body_bytes: usize) -> Router<Services> {
    Router::new()
        .route("/commands/{team}/{app}/{token}", post(respond))
        .route("/actions/{team}/{app}/{token}", post(respond))
        .layer(DefaultBodyLimit::max(max_body_bytes))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CommandIn {
    user: String,
    command: String,
    #[serde(default)]
    text: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CommandOut {
    command: String,
    /// The app's HTTP status; `null` when it did not answer.
    status: Option<u16>,
    response_type: Option<&'static str>,
    text: Option<String>,
    message: Option<MessageView>,
    /// Slack's name for a failed command (`operation_timeout`, `http_service_error`).
    error: Option<&'static str>,
}

async fn command(
    State(state): State<Services>,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<CommandIn>,
) -> Result<Json<CommandOut>, ApiError> {
    let out = state
        .workspace
        .run_command(&key, &body.user, &body.command, &body.text)
        .await?;
    Ok(Json(CommandOut {
        command: out.command,
        status: out.status,
        response_type: out.response_type,
        text: out.text,
        message: out.message.map(MessageView::from),
        error: out.error,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EphemeralQuery {
    user: String,
}

async fn ephemeral(
    State(state): State<Services>,
    Path(key): Path<String>,
    ApiQuery(q): ApiQuery<EphemeralQuery>,
) -> Result<Json<ListResponse<MessageView>>, ApiError> {
    let messages = state.workspace.ephemeral_for(&key, &q.user).await?;
    Ok(Json(ListResponse {
        data: messages.into_iter().map(MessageView::from).collect(),
        iterator: None,
        prev_iterator: None,
        done: true,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ActionIn {
    user: String,
    action_id: String,
}

#[derive(Debug, Serialize)]
struct ActionOut {
    status: Option<u16>,
    error: Option<String>,
}

async fn action(
    State(state): State<Services>,
    Path((key, ts)): Path<(String, String)>,
    ApiJson(body): ApiJson<ActionIn>,
) -> Result<Json<ActionOut>, ApiError> {
    let out = state
        .workspace
        .click(&key, &ts, &body.user, &body.action_id)
        .await?;
    Ok(Json(ActionOut {
        status: out.status,
        error: out.error,
    }))
}

async fn respond(
    State(state): State<Services>,
    Path((_team, app, token)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
    match state
        .workspace
        .respond(&app, &token, &body, content_type)
        .await
    {
        Ok(()) => Json(json!({ "ok": true })).into_response(),
        Err(e) => (
            StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
            Json(json!({ "ok": false, "error": e.code() })),
        )
            .into_response(),
    }
}

//! `/api/v1/outgoing-webhooks`: hooks that send what people write in a channel (or what starts
//! with a trigger word) to callback URLs, Slack-style, and post the reply back.

use super::attempts::AttemptOut;
use super::idempotency::HoldsSecret;
use super::{ApiJson, ApiQuery, ListResponse, Services};
use crate::domain::workspace::{OutgoingContentType, OutgoingHook, TriggerWhen};
use crate::error::ApiError;
use crate::workspace::outgoing::NewOutgoingHook;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Extension, Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub fn router() -> Router<Services> {
    Router::new()
        .route("/outgoing-webhooks", get(list).post(create))
        .route("/outgoing-webhooks/{id}", get(fetch).delete(delete))
        .route("/outgoing-webhooks/{id}/attempts", get(attempts))
}

#[derive(Debug, Deserialize)]
struct AttemptsQuery {
    limit: Option<u32>,
}

#[derive(Debug, Serialize)]
struct AttemptsOut {
    data: Vec<AttemptOut>,
}

/// Every request made to the hook's callback URLs, newest first, as the engine recorded them
/// (status code, response, duration, failure reason).
async fn attempts(
    State(state): State<Services>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<AttemptsQuery>,
) -> Result<Json<AttemptsOut>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=250).contains(&limit) {
        return Err(ApiError::Validation(
            "limit must be between 1 and 250".into(),
        ));
    }
    let attempts = state.workspace.outgoing_attempts(&id, limit).await?;
    Ok(Json(AttemptsOut {
        data: attempts.into_iter().map(AttemptOut::from).collect(),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct HookIn {
    name: String,
    channel: Option<String>,
    #[serde(default)]
    trigger_words: Vec<String>,
    trigger_when: Option<TriggerWhen>,
    callback_urls: Vec<String>,
    content_type: Option<OutgoingContentType>,
}

/// A hook as the API shows it, with the `token` it sends and the `signingSecret` that signs
/// its requests (the receiver needs both to check them).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct HookOut {
    id: String,
    name: String,
    channel_id: Option<String>,
    trigger_words: Vec<String>,
    trigger_when: TriggerWhen,
    callback_urls: Vec<String>,
    content_type: OutgoingContentType,
    token: String,
    signing_secret: String,
    created_at: DateTime<Utc>,
}

impl From<OutgoingHook> for HookOut {
    fn from(h: OutgoingHook) -> Self {
        Self {
            id: h.id.to_string(),
            name: h.name,
            channel_id: h.channel_id.map(|c| c.to_string()),
            trigger_words: h
                .trigger_words
                .iter()
                .map(|w| w.as_str().to_owned())
                .collect(),
            trigger_when: h.trigger_when,
            callback_urls: h
                .callback_urls
                .iter()
                .map(|u| u.as_str().to_owned())
                .collect(),
            content_type: h.content_type,
            token: h.token,
            signing_secret: h.signing_secret,
            created_at: h.created_at,
        }
    }
}

async fn create(
    State(state): State<Services>,
    ApiJson(body): ApiJson<HookIn>,
) -> Result<impl IntoResponse, ApiError> {
    let hook = state
        .workspace
        .create_outgoing_hook(NewOutgoingHook {
            name: body.name,
            channel: body.channel,
            trigger_words: body.trigger_words,
            trigger_when: body.trigger_when.unwrap_or(TriggerWhen::FirstWord),
            callback_urls: body.callback_urls,
            content_type: body.content_type.unwrap_or(OutgoingContentType::Form),
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Extension(HoldsSecret),
        Json(HookOut::from(hook)),
    ))
}

async fn list(State(state): State<Services>) -> Result<Json<ListResponse<HookOut>>, ApiError> {
    let hooks = state.workspace.list_outgoing_hooks().await?;
    Ok(Json(ListResponse {
        data: hooks.into_iter().map(HookOut::from).collect(),
        iterator: None,
        prev_iterator: None,
        done: true,
    }))
}

async fn fetch(
    State(state): State<Services>,
    Path(id): Path<String>,
) -> Result<Json<HookOut>, ApiError> {
    Ok(Json(state.workspace.outgoing_hook(&id).await?.into()))
}

async fn delete(
    State(state): State<Services>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.workspace.delete_outgoing_hook(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

//! `/api/v1/channels`: the workspace's channels, their messages, people posting, and a live
//! stream of a channel's messages (Server-Sent Events, resumable with `Last-Event-ID`).
//!
//! Thin handlers over [`crate::workspace::Workspace`]; this file also maps the workspace's
//! error to the API's.

use super::{ApiJson, ApiQuery, ListQuery, ListResponse, Services};
use crate::domain::workspace::Ts;
use crate::error::ApiError;
use crate::http::sse::{self, LiveItem};
use crate::workspace::channels::{ChannelView, MessagePage, MessageView};
use crate::workspace::WorkspaceError;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

pub fn router() -> Router<Services> {
    Router::new()
        .route("/channels", get(list).post(create))
        .route("/channels/{key}", get(fetch).patch(rename))
        .route("/channels/{key}/archive", post(archive))
        .route("/channels/{key}/unarchive", post(unarchive))
        .route("/channels/{key}/messages", get(messages).post(post_message))
        .route("/channels/{key}/stream", get(stream))
}

impl From<WorkspaceError> for ApiError {
    fn from(e: WorkspaceError) -> Self {
        match e {
            WorkspaceError::NotFound(what) => Self::NotFound(what),
            WorkspaceError::Conflict(what) => Self::Conflict(what),
            WorkspaceError::Invalid(what) => Self::Validation(what),
            WorkspaceError::Archived => Self::Conflict("the channel is archived".into()),
            WorkspaceError::UrlVerification(why) => {
                Self::Coded(StatusCode::BAD_REQUEST, "url_verification_failed", why)
            }
            WorkspaceError::Coded(status, code, why) => Self::Coded(
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
                code,
                why,
            ),
            WorkspaceError::Store(e) => e.into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NameIn {
    name: String,
}

async fn create(
    State(state): State<Services>,
    ApiJson(body): ApiJson<NameIn>,
) -> Result<impl IntoResponse, ApiError> {
    let channel = state.workspace.create_channel(&body.name).await?;
    Ok((StatusCode::CREATED, Json(ChannelView::from(channel))))
}

async fn list(State(state): State<Services>) -> Result<Json<ListResponse<ChannelView>>, ApiError> {
    let channels = state.workspace.list_channels().await?;
    Ok(Json(ListResponse {
        data: channels.into_iter().map(ChannelView::from).collect(),
        iterator: None,
        prev_iterator: None,
        done: true,
    }))
}

async fn fetch(
    State(state): State<Services>,
    Path(key): Path<String>,
) -> Result<Json<ChannelView>, ApiError> {
    Ok(Json(state.workspace.channel(&key).await?.into()))
}

async fn rename(
    State(state): State<Services>,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<NameIn>,
) -> Result<Json<ChannelView>, ApiError> {
    Ok(Json(
        state
            .workspace
            .rename_channel(&key, &body.name)
            .await?
            .into(),
    ))
}

async fn archive(
    State(state): State<Services>,
    Path(key): Path<String>,
) -> Result<Json<ChannelView>, ApiError> {
    Ok(Json(state.workspace.set_archived(&key, true).await?.into()))
}

async fn unarchive(
    State(state): State<Services>,
    Path(key): Path<String>,
) -> Result<Json<ChannelView>, ApiError> {
    Ok(Json(
        state.workspace.set_archived(&key, false).await?.into(),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessagesQuery {
    // Not `#[serde(flatten)] ListQuery`: flattening loses the query string's numbers.
    limit: Option<u32>,
    iterator: Option<String>,
    order: Option<super::pagination::Order>,
    thread_ts: Option<String>,
}

/// Newest first by default, as Slack's `conversations.history`; `order=ascending` for oldest
/// first. The iterator is a message `ts`.
async fn messages(
    State(state): State<Services>,
    Path(key): Path<String>,
    ApiQuery(q): ApiQuery<MessagesQuery>,
) -> Result<Json<ListResponse<MessageView>>, ApiError> {
    let list = ListQuery {
        limit: q.limit,
        iterator: q.iterator,
        order: q.order,
    };
    let page = list.page(false)?;
    let from = page.iterator.as_deref().map(Ts::parse).transpose()?;
    let thread = q.thread_ts.as_deref().map(Ts::parse).transpose()?;
    let channel = state.workspace.channel(&key).await?;
    let rows = state
        .workspace
        .list_messages(
            &channel.id,
            &MessagePage {
                from,
                limit: page.limit,
                ascending: page.ascending,
                thread,
            },
        )
        .await?;
    Ok(Json(ListResponse::from_rows(
        rows,
        &page,
        |m| m.ts.to_string(),
        MessageView::from,
    )))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PostIn {
    user: String,
    text: String,
    thread_ts: Option<String>,
}

async fn post_message(
    State(state): State<Services>,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<PostIn>,
) -> Result<impl IntoResponse, ApiError> {
    let message = state
        .workspace
        .post_as_user(&key, &body.user, &body.text, body.thread_ts.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(MessageView::from(message))))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StreamQuery {
    last_event_id: Option<String>,
}

/// One `message` event per message, its `ts` as the event id: a client that reconnects with
/// `Last-Event-ID` gets exactly the messages after the last one it saw.
async fn stream(
    State(state): State<Services>,
    Path(key): Path<String>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<StreamQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let channel = state.workspace.channel(&key).await?;
    let after = sse::last_event_id(&headers, q.last_event_id);
    if let Some(cursor) = &after {
        Ts::parse(cursor)?;
    }
    let workspace = state.workspace.clone();
    let channel_id = channel.id.clone();
    let fetch = move |cursor: Option<String>| {
        let workspace = workspace.clone();
        let channel_id = channel_id.clone();
        sse::fetched(async move {
            let rows = workspace
                .messages_after(&channel_id, cursor.as_deref(), sse::PAGE)
                .await?;
            rows.into_iter()
                .map(|m| {
                    let id = m.ts.to_string();
                    let data = serde_json::to_string(&MessageView::from(m))
                        .map_err(|e| ApiError::Internal(e.into()))?;
                    Ok(LiveItem { id, data })
                })
                .collect::<Result<Vec<_>, ApiError>>()
        })
    };
    Ok(sse::resumable(
        &state.live,
        &format!("channel:{}", channel.id),
        "message",
        after,
        fetch,
    ))
}

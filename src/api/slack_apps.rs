//! `/api/v1/slack-apps`: Slack apps, each with a bot user and a bot token for the Web API
//! (`/api/{method}`, [`super::slack_web`]).
//!
//! The bot token is in the answer to a create and to `POST …/{id}/rotate-token`, and nowhere
//! else: Kanca keeps only its digest (so those answers are never kept for idempotency
//! replays, [`HoldsSecret`]). The signing secret is in every answer, as an outgoing
//! webhook's is: the app needs it to check Kanca's requests.

use super::idempotency::HoldsSecret;
use super::{ApiJson, ListResponse, Services};
use crate::domain::workspace::SlackApp;
use crate::error::ApiError;
use crate::workspace::apps::{CommandSpec, EventsSpec, SlackAppSpec};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

pub fn router() -> Router<Services> {
    Router::new()
        .route("/slack-apps", get(list).post(create))
        .route("/slack-apps/{id}", get(fetch).patch(update).delete(delete))
        .route("/slack-apps/{id}/rotate-token", post(rotate_token))
        .route("/slack-apps/{id}/event-attempts", get(event_attempts))
}

/// Absent stays `None`; present (`null` included) is `Some(value)`, so PATCH can tell "leave
/// it" from "clear it".
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EventsIn {
    request_url: String,
    #[serde(default)]
    event_types: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CommandIn {
    command: String,
    url: String,
    description: Option<String>,
    usage_hint: Option<String>,
}

/// A create (`name` required) or a PATCH (every field optional).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AppIn {
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    events: Option<Option<EventsIn>>,
    slash_commands: Option<Vec<CommandIn>>,
    #[serde(default, deserialize_with = "present")]
    interactivity_url: Option<Option<String>>,
}

impl From<AppIn> for SlackAppSpec {
    fn from(a: AppIn) -> Self {
        Self {
            name: a.name,
            events: a.events.map(|e| {
                e.map(|e| EventsSpec {
                    request_url: e.request_url,
                    event_types: e.event_types,
                })
            }),
            slash_commands: a.slash_commands.map(|cs| {
                cs.into_iter()
                    .map(|c| CommandSpec {
                        command: c.command,
                        url: c.url,
                        description: c.description,
                        usage_hint: c.usage_hint,
                    })
                    .collect()
            }),
            interactivity_url: a.interactivity_url,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct EventsOut {
    request_url: String,
    event_types: Vec<String>,
    /// Whether the request URL answered Slack's `url_verification` challenge.
    verified: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CommandOut {
    command: String,
    url: String,
    description: String,
    usage_hint: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AppOut {
    id: String,
    name: String,
    team_id: String,
    bot_id: String,
    bot_user_id: String,
    signing_secret: String,
    /// Slack's legacy verification token, sent as `token` in every request to the app.
    verification_token: String,
    events: Option<EventsOut>,
    slash_commands: Vec<CommandOut>,
    interactivity_url: Option<String>,
    created_at: DateTime<Utc>,
    /// Only in the answers to a create and a rotate.
    #[serde(skip_serializing_if = "Option::is_none")]
    bot_token: Option<String>,
}

fn app_out(state: &Services, a: SlackApp, bot_token: Option<String>) -> AppOut {
    let verification_token = crate::workspace::events_api::verification_token(&a);
    AppOut {
        id: a.id.to_string(),
        name: a.name,
        team_id: state.workspace.team_id().to_string(),
        bot_id: a.bot_id.to_string(),
        bot_user_id: a.bot_user_id.to_string(),
        verification_token,
        signing_secret: a.signing_secret,
        events: a.events.map(|e| EventsOut {
            request_url: e.request_url.as_str().to_owned(),
            event_types: e
                .event_types
                .iter()
                .map(|t| t.as_str().to_owned())
                .collect(),
            verified: e.verified,
        }),
        slash_commands: a
            .slash_commands
            .into_iter()
            .map(|c| CommandOut {
                command: c.command.as_str().to_owned(),
                url: c.url.as_str().to_owned(),
                description: c.description,
                usage_hint: c.usage_hint,
            })
            .collect(),
        interactivity_url: a.interactivity_url.map(|u| u.as_str().to_owned()),
        created_at: a.created_at,
        bot_token,
    }
}

async fn create(
    State(state): State<Services>,
    ApiJson(body): ApiJson<AppIn>,
) -> Result<impl IntoResponse, ApiError> {
    let created = state.workspace.create_slack_app(body.into()).await?;
    let token = created.token.expose().to_owned();
    Ok((
        StatusCode::CREATED,
        Extension(HoldsSecret),
        Json(app_out(&state, created.app, Some(token))),
    ))
}

async fn list(State(state): State<Services>) -> Result<Json<ListResponse<AppOut>>, ApiError> {
    let apps = state.workspace.list_slack_apps().await?;
    Ok(Json(ListResponse {
        data: apps.into_iter().map(|a| app_out(&state, a, None)).collect(),
        iterator: None,
        prev_iterator: None,
        done: true,
    }))
}

async fn fetch(
    State(state): State<Services>,
    Path(id): Path<String>,
) -> Result<Json<AppOut>, ApiError> {
    let app = state.workspace.slack_app(&id).await?;
    Ok(Json(app_out(&state, app, None)))
}

async fn update(
    State(state): State<Services>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AppIn>,
) -> Result<Json<AppOut>, ApiError> {
    let app = state.workspace.update_slack_app(&id, body.into()).await?;
    Ok(Json(app_out(&state, app, None)))
}

async fn delete(
    State(state): State<Services>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.workspace.delete_slack_app(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new bot token; the old one stops working at once.
async fn rotate_token(
    State(state): State<Services>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let (app, token) = state.workspace.rotate_slack_app_token(&id).await?;
    let token = token.expose().to_owned();
    Ok((
        Extension(HoldsSecret),
        Json(app_out(&state, app, Some(token))),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AttemptsQuery {
    limit: Option<u32>,
}

#[derive(Debug, Serialize)]
struct AttemptsOut {
    data: Vec<super::attempts::AttemptOut>,
}

/// Every Events API request made to the app's request URL, newest first, as the engine
/// recorded it (status code, response, duration, failure reason): retries included.
async fn event_attempts(
    State(state): State<Services>,
    Path(id): Path<String>,
    super::ApiQuery(q): super::ApiQuery<AttemptsQuery>,
) -> Result<Json<AttemptsOut>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=250).contains(&limit) {
        return Err(ApiError::Validation(
            "limit must be between 1 and 250".into(),
        ));
    }
    let app = state.workspace.slack_app(&id).await?;
    let attempts = state.workspace.slack_event_attempts(&app, limit).await?;
    Ok(Json(AttemptsOut {
        data: attempts
            .into_iter()
            .map(super::attempts::AttemptOut::from)
            .collect(),
    }))
}

//! Channels, Slack-like: the channel list (create, archive, unarchive), a channel's messages
//! with replies under their parent, a composer for the channel and for each thread, and the
//! live stream that adds new messages to an open page without a reload.
//!
//! The live stream is the API's (`http::sse::resumable` on the channel's topic), served here
//! behind the console's session because `EventSource` cannot send a bearer token; the API's
//! own stream keeps its bearer auth. Its events carry the message already rendered by
//! [`channel_message::render`] (escaped on the server), so the script only places it and never
//! builds markup from what a stranger wrote.

use super::channel_message::{self, parent_of};
use super::error::PageError;
use super::form::FormFields;
use super::layout;
use super::session::Session;
use crate::domain::workspace::{Channel, ChannelMessage, Ts};
use crate::http::sse::{self, LiveItem};
use crate::services::Services;
use crate::workspace::channels::MessagePage;
use crate::workspace::WorkspaceError;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use maud::{html, Markup};
use serde::Deserialize;
use std::collections::HashMap;

/// Who the console posts, clicks and runs commands as unless the page names someone.
const DEFAULT_PERSON: &str = "admin";

/// How many of a channel's latest messages the page shows.
const SHOWN: u32 = 100;

pub fn routes() -> Router<Services> {
    Router::new()
        .route("/channels", get(index).post(create))
        .route("/channels/{key}", get(show))
        .route("/channels/{key}/messages", post(post_message))
        .route("/channels/{key}/messages/{ts}/actions", post(click))
        .route("/channels/{key}/archive", post(archive))
        .route("/channels/{key}/unarchive", post(unarchive))
        .route("/channels/{key}/live", get(live))
}

/// A refusal of what the person typed (shown beside the form), or a fault to answer as a page.
pub fn form_refusal(e: WorkspaceError) -> Result<(StatusCode, String), PageError> {
    match e {
        WorkspaceError::Invalid(m) => Ok((StatusCode::UNPROCESSABLE_ENTITY, m)),
        WorkspaceError::Conflict(m) => Ok((StatusCode::CONFLICT, m)),
        WorkspaceError::Archived => Ok((
            StatusCode::CONFLICT,
            "The channel is archived: unarchive it to post.".into(),
        )),
        other => Err(other.into()),
    }
}

fn sidebar(
    session: &Session,
    channels: &[Channel],
    current: Option<&Channel>,
    error: Option<&str>,
    name: &str,
) -> Markup {
    html! {
        aside class="channel-list" aria-label="Channels" {
            h2 { "Channels" }
            @if channels.is_empty() { p class="muted" { "No channels yet." } }
            ul {
                @for c in channels {
                    li {
                        a href={"/channels/" (c.id)} aria-current=[current.is_some_and(|x| x.id == c.id).then_some("page")] {
                            "#" (c.name.as_str())
                        }
                        @if c.archived { " " (layout::badge("off", "archived")) }
                    }
                }
            }
            form method="post" action="/channels" class="spaced" {
                (layout::csrf_field(session))
                (layout::Field { name: "name", label: "New channel", value: name, kind: "text",
                    hint: Some("Lowercase letters, digits, - and _"), error, required: true }.render())
                button type="submit" { "Create channel" }
            }
            p class="spaced" { a href="/integrations" { "Incoming & outgoing webhooks" } }
            p { a href="/slack-apps" { "Slack apps (bots, events, slash commands)" } }
        }
    }
}

async fn index(
    State(state): State<Services>,
    Extension(session): Extension<Session>,
) -> Result<Html<String>, PageError> {
    let channels = state.workspace.list_channels().await?;
    Ok(Html(
        channels_page(&session, &channels, None, "").into_string(),
    ))
}

fn channels_page(
    session: &Session,
    channels: &[Channel],
    error: Option<&str>,
    name: &str,
) -> Markup {
    let body = html! {
        div class="chat" {
            (sidebar(session, channels, None, error, name))
            section class="chat-main" {
                h1 { "Channels" }
                p class="card muted" {
                    "Pick a channel to read its messages as they arrive, or create one. Messages come from "
                    "people (the composer, " code { "POST /api/v1/channels/{channel}/messages" } "), incoming "
                    "webhooks and outgoing-webhook replies."
                }
            }
        }
    };
    layout::page(session, "/channels", "Channels", body)
}

async fn create(
    State(state): State<Services>,
    Extension(session): Extension<Session>,
    form: FormFields,
) -> Result<Response, PageError> {
    let name = form.text("name");
    match state
        .workspace
        .create_channel(name.trim_start_matches('#'))
        .await
    {
        Ok(c) => Ok(Redirect::to(&format!("/channels/{}", c.id)).into_response()),
        Err(e) => {
            let (status, message) = form_refusal(e)?;
            let channels = state.workspace.list_channels().await?;
            let page = channels_page(&session, &channels, Some(&message), &name);
            Ok((status, Html(page.into_string())).into_response())
        }
    }
}

/// The latest messages, oldest first, with each reply placed under its parent when the
/// parent is among them.
fn thread_layout(
    messages: &[ChannelMessage],
) -> (Vec<&ChannelMessage>, HashMap<Ts, Vec<&ChannelMessage>>) {
    let shown: std::collections::HashSet<Ts> = messages.iter().map(|m| m.ts).collect();
    let mut top = Vec::new();
    let mut replies: HashMap<Ts, Vec<&ChannelMessage>> = HashMap::new();
    for m in messages {
        match parent_of(m) {
            Some(p) if shown.contains(&p) => replies.entry(p).or_default().push(m),
            _ => top.push(m),
        }
    }
    (top, replies)
}

fn composer(
    session: &Session,
    channel: &Channel,
    thread: Option<Ts>,
    error: Option<&str>,
    person: &str,
) -> Markup {
    let id = thread.map_or("compose".to_owned(), |t| {
        format!("reply-{}", t.to_string().replace('.', "-"))
    });
    html! {
        form class={"composer" @if thread.is_some() { " reply" }} method="post" action={"/channels/" (channel.id) "/messages"} {
            (layout::csrf_field(session))
            @if let Some(t) = thread { input type="hidden" name="thread_ts" value=(t.to_string()); }
            div class="row" {
                div class="field who" {
                    label for={(id) "-user"} { "Post as" }
                    input id={(id) "-user"} name="user" type="text" value=(person) required;
                }
                div class="field what" {
                    label for={(id) "-text"} { @if thread.is_some() { "Reply" } @else { "Message or /command" } }
                    textarea id={(id) "-text"} name="text" rows="2" required
                        aria-invalid=[error.map(|_| "true")] aria-describedby=[error.map(|_| format!("{id}-error"))] {}
                    @if let Some(e) = error { p id={(id) "-error"} class="field-error" role="alert" { (e) } }
                }
                div class="field send" { button type="submit" { @if thread.is_some() { "Reply" } @else { "Send" } } }
            }
        }
    }
}

fn reply_form(
    session: &Session,
    channel: &Channel,
    m: &ChannelMessage,
    person: &str,
) -> Option<Markup> {
    (!channel.archived).then(|| {
        html! {
            details class="thread" {
                summary { "Reply in thread" }
                (composer(session, channel, Some(m.ts), None, person))
            }
        }
    })
}

#[derive(Debug, Deserialize)]
struct ShowQuery {
    /// Whose ephemeral messages to show, and whom the composer posts as.
    #[serde(rename = "as")]
    person: Option<String>,
}

async fn show(
    State(state): State<Services>,
    Extension(session): Extension<Session>,
    Path(key): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Result<Response, PageError> {
    let person = q.person.as_deref().filter(|p| !p.trim().is_empty());
    channel_page(
        &state,
        &session,
        &key,
        StatusCode::OK,
        None,
        person.unwrap_or(DEFAULT_PERSON),
    )
    .await
}

async fn channel_page(
    state: &Services,
    session: &Session,
    key: &str,
    status: StatusCode,
    error: Option<&str>,
    person: &str,
) -> Result<Response, PageError> {
    let channel = state
        .workspace
        .channel(key)
        .await
        .map_err(|_| PageError::not_found("channel"))?;
    let channels = state.workspace.list_channels().await?;
    let mut messages = state
        .workspace
        .list_messages(
            &channel.id,
            &MessagePage {
                from: None,
                limit: SHOWN,
                ascending: false,
                thread: None,
            },
        )
        .await?;
    messages.reverse();
    let newest = messages
        .last()
        .map(|m| m.ts.to_string())
        .unwrap_or_default();
    let (top, replies) = thread_layout(&messages);
    let ephemeral = state
        .workspace
        .ephemeral_for(channel.id.as_str(), person)
        .await?;
    let body = html! {
        div class="chat" {
            (sidebar(session, &channels, Some(&channel), None, ""))
            section class="chat-main" {
                div class="chat-head" {
                    h1 { "#" (channel.name.as_str()) }
                    @if channel.archived { (layout::badge("off", "archived")) }
                    form method="post" action={"/channels/" (channel.id) (if channel.archived { "/unarchive" } else { "/archive" })} {
                        (layout::csrf_field(session))
                        button type="submit" class="secondary" { @if channel.archived { "Unarchive" } @else { "Archive" } }
                    }
                }
                p class="muted" { "Channel id " code { (channel.id) } ". New messages appear here as they are posted." }
                div id="messages" class="messages" aria-live="polite"
                    data-live={"/channels/" (channel.id) "/live"} data-after=(newest) {
                    @if top.is_empty() { p class="muted empty" { "No messages yet." } }
                    @for m in &top {
                        @let thread = replies.get(&m.ts).map(|rs| html! {
                            @for r in rs { (channel_message::render(r, None, None, Some(session))) }
                        });
                        @let is_parent = parent_of(m).is_none();
                        (channel_message::render(
                            m,
                            is_parent.then(|| thread.unwrap_or_default()),
                            if is_parent { reply_form(session, &channel, m, person) } else { None },
                            Some(session),
                        ))
                    }
                }
                @if !ephemeral.is_empty() {
                    section class="ephemeral" aria-label={"Only visible to " (person)} {
                        @for m in &ephemeral {
                            div class="ephemeral-msg" {
                                p class="muted" { "Only visible to " strong { (person) } }
                                (channel_message::render(m, None, None, None))
                            }
                        }
                    }
                }
                @if channel.archived {
                    p class="card muted" { "This channel is archived: unarchive it to post." }
                } @else {
                    (composer(session, &channel, None, error, person))
                }
            }
        }
    };
    let title = format!("#{}", channel.name.as_str());
    Ok((
        status,
        Html(layout::page(session, "/channels", &title, body).into_string()),
    )
        .into_response())
}

async fn post_message(
    State(state): State<Services>,
    Extension(session): Extension<Session>,
    Path(key): Path<String>,
    form: FormFields,
) -> Result<Response, PageError> {
    let channel = state
        .workspace
        .channel(&key)
        .await
        .map_err(|_| PageError::not_found("channel"))?;
    let thread = Some(form.text("thread_ts")).filter(|t| !t.is_empty());
    let text = form.text("text");
    let user = form.text("user");
    if let Some(command) = slash_command(&text) {
        return run_command(&state, &session, &channel, &user, command).await;
    }
    match state
        .workspace
        .post_as_user(
            channel.id.as_str(),
            &form.text("user"),
            &text,
            thread.as_deref(),
        )
        .await
    {
        Ok(m) => Ok(Redirect::to(&format!(
            "/channels/{}?as={}#{}",
            channel.id,
            encode(user.trim()),
            channel_message::dom_id(m.ts)
        ))
        .into_response()),
        Err(e) => {
            let (status, message) = form_refusal(e)?;
            channel_page(
                &state,
                &session,
                channel.id.as_str(),
                status,
                Some(&message),
                user.trim(),
            )
            .await
        }
    }
}

/// `/command rest…` as typed in the composer: the command and its text.
fn slash_command(text: &str) -> Option<(&str, &str)> {
    let text = text.trim();
    if !text.starts_with('/') || text.starts_with("//") {
        return None;
    }
    Some(text.split_once(char::is_whitespace).unwrap_or((text, "")))
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Runs a slash command typed in the composer, then shows the channel as the person sees it
/// (their ephemeral answers included); a command no app has is refused as Slack refuses it.
async fn run_command(
    state: &Services,
    session: &Session,
    channel: &Channel,
    user: &str,
    (command, text): (&str, &str),
) -> Result<Response, PageError> {
    match state
        .workspace
        .run_command(channel.id.as_str(), user, command, text.trim())
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!(
            "/channels/{}?as={}#messages",
            channel.id,
            encode(user.trim())
        ))
        .into_response()),
        Err(WorkspaceError::Coded(_, "command_not_found", _)) => {
            let message = format!(
                "{command} is not a valid command: no app has it. (A message that starts with \"/\" is a command, as in Slack.)"
            );
            channel_page(
                state,
                session,
                channel.id.as_str(),
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&message),
                user.trim(),
            )
            .await
        }
        Err(e) => {
            let (status, message) = form_refusal(e)?;
            channel_page(
                state,
                session,
                channel.id.as_str(),
                status,
                Some(&message),
                user.trim(),
            )
            .await
        }
    }
}

/// A click on a button of an app's message, as the person the page shows.
async fn click(
    State(state): State<Services>,
    Extension(session): Extension<Session>,
    Path((key, ts)): Path<(String, String)>,
    Query(q): Query<ShowQuery>,
    form: FormFields,
) -> Result<Response, PageError> {
    let channel = state
        .workspace
        .channel(&key)
        .await
        .map_err(|_| PageError::not_found("channel"))?;
    let person = q
        .person
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_PERSON.to_owned());
    let refusal = match state
        .workspace
        .click(channel.id.as_str(), &ts, &person, &form.text("action_id"))
        .await
    {
        Ok(outcome) => outcome
            .error
            .map(|e| format!("The app did not take the click: {e}.")),
        Err(WorkspaceError::Coded(_, _, detail)) => Some(detail),
        Err(e) => Some(form_refusal(e)?.1),
    };
    match refusal {
        None => Ok(Redirect::to(&format!(
            "/channels/{}?as={}#{}",
            channel.id,
            encode(&person),
            Ts::parse(&ts)
                .map(channel_message::dom_id)
                .unwrap_or_else(|_| "messages".into())
        ))
        .into_response()),
        Some(message) => {
            channel_page(
                &state,
                &session,
                channel.id.as_str(),
                StatusCode::CONFLICT,
                Some(&message),
                &person,
            )
            .await
        }
    }
}

async fn archive(
    State(state): State<Services>,
    Path(key): Path<String>,
) -> Result<Response, PageError> {
    set_archived(state, key, true).await
}

async fn unarchive(
    State(state): State<Services>,
    Path(key): Path<String>,
) -> Result<Response, PageError> {
    set_archived(state, key, false).await
}

async fn set_archived(state: Services, key: String, archived: bool) -> Result<Response, PageError> {
    let channel = state
        .workspace
        .channel(&key)
        .await
        .map_err(|_| PageError::not_found("channel"))?;
    state
        .workspace
        .set_archived(channel.id.as_str(), archived)
        .await?;
    Ok(Redirect::to(&format!("/channels/{}", channel.id)).into_response())
}

#[derive(Debug, Deserialize)]
struct LiveQuery {
    /// The newest message the page already shows.
    after: Option<String>,
}

/// The live event of one message: where it goes and how it looks.
#[derive(serde::Serialize)]
struct LiveMessage {
    id: String,
    /// The element id of the replies list it belongs in, for a reply.
    parent: Option<String>,
    html: String,
}

async fn live(
    State(state): State<Services>,
    Extension(session): Extension<Session>,
    Path(key): Path<String>,
    headers: HeaderMap,
    Query(q): Query<LiveQuery>,
) -> Result<Response, PageError> {
    let channel = state
        .workspace
        .channel(&key)
        .await
        .map_err(|_| PageError::not_found("channel"))?;
    let after = sse::last_event_id(&headers, q.after)
        .map(|s| Ts::parse(&s).map(|t| t.to_string()))
        .transpose()
        .map_err(|_| {
            PageError::status(
                StatusCode::UNPROCESSABLE_ENTITY,
                "`after` is not a message ts.",
            )
        })?;
    let workspace = state.workspace.clone();
    let topic = format!("channel:{}", channel.id);
    let fetch = move |cursor: Option<String>| {
        let workspace = workspace.clone();
        let channel = channel.clone();
        let session = session.clone();
        sse::fetched(async move {
            let rows = workspace
                .messages_after(&channel.id, cursor.as_deref(), sse::PAGE)
                .await?;
            Ok(rows
                .into_iter()
                .map(|m| {
                    let parent = parent_of(&m);
                    // A new thread's first message comes with its (empty) replies and composer.
                    let html = match parent {
                        Some(_) => channel_message::render(&m, None, None, Some(&session)),
                        None => channel_message::render(
                            &m,
                            Some(html! {}),
                            reply_form(&session, &channel, &m, DEFAULT_PERSON),
                            Some(&session),
                        ),
                    };
                    let event = LiveMessage {
                        id: channel_message::dom_id(m.ts),
                        parent: parent.map(channel_message::replies_id),
                        html: html.into_string(),
                    };
                    LiveItem {
                        id: m.ts.to_string(),
                        data: serde_json::to_string(&event).unwrap_or_default(),
                    }
                })
                .collect())
        })
    };
    Ok(sse::resumable(&state.live, &topic, "message", after, fetch).into_response())
}

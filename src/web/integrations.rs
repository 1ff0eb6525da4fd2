//! The workspace's webhooks: incoming webhooks (create, revoke, regenerate) and outgoing
//! webhooks (create, list, delete, and each one's attempt log).
//!
//! An incoming hook's URL holds its token, and only a digest of the token is stored: the URL
//! can be shown once, on the page that answers the create or regenerate form, and never
//! again. That page is answered directly (not through a redirect that would have to carry the
//! secret in a URL), and like every console page it is `no-store`. An outgoing hook's token
//! and signing secret are shown the same way, once, when it is created.

use super::applications::last_status;
use super::channels::form_refusal;
use super::error::PageError;
use super::form::FormFields;
use super::layout::{self, badge, Field};
use super::session::Session;
use crate::domain::workspace::{
    Channel, IncomingHook, OutgoingContentType, OutgoingHook, TriggerWhen,
};
use crate::services::Services;
use crate::workspace::incoming::NewIncomingHook;
use crate::workspace::outgoing::NewOutgoingHook;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use maud::{html, Markup};
use serde::Deserialize;

/// How many attempts an outgoing hook's page shows.
const ATTEMPTS: u32 = 50;

pub fn routes() -> Router<Services> {
    Router::new()
        .route("/integrations", get(index))
        .route("/integrations/incoming", post(create_incoming))
        .route("/integrations/incoming/{id}/revoke", post(revoke_incoming))
        .route(
            "/integrations/incoming/{id}/regenerate",
            post(regenerate_incoming),
        )
        .route("/integrations/outgoing", post(create_outgoing))
        .route("/integrations/outgoing/{id}", get(show_outgoing))
        .route("/integrations/outgoing/{id}/delete", post(delete_outgoing))
}

/// What the page shows beside the lists: a secret shown once, or a refused form.
#[derive(Default)]
struct Outcome<'a> {
    /// A heading and `(label, secret)` rows, each with a copy button.
    secrets: Option<(&'a str, Vec<(&'a str, String)>)>,
    incoming_error: Option<String>,
    outgoing_error: Option<String>,
    form: FormFields,
    notice: Option<&'a str>,
}

fn channel_name(channels: &[Channel], id: &crate::domain::workspace::ChannelId) -> String {
    channels
        .iter()
        .find(|c| &c.id == id)
        .map_or_else(|| id.to_string(), |c| format!("#{}", c.name.as_str()))
}

fn channel_select(
    name: &str,
    id: &str,
    label: &str,
    channels: &[Channel],
    chosen: &str,
    optional: bool,
) -> Markup {
    html! {
        div class="field" {
            label for=(id) { (label) }
            select id=(id) name=(name) {
                @if optional { option value="" { "Any channel" } }
                @for c in channels.iter().filter(|c| !c.archived) {
                    option value=(c.id) selected[chosen == c.id.as_str()] { "#" (c.name.as_str()) }
                }
            }
        }
    }
}

fn secrets_card(heading: &str, rows: &[(&str, String)]) -> Markup {
    html! {
        section class="card notice secret" role="status" {
            h2 { (heading) }
            p { "Copy it now: it is shown only this once." }
            @for (i, (label, value)) in rows.iter().enumerate() {
                div class="field" {
                    label for={"secret-" (i)} { (label) }
                    div class="copy-row" {
                        input id={"secret-" (i)} type="text" readonly value=(value) class="mono secret-value";
                        button type="button" class="secondary" data-copy=(value) hidden { "Copy" }
                    }
                }
            }
        }
    }
}

fn incoming_table(session: &Session, hooks: &[IncomingHook], channels: &[Channel]) -> Markup {
    html! {
        @if hooks.is_empty() { p class="card muted" { "No incoming webhooks yet." } }
        @else {
            div class="table-wrap" {
                table {
                    caption class="visually-hidden" { "Incoming webhooks" }
                    thead { tr { th { "Name" } th { "Channel" } th { "Posts as" } th { "State" } th { "Created" } th { span class="visually-hidden" { "Actions" } } } }
                    tbody {
                        @for h in hooks {
                            tr {
                                td { (h.name) br; span class="mono muted" { (h.id) } }
                                td { (channel_name(channels, &h.channel_id)) }
                                td { (h.username.as_deref().unwrap_or(&h.name)) @if h.locked { " " span class="muted" { "(locked)" } } }
                                td { @if h.revoked { (badge("off", "revoked")) } @else { (badge("ok", "active")) } }
                                td { (layout::time(h.created_at)) }
                                td {
                                    @if !h.revoked {
                                        div class="actions" {
                                            form method="post" action={"/integrations/incoming/" (h.id) "/regenerate"} {
                                                (layout::csrf_field(session))
                                                button type="submit" class="secondary" aria-label={"New URL for " (h.name)} { "New URL" }
                                            }
                                            form method="post" action={"/integrations/incoming/" (h.id) "/revoke"} {
                                                (layout::csrf_field(session))
                                                button type="submit" class="danger" aria-label={"Revoke " (h.name)} { "Revoke" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn outgoing_table(session: &Session, hooks: &[OutgoingHook], channels: &[Channel]) -> Markup {
    html! {
        @if hooks.is_empty() { p class="card muted" { "No outgoing webhooks yet." } }
        @else {
            div class="table-wrap" {
                table {
                    caption class="visually-hidden" { "Outgoing webhooks" }
                    thead { tr { th { "Name" } th { "Channel" } th { "Trigger words" } th { "Callback URLs" } th { span class="visually-hidden" { "Actions" } } } }
                    tbody {
                        @for h in hooks {
                            tr {
                                td { a href={"/integrations/outgoing/" (h.id)} { (h.name) } }
                                td { @match &h.channel_id { Some(c) => (channel_name(channels, c)), None => span class="muted" { "any" } } }
                                td {
                                    @for (i, w) in h.trigger_words.iter().enumerate() { @if i > 0 { ", " } code { (w.as_str()) } }
                                    @if !h.trigger_words.is_empty() { " " span class="muted" { "(" (h.trigger_when.as_str().replace('_', " ")) ")" } }
                                }
                                td { @for u in &h.callback_urls { div class="mono" { (u.as_str()) } } }
                                td {
                                    form method="post" action={"/integrations/outgoing/" (h.id) "/delete"} {
                                        (layout::csrf_field(session))
                                        button type="submit" class="danger" aria-label={"Delete " (h.name)} { "Delete" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

async fn render(
    state: &Services,
    session: &Session,
    status: StatusCode,
    outcome: Outcome<'_>,
) -> Result<Response, PageError> {
    let channels = state.workspace.list_channels().await?;
    let incoming = state.workspace.list_incoming_hooks().await?;
    let outgoing = state.workspace.list_outgoing_hooks().await?;
    let f = &outcome.form;
    let text = |name: &str| f.text(name);
    let body = html! {
        p class="muted" { a href="/channels" { "Channels" } " /" }
        h1 { "Webhooks of the workspace" }
        @if let Some(n) = outcome.notice { p class="notice" role="status" { (n) } }
        @if let Some((heading, rows)) = &outcome.secrets { (secrets_card(heading, rows)) }
        h2 { "Incoming webhooks" }
        p class="muted" { "Anyone holding a hook's URL can post into its channel, as Slack's incoming webhooks." }
        (incoming_table(session, &incoming, &channels))
        @if channels.iter().all(|c| c.archived) {
            p class="card muted" { a href="/channels" { "Create a channel" } " to add an incoming webhook." }
        } @else {
            form class="card spaced" method="post" action="/integrations/incoming" {
                (layout::csrf_field(session))
                h3 { "Add an incoming webhook" }
                @if let Some(e) = &outcome.incoming_error { p class="form-error" role="alert" id="incoming-error" { (e) } }
                div class="row top" {
                    (Field { name: "name", label: "Name", value: &text("name"), kind: "text", hint: None, error: None, required: true }.render())
                    (channel_select("channel", "in-channel", "Channel", &channels, &text("channel"), false))
                }
                div class="row top" {
                    (Field { name: "username", label: "Posts as (optional)", value: &text("username"), kind: "text", hint: None, error: None, required: false }.render())
                    (Field { name: "icon_emoji", label: "Icon emoji (optional)", value: &text("icon_emoji"), kind: "text", hint: Some(":robot_face:"), error: None, required: false }.render())
                }
                div class="field" { label { input type="checkbox" name="locked" value="yes" checked[text("locked") == "yes"]; " Locked: senders cannot change the channel, name or icon" } }
                button type="submit" { "Add incoming webhook" }
            }
        }
        h2 { "Outgoing webhooks" }
        p class="muted" { "Messages that people post (in a channel, or starting with a trigger word) are sent to the callback URLs, signed with " code { "X-Slack-Signature" } "; a JSON reply with " code { "text" } " is posted back." }
        (outgoing_table(session, &outgoing, &channels))
        form class="card spaced" method="post" action="/integrations/outgoing" {
            (layout::csrf_field(session))
            h3 { "Add an outgoing webhook" }
            @if let Some(e) = &outcome.outgoing_error { p class="form-error" role="alert" id="outgoing-error" { (e) } }
            div class="row top" {
                (Field { name: "name", label: "Name", value: &text("name"), kind: "text", hint: None, error: None, required: true }.render())
                (channel_select("channel", "out-channel", "Channel", &channels, &text("channel"), true))
            }
            div class="row top" {
                (Field { name: "trigger_words", label: "Trigger words", value: &text("trigger_words"), kind: "text", hint: Some("Comma-separated; leave empty to fire on every message of the channel"), error: None, required: false }.render())
                div class="field" {
                    label for="out-when" { "Trigger when" }
                    select id="out-when" name="trigger_when" {
                        option value="first_word" selected[text("trigger_when") != "starts_with"] { "the first word is a trigger word" }
                        option value="starts_with" selected[text("trigger_when") == "starts_with"] { "the message starts with one" }
                    }
                }
            }
            div class="field" {
                label for="out-urls" { "Callback URLs" }
                textarea id="out-urls" name="callback_urls" rows="2" required aria-describedby="out-urls-hint" { (text("callback_urls")) }
                p class="hint" id="out-urls-hint" { "One per line." }
            }
            div class="field" {
                label for="out-type" { "Body" }
                select id="out-type" name="content_type" {
                    option value="form" selected[text("content_type") != "json"] { "Form fields, as Slack sends them" }
                    option value="json" selected[text("content_type") == "json"] { "JSON" }
                }
            }
            button type="submit" { "Add outgoing webhook" }
        }
    };
    let page = layout::page(session, "/channels", "Webhooks of the workspace", body);
    Ok((status, Html(page.into_string())).into_response())
}

#[derive(Debug, Deserialize)]
struct IndexQuery {
    notice: Option<String>,
}

async fn index(
    State(state): State<Services>,
    Extension(session): Extension<Session>,
    Query(q): Query<IndexQuery>,
) -> Result<Response, PageError> {
    let notice = match q.notice.as_deref() {
        Some("revoked") => {
            Some("The incoming webhook is revoked: its URL answers 403 invalid_token.")
        }
        Some("deleted") => Some("The outgoing webhook is deleted."),
        _ => None,
    };
    render(
        &state,
        &session,
        StatusCode::OK,
        Outcome {
            notice,
            ..Default::default()
        },
    )
    .await
}

async fn create_incoming(
    State(state): State<Services>,
    Extension(session): Extension<Session>,
    form: FormFields,
) -> Result<Response, PageError> {
    let input = NewIncomingHook {
        name: form.text("name"),
        channel: form.text("channel"),
        username: Some(form.text("username")),
        icon_emoji: Some(form.text("icon_emoji")),
        locked: form.text("locked") == "yes",
        ..Default::default()
    };
    match state.workspace.create_incoming_hook(input).await {
        Ok((_, url)) => {
            let outcome = Outcome {
                secrets: Some(("Incoming webhook added", vec![("Webhook URL", url)])),
                ..Default::default()
            };
            render(&state, &session, StatusCode::OK, outcome).await
        }
        Err(crate::workspace::WorkspaceError::NotFound(_)) => {
            refused_incoming(
                &state,
                &session,
                form,
                StatusCode::UNPROCESSABLE_ENTITY,
                "Choose a channel.".into(),
            )
            .await
        }
        Err(e) => {
            let (status, message) = form_refusal(e)?;
            refused_incoming(&state, &session, form, status, message).await
        }
    }
}

async fn refused_incoming(
    state: &Services,
    session: &Session,
    form: FormFields,
    status: StatusCode,
    message: String,
) -> Result<Response, PageError> {
    let outcome = Outcome {
        incoming_error: Some(message),
        form,
        ..Default::default()
    };
    render(state, session, status, outcome).await
}

async fn revoke_incoming(
    State(state): State<Services>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    state.workspace.revoke_incoming_hook(&id).await?;
    Ok(Redirect::to("/integrations?notice=revoked").into_response())
}

async fn regenerate_incoming(
    State(state): State<Services>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let (_, url) = state.workspace.regenerate_incoming_hook(&id).await?;
    let outcome = Outcome {
        secrets: Some((
            "New URL: the old one no longer works",
            vec![("Webhook URL", url)],
        )),
        ..Default::default()
    };
    render(&state, &session, StatusCode::OK, outcome).await
}

async fn create_outgoing(
    State(state): State<Services>,
    Extension(session): Extension<Session>,
    form: FormFields,
) -> Result<Response, PageError> {
    let input = NewOutgoingHook {
        name: form.text("name"),
        channel: Some(form.text("channel")).filter(|c| !c.is_empty()),
        trigger_words: form
            .text("trigger_words")
            .split(',')
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect(),
        trigger_when: if form.text("trigger_when") == "starts_with" {
            TriggerWhen::StartsWith
        } else {
            TriggerWhen::FirstWord
        },
        callback_urls: form
            .text("callback_urls")
            .lines()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
            .collect(),
        content_type: if form.text("content_type") == "json" {
            OutgoingContentType::Json
        } else {
            OutgoingContentType::Form
        },
    };
    match state.workspace.create_outgoing_hook(input).await {
        Ok(hook) => {
            let outcome = Outcome {
                secrets: Some((
                    "Outgoing webhook added",
                    vec![
                        ("Token (sent in every request)", hook.token),
                        ("Signing secret", hook.signing_secret),
                    ],
                )),
                ..Default::default()
            };
            render(&state, &session, StatusCode::OK, outcome).await
        }
        Err(e) => {
            let (status, message) = match e {
                crate::workspace::WorkspaceError::NotFound(_) => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Choose a channel.".to_owned(),
                ),
                e => form_refusal(e)?,
            };
            let outcome = Outcome {
                outgoing_error: Some(message),
                form,
                ..Default::default()
            };
            render(&state, &session, status, outcome).await
        }
    }
}

async fn delete_outgoing(
    State(state): State<Services>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    state.workspace.delete_outgoing_hook(&id).await?;
    Ok(Redirect::to("/integrations?notice=deleted").into_response())
}

async fn show_outgoing(
    State(state): State<Services>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Result<Html<String>, PageError> {
    let hook = state.workspace.outgoing_hook(&id).await?;
    let attempts = state.workspace.outgoing_attempts(&id, ATTEMPTS).await?;
    let channels = state.workspace.list_channels().await?;
    let body = html! {
        p class="muted" { a href="/channels" { "Channels" } " / " a href="/integrations" { "Webhooks" } " /" }
        h1 { (hook.name) }
        dl class="facts card" {
            dt { "Id" } dd class="mono" { (hook.id) }
            dt { "Channel" } dd { @match &hook.channel_id { Some(c) => (channel_name(&channels, c)), None => "any" } }
            dt { "Trigger words" } dd { @for (i, w) in hook.trigger_words.iter().enumerate() { @if i > 0 { ", " } code { (w.as_str()) } } }
            dt { "Body" } dd { (hook.content_type.as_str()) }
            dt { "Callback URLs" } dd { @for u in &hook.callback_urls { div class="mono" { (u.as_str()) } } }
            dt { "Created" } dd { (layout::time(hook.created_at)) }
        }
        h2 { "Attempts" }
        @if attempts.is_empty() { p class="card muted" { "No attempts yet: nothing has triggered it." } }
        @else {
            div class="table-wrap" {
                table {
                    thead { tr { th { "Time" } th { "Result" } th { "Latency" } th { "URL" } th { "Response" } } }
                    tbody {
                        @for a in &attempts {
                            tr {
                                td { (layout::time(a.created_at)) }
                                td { (last_status(a)) }
                                td { (a.response_duration_ms) " ms" }
                                td class="mono" { (a.url) }
                                td { @if a.response.is_empty() { span class="muted" { "(empty)" } } @else { details { summary { (a.response.len()) " bytes" } pre { (a.response) } } } }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(Html(
        layout::page(&session, "/channels", &hook.name, body).into_string(),
    ))
}

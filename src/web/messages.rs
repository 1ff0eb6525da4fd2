//! Messages: search an application's messages by event type, id or time, and see one
//! message's payload, its delivery to each endpoint and every attempt, with resend. One
//! message's page and resend are shared with the app portal ([`Scope`]).

use super::applications::{find, LIST_LIMIT};
use super::endpoint_page::attempts_table;
use super::error::PageError;
use super::form::FormFields;
use super::layout::{self, badge};
use super::scope::{Param, Scope, Section};
use super::session::Session;
use crate::domain::portal::PortalAction;
use crate::domain::*;
use crate::services::Services;
use crate::store::{AttemptFilter, MessageFilter, PageRequest};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use chrono::{NaiveDateTime, TimeZone, Utc};
use maud::html;
use serde::Deserialize;

/// How many messages a search shows.
const RESULTS: u32 = 50;

pub fn routes() -> Router<Services> {
    Router::new().route("/messages", get(search))
}

/// Routes under an application's base (see [`Scope`]).
pub fn app_routes() -> Router<Services> {
    Router::new()
        .route("/messages/{msg_id}", get(show))
        .route("/messages/{msg_id}/resend/{endpoint_id}", post(resend))
}

#[derive(Debug, Default, Deserialize)]
struct SearchQuery {
    app: Option<String>,
    event_type: Option<String>,
    id: Option<String>,
    after: Option<String>,
    before: Option<String>,
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// A `datetime-local` value (UTC), or a full RFC 3339 time.
pub(crate) fn parse_time(s: &str) -> Option<chrono::DateTime<Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .map(|t| Utc.from_utc_datetime(&t))
}

async fn search(
    State(state): State<Services>,
    Extension(session): Extension<Session>,
    Query(q): Query<SearchQuery>,
) -> Result<Response, PageError> {
    let apps = state
        .store
        .list_apps(&PageRequest {
            limit: LIST_LIMIT,
            iterator: None,
            ascending: false,
        })
        .await?;
    let chosen = match non_empty(&q.app) {
        Some(key) => Some(find(&state, key).await?),
        None => apps.first().cloned(),
    };
    let mut problems = Vec::new();
    let event_type = non_empty(&q.event_type)
        .and_then(|t| EventTypeName::parse(t).map_err(|e| problems.push(e.0)).ok());
    let mut times = [None, None];
    for (slot, (raw, label)) in times
        .iter_mut()
        .zip([(&q.after, "From"), (&q.before, "Until")])
    {
        if let Some(s) = non_empty(raw) {
            *slot = parse_time(s);
            if slot.is_none() {
                problems.push(format!("{label}: enter a date and time."));
            }
        }
    }
    let mut results = Vec::new();
    if let (Some(app), true) = (&chosen, problems.is_empty()) {
        if let Some(id) = non_empty(&q.id) {
            // An id names one message: show it, or nothing.
            if let Ok(m) = state.send.message(&app.id, id).await {
                results.push(m);
            }
        } else {
            let filter = MessageFilter {
                event_types: event_type.map(|t| vec![t]),
                channel: None,
                after: times[0],
                before: times[1],
                status: None,
            };
            let page = PageRequest {
                limit: RESULTS,
                iterator: None,
                ascending: false,
            };
            results = state.send.list_messages(&app.id, &page, &filter).await?;
        }
    }
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    let body = html! {
        h1 { "Messages" }
        @if apps.is_empty() {
            p class="card" { "No applications yet: " a href="/apps" { "add one" } " first." }
        } @else {
            form class="card" method="get" action="/messages" role="search" aria-label="Search messages" {
                div class="row" {
                    div class="field" {
                        label for="s-app" { "Application" }
                        select id="s-app" name="app" {
                            @for a in &apps {
                                option value=(a.id) selected[chosen.as_ref().is_some_and(|c| c.id == a.id)] { (a.name) }
                            }
                        }
                    }
                    div class="field" { label for="s-type" { "Event type" } input id="s-type" name="event_type" type="text" value=(value(&q.event_type)); }
                    div class="field" { label for="s-id" { "Message id" } input id="s-id" name="id" type="text" value=(value(&q.id)); }
                }
                div class="row" {
                    div class="field" { label for="s-after" { "From (UTC)" } input id="s-after" name="after" type="datetime-local" value=(value(&q.after)); }
                    div class="field" { label for="s-before" { "Until (UTC)" } input id="s-before" name="before" type="datetime-local" value=(value(&q.before)); }
                    div class="field" { button type="submit" { "Search" } }
                }
                @for p in &problems { p class="field-error" role="alert" { (p) } }
            }
            @if let Some(app) = &chosen {
                @if results.is_empty() { p class="card muted" { "No messages match." } }
                @else {
                    div class="table-wrap" {
                        table {
                            caption class="visually-hidden" { "Messages of " (app.name) }
                            thead { tr { th { "Message" } th { "Event type" } th { "Event id" } th { "Created" } } }
                            tbody {
                                @for m in &results {
                                    tr {
                                        td { a class="mono" href={"/apps/" (app.id) "/messages/" (m.id)} { (m.id) } }
                                        td class="mono" { (m.event_type) }
                                        td class="mono" { @if let Some(e) = &m.event_id { (e) } }
                                        td { (layout::time(m.created_at)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    let status = if problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((
        status,
        Html(layout::page(&session, "/messages", "Messages", body).into_string()),
    )
        .into_response())
}

pub fn status_badge(s: DeliveryStatus) -> maud::Markup {
    let kind = match s {
        DeliveryStatus::Success => "ok",
        DeliveryStatus::Fail => "bad",
        DeliveryStatus::Canceled => "off",
        DeliveryStatus::Pending | DeliveryStatus::Sending => "warn",
    };
    badge(kind, s.text())
}

async fn show(
    State(state): State<Services>,
    scope: Scope,
    params: Param,
) -> Result<Html<String>, PageError> {
    let app = &scope.app;
    let msg = state
        .send
        .message(&app.id, params.get("msg_id"))
        .await
        .map_err(|_| PageError::not_found("message"))?;
    let all = PageRequest {
        limit: LIST_LIMIT,
        iterator: None,
        ascending: false,
    };
    let destinations = state
        .store
        .message_destinations(&app.id, &msg.id, &all)
        .await?;
    let attempts = state
        .store
        .list_attempts(
            &app.id,
            &AttemptFilter {
                msg_id: Some(msg.id.clone()),
                endpoint_id: None,
                status: None,
            },
            &all,
        )
        .await?;
    // Indented within the page budget (deep nesting amplifies); past it, shown as stored.
    let payload = msg.payload.as_deref().map(|p| {
        super::pretty_json::pretty_within(p, super::pretty_json::Budget::PAGE)
            .unwrap_or_else(|_| p.to_owned())
    });
    let back = format!("{}/messages/{}", scope.base, msg.id);
    let can_resend = scope.can(PortalAction::CreateAttempts);
    let body = html! {
        p class="muted" { (scope.crumbs()) " " a href=(scope.messages_href()) { "Messages" } " /" }
        h1 class="mono" { (msg.id) }
        dl class="facts card" {
            dt { "Event type" } dd class="mono" { (msg.event_type) }
            @if let Some(e) = &msg.event_id { dt { "Event id" } dd class="mono" { (e) } }
            @if let Some(c) = &msg.channels { dt { "Channels" } dd { @for (i, n) in c.iter().enumerate() { @if i > 0 { ", " } code { (n) } } } }
            dt { "Created" } dd { (layout::time(msg.created_at)) }
        }
        h2 { "Payload" }
        @match &payload { Some(p) => { pre { (p) } }, None => { p class="card muted" { "The payload has expired (retention period)." } } }
        h2 { "Deliveries" }
        @if destinations.is_empty() { p class="card muted" { "No endpoint subscribed to this message." } }
        @else {
            div class="table-wrap" {
                table {
                    thead { tr { th { "Endpoint" } th { "Status" } th { "Next attempt" } th { span class="visually-hidden" { "Actions" } } } }
                    tbody {
                        @for d in &destinations {
                            tr {
                                td { a class="mono" href={(scope.base) "/endpoints/" (d.endpoint.id)} { (d.endpoint.fields.url.as_str()) } }
                                td { (status_badge(d.status)) }
                                td { @if let Some(t) = d.next_attempt_at { (layout::time(t)) } @else { span class="muted" { "—" } } }
                                td {
                                    @if can_resend {
                                        form method="post" action={(back) "/resend/" (d.endpoint.id)} {
                                            (scope.csrf_field())
                                            input type="hidden" name="back" value=(back);
                                            button type="submit" class="secondary" aria-label={"Resend to " (d.endpoint.fields.url.as_str())} { "Resend" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Attempts" }
        @if attempts.is_empty() { p class="card muted" { "No attempts yet." } }
        @else { (attempts_table(&scope, &attempts, &back, true)) }
    };
    Ok(Html(
        scope
            .page(Section::Messages, msg.id.as_str(), body)
            .into_string(),
    ))
}

/// Queues a message for one endpoint again (the API's resend), then goes back where the
/// button was: `back` is only followed when it is a console path.
async fn resend(
    State(state): State<Services>,
    scope: Scope,
    params: Param,
    form: FormFields,
) -> Result<Response, PageError> {
    scope.require(PortalAction::CreateAttempts)?;
    let app = &scope.app;
    let msg = state
        .send
        .message(&app.id, params.get("msg_id"))
        .await
        .map_err(|_| PageError::not_found("message"))?;
    let ep = state
        .send
        .endpoint(&app.id, params.get("endpoint_id"))
        .await
        .map_err(|_| PageError::not_found("endpoint"))?;
    state.send.resend(&app.id, &msg, &ep.id).await?;
    let back = form.text("back");
    let inside = back.starts_with(&format!("{}/", scope.base));
    let target = if inside && !back.contains("//") && !back.contains('?') {
        format!("{back}?notice=resent")
    } else {
        format!("{}/messages/{}", scope.base, msg.id)
    };
    Ok(Redirect::to(&target).into_response())
}

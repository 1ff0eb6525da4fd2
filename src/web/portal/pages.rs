//! The portal's own pages: its application's endpoints with their health, the message log
//! and the event catalog. The rest (an endpoint, the add form, a message) are the console's
//! pages under the portal's [`Scope`].

use crate::domain::portal::PortalAction;
use crate::domain::EventTypeName;
use crate::services::Services;
use crate::store::{MessageFilter, PageRequest};
use crate::web::applications::{last_status, Health};
use crate::web::error::PageError;
use crate::web::layout::{self, badge};
use crate::web::scope::{Scope, Section};
use axum::extract::{Query, State};
use axum::response::Html;
use axum::routing::get;
use axum::Router;
use maud::html;
use serde::Deserialize;

/// How many endpoints and messages a page lists.
const LISTED: u32 = 100;

pub fn routes() -> Router<Services> {
    Router::new()
        .route("/endpoints", get(endpoints))
        .route("/messages", get(messages))
        .route("/event-types", get(catalog))
}

fn first(limit: u32, ascending: bool) -> PageRequest {
    PageRequest {
        limit,
        iterator: None,
        ascending,
    }
}

#[derive(Debug, Deserialize)]
struct NoticeQuery {
    notice: Option<String>,
}

async fn endpoints(
    State(state): State<Services>,
    scope: Scope,
    Query(q): Query<NoticeQuery>,
) -> Result<Html<String>, PageError> {
    let app = &scope.app;
    let list = state
        .send
        .list_endpoints(&app.id, &first(LISTED, true))
        .await?;
    let mut rows = Vec::with_capacity(list.len());
    for ep in list {
        let health = Health::of(&state, &app.id, &ep.id).await?;
        rows.push((ep, health));
    }
    let body = html! {
        h1 { "Endpoints" }
        @if q.notice.as_deref() == Some("deleted") { p class="notice" role="status" { "Endpoint deleted." } }
        p class="muted" { "Where " (app.name) "'s webhooks are sent." }
        @if scope.can(PortalAction::ManageEndpoint) {
            div class="actions" { a class="button" href={(scope.base) "/endpoints/new"} { "Add endpoint" } }
        }
        @if rows.is_empty() {
            p class="card" { "No endpoints yet." }
        } @else {
            div class="table-wrap" {
                table {
                    thead { tr { th { "Endpoint" } th { "State" } th { "Health" } th { "Last attempt" } } }
                    tbody {
                        @for (ep, health) in &rows {
                            tr {
                                td {
                                    a href={(scope.base) "/endpoints/" (ep.id)} class="mono" { (ep.fields.url.as_str()) }
                                    @if !ep.fields.description.is_empty() { br; span class="muted" { (ep.fields.description) } }
                                }
                                td { @if ep.fields.disabled { (badge("off", "disabled")) } @else { (badge("ok", "enabled")) } }
                                td { (health.render()) }
                                td {
                                    @if let Some(a) = &health.last {
                                        (last_status(a)) br; span class="muted" { (layout::time(a.created_at)) }
                                    } @else { span class="muted" { "—" } }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(Html(
        scope
            .page(Section::Endpoints, "Endpoints", body)
            .into_string(),
    ))
}

#[derive(Debug, Deserialize)]
struct MessagesQuery {
    event_type: Option<String>,
}

async fn messages(
    State(state): State<Services>,
    scope: Scope,
    Query(q): Query<MessagesQuery>,
) -> Result<Html<String>, PageError> {
    let wanted = q
        .event_type
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let (filter, error) = match wanted.map(EventTypeName::parse) {
        Some(Ok(name)) => (
            MessageFilter {
                event_types: Some(vec![name]),
                ..Default::default()
            },
            None,
        ),
        Some(Err(e)) => (MessageFilter::default(), Some(e.0)),
        None => (MessageFilter::default(), None),
    };
    let list = if error.is_some() {
        Vec::new()
    } else {
        state
            .send
            .list_messages(&scope.app.id, &first(LISTED, false), &filter)
            .await?
    };
    let body = html! {
        h1 { "Messages" }
        form class="row card" method="get" action={(scope.base) "/messages"} role="search" {
            div class="field" {
                label for="filter-type" { "Event type" }
                input id="filter-type" name="event_type" type="text" value=(wanted.unwrap_or_default())
                    aria-invalid=[error.as_ref().map(|_| "true")] aria-describedby=[error.as_ref().map(|_| "filter-type-error")];
                @if let Some(e) = &error { p id="filter-type-error" class="field-error" { (e) } }
            }
            div class="field" { button type="submit" class="secondary" { "Filter" } }
        }
        @if list.is_empty() { p class="card muted" { "No messages." } }
        @else {
            div class="table-wrap" {
                table {
                    thead { tr { th { "Message" } th { "Event type" } th { "Created" } } }
                    tbody {
                        @for m in &list {
                            tr {
                                td { a class="mono" href={(scope.base) "/messages/" (m.id)} { (m.id) } }
                                td class="mono" { (m.event_type) }
                                td { (layout::time(m.created_at)) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(Html(
        scope
            .page(Section::Messages, "Messages", body)
            .into_string(),
    ))
}

async fn catalog(State(state): State<Services>, scope: Scope) -> Result<Html<String>, PageError> {
    let types = state
        .send
        .list_event_types(&first(250, true), false)
        .await?;
    let body = html! {
        h1 { "Event catalog" }
        p class="muted" { "The events you can subscribe an endpoint to, with their schema and an example." }
        (crate::web::event_types::catalog(&types, false))
    };
    Ok(Html(
        scope
            .page(Section::Catalog, "Event catalog", body)
            .into_string(),
    ))
}

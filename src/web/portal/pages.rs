//! The portal's own pages: its application's endpoints with their health, the message log
//! (filtered by event type, channel, time and delivery status, in the page's GET parameters so
//! a filtered view is a link) and the event catalog. The rest (an endpoint, the add form, a message) are the console's
//! pages under the portal's [`Scope`].

use crate::domain::portal::PortalAction;
use crate::domain::{ChannelName, DeliveryStatus, EventTypeName, MessageId};
use crate::services::Services;
use crate::store::{MessageFilter, PageRequest};
use crate::web::applications::{last_status, Health};
use crate::web::error::PageError;
use crate::web::layout::{self, badge, Field};
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

/// The message log's filters, as GET parameters so that a filtered view is a link (and the
/// "next page" link keeps them). Empty fields are no filter.
#[derive(Debug, Default, Deserialize)]
struct MessagesQuery {
    event_type: Option<String>,
    channel: Option<String>,
    /// A `datetime-local` value (UTC) or an RFC 3339 time: messages created after it.
    after: Option<String>,
    /// The same: messages created before it.
    before: Option<String>,
    /// `success`, `pending`, `sending` or `fail`: messages with a delivery that stands so.
    status: Option<String>,
    /// The last message id of the previous page.
    iterator: Option<String>,
    limit: Option<u32>,
}

/// How many messages a page of the log lists unless the link asks for fewer.
const MESSAGES_PER_PAGE: u32 = 50;

/// The statuses a message can be filtered by, with their labels (Svix's message statuses).
const STATUSES: [(DeliveryStatus, &str); 4] = [
    (DeliveryStatus::Success, "Succeeded"),
    (DeliveryStatus::Pending, "Pending"),
    (DeliveryStatus::Sending, "Sending"),
    (DeliveryStatus::Fail, "Failed"),
];

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl MessagesQuery {
    /// The store's filter, or the refused fields with why.
    fn filter(&self) -> (MessageFilter, Vec<(&'static str, String)>) {
        let mut errors = Vec::new();
        let mut filter = MessageFilter::default();
        if let Some(t) = non_empty(&self.event_type) {
            match EventTypeName::parse(t) {
                Ok(name) => filter.event_types = Some(vec![name]),
                Err(e) => errors.push(("event_type", e.0)),
            }
        }
        if let Some(c) = non_empty(&self.channel) {
            match ChannelName::parse(c) {
                Ok(name) => filter.channel = Some(name),
                Err(e) => errors.push(("channel", e.0)),
            }
        }
        for (field, raw, slot) in [
            ("after", &self.after, &mut filter.after),
            ("before", &self.before, &mut filter.before),
        ] {
            if let Some(t) = non_empty(raw) {
                *slot = crate::web::messages::parse_time(t);
                if slot.is_none() {
                    errors.push((field, "Enter a date and time (UTC).".to_owned()));
                }
            }
        }
        if let Some(st) = non_empty(&self.status) {
            match STATUSES.iter().find(|(s, _)| s.text() == st) {
                Some((s, _)) => filter.status = Some(*s),
                None => errors.push(("status", "Choose a status from the list.".to_owned())),
            }
        }
        (filter, errors)
    }

    /// This query's link for the page after `last`.
    fn next_page(&self, base: &str, last: &MessageId, limit: u32) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("event_type", &self.event_type),
            ("channel", &self.channel),
            ("after", &self.after),
            ("before", &self.before),
            ("status", &self.status),
        ] {
            if let Some(v) = non_empty(value) {
                q.append_pair(name, v);
            }
        }
        if limit != MESSAGES_PER_PAGE {
            q.append_pair("limit", &limit.to_string());
        }
        q.append_pair("iterator", last.as_str());
        format!("{base}/messages?{}", q.finish())
    }
}

/// The message log, newest first, filtered by event type, channel, time and delivery status
/// (as Svix's portal filters it), one page at a time.
async fn messages(
    State(state): State<Services>,
    scope: Scope,
    Query(q): Query<MessagesQuery>,
) -> Result<Html<String>, PageError> {
    let (filter, errors) = q.filter();
    let error = |field: &str| {
        errors
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, e)| e.as_str())
    };
    let limit = q.limit.unwrap_or(MESSAGES_PER_PAGE).clamp(1, LISTED);
    // An iterator that is not a message id (a hand-edited link) starts from the top.
    let iterator = non_empty(&q.iterator)
        .and_then(|i| MessageId::parse(i).ok())
        .map(|id| id.to_string());
    let mut list = if errors.is_empty() {
        let page = PageRequest {
            limit: limit + 1,
            iterator: iterator.clone(),
            ascending: false,
        };
        state
            .send
            .list_messages(&scope.app.id, &page, &filter)
            .await?
    } else {
        Vec::new()
    };
    // One more than shown tells whether there is a next page.
    let more = list.len() > limit as usize;
    list.truncate(limit as usize);
    let next = more
        .then(|| list.last())
        .flatten()
        .map(|last| q.next_page(&scope.base, &last.id, limit));
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let (event_type, channel, after, before) = (
        text(&q.event_type),
        text(&q.channel),
        text(&q.after),
        text(&q.before),
    );
    let status = non_empty(&q.status).unwrap_or_default();
    let body = html! {
        h1 { "Messages" }
        form class="card" method="get" action={(scope.base) "/messages"} role="search" aria-label="Filter messages" {
            div class="row top" {
                (Field { name: "event_type", label: "Event type", value: &event_type, kind: "text",
                    hint: None, error: error("event_type"), required: false }.render())
                (Field { name: "channel", label: "Channel", value: &channel, kind: "text",
                    hint: None, error: error("channel"), required: false }.render())
                div class="field" {
                    label for="f-status" { "Delivery status" }
                    select id="f-status" name="status" aria-invalid=[error("status").map(|_| "true")]
                        aria-describedby=[error("status").map(|_| "f-status-error")] {
                        option value="" { "Any" }
                        @for (s, label) in STATUSES {
                            option value=(s.text()) selected[status == s.text()] { (label) }
                        }
                    }
                    @if let Some(e) = error("status") { p id="f-status-error" class="field-error" { (e) } }
                }
            }
            div class="row top" {
                (Field { name: "after", label: "From (UTC)", value: &after, kind: "datetime-local",
                    hint: None, error: error("after"), required: false }.render())
                (Field { name: "before", label: "Until (UTC)", value: &before, kind: "datetime-local",
                    hint: None, error: error("before"), required: false }.render())
                @if limit != MESSAGES_PER_PAGE { input type="hidden" name="limit" value=(limit); }
                div class="field" { button type="submit" class="secondary" { "Filter" } }
            }
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
        @if iterator.is_some() || next.is_some() {
            nav class="actions" aria-label="Pages" {
                @if iterator.is_some() { a href={(scope.base) "/messages"} { "Newest" } }
                @if let Some(n) = &next { a rel="next" href=(n) { "Next page" } }
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

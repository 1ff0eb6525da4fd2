//! One endpoint: what it subscribes to, its secret (revealed on request), custom headers,
//! enable/disable, "Send test event", recover, and its recent attempts with a resend button.
//! The actions themselves are in [`super::endpoint_actions`]. Written once for the console
//! and the app portal ([`Scope`]): the portal shows only the controls its link's capabilities
//! allow.

use super::applications::{last_status, Health};
use super::error::PageError;
use super::layout::{self, badge};
use super::scope::{Param, Scope, Section};
use crate::domain::portal::PortalAction;
use crate::domain::*;
use crate::services::Services;
use crate::store::{AttemptFilter, PageRequest};
use axum::extract::{Query, State};
use axum::response::Html;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;

/// How many attempts the page lists.
const RECENT_ATTEMPTS: u32 = 25;

/// How much of a response body the attempts table shows.
const BODY_PREVIEW: usize = 4096;

/// Routes under an application's base (see [`Scope`]).
pub fn app_routes() -> Router<Services> {
    Router::new()
        .route("/endpoints/{endpoint_id}", get(show))
        .merge(super::endpoint_actions::app_routes())
}

/// The endpoint a path names within the scope's application, or a 404 page.
pub async fn find_endpoint(
    state: &Services,
    scope: &Scope,
    endpoint_id: &str,
) -> Result<Endpoint, PageError> {
    state
        .send
        .endpoint(&scope.app.id, endpoint_id)
        .await
        .map_err(|_| PageError::not_found("endpoint"))
}

#[derive(Debug, Deserialize)]
struct ShowQuery {
    reveal: Option<String>,
    notice: Option<String>,
}

/// The notices an action may leave, by key: a fixed list, so a link cannot make the console
/// say anything else.
fn notice_text(key: &str) -> Option<&'static str> {
    Some(match key {
        "rotated" => "The secret was rotated. The old one keeps signing beside it for 24 hours.",
        "headers" => "Custom headers saved.",
        "enabled" => "Endpoint enabled.",
        "disabled" => "Endpoint disabled: no messages are sent to it until it is enabled again.",
        "resent" => "The message was queued for this endpoint again.",
        "recovered" => "Failed messages since that time were queued again.",
        "created" => "Endpoint created.",
        "saved" => "Endpoint saved.",
        _ => return None,
    })
}

/// Truncates at a character boundary.
pub fn preview(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A table of attempts with status, latency and response body; each row can be resent
/// (where the scope may create attempts).
pub fn attempts_table(
    scope: &Scope,
    attempts: &[Attempt],
    back: &str,
    show_endpoint: bool,
) -> Markup {
    let app = &scope.base;
    let can_resend = scope.can(PortalAction::CreateAttempts);
    html! {
        div class="table-wrap" {
            table {
                thead { tr {
                    th { "Time" } th { "Result" } th { "Latency" }
                    @if show_endpoint { th { "Endpoint" } } @else { th { "Message" } }
                    th { "Response" } th { span class="visually-hidden" { "Actions" } }
                } }
                tbody {
                    @for a in attempts {
                        tr {
                            td { (layout::time(a.created_at)) }
                            td { (last_status(a)) @if a.trigger_type == TriggerType::Manual { " " span class="muted" { "manual" } } }
                            td { (a.response_duration_ms) " ms" }
                            @if show_endpoint {
                                td { a class="mono" href={(app) "/endpoints/" (a.endpoint_id)} { (a.url) } }
                            } @else {
                                td { a class="mono" href={(app) "/messages/" (a.msg_id)} { (a.msg_id) } }
                            }
                            td {
                                @if a.response.is_empty() { span class="muted" { "(empty)" } }
                                @else {
                                    details {
                                        summary { (a.response.len()) " bytes" }
                                        pre { (preview(&a.response, BODY_PREVIEW)) }
                                    }
                                }
                            }
                            td {
                                @if can_resend {
                                    form method="post" action={(app) "/messages/" (a.msg_id) "/resend/" (a.endpoint_id)} {
                                        (scope.csrf_field())
                                        input type="hidden" name="back" value=(back);
                                        button type="submit" class="secondary" aria-label={"Resend message " (a.msg_id)} { "Resend" }
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

async fn show(
    State(state): State<Services>,
    scope: Scope,
    params: Param,
    Query(q): Query<ShowQuery>,
) -> Result<Html<String>, PageError> {
    let ep = find_endpoint(&state, &scope, params.get("endpoint_id")).await?;
    let app = &scope.app;
    let base = format!("{}/endpoints/{}", scope.base, ep.id);
    let health = Health::of(&state, &app.id, &ep.id).await?;
    let attempts = state
        .store
        .list_attempts(
            &app.id,
            &AttemptFilter {
                msg_id: None,
                endpoint_id: Some(ep.id.clone()),
                status: None,
            },
            &PageRequest {
                limit: RECENT_ATTEMPTS,
                iterator: None,
                ascending: false,
            },
        )
        .await?;
    let testable: Vec<EventType> = state
        .store
        .list_event_types(
            &PageRequest {
                limit: 250,
                iterator: None,
                ascending: true,
            },
            false,
        )
        .await?
        .into_iter()
        .filter(|t| t.example(0).is_some())
        .collect();
    // An endpoint that subscribes to some types is offered those first (any type may still be
    // sent to it, as in Svix).
    let mut testable = testable;
    if let Some(subscribed) = &ep.fields.event_types {
        testable.sort_by_key(|t| !subscribed.contains(&t.name));
    }
    let f = &ep.fields;
    let headers_text = super::endpoint_form::headers_text(&f.headers);
    let chart = super::delivery_chart::section(&state, &app.id, &ep.id).await?;
    let revealed = q.reveal.is_some() && scope.can(PortalAction::ViewSecret);
    let csrf = scope.csrf_field();
    let manage = scope.can(PortalAction::ManageEndpoint);
    let attempt = scope.can(PortalAction::CreateAttempts);
    let body = html! {
        p class="muted" { (scope.crumbs()) }
        h1 class="mono" { (f.url.as_str()) }
        @if let Some(n) = q.notice.as_deref().and_then(notice_text) { p class="notice" role="status" { (n) } }
        section class="card" aria-labelledby="about" {
            h2 id="about" { "Endpoint" }
            dl class="facts" {
                dt { "ID" } dd class="mono" { (ep.id) }
                @if !f.description.is_empty() { dt { "Description" } dd { (f.description) } }
                dt { "State" } dd { @if f.disabled { (badge("off", "disabled")) } @else { (badge("ok", "enabled")) } }
                dt { "Health" } dd { (health.render()) }
                dt { "Event types" } dd {
                    @match &f.event_types { None => { "all" }, Some(t) => { @for (i, n) in t.iter().enumerate() { @if i > 0 { ", " } code { (n) } } } }
                }
                dt { "Channels" } dd {
                    @match &f.channels { None => { "all" }, Some(c) => { @for (i, n) in c.iter().enumerate() { @if i > 0 { ", " } code { (n) } } } }
                }
                dt { "Rate limit" } dd { @match f.throttle_rate { Some(r) => { (r) " messages/s" }, None => { "none" } } }
                // Names only: a value may be a credential, and only those who may manage the
                // endpoint see the values (in the form below).
                dt { "Custom headers" } dd {
                    @if f.headers.is_empty() { "none" }
                    @for (i, n) in f.headers.keys().enumerate() { @if i > 0 { ", " } code { (n) } }
                }
                dt { "Created" } dd { (layout::time(ep.created_at)) }
            }
            @if manage {
                div class="actions spaced" {
                    a class="button secondary" href={(base) "/edit"} { "Edit endpoint" }
                    form method="post" action={(base) "/state"} {
                        (csrf)
                        @if f.disabled {
                            input type="hidden" name="disabled" value="false";
                            button type="submit" { "Enable endpoint" }
                        } @else {
                            input type="hidden" name="disabled" value="true";
                            button type="submit" class="danger" { "Disable endpoint" }
                        }
                    }
                    form method="post" action={(base) "/delete"} {
                        (csrf)
                        button type="submit" class="danger" aria-label={"Delete endpoint " (f.url.as_str())} { "Delete endpoint" }
                    }
                }
            }
        }
        (chart)
        @if attempt {
            section class="card" aria-labelledby="test" {
                h2 id="test" { "Send test event" }
                @if testable.is_empty() {
                    p class="muted" { "No event type in the catalog has an example payload yet. " a href=(scope.catalog_href()) { "See the catalog" } "." }
                } @else {
                    form id="test-event-form" class="row" method="post" action={(base) "/test"} {
                        (csrf)
                        div class="field" {
                            label for="test-event-type" { "Event type" }
                            select id="test-event-type" name="event_type" {
                                @for t in &testable { option value=(t.name) { (t.name) } }
                            }
                        }
                        div class="field" { button type="submit" { "Send test event" } }
                    }
                    div id="test-event-result" class="result" role="status" aria-live="polite" {}
                }
            }
        }
        @if scope.can(PortalAction::ViewSecret) || scope.can(PortalAction::RotateSecret) {
            section class="card" aria-labelledby="secret" {
                h2 id="secret" { "Signing secret" }
                @if scope.can(PortalAction::ViewSecret) {
                    @if revealed {
                        p { code id="secret-value" { (ep.secret.expose()) } " " button type="button" class="secondary" data-copy=(ep.secret.expose()) hidden { "Copy" } }
                        p { a href=(base) { "Hide" } }
                    } @else {
                        p { code { "whsec_••••••••••••" } " " a id="reveal-secret" href={(base) "?reveal=secret#secret"} { "Reveal" } }
                    }
                }
                @if scope.can(PortalAction::RotateSecret) {
                    form method="post" action={(base) "/secret/rotate"} {
                        (csrf)
                        p class="hint" { "Rotating makes a new secret; the old one keeps signing beside it for 24 hours." }
                        button type="submit" class="secondary" { "Rotate secret" }
                    }
                }
                (verify_snippet())
            }
        }
        @if manage {
            section class="card" aria-labelledby="headers" {
                h2 id="headers" { "Custom headers" }
                form method="post" action={(base) "/headers"} {
                    (csrf)
                    div class="field" {
                        label for="headers-text" { "Headers sent with every delivery, one " code { "Name: value" } " per line" }
                        textarea id="headers-text" name="headers" rows="4" { (headers_text) }
                    }
                    button type="submit" class="secondary" { "Save headers" }
                }
            }
        }
        @if attempt {
            section class="card" aria-labelledby="recover" {
                h2 id="recover" { "Recover failed messages" }
                form class="row" method="post" action={(base) "/recover"} {
                    (csrf)
                    div class="field" {
                        label for="recover-since" { "Resend every message that failed for good since (UTC)" }
                        input id="recover-since" name="since" type="datetime-local" required;
                    }
                    div class="field" { button type="submit" class="secondary" { "Recover" } }
                }
            }
        }
        h2 { "Recent attempts" }
        @if attempts.is_empty() { p class="card muted" { "No attempts yet." } }
        @else { (attempts_table(&scope, &attempts, &base, false)) }
    };
    Ok(Html(
        scope
            .page(Section::Endpoints, f.url.as_str(), body)
            .into_string(),
    ))
}

/// How a receiver checks the signature, with Svix's libraries (any Standard Webhooks library
/// works the same way).
fn verify_snippet() -> Markup {
    html! {
        details {
            summary { "How to verify a delivery" }
            p class="hint" { "Each delivery carries " code { "webhook-id" } ", " code { "webhook-timestamp" } " and " code { "webhook-signature" } " headers (also as " code { "svix-*" } "). Verify the raw body with the secret:" }
            pre { "# Python: pip install svix\nfrom svix.webhooks import Webhook\npayload = Webhook(secret).verify(raw_body, headers)" }
            pre { "// JavaScript: npm install svix\nimport { Webhook } from \"svix\";\nconst payload = new Webhook(secret).verify(rawBody, headers);" }
            pre { "// Rust: cargo add svix\nlet payload = svix::webhooks::Webhook::new(&secret)?.verify(&raw_body, &headers)?;" }
        }
    }
}

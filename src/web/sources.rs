//! Sources (Svix's Ingest API) in the console: the list, creating one by type with the secret
//! (or, for `cron`, the schedule and payload) that type needs, and a source's page: its ingest
//! URL to copy, its endpoints (add, remove), a live log of arrivals (accepted, duplicate,
//! rejected and why), token rotation and deletion. Each arrival has its own page: the request
//! as it came (headers, body), what became of it, its deliveries with their attempts, and a
//! replay to every endpoint.
//! Everything goes through [`crate::sources`] (and [`crate::send`] for the endpoints), as the
//! API's `/ingest/api/v1` routes do.

use super::error::PageError;
use super::form::FormFields;
use super::layout::{self, badge, Field};
use super::pretty_json::{pretty_within, Budget};
use super::session::Session;
use crate::domain::sources::{Arrival, ArrivalOutcome, Source, SourceKind, SVIX_SCHEME_TYPES};
use crate::domain::{DeliveryStatus, TriggerType};
use crate::http::sse::{self, LiveItem};
use crate::send::EndpointInput;
use crate::services::Services;
use crate::sources::source_topic;
use crate::sources::{SourceError, SourceInput};
use crate::store::{AttemptFilter, PageRequest};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use maud::{html, Markup};
use serde::Deserialize;

/// How many sources the list shows, and how many arrivals a source's page.
const SHOWN: u32 = 100;
const ARRIVALS_SHOWN: u32 = 50;

/// The types the form offers, with Svix-scheme ones after the named providers.
fn offered_types() -> Vec<&'static str> {
    let mut types = vec![
        "generic-webhook",
        "github",
        "stripe",
        "slack",
        "shopify",
        "cron",
    ];
    types.extend(SVIX_SCHEME_TYPES);
    types
}

pub fn routes() -> Router<Services> {
    Router::new()
        .route("/sources", get(index).post(create))
        .route("/sources/{source_id}", get(show))
        .route("/sources/{source_id}/live", get(live))
        .route("/sources/{source_id}/requests/{arrival}", get(request_page))
        .route(
            "/sources/{source_id}/requests/{arrival}/replay",
            post(replay),
        )
        .route("/sources/{source_id}/endpoints", post(add_endpoint))
        .route(
            "/sources/{source_id}/endpoints/{endpoint_id}/delete",
            post(delete_endpoint),
        )
        .route("/sources/{source_id}/rotate", post(rotate))
        .route("/sources/{source_id}/delete", post(delete))
}

async fn index(
    State(state): State<Services>,
    Extension(session): Extension<Session>,
) -> Result<Response, PageError> {
    list_page(
        &state,
        &session,
        StatusCode::OK,
        &FormFields::default(),
        None,
    )
    .await
}

async fn list_page(
    state: &Services,
    session: &Session,
    status: StatusCode,
    form: &FormFields,
    error: Option<&str>,
) -> Result<Response, PageError> {
    let sources = state
        .sources
        .list(&PageRequest {
            limit: SHOWN,
            iterator: None,
            ascending: false,
        })
        .await?;
    let chosen = form.text("type");
    let apps = state
        .send
        .list_apps(&PageRequest {
            limit: SHOWN,
            iterator: None,
            ascending: true,
        })
        .await?;
    let body = html! {
        h1 { "Sources" }
        p class="muted" { "A source is a secret URL that a provider (GitHub, Stripe, Slack, Shopify, anything that signs as Svix does) posts its webhooks to. Kanca verifies each request, drops the provider's retries of what it already has, and delivers the rest to the source's endpoints." }
        @if sources.is_empty() { p class="card muted" { "No sources yet." } }
        @else {
            div class="table-wrap" {
                table {
                    caption class="visually-hidden" { "Sources" }
                    thead { tr { th { "Source" } th { "Type" } th { "Ingest URL" } th { "Created" } } }
                    tbody {
                        @for s in &sources {
                            tr {
                                td { a href={"/sources/" (s.id)} { (s.fields.name) } }
                                td { (s.fields.kind.type_name()) }
                                td class="mono" { (state.sources.ingest_url(s)) }
                                td { (layout::time(s.created_at)) }
                            }
                        }
                    }
                }
            }
        }
        form class="card spaced" method="post" action="/sources" {
            (layout::csrf_field(session))
            h2 { "New source" }
            @if let Some(e) = error { p class="form-error" role="alert" id="source-error" { (e) } }
            div class="row top" {
                (Field { name: "name", label: "Name", value: &form.text("name"), kind: "text", hint: None, error: None, required: true }.render())
                div class="field" {
                    label for="f-type" { "Type" }
                    select id="f-type" name="type" {
                        @for t in offered_types() {
                            option value=(t) selected[chosen == t] { (t) }
                        }
                    }
                }
                (Field { name: "secret", label: "Signing secret", value: "", kind: "password", hint: Some("The provider's secret (Stripe and Svix-scheme types: whsec_…). Not needed for generic-webhook or cron."), error: None, required: false }.render())
            }
            fieldset {
                legend { "Cron sources only" }
                div class="row top" {
                    (Field { name: "schedule", label: "Schedule", value: &form.text("schedule"), kind: "text", hint: Some("Cron, UTC: 0 9 * * 1-5 (a leading seconds field is allowed)."), error: None, required: false }.render())
                    (Field { name: "contentType", label: "Content type", value: &form.text("contentType"), kind: "text", hint: Some("Default application/json."), error: None, required: false }.render())
                }
                div class="field" {
                    label for="f-payload" { "Payload" }
                    textarea id="f-payload" name="payload" rows="4" class="mono" { (form.text("payload")) }
                }
            }
            @if !apps.is_empty() {
                div class="field" {
                    label for="f-publish" { "Also publish into application (optional)" }
                    select id="f-publish" name="publishToApp" aria-describedby="f-publish-hint" {
                        option value="" { "No" }
                        @for a in &apps {
                            option value=(a.id) selected[form.text("publishToApp") == a.id.as_str()] { (a.name) " (" (a.id) ")" }
                        }
                    }
                    p class="hint" id="f-publish-hint" { "Each accepted request is also a message of that application, with the provider's event type (github.push, stripe.invoice.paid): a Kanca extension." }
                }
            }
            button type="submit" { "Create source" }
        }
    };
    let page = layout::page(session, "/sources", "Sources", body);
    Ok((status, Html(page.into_string())).into_response())
}

async fn create(
    State(state): State<Services>,
    Extension(session): Extension<Session>,
    form: FormFields,
) -> Result<Response, PageError> {
    let secret = form.text("secret");
    let type_name = form.text("type");
    let config = if type_name == "cron" {
        let mut c = serde_json::json!({
            "schedule": form.text("schedule"),
            "payload": form.text("payload"),
        });
        let content_type = form.text("contentType");
        if !content_type.trim().is_empty() {
            c["contentType"] = content_type.trim().into();
        }
        Some(c)
    } else {
        (!secret.is_empty()).then(|| serde_json::json!({ "secret": secret }))
    };
    let input = SourceInput {
        name: form.text("name"),
        uid: None,
        metadata: None,
        type_name,
        config,
        publish_to: Some(form.text("publishToApp")).filter(|a| !a.is_empty()),
    };
    match state.sources.create(input).await {
        Ok(source) => Ok(Redirect::to(&format!("/sources/{}", source.id)).into_response()),
        Err(SourceError::Validation(message) | SourceError::Conflict(message)) => {
            list_page(
                &state,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                &form,
                Some(&message),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// One row of a source's log, linking to the request's page.
fn arrival_row(base: &str, a: &Arrival) -> Markup {
    html! {
        tr id={"arrival-" (a.id)} {
            td { a href={(base) "/requests/" (a.id)} { (layout::time(a.received_at)) } }
            td { (outcome_badge(a)) }
            td { (a.reason.as_deref().unwrap_or("")) }
            td class="mono" { (a.request.method) }
            td class="mono" { (a.dedupe_id.as_deref().unwrap_or("")) }
            td class="mono" { (a.body_preview.chars().take(60).collect::<String>()) }
        }
    }
}

fn outcome_badge(a: &Arrival) -> maud::Markup {
    match a.outcome {
        ArrivalOutcome::Accepted => badge("ok", "accepted"),
        ArrivalOutcome::Duplicate => badge("idle", "duplicate"),
        ArrivalOutcome::Rejected => badge("bad", "rejected"),
    }
}

async fn show(
    State(state): State<Services>,
    Extension(session): Extension<Session>,
    Path(source_id): Path<String>,
) -> Result<Response, PageError> {
    let source = state.sources.get(&source_id).await?;
    source_page(&state, &session, &source, StatusCode::OK, None).await
}

async fn source_page(
    state: &Services,
    session: &Session,
    source: &Source,
    status: StatusCode,
    error: Option<&str>,
) -> Result<Response, PageError> {
    let app = state.sources.application(source);
    let endpoints = state
        .send
        .list_endpoints(
            &app.id,
            &PageRequest {
                limit: SHOWN,
                iterator: None,
                ascending: true,
            },
        )
        .await?;
    let arrivals = state
        .sources
        .log(
            source,
            &PageRequest {
                limit: ARRIVALS_SHOWN,
                iterator: None,
                ascending: false,
            },
        )
        .await?;
    let url = state.sources.ingest_url(source);
    let base = format!("/sources/{}", source.id);
    let newest = arrivals
        .first()
        .map(|a| a.id.to_string())
        .unwrap_or_default();
    let body = html! {
        p { a href="/sources" { "← Sources" } }
        h1 { (source.fields.name) " " span class="muted" { "(" (source.fields.kind.type_name()) ")" } }
        div class="card" {
            label for="ingest-url" { "Ingest URL (give it to the provider; it is a secret)" }
            input id="ingest-url" class="mono" type="text" readonly value=(url);
            form method="post" action={(base) "/rotate"} {
                (layout::csrf_field(session))
                button type="submit" { "Rotate URL (the old one stops at once)" }
            }
        }
        @if let SourceKind::Cron(c) = &source.fields.kind {
            dl class="facts card" {
                dt { "Schedule (UTC)" } dd class="mono" { (c.schedule) }
                dt { "Next tick" } dd { @match c.next_after(state.clock.now()) { Some(t) => { (layout::time(t)) }, None => { "never" } } }
                dt { "Content type" } dd class="mono" { (c.content_type()) }
            }
        }
        @if let Some(app) = &source.fields.publish_to {
            p class="card" { "Also publishes into application " a class="mono" href={"/apps/" (app)} { (app) } " with the provider's event types." }
        }
        h2 { "Arrivals" }
        p class="muted" { "Live: new requests appear as they arrive." }
        div class="table-wrap" {
            table {
                caption class="visually-hidden" { "Arrivals" }
                thead { tr { th { "Received" } th { "Result" } th { "Why" } th { "Method" } th { "Provider's id" } th { "Body" } } }
                tbody id="arrivals" aria-live="polite" data-order="newest-first" data-live={(base) "/live"} data-after=(newest) {
                    @for a in &arrivals { (arrival_row(&base, a)) }
                }
            }
            @if arrivals.is_empty() { p class="card muted empty" { "Nothing has arrived yet." } }
        }
        h2 { "Endpoints" }
        p class="muted" { "Every request the source accepts goes to each enabled endpoint, with its original body and headers and Kanca's signature, retried until it is taken." }
        @if endpoints.is_empty() { p class="card muted" { "No endpoints yet: accepted requests are kept but go nowhere." } }
        @else {
            div class="table-wrap" {
                table {
                    caption class="visually-hidden" { "Endpoints" }
                    thead { tr { th { "URL" } th { "State" } th { "Secret" } th { span class="visually-hidden" { "Actions" } } } }
                    tbody {
                        @for ep in &endpoints {
                            tr {
                                td class="mono" { (ep.fields.url.as_str()) }
                                td { @if ep.fields.disabled { (badge("off", "disabled")) } @else { (badge("ok", "enabled")) } }
                                td { details { summary { "Show" } span class="mono" { (ep.secret.expose()) } } }
                                td {
                                    form method="post" action={(base) "/endpoints/" (ep.id) "/delete"} {
                                        (layout::csrf_field(session))
                                        button type="submit" class="danger" aria-label={"Delete endpoint " (ep.fields.url.as_str())} { "Delete" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        form class="card spaced" method="post" action={(base) "/endpoints"} {
            (layout::csrf_field(session))
            h3 { "Add an endpoint" }
            @if let Some(e) = error { p class="form-error" role="alert" id="endpoint-error" { (e) } }
            (Field { name: "url", label: "URL", value: "", kind: "url", hint: None, error: None, required: true }.render())
            button type="submit" { "Add endpoint" }
        }
        form class="spaced" method="post" action={(base) "/delete"} {
            (layout::csrf_field(session))
            button type="submit" class="danger" { "Delete source" }
        }
    };
    let page = layout::page(session, "/sources", &source.fields.name, body);
    Ok((status, Html(page.into_string())).into_response())
}

async fn add_endpoint(
    State(state): State<Services>,
    Extension(session): Extension<Session>,
    Path(source_id): Path<String>,
    form: FormFields,
) -> Result<Response, PageError> {
    let source = state.sources.get(&source_id).await?;
    let app = state.sources.application(&source);
    let input = EndpointInput {
        url: form.text("url"),
        ..Default::default()
    };
    match state.send.create_endpoint(&app, input).await {
        Ok(_) => Ok(Redirect::to(&format!("/sources/{}", source.id)).into_response()),
        Err(crate::send::SendError::Validation(message)) => {
            source_page(
                &state,
                &session,
                &source,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&message),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

async fn delete_endpoint(
    State(state): State<Services>,
    Path((source_id, endpoint_id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let source = state.sources.get(&source_id).await?;
    let app = state.sources.application(&source);
    let ep = state.send.endpoint(&app.id, &endpoint_id).await?;
    state.send.delete_endpoint(&app, ep).await?;
    Ok(Redirect::to(&format!("/sources/{}", source.id)).into_response())
}

async fn rotate(
    State(state): State<Services>,
    Path(source_id): Path<String>,
) -> Result<Response, PageError> {
    let source = state.sources.rotate_token(&source_id).await?;
    Ok(Redirect::to(&format!("/sources/{}", source.id)).into_response())
}

async fn delete(
    State(state): State<Services>,
    Path(source_id): Path<String>,
) -> Result<Response, PageError> {
    state.sources.delete(&source_id).await?;
    Ok(Redirect::to("/sources").into_response())
}

#[derive(Debug, Deserialize)]
struct LiveQuery {
    /// The newest entry the page already shows.
    after: Option<String>,
}

/// The source's log as a stream: entries after `after` (or `Last-Event-ID`), then each new
/// one as it is entered.
async fn live(
    State(state): State<Services>,
    Path(source_id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<LiveQuery>,
) -> Result<Response, PageError> {
    let source = state.sources.get(&source_id).await?;
    let after = sse::last_event_id(&headers, q.after)
        .map(|s| s.parse::<i64>())
        .transpose()
        .map_err(|_| {
            PageError::status(
                StatusCode::UNPROCESSABLE_ENTITY,
                "`after` is not a log entry id.",
            )
        })?;
    let sources = state.sources.clone();
    let id = source.id.clone();
    let base = format!("/sources/{}", source.id);
    let stream = sse::resumable(
        &state.live,
        &source_topic(&source.id),
        "message",
        after.map(|a| a.to_string()),
        move |after| {
            let (sources, id, base) = (sources.clone(), id.clone(), base.clone());
            sse::fetched(async move {
                let after = after.and_then(|a| a.parse().ok());
                let rows = sources.log_after(&id, after, sse::PAGE).await?;
                Ok(rows
                    .iter()
                    .map(|a| LiveItem {
                        id: a.id.to_string(),
                        data: serde_json::json!({
                            "id": format!("arrival-{}", a.id),
                            "html": arrival_row(&base, a).into_string(),
                        })
                        .to_string(),
                    })
                    .collect())
            })
        },
    );
    Ok(stream.into_response())
}

/// One request that came to the source: as it came, what became of it, where it went.
async fn request_page(
    State(state): State<Services>,
    Extension(session): Extension<Session>,
    Path((source_id, arrival)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let source = state.sources.get(&source_id).await?;
    let entry = arrival
        .parse::<i64>()
        .map_err(|_| PageError::not_found("request"))?;
    let a = state
        .sources
        .arrival(&source, entry)
        .await
        .map_err(|_| PageError::not_found("request"))?;
    let app = state.sources.application(&source);
    let message = match &a.msg_id {
        Some(id) => state.send.message(&app.id, id.as_str()).await.ok(),
        None => None,
    };
    let all = PageRequest {
        limit: SHOWN,
        iterator: None,
        ascending: false,
    };
    let (destinations, attempts) = match &message {
        Some(m) => (
            state
                .store
                .message_destinations(&app.id, &m.id, &all)
                .await?,
            state
                .send
                .list_attempts(
                    &app.id,
                    &AttemptFilter {
                        msg_id: Some(m.id.clone()),
                        endpoint_id: None,
                        status: None,
                    },
                    &all,
                )
                .await?,
        ),
        None => (vec![], vec![]),
    };
    // The whole body when it was kept (an accepted request's message), else the log's preview.
    let body_text = message
        .as_ref()
        .and_then(|m| m.payload.clone())
        .unwrap_or_else(|| a.body_preview.clone());
    let body_text = pretty_within(&body_text, Budget::PAGE).unwrap_or(body_text);
    let base = format!("/sources/{}", source.id);
    let replayable =
        message.as_ref().is_some_and(|m| m.payload.is_some()) && !destinations.is_empty();
    let body = html! {
        p { a href=(base) { "← " (source.fields.name) } }
        h1 { "Request " (a.id) " " (outcome_badge(&a)) }
        dl class="facts card" {
            dt { "Received" } dd { (layout::time(a.received_at)) }
            dt { "Request" } dd class="mono" { (a.request.method) " " (a.request.path) }
            @if let Some(r) = &a.reason { dt { "Result" } dd { (r) } }
            @if let Some(d) = &a.dedupe_id { dt { "Provider's id" } dd class="mono" { (d) } }
            @if let Some(m) = &a.msg_id { dt { "Message" } dd class="mono" { (m) } }
        }
        h2 { "Headers" }
        div class="table-wrap" {
            table {
                caption class="visually-hidden" { "Headers" }
                thead { tr { th { "Name" } th { "Value" } } }
                tbody {
                    @for (k, v) in &a.request.headers {
                        tr { td class="mono" { (k) } td class="mono" { (v) } }
                    }
                }
            }
        }
        h2 { "Body" }
        pre { (body_text) }
        h2 { "Deliveries" }
        @if message.is_none() { p class="card muted" { "Not delivered: the request was not accepted (or its message is gone)." } }
        @else if destinations.is_empty() { p class="card muted" { "No endpoint was enabled when it arrived." } }
        @else {
            div class="table-wrap" {
                table {
                    caption class="visually-hidden" { "Deliveries" }
                    thead { tr { th { "Endpoint" } th { "Status" } th { "Next attempt" } } }
                    tbody {
                        @for d in &destinations {
                            tr {
                                td class="mono" { (d.endpoint.fields.url.as_str()) }
                                td { (delivery_badge(d.status)) }
                                td { @if let Some(t) = d.next_attempt_at { (layout::time(t)) } @else { span class="muted" { "—" } } }
                            }
                        }
                    }
                }
            }
            h3 { "Attempts" }
            @if attempts.is_empty() { p class="card muted" { "No attempts yet." } }
            @else {
                div class="table-wrap" {
                    table {
                        caption class="visually-hidden" { "Attempts" }
                        thead { tr { th { "When" } th { "URL" } th { "Response" } th { "Took" } th { "Trigger" } } }
                        tbody {
                            @for t in &attempts {
                                tr {
                                    td { (layout::time(t.created_at)) }
                                    td class="mono" { (t.url) }
                                    td { @if t.response_status_code == 0 { (badge("bad", "no response")) } @else if (200..300).contains(&t.response_status_code) { (badge("ok", &t.response_status_code.to_string())) } @else { (badge("bad", &t.response_status_code.to_string())) } }
                                    td { (t.response_duration_ms) " ms" }
                                    td { @if t.trigger_type == TriggerType::Manual { "resend" } @else { "scheduled" } }
                                }
                            }
                        }
                    }
                }
            }
            @if replayable {
                form method="post" action={(base) "/requests/" (a.id) "/replay"} {
                    (layout::csrf_field(&session))
                    button type="submit" { "Replay to every endpoint" }
                }
            }
        }
    };
    let page = layout::page(&session, "/sources", &format!("Request {}", a.id), body);
    Ok(Html(page.into_string()).into_response())
}

fn delivery_badge(s: DeliveryStatus) -> Markup {
    let kind = match s {
        DeliveryStatus::Success => "ok",
        DeliveryStatus::Fail => "bad",
        DeliveryStatus::Canceled => "off",
        DeliveryStatus::Pending | DeliveryStatus::Sending => "warn",
    };
    badge(kind, s.text())
}

/// Queues the request's message again for each of its endpoints (the engine's resend).
async fn replay(
    State(state): State<Services>,
    Path((source_id, arrival)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let source = state.sources.get(&source_id).await?;
    let entry = arrival
        .parse::<i64>()
        .map_err(|_| PageError::not_found("request"))?;
    state
        .sources
        .replay(&source, entry)
        .await
        .map_err(|e| match e {
            SourceError::NotFound(_) => PageError::not_found("request"),
            other => other.into(),
        })?;
    Ok(Redirect::to(&format!(
        "/sources/{}/requests/{entry}?notice=replayed",
        source.id
    ))
    .into_response())
}

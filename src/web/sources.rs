//! Sources (Svix's Ingest API) in the console: the list, creating one by type with the secret
//! that type needs, and a source's page: its ingest URL to copy, its endpoints (add, remove),
//! the recent arrivals (accepted, duplicate, rejected and why), token rotation and deletion.
//! Everything goes through [`crate::sources`] (and [`crate::send`] for the endpoints), as the
//! API's `/ingest/api/v1` routes do.

use super::error::PageError;
use super::form::FormFields;
use super::layout::{self, badge, Field};
use super::session::Session;
use crate::domain::sources::{Arrival, ArrivalOutcome, Source, SVIX_SCHEME_TYPES};
use crate::send::EndpointInput;
use crate::services::Services;
use crate::sources::{SourceError, SourceInput};
use crate::store::PageRequest;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use maud::html;

/// How many sources the list shows, and how many arrivals a source's page.
const SHOWN: u32 = 100;
const ARRIVALS_SHOWN: u32 = 50;

/// The types the form offers, with Svix-scheme ones after the named providers.
fn offered_types() -> Vec<&'static str> {
    let mut types = vec!["generic-webhook", "github", "stripe", "slack", "shopify"];
    types.extend(SVIX_SCHEME_TYPES);
    types
}

pub fn routes() -> Router<Services> {
    Router::new()
        .route("/sources", get(index).post(create))
        .route("/sources/{source_id}", get(show))
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
                (Field { name: "secret", label: "Signing secret", value: "", kind: "password", hint: Some("The provider's secret (Stripe and Svix-scheme types: whsec_…). Not needed for generic-webhook."), error: None, required: false }.render())
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
    let input = SourceInput {
        name: form.text("name"),
        uid: None,
        metadata: None,
        type_name: form.text("type"),
        config: (!secret.is_empty()).then(|| serde_json::json!({ "secret": secret })),
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
        h2 { "Recent arrivals" }
        @if arrivals.is_empty() { p class="card muted" { "Nothing has arrived yet." } }
        @else {
            div class="table-wrap" {
                table {
                    caption class="visually-hidden" { "Recent arrivals" }
                    thead { tr { th { "Received" } th { "Result" } th { "Why" } th { "Method" } th { "Provider's id" } th { "Body" } } }
                    tbody {
                        @for a in &arrivals {
                            tr {
                                td { (layout::time(a.received_at)) }
                                td { (outcome_badge(a)) }
                                td { (a.reason.as_deref().unwrap_or("")) }
                                td class="mono" { (a.request.method) }
                                td class="mono" { (a.dedupe_id.as_deref().unwrap_or("")) }
                                td { details { summary { (a.body_preview.chars().take(60).collect::<String>()) } pre { (a.body_preview) } } }
                            }
                        }
                    }
                }
            }
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

//! Request bins: the list of bins, creating one from a form (name, the status and body it
//! answers with, how many requests it keeps) and deleting one. A bin's own page, with what it
//! captured, is `bin_page`.

use super::error::PageError;
use super::form::FormFields;
use super::layout::{self, badge, Field};
use super::session::Session;
use crate::domain::bins::*;
use crate::inspect;
use crate::services::Services;
use crate::store::PageRequest;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use maud::html;

/// How many bins the list shows.
const BINS_SHOWN: u32 = 100;

pub fn routes() -> Router<Services> {
    Router::new()
        .route("/bins", get(index).post(create))
        .route("/bins/{bin_id}/delete", post(delete))
}

pub(super) fn bin_url(state: &Services, id: &BinId) -> String {
    format!("{}/b/{id}", state.config.public_url)
}

pub(super) async fn load_bin(state: &Services, raw: &str) -> Result<Bin, PageError> {
    let id = BinId::parse(raw).map_err(|_| PageError::not_found("bin"))?;
    state
        .store
        .get_bin(&id)
        .await?
        .ok_or_else(|| PageError::not_found("bin"))
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
    let bins = state
        .store
        .list_bins(&PageRequest {
            limit: BINS_SHOWN,
            iterator: None,
            ascending: false,
        })
        .await?;
    let now = state.clock.now();
    let value = |name: &str, default: &str| {
        Some(form.text(name))
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| default.to_owned())
    };
    let body = html! {
        h1 { "Request bins" }
        p class="muted" { "A bin captures any request sent to its URL, so you can see exactly what a sender sends." }
        @if bins.is_empty() { p class="card muted" { "No bins yet." } }
        @else {
            div class="table-wrap" {
                table {
                    caption class="visually-hidden" { "Bins" }
                    thead { tr { th { "Bin" } th { "URL" } th { "Answers" } th { "Expires" } th { span class="visually-hidden" { "Actions" } } } }
                    tbody {
                        @for b in &bins {
                            tr {
                                td { a href={"/bins/" (b.id)} { (b.settings.name.as_deref().unwrap_or(b.id.as_str())) } }
                                td class="mono" { (bin_url(state, &b.id)) }
                                td { (b.settings.response.status()) }
                                td { @if b.is_expired(now) { (badge("off", "expired")) } @else { (layout::time(b.expires_at)) } }
                                td {
                                    form method="post" action={"/bins/" (b.id) "/delete"} {
                                        (layout::csrf_field(session))
                                        button type="submit" class="danger" aria-label={"Delete bin " (b.id)} { "Delete" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        form class="card spaced" method="post" action="/bins" {
            (layout::csrf_field(session))
            h2 { "New bin" }
            @if let Some(e) = error { p class="form-error" role="alert" id="bin-error" { (e) } }
            div class="row top" {
                (Field { name: "name", label: "Name (optional)", value: &form.text("name"), kind: "text", hint: None, error: None, required: false }.render())
                (Field { name: "status", label: "Answer with status", value: &value("status", "200"), kind: "number", hint: None, error: None, required: true }.render())
                (Field { name: "max_requests", label: "Keep the last", value: &value("max_requests", "100"), kind: "number", hint: Some("requests"), error: None, required: true }.render())
            }
            div class="field" {
                label for="f-response_body" { "Answer with body (optional)" }
                textarea id="f-response_body" name="response_body" rows="2" { (form.text("response_body")) }
            }
            button type="submit" { "Create bin" }
        }
    };
    let page = layout::page(session, "/bins", "Request bins", body);
    Ok((status, Html(page.into_string())).into_response())
}

/// The settings a form asks for, or what is wrong with them.
fn parse_form(form: &FormFields) -> Result<BinSettings, String> {
    let number = |name: &str, label: &str| -> Result<Option<u64>, String> {
        let v = form.text(name);
        if v.is_empty() {
            return Ok(None);
        }
        v.parse()
            .map(Some)
            .map_err(|_| format!("{label}: enter a whole number."))
    };
    let status = number("status", "Status")?.unwrap_or(200);
    let status =
        u16::try_from(status).map_err(|_| "Status must be between 200 and 599.".to_owned())?;
    let max =
        number("max_requests", "Keep the last")?.map(|m| u32::try_from(m).unwrap_or(u32::MAX));
    let response =
        BinResponse::parse(status, Vec::new(), form.text("response_body"), 0).map_err(|e| e.0)?;
    let name = Some(form.text("name")).filter(|n| !n.is_empty());
    BinSettings::parse(name, response, max).map_err(|e| e.0)
}

async fn create(
    State(state): State<Services>,
    Extension(session): Extension<Session>,
    form: FormFields,
) -> Result<Response, PageError> {
    match parse_form(&form) {
        Ok(settings) => {
            let ttl = parse_ttl(None).map_err(crate::error::ApiError::from)?;
            let bin = inspect::bins::create(&state.store, settings, ttl, state.clock.now()).await?;
            Ok(Redirect::to(&format!("/bins/{}", bin.id)).into_response())
        }
        Err(message) => {
            list_page(
                &state,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                &form,
                Some(&message),
            )
            .await
        }
    }
}

async fn delete(
    State(state): State<Services>,
    Path(bin_id): Path<String>,
) -> Result<Response, PageError> {
    let bin = load_bin(&state, &bin_id).await?;
    state.store.delete_bin(&bin.id).await?;
    Ok(Redirect::to("/bins").into_response())
}

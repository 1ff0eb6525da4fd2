//! "Add endpoint" and "Edit endpoint": name and description, URL, event types chosen from the
//! catalog (each with its description and example payload, so a customer can tell what they
//! subscribe to), channels, a rate limit and custom headers, with an error beside each field
//! that was refused.
//!
//! Each field is parsed here into its domain type so that the error lands beside the right
//! input; the checked values then go through `send::Sending::create_endpoint`, the same call
//! as `POST /api/v1/app/{app}/endpoint`, so operational webhooks hear of the new endpoint.
//! The console and the app portal share it ([`Scope`]; the portal needs `ManageEndpoint`).

use super::endpoint_page::find_endpoint;
use super::error::PageError;
use super::form::FormFields;
use super::layout::Field;
use super::scope::{Param, Scope, Section};
use crate::domain::portal::PortalAction;
use crate::domain::*;
use crate::error::ApiError;
use crate::send::{parse_headers, EndpointInput, EndpointPatchInput, MAX_CHANNELS};
use crate::services::Services;
use crate::store::PageRequest;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use std::collections::{BTreeMap, BTreeSet};

/// Routes under an application's base (see [`Scope`]).
pub fn app_routes() -> Router<Services> {
    Router::new()
        .route("/endpoints/new", get(new))
        .route("/endpoints", post(create))
        .route("/endpoints/{endpoint_id}/edit", get(edit).post(update))
}

/// What the person typed, kept to show the form again with the errors.
#[derive(Default)]
struct EndpointForm {
    url: String,
    description: String,
    event_types: BTreeSet<String>,
    channels: String,
    rate_limit: String,
    /// Custom headers, one `Name: value` per line.
    headers: String,
    errors: Vec<(&'static str, String)>,
}

/// The custom headers textarea: one `Name: value` per line, blank lines skipped. Only the
/// shape of each line is checked here; names and values are checked by
/// [`crate::send::parse_headers`], the API's own rule.
pub(super) fn header_lines(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (name, value) = line.split_once(':').ok_or_else(|| {
            format!(
                "Line {} has no `:` between the header's name and value.",
                i + 1
            )
        })?;
        out.insert(name.trim().to_owned(), value.trim().to_owned());
    }
    Ok(out)
}

/// An endpoint's headers as the textarea shows them.
pub(super) fn headers_text(headers: &BTreeMap<String, String>) -> String {
    headers.iter().map(|(k, v)| format!("{k}: {v}\n")).collect()
}

impl EndpointForm {
    fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, e)| e.as_str())
    }

    /// Parses every field, collecting one error per field that is refused.
    fn parse(&mut self, allow_private: bool) -> Option<EndpointInput> {
        if let Err(e) = EndpointUrl::parse(&self.url, allow_private) {
            self.errors.push(("url", e.0));
        }
        for t in &self.event_types {
            if let Err(e) = EventTypeName::parse(t) {
                self.errors.push(("event_types", e.0));
                break;
            }
        }
        let channels: BTreeSet<String> = self
            .channels
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect();
        if channels.len() > MAX_CHANNELS {
            self.errors.push((
                "channels",
                format!("At most {MAX_CHANNELS} channels are allowed."),
            ));
        } else if let Some(e) = channels.iter().find_map(|c| ChannelName::parse(c).err()) {
            self.errors.push(("channels", e.0));
        }
        let rate_limit = if self.rate_limit.is_empty() {
            None
        } else {
            match self.rate_limit.parse::<u16>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    self.errors.push((
                        "rate_limit",
                        "Enter a whole number of messages per second from 1 to 65535, or leave it empty for no limit.".into(),
                    ));
                    None
                }
            }
        };
        // Checked by the API's rule now, so a refused header lands beside its own field
        // rather than as a form-wide error from the save.
        let headers = match header_lines(&self.headers).and_then(|h| {
            parse_headers(Some(h.clone()))
                .map(|_| h)
                .map_err(|e| e.to_string())
        }) {
            Ok(h) => Some(h),
            Err(e) => {
                self.errors.push(("headers", e));
                None
            }
        };
        if !self.errors.is_empty() {
            return None;
        }
        Some(EndpointInput {
            url: self.url.clone(),
            description: Some(self.description.clone()),
            throttle_rate: rate_limit,
            uid: None,
            disabled: None,
            event_types: Some(self.event_types.clone()),
            channels: Some(channels),
            secret: None,
            metadata: None,
            headers,
        })
    }
}

async fn catalog(state: &Services) -> Result<Vec<EventType>, PageError> {
    let page = PageRequest {
        limit: 250,
        iterator: None,
        ascending: true,
    };
    Ok(state.send.list_event_types(&page, false).await?)
}

/// The form, for a new endpoint or (`editing`) an existing one.
async fn render(
    state: &Services,
    scope: &Scope,
    form: &EndpointForm,
    editing: Option<&Endpoint>,
) -> Result<String, PageError> {
    let types = catalog(state).await?;
    let (title, action, submit, cancel) = match editing {
        None => (
            "Add endpoint",
            format!("{}/endpoints", scope.base),
            "Create endpoint",
            scope.home(),
        ),
        Some(ep) => (
            "Edit endpoint",
            format!("{}/endpoints/{}/edit", scope.base, ep.id),
            "Save endpoint",
            format!("{}/endpoints/{}", scope.base, ep.id),
        ),
    };
    let body = html! {
        p class="muted" { (scope.crumbs()) }
        h1 id="new-endpoint" { (title) }
        form class="card" method="post" action=(action) aria-labelledby="new-endpoint" novalidate {
            (scope.csrf_field())
            @if let Some(e) = form.error("form") { p class="form-error" role="alert" { (e) } }
            (Field { name: "url", label: "Endpoint URL", value: &form.url, kind: "url",
                hint: Some("Where Kanca POSTs each message, e.g. https://example.com/webhooks."),
                error: form.error("url"), required: true }.render())
            (Field { name: "description", label: "Name or description", value: &form.description, kind: "text",
                hint: None, error: form.error("description"), required: false }.render())
            fieldset aria-describedby="types-hint" aria-invalid=[form.error("event_types").map(|_| "true")] {
                legend { "Event types" }
                p id="types-hint" class="hint" { "None ticked: every event type." }
                @if types.is_empty() {
                    p class="muted" { "The catalog is empty." }
                }
                @for t in &types {
                    // The description and example sit beside the checkbox, not in its label,
                    // so opening the example does not tick the type.
                    div class="type-choice" {
                        label {
                            input type="checkbox" name="event_types" value=(t.name) checked[form.event_types.contains(t.name.as_str())]
                                aria-describedby=[(!t.description.is_empty()).then(|| format!("et-desc-{}", t.name))];
                            span class="mono" { (t.name) }
                        }
                        @if !t.description.is_empty() { p id={"et-desc-" (t.name)} class="muted" { (t.description) } }
                        @if let Some(example) = t.example(0) {
                            details {
                                summary { "Example payload" }
                                pre { (super::event_types::pretty(&example)) }
                            }
                        }
                    }
                }
                @if let Some(e) = form.error("event_types") { p class="field-error" { (e) } }
            }
            div class="row top" {
                (Field { name: "channels", label: "Channels (optional)", value: &form.channels, kind: "text",
                    hint: Some("Comma-separated; only messages on one of them are sent here."),
                    error: form.error("channels"), required: false }.render())
                (Field { name: "rate_limit", label: "Rate limit (messages per second, optional)", value: &form.rate_limit, kind: "number",
                    hint: None, error: form.error("rate_limit"), required: false }.render())
            }
            div class="field" {
                label for="f-headers" { "Custom headers (optional)" }
                p id="f-headers-hint" class="hint" { "Sent with every delivery, one " code { "Name: value" } " per line, e.g. " code { "Authorization: Bearer …" } "." }
                textarea id="f-headers" name="headers" rows="3"
                    aria-invalid=[form.error("headers").map(|_| "true")]
                    aria-describedby={ "f-headers-hint" @if form.error("headers").is_some() { " f-headers-error" } } { (form.headers) }
                @if let Some(e) = form.error("headers") { p id="f-headers-error" class="field-error" { (e) } }
            }
            div class="actions" {
                button type="submit" { (submit) }
                a href=(cancel) { "Cancel" }
            }
        }
    };
    Ok(scope.page(Section::Endpoints, title, body).into_string())
}

async fn new(State(state): State<Services>, scope: Scope) -> Result<Html<String>, PageError> {
    scope.require(PortalAction::ManageEndpoint)?;
    Ok(Html(
        render(&state, &scope, &EndpointForm::default(), None).await?,
    ))
}

/// What the person typed, from a posted form.
fn typed(fields: &FormFields) -> EndpointForm {
    EndpointForm {
        url: fields.text("url"),
        description: fields.text("description"),
        event_types: fields.all("event_types").into_iter().collect(),
        channels: fields.text("channels"),
        rate_limit: fields.text("rate_limit"),
        headers: fields.text("headers"),
        errors: Vec::new(),
    }
}

async fn edit(
    State(state): State<Services>,
    scope: Scope,
    params: Param,
) -> Result<Html<String>, PageError> {
    scope.require(PortalAction::ManageEndpoint)?;
    let ep = find_endpoint(&state, &scope, params.get("endpoint_id")).await?;
    let f = &ep.fields;
    let form = EndpointForm {
        url: f.url.as_str().to_owned(),
        description: f.description.clone(),
        event_types: f
            .event_types
            .iter()
            .flatten()
            .map(|n| n.to_string())
            .collect(),
        channels: f
            .channels
            .iter()
            .flatten()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        rate_limit: f.throttle_rate.map(|r| r.to_string()).unwrap_or_default(),
        headers: headers_text(&f.headers),
        errors: Vec::new(),
    };
    Ok(Html(render(&state, &scope, &form, Some(&ep)).await?))
}

/// Saves the form over the endpoint's URL, description, event types, channels, rate limit
/// and custom headers (the same change as `PATCH …/endpoint/{id}` with those fields, plus the
/// headers as a whole set, in one save and one `endpoint.updated`); secret and state are left
/// as they are.
async fn update(
    State(state): State<Services>,
    scope: Scope,
    params: Param,
    fields: FormFields,
) -> Result<Response, PageError> {
    scope.require(PortalAction::ManageEndpoint)?;
    let ep = find_endpoint(&state, &scope, params.get("endpoint_id")).await?;
    let mut form = typed(&fields);
    if let Some(input) = form.parse(state.config.allow_private_targets) {
        let patch = EndpointPatchInput {
            url: Some(input.url),
            description: input.description,
            throttle_rate: Some(input.throttle_rate),
            event_types: Some(input.event_types.filter(|t| !t.is_empty())),
            channels: Some(input.channels.filter(|c| !c.is_empty())),
            headers: input.headers,
            ..Default::default()
        };
        let id = ep.id.clone();
        match state
            .send
            .patch_endpoint(&scope.app, ep.clone(), patch)
            .await
        {
            Ok(_) => {
                return Ok(
                    Redirect::to(&format!("{}/endpoints/{id}?notice=saved", scope.base))
                        .into_response(),
                )
            }
            Err(e) => match ApiError::from(e) {
                ApiError::Validation(e) | ApiError::Conflict(e) => form.errors.push(("form", e)),
                e => return Err(e.into()),
            },
        }
    }
    let page = render(&state, &scope, &form, Some(&ep)).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(page)).into_response())
}

async fn create(
    State(state): State<Services>,
    scope: Scope,
    fields: FormFields,
) -> Result<Response, PageError> {
    scope.require(PortalAction::ManageEndpoint)?;
    let app = &scope.app;
    let mut form = typed(&fields);
    if let Some(input) = form.parse(state.config.allow_private_targets) {
        match state.send.create_endpoint(app, input).await {
            Ok(ep) => {
                return Ok(Redirect::to(&format!(
                    "{}/endpoints/{}?notice=created",
                    scope.base, ep.id
                ))
                .into_response())
            }
            // What the API would refuse with a 422 or 409 is shown beside the form.
            Err(e) => match ApiError::from(e) {
                ApiError::Validation(e) | ApiError::Conflict(e) => form.errors.push(("form", e)),
                e => return Err(e.into()),
            },
        }
    }
    let page = render(&state, &scope, &form, None).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(page)).into_response())
}

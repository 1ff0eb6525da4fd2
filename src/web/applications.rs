//! Applications: the list (with a form to add one), and one application's endpoints with
//! their health, so a failing endpoint stands out at a glance.

use super::error::PageError;
use super::form::FormFields;
use super::layout::{self, badge, Field};
use super::session::Session;
use crate::domain::*;
use crate::send::{ApplicationInput, SendError};
use crate::services::Services;
use crate::store::{AttemptFilter, PageRequest, StoreError};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Extension, Router};
use maud::{html, Markup};

/// How many applications and endpoints one page lists.
pub const LIST_LIMIT: u32 = 200;

/// How many recent attempts an endpoint's health is judged on.
const HEALTH_WINDOW: u32 = 20;

pub fn routes() -> Router<Services> {
    Router::new()
        .route("/apps", get(list).post(create))
        .route("/apps/{app_id}", get(show))
}

fn first_page(limit: u32) -> PageRequest {
    PageRequest {
        limit,
        iterator: None,
        ascending: false,
    }
}

/// The application a path names, or a 404 page.
pub async fn find(state: &Services, key: &str) -> Result<Application, PageError> {
    state
        .send
        .app(key)
        .await
        .map_err(|_| PageError::not_found("application"))
}

struct NewAppForm {
    name: String,
    uid: String,
    errors: Vec<(&'static str, String)>,
}

impl NewAppForm {
    fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, e)| e.as_str())
    }
}

async fn list(
    State(state): State<Services>,
    Extension(session): Extension<Session>,
) -> Result<Html<String>, PageError> {
    let form = NewAppForm {
        name: String::new(),
        uid: String::new(),
        errors: Vec::new(),
    };
    Ok(Html(
        list_page(&state, &session, &form).await?.into_string(),
    ))
}

async fn list_page(
    state: &Services,
    session: &Session,
    form: &NewAppForm,
) -> Result<Markup, PageError> {
    let apps = state.send.list_apps(&first_page(LIST_LIMIT)).await?;
    Ok(layout::page(
        session,
        "/apps",
        "Applications",
        html! {
            h1 { "Applications" }
            p class="muted" { "Each application has its own endpoints and messages (Svix's applications)." }
            @if apps.is_empty() {
                p class="card" { "No applications yet. Add one below, or with " code { "POST /api/v1/app" } "." }
            } @else {
                div class="table-wrap" {
                    table {
                        thead { tr { th { "Name" } th { "ID" } th { "UID" } th { "Created" } } }
                        tbody {
                            @for a in &apps {
                                tr {
                                    td { a href={"/apps/" (a.id)} { (a.name) } }
                                    td class="mono" { (a.id) }
                                    td class="mono" { @if let Some(u) = &a.uid { (u.as_str()) } }
                                    td { (layout::time(a.created_at)) }
                                }
                            }
                        }
                    }
                }
            }
            h2 id="new-app" { "Add an application" }
            form class="card" method="post" action="/apps" aria-labelledby="new-app" {
                (layout::csrf_field(session))
                @if let Some(e) = form.error("form") { p class="form-error" role="alert" { (e) } }
                div class="row top" {
                    (Field { name: "name", label: "Name", value: &form.name, kind: "text", hint: None, error: form.error("name"), required: true }.render())
                    (Field { name: "uid", label: "UID (optional)", value: &form.uid, kind: "text", hint: Some("Your own id for it, e.g. a customer id."), error: form.error("uid"), required: false }.render())
                }
                button type="submit" { "Add application" }
            }
        },
    ))
}

async fn create(
    State(state): State<Services>,
    Extension(session): Extension<Session>,
    fields: FormFields,
) -> Result<Response, PageError> {
    let mut form = NewAppForm {
        name: fields.text("name"),
        uid: fields.text("uid"),
        errors: Vec::new(),
    };
    if form.name.is_empty() {
        form.errors
            .push(("name", "Give the application a name.".into()));
    }
    let uid = if form.uid.is_empty() {
        None
    } else {
        match Uid::parse_for(AppId::PREFIX, &form.uid) {
            Ok(u) => Some(u),
            Err(e) => {
                form.errors.push(("uid", e.0));
                None
            }
        }
    };
    if form.errors.is_empty() {
        let input = ApplicationInput {
            name: form.name.clone(),
            uid: uid.map(|u| u.as_str().to_owned()),
            throttle_rate: None,
            metadata: None,
        };
        match state.send.create_app(input, false).await {
            Ok((app, _)) => return Ok(Redirect::to(&format!("/apps/{}", app.id)).into_response()),
            Err(SendError::Validation(e)) => form.errors.push(("name", e)),
            Err(SendError::Store(StoreError::Conflict(_))) => form
                .errors
                .push(("uid", "Another application already has this UID.".into())),
            Err(e) => return Err(e.into()),
        }
    }
    let page = list_page(&state, &session, &form).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(page.into_string())).into_response())
}

/// How an endpoint has been doing lately.
pub struct Health {
    /// Attempts looked at (the most recent, up to [`HEALTH_WINDOW`]).
    pub recent: usize,
    pub succeeded: usize,
    pub last: Option<Attempt>,
}

impl Health {
    pub async fn of(state: &Services, app: &AppId, ep: &EndpointId) -> Result<Self, PageError> {
        let filter = AttemptFilter {
            msg_id: None,
            endpoint_id: Some(ep.clone()),
            status: None,
        };
        let attempts = state
            .store
            .list_attempts(app, &filter, &first_page(HEALTH_WINDOW))
            .await?;
        Ok(Self {
            recent: attempts.len(),
            succeeded: attempts
                .iter()
                .filter(|a| a.status == DeliveryStatus::Success)
                .count(),
            last: attempts.into_iter().next(),
        })
    }

    pub fn render(&self) -> Markup {
        if self.recent == 0 {
            return badge("idle", "no attempts yet");
        }
        let rate = self.succeeded * 100 / self.recent;
        let kind = match rate {
            100 => "ok",
            50..=99 => "warn",
            _ => "bad",
        };
        html! {
            (badge(kind, &format!("{rate}% ok")))
            " "
            span class="muted" { "of the last " (self.recent) }
        }
    }
}

/// The last attempt's outcome: its HTTP status, or why there was none.
pub fn last_status(a: &Attempt) -> Markup {
    let ok = a.status == DeliveryStatus::Success;
    let text = if a.response_status_code > 0 {
        format!("HTTP {}", a.response_status_code)
    } else {
        a.failure_reason
            .clone()
            .unwrap_or_else(|| "no response".into())
    };
    badge(if ok { "ok" } else { "bad" }, &text)
}

async fn show(
    State(state): State<Services>,
    Extension(session): Extension<Session>,
    Path(app_id): Path<String>,
) -> Result<Html<String>, PageError> {
    let app = find(&state, &app_id).await?;
    let endpoints = state
        .store
        .list_endpoints(
            &app.id,
            &PageRequest {
                limit: LIST_LIMIT,
                iterator: None,
                ascending: true,
            },
        )
        .await?;
    // One small indexed query per endpoint: a page lists at most LIST_LIMIT of them.
    let mut rows = Vec::with_capacity(endpoints.len());
    for ep in endpoints {
        let health = Health::of(&state, &app.id, &ep.id).await?;
        rows.push((ep, health));
    }
    let tokens = state.send.app_tokens(&app.id).await?;
    let now = state.clock.now();
    let body = html! {
        p class="muted" { a href="/apps" { "Applications" } " / " }
        h1 { (app.name) }
        p class="mono muted" { (app.id) @if let Some(u) = &app.uid { " · uid " (u.as_str()) } }
        div class="actions" {
            a class="button" href={"/apps/" (app.id) "/endpoints/new"} { "Add endpoint" }
            a class="button secondary" href={"/messages?app=" (app.id)} { "Messages" }
        }
        h2 { "Endpoints" }
        @if rows.is_empty() {
            p class="card" { "No endpoints yet: add one to start receiving this application's messages." }
        } @else {
            div class="table-wrap" {
                table {
                    thead { tr { th { "Endpoint" } th { "State" } th { "Health" } th { "Last attempt" } } }
                    tbody {
                        @for (ep, health) in &rows {
                            tr {
                                td {
                                    a href={"/apps/" (app.id) "/endpoints/" (ep.id)} class="mono" { (ep.fields.url.as_str()) }
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
        (portal_links(&tokens, now))
    };
    Ok(Html(
        layout::page(&session, "/apps", &app.name, body).into_string(),
    ))
}

/// The application's app portal links (`POST /api/v1/auth/app-portal-access/{app}`): who used
/// the portal and when. The tokens themselves are not stored, so they cannot be shown.
fn portal_links(
    tokens: &[crate::domain::portal::AppToken],
    now: chrono::DateTime<chrono::Utc>,
) -> Markup {
    html! {
        h2 id="portal-links" { "App portal links" }
        @if tokens.is_empty() {
            p class="card muted" { "None issued. " code { "POST /api/v1/auth/app-portal-access/{app}" } " makes one." }
        } @else {
            div class="table-wrap" {
                table aria-labelledby="portal-links" {
                    thead { tr { th { "Session" } th { "Capabilities" } th { "Created" } th { "Last used" } th { "Expires" } } }
                    tbody {
                        @for t in tokens {
                            tr {
                                td { @if let Some(s) = &t.session_id { code { (s) } } @else { span class="muted" { "—" } } br; span class="mono muted" { (t.id) } }
                                td { (t.capabilities.names().join(", ")) }
                                td { (layout::time(t.created_at)) }
                                td { @if let Some(u) = t.last_used_at { (layout::time(u)) } @else { span class="muted" { "never" } } }
                                td {
                                    @if t.is_live(now) { (badge("ok", "active")) " " } @else { (badge("off", "ended")) " " }
                                    (layout::time(t.expires_at))
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

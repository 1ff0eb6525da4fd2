//! Slack apps in the console: the list and a create form; each app's page with its ids and
//! secrets, its settings (event subscription, slash commands, interactivity URL), its Events
//! API attempt log, token rotation and deletion.
//!
//! A bot token is shown once, on the page that answers the create or rotate form (never in a
//! URL), as incoming-webhook URLs are ([`super::integrations`]). Saving an event request URL
//! sends Slack's `url_verification` challenge first; a URL that does not answer it is refused
//! beside the form and nothing is saved.

use super::applications::last_status;
use super::error::PageError;
use super::form::FormFields;
use super::layout::{self, Field};
use super::session::Session;
use crate::domain::workspace::SlackApp;
use crate::services::Services;
use crate::workspace::apps::{CommandSpec, EventsSpec, SlackAppSpec};
use crate::workspace::WorkspaceError;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use maud::{html, Markup};

/// How many Events API attempts an app's page shows.
const ATTEMPTS: u32 = 50;

pub fn routes() -> Router<Services> {
    Router::new()
        .route("/slack-apps", get(index).post(create))
        .route("/slack-apps/{id}", get(show).post(update))
        .route("/slack-apps/{id}/rotate-token", post(rotate))
        .route("/slack-apps/{id}/delete", post(delete))
}

/// A refusal the person can fix, or a fault to answer as a page.
fn refusal(e: WorkspaceError) -> Result<String, PageError> {
    match e {
        WorkspaceError::Invalid(m) | WorkspaceError::UrlVerification(m) => Ok(m),
        WorkspaceError::Conflict(m) => Ok(m),
        other => Err(other.into()),
    }
}

fn secret_rows(rows: &[(&str, String)]) -> Markup {
    html! {
        section class="card notice secret" role="status" {
            h2 { "Copy the bot token now" }
            p { "It is shown only this once; Kanca keeps only its digest." }
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

async fn list_page(
    state: &Services,
    session: &Session,
    status: StatusCode,
    error: Option<&str>,
    name: &str,
) -> Result<Response, PageError> {
    let apps = state.workspace.list_slack_apps().await?;
    let body = html! {
        p class="muted" { a href="/channels" { "Channels" } " /" }
        h1 { "Slack apps" }
        p class="muted" {
            "Apps built with Slack's SDKs and Bolt run against this workspace unchanged: point their Web API client at "
            code { (state.config.public_url) "/api/" } ", give them the bot token and signing secret, and set their request URLs here."
        }
        @if apps.is_empty() { p class="card muted" { "No Slack apps yet." } }
        @else {
            div class="table-wrap" {
                table {
                    caption class="visually-hidden" { "Slack apps" }
                    thead { tr { th { "Name" } th { "App id" } th { "Events" } th { "Slash commands" } th { "Interactivity" } } }
                    tbody {
                        @for a in &apps {
                            tr {
                                td { a href={"/slack-apps/" (a.id)} { (a.name) } }
                                td class="mono" { (a.id) }
                                td { @match &a.events {
                                    Some(e) => { (e.event_types.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", ")) },
                                    None => span class="muted" { "none" },
                                } }
                                td { @for c in &a.slash_commands { code { (c.command.as_str()) } " " } }
                                td { @if a.interactivity_url.is_some() { "on" } @else { span class="muted" { "off" } } }
                            }
                        }
                    }
                }
            }
        }
        form class="card spaced" method="post" action="/slack-apps" {
            (layout::csrf_field(session))
            h2 { "Create a Slack app" }
            @if let Some(e) = error { p class="form-error" role="alert" { (e) } }
            (Field { name: "name", label: "Name", value: name, kind: "text", hint: Some("1 to 35 characters; the bot's handle is made from it"), error: None, required: true }.render())
            button type="submit" { "Create app" }
        }
    };
    let page = layout::page(session, "/channels", "Slack apps", body);
    Ok((status, Html(page.into_string())).into_response())
}

async fn index(
    State(state): State<Services>,
    Extension(session): Extension<Session>,
) -> Result<Response, PageError> {
    list_page(&state, &session, StatusCode::OK, None, "").await
}

async fn create(
    State(state): State<Services>,
    Extension(session): Extension<Session>,
    form: FormFields,
) -> Result<Response, PageError> {
    let name = form.text("name");
    let spec = SlackAppSpec {
        name: Some(name.clone()),
        ..Default::default()
    };
    match state.workspace.create_slack_app(spec).await {
        Ok(created) => {
            let token = created.token.expose().to_owned();
            app_page(
                &state,
                &session,
                &created.app,
                StatusCode::CREATED,
                Some(vec![("Bot token", token)]),
                None,
                None,
            )
            .await
        }
        Err(e) => {
            let message = refusal(e)?;
            list_page(
                &state,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&message),
                &name,
            )
            .await
        }
    }
}

/// The settings form's values: as saved, or as typed when the form was refused.
struct Settings {
    request_url: String,
    event_types: String,
    commands: String,
    interactivity_url: String,
}

impl Settings {
    fn of(app: &SlackApp) -> Self {
        Self {
            request_url: app
                .events
                .as_ref()
                .map(|e| e.request_url.as_str().to_owned())
                .unwrap_or_default(),
            event_types: app
                .events
                .as_ref()
                .map(|e| {
                    e.event_types
                        .iter()
                        .map(|t| t.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default(),
            commands: app
                .slash_commands
                .iter()
                .map(|c| {
                    format!(
                        "{} {} {}",
                        c.command.as_str(),
                        c.url.as_str(),
                        c.description
                    )
                })
                .map(|l| l.trim_end().to_owned())
                .collect::<Vec<_>>()
                .join("\n"),
            interactivity_url: app
                .interactivity_url
                .as_ref()
                .map(|u| u.as_str().to_owned())
                .unwrap_or_default(),
        }
    }

    fn typed(form: &FormFields) -> Self {
        Self {
            request_url: form.text("request_url"),
            event_types: form.text("event_types"),
            commands: form.text("commands"),
            interactivity_url: form.text("interactivity_url"),
        }
    }

    /// The change the form asks for; a malformed command line is refused.
    fn spec(&self) -> Result<SlackAppSpec, String> {
        let events = if self.request_url.trim().is_empty() {
            None
        } else {
            Some(EventsSpec {
                request_url: self.request_url.trim().to_owned(),
                event_types: self
                    .event_types
                    .split([',', ' ', '\n'])
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned)
                    .collect(),
            })
        };
        let mut commands = Vec::new();
        for line in self
            .commands
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            let mut parts = line.splitn(3, char::is_whitespace);
            let (Some(command), Some(url)) = (parts.next(), parts.next()) else {
                return Err(format!(
                    "`{line}`: write a slash command as `/command URL description`"
                ));
            };
            commands.push(CommandSpec {
                command: command.to_owned(),
                url: url.to_owned(),
                description: parts.next().map(str::to_owned),
                usage_hint: None,
            });
        }
        let interactivity =
            Some(self.interactivity_url.trim().to_owned()).filter(|u| !u.is_empty());
        Ok(SlackAppSpec {
            name: None,
            events: Some(events),
            slash_commands: Some(commands),
            interactivity_url: Some(interactivity),
        })
    }
}

async fn app_page(
    state: &Services,
    session: &Session,
    app: &SlackApp,
    status: StatusCode,
    secrets: Option<Vec<(&str, String)>>,
    error: Option<&str>,
    typed: Option<Settings>,
) -> Result<Response, PageError> {
    let attempts = state.workspace.slack_event_attempts(app, ATTEMPTS).await?;
    let settings = typed.unwrap_or_else(|| Settings::of(app));
    let public = &state.config.public_url;
    let body = html! {
        p class="muted" { a href="/channels" { "Channels" } " / " a href="/slack-apps" { "Slack apps" } " /" }
        h1 { (app.name) }
        @if let Some(rows) = &secrets { (secret_rows(rows)) }
        dl class="facts card" {
            dt { "App id" } dd class="mono" { (app.id) }
            dt { "Bot user" } dd class="mono" { (app.bot_user_id) " (" (app.bot_id) ")" }
            dt { "Team" } dd class="mono" { (state.workspace.team_id()) }
            dt { "Signing secret" } dd class="mono" { (app.signing_secret) }
            dt { "Verification token" } dd class="mono" { (crate::workspace::events_api::verification_token(app)) }
            dt { "Web API" } dd class="mono" { (public) "/api/" }
            dt { "Events" } dd {
                @match &app.events {
                    Some(e) if e.verified => { (layout::badge("ok", "verified")) " " span class="mono" { (e.request_url.as_str()) } },
                    Some(e) => { (layout::badge("warn", "not verified")) " " span class="mono" { (e.request_url.as_str()) } },
                    None => span class="muted" { "no subscription" },
                }
            }
            dt { "Created" } dd { (layout::time(app.created_at)) }
        }
        form class="card spaced" method="post" action={"/slack-apps/" (app.id)} {
            (layout::csrf_field(session))
            h2 { "Settings" }
            @if let Some(e) = error { p class="form-error" role="alert" id="settings-error" { (e) } }
            (Field { name: "request_url", label: "Event request URL", value: &settings.request_url, kind: "url", hint: Some("Saving sends Slack's url_verification challenge; the URL is saved only once it answers. Empty: no events."), error: None, required: false }.render())
            (Field { name: "event_types", label: "Event types", value: &settings.event_types, kind: "text", hint: Some("Comma-separated: message.channels, app_mention, reaction_added, reaction_removed, channel_created, member_joined_channel"), error: None, required: false }.render())
            div class="field" {
                label for="f-commands" { "Slash commands" }
                textarea id="f-commands" name="commands" rows="3" class="mono" aria-describedby="f-commands-hint" { (settings.commands) }
                p class="hint" id="f-commands-hint" { "One per line: " code { "/command URL description" } "." }
            }
            (Field { name: "interactivity_url", label: "Interactivity request URL", value: &settings.interactivity_url, kind: "url", hint: Some("Where button clicks (block_actions) are sent. Empty: buttons do nothing."), error: None, required: false }.render())
            button type="submit" { "Save settings" }
        }
        div class="row" {
            form method="post" action={"/slack-apps/" (app.id) "/rotate-token"} {
                (layout::csrf_field(session))
                button type="submit" class="secondary" { "Rotate bot token" }
            }
            form method="post" action={"/slack-apps/" (app.id) "/delete"} {
                (layout::csrf_field(session))
                button type="submit" class="danger" aria-label={"Delete " (app.name)} { "Delete app" }
            }
        }
        h2 { "Events API requests" }
        @if attempts.is_empty() { p class="card muted" { "No event sent yet." } }
        @else {
            div class="table-wrap" {
                table {
                    thead { tr { th { "Time" } th { "Result" } th { "Latency" } th { "Response" } } }
                    tbody {
                        @for a in &attempts {
                            tr {
                                td { (layout::time(a.created_at)) }
                                td { (last_status(a)) }
                                td { (a.response_duration_ms) " ms" }
                                td { @if a.response.is_empty() { span class="muted" { "(empty)" } } @else { details { summary { (a.response.len()) " bytes" } pre { (a.response) } } } }
                            }
                        }
                    }
                }
            }
        }
    };
    let page = layout::page(session, "/channels", &app.name, body);
    Ok((status, Html(page.into_string())).into_response())
}

async fn show(
    State(state): State<Services>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let app = state.workspace.slack_app(&id).await?;
    app_page(&state, &session, &app, StatusCode::OK, None, None, None).await
}

async fn update(
    State(state): State<Services>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    form: FormFields,
) -> Result<Response, PageError> {
    let app = state.workspace.slack_app(&id).await?;
    let typed = Settings::typed(&form);
    let result = match typed.spec() {
        Ok(spec) => state
            .workspace
            .update_slack_app(&id, spec)
            .await
            .map_err(refusal),
        Err(why) => Err(Ok(why)),
    };
    match result {
        Ok(app) => Ok(Redirect::to(&format!("/slack-apps/{}", app.id)).into_response()),
        Err(Ok(message)) => {
            app_page(
                &state,
                &session,
                &app,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(&message),
                Some(typed),
            )
            .await
        }
        Err(Err(fault)) => Err(fault),
    }
}

async fn rotate(
    State(state): State<Services>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let (app, token) = state.workspace.rotate_slack_app_token(&id).await?;
    let token = token.expose().to_owned();
    app_page(
        &state,
        &session,
        &app,
        StatusCode::OK,
        Some(vec![("New bot token (the old one no longer works)", token)]),
        None,
        None,
    )
    .await
}

async fn delete(
    State(state): State<Services>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    state.workspace.delete_slack_app(&id).await?;
    Ok(Redirect::to("/slack-apps").into_response())
}

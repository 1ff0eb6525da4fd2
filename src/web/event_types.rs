//! The event catalog: every event type with its description, JSON Schema and example payload
//! (the one "Send test event" sends), and forms to create and edit them.
//!
//! The form edits the newest schema version: the schema and its example are two text areas,
//! stored together as `schemas[version]` with `examples: [example]`, as the API stores them.

use super::error::PageError;
use super::form::FormFields;
use super::layout::{self, badge, Field};
use super::session::Session;
use crate::domain::*;
use crate::send::{EventTypeInput, EventTypePatch, SendError};
use crate::services::Services;
use crate::store::PageRequest;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Extension, Router};
use maud::html;
use serde_json::{Map, Value};

pub fn routes() -> Router<Services> {
    Router::new()
        .route("/event-types", get(list).post(create))
        .route("/event-types/new", get(new))
        .route("/event-types/{name}", get(edit).post(update))
}

/// A stored JSON value indented for reading (the catalog and the endpoint form show examples).
pub(super) fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// The newest schema version (numerically when versions are numbers) and its schema.
fn newest_schema(et: &EventType) -> Option<(String, Value)> {
    let map = et.schemas.as_ref()?.as_object()?;
    map.iter()
        .max_by(|a, b| match (a.0.parse::<u64>(), b.0.parse::<u64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => a.0.cmp(b.0),
        })
        .map(|(k, v)| (k.clone(), v.clone()))
}

/// The schema as a person edits it: without the examples, which have their own box.
fn schema_without_examples(schema: &Value) -> Value {
    let mut s = schema.clone();
    if let Some(o) = s.as_object_mut() {
        o.remove("examples");
        o.remove("example");
    }
    s
}

async fn list(
    State(state): State<Services>,
    Extension(session): Extension<Session>,
) -> Result<Html<String>, PageError> {
    let page = PageRequest {
        limit: 250,
        iterator: None,
        ascending: true,
    };
    let types = state.send.list_event_types(&page, true).await?;
    let body = html! {
        h1 { "Event catalog" }
        p class="muted" { "The event types applications publish. Endpoints subscribe to them; \"Send test event\" sends their example." }
        p { a class="button" href="/event-types/new" { "Add event type" } }
        (catalog(&types, true))
    };
    Ok(Html(
        layout::page(&session, "/event-types", "Event catalog", body).into_string(),
    ))
}

/// The catalog's entries (name, description, schema, example), shared with the app portal,
/// where they are not `editable`.
pub(super) fn catalog(types: &[EventType], editable: bool) -> maud::Markup {
    html! {
        div class="catalog" {
            @if types.is_empty() { p class="card" { "The catalog is empty." } }
            @for t in types {
                article aria-labelledby={"et-" (t.name)} {
                    h2 id={"et-" (t.name)} class="mono" {
                        (t.name) " "
                        @if t.archived { (badge("off", "archived")) " " }
                        @if t.deprecated { (badge("warn", "deprecated")) }
                    }
                    p { @if t.description.is_empty() { span class="muted" { "No description." } } @else { (t.description) } }
                    div class="two" {
                        div {
                            h3 { "Schema" }
                            @match newest_schema(t) {
                                Some((v, s)) => { p class="muted" { "Version " (v) } pre { (pretty(&schema_without_examples(&s))) } },
                                None => { p class="muted" { "No schema." } },
                            }
                        }
                        div {
                            h3 { "Example payload" }
                            @match t.example(0) {
                                Some(e) => { pre { (pretty(&e)) } },
                                None => { p class="muted" { "No example: add one to send test events of this type." } },
                            }
                        }
                    }
                    @if editable { p { a href={"/event-types/" (t.name)} aria-label={"Edit " (t.name)} { "Edit" } } }
                }
            }
        }
    }
}

#[derive(Default)]
struct EventTypeForm {
    name: String,
    description: String,
    schema: String,
    example: String,
    errors: Vec<(&'static str, String)>,
}

impl EventTypeForm {
    fn from_fields(f: &FormFields) -> Self {
        Self {
            name: f.text("name"),
            description: f.text("description"),
            schema: f.text("schema"),
            example: f.text("example"),
            errors: Vec::new(),
        }
    }

    fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, e)| e.as_str())
    }

    /// A JSON object from a text area; empty means none.
    fn object(&mut self, field: &'static str, what: &str) -> Option<Map<String, Value>> {
        let text = if field == "schema" {
            &self.schema
        } else {
            &self.example
        };
        if text.is_empty() {
            return None;
        }
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(o)) => Some(o),
            Ok(_) => {
                self.errors.push((
                    field,
                    format!("The {what} must be a JSON object ({{ … }})."),
                ));
                None
            }
            Err(e) => {
                self.errors
                    .push((field, format!("The {what} is not valid JSON: {e}.")));
                None
            }
        }
    }

    /// The schemas to store, `existing` with `version` replaced; `None` when both boxes are
    /// empty and there was nothing before.
    fn schemas(&mut self, existing: Option<&EventType>) -> Option<Value> {
        let schema = self.object("schema", "schema");
        let example = self.object("example", "example payload");
        let mut all = existing
            .and_then(|e| e.schemas.as_ref())
            .and_then(|s| s.as_object().cloned())
            .unwrap_or_default();
        let version = existing
            .and_then(newest_schema)
            .map(|(v, _)| v)
            .unwrap_or_else(|| "1".into());
        if schema.is_none() && example.is_none() {
            all.remove(&version);
        } else {
            let mut s = schema.unwrap_or_default();
            if let Some(e) = example {
                s.insert("examples".into(), Value::Array(vec![Value::Object(e)]));
            }
            all.insert(version, Value::Object(s));
        }
        (!all.is_empty()).then_some(Value::Object(all))
    }
}

fn render_form(session: &Session, editing: Option<&EventType>, form: &EventTypeForm) -> String {
    let (title, action) = match editing {
        Some(t) => (
            format!("Edit {}", t.name),
            format!("/event-types/{}", t.name),
        ),
        None => ("Add event type".to_owned(), "/event-types".to_owned()),
    };
    let body = html! {
        p class="muted" { a href="/event-types" { "Event catalog" } " /" }
        h1 id="form-title" { (title) }
        form class="card" method="post" action=(action) aria-labelledby="form-title" novalidate {
            (layout::csrf_field(session))
            @if let Some(e) = form.error("form") { p class="form-error" role="alert" { (e) } }
            @if editing.is_none() {
                (Field { name: "name", label: "Name", value: &form.name, kind: "text",
                    hint: Some("Letters, digits, '-', '_' and '.', e.g. invoice.paid."),
                    error: form.error("name"), required: true }.render())
            }
            (Field { name: "description", label: "Description", value: &form.description, kind: "text",
                hint: None, error: form.error("description"), required: false }.render())
            @for (field, label, value) in [("schema", "JSON Schema", &form.schema), ("example", "Example payload (JSON object)", &form.example)] {
                div class="field" {
                    label for={"f-" (field)} { (label) }
                    textarea id={"f-" (field)} name=(field) rows="8"
                        aria-invalid=[form.error(field).map(|_| "true")]
                        aria-describedby=[form.error(field).map(|_| format!("f-{field}-error"))] { (value) }
                    @if let Some(e) = form.error(field) { p id={"f-" (field) "-error"} class="field-error" { (e) } }
                }
            }
            div class="actions" {
                button type="submit" { "Save" }
                a href="/event-types" { "Cancel" }
            }
        }
    };
    layout::page(session, "/event-types", "Event type", body).into_string()
}

async fn new(Extension(session): Extension<Session>) -> Html<String> {
    Html(render_form(&session, None, &EventTypeForm::default()))
}

fn unprocessable(page: String) -> Response {
    (StatusCode::UNPROCESSABLE_ENTITY, Html(page)).into_response()
}

async fn create(
    State(state): State<Services>,
    Extension(session): Extension<Session>,
    fields: FormFields,
) -> Result<Response, PageError> {
    let mut form = EventTypeForm::from_fields(&fields);
    let name = EventTypeName::parse(&form.name)
        .map_err(|e| form.errors.push(("name", e.0)))
        .ok();
    let schemas = form.schemas(None);
    let Some(name) = name.filter(|_| form.errors.is_empty()) else {
        return Ok(unprocessable(render_form(&session, None, &form)));
    };
    let input = EventTypeInput {
        description: form.description.clone(),
        schemas,
        ..Default::default()
    };
    match state.send.create_event_type(name.as_str(), input).await {
        Ok(_) => Ok(Redirect::to("/event-types").into_response()),
        Err(SendError::Conflict(_)) => {
            form.errors.push((
                "name",
                "An event type with this name already exists.".into(),
            ));
            Ok(unprocessable(render_form(&session, None, &form)))
        }
        Err(e) => Err(e.into()),
    }
}

async fn find(state: &Services, name: &str) -> Result<EventType, PageError> {
    Ok(state.send.event_type(name).await?)
}

async fn edit(
    State(state): State<Services>,
    Extension(session): Extension<Session>,
    Path(name): Path<String>,
) -> Result<Html<String>, PageError> {
    let et = find(&state, &name).await?;
    let form = EventTypeForm {
        name: et.name.to_string(),
        description: et.description.clone(),
        schema: newest_schema(&et)
            .map(|(_, s)| pretty(&schema_without_examples(&s)))
            .unwrap_or_default(),
        example: et.example(0).map(|e| pretty(&e)).unwrap_or_default(),
        errors: Vec::new(),
    };
    Ok(Html(render_form(&session, Some(&et), &form)))
}

async fn update(
    State(state): State<Services>,
    Extension(session): Extension<Session>,
    Path(name): Path<String>,
    fields: FormFields,
) -> Result<Response, PageError> {
    let et = find(&state, &name).await?;
    let mut form = EventTypeForm::from_fields(&fields);
    let schemas = form.schemas(Some(&et));
    if !form.errors.is_empty() {
        return Ok(unprocessable(render_form(&session, Some(&et), &form)));
    }
    let patch = EventTypePatch {
        description: Some(form.description.clone()),
        schemas: Some(schemas),
        ..Default::default()
    };
    state.send.patch_event_type(et.name.as_str(), patch).await?;
    Ok(Redirect::to("/event-types").into_response())
}

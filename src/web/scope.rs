//! Whose pages an application's pages are: the admin console's or the app portal's.
//!
//! The endpoint, endpoint form and message pages are written once and mounted twice: under
//! `/apps/{app_id}` behind the console's session, and under `/portal` behind a portal session
//! (`super::portal`), which names its application itself. [`Scope`] is the extractor that
//! tells a handler which: the application, where its pages live (`base`), the CSRF token for
//! forms, the page shell to draw, and what may be done. The console may do everything; the
//! portal what its token's capabilities permit
//! ([`Capabilities::permits`](crate::domain::portal::Capabilities::permits), the same rule
//! the API applies), and a page shows only the controls its scope may use, while each action
//! checks again ([`Scope::require`]), so a hand-made form gets a 403 too.

use super::error::PageError;
use super::layout;
use super::portal::PortalSession;
use super::session::Session;
use crate::domain::portal::PortalAction;
use crate::domain::Application;
use crate::services::Services;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::StatusCode;
use maud::{html, Markup};
use std::collections::HashMap;

/// An application's pages as one viewer may use them.
pub struct Scope {
    pub app: Application,
    /// The path this application's pages hang from (`/apps/{id}` or `/portal`).
    pub base: String,
    kind: Kind,
}

enum Kind {
    Console(Session),
    Portal(PortalSession),
}

impl Scope {
    /// Whether this viewer may do `action` (the console always may).
    pub fn can(&self, action: PortalAction) -> bool {
        match &self.kind {
            Kind::Console(_) => true,
            Kind::Portal(p) => p.capabilities().permits(action),
        }
    }

    /// `Ok` when [`Self::can`]; a 403 page otherwise.
    pub fn require(&self, action: PortalAction) -> Result<(), PageError> {
        if self.can(action) {
            Ok(())
        } else {
            Err(PageError::status(
                StatusCode::FORBIDDEN,
                "This link does not allow that.",
            ))
        }
    }

    pub fn csrf(&self) -> &str {
        match &self.kind {
            Kind::Console(s) => &s.csrf,
            Kind::Portal(p) => &p.csrf,
        }
    }

    /// The hidden field every form sends back.
    pub fn csrf_field(&self) -> Markup {
        html! { input type="hidden" name=(super::session::CSRF_FIELD) value=(self.csrf()); }
    }

    /// The trail above a page's title, down to the application.
    pub fn crumbs(&self) -> Markup {
        match &self.kind {
            Kind::Console(_) => html! {
                a href="/apps" { "Applications" } " / " a href=(self.base) { (self.app.name) } " /"
            },
            Kind::Portal(_) => html! { a href={(self.base) "/endpoints"} { "Endpoints" } " /" },
        }
    }

    /// The page that lists this application's endpoints.
    pub fn home(&self) -> String {
        match &self.kind {
            Kind::Console(_) => self.base.clone(),
            Kind::Portal(_) => format!("{}/endpoints", self.base),
        }
    }

    /// Where this application's message log is.
    pub fn messages_href(&self) -> String {
        match &self.kind {
            Kind::Console(_) => format!("/messages?app={}", self.app.id),
            Kind::Portal(_) => format!("{}/messages", self.base),
        }
    }

    /// Where the event catalog is.
    pub fn catalog_href(&self) -> &'static str {
        match &self.kind {
            Kind::Console(_) => "/event-types",
            Kind::Portal(_) => "/portal/event-types",
        }
    }

    /// The whole page: the console's shell or the portal's.
    pub fn page(&self, section: Section, title: &str, body: Markup) -> Markup {
        match &self.kind {
            Kind::Console(s) => {
                let current = match section {
                    Section::Endpoints => "/apps",
                    Section::Messages => "/messages",
                    Section::Catalog => "/event-types",
                };
                layout::page(s, current, title, body)
            }
            Kind::Portal(p) => super::portal::page(p, section, title, body),
        }
    }
}

/// The part of an application's pages a page belongs to, for the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Endpoints,
    Messages,
    Catalog,
}

impl FromRequestParts<Services> for Scope {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &Services) -> Result<Self, PageError> {
        if let Some(portal) = parts.extensions.get::<PortalSession>().cloned() {
            let app = state
                .send
                .app(portal.app_id().as_str())
                .await
                .map_err(|_| PageError::not_found("application"))?;
            return Ok(Self {
                app,
                base: "/portal".into(),
                kind: Kind::Portal(portal),
            });
        }
        let session = parts
            .extensions
            .get::<Session>()
            .cloned()
            .ok_or_else(|| PageError::status(StatusCode::UNAUTHORIZED, "Sign in first."))?;
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| PageError::not_found("application"))?;
        let key = params
            .get("app_id")
            .ok_or_else(|| PageError::not_found("application"))?;
        let app = super::applications::find(state, key).await?;
        Ok(Self {
            base: format!("/apps/{}", app.id),
            app,
            kind: Kind::Console(session),
        })
    }
}

/// One path parameter of a scoped route (`endpoint_id`, `msg_id`): the rest of the path
/// (the console's `app_id`) is the scope's business.
pub struct Param(pub HashMap<String, String>);

impl Param {
    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).map(String::as_str).unwrap_or_default()
    }
}

impl FromRequestParts<Services> for Param {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &Services) -> Result<Self, PageError> {
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| PageError::not_found("page"))?;
        Ok(Self(params))
    }
}

//! What an application token (the app portal's credential) may reach of `/api/v1`.
//!
//! The admin token reaches everything. An application token reaches its own application's
//! routes (`/app/{app}/…`, addressed by id or uid), reads of the event catalog, and its own
//! `auth/logout` and `auth/whoami`; within those, each route needs a [`PortalAction`] that the
//! token's capabilities must permit
//! ([`Capabilities::permits`](crate::domain::portal::Capabilities::permits)). Another
//! application's routes answer 404, as if they did not exist: a customer learns nothing about
//! the product's other customers, not even whether an id is taken. Everything else answers 403.
//!
//! The decision is made from the method and path before any handler runs, by one table
//! ([`route_action`]) rather than a check in each handler, so a new route is refused to
//! application tokens until it is added here. Reads default to `ViewBase`; a write the table
//! does not name is refused (creating messages among them: that is the product's job).

use super::Services;
use crate::domain::portal::{AppToken, PortalAction};
use crate::error::ApiError;
use axum::http::Method;
use std::sync::Arc;

/// Who made an authenticated API request, as the middleware found out.
#[derive(Debug, Clone)]
pub enum Caller {
    Admin,
    App(Arc<AppToken>),
}

/// What a route is, for an application token.
#[derive(Debug, PartialEq, Eq)]
enum Scoped<'a> {
    /// Under `/app/{key}/…`: allowed for the token's own application with this action;
    /// `None` never.
    App {
        key: &'a str,
        action: Option<PortalAction>,
    },
    /// Outside any application.
    Global(Option<PortalAction>),
}

/// The route `path` (with or without the `/api/v1` prefix) in the terms of [`Scoped`].
fn route_action<'a>(method: &Method, path: &'a str) -> Scoped<'a> {
    let path = path.strip_prefix("/api/v1").unwrap_or(path);
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let read = method == Method::GET || method == Method::HEAD;
    let view = read.then_some(PortalAction::View);
    match segments.as_slice() {
        ["auth", "logout"] if method == Method::POST => Scoped::Global(Some(PortalAction::View)),
        ["auth", "whoami"] | ["event-type"] | ["event-type", _] => Scoped::Global(view),
        ["app", key, rest @ ..] => Scoped::App {
            key,
            action: app_action(method, read, rest),
        },
        _ => Scoped::Global(None),
    }
}

/// The action a route under `/app/{key}` needs (`rest` is what follows the key).
fn app_action(method: &Method, read: bool, rest: &[&str]) -> Option<PortalAction> {
    use PortalAction::*;
    let post = method == Method::POST;
    let change = matches!(*method, Method::PUT | Method::PATCH | Method::DELETE);
    match rest {
        ["endpoint"] if post => Some(ManageEndpoint),
        ["endpoint", _] if change => Some(ManageEndpoint),
        ["endpoint", _, "secret"] => read.then_some(ViewSecret),
        ["endpoint", _, "secret", "rotate"] => post.then_some(RotateSecret),
        ["endpoint", _, "headers"] if change => Some(ManageEndpoint),
        ["endpoint", _, "transformation"] if change => Some(ManageTransformations),
        ["endpoint", _, "send-example" | "replay-missing" | "bulk-replay" | "recover"] => {
            post.then_some(CreateAttempts)
        }
        ["msg", _, "endpoint", _, "resend"] => post.then_some(CreateAttempts),
        _ => read.then_some(View),
    }
}

/// Lets the request through when `token` may make it; otherwise the answer: 404 for another
/// application (or one that does not exist), 403 for what its capabilities do not allow.
pub(crate) async fn authorize(
    state: &Services,
    token: &AppToken,
    method: &Method,
    path: &str,
) -> Result<(), ApiError> {
    let action = match route_action(method, path) {
        Scoped::Global(action) => action,
        Scoped::App { key, action } => {
            let app = state
                .send
                .app(key)
                .await
                .map_err(|_| ApiError::not_found("application"))?;
            if app.id != token.app_id {
                return Err(ApiError::not_found("application"));
            }
            action
        }
    };
    match action {
        Some(a) if token.capabilities.permits(a) => Ok(()),
        Some(a) => Err(ApiError::Forbidden(format!(
            "this application token's capabilities do not allow {}",
            describe(a)
        ))),
        None => Err(ApiError::Forbidden(
            "an application token cannot use this route".into(),
        )),
    }
}

fn describe(a: PortalAction) -> &'static str {
    match a {
        PortalAction::View => "reading",
        PortalAction::ViewSecret => "reading endpoint secrets (ViewEndpointSecret)",
        PortalAction::RotateSecret => "rotating endpoint secrets (ManageEndpointSecret)",
        PortalAction::ManageTransformations => "changing transformations (ManageTransformations)",
        PortalAction::CreateAttempts => "sending or resending messages (CreateAttempts)",
        PortalAction::ManageEndpoint => "changing endpoints (ManageEndpoint)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PortalAction::*;

    fn app(method: Method, path: &str) -> Option<PortalAction> {
        match route_action(&method, path) {
            Scoped::App { key, action } => {
                assert_eq!(key, "app_x");
                action
            }
            other => panic!("{path} is not an application route: {other:?}"),
        }
    }

    #[test]
    fn reads_need_view_base_and_secrets_their_own_capability() {
        assert_eq!(app(Method::GET, "/api/v1/app/app_x/endpoint"), Some(View));
        assert_eq!(app(Method::GET, "/api/v1/app/app_x"), Some(View));
        assert_eq!(
            app(Method::GET, "/app/app_x/msg/msg_1/attempt/a"),
            Some(View)
        );
        assert_eq!(
            app(Method::GET, "/api/v1/app/app_x/endpoint/ep_1/secret"),
            Some(ViewSecret)
        );
        assert_eq!(
            app(
                Method::POST,
                "/api/v1/app/app_x/endpoint/ep_1/secret/rotate"
            ),
            Some(RotateSecret)
        );
    }

    #[test]
    fn writes_map_to_capabilities_and_the_rest_is_refused() {
        assert_eq!(
            app(Method::POST, "/api/v1/app/app_x/endpoint"),
            Some(ManageEndpoint)
        );
        assert_eq!(
            app(Method::DELETE, "/api/v1/app/app_x/endpoint/ep_1"),
            Some(ManageEndpoint)
        );
        assert_eq!(
            app(Method::PUT, "/api/v1/app/app_x/endpoint/ep_1/headers"),
            Some(ManageEndpoint)
        );
        assert_eq!(
            app(Method::POST, "/api/v1/app/app_x/endpoint/ep_1/recover"),
            Some(CreateAttempts)
        );
        assert_eq!(
            app(
                Method::POST,
                "/api/v1/app/app_x/msg/msg_1/endpoint/ep_1/resend"
            ),
            Some(CreateAttempts)
        );
        assert_eq!(app(Method::POST, "/api/v1/app/app_x/msg"), None);
        assert_eq!(app(Method::DELETE, "/api/v1/app/app_x"), None);
        assert_eq!(
            app(Method::POST, "/api/v1/app/app_x/msg/expunge-all-contents"),
            None
        );
    }

    #[test]
    fn outside_the_application_only_the_catalog_and_own_auth() {
        assert_eq!(
            route_action(&Method::GET, "/api/v1/event-type"),
            Scoped::Global(Some(View))
        );
        assert_eq!(
            route_action(&Method::POST, "/api/v1/event-type"),
            Scoped::Global(None)
        );
        assert_eq!(
            route_action(&Method::GET, "/api/v1/app"),
            Scoped::Global(None)
        );
        assert_eq!(
            route_action(&Method::GET, "/api/v1/bin"),
            Scoped::Global(None)
        );
        assert_eq!(
            route_action(&Method::POST, "/api/v1/auth/app-portal-access/app_x"),
            Scoped::Global(None)
        );
        assert_eq!(
            route_action(&Method::POST, "/api/v1/auth/logout"),
            Scoped::Global(Some(View))
        );
    }
}

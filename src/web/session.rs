//! Signing in to the console: the admin token buys a session cookie, and every form carries a
//! CSRF token bound to that session.
//!
//! Sessions are stateless: the cookie holds a random session id and an expiry, authenticated
//! with an HMAC whose key is derived from the admin token. That needs no table, works on
//! every node of a cluster (they share the token), and changing the admin token ends every
//! session at once. Signing out clears the cookie in the browser *and* records the session id
//! as ended in the database (until it would have expired), so a copied cookie stops working
//! too, on every node. The cookie is `HttpOnly`, `SameSite=Strict` and `Secure` whenever the
//! public URL is https.
//!
//! Wrong tokens at sign-in count towards the same per-address limit as wrong bearer tokens
//! (429 with `Retry-After` past it) and are recorded as security incidents.
//!
//! The CSRF token is an HMAC of the session id under another derived key: forms send it as
//! `_csrf`, scripts as `x-csrf-token`, and [`require_session`] compares it in constant time on
//! every request that is not a GET, before any handler runs, so no form can forget it.

use super::error::PageError;
use super::form::FormFields;
use super::layout;
use crate::services::Services;
use axum::body::Body;
use axum::extract::FromRequest;
use axum::extract::{Request, State};
use axum::http::header::{ACCEPT, COOKIE, RETRY_AFTER, SET_COOKIE};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use maud::html;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The cookie's name.
pub const SESSION_COOKIE: &str = "kanca_session";

/// How long a sign-in lasts.
pub const SESSION_LIFETIME: chrono::Duration = chrono::Duration::hours(12);

/// The form field and the header that carry the CSRF token.
pub const CSRF_FIELD: &str = "_csrf";
const CSRF_HEADER: &str = "x-csrf-token";

/// A signed-in browser, as the pages see it.
#[derive(Clone, Debug)]
pub struct Session {
    /// The token every form of this session must send back.
    pub csrf: String,
    /// The random id in the cookie, and when the cookie expires: what signing out records.
    id: String,
    expires: i64,
}

pub fn public_routes() -> Router<Services> {
    Router::new().route("/login", get(login_page).post(login))
}

pub fn signed_in_routes() -> Router<Services> {
    Router::new().route("/logout", post(logout))
}

fn mac(state: &Services, purpose: &str, message: &str) -> Hmac<Sha256> {
    let key = state.config.derive_key(purpose);
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(message.as_bytes());
    mac
}

fn csrf_token(state: &Services, session_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(
        mac(state, "console csrf", session_id)
            .finalize()
            .into_bytes(),
    )
}

/// A new cookie value: `{id}.{expires unix seconds}.{mac}`.
fn new_cookie_value(state: &Services) -> String {
    let id = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 18]>());
    let expires = (chrono::Utc::now() + SESSION_LIFETIME).timestamp();
    let signed = format!("{id}.{expires}");
    let tag = URL_SAFE_NO_PAD.encode(
        mac(state, "console session", &signed)
            .finalize()
            .into_bytes(),
    );
    format!("{signed}.{tag}")
}

/// The session a cookie value stands for, if its MAC holds (checked in constant time) and it
/// has not expired.
fn verify_cookie_value(state: &Services, value: &str) -> Option<Session> {
    let (signed, tag) = value.rsplit_once('.')?;
    let (id, expires) = signed.split_once('.')?;
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    mac(state, "console session", signed)
        .verify_slice(&tag)
        .ok()?;
    let expires: i64 = expires.parse().ok()?;
    if expires <= chrono::Utc::now().timestamp() {
        return None;
    }
    Some(Session {
        csrf: csrf_token(state, id),
        id: id.to_owned(),
        expires,
    })
}

/// The session a request's cookie holds, if its MAC holds and it has not expired.
fn signed_session(state: &Services, req: &Request) -> Option<Session> {
    req.headers()
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == SESSION_COOKIE)
        .find_map(|(_, value)| verify_cookie_value(state, value))
}

/// `session`, unless it was signed out.
async fn still_open(state: &Services, session: Session) -> Option<Session> {
    match state.store.session_ended(&session.id).await {
        Ok(false) => Some(session),
        Ok(true) => None,
        Err(e) => {
            tracing::error!(error = %e, "could not check whether a console session was ended");
            None
        }
    }
}

fn cookie_header(state: &Services, value: &str, max_age: i64) -> HeaderValue {
    let secure = if state.config.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .expect("cookie made of URL-safe characters")
}

/// Lets a request through only with a valid session, and, unless it is a GET or HEAD, only
/// with that session's CSRF token. A browser without a session is sent to sign in.
pub async fn require_session(
    State(state): State<Services>,
    req: Request,
    next: Next,
) -> Result<Response, PageError> {
    let signed = signed_session(&state, &req);
    let open = match signed {
        Some(s) => still_open(&state, s).await,
        None => None,
    };
    let Some(session) = open else {
        // A live stream (EventSource) cannot follow a sign-in redirect: it is refused.
        let wants_stream = req
            .headers()
            .get(ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/event-stream"));
        if (req.method() == Method::GET || req.method() == Method::HEAD) && !wants_stream {
            let next_path = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            let target = format!(
                "/login?next={}",
                url::form_urlencoded::byte_serialize(next_path.as_bytes()).collect::<String>()
            );
            return Ok(Redirect::to(&target).into_response());
        }
        return Err(PageError::status(
            StatusCode::UNAUTHORIZED,
            "Your session has ended. Sign in again.",
        ));
    };
    let mut req = req;
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let limit = state.config.max_body_bytes;
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
            PageError::status(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large.")
        })?;
        let sent = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .unwrap_or_else(|| FormFields::parse(&bytes).text(CSRF_FIELD));
        if !bool::from(sent.as_bytes().ct_eq(session.csrf.as_bytes())) {
            return Err(PageError::status(
                StatusCode::FORBIDDEN,
                "This form has expired or did not come from the console. Reload the page and try again.",
            ));
        }
        req = Request::from_parts(parts, Body::from(bytes));
    }
    req.extensions_mut().insert(session);
    Ok(next.run(req).await)
}

#[derive(Debug, serde::Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

/// Only paths on this server: `next` must not send a signed-in browser elsewhere.
///
/// Decided on the URL a browser would make of it, not on the text: browsers drop tabs and
/// newlines and read `\\` as `/`, so `/<TAB>/evil` is `//evil`, another host. `next` is
/// resolved against a placeholder origin the way a browser resolves a `Location`, and kept
/// only if it stays on that origin; what is kept is the parsed URL's path and query,
/// percent-encoded, so no control character reaches the `Location` header.
fn local_path(next: Option<&str>) -> String {
    const FALLBACK: &str = "/apps";
    let Some(next) = next.filter(|p| p.starts_with('/')) else {
        return FALLBACK.to_owned();
    };
    let base = url::Url::parse("http://kanca.invalid/").expect("static URL");
    match base.join(next) {
        Ok(u) if u.origin() == base.origin() && u.username().is_empty() => {
            let mut path = u.path().to_owned();
            if let Some(q) = u.query() {
                path.push('?');
                path.push_str(q);
            }
            // A path that still reads as protocol-relative once served is refused too.
            if path.starts_with("//") || path.starts_with("/\\") {
                FALLBACK.to_owned()
            } else {
                path
            }
        }
        _ => FALLBACK.to_owned(),
    }
}

fn login_form(next: &str, error: Option<&str>) -> maud::Markup {
    layout::bare(
        "Sign in",
        html! {
            main class="signin" {
                h1 { "Kanca" }
                p { "Sign in with the admin token (" code { "KANCA_ADMIN_TOKEN" } ", or the one printed at first start)." }
                form method="post" action="/login" {
                    input type="hidden" name="next" value=(next);
                    label for="token" { "Admin token" }
                    input id="token" name="token" type="password" autocomplete="current-password" required
                        aria-invalid=[error.map(|_| "true")] aria-describedby=[error.map(|_| "token-error")];
                    @if let Some(e) = error {
                        p id="token-error" class="field-error" role="alert" { (e) }
                    }
                    button type="submit" { "Sign in" }
                }
            }
        },
    )
}

async fn login_page(
    State(state): State<Services>,
    axum::extract::Query(q): axum::extract::Query<LoginQuery>,
    req: Request,
) -> Response {
    let next = local_path(q.next.as_deref());
    let signed = signed_session(&state, &req);
    drop(req);
    let open = match signed {
        Some(s) => still_open(&state, s).await,
        None => None,
    };
    if open.is_some() {
        return Redirect::to(&next).into_response();
    }
    Html(login_form(&next, None).into_string()).into_response()
}

/// Checks the admin token (in constant time) and starts a session. An address that sent
/// too many wrong tokens (here or as bearer tokens) is answered 429 until its block ends.
async fn login(State(state): State<Services>, req: Request) -> Response {
    let ip = crate::http::access::client_ip(&state, &req);
    if let Some(wait) = state.workspace.guard().admin_blocked_for(ip) {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut response = (
            StatusCode::TOO_MANY_REQUESTS,
            Html(
                login_form(
                    "/apps",
                    Some("Too many wrong tokens from this address. Try again later."),
                )
                .into_string(),
            ),
        )
            .into_response();
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs.max(1)));
        return response;
    }
    let form = match FormFields::from_request(req, &state).await {
        Ok(f) => f,
        Err(rejection) => return rejection,
    };
    let next = local_path(Some(&form.text("next")));
    if !state.config.token_matches(&form.text("token")) {
        crate::http::access::admin_token_failed(
            &state,
            ip,
            "/login",
            "wrong admin token (console sign-in)",
        )
        .await;
        return (
            StatusCode::UNAUTHORIZED,
            Html(login_form(&next, Some("That is not the admin token.")).into_string()),
        )
            .into_response();
    }
    let mut response = Redirect::to(&next).into_response();
    response.headers_mut().insert(
        SET_COOKIE,
        cookie_header(
            &state,
            &new_cookie_value(&state),
            SESSION_LIFETIME.num_seconds(),
        ),
    );
    response
}

/// Ends the session here and on every node (see the module doc), then clears the cookie.
async fn logout(State(state): State<Services>, Extension(session): Extension<Session>) -> Response {
    let expires = chrono::DateTime::from_timestamp(session.expires, 0).unwrap_or_default();
    if let Err(e) = state.store.end_session(&session.id, expires).await {
        tracing::error!(error = %e, "could not record a console sign-out");
        return PageError::status(
            StatusCode::SERVICE_UNAVAILABLE,
            "Signing out could not be recorded. Try again.",
        )
        .into_response();
    }
    let mut response = Redirect::to("/login").into_response();
    response
        .headers_mut()
        .insert(SET_COOKIE, cookie_header(&state, "", 0));
    response
}

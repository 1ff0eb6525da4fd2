//! The app portal at `/portal`: one application's endpoints, messages and event catalog,
//! for the product's customer, in an iframe inside the product (Svix's "app portal").
//!
//! A link from `POST /api/v1/auth/app-portal-access/{app}` is `{public}/portal#key=<token>`.
//! The key is in the fragment, which browsers send to no server (so it reaches no access log
//! and no `Referer`); `portal.js` reads it, posts it to `/portal/session` and drops it from
//! the address bar. The answer sets an `HttpOnly` cookie holding the token, limited to
//! `/portal` and to the token's own lifetime: every page checks it as the API checks a bearer
//! token ([`crate::send::Sending::verify_app_token`]), so `expire-all` and `logout` end a
//! portal session at once, on every node. Over https the cookie is `SameSite=None; Secure;
//! Partitioned`, which an iframe on the product's site needs (and which browsers that block
//! third-party cookies still keep per embedding site); over plain http (a local setup) it is
//! `SameSite=Lax`, which same-site embedding allows. Because a cross-site cookie is sent on
//! cross-site requests, every form carries a CSRF token (an HMAC of the token's id) checked
//! before any handler runs, as in the console.
//!
//! The pages are the console's own ([`super::scope`]): endpoint pages, the add-endpoint form
//! and message pages are mounted here as they are under `/apps/{app}` in the console, with
//! the controls the link's capabilities allow. What only the portal has is here: the
//! endpoint list, the message log and the catalog (`pages`), the page shell with the product's
//! name and theme, and the security headers: CSP `frame-ancestors` from
//! `KANCA_PORTAL_FRAME_ANCESTORS` (default `'self'`) instead of the console's `'none'`.
//!
//! Theme: the link may carry `primaryColor` (hex), `darkMode` (`true`), `productName` and
//! `logoUrl`, in its query or after the key in its fragment; they are checked and kept in a
//! second cookie for the session's pages, and served as a small stylesheet
//! (`/portal/theme.css`), so no inline style or script is needed. The logo is never loaded
//! from the product's URL by the browser: the header shows `/portal/logo`, which the server
//! fetched through the SSRF guard ([`crate::send::PortalLogos`], see [`logo`]), and only once
//! that fetch gave an image.

mod logo;
mod pages;

use super::error::PageError;
use super::form::FormFields;
use super::layout;
use super::scope::Section;
use crate::domain::portal::{AppToken, Capabilities};
use crate::domain::AppId;
use crate::services::Services;
use axum::body::Body;
use axum::extract::{FromRequest, Request, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE, SET_COOKIE,
};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use maud::{html, Markup, DOCTYPE};
use sha2::Sha256;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The cookie that holds the portal's token.
pub const PORTAL_COOKIE: &str = "kanca_portal";
/// The cookie that holds the link's theme.
const THEME_COOKIE: &str = "kanca_portal_theme";
const PORTAL_JS: &str = include_str!("../assets/portal.js");
const PORTAL_JS_PATH: &str = concat!("/portal/portal-", env!("CARGO_PKG_VERSION"), ".js");

/// A browser with a live portal session, as the pages see it.
#[derive(Clone, Debug)]
pub struct PortalSession {
    token: Arc<AppToken>,
    /// The token every form of this session must send back.
    pub csrf: String,
    theme: Theme,
    /// Whether the theme's logo was fetched and is an image, so the header shows it.
    show_logo: bool,
}

impl PortalSession {
    pub fn capabilities(&self) -> &Capabilities {
        &self.token.capabilities
    }

    pub fn app_id(&self) -> &AppId {
        &self.token.app_id
    }
}

/// The look a link asks for, checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Theme {
    /// Six hex digits, without `#`.
    primary: Option<String>,
    dark: bool,
    product: Option<String>,
    /// An absolute http(s) URL without credentials; whether it is an image, and not on a
    /// private address, is only known once it is fetched.
    logo: Option<String>,
}

impl Theme {
    const MAX_PRODUCT_NAME: usize = 60;
    /// Keeps the theme cookie well under browsers' 4 KiB per cookie.
    const MAX_LOGO_URL: usize = 2048;

    fn logo_url(raw: &str) -> Option<String> {
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > Self::MAX_LOGO_URL {
            return None;
        }
        let url = url::Url::parse(raw).ok()?;
        let usable = matches!(url.scheme(), "http" | "https")
            && url.host().is_some()
            && url.username().is_empty()
            && url.password().is_none();
        usable.then(|| url.to_string())
    }

    /// From the link's parameters (or the cookie); what does not check out is left out.
    fn from_fields(f: &FormFields) -> Self {
        let primary = f.text("primaryColor");
        let primary = primary.trim_start_matches('#');
        let primary = match primary.len() {
            3 => primary.chars().flat_map(|c| [c, c]).collect(),
            _ => primary.to_owned(),
        };
        let product = f.text("productName");
        let product = product.trim();
        Self {
            primary: (primary.len() == 6 && primary.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| primary.to_ascii_lowercase()),
            dark: matches!(f.text("darkMode").as_str(), "true" | "1"),
            product: (!product.is_empty() && product.chars().count() <= Self::MAX_PRODUCT_NAME)
                .then(|| product.to_owned()),
            logo: Self::logo_url(&f.text("logoUrl")),
        }
    }

    fn to_cookie_value(&self) -> String {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        if let Some(p) = &self.primary {
            out.append_pair("primaryColor", p);
        }
        if self.dark {
            out.append_pair("darkMode", "true");
        }
        if let Some(p) = &self.product {
            out.append_pair("productName", p);
        }
        if let Some(l) = &self.logo {
            out.append_pair("logoUrl", l);
        }
        // Cookie values may not hold `%`-free spaces or `;`: form encoding has neither.
        out.finish()
    }

    fn product_name(&self) -> &str {
        self.product.as_deref().unwrap_or("Webhooks")
    }

    fn css(&self) -> String {
        let mut css = String::new();
        if self.dark {
            css.push_str(
                ":root { --fg: #e6e8eb; --muted: #a4adb6; --bg: #15181b; --card: #1e2226; --line: #353b42; --accent: #6cb3ff; color-scheme: dark; }\n",
            );
        }
        if let Some(p) = &self.primary {
            css.push_str(&format!(":root {{ --accent: #{p}; }}\n"));
        }
        css
    }
}

/// The portal's routes, with their own security headers (the console's forbid framing).
pub fn router(state: Services) -> Router<Services> {
    let signed_in = Router::new()
        .merge(pages::routes())
        .merge(super::endpoint_page::app_routes())
        .merge(super::endpoint_form::app_routes())
        .merge(super::messages::app_routes())
        .route("/logout", post(logout))
        .route("/logo", get(logo::serve));
    let signed_in = Router::new()
        .nest("/portal", signed_in)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            require_portal,
        ));
    Router::new()
        .route("/portal", get(open))
        .route("/portal/session", post(start_session))
        .route("/portal/theme.css", get(theme_css))
        .route(PORTAL_JS_PATH, get(script))
        .merge(signed_in)
        .layer(middleware::from_fn_with_state(state, portal_headers))
}

/// Frameable by the configured ancestors only; private, uncached, and no referrer leaves.
async fn portal_headers(State(state): State<Services>, req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let csp = format!(
        "default-src 'self'; img-src 'self' data:; frame-ancestors {}; form-action 'self'; base-uri 'none'",
        state.config.portal_frame_ancestors
    );
    let headers = response.headers_mut();
    // A response with a stricter policy of its own (the logo) keeps it.
    if let (Ok(v), false) = (
        HeaderValue::from_str(&csp),
        headers.contains_key(CONTENT_SECURITY_POLICY),
    ) {
        headers.insert(CONTENT_SECURITY_POLICY, v);
    }
    headers.insert(
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    headers
        .entry(CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

fn csrf_token(state: &Services, token: &AppToken) -> String {
    let key = state.config.derive_key("portal csrf");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(token.id.as_str().as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

fn cookie(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
}

fn cookie_header(state: &Services, name: &str, value: &str, max_age: i64) -> HeaderValue {
    let attrs = if state.config.public_url.starts_with("https://") {
        "SameSite=None; Secure; Partitioned"
    } else {
        "SameSite=Lax"
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/portal; HttpOnly; {attrs}; Max-Age={max_age}"
    ))
    .expect("cookie made of URL-safe characters")
}

/// The page a link, a sign-out or an ended token leaves a browser on.
fn notice_page(title: &str, text: &str) -> Markup {
    layout::bare(
        title,
        html! { main class="signin" { h1 { (title) } p { (text) } } },
    )
}

fn ended() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Html(
            notice_page(
                "This link has ended",
                "The link to this page has expired or was ended. Open it again from where you found it.",
            )
            .into_string(),
        ),
    )
        .into_response()
}

/// Lets a request through only with a live portal token in its cookie and, unless it is a
/// GET or HEAD, with that session's CSRF token.
async fn require_portal(
    State(state): State<Services>,
    req: Request,
    next: Next,
) -> Result<Response, PageError> {
    let Some(presented) = cookie(&req, PORTAL_COOKIE) else {
        return Ok(ended());
    };
    let Some(token) = state.send.verify_app_token(&presented).await? else {
        return Ok(ended());
    };
    let theme = Theme::from_fields(&FormFields::parse(
        cookie(&req, THEME_COOKIE).unwrap_or_default().as_bytes(),
    ));
    // Pages show the logo only once it is known to be an image; after the first view of a
    // link this is a cache lookup (`PortalLogos`). Forms posting back need no header.
    let show_logo = match &theme.logo {
        Some(url) if req.method() == Method::GET => state.portal_logos.get(url).await.is_some(),
        _ => false,
    };
    let session = PortalSession {
        csrf: csrf_token(&state, &token),
        token: Arc::new(token),
        theme,
        show_logo,
    };
    let mut req = req;
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, state.config.max_body_bytes)
            .await
            .map_err(|_| {
                PageError::status(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large.")
            })?;
        let sent = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .unwrap_or_else(|| FormFields::parse(&bytes).text(super::session::CSRF_FIELD));
        if !bool::from(sent.as_bytes().ct_eq(session.csrf.as_bytes())) {
            return Err(PageError::status(
                StatusCode::FORBIDDEN,
                "This form has expired or did not come from this page. Reload it and try again.",
            ));
        }
        req = Request::from_parts(parts, Body::from(bytes));
    }
    req.extensions_mut().insert(session);
    Ok(next.run(req).await)
}

/// `GET /portal`: the page a link opens; its script trades the key for a session.
async fn open() -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { "Opening…" }
                    link rel="stylesheet" href=(super::assets::CSS_PATH);
                    script src=(PORTAL_JS_PATH) defer {}
                }
                body {
                    main class="signin" {
                        p id="portal-status" role="status" { "Opening…" }
                        noscript { p { "This page needs JavaScript to open the link." } }
                    }
                }
            }
        }
        .into_string(),
    )
}

async fn script() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=86400"),
        ],
        PORTAL_JS,
    )
}

/// `POST /portal/session`: `key` (the token) and the link's theme → the session cookies.
/// Unknown keys count towards the address's block, as wrong bearer tokens do.
async fn start_session(State(state): State<Services>, req: Request) -> Response {
    let ip = crate::http::access::client_ip(&state, &req);
    if state.workspace.guard().admin_blocked_for(ip).is_some() {
        return PageError::status(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many ended or wrong links from this address. Try again later.",
        )
        .into_response();
    }
    let form = match FormFields::from_request(req, &state).await {
        Ok(f) => f,
        Err(rejection) => return rejection,
    };
    let key = form.text("key");
    let token = match state.send.verify_app_token(&key).await {
        Ok(Some(t)) => t,
        Ok(None) => {
            let reason = "unknown or ended application token (portal)";
            crate::http::access::admin_token_failed(&state, ip, "/portal/session", reason).await;
            return ended();
        }
        Err(e) => return PageError::from(crate::error::ApiError::from(e)).into_response(),
    };
    let max_age = (token.expires_at - state.clock.now()).num_seconds().max(0);
    let theme = Theme::from_fields(&form);
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.append(
        SET_COOKIE,
        cookie_header(&state, PORTAL_COOKIE, &key, max_age),
    );
    headers.append(
        SET_COOKIE,
        cookie_header(&state, THEME_COOKIE, &theme.to_cookie_value(), max_age),
    );
    response
}

/// `GET /portal/theme.css`: the session's colours (empty without a theme).
async fn theme_css(req: Request) -> impl IntoResponse {
    let theme = Theme::from_fields(&FormFields::parse(
        cookie(&req, THEME_COOKIE).unwrap_or_default().as_bytes(),
    ));
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "private, no-cache"),
        ],
        theme.css(),
    )
}

/// Ends the token (as `POST /api/v1/auth/logout` does) and clears the cookies.
async fn logout(
    State(state): State<Services>,
    Extension(session): Extension<PortalSession>,
) -> Result<Response, PageError> {
    state
        .send
        .end_app_token(&session.token.id)
        .await
        .map_err(|e| PageError::from(crate::error::ApiError::from(e)))?;
    let mut response = Html(
        notice_page(
            "Signed out",
            "You are signed out. Open the link again from where you found it.",
        )
        .into_string(),
    )
    .into_response();
    let headers = response.headers_mut();
    headers.append(SET_COOKIE, cookie_header(&state, PORTAL_COOKIE, "", 0));
    headers.append(SET_COOKIE, cookie_header(&state, THEME_COOKIE, "", 0));
    Ok(response)
}

/// The portal's page shell: the product's name, three sections, sign-out.
pub fn page(session: &PortalSession, current: Section, title: &str, body: Markup) -> Markup {
    let product = session.theme.product_name();
    let sections = [
        (Section::Endpoints, "/portal/endpoints", "Endpoints"),
        (Section::Messages, "/portal/messages", "Messages"),
        (Section::Catalog, "/portal/event-types", "Event catalog"),
    ];
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (product) }
                link rel="stylesheet" href=(super::assets::CSS_PATH);
                link rel="stylesheet" href="/portal/theme.css";
                script src=(super::assets::JS_PATH) defer {}
            }
            body class="portal" {
                a class="skip" href="#main" { "Skip to content" }
                header class="top" {
                    span class="brand" {
                        @if session.show_logo { img class="logo" src="/portal/logo" alt={(product) " logo"}; }
                        (product)
                    }
                    nav aria-label="Portal sections" {
                        ul {
                            @for (s, path, label) in sections {
                                li { a href=(path) aria-current=[(s == current).then_some("page")] { (label) } }
                            }
                        }
                    }
                    form class="signout" method="post" action="/portal/logout" {
                        input type="hidden" name=(super::session::CSRF_FIELD) value=(session.csrf);
                        button type="submit" class="link" { "Sign out" }
                    }
                }
                main id="main" { (body) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_theme_keeps_only_what_checks_out() {
        let t = Theme::from_fields(&FormFields::parse(
            b"primaryColor=%23AbC&darkMode=true&productName=Acme+Billing",
        ));
        assert_eq!(t.primary.as_deref(), Some("aabbcc"));
        assert!(t.dark);
        assert_eq!(t.product_name(), "Acme Billing");
        let round = Theme::from_fields(&FormFields::parse(t.to_cookie_value().as_bytes()));
        assert_eq!(round, t);
        let bad = Theme::from_fields(&FormFields::parse(
            b"primaryColor=red;x&darkMode=maybe&productName=",
        ));
        assert_eq!(bad, Theme::default());
        assert!(!bad.css().contains('}') || bad.css().is_empty());
    }

    #[test]
    fn a_logo_url_is_an_http_url_without_credentials() {
        let logo = |raw: &str| {
            let f = format!(
                "logoUrl={}",
                url::form_urlencoded::byte_serialize(raw.as_bytes()).collect::<String>()
            );
            Theme::from_fields(&FormFields::parse(f.as_bytes())).logo
        };
        assert_eq!(
            logo("https://cdn.example.com/a logo.png?v=1").as_deref(),
            Some("https://cdn.example.com/a%20logo.png?v=1")
        );
        for bad in [
            "javascript:alert(1)",
            "data:image/png;base64,AAAA",
            "ftp://example.com/l.png",
            "https://user:pw@example.com/l.png",
            "/relative.png",
            "",
        ] {
            assert_eq!(logo(bad), None, "{bad}");
        }
        assert_eq!(logo(&format!("https://e.com/{}", "a".repeat(3000))), None);
        let t = Theme {
            logo: logo("https://cdn.example.com/l.png?a=1&b=2"),
            ..Theme::default()
        };
        let round = Theme::from_fields(&FormFields::parse(t.to_cookie_value().as_bytes()));
        assert_eq!(round, t);
    }
}

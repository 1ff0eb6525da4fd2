//! The console over plain HTTP: sessions, CSRF, cookie flags, the API's auth left as it was,
//! bad input answered with clear pages, and console actions having the same effect as the API.
//! (The browser tests drive the same pages through Chromium; these check what a browser
//! hides: headers, status codes, forged requests.)

use crate::common::*;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::StatusCode;
use serde_json::json;

/// A browser-like client that does not follow redirects, so each answer can be checked.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// A signed-in console session: its cookie and CSRF token.
struct Console<'a> {
    server: &'a TestServer,
    http: reqwest::Client,
    cookie: String,
    csrf: String,
}

/// The value of the first `_csrf` hidden field in a page.
fn csrf_in(page: &str) -> String {
    let at = page
        .find(r#"name="_csrf" value=""#)
        .unwrap_or_else(|| panic!("no CSRF field in the page:\n{page}"));
    let rest = &page[at + r#"name="_csrf" value=""#.len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// `name=value` of the session cookie in a `Set-Cookie` header.
fn session_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().trim().to_owned()
}

async fn sign_in_response(server: &TestServer, token: &str, next: &str) -> reqwest::Response {
    client()
        .post(server.url("/login"))
        .form(&[("token", token), ("next", next)])
        .send()
        .await
        .unwrap()
}

impl<'a> Console<'a> {
    async fn sign_in(server: &'a TestServer) -> Self {
        let response = sign_in_response(server, server.token(), "/apps").await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let set = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
        let mut console = Self {
            server,
            http: client(),
            cookie: session_pair(&set),
            csrf: String::new(),
        };
        let (_, page) = console.get("/apps").await;
        console.csrf = csrf_in(&page);
        console
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let r = self
            .http
            .get(self.server.url(path))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    /// Posts a form with the session's CSRF token added.
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut all = fields.to_vec();
        all.push(("_csrf", &self.csrf));
        self.http
            .post(self.server.url(path))
            .header(COOKIE, &self.cookie)
            .form(&all)
            .send()
            .await
            .unwrap()
    }
}

/// Whether a resource listed at `path` has this `name`. (Lists are never empty: the server
/// starts with the built-in `workspace` application and its event types.)
async fn any_named(server: &TestServer, path: &str, name: &str) -> bool {
    server
        .list_all(path)
        .await
        .iter()
        .any(|r| r["name"] == name)
}

fn location(r: &reqwest::Response) -> String {
    r.headers()[LOCATION].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn pages_need_a_session_and_send_the_browser_to_sign_in() {
    let server = TestServer::start_default().await;
    let r = client().get(server.url("/apps")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login?next=%2Fapps");

    // A form posted without a session changes nothing.
    let r = client()
        .post(server.url("/apps"))
        .form(&[("name", "Sneaky")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(!any_named(&server, "/api/v1/app", "Sneaky").await);

    let r = client().get(server.url("/login")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains(r#"<label for="token">Admin token</label>"#));
}

#[tokio::test]
async fn signing_in_sets_an_http_only_same_site_cookie_and_refuses_a_wrong_token() {
    let server = TestServer::start_default().await;
    let wrong = sign_in_response(&server, "nope", "/apps").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get(SET_COOKIE).is_none());
    assert!(wrong.text().await.unwrap().contains("not the admin token"));

    let ok = sign_in_response(&server, server.token(), "/event-types").await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&ok), "/event-types");
    let cookie = ok.headers()[SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with("kanca_session="), "{cookie}");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} missing from {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain-http console: {cookie}");
    assert!(
        !cookie.contains(server.token()),
        "the token is not in the cookie"
    );

    // `next` only ever leads to a path on this server.
    for evil in [
        "//evil.example/x",
        "https://evil.example",
        "/\\evil.example",
    ] {
        let r = sign_in_response(&server, server.token(), evil).await;
        assert_eq!(location(&r), "/apps", "next={evil}");
    }
}

#[tokio::test]
async fn the_cookie_is_secure_when_the_public_url_is_https() {
    let server = TestServer::start(
        ServerOptions::default().env("KANCA_PUBLIC_URL", "https://kanca.example"),
    )
    .await;
    let r = sign_in_response(&server, server.token(), "/apps").await;
    let cookie = r.headers()[SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
}

#[tokio::test]
async fn forms_without_the_session_csrf_token_are_refused() {
    let server = TestServer::start_default().await;
    let console = Console::sign_in(&server).await;

    for token in [None, Some("forged"), Some("")] {
        let mut fields = vec![("name", "Forged")];
        if let Some(t) = token {
            fields.push(("_csrf", t));
        }
        let r = console
            .http
            .post(server.url("/apps"))
            .header(COOKIE, &console.cookie)
            .form(&fields)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "csrf {token:?}");
    }
    // Another session's token does not fit this session.
    let other = Console::sign_in(&server).await;
    assert_ne!(other.csrf, console.csrf);
    let r = console
        .http
        .post(server.url("/apps"))
        .header(COOKIE, &console.cookie)
        .form(&[("name", "Forged"), ("_csrf", &other.csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(!any_named(&server, "/api/v1/app", "Forged").await);

    // The right token (in the form, or in the header scripts use) works.
    let r = console.post("/apps", &[("name", "Real")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = console
        .http
        .post(server.url("/apps"))
        .header(COOKIE, &console.cookie)
        .header("x-csrf-token", &console.csrf)
        .form(&[("name", "Scripted")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(any_named(&server, "/api/v1/app", "Real").await);
    assert!(any_named(&server, "/api/v1/app", "Scripted").await);
}

#[tokio::test]
async fn a_tampered_or_foreign_cookie_is_no_session() {
    let server = TestServer::start_default().await;
    let console = Console::sign_in(&server).await;
    let other_server = TestServer::start_default().await;
    let foreign = Console::sign_in(&other_server).await;

    // Push the expiry forward: the MAC no longer holds.
    let value = console.cookie.trim_start_matches("kanca_session=");
    let parts: Vec<&str> = value.split('.').collect();
    let later: i64 = parts[1].parse::<i64>().unwrap() + 86_400 * 365;
    let tampered = format!("kanca_session={}.{later}.{}", parts[0], parts[2]);
    for cookie in [
        tampered,
        foreign.cookie.clone(),
        "kanca_session=garbage".into(),
    ] {
        let r = client()
            .get(server.url("/apps"))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{cookie}");
        assert!(location(&r).starts_with("/login"));
    }
}

#[tokio::test]
async fn signing_out_clears_the_cookie() {
    let server = TestServer::start_default().await;
    let console = Console::sign_in(&server).await;
    let r = console.post("/logout", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login");
    let cleared = r.headers()[SET_COOKIE].to_str().unwrap();
    assert!(cleared.starts_with("kanca_session=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
}

#[tokio::test]
async fn the_api_keeps_bearer_auth_and_ignores_the_session_cookie() {
    let server = TestServer::start_default().await;
    let console = Console::sign_in(&server).await;
    let r = client()
        .get(server.url("/api/v1/app"))
        .header(COOKIE, &console.cookie)
        .send()
        .await
        .unwrap();
    expect_error(
        r,
        401,
        "authentication_failed",
        "API with only a session cookie",
    )
    .await;
    server.get("/api/v1/app").await;
}

#[tokio::test]
async fn console_pages_are_not_cached_framed_or_given_inline_scripts() {
    let server = TestServer::start_default().await;
    let console = Console::sign_in(&server).await;
    let r = console
        .http
        .get(server.url("/apps"))
        .header(COOKIE, &console.cookie)
        .send()
        .await
        .unwrap();
    let h = r.headers();
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["x-frame-options"], "DENY");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
    let page = r.text().await.unwrap();
    assert!(page.contains("width=device-width"), "phone-width viewport");

    // The assets are served from the binary.
    let css = page.split(r#"rel="stylesheet" href=""#).nth(1).unwrap();
    let css = &css[..css.find('"').unwrap()];
    let r = client().get(server.url(css)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
}

#[tokio::test]
async fn bad_input_gets_a_clear_page_and_changes_nothing() {
    let server = TestServer::start_default().await;
    let app = server.create_app("Billing").await;
    let console = Console::sign_in(&server).await;

    // Unknown ids: 404 pages.
    for path in [
        "/apps/app_nope".to_owned(),
        format!("/apps/{app}/endpoints/ep_nope"),
        format!("/apps/{app}/messages/msg_nope"),
        "/event-types/no.such.type".to_owned(),
    ] {
        let (status, page) = console.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(page.contains("<html"), "{path}: an HTML page");
    }

    // A refused URL: 422 with the error beside the field, nothing created.
    let r = console
        .post(
            &format!("/apps/{app}/endpoints"),
            &[("url", "ftp://files.example"), ("rate_limit", "lots")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(page.contains(r#"id="f-url-error""#), "{page}");
    assert!(page.contains(r#"id="f-rate_limit-error""#), "{page}");
    assert!(
        page.contains("ftp://files.example"),
        "what was typed is kept"
    );
    assert!(server
        .list_all(&format!("/api/v1/app/{app}/endpoint"))
        .await
        .is_empty());

    // Event type forms: bad name, bad JSON.
    let r = console
        .post(
            "/event-types",
            &[
                ("name", "bad name!"),
                ("schema", "{not json"),
                ("example", "[1]"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    for id in ["f-name-error", "f-schema-error", "f-example-error"] {
        assert!(page.contains(&format!(r#"id="{id}""#)), "{id} in {page}");
    }
    assert!(!any_named(&server, "/api/v1/event-type", "bad name!").await);

    // A search with a time that is not one.
    let (status, page) = console
        .get(&format!("/messages?app={app}&after=yesterday"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("enter a date and time"));

    // A body over the limit.
    let huge = "x".repeat(2 * 1024 * 1024);
    let r = console.post("/apps", &[("name", &huge)]).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(!any_named(&server, "/api/v1/app", &huge).await);

    // A test event of a type that is not in the catalog, as the page's script asks.
    let ep = server
        .create_endpoint(&app, json!({ "url": "https://example.com/hook" }))
        .await;
    let r = console
        .http
        .post(server.url(&format!("/apps/{app}/endpoints/{ep}/test")))
        .header(COOKIE, &console.cookie)
        .header("accept", "application/json")
        .form(&[("event_type", "no.such"), ("_csrf", &console.csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["detail"].is_string());

    // Headers that are not `Name: value`, and one Kanca sets itself.
    for text in ["no colon here", "Content-Type: text/plain"] {
        let r = console
            .post(
                &format!("/apps/{app}/endpoints/{ep}/headers"),
                &[("headers", text)],
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    }
    // A recover time that is not one.
    let r = console
        .post(
            &format!("/apps/{app}/endpoints/{ep}/recover"),
            &[("since", "soon")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn console_actions_have_the_same_effect_as_the_api() {
    let server = TestServer::start_default().await;
    let receiver = Receiver::start().await;
    let app = server.create_app("Billing").await;
    let console = Console::sign_in(&server).await;

    // The catalog: create an event type with a schema and an example, then edit it.
    let r = console
        .post(
            "/event-types",
            &[
                ("name", "invoice.paid"),
                ("description", "An invoice was paid"),
                ("schema", r#"{"type": "object"}"#),
                ("example", r#"{"invoiceId": "inv_1"}"#),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = console
        .post(
            "/event-types/invoice.paid",
            &[
                ("description", "Paid in full"),
                ("schema", r#"{"type": "object"}"#),
                ("example", r#"{"invoiceId": "inv_2"}"#),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let et = server.get("/api/v1/event-type/invoice.paid").await;
    assert_eq!(et["description"], "Paid in full");
    assert_eq!(
        et["schemas"]["1"],
        json!({"type": "object", "examples": [{"invoiceId": "inv_2"}]})
    );
    let (_, catalog) = console.get("/event-types").await;
    assert!(catalog.contains("inv_2") && catalog.contains("Paid in full"));

    let ep = server
        .create_endpoint(&app, json!({ "url": receiver.url() }))
        .await;
    let base = format!("/apps/{app}/endpoints/{ep}");

    // Custom headers replace the set.
    let r = console
        .post(
            &format!("{base}/headers"),
            &[("headers", "X-Team: billing\nX-Env: test\n")],
        )
        .await;
    assert_eq!(location(&r), format!("{base}?notice=headers"));
    let h = server
        .get(&format!("/api/v1/app/{app}/endpoint/{ep}/headers"))
        .await;
    assert_eq!(h["headers"], json!({"x-env": "test", "x-team": "billing"}));

    // The secret: hidden until revealed, and rotated to a new one.
    let secret = server
        .get(&format!("/api/v1/app/{app}/endpoint/{ep}/secret"))
        .await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, page) = console.get(&base).await;
    assert!(!page.contains(&secret), "the secret is hidden by default");
    let (_, page) = console.get(&format!("{base}?reveal=secret")).await;
    assert!(page.contains(&secret));
    console.post(&format!("{base}/secret/rotate"), &[]).await;
    let rotated = server
        .get(&format!("/api/v1/app/{app}/endpoint/{ep}/secret"))
        .await["key"]
        .clone();
    assert_ne!(rotated, json!(secret));

    // A test event without the script: the browser is sent to the message's page.
    let r = console
        .post(&format!("{base}/test"), &[("event_type", "invoice.paid")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let msg_page = location(&r);
    let msg_id = msg_page.rsplit('/').next().unwrap().to_owned();
    let first = receiver.wait_for(1, WAIT).await;
    assert_eq!(first[0].json(), json!({"invoiceId": "inv_2"}));
    assert_eq!(first[0].header("x-team"), Some("billing"));
    server.wait_for_outcome(&app, &msg_id, &ep).await;
    let (status, page) = console.get(&msg_page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("inv_2") && page.contains("success"), "{page}");

    // Searching messages finds it by event type and by id, and not by another type.
    let (_, found) = console
        .get(&format!("/messages?app={app}&event_type=invoice.paid"))
        .await;
    assert!(found.contains(&msg_id));
    let (_, found) = console
        .get(&format!("/messages?app={app}&id={msg_id}"))
        .await;
    assert!(found.contains(&msg_id));
    let (_, found) = console
        .get(&format!("/messages?app={app}&event_type=other.type"))
        .await;
    assert!(!found.contains(&msg_id));

    // Resend from the message page: delivered again, back to the page with a notice.
    let r = console
        .post(
            &format!("/apps/{app}/messages/{msg_id}/resend/{ep}"),
            &[("back", &msg_page)],
        )
        .await;
    assert_eq!(location(&r), format!("{msg_page}?notice=resent"));
    receiver.wait_for(2, WAIT).await;

    // Disable, then enable: the API sees each.
    let r = console
        .post(&format!("{base}/state"), &[("disabled", "true")])
        .await;
    assert_eq!(location(&r), format!("{base}?notice=disabled"));
    let e = server
        .get(&format!("/api/v1/app/{app}/endpoint/{ep}"))
        .await;
    assert_eq!(e["disabled"], true);
    console
        .post(&format!("{base}/state"), &[("disabled", "false")])
        .await;
    let e = server
        .get(&format!("/api/v1/app/{app}/endpoint/{ep}"))
        .await;
    assert_eq!(e["disabled"], false);

    // Recover since a time before everything: accepted (nothing failed, nothing resent).
    let r = console
        .post(&format!("{base}/recover"), &[("since", "2020-01-01T00:00")])
        .await;
    assert_eq!(location(&r), format!("{base}?notice=recovered"));

    // The application page shows the endpoint's health.
    let (_, page) = console.get(&format!("/apps/{app}")).await;
    assert!(
        page.contains("100% ok") && page.contains("HTTP 200"),
        "{page}"
    );
}

#[tokio::test]
async fn recover_through_the_console_resends_what_failed_for_good() {
    let server = TestServer::start_default().await;
    let receiver = Receiver::start().await;
    // Every attempt of the first message fails: one try and both retries of the schedule.
    receiver.reply_with([Reply::Status(500), Reply::Status(500), Reply::Status(500)]);
    let app = server.create_app("Billing").await;
    server.create_event_type("invoice.paid").await;
    let ep = server
        .create_endpoint(&app, json!({ "url": receiver.url() }))
        .await;
    let msg = server
        .publish(
            &app,
            json!({ "eventType": "invoice.paid", "payload": { "n": 1 } }),
        )
        .await;
    let outcome = server.wait_for_outcome(&app, &msg, &ep).await;
    assert_eq!(outcome["status"], STATUS_FAIL, "{outcome}");
    let failed_attempts = receiver.requests().len();

    let console = Console::sign_in(&server).await;
    let r = console
        .post(
            &format!("/apps/{app}/endpoints/{ep}/recover"),
            &[("since", "2020-01-01T00:00")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let all = receiver.wait_for(failed_attempts + 1, WAIT).await;
    assert_eq!(all.last().unwrap().json(), json!({ "n": 1 }));
    assert!(all.last().unwrap().was_accepted());
}

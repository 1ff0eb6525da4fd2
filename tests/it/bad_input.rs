//! Bad input gets a clear 4xx with a JSON `{"code","detail"}`, and changes nothing.
//!
//! Each test sends a family of bad requests and checks, for every one of them, the status, the
//! `code` and that `detail` says something; then it checks that what a client can read back
//! (applications, event types, endpoints, messages) is exactly what it was before. The SSRF
//! tests run with the guard on, as in production, and never publish to a private address:
//! the only delivery they allow is to a local receiver, which must receive nothing.

use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};

/// A server holding one of everything, so that bad requests have something to damage.
struct Fixture {
    server: TestServer,
    receiver: Receiver,
    app: String,
    endpoint: String,
    msg: String,
}

impl Fixture {
    async fn start() -> Self {
        let server = TestServer::start_default().await;
        let receiver = Receiver::start().await;
        let app = id_of(
            &server
                .post("/api/v1/app", &json!({ "name": "Shop", "uid": "shop" }))
                .await,
        );
        server.create_event_type("user.created").await;
        let endpoint = server
            .create_endpoint(
                &app,
                json!({ "url": receiver.url(), "uid": "crm", "eventTypes": ["user.created"] }),
            )
            .await;
        let msg = server
            .publish(
                &app,
                json!({ "eventType": "user.created", "payload": { "id": "u_1" } }),
            )
            .await;
        // Let the delivery finish so that nothing changes underneath the snapshots.
        receiver.wait_for(1, WAIT).await;
        server.wait_until_settled(&app, &msg).await;
        Self {
            server,
            receiver,
            app,
            endpoint,
            msg,
        }
    }

    /// Sends each case with the admin token and checks the error; then checks that the stored
    /// state did not move.
    async fn expect_all_rejected(&self, cases: &[Case], status: u16, code: &str) {
        let before = snapshot(&self.server).await;
        for case in cases {
            let response = case.send(&self.server).await;
            expect_error(response, status, code, &case.to_string()).await;
        }
        assert_eq!(
            snapshot(&self.server).await,
            before,
            "rejected requests changed the stored state"
        );
    }
}

/// One request: method, path and an optional raw body sent as `application/json`.
struct Case {
    method: Method,
    path: String,
    body: Option<String>,
}

impl Case {
    fn new(method: Method, path: impl Into<String>, body: Option<String>) -> Self {
        Self {
            method,
            path: path.into(),
            body,
        }
    }

    /// A request whose body is this JSON.
    fn json(method: Method, path: impl Into<String>, body: Value) -> Self {
        Self::new(method, path, Some(body.to_string()))
    }

    /// A request whose body is this text, JSON or not.
    fn raw(method: Method, path: impl Into<String>, body: &str) -> Self {
        Self::new(method, path, Some(body.to_owned()))
    }

    fn bare(method: Method, path: impl Into<String>) -> Self {
        Self::new(method, path, None)
    }

    async fn send(&self, server: &TestServer) -> reqwest::Response {
        let mut request = server.request(self.method.clone(), &self.path);
        if let Some(body) = &self.body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        request
            .send()
            .await
            // `{e:?}` shows the cause (a reset, a broken pipe) that `Display` leaves out.
            .unwrap_or_else(|e| panic!("{self}: no answer: {e:?}"))
    }
}

impl std::fmt::Display for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let body = self.body.as_deref().unwrap_or("");
        // Oversized bodies are cut so the failure message stays readable.
        let shown: String = body.chars().take(120).collect();
        write!(f, "{} {} {shown}", self.method, self.path)
    }
}

/// Everything a client can read back, in one value to compare before and after.
async fn snapshot(server: &TestServer) -> Value {
    let apps = server.list_all("/api/v1/app").await;
    let mut per_app = serde_json::Map::new();
    for app in &apps {
        let id = id_of(app);
        per_app.insert(
            id.clone(),
            json!({
                "endpoints": server.list_all(&format!("/api/v1/app/{id}/endpoint")).await,
                "messages": server.list_all(&format!("/api/v1/app/{id}/msg")).await,
            }),
        );
    }
    json!({
        "apps": apps,
        "eventTypes": server.list_all("/api/v1/event-type").await,
        "perApp": per_app,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_400_invalid_json() {
    let f = Fixture::start().await;
    let (app, ep) = (&f.app, &f.endpoint);
    let half = r#"{"name": "half"#;
    f.expect_all_rejected(
        &[
            Case::raw(Method::POST, "/api/v1/app", half),
            Case::raw(Method::PUT, format!("/api/v1/app/{app}"), half),
            Case::raw(Method::POST, "/api/v1/event-type", half),
            Case::raw(
                Method::POST,
                format!("/api/v1/app/{app}/endpoint"),
                r#"{"url": "#,
            ),
            Case::raw(
                Method::PATCH,
                format!("/api/v1/app/{app}/endpoint/{ep}"),
                "{,}",
            ),
            Case::raw(
                Method::POST,
                format!("/api/v1/app/{app}/msg"),
                r#"{"eventType": "user.created", "payload": {"id": }"#,
            ),
            Case::raw(
                Method::POST,
                format!("/api/v1/app/{app}/msg"),
                "not json at all",
            ),
        ],
        400,
        "invalid_json",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_types_are_422_validation() {
    let f = Fixture::start().await;
    let (app, ep) = (&f.app, &f.endpoint);
    let url = f.receiver.url();
    f.expect_all_rejected(
        &[
            Case::json(Method::POST, "/api/v1/app", json!({ "name": 42 })),
            Case::json(
                Method::POST,
                "/api/v1/app",
                json!({ "name": "Shop 2", "metadata": ["not", "a", "map"] }),
            ),
            Case::json(
                Method::PATCH,
                format!("/api/v1/app/{app}"),
                json!({ "name": false }),
            ),
            Case::json(
                Method::POST,
                "/api/v1/event-type",
                json!({ "name": "order.paid", "description": 5 }),
            ),
            Case::json(
                Method::POST,
                format!("/api/v1/app/{app}/endpoint"),
                json!({ "url": 5 }),
            ),
            Case::json(
                Method::POST,
                format!("/api/v1/app/{app}/endpoint"),
                json!({ "url": url, "eventTypes": "user.created" }),
            ),
            Case::json(
                Method::PATCH,
                format!("/api/v1/app/{app}/endpoint/{ep}"),
                json!({ "disabled": "yes" }),
            ),
            Case::json(
                Method::POST,
                format!("/api/v1/app/{app}/msg"),
                json!({ "eventType": 7, "payload": {} }),
            ),
            Case::json(
                Method::POST,
                format!("/api/v1/app/{app}/msg"),
                json!({ "eventType": "user.created", "payload": "a string, not an object" }),
            ),
            Case::json(
                Method::POST,
                format!("/api/v1/app/{app}/msg"),
                json!({ "eventType": "user.created", "payload": {}, "channels": "project-1" }),
            ),
        ],
        422,
        "validation",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_required_fields_are_422_validation() {
    let f = Fixture::start().await;
    let app = &f.app;
    f.expect_all_rejected(
        &[
            Case::json(Method::POST, "/api/v1/app", json!({})),
            Case::json(Method::PUT, format!("/api/v1/app/{app}"), json!({})),
            Case::json(
                Method::POST,
                "/api/v1/event-type",
                json!({ "description": "no name" }),
            ),
            Case::json(
                Method::POST,
                format!("/api/v1/app/{app}/endpoint"),
                json!({ "description": "no url" }),
            ),
            Case::json(
                Method::POST,
                format!("/api/v1/app/{app}/msg"),
                json!({ "payload": { "id": "u_2" } }),
            ),
            Case::json(
                Method::POST,
                format!("/api/v1/app/{app}/msg"),
                json!({ "eventType": "user.created" }),
            ),
        ],
        422,
        "validation",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_values_are_422_validation() {
    let f = Fixture::start().await;
    let (app, ep) = (&f.app, &f.endpoint);
    f.expect_all_rejected(
        &[
            Case::json(
                Method::POST,
                "/api/v1/event-type",
                json!({ "name": "not a valid name!", "description": "spaces and a !" }),
            ),
            Case::json(
                Method::POST,
                format!("/api/v1/app/{app}/msg"),
                json!({ "eventType": "user created", "payload": {} }),
            ),
            Case::json(
                Method::POST,
                format!("/api/v1/app/{app}/endpoint"),
                json!({ "url": "ftp://files.example.com/hooks" }),
            ),
            Case::json(
                Method::POST,
                format!("/api/v1/app/{app}/endpoint"),
                json!({ "url": "not a url" }),
            ),
            Case::json(
                Method::PATCH,
                format!("/api/v1/app/{app}/endpoint/{ep}"),
                json!({ "url": "ftp://files.example.com/hooks" }),
            ),
        ],
        422,
        "validation",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ids_are_404_not_found() {
    let f = Fixture::start().await;
    let (app, ep, msg) = (&f.app, &f.endpoint, &f.msg);
    // Another application: ids of the first one must not be reachable through it.
    let other = f.server.create_app("Other tenant").await;
    let message = json!({ "eventType": "user.created", "payload": {} });
    f.expect_all_rejected(
        &[
            Case::bare(Method::GET, "/api/v1/app/app_doesnotexist"),
            Case::json(
                Method::PUT,
                "/api/v1/app/app_doesnotexist",
                json!({ "name": "x" }),
            ),
            Case::bare(Method::DELETE, "/api/v1/app/app_doesnotexist"),
            Case::json(
                Method::POST,
                "/api/v1/app/app_doesnotexist/endpoint",
                json!({ "url": f.receiver.url() }),
            ),
            Case::json(
                Method::POST,
                "/api/v1/app/app_doesnotexist/msg",
                message.clone(),
            ),
            Case::bare(Method::GET, "/api/v1/event-type/no.such.type"),
            Case::bare(
                Method::GET,
                format!("/api/v1/app/{app}/endpoint/ep_doesnotexist"),
            ),
            Case::json(
                Method::PATCH,
                format!("/api/v1/app/{app}/endpoint/ep_doesnotexist"),
                json!({ "description": "x" }),
            ),
            Case::bare(
                Method::DELETE,
                format!("/api/v1/app/{app}/endpoint/ep_doesnotexist"),
            ),
            Case::bare(
                Method::GET,
                format!("/api/v1/app/{app}/endpoint/ep_doesnotexist/secret"),
            ),
            Case::bare(
                Method::GET,
                format!("/api/v1/app/{app}/msg/msg_doesnotexist"),
            ),
            Case::bare(
                Method::GET,
                format!("/api/v1/app/{app}/attempt/msg/msg_doesnotexist"),
            ),
            Case::bare(
                Method::GET,
                format!("/api/v1/app/{app}/msg/msg_doesnotexist/endpoint"),
            ),
            // Real ids, wrong application.
            Case::bare(Method::GET, format!("/api/v1/app/{other}/endpoint/{ep}")),
            Case::bare(Method::DELETE, format!("/api/v1/app/{other}/endpoint/{ep}")),
            Case::bare(
                Method::GET,
                format!("/api/v1/app/{other}/endpoint/{ep}/secret"),
            ),
            Case::bare(Method::GET, format!("/api/v1/app/{other}/msg/{msg}")),
        ],
        404,
        "not_found",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_uid_is_409_conflict() {
    let f = Fixture::start().await;
    let app = &f.app;
    f.expect_all_rejected(
        &[
            Case::json(
                Method::POST,
                "/api/v1/app",
                json!({ "name": "Shop again", "uid": "shop" }),
            ),
            Case::json(
                Method::POST,
                format!("/api/v1/app/{app}/endpoint"),
                json!({ "url": f.receiver.url(), "uid": "crm" }),
            ),
        ],
        409,
        "conflict",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_is_413() {
    let f = Fixture::start().await;
    let app = &f.app;
    let two_mib = "x".repeat(2 * 1024 * 1024);
    f.expect_all_rejected(
        &[
            Case::json(
                Method::POST,
                format!("/api/v1/app/{app}/msg"),
                json!({ "eventType": "user.created", "payload": { "blob": two_mib } }),
            ),
            Case::json(Method::POST, "/api/v1/app", json!({ "name": two_mib })),
        ],
        413,
        "payload_too_large",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_wrong_token_is_401() {
    let f = Fixture::start().await;
    let server = &f.server;
    let app = &f.app;
    let before = snapshot(server).await;
    let new_message = json!({ "eventType": "user.created", "payload": { "id": "u_9" } });
    let wrong = format!("{}-but-not-quite", server.token());

    // (description, request) — nothing here may be let through.
    let requests = [
        (
            "GET without a token",
            server.http().get(server.url("/api/v1/app")),
        ),
        (
            "POST without a token",
            server
                .http()
                .post(server.url("/api/v1/app"))
                .json(&json!({ "name": "Intruder" })),
        ),
        (
            "GET with a wrong token",
            server
                .http()
                .get(server.url("/api/v1/app"))
                .bearer_auth(&wrong),
        ),
        (
            "publishing with a wrong token",
            server
                .http()
                .post(server.url(&format!("/api/v1/app/{app}/msg")))
                .bearer_auth(&wrong)
                .json(&new_message),
        ),
        (
            "DELETE with a wrong token",
            server
                .http()
                .delete(server.url(&format!("/api/v1/app/{app}")))
                .bearer_auth(&wrong),
        ),
        (
            "the token without the Bearer scheme",
            server
                .http()
                .get(server.url("/api/v1/app"))
                .header(reqwest::header::AUTHORIZATION, server.token()),
        ),
    ];
    for (what, request) in requests {
        let response = request.send().await.expect("an answer");
        expect_error(response, 401, "authentication_failed", what).await;
    }
    assert_eq!(snapshot(server).await, before);

    // The health check is the one route that needs no token.
    let health = server
        .http()
        .get(server.url("/api/v1/health"))
        .send()
        .await
        .expect("an answer");
    assert!(health.status().is_success(), "{health:?}");
    // And nothing was published by the rejected request.
    settle().await;
    assert_eq!(f.receiver.requests().len(), 1, "only the fixture's message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_address_urls_are_422_with_the_ssrf_guard_on() {
    let server = TestServer::start(ServerOptions::default().with_ssrf_guard()).await;
    // No message is ever published on this server: if an endpoint below were wrongly
    // accepted, nothing would be sent to it.
    let app = server.create_app("Guarded").await;
    let endpoint = server
        .create_endpoint(&app, json!({ "url": "https://hooks.example.com/in" }))
        .await;
    let before = snapshot(&server).await;
    let mut cases = Vec::new();
    for url in [
        "http://10.0.0.1/",
        "http://127.0.0.1:1/",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:1/",
    ] {
        cases.push(Case::json(
            Method::POST,
            format!("/api/v1/app/{app}/endpoint"),
            json!({ "url": url }),
        ));
        cases.push(Case::json(
            Method::PATCH,
            format!("/api/v1/app/{app}/endpoint/{endpoint}"),
            json!({ "url": url }),
        ));
    }
    for case in &cases {
        let response = case.send(&server).await;
        expect_error(response, 422, "validation", &case.to_string()).await;
    }
    assert_eq!(snapshot(&server).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostname_that_resolves_to_loopback_is_refused_at_delivery() {
    let server = TestServer::start(ServerOptions::default().with_ssrf_guard()).await;
    let receiver = Receiver::start().await;
    let app = server.create_app("Guarded").await;
    // A name, not an address: it can only be judged after DNS resolution, at connect time.
    let endpoint = server
        .create_endpoint(
            &app,
            json!({ "url": format!("http://localhost:{}/", receiver.port()) }),
        )
        .await;
    let msg = server
        .publish(
            &app,
            json!({ "eventType": "user.created", "payload": { "id": "u_1" } }),
        )
        .await;

    let outcome = server.wait_for_outcome(&app, &msg, &endpoint).await;
    assert_eq!(outcome["status"], STATUS_FAIL, "{outcome}");
    let attempts = server.attempts_for_msg(&app, &msg).await;
    assert!(
        !attempts.is_empty(),
        "the refusal is recorded as an attempt"
    );
    for attempt in &attempts {
        assert_eq!(attempt["responseStatusCode"], 0, "{attempt}");
        let reason = attempt["failureReason"].as_str().unwrap_or_default();
        assert!(
            reason.contains("SSRF guard"),
            "the attempt says why: {attempt}"
        );
    }
    settle().await;
    assert!(
        receiver.requests().is_empty(),
        "the guard let a request through: {:?}",
        receiver.requests()
    );
}

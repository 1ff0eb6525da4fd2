//! The app portal's credential (issue 17): `POST /api/v1/auth/app-portal-access/{app}` as
//! Svix's SDKs send it, and the application token it returns, used as a bearer token.
//!
//! What is held: the Rust SDK's `authentication` module works unchanged; a token reaches its
//! own application only (another application's resources are 404, anything else 403); each
//! capability is enforced; bad input gets clear 4xx; `expire-all` (all, or by session) and
//! `logout` end tokens; the admin sees the tokens' use; no token ever reaches the server's
//! logs.

use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use svix::api::{Svix, SvixOptions};
use svix::models::{
    AppPortalAccessIn, AppPortalCapability, ApplicationIn, ApplicationTokenExpireIn, EndpointIn,
    MessageIn,
};

/// An SDK client that authenticates with `token` (an application token).
fn svix_as(server: &TestServer, token: &str) -> Svix {
    Svix::new(
        token.to_owned(),
        Some(SvixOptions {
            server_url: Some(server.base_url().to_owned()),
            num_retries: Some(0),
            ..Default::default()
        }),
    )
}

/// Issues a token for `app` with this body; returns `(url, token)`.
async fn issue(server: &TestServer, app: &str, body: Value) -> (String, String) {
    let out = server
        .post(&format!("/api/v1/auth/app-portal-access/{app}"), &body)
        .await;
    (
        out["url"].as_str().expect("url").to_owned(),
        out["token"].as_str().expect("token").to_owned(),
    )
}

/// `method path` with `token` as the bearer; the status and JSON body.
async fn call_as(
    server: &TestServer,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = server
        .http()
        .request(method, server.url(path))
        .bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.expect("the server answers");
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Checks a status, and for 403 the `forbidden` code.
async fn expect_status(
    server: &TestServer,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
    want: u16,
) -> Value {
    let (status, value) = call_as(server, token, method.clone(), path, body).await;
    assert_eq!(status, want, "{method} {path} answered {status}: {value}");
    if want == 403 {
        assert_eq!(value["code"], "forbidden", "{method} {path}: {value}");
    }
    if want == 404 {
        assert_eq!(value["code"], "not_found", "{method} {path}: {value}");
    }
    value
}

fn assert_no_token_in_logs(server: &TestServer, tokens: &[&str]) {
    let logs = server.logs();
    for t in tokens {
        assert!(!logs.contains(t), "an application token reached the logs");
        // Nor its random part alone.
        assert!(!logs.contains(&t["appsk_".len()..]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_gets_a_link_and_its_token_works_as_the_sdks_bearer() {
    let server = TestServer::start_default().await;
    let admin = server.svix();
    server.create_event_type("invoice.paid").await;

    // The application does not exist yet: `application` creates it, with the path's uid.
    let access = admin
        .authentication()
        .app_portal_access(
            "customer-1".into(),
            AppPortalAccessIn {
                application: Some(ApplicationIn::new("Customer One".into())),
                session_id: Some("sess-1".into()),
                ..AppPortalAccessIn::new()
            },
            None,
        )
        .await
        .expect("app_portal_access");
    assert!(access.token.starts_with("appsk_"), "{}", access.token);
    assert_eq!(
        access.url,
        format!("{}/portal#key={}", server.base_url(), access.token)
    );
    let app = admin
        .application()
        .get("customer-1".into())
        .await
        .expect("the application was created");
    assert_eq!(app.name, "Customer One");

    // Asking again for an existing application ignores `application`.
    let again = admin
        .authentication()
        .app_portal_access(
            app.id.clone(),
            AppPortalAccessIn {
                application: Some(ApplicationIn::new("Renamed".into())),
                ..AppPortalAccessIn::new()
            },
            None,
        )
        .await
        .expect("app_portal_access for an existing application");
    assert_ne!(again.token, access.token);
    assert_eq!(
        admin.application().get(app.id.clone()).await.unwrap().name,
        "Customer One"
    );

    // The token as the SDK's bearer: no capabilities named means all of them.
    let customer = svix_as(&server, &access.token);
    let endpoint = customer
        .endpoint()
        .create(
            "customer-1".into(),
            EndpointIn::new("https://example.com/hook".into()),
            None,
        )
        .await
        .expect("creating an endpoint with the application token");
    let listed = customer
        .endpoint()
        .list(app.id.clone(), None)
        .await
        .expect("listing endpoints with the application token");
    assert_eq!(listed.data.len(), 1);
    assert_eq!(listed.data[0].id, endpoint.id);
    customer
        .event_type()
        .list(None)
        .await
        .expect("the event catalog is readable");
    let who = customer.authentication().whoami().await.expect("whoami");
    assert_eq!(who.app_id.as_deref(), Some(app.id.as_str()));
    assert_eq!(who.session_id.as_deref(), Some("sess-1"));

    // Publishing is the product's job, not the customer's; nor may it list applications.
    let refused = customer
        .message()
        .create(
            app.id.clone(),
            MessageIn::new("invoice.paid".into(), json!({"n": 1})),
            None,
        )
        .await;
    assert!(refused.is_err(), "an application token published a message");
    assert!(customer.application().list(None).await.is_err());

    // logout ends the calling token only.
    customer
        .authentication()
        .logout(None)
        .await
        .expect("logout");
    let (status, body) = call_as(
        &server,
        &access.token,
        Method::GET,
        &format!("/api/v1/app/{}/endpoint", app.id),
        None,
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], "authentication_failed");
    svix_as(&server, &again.token)
        .endpoint()
        .list(app.id.clone(), None)
        .await
        .expect("the other token still works");
    // The admin token cannot log itself out.
    assert!(admin.authentication().logout(None).await.is_err());

    // expire_all through the SDK.
    admin
        .authentication()
        .expire_all(app.id.clone(), ApplicationTokenExpireIn::new(), None)
        .await
        .expect("expire_all");
    assert!(svix_as(&server, &again.token)
        .endpoint()
        .list(app.id.clone(), None)
        .await
        .is_err());
    assert_no_token_in_logs(&server, &[&access.token, &again.token]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_never_reaches_another_application_or_admin_routes() {
    let server = TestServer::start_default().await;
    let a = server.create_app("A").await;
    let b = server.create_app("B").await;
    let ep_a = server
        .create_endpoint(&a, json!({"url": "https://example.com/a"}))
        .await;
    let ep_b = server
        .create_endpoint(&b, json!({"url": "https://example.com/b"}))
        .await;
    let msg_b = server
        .publish(&b, json!({"eventType": "x.y", "payload": {}}))
        .await;
    let (_, token) = issue(&server, &a, json!({})).await;

    expect_status(
        &server,
        &token,
        Method::GET,
        &format!("/api/v1/app/{a}/endpoint/{ep_a}"),
        None,
        200,
    )
    .await;
    // Application B, by id, in every shape: reading, changing, resending.
    for (method, path, body) in [
        (Method::GET, format!("/api/v1/app/{b}"), None),
        (Method::GET, format!("/api/v1/app/{b}/endpoint"), None),
        (
            Method::GET,
            format!("/api/v1/app/{b}/endpoint/{ep_b}"),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/app/{b}/endpoint/{ep_b}/secret"),
            None,
        ),
        (
            Method::PATCH,
            format!("/api/v1/app/{b}/endpoint/{ep_b}"),
            Some(json!({"disabled": true})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/app/{b}/endpoint/{ep_b}"),
            None,
        ),
        (Method::GET, format!("/api/v1/app/{b}/msg"), None),
        (Method::GET, format!("/api/v1/app/{b}/msg/{msg_b}"), None),
        (
            Method::POST,
            format!("/api/v1/app/{b}/msg/{msg_b}/endpoint/{ep_b}/resend"),
            None,
        ),
        (
            Method::GET,
            "/api/v1/app/no-such-app/endpoint".to_owned(),
            None,
        ),
    ] {
        expect_status(&server, &token, method, &path, body, 404).await;
    }
    // B's endpoint through A's path is not there either.
    expect_status(
        &server,
        &token,
        Method::GET,
        &format!("/api/v1/app/{a}/endpoint/{ep_b}"),
        None,
        404,
    )
    .await;
    // Outside applications: refused, whatever the resource (streams included).
    for (method, path) in [
        (Method::GET, "/api/v1/app"),
        (Method::POST, "/api/v1/app"),
        (Method::GET, "/api/v1/bin"),
        (Method::GET, "/api/v1/channels"),
        (Method::GET, "/api/v1/channels/general/stream"),
        (Method::POST, "/api/v1/event-type"),
        (Method::GET, "/api/v1/security/incidents"),
        (Method::GET, "/api/v1/operational-webhook/endpoint"),
    ] {
        expect_status(&server, &token, method, path, Some(json!({})), 403).await;
    }
    // Nor may it make or end tokens, for its own application or another.
    for app in [&a, &b] {
        expect_status(
            &server,
            &token,
            Method::POST,
            &format!("/api/v1/auth/app-portal-access/{app}"),
            Some(json!({})),
            403,
        )
        .await;
        expect_status(
            &server,
            &token,
            Method::POST,
            &format!("/api/v1/auth/app/{app}/expire-all"),
            Some(json!({})),
            403,
        )
        .await;
        expect_status(
            &server,
            &token,
            Method::GET,
            &format!("/api/v1/auth/app/{app}/tokens"),
            None,
            403,
        )
        .await;
    }
    // B is untouched.
    let still = server
        .get(&format!("/api/v1/app/{b}/endpoint/{ep_b}"))
        .await;
    assert_eq!(still["disabled"], false);
    assert_no_token_in_logs(&server, &[&token]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_capability_is_enforced() {
    let server = TestServer::start_default().await;
    let receiver = Receiver::start().await;
    server
        .post(
            "/api/v1/event-type",
            &json!({
                "name": "invoice.paid",
                "description": "An invoice was paid",
                "schemas": { "1": { "type": "object", "examples": [{ "invoiceId": "inv_42" }] } }
            }),
        )
        .await;
    let app = server.create_app("Caps").await;
    let ep = server
        .create_endpoint(&app, json!({"url": receiver.url()}))
        .await;
    let msg = server
        .publish(
            &app,
            json!({"eventType": "invoice.paid", "payload": {"n": 1}}),
        )
        .await;
    receiver.wait_for(1, WAIT).await;

    let base = format!("/api/v1/app/{app}");
    let secret = format!("{base}/endpoint/{ep}/secret");
    let rotate = format!("{base}/endpoint/{ep}/secret/rotate");
    let example = format!("{base}/endpoint/{ep}/send-example");
    let resend = format!("{base}/msg/{msg}/endpoint/{ep}/resend");
    let recover = format!("{base}/endpoint/{ep}/recover");
    let create = format!("{base}/endpoint");
    let endpoint = format!("{base}/endpoint/{ep}");
    let example_body = json!({"eventType": "invoice.paid"});
    let recover_body = json!({"since": "2020-01-01T00:00:00Z"});

    // readOnly: ViewBase only, whatever else is asked for.
    let (_, ro) = issue(
        &server,
        &app,
        json!({"readOnly": true, "capabilities": ["ManageEndpoint"]}),
    )
    .await;
    for path in [
        format!("{base}/endpoint"),
        endpoint.clone(),
        format!("{base}/msg"),
        format!("{base}/msg/{msg}"),
        format!("{base}/attempt/endpoint/{ep}"),
        format!("{base}/endpoint/{ep}/stats"),
        "/api/v1/event-type".to_owned(),
    ] {
        expect_status(&server, &ro, Method::GET, &path, None, 200).await;
    }
    let read = expect_status(&server, &ro, Method::GET, &endpoint, None, 200).await;
    assert!(
        read.get("secret").is_none() || read["secret"].is_null(),
        "{read}"
    );
    expect_status(&server, &ro, Method::GET, &secret, None, 403).await;
    expect_status(&server, &ro, Method::POST, &rotate, Some(json!({})), 403).await;
    expect_status(
        &server,
        &ro,
        Method::POST,
        &example,
        Some(example_body.clone()),
        403,
    )
    .await;
    expect_status(&server, &ro, Method::POST, &resend, Some(json!({})), 403).await;
    expect_status(
        &server,
        &ro,
        Method::POST,
        &recover,
        Some(recover_body.clone()),
        403,
    )
    .await;
    expect_status(
        &server,
        &ro,
        Method::POST,
        &create,
        Some(json!({"url": "https://example.com/x"})),
        403,
    )
    .await;
    expect_status(
        &server,
        &ro,
        Method::PATCH,
        &endpoint,
        Some(json!({"description": "x"})),
        403,
    )
    .await;
    expect_status(&server, &ro, Method::DELETE, &endpoint, None, 403).await;
    expect_status(
        &server,
        &ro,
        Method::PUT,
        &format!("{endpoint}/headers"),
        Some(json!({"headers": {}})),
        403,
    )
    .await;

    // ViewEndpointSecret: reveal, not rotate.
    let (_, view_secret) = issue(
        &server,
        &app,
        json!({"capabilities": ["ViewBase", "ViewEndpointSecret"]}),
    )
    .await;
    let shown = expect_status(&server, &view_secret, Method::GET, &secret, None, 200).await;
    assert!(shown["key"].as_str().unwrap().starts_with("whsec_"));
    expect_status(
        &server,
        &view_secret,
        Method::POST,
        &rotate,
        Some(json!({})),
        403,
    )
    .await;

    // ManageEndpointSecret: rotate (and reveal), nothing else.
    let (_, manage_secret) = issue(
        &server,
        &app,
        json!({"capabilities": ["ViewBase", "ManageEndpointSecret"]}),
    )
    .await;
    expect_status(
        &server,
        &manage_secret,
        Method::POST,
        &rotate,
        Some(json!({})),
        200,
    )
    .await;
    let rotated = expect_status(&server, &manage_secret, Method::GET, &secret, None, 200).await;
    assert_ne!(rotated["key"], shown["key"]);
    expect_status(
        &server,
        &manage_secret,
        Method::PATCH,
        &endpoint,
        Some(json!({"description": "x"})),
        403,
    )
    .await;

    // CreateAttempts: test events, resends, recovery; no endpoint changes, no secrets.
    let (_, attempts) = issue(
        &server,
        &app,
        json!({"capabilities": ["ViewBase", "CreateAttempts"]}),
    )
    .await;
    let (status, body) = call_as(
        &server,
        &attempts,
        Method::POST,
        &example,
        Some(example_body),
    )
    .await;
    assert!(
        (200..300).contains(&status),
        "send-example: {status} {body}"
    );
    let (status, body) = call_as(&server, &attempts, Method::POST, &resend, Some(json!({}))).await;
    assert!((200..300).contains(&status), "resend: {status} {body}");
    let (status, body) = call_as(
        &server,
        &attempts,
        Method::POST,
        &recover,
        Some(recover_body),
    )
    .await;
    assert!((200..300).contains(&status), "recover: {status} {body}");
    receiver.wait_for(3, WAIT).await;
    expect_status(&server, &attempts, Method::GET, &secret, None, 403).await;
    expect_status(
        &server,
        &attempts,
        Method::POST,
        &create,
        Some(json!({"url": "https://example.com/x"})),
        403,
    )
    .await;
    // Still no publishing.
    expect_status(
        &server,
        &attempts,
        Method::POST,
        &format!("{base}/msg"),
        Some(json!({"eventType": "invoice.paid", "payload": {}})),
        403,
    )
    .await;

    // ManageEndpoint: create, change, delete.
    let (_, manage) = issue(&server, &app, json!({"capabilities": ["ManageEndpoint"]})).await;
    let created = expect_status(
        &server,
        &manage,
        Method::POST,
        &create,
        Some(json!({"url": "https://example.com/new"})),
        201,
    )
    .await;
    let new_ep = created["id"].as_str().unwrap().to_owned();
    expect_status(
        &server,
        &manage,
        Method::PATCH,
        &format!("{base}/endpoint/{new_ep}"),
        Some(json!({"description": "mine"})),
        200,
    )
    .await;
    expect_status(
        &server,
        &manage,
        Method::PUT,
        &format!("{base}/endpoint/{new_ep}/headers"),
        Some(json!({"headers": {"x-a": "b"}})),
        204,
    )
    .await;
    expect_status(
        &server,
        &manage,
        Method::DELETE,
        &format!("{base}/endpoint/{new_ep}"),
        None,
        204,
    )
    .await;
    expect_status(
        &server,
        &manage,
        Method::POST,
        &example,
        Some(json!({"eventType": "invoice.paid"})),
        403,
    )
    .await;

    assert_no_token_in_logs(
        &server,
        &[&ro, &view_secret, &manage_secret, &attempts, &manage],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_for_a_link_get_clear_answers() {
    let server = TestServer::start_default().await;
    let app = server.create_app("Bad").await;
    let path = format!("/api/v1/auth/app-portal-access/{app}");
    for (body, what) in [
        (json!({"expiry": 10}), "expiry under an hour"),
        (json!({"expiry": 604801}), "expiry over 7 days"),
        (json!({"expiry": "soon"}), "expiry not a number"),
        (json!({"capabilities": ["Admin"]}), "unknown capability"),
        (
            json!({"capabilities": "ViewBase"}),
            "capabilities not a list",
        ),
        (
            json!({"application": {"uid": "no-name"}}),
            "application without a name",
        ),
        (json!({"sessionId": "s".repeat(300)}), "sessionId too long"),
    ] {
        let res = server
            .request(Method::POST, &path)
            .json(&body)
            .send()
            .await
            .unwrap();
        expect_error(res, 422, "validation", what).await;
    }
    let res = server
        .request(Method::POST, &path)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    expect_error(res, 400, "invalid_json", "malformed JSON").await;
    // An empty body is every default: 7 days, all capabilities.
    let res = server.request(Method::POST, &path).send().await.unwrap();
    assert_eq!(res.status(), 200);
    // An application that does not exist, and no `application` to create it.
    let res = server
        .request(Method::POST, "/api/v1/auth/app-portal-access/nobody")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    expect_error(res, 404, "not_found", "unknown application").await;
    // Without the admin token.
    let res = server
        .http()
        .post(server.url(&path))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    expect_error(res, 401, "authentication_failed", "no token").await;
    // A forged application token.
    let forged = format!("appsk_{}", "A".repeat(43));
    let (status, body) = call_as(
        &server,
        &forged,
        Method::GET,
        &format!("/api/v1/app/{app}/endpoint"),
        None,
    )
    .await;
    assert_eq!(status, 401, "{body}");
    // expire-all: bad delay, bad shape, unknown application.
    let expire = format!("/api/v1/auth/app/{app}/expire-all");
    for body in [
        json!({"expiry": -1}),
        json!({"expiry": 10_000_000}),
        json!({"sessionIds": "x"}),
    ] {
        let res = server
            .request(Method::POST, &expire)
            .json(&body)
            .send()
            .await
            .unwrap();
        expect_error(res, 422, "validation", "bad expire-all").await;
    }
    let res = server
        .request(Method::POST, "/api/v1/auth/app/nobody/expire-all")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    expect_error(
        res,
        404,
        "not_found",
        "expire-all of an unknown application",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expire_all_ends_tokens_by_session_and_the_admin_sees_their_use() {
    let server = TestServer::start_default().await;
    let app = server.create_app("Sessions").await;
    let (_, one) = issue(&server, &app, json!({"sessionId": "s1", "expiry": 3600})).await;
    let (_, two) = issue(
        &server,
        &app,
        json!({"sessionId": "s2", "capabilities": ["ViewBase"]}),
    )
    .await;
    let list = format!("/api/v1/app/{app}/endpoint");
    expect_status(&server, &one, Method::GET, &list, None, 200).await;
    expect_status(&server, &two, Method::GET, &list, None, 200).await;

    // Only session s1.
    server
        .call_ok(
            Method::POST,
            &format!("/api/v1/auth/app/{app}/expire-all"),
            Some(&json!({"sessionIds": ["s1"]})),
        )
        .await;
    expect_status(&server, &one, Method::GET, &list, None, 401).await;
    expect_status(&server, &two, Method::GET, &list, None, 200).await;

    // What the admin sees: both tokens, their sessions, capabilities and last use; no token.
    let tokens = server.get(&format!("/api/v1/auth/app/{app}/tokens")).await;
    let text = tokens.to_string();
    assert!(!text.contains(&one) && !text.contains(&two));
    let data = tokens["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{tokens}");
    let by_session = |s: &str| data.iter().find(|t| t["sessionId"] == s).unwrap().clone();
    let s1 = by_session("s1");
    let s2 = by_session("s2");
    assert_eq!(s1["active"], false);
    assert_eq!(s2["active"], true);
    assert!(
        s1["lastUsedAt"].is_string() && s2["lastUsedAt"].is_string(),
        "{tokens}"
    );
    assert_eq!(s2["capabilities"], json!(["ViewBase"]));
    let caps: BTreeSet<String> = serde_json::from_value(s1["capabilities"].clone()).unwrap();
    assert!(caps.contains("ManageEndpoint"), "{s1}");

    // A delay: the token keeps working until then, and is refused after.
    server
        .call_ok(
            Method::POST,
            &format!("/api/v1/auth/app/{app}/expire-all"),
            Some(&json!({"expiry": 1})),
        )
        .await;
    eventually("the token to end after its delay", || async {
        let (status, _) = call_as(&server, &two, Method::GET, &list, None).await;
        if status == 401 {
            Ok(())
        } else {
            Err(format!("answered {status}"))
        }
    })
    .await;
    assert_no_token_in_logs(&server, &[&one, &two]);

    // The capability names Svix's SDK serialises are the ones accepted.
    let names: Vec<String> = [
        AppPortalCapability::ViewBase,
        AppPortalCapability::ViewEndpointSecret,
        AppPortalCapability::ManageEndpointSecret,
        AppPortalCapability::ManageTransformations,
        AppPortalCapability::CreateAttempts,
        AppPortalCapability::ManageEndpoint,
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    issue(&server, &app, json!({"capabilities": names})).await;
}

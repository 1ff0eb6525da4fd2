//! The app portal's pages (`/portal`) over plain HTTP, as a browser in an iframe holds them:
//! the link's key traded for a cookie, pages of one application only, controls and actions
//! limited by the link's capabilities, CSRF on every form, the configured frame ancestors,
//! and a session that ends with its token.

use crate::common::*;
use reqwest::header::{CONTENT_SECURITY_POLICY, COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::json;

async fn example_type(server: &TestServer) {
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_opens_its_application_and_manages_endpoints_within_its_capabilities() {
    let server = TestServer::start(ServerOptions::default().env(
        "KANCA_PORTAL_FRAME_ANCESTORS",
        "'self' https://app.example.com",
    ))
    .await;
    let receiver = Receiver::start().await;
    example_type(&server).await;
    let app = server.create_app("Acme customer").await;
    let other = server.create_app("Someone else").await;
    let other_ep = server
        .create_endpoint(&other, json!({"url": "https://example.com/other"}))
        .await;
    let token = issue_portal_link(&server, &app, json!({})).await;

    // The page a link opens loads the script that trades the key; it may be framed by the
    // configured ancestors only.
    let r = server
        .http()
        .get(server.url("/portal"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let csp = r.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("frame-ancestors 'self' https://app.example.com"),
        "{csp}"
    );
    assert!(r.headers().get("x-frame-options").is_none());
    assert!(r.text().await.unwrap().contains("/portal/portal-"));

    let portal = Portal::open(
        &server,
        &token,
        &[
            ("primaryColor", "#aa3300"),
            ("darkMode", "true"),
            ("productName", "Acme Billing"),
        ],
    )
    .await;
    let (_, page) = portal.get("/portal/endpoints").await;
    assert!(
        page.contains("Acme Billing"),
        "the product's name is in the header"
    );
    assert!(page.contains("Add endpoint"));
    let (_, css) = portal.get("/portal/theme.css").await;
    assert!(
        css.contains("#aa3300") && css.contains("color-scheme: dark"),
        "{css}"
    );

    // Add an endpoint: a bad URL first, answered beside the field.
    let r = portal
        .post("/portal/endpoints", &[("url", "not a url")])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("field-error"));
    let r = portal
        .post(
            "/portal/endpoints",
            &[
                ("url", &receiver.url()),
                ("description", "Billing hook"),
                ("event_types", "invoice.paid"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(location.starts_with("/portal/endpoints/ep_"), "{location}");
    let ep_path = location.split('?').next().unwrap().to_owned();
    let ep_id = ep_path.rsplit('/').next().unwrap().to_owned();
    let created = server
        .get(&format!("/api/v1/app/{app}/endpoint/{ep_id}"))
        .await;
    assert_eq!(created["description"], "Billing hook");

    // Edit it: the form comes filled in; a bad rate limit is refused beside its field.
    let (status, form) = portal.get(&format!("{ep_path}/edit")).await;
    assert_eq!(status, 200);
    assert!(
        form.contains("Edit endpoint")
            && form.contains(&receiver.url())
            && form.contains("Billing hook")
    );
    let r = portal
        .post(
            &format!("{ep_path}/edit"),
            &[("url", &receiver.url()), ("rate_limit", "lots")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("f-rate_limit-error"));
    let r = portal
        .post(
            &format!("{ep_path}/edit"),
            &[
                ("url", &receiver.url()),
                ("description", "Renamed"),
                ("rate_limit", "5"),
                ("event_types", "invoice.paid"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let edited = server
        .get(&format!("/api/v1/app/{app}/endpoint/{ep_id}"))
        .await;
    assert_eq!(edited["description"], "Renamed");
    assert_eq!(edited["throttleRate"], 5);

    // The endpoint's page: every control of a full link; the secret revealed on request.
    let (status, page) = portal.get(&ep_path).await;
    assert_eq!(status, 200);
    for control in [
        "Send test event",
        "Rotate secret",
        "Disable endpoint",
        "Delete endpoint",
        "Reveal",
        "How to verify",
    ] {
        assert!(page.contains(control), "missing {control}");
    }
    let secret = server
        .get(&format!("/api/v1/app/{app}/endpoint/{ep_id}/secret"))
        .await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!page.contains(&secret));
    let (_, revealed) = portal.get(&format!("{ep_path}?reveal=secret")).await;
    assert!(revealed.contains(&secret));

    // Send a test event; it is delivered and shows on the message log.
    let r = portal
        .post(
            &format!("{ep_path}/test"),
            &[("event_type", "invoice.paid")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let msg_path = r.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(msg_path.starts_with("/portal/messages/msg_"), "{msg_path}");
    receiver.wait_for(1, WAIT).await;
    let (_, log) = portal.get("/portal/messages").await;
    assert!(log.contains(msg_path.rsplit('/').next().unwrap()));
    let (status, _) = portal.get(&msg_path).await;
    assert_eq!(status, 200);
    // The endpoint's charts count the attempt (the portal's page and the console's alike).
    eventually("the chart to count the test event", || async {
        let (_, page) = portal.get(&ep_path).await;
        if page.contains("id=\"chart-day\"") && page.contains("1 attempts succeeded and 0 failed") {
            Ok(())
        } else {
            Err("not yet".to_owned())
        }
    })
    .await;
    let console = Console::sign_in(&server).await;
    let (_, admin_page) = console.get(&format!("/apps/{app}/endpoints/{ep_id}")).await;
    assert!(
        admin_page.contains("id=\"chart-week\"") && admin_page.contains("1 attempts succeeded")
    );
    let (_, catalog) = portal.get("/portal/event-types").await;
    assert!(catalog.contains("invoice.paid") && catalog.contains("inv_42"));

    // Rotate, disable, delete.
    let r = portal.post(&format!("{ep_path}/secret/rotate"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let rotated = server
        .get(&format!("/api/v1/app/{app}/endpoint/{ep_id}/secret"))
        .await;
    assert_ne!(rotated["key"].as_str().unwrap(), secret);
    let r = portal
        .post(&format!("{ep_path}/state"), &[("disabled", "true")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        server
            .get(&format!("/api/v1/app/{app}/endpoint/{ep_id}"))
            .await["disabled"],
        true
    );

    // Another application's endpoint is not there; a form without the CSRF token is refused.
    let (status, _) = portal.get(&format!("/portal/endpoints/{other_ep}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let r = portal
        .post(&format!("/portal/endpoints/{other_ep}/delete"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let forged = portal
        .http
        .post(server.url(&format!("{ep_path}/delete")))
        .header(COOKIE, &portal.cookies)
        .form(&[("_csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let r = portal.post(&format!("{ep_path}/delete"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, _) = server
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/app/{app}/endpoint/{ep_id}"),
            None,
        )
        .await;
    assert_eq!(status, 404);
    server
        .get(&format!("/api/v1/app/{other}/endpoint/{other_ep}"))
        .await;

    // Signing out ends the token for the API too.
    let r = portal.post("/portal/logout", &[]).await;
    assert_eq!(r.status(), 200);
    let (status, _) = portal.get("/portal/endpoints").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let r = server
        .http()
        .get(server.url(&format!("/api/v1/app/{app}/endpoint")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        !server.logs().contains(&token),
        "the token reached the logs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_link_shows_no_controls_and_refuses_actions() {
    let server = TestServer::start_default().await;
    example_type(&server).await;
    let app = server.create_app("Read only").await;
    let ep = server
        .create_endpoint(&app, json!({"url": "https://example.com/ro"}))
        .await;
    let token = issue_portal_link(
        &server,
        &app,
        json!({"readOnly": true, "sessionId": "ro-session"}),
    )
    .await;
    let portal = Portal::open(&server, &token, &[]).await;
    // The admin sees the link and its use on the application's page.
    let console = Console::sign_in(&server).await;
    let (_, app_page) = console.get(&format!("/apps/{app}")).await;
    assert!(app_page.contains("App portal links") && app_page.contains("ro-session"));
    assert!(!app_page.contains(&token));
    let (_, list) = portal.get("/portal/endpoints").await;
    assert!(list.contains("https://example.com/ro"));
    assert!(!list.contains("Add endpoint"));
    let path = format!("/portal/endpoints/{ep}");
    let (status, page) = portal.get(&path).await;
    assert_eq!(status, 200);
    for control in [
        "Send test event",
        "Rotate secret",
        "Disable endpoint",
        "Delete endpoint",
        "Reveal",
        "Save headers",
        "Recover",
    ] {
        assert!(!page.contains(control), "a read-only link shows {control}");
    }
    let secret = server
        .get(&format!("/api/v1/app/{app}/endpoint/{ep}/secret"))
        .await;
    let (_, revealed) = portal.get(&format!("{path}?reveal=secret")).await;
    assert!(!revealed.contains(secret["key"].as_str().unwrap()));
    let (status, _) = portal.get("/portal/endpoints/new").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = portal.get(&format!("{path}/edit")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!page.contains("Edit endpoint"));
    for (action, fields) in [
        ("state", vec![("disabled", "true")]),
        ("delete", vec![]),
        ("secret/rotate", vec![]),
        ("test", vec![("event_type", "invoice.paid")]),
        ("headers", vec![("headers", "x-a: b")]),
        ("recover", vec![("since", "2020-01-01T00:00")]),
        ("edit", vec![("url", "https://example.com/changed")]),
    ] {
        let r = portal.post(&format!("{path}/{action}"), &fields).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{action}");
    }
    let r = portal
        .post("/portal/endpoints", &[("url", "https://example.com/x")])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        server
            .get(&format!("/api/v1/app/{app}/endpoint/{ep}"))
            .await["disabled"],
        false
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_or_forged_link_opens_nothing() {
    let server = TestServer::start_default().await;
    let app = server.create_app("Ended").await;
    let token = issue_portal_link(&server, &app, json!({})).await;
    let portal = Portal::open(&server, &token, &[]).await;
    server
        .post(&format!("/api/v1/auth/app/{app}/expire-all"), &json!({}))
        .await;
    let (status, page) = portal.get("/portal/endpoints").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("ended"));
    for key in [token.as_str(), "appsk_forged", "", "the admin token"] {
        let r = Console::client()
            .post(server.url("/portal/session"))
            .form(&[("key", key)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{key}");
        assert!(r.headers().get(SET_COOKIE).is_none());
    }
    // The admin token opens no portal either.
    let r = Console::client()
        .post(server.url("/portal/session"))
        .form(&[("key", server.token())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (status, _) = portal.get("/portal/messages").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Wrong keys are security incidents, as wrong bearer tokens are (the key is not kept).
    let incidents = server.get("/api/v1/security/incidents").await.to_string();
    assert!(incidents.contains("/portal/session"), "{incidents}");
    assert!(!incidents.contains(&token));
}

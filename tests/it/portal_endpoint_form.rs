//! The add/edit endpoint form, as the portal (and the console, which shares it) shows it: each
//! catalog type with its description and example payload, and custom headers checked by the
//! API's own rule, refused beside their field with nothing saved.

use crate::common::*;
use reqwest::header::LOCATION;
use reqwest::StatusCode;
use serde_json::json;

async fn catalog_type(server: &TestServer) {
    server
        .post(
            "/api/v1/event-type",
            &json!({
                "name": "invoice.paid",
                "description": "An invoice was paid in full",
                "schemas": { "1": { "type": "object", "examples": [{ "invoiceId": "inv_42", "amount": 1200 }] } }
            }),
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_form_shows_each_types_description_and_example() {
    let server = TestServer::start_default().await;
    catalog_type(&server).await;
    let app = server.create_app("Form types").await;
    let token = issue_portal_link(&server, &app, json!({})).await;
    let portal = Portal::open(&server, &token, &[]).await;
    let (status, form) = portal.get("/portal/endpoints/new").await;
    assert_eq!(status, 200);
    assert!(form.contains("An invoice was paid in full"), "{form}");
    assert!(
        form.contains("<summary>Example payload</summary>"),
        "{form}"
    );
    // Pretty-printed: one key a line, escaped for HTML.
    assert!(
        form.contains("&quot;invoiceId&quot;: &quot;inv_42&quot;"),
        "{form}"
    );
    assert!(form.contains("aria-describedby=\"et-desc-invoice.paid\""));
    // The console's form is the same one.
    let console = Console::sign_in(&server).await;
    let (_, admin_form) = console.get(&format!("/apps/{app}/endpoints/new")).await;
    assert!(admin_form.contains("An invoice was paid in full") && admin_form.contains("inv_42"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_headers_are_added_edited_and_refused_beside_their_field() {
    let server = TestServer::start_default().await;
    let receiver = Receiver::start().await;
    catalog_type(&server).await;
    let app = server.create_app("Form headers").await;
    let token = issue_portal_link(&server, &app, json!({})).await;
    let portal = Portal::open(&server, &token, &[]).await;

    // A bad header: refused beside the field, what was typed kept, nothing saved.
    for (bad, why) in [
        ("X-Ok: 1\nno colon here", "Line 2 has no `:`"),
        ("Bad Name: x", "is not a valid header name"),
        ("webhook-id: forged", "set by Kanca itself"),
    ] {
        let r = portal
            .post(
                "/portal/endpoints",
                &[("url", &receiver.url()), ("headers", bad)],
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        let page = r.text().await.unwrap();
        assert!(page.contains("id=\"f-headers-error\""), "{page}");
        assert!(page.contains(why), "{bad}: {page}");
        assert!(page.contains("aria-invalid=\"true\""));
    }
    let none = server.get(&format!("/api/v1/app/{app}/endpoint")).await;
    assert_eq!(none["data"].as_array().unwrap().len(), 0, "{none}");

    // Added with the endpoint; sent with its deliveries; shown on its page.
    let r = portal
        .post(
            "/portal/endpoints",
            &[
                ("url", &receiver.url()),
                (
                    "headers",
                    "X-Customer: acme\r\n\r\nAuthorization: Bearer s3cret\r\n",
                ),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()[LOCATION].to_str().unwrap().to_owned();
    let ep_path = location.split('?').next().unwrap().to_owned();
    let ep_id = ep_path.rsplit('/').next().unwrap().to_owned();
    let saved = server
        .get(&format!("/api/v1/app/{app}/endpoint/{ep_id}/headers"))
        .await;
    assert_eq!(
        saved["headers"],
        json!({"x-customer": "acme", "authorization": "Bearer s3cret"})
    );
    let (_, page) = portal.get(&ep_path).await;
    assert!(page.contains("<code>x-customer</code>"), "{page}");
    assert!(
        page.contains("x-customer: acme\nauthorization: Bearer s3cret")
            || page.contains("authorization: Bearer s3cret\nx-customer: acme")
    );
    server
        .post(
            &format!("/api/v1/app/{app}/msg"),
            &json!({"eventType": "invoice.paid", "payload": {"a": 1}}),
        )
        .await;
    let got = receiver.wait_for(1, WAIT).await;
    assert_eq!(got[0].header("x-customer"), Some("acme"));

    // Edited: the form comes filled in with them; what it holds replaces them all.
    let (_, form) = portal.get(&format!("{ep_path}/edit")).await;
    assert!(form.contains("x-customer: acme"), "{form}");
    let r = portal
        .post(
            &format!("{ep_path}/edit"),
            &[("url", &receiver.url()), ("headers", "X-Customer: globex")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let saved = server
        .get(&format!("/api/v1/app/{app}/endpoint/{ep_id}/headers"))
        .await;
    assert_eq!(saved["headers"], json!({"x-customer": "globex"}));

    // A bad header on edit changes nothing, not even the other fields.
    let r = portal
        .post(
            &format!("{ep_path}/edit"),
            &[
                ("url", &receiver.url()),
                ("description", "Changed"),
                ("headers", "host: evil.example"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("f-headers-error"));
    let ep = server
        .get(&format!("/api/v1/app/{app}/endpoint/{ep_id}"))
        .await;
    assert_eq!(ep["description"], "");
    let saved = server
        .get(&format!("/api/v1/app/{app}/endpoint/{ep_id}/headers"))
        .await;
    assert_eq!(saved["headers"], json!({"x-customer": "globex"}));

    // Emptied: no headers left.
    let r = portal
        .post(
            &format!("{ep_path}/edit"),
            &[("url", &receiver.url()), ("headers", "")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let saved = server
        .get(&format!("/api/v1/app/{app}/endpoint/{ep_id}/headers"))
        .await;
    assert_eq!(saved["headers"], json!({}));
}

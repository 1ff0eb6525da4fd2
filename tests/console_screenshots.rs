//! Screenshots of the console's main pages for the README, taken in the same headless
//! Chromium as the browser tests, from a server with a little realistic data (one healthy
//! endpoint, one failing, a catalog with examples, a test event's result).
//!
//! Ignored by default (it writes files); regenerate with
//! `cargo test --test console_screenshots -- --ignored`. The PNGs land in `docs/`.

mod common;

use common::*;
use serde_json::json;
use std::path::PathBuf;

fn docs(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("docs")
        .join(name)
}

#[tokio::test]
#[ignore = "writes the README's screenshots to docs/; run with --ignored"]
async fn screenshots_of_the_main_pages() {
    std::fs::create_dir_all(docs("")).unwrap();
    let server = TestServer::start_default().await;
    let healthy = Receiver::start().await;
    let failing = Receiver::start().await;
    failing.set_default(Reply::Status(500));

    server
        .post(
            "/api/v1/event-type",
            &json!({
                "name": "invoice.paid",
                "description": "An invoice was paid in full.",
                "schemas": { "1": {
                    "type": "object",
                    "required": ["invoiceId", "amount"],
                    "properties": {
                        "invoiceId": { "type": "string" },
                        "amount": { "type": "integer", "description": "In cents" },
                        "currency": { "type": "string" }
                    },
                    "examples": [{ "invoiceId": "inv_1042", "amount": 12900, "currency": "EUR" }]
                }}
            }),
        )
        .await;
    server
        .post(
            "/api/v1/event-type",
            &json!({
                "name": "customer.created",
                "description": "A customer signed up.",
                "schemas": { "1": {
                    "type": "object",
                    "properties": { "customerId": { "type": "string" }, "email": { "type": "string" } },
                    "examples": [{ "customerId": "cus_77", "email": "ada@example.com" }]
                }}
            }),
        )
        .await;
    let app = server.create_app("Billing").await;
    server.create_app("Shop").await;
    let good = server
        .create_endpoint(
            &app,
            json!({ "url": healthy.url(), "description": "Accounting service",
                    "filterTypes": ["invoice.paid"] }),
        )
        .await;
    let bad = server
        .create_endpoint(
            &app,
            json!({ "url": failing.url(), "description": "Legacy CRM" }),
        )
        .await;
    let mut last = String::new();
    for i in 0..3 {
        last = server
            .publish(
                &app,
                json!({ "eventType": "invoice.paid", "eventId": format!("evt_{i}"),
                        "payload": { "invoiceId": format!("inv_10{i}"), "amount": 4200 + i } }),
            )
            .await;
    }
    server.wait_until_settled(&app, &last).await;
    let _ = bad;

    let browser = Browser::start_sized(1280, 1000).await;
    browser.goto(&server.url("/login")).await;
    browser.wait_for("#token").await;
    browser.screenshot(&docs("console-sign-in.png")).await;
    browser.sign_in(&server).await;
    browser.screenshot(&docs("console-applications.png")).await;

    browser.goto(&server.url(&format!("/apps/{app}"))).await;
    browser.wait_for("table").await;
    browser.screenshot(&docs("console-application.png")).await;

    browser
        .goto(&server.url(&format!("/apps/{app}/endpoints/new")))
        .await;
    browser
        .wait_for("#f-url")
        .await
        .send_keys("example.com/hooks")
        .await
        .unwrap();
    browser
        .find("input[name=event_types][value='invoice.paid']")
        .await
        .click()
        .await
        .unwrap();
    browser
        .find("form[action$='/endpoints'] button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    browser.wait_for("#f-url-error").await;
    browser.screenshot(&docs("console-add-endpoint.png")).await;

    browser
        .goto(&server.url(&format!("/apps/{app}/endpoints/{good}")))
        .await;
    browser
        .find("#test-event-form button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    browser
        .wait_for("#test-event-result[data-state='success']")
        .await;
    browser.screenshot(&docs("console-endpoint.png")).await;

    browser.goto(&server.url("/event-types")).await;
    browser.wait_for(".catalog article").await;
    browser.screenshot(&docs("console-event-catalog.png")).await;

    browser
        .goto(&server.url(&format!("/apps/{app}/messages/{last}")))
        .await;
    browser.wait_for("table").await;
    browser.screenshot(&docs("console-message.png")).await;
    browser.close().await;

    let phone = Browser::start_sized(390, 844).await;
    phone.sign_in(&server).await;
    phone.goto(&server.url(&format!("/apps/{app}"))).await;
    phone.wait_for("table").await;
    phone.screenshot(&docs("console-phone.png")).await;
    phone.close().await;
}

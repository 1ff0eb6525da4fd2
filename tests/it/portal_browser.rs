//! The app portal in a real browser (headless Chromium over WebDriver): a link from
//! `app-portal-access` is opened as a customer would, an endpoint is added (after an inline
//! error, with a custom header and a look at an event type's example), a test event is sent and its result appears, the chart counts it, and the secret
//! is revealed and rotated; a read-only link shows no controls at all.

use crate::common::*;
use serde_json::json;

async fn event_type_with_example(server: &TestServer) {
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

async fn link(server: &TestServer, app: &str, body: serde_json::Value) -> String {
    let out = server
        .post(&format!("/api/v1/auth/app-portal-access/{app}"), &body)
        .await;
    out["url"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_customer_adds_an_endpoint_sends_a_test_event_and_rotates_the_secret() {
    let server = TestServer::start_default().await;
    let receiver = Receiver::start().await;
    event_type_with_example(&server).await;
    let app = server.create_app("Acme customer").await;
    let url = link(&server, &app, json!({"sessionId": "browser"})).await;
    let Some(browser) = Browser::start().await else {
        return;
    };

    // The link (theme after the key) opens the endpoints page; the key leaves the address bar.
    browser
        .goto(&format!("{url}&productName=Acme%20Billing&darkMode=true"))
        .await;
    browser.wait_for("nav[aria-label='Portal sections']").await;
    assert_eq!(browser.path().await, "/portal/endpoints");
    let current = browser.client().current_url().await.unwrap();
    assert!(current.fragment().is_none(), "the key stayed in {current}");
    assert!(browser
        .find("header .brand")
        .await
        .text()
        .await
        .unwrap()
        .contains("Acme Billing"));

    // Add an endpoint: a bad URL first, refused beside the field.
    browser
        .find("a[href='/portal/endpoints/new']")
        .await
        .click()
        .await
        .unwrap();
    browser
        .wait_for("#f-url")
        .await
        .send_keys("not a url")
        .await
        .unwrap();
    browser
        .find("input[name=event_types][value='invoice.paid']")
        .await
        .click()
        .await
        .unwrap();
    // The type's example is one click away, beside its checkbox.
    browser
        .find(".type-choice:has(input[value='invoice.paid']) summary")
        .await
        .click()
        .await
        .unwrap();
    let example = browser
        .wait_for(".type-choice:has(input[value='invoice.paid']) details[open] pre")
        .await;
    let text = example.text().await.unwrap();
    assert!(text.contains("inv_42"), "the example shows {text:?}");
    browser
        .find("#f-headers")
        .await
        .send_keys("X-Customer: acme")
        .await
        .unwrap();
    browser
        .find("form[action='/portal/endpoints'] button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    browser.wait_for("#f-url-error").await;
    // What was typed is kept beside the error.
    assert_eq!(
        browser
            .find("#f-headers")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("X-Customer: acme")
    );
    let field = browser.find("#f-url").await;
    field.clear().await.unwrap();
    field.send_keys(&receiver.url()).await.unwrap();
    browser
        .find("form[action='/portal/endpoints'] button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    browser.wait_for("#test-event-form").await;
    assert!(browser.path().await.starts_with("/portal/endpoints/ep_"));
    let endpoints = server.get(&format!("/api/v1/app/{app}/endpoint")).await;
    let ep = endpoints["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(endpoints["data"][0]["url"], receiver.url());
    let headers = server
        .get(&format!("/api/v1/app/{app}/endpoint/{ep}/headers"))
        .await;
    assert_eq!(headers["headers"], json!({"x-customer": "acme"}));

    // Send a test event: the result shows in place.
    browser
        .find("#test-event-type")
        .await
        .select_by_value("invoice.paid")
        .await
        .unwrap();
    browser
        .find("#test-event-form button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    let result = browser
        .wait_for("#test-event-result[data-state='success']")
        .await;
    assert!(result.text().await.unwrap().contains("Delivered: HTTP 200"));
    let got = receiver.wait_for(1, WAIT).await;
    assert_eq!(got[0].header("x-customer"), Some("acme"));

    // The chart counts it once the page is loaded again.
    browser.client().refresh().await.unwrap();
    browser.wait_for("#chart-day svg").await;
    let desc = browser
        .find("#chart-day desc")
        .await
        .html(true)
        .await
        .unwrap();
    assert!(desc.contains("1 attempts succeeded"), "chart says: {desc}");

    // Reveal the secret, then rotate it.
    let secret_path = format!("/api/v1/app/{app}/endpoint/{ep}/secret");
    let before = server.get(&secret_path).await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    browser.find("#reveal-secret").await.click().await.unwrap();
    let shown = browser
        .wait_for("#secret-value")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(shown, before);
    browser
        .find("form[action$='/secret/rotate'] button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    let notice = browser.wait_for("p.notice").await.text().await.unwrap();
    assert!(notice.contains("rotated"), "{notice}");
    let after = server.get(&secret_path).await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(after, before);
    browser.close().await;
}

#[tokio::test]
async fn a_read_only_link_shows_no_controls() {
    let server = TestServer::start_default().await;
    event_type_with_example(&server).await;
    let app = server.create_app("Read only").await;
    let ep = server
        .create_endpoint(&app, json!({"url": "https://example.com/ro"}))
        .await;
    let url = link(&server, &app, json!({"readOnly": true})).await;
    let Some(browser) = Browser::start().await else {
        return;
    };
    browser.goto(&url).await;
    browser.wait_for("nav[aria-label='Portal sections']").await;
    assert!(browser.page_text().await.contains("https://example.com/ro"));
    browser
        .find(&format!("a[href='/portal/endpoints/{ep}']"))
        .await
        .click()
        .await
        .unwrap();
    browser.wait_for("#deliveries").await;
    // The only form is signing out; no buttons but its own, no secret to reveal.
    let forms = browser
        .client()
        .find_all(fantoccini::Locator::Css("main form"))
        .await
        .unwrap();
    assert!(
        forms.is_empty(),
        "a read-only page has {} forms",
        forms.len()
    );
    assert!(browser
        .client()
        .find_all(fantoccini::Locator::Css(
            "#reveal-secret, #test-event-form, a[href$='/endpoints/new']"
        ))
        .await
        .unwrap()
        .is_empty());
    browser.close().await;
}

fn docs(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs")
        .join(name)
}

#[tokio::test]
#[ignore = "writes the README's portal screenshots to docs/; run with --ignored"]
async fn screenshots_of_the_portal() {
    let server = TestServer::start_default().await;
    let receiver = Receiver::start().await;
    event_type_with_example(&server).await;
    let app = server.create_app("Acme customer").await;
    let ep = server
        .create_endpoint(
            &app,
            json!({"url": receiver.url(), "description": "Billing service", "filterTypes": ["invoice.paid"]}),
        )
        .await;
    server
        .create_endpoint(
            &app,
            json!({"url": "https://hooks.example.com/acme", "description": "Audit log"}),
        )
        .await;
    // Some history for the charts: a few failures among the successes.
    receiver.reply_with((0..30).map(|i| {
        if i % 7 == 3 {
            Reply::Status(500)
        } else {
            Reply::Status(200)
        }
    }));
    for i in 0..24 {
        server
            .publish(
                &app,
                json!({"eventType": "invoice.paid", "payload": {"invoiceId": format!("inv_{i}")}}),
            )
            .await;
    }
    receiver.wait_for(24, WAIT).await;
    let url = link(&server, &app, json!({})).await;
    let Some(browser) = Browser::start_sized(1280, 1000).await else {
        return;
    };
    browser
        .goto(&format!(
            "{url}&productName=Acme%20Billing&primaryColor=%237c3aed"
        ))
        .await;
    browser.wait_for("nav[aria-label='Portal sections']").await;
    browser.screenshot(&docs("portal-endpoints.png")).await;
    browser
        .goto(&server.url(&format!("/portal/endpoints/{ep}")))
        .await;
    browser.wait_for("#chart-day svg").await;
    browser.screenshot(&docs("portal-endpoint.png")).await;
    browser.close().await;
}

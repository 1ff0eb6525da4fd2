//! The console in a real browser (headless Chromium over WebDriver) against the real server
//! binary and a real receiver: signing in, adding an endpoint through the form, and sending a
//! test event whose attempt's result appears on the page without a reload.

use crate::common::*;
use serde_json::json;

/// An event type with an example payload, so it can be sent as a test event.
async fn event_type_with_example(server: &TestServer, name: &str) {
    server
        .post(
            "/api/v1/event-type",
            &json!({
                "name": name,
                "description": "An invoice was paid",
                "schemas": { "1": {
                    "type": "object",
                    "properties": { "invoiceId": { "type": "string" } },
                    "examples": [{ "invoiceId": "inv_42", "amount": 1200 }]
                }}
            }),
        )
        .await;
}

#[tokio::test]
async fn signing_in_takes_the_admin_token_and_signing_out_ends_the_session() {
    let server = TestServer::start_default().await;
    let Some(browser) = Browser::start().await else {
        return;
    };

    // A console page without a session sends the browser to sign in.
    browser.goto(&server.url("/apps")).await;
    browser.wait_for("#token").await;
    assert_eq!(browser.path().await, "/login");

    // A wrong token is refused with the reason beside the field.
    browser
        .find("#token")
        .await
        .send_keys("not-the-token")
        .await
        .unwrap();
    browser
        .find("form[action='/login'] button")
        .await
        .click()
        .await
        .unwrap();
    let error = browser.wait_for("#token-error").await;
    assert!(error.text().await.unwrap().contains("not the admin token"));

    browser.sign_in(&server).await;
    assert_eq!(browser.path().await, "/apps");
    assert!(browser.page_text().await.contains("Applications"));

    browser
        .find("form.signout button")
        .await
        .click()
        .await
        .unwrap();
    browser.wait_for("#token").await;
    browser.goto(&server.url("/apps")).await;
    browser.wait_for("#token").await;
    assert_eq!(browser.path().await, "/login");
    browser.close().await;
}

#[tokio::test]
async fn an_endpoint_added_through_the_form_exists_with_what_was_chosen() {
    let server = TestServer::start_default().await;
    let app = server.create_app("Billing").await;
    event_type_with_example(&server, "invoice.paid").await;
    server.create_event_type("invoice.voided").await;
    let Some(browser) = Browser::start().await else {
        return;
    };
    browser.sign_in(&server).await;

    browser.goto(&server.url(&format!("/apps/{app}"))).await;
    browser
        .wait_for("a[href$='/endpoints/new']")
        .await
        .click()
        .await
        .unwrap();
    browser.wait_for("#f-url").await;

    // A bad URL and a bad rate limit: the form comes back with an error beside each field,
    // and what was typed is kept.
    browser
        .find("#f-url")
        .await
        .send_keys("not a url")
        .await
        .unwrap();
    browser
        .find("#f-description")
        .await
        .send_keys("Billing service")
        .await
        .unwrap();
    browser
        .find("input[name=event_types][value='invoice.paid']")
        .await
        .click()
        .await
        .unwrap();
    browser
        .find("#f-channels")
        .await
        .send_keys("eu, bad channel!")
        .await
        .unwrap();
    browser
        .find("form[action$='/endpoints'] button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    browser.wait_for("#f-url-error").await;
    assert_eq!(
        browser
            .find("#f-url")
            .await
            .attr("aria-invalid")
            .await
            .unwrap()
            .as_deref(),
        Some("true")
    );
    browser.find("#f-channels-error").await;
    assert!(browser
        .find("input[name=event_types][value='invoice.paid']")
        .await
        .is_selected()
        .await
        .unwrap());
    assert!(
        server.get(&format!("/api/v1/app/{app}/endpoint")).await["data"]
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing is created while the form has errors"
    );

    // Fixed: the endpoint is created and its page shown.
    let receiver = Receiver::start().await;
    let url_field = browser.find("#f-url").await;
    url_field.clear().await.unwrap();
    url_field.send_keys(&receiver.url()).await.unwrap();
    let channels = browser.find("#f-channels").await;
    channels.clear().await.unwrap();
    channels.send_keys("eu, us").await.unwrap();
    browser
        .find("#f-rate_limit")
        .await
        .send_keys("5")
        .await
        .unwrap();
    browser
        .find("form[action$='/endpoints'] button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    browser.wait_for("#test-event-form").await;
    assert!(browser.path().await.contains("/endpoints/ep_"));

    let endpoints = server.get(&format!("/api/v1/app/{app}/endpoint")).await;
    let ep = &endpoints["data"][0];
    assert_eq!(ep["url"], receiver.url());
    assert_eq!(ep["description"], "Billing service");
    assert_eq!(ep["eventTypes"], json!(["invoice.paid"]));
    assert_eq!(ep["channels"], json!(["eu", "us"]));
    assert_eq!(ep["throttleRate"], 5);
    browser.close().await;
}

#[tokio::test]
async fn a_test_event_is_delivered_and_its_attempt_shown_on_the_page() {
    let server = TestServer::start_default().await;
    let receiver = Receiver::start().await;
    let app = server.create_app("Billing").await;
    event_type_with_example(&server, "invoice.paid").await;
    let ep = server
        .create_endpoint(&app, json!({ "url": receiver.url() }))
        .await;
    let Some(browser) = Browser::start().await else {
        return;
    };
    browser.sign_in(&server).await;

    browser
        .goto(&server.url(&format!("/apps/{app}/endpoints/{ep}")))
        .await;
    browser
        .wait_for("#test-event-type")
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

    // The page's script shows the attempt once it is recorded, without a reload.
    let result = browser
        .wait_for("#test-event-result[data-state='success']")
        .await;
    let text = result.text().await.unwrap();
    assert!(text.contains("Delivered: HTTP 200"), "result shows: {text}");
    assert_eq!(browser.path().await, format!("/apps/{app}/endpoints/{ep}"));

    let delivered = receiver.wait_for(1, WAIT).await;
    assert_eq!(
        delivered[0].json(),
        json!({ "invoiceId": "inv_42", "amount": 1200 })
    );

    // After a reload the attempt is in the endpoint's recent attempts and its health.
    browser.client().refresh().await.unwrap();
    browser.wait_for("table").await;
    let page = browser.page_text().await;
    assert!(page.contains("HTTP 200"), "page shows: {page}");
    assert!(page.contains("100% ok"), "page shows: {page}");
    browser.close().await;
}

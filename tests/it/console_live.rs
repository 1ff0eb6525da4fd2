//! The console's live parts in a real browser (headless Chromium over WebDriver) against the
//! real server binary: a message posted through an incoming webhook (a real HTTP POST to the
//! hook URL) appears in the open channel page, and a request sent to a bin appears in the open
//! bin page, both without a reload. A value planted in the page's `window` before the post
//! must still be there after, which a reload would have wiped.

use crate::common::*;
use serde_json::json;

/// Plants a marker in the page's `window`; [`still_same_page`] checks it survived.
async fn plant_marker(browser: &Browser) {
    browser
        .client()
        .execute("window.kancaNoReload = 'same page';", vec![])
        .await
        .expect("running a script in the page");
}

async fn still_same_page(browser: &Browser) -> bool {
    browser
        .client()
        .execute("return window.kancaNoReload || null;", vec![])
        .await
        .expect("running a script in the page")
        == json!("same page")
}

#[tokio::test]
async fn a_message_posted_through_an_incoming_webhook_appears_live_in_the_channel() {
    let server = TestServer::start_default().await;
    let channel = server.create_channel("alerts").await;
    let channel_id = channel["id"].as_str().unwrap().to_owned();
    let hook = server
        .create_incoming_hook(json!({ "channel": "alerts", "name": "Grafana" }))
        .await;
    let hook_url = hook["url"].as_str().unwrap().to_owned();
    let Some(browser) = Browser::start().await else {
        return;
    };
    browser.sign_in(&server).await;
    browser
        .goto(&server.url(&format!("/channels/{channel_id}")))
        .await;
    browser.wait_for("#messages[data-live]").await;
    assert!(browser.page_text().await.contains("No messages yet"));
    plant_marker(&browser).await;

    server
        .post_hook_json(
            &hook_url,
            &json!({
                "text": "*CPU high* on db-1",
                "attachments": [{ "color": "danger", "title": "CPU > 90% for 5 minutes",
                                  "fields": [{ "title": "Host", "value": "db-1", "short": true }] }]
            }),
        )
        .await
        .assert(200, "ok");
    let message = browser.wait_for("#messages article.msg .att-title").await;
    assert_eq!(message.text().await.unwrap(), "CPU > 90% for 5 minutes");
    let head = browser.find("#messages article.msg .msg-head").await;
    let head = head.text().await.unwrap();
    assert!(head.contains("Grafana") && head.contains("APP"), "{head}");
    assert_eq!(
        browser
            .find("#messages article.msg .mrkdwn strong")
            .await
            .text()
            .await
            .unwrap(),
        "CPU high"
    );
    assert!(still_same_page(&browser).await, "the page was reloaded");

    // A reply in its thread goes under its parent, live too.
    let parent_ts = server.channel_messages(&channel_id).await[0]["ts"]
        .as_str()
        .unwrap()
        .to_owned();
    server
        .post(
            &format!("/api/v1/channels/{channel_id}/messages"),
            &json!({ "user": "ada", "text": "looking into it", "threadTs": parent_ts }),
        )
        .await;
    let reply = browser
        .wait_for(&format!(
            "#r-{} article.msg .mrkdwn",
            parent_ts.replace('.', "-")
        ))
        .await;
    assert_eq!(reply.text().await.unwrap(), "looking into it");
    assert!(still_same_page(&browser).await, "the page was reloaded");
    browser.close().await;
}

#[tokio::test]
async fn the_composer_posts_into_the_channel() {
    let server = TestServer::start_default().await;
    let channel = server.create_channel("general").await;
    let channel_id = channel["id"].as_str().unwrap().to_owned();
    let Some(browser) = Browser::start().await else {
        return;
    };
    browser.sign_in(&server).await;
    browser
        .goto(&server.url(&format!("/channels/{channel_id}")))
        .await;
    browser
        .wait_for("#compose-text")
        .await
        .send_keys("hello from the console")
        .await
        .unwrap();
    browser
        .find("form.composer button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    browser.wait_for("#messages article.msg").await;
    let messages = server.wait_for_messages(&channel_id, 1).await;
    assert_eq!(messages[0]["text"], "hello from the console");
    assert_eq!(messages[0]["postedBy"]["kind"], "user");
    browser.close().await;
}

#[tokio::test]
async fn a_request_sent_to_a_bin_appears_live_in_the_bin_page() {
    let server = TestServer::start_default().await;
    let bin = server.create_bin(json!({ "name": "stripe" })).await;
    let bin_id = bin["id"].as_str().unwrap().to_owned();
    let Some(browser) = Browser::start().await else {
        return;
    };
    browser.sign_in(&server).await;
    browser.goto(&server.url(&format!("/bins/{bin_id}"))).await;
    browser.wait_for("#requests[data-live]").await;
    plant_marker(&browser).await;

    let sent = server
        .http()
        .post(format!(
            "{}/b/{bin_id}/stripe/events?live=1",
            server.base_url()
        ))
        .header("content-type", "application/json")
        .header("stripe-signature", "t=1,v1=abc")
        .body(r#"{"type":"invoice.paid","data":{"amount":4200}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status().as_u16(), 200);
    let row = browser.wait_for("#requests li[data-req] .path").await;
    assert_eq!(row.text().await.unwrap(), "/stripe/events?live=1");
    assert!(still_same_page(&browser).await, "the page was reloaded");

    // Selecting it shows the detail pane: headers in order and the JSON body pretty-printed.
    browser
        .find("#requests li[data-req] a")
        .await
        .click()
        .await
        .unwrap();
    let body = browser.wait_for("pre.body.json").await;
    assert_eq!(
        body.text().await.unwrap(),
        "{\n  \"type\": \"invoice.paid\",\n  \"data\": {\n    \"amount\": 4200\n  }\n}"
    );
    let headers = browser.find("table.headers").await.text().await.unwrap();
    assert!(headers.contains("stripe-signature"), "{headers}");
    let curl = browser.find("#curl").await.text().await.unwrap();
    assert!(curl.starts_with("curl -X 'POST'"), "{curl}");

    // Replay to a real receiver shows its answer.
    let receiver = Receiver::start().await;
    browser
        .find("#f-url")
        .await
        .send_keys(&receiver.url())
        .await
        .unwrap();
    browser
        .find("form[action$='/replay'] button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    browser
        .wait_for("#replay-result[data-state='success']")
        .await;
    receiver.wait_for(1, WAIT).await;
    browser.close().await;
}

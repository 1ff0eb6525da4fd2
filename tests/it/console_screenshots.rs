//! Screenshots of the console's main pages for the README, taken in the same headless
//! Chromium as the browser tests, from a server with a little realistic data (one healthy
//! endpoint, one failing, a catalog with examples, a test event's result, a channel with an
//! alert and a threaded reply, a bin with a captured JSON request selected).
//!
//! Ignored by default (it writes files); regenerate with
//! `cargo test --test it console_screenshots -- --ignored`. The PNGs land in `docs/`.

use crate::common::*;
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

    let Some(browser) = Browser::start_sized(1280, 1000).await else {
        return;
    };
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

    // A channel with an alert from a monitoring hook, a threaded reply, and a deploy notice.
    let channel = server.create_channel("alerts").await;
    let channel_id = channel["id"].as_str().unwrap().to_owned();
    server.create_channel("deploys").await;
    server.create_channel("general").await;
    let grafana = server
        .create_incoming_hook(
            json!({ "channel": "alerts", "name": "Grafana", "username": "Grafana" }),
        )
        .await;
    let ci = server
        .create_incoming_hook(
            json!({ "channel": "alerts", "name": "CI", "username": "Deploy bot" }),
        )
        .await;
    server
        .say(
            &channel_id,
            "grace",
            "Morning! Watching the DB migration today.",
        )
        .await;
    server
        .post_hook_json(
            grafana["url"].as_str().unwrap(),
            &json!({
                "text": "<!here> *[FIRING:1] High CPU* on `db-1`",
                "attachments": [{
                    "color": "danger",
                    "title": "CPU above 90% for 5 minutes",
                    "title_link": "https://grafana.example.com/d/db/overview",
                    "text": "Load started rising after the 09:12 deploy. <https://grafana.example.com/d/db/overview|Open the dashboard>",
                    "fields": [
                        { "title": "Host", "value": "db-1.eu-west", "short": true },
                        { "title": "Value", "value": "93.4%", "short": true }
                    ],
                    "footer": "Grafana alerting"
                }]
            }),
        )
        .await
        .assert(200, "ok");
    let alert_ts = server.channel_messages(&channel_id).await[1]["ts"]
        .as_str()
        .unwrap()
        .to_owned();
    server
        .post(
            &format!("/api/v1/channels/{channel_id}/messages"),
            &json!({ "user": "ada", "text": "Looking into it: the new index build is running on the primary.", "threadTs": alert_ts }),
        )
        .await;
    server
        .post_hook_json(
            ci["url"].as_str().unwrap(),
            &json!({
                "text": "Rolled back *api* to `v2.31.4`",
                "attachments": [{ "color": "good", "fields": [
                    { "title": "Environment", "value": "production", "short": true },
                    { "title": "Duration", "value": "48 s", "short": true }
                ] }]
            }),
        )
        .await
        .assert(200, "ok");
    browser
        .goto(&server.url(&format!("/channels/{channel_id}")))
        .await;
    browser.wait_for(".att").await;
    browser.screenshot(&docs("console-channel.png")).await;

    // Adding an incoming webhook: its URL is shown this once.
    browser.goto(&server.url("/integrations")).await;
    browser
        .wait_for("form[action='/integrations/incoming'] #f-name")
        .await
        .send_keys("Sentry")
        .await
        .unwrap();
    browser
        .find("form[action='/integrations/incoming'] button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    browser.wait_for(".secret").await;
    browser.screenshot(&docs("console-webhooks.png")).await;

    // A bin with a few captures, the JSON one selected.
    let bin = server.create_bin(json!({ "name": "stripe-test" })).await;
    let bin_id = bin["id"].as_str().unwrap().to_owned();
    server
        .http()
        .get(format!("{}/b/{bin_id}/health", server.base_url()))
        .send()
        .await
        .unwrap();
    server
        .http()
        .post(format!("{}/b/{bin_id}/stripe/webhooks?attempt=1", server.base_url()))
        .header("content-type", "application/json")
        .header("user-agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
        .header("stripe-signature", "t=1732351200,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd")
        .body(r#"{"id":"evt_1QOb2x","object":"event","type":"invoice.paid","data":{"object":{"id":"in_1QOb2w","amount_paid":12900,"currency":"eur","customer":"cus_R8f2"}},"livemode":false}"#)
        .send()
        .await
        .unwrap();
    let json_req = server.bin_requests(&bin_id).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    server
        .http()
        .post(format!("{}/b/{bin_id}/github", server.base_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("payload=%7B%22zen%22%3A%22Keep%20it%20logically%20awesome.%22%7D")
        .send()
        .await
        .unwrap();
    browser
        .goto(&server.url(&format!("/bins/{bin_id}?req={json_req}")))
        .await;
    browser.wait_for("pre.body.json").await;
    browser.screenshot(&docs("console-bin.png")).await;
    browser.close().await;

    let Some(phone) = Browser::start_sized(390, 844).await else {
        return;
    };
    phone.sign_in(&server).await;
    phone.goto(&server.url(&format!("/apps/{app}"))).await;
    phone.wait_for("table").await;
    phone.screenshot(&docs("console-phone.png")).await;
    phone.close().await;
}

/// The Slack platform's pages: a slash command's ephemeral answer, a bot's message with
/// buttons, the message after a click (updated through `response_url`), and an app's page.
#[tokio::test]
#[ignore = "writes the README's screenshots to docs/; run with --ignored"]
async fn screenshots_of_the_slack_platform() {
    std::fs::create_dir_all(docs("")).unwrap();
    let server = TestServer::start_default().await;
    let channel = server.create_channel("deploys").await;
    let channel_id = channel["id"].as_str().unwrap().to_owned();
    server.create_channel("general").await;
    let app = SlackApp::create(&server, "Deploy Bot").await;
    server
        .call_ok(
            reqwest::Method::PATCH,
            &format!("/api/v1/slack-apps/{}", app.id()),
            Some(&json!({
                "events": { "requestUrl": app.url("/slack/events"),
                            "eventTypes": ["message.channels", "app_mention"] },
                "slashCommands": [{ "command": "/deploy", "url": app.url("/slack/commands"),
                                    "description": "Deploy a service", "usageHint": "[service] [env]" }],
                "interactivityUrl": app.url("/slack/actions"),
            })),
        )
        .await;
    server
        .say("deploys", "ada", "Release 2.4 is tagged, who can ship it?")
        .await;
    server
        .http()
        .post(server.url("/api/chat.postMessage"))
        .bearer_auth(app.token())
        .json(&json!({
            "channel": channel_id,
            "text": "Deploy web 2.4 to production?",
            "blocks": [
                { "type": "section", "text": { "type": "mrkdwn",
                  "text": "*Deploy `web` 2.4 to production?*\n12 commits since 2.3, all checks green." } },
                { "type": "actions", "block_id": "decide", "elements": [
                    { "type": "button", "action_id": "approve", "style": "primary", "value": "web-2.4",
                      "text": { "type": "plain_text", "text": "Approve" } },
                    { "type": "button", "action_id": "reject", "style": "danger", "value": "web-2.4",
                      "text": { "type": "plain_text", "text": "Reject" } }
                ]}
            ]
        }))
        .send()
        .await
        .unwrap();
    // The default answer (events arrive too, and would take a queued one).
    app.set_default(AppReply::json(json!({
        "response_type": "ephemeral",
        "text": "Deploying *web* to *staging*… I will post here when it is live."
    })));
    server
        .post(
            &format!("/api/v1/channels/{channel_id}/commands"),
            &json!({ "user": "admin", "command": "/deploy", "text": "web staging" }),
        )
        .await;

    let Some(browser) = Browser::start_sized(1280, 900).await else {
        return;
    };
    browser.sign_in(&server).await;
    browser
        .goto(&server.url(&format!("/channels/{channel_id}?as=admin")))
        .await;
    browser.wait_for(".ephemeral").await;
    browser.screenshot(&docs("console-slash-command.png")).await;

    // Click "Approve" in the page; the app answers through response_url, replacing the message.
    browser
        .find("form.block-action button")
        .await
        .click()
        .await
        .unwrap();
    let click = app
        .wait_for(3)
        .await
        .into_iter()
        .find(|r| r.json()["type"] == "block_actions")
        .expect("the click");
    let response_url = click.json()["response_url"].as_str().unwrap().to_owned();
    server
        .http()
        .post(&response_url)
        .json(&json!({
            "replace_original": true,
            "text": "Approved",
            "blocks": [{ "type": "section", "text": { "type": "mrkdwn",
                "text": "✅ *Deploy `web` 2.4 to production* approved by <@admin>. Rolling out now." } }]
        }))
        .send()
        .await
        .unwrap();
    browser
        .goto(&server.url(&format!("/channels/{channel_id}?as=admin")))
        .await;
    browser.screenshot(&docs("console-button.png")).await;

    browser
        .goto(&server.url(&format!("/slack-apps/{}", app.id())))
        .await;
    browser.screenshot(&docs("console-slack-app.png")).await;
    browser.close().await;
}

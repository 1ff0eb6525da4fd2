//! Outgoing webhooks, black-box, with a real bot: both trigger modes, both body types,
//! channel-only and trigger-only hooks, the signature checked by an independent HMAC here,
//! replies posted back (threaded for `response_type: "comment"`), a retry after a 500 through
//! the delivery engine, and no loops.

use crate::common::*;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Sha256;

/// Slack's signature, computed here without any of the server's code.
fn expected_signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

fn assert_signed(request: &BotRequest, secret: &str) {
    let timestamp = request.header("x-slack-request-timestamp");
    assert!(timestamp.parse::<i64>().is_ok(), "{request:?}");
    assert_eq!(
        request.header("x-slack-signature"),
        expected_signature(secret, timestamp, &request.body),
        "the signature does not verify"
    );
    // Not a Standard Webhooks delivery.
    assert_eq!(request.header("webhook-signature"), "");
}

async fn outgoing(server: &TestServer, body: Value) -> Value {
    server.post("/api/v1/outgoing-webhooks", &body).await
}

fn texts(messages: &[Value]) -> Vec<&str> {
    messages
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn first_word_trigger_form_body_signed_and_reply_threaded() {
    let server = TestServer::start_default().await;
    let general = server.create_channel("general").await;
    server.create_channel("random").await;
    let bot = Bot::start().await;
    bot.set_default(
        200,
        json!({"text": "on it", "response_type": "comment", "username": "deployer"}),
    );
    let hook = outgoing(
        &server,
        json!({
            "name": "deploys",
            "triggerWords": ["deploy", "ship"],
            "triggerWhen": "first_word",
            "callbackUrls": [bot.url()],
            "contentType": "form"
        }),
    )
    .await;
    let secret = hook["signingSecret"].as_str().unwrap();
    assert!(hook["id"].is_string() && hook["token"].is_string());
    assert_eq!(hook["channelId"], Value::Null);

    // Not the first word, or a longer word: no trigger.
    server.say("general", "ada", "please deploy").await;
    server.say("general", "ada", "deployment soon").await;
    let trigger = server.say("general", "ada", "deploy api v2").await;
    let ts = trigger["ts"].as_str().unwrap();

    let requests = bot.wait_for(1).await;
    let request = &requests[0];
    assert_eq!(
        request.header("content-type"),
        "application/x-www-form-urlencoded"
    );
    assert_signed(request, secret);
    let f = request.fields();
    assert_eq!(f["token"], hook["token"]);
    assert!(f["team_id"].as_str().unwrap().starts_with('T'));
    assert_eq!(f["team_domain"], "kanca");
    assert_eq!(f["channel_id"], general["id"]);
    assert_eq!(f["channel_name"], "general");
    assert_eq!(f["timestamp"], ts);
    assert_eq!(f["user_name"], "ada");
    assert!(f["user_id"].as_str().unwrap().starts_with('U'));
    assert_eq!(f["text"], "deploy api v2");
    assert_eq!(f["trigger_word"], "deploy");

    // The reply lands in the thread of the triggering message, as a bot.
    let messages = server.wait_for_messages("general", 4).await;
    let reply = &messages[3];
    assert_eq!(reply["text"], "on it");
    assert_eq!(reply["threadTs"], ts);
    assert_eq!(reply["username"], "deployer");
    assert_eq!(reply["postedBy"], json!({"kind": "bot", "name": "deploys"}));

    // Trigger-only hooks listen on every channel; the reply goes where the trigger was.
    server.say("random", "bob", "ship it").await;
    let requests = bot.wait_for(2).await;
    assert_eq!(requests[1].fields()["trigger_word"], "ship");
    assert_eq!(requests[1].fields()["channel_name"], "random");
    let random = server.wait_for_messages("random", 2).await;
    assert_eq!(texts(&random), vec!["ship it", "on it"]);

    settle().await;
    assert_eq!(bot.requests().len(), 2);
}

#[tokio::test]
async fn starts_with_trigger_json_body_scoped_to_a_channel() {
    let server = TestServer::start_default().await;
    let ops = server.create_channel("ops").await;
    server.create_channel("general").await;
    let bot = Bot::start().await;
    bot.set_default(200, json!({"text": "all green"}));
    let hook = outgoing(
        &server,
        json!({
            "name": "status",
            "channel": "ops",
            "triggerWords": ["!"],
            "triggerWhen": "starts_with",
            "callbackUrls": [bot.url()],
            "contentType": "json"
        }),
    )
    .await;
    assert_eq!(hook["channelId"], ops["id"]);

    server.say("general", "ada", "!status").await; // other channel
    server.say("ops", "ada", "status !").await; // does not start with it
    server.say("ops", "ada", "!status").await;

    let requests = bot.wait_for(1).await;
    let request = &requests[0];
    assert_eq!(request.header("content-type"), "application/json");
    assert_signed(request, hook["signingSecret"].as_str().unwrap());
    let f = request.fields();
    assert_eq!(f["text"], "!status");
    assert_eq!(f["trigger_word"], "!");
    assert_eq!(f["channel_id"], ops["id"]);
    assert_eq!(f["token"], hook["token"]);

    // Not threaded without `response_type: "comment"`.
    let messages = server.wait_for_messages("ops", 3).await;
    assert_eq!(messages[2]["text"], "all green");
    assert_eq!(messages[2]["threadTs"], Value::Null);
    settle().await;
    assert_eq!(bot.requests().len(), 1);
}

#[tokio::test]
async fn channel_only_hooks_fire_for_people_not_for_apps() {
    let server = TestServer::start_default().await;
    server.create_channel("support").await;
    let bot = Bot::start().await;
    outgoing(
        &server,
        json!({"name": "all of support", "channel": "support", "callbackUrls": [bot.url()]}),
    )
    .await;
    let incoming = server
        .create_incoming_hook(json!({"channel": "support"}))
        .await;
    server
        .post_hook_json(incoming["url"].as_str().unwrap(), &json!({"text": "alert"}))
        .await
        .assert(200, "ok");
    server.say("support", "ada", "anything at all").await;
    let requests = bot.wait_for(1).await;
    assert_eq!(requests[0].fields()["text"], "anything at all");
    assert_eq!(requests[0].fields()["trigger_word"], "");
    settle().await;
    assert_eq!(bot.requests().len(), 1, "an app's message fired the hook");
}

#[tokio::test]
async fn a_failed_request_is_retried_by_the_engine() {
    let server = TestServer::start_default().await;
    server.create_channel("general").await;
    let bot = Bot::start().await;
    bot.reply_with([(500, json!({"text": "broken"}))]);
    bot.set_default(200, json!({"text": "second time lucky"}));
    let hook = outgoing(
        &server,
        json!({"name": "flaky", "triggerWords": ["go"], "callbackUrls": [bot.url()]}),
    )
    .await;
    server.say("general", "ada", "go").await;
    let requests = bot.wait_for(2).await;
    assert_eq!(requests[0].body, requests[1].body, "the same request again");
    for r in &requests {
        assert_signed(r, hook["signingSecret"].as_str().unwrap());
    }
    // Only the successful answer is posted back, once.
    let messages = server.wait_for_messages("general", 2).await;
    assert_eq!(texts(&messages), vec!["go", "second time lucky"]);
    settle().await;
    assert_eq!(server.channel_messages("general").await.len(), 2);
    assert_eq!(bot.requests().len(), 2);

    // Both attempts are in the engine's attempt log, newest first.
    let id = hook["id"].as_str().unwrap();
    let attempts = eventually("two recorded attempts", || async {
        let log = server
            .get(&format!("/api/v1/outgoing-webhooks/{id}/attempts"))
            .await;
        let data = log["data"].as_array().cloned().unwrap_or_default();
        if data.len() == 2 {
            Ok(data)
        } else {
            Err(format!("{log}"))
        }
    })
    .await;
    let codes: Vec<&Value> = attempts.iter().map(|a| &a["responseStatusCode"]).collect();
    assert_eq!(codes, vec![&json!(200), &json!(500)]);
    assert_eq!(attempts[0]["url"], bot.url());
}

#[tokio::test]
async fn replies_never_trigger_outgoing_webhooks() {
    let server = TestServer::start_default().await;
    server.create_channel("general").await;
    let bot = Bot::start().await;
    // A reply that would trigger the hook again if replies counted.
    bot.set_default(200, json!({"text": "echo echo"}));
    outgoing(
        &server,
        json!({"name": "echo", "triggerWords": ["echo"], "callbackUrls": [bot.url()]}),
    )
    .await;
    server.say("general", "ada", "echo hello").await;
    server.wait_for_messages("general", 2).await;
    settle().await;
    assert_eq!(bot.requests().len(), 1);
    assert_eq!(
        texts(&server.channel_messages("general").await),
        vec!["echo hello", "echo echo"]
    );
}

#[tokio::test]
async fn hooks_are_listed_deleted_and_checked() {
    let server = TestServer::start_default().await;
    server.create_channel("general").await;
    let bot = Bot::start().await;
    let hook = outgoing(
        &server,
        json!({"name": "h", "triggerWords": ["x"], "callbackUrls": [bot.url()]}),
    )
    .await;
    let id = hook["id"].as_str().unwrap();
    let listed = server.get("/api/v1/outgoing-webhooks").await;
    assert_eq!(listed["data"][0]["id"], id);
    assert_eq!(listed["data"][0]["triggerWhen"], "first_word");
    assert_eq!(listed["data"][0]["contentType"], "form");
    let (status, _) = server
        .call(
            Method::DELETE,
            &format!("/api/v1/outgoing-webhooks/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    server.say("general", "ada", "x marks").await;
    settle().await;
    assert!(bot.requests().is_empty(), "a deleted hook fired");

    let url = bot.url();
    let cases = [
        (json!({"name": "h", "callbackUrls": [url]}), 422),
        (
            json!({"name": "h", "triggerWords": ["x"], "callbackUrls": []}),
            422,
        ),
        (
            json!({"name": "h", "triggerWords": ["x"], "callbackUrls": ["not a url"]}),
            422,
        ),
        (
            json!({"name": "h", "triggerWords": ["x"], "callbackUrls": ["ftp://example.com/"]}),
            422,
        ),
        (
            json!({"name": "h", "channel": "nowhere", "callbackUrls": [url]}),
            404,
        ),
        (
            json!({"name": "h", "triggerWords": ["x"], "triggerWhen": "sometimes", "callbackUrls": [url]}),
            422,
        ),
        (
            json!({"name": "h", "triggerWords": ["x"], "contentType": "xml", "callbackUrls": [url]}),
            422,
        ),
        (
            json!({"name": "", "triggerWords": ["x"], "callbackUrls": [url]}),
            422,
        ),
    ];
    for (body, status) in cases {
        let (got, answer) = server
            .call(Method::POST, "/api/v1/outgoing-webhooks", Some(&body))
            .await;
        assert_eq!(got, status, "{body} → {answer}");
    }
    let (status, _) = server
        .call(Method::GET, "/api/v1/outgoing-webhooks/WNOSUCHHOOK", None)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn callback_urls_to_private_addresses_are_refused_by_default() {
    let server = TestServer::start(ServerOptions::default().with_ssrf_guard()).await;
    server.create_channel("general").await;
    let (status, answer) = server
        .call(
            Method::POST,
            "/api/v1/outgoing-webhooks",
            Some(&json!({"name": "h", "triggerWords": ["x"], "callbackUrls": ["http://127.0.0.1:9/"]})),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
}

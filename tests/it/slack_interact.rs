//! Slash commands, buttons and `response_url`, black-box, with a real app server that checks
//! every signature: Slack's form for a command, the immediate answer (nothing, ephemeral or
//! `in_channel`), delayed answers through `response_url` (in the channel, to the person only,
//! replacing or deleting the message with the button, five uses at most, forged URLs refused),
//! `block_actions` for a click, `chat.postEphemeral`, and the errors of each.

use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

async fn with_command(server: &TestServer, app: &SlackApp, command: &str) {
    server
        .call_ok(
            Method::PATCH,
            &format!("/api/v1/slack-apps/{}", app.id()),
            Some(&json!({
                "slashCommands": [{
                    "command": command,
                    "url": app.url("/slack/commands"),
                    "description": "Deploy a service",
                    "usageHint": "[env]"
                }],
                "interactivityUrl": app.url("/slack/interactive"),
            })),
        )
        .await;
}

async fn run(server: &TestServer, channel: &str, command: &str, text: &str) -> (u16, Value) {
    server
        .call(
            Method::POST,
            &format!("/api/v1/channels/{channel}/commands"),
            Some(&json!({ "user": "alice", "command": command, "text": text })),
        )
        .await
}

async fn ephemeral(server: &TestServer, channel: &str, user: &str) -> Vec<Value> {
    server
        .get(&format!("/api/v1/channels/{channel}/ephemeral?user={user}"))
        .await["data"]
        .as_array()
        .unwrap()
        .clone()
}

/// POSTs JSON to a `response_url` as an app does: status and body.
async fn respond(server: &TestServer, url: &str, body: Value) -> (u16, Value) {
    let response = server.http().post(url).json(&body).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_slash_command_is_slacks_signed_form_and_its_answers_show() {
    let server = TestServer::start_default().await;
    let channel = server.create_channel("deploys").await;
    let app = SlackApp::create(&server, "Deployer").await;
    with_command(&server, &app, "/deploy").await;

    // A plain-text immediate answer: shown to the person only.
    app.reply_with([AppReply::text(200, "Deploying prod…")]);
    let (status, out) = run(&server, "deploys", "/deploy", "prod").await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["status"], 200);
    assert_eq!(out["responseType"], "ephemeral");
    assert_eq!(out["text"], "Deploying prod…");

    let request = &app.wait_for(1).await[0];
    assert!(request.signed, "{request:?}");
    assert_eq!(request.path, "/slack/commands");
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let form = request.json();
    assert_eq!(form["command"], "/deploy");
    assert_eq!(form["text"], "prod");
    assert_eq!(form["channel_id"], channel["id"]);
    assert_eq!(form["channel_name"], "deploys");
    assert_eq!(form["user_name"], "alice");
    assert_eq!(form["team_id"], app.app["teamId"]);
    assert_eq!(form["api_app_id"], app.id());
    assert_eq!(form["token"], app.app["verificationToken"]);
    assert_eq!(form["trigger_id"].as_str().unwrap().split('.').count(), 3);
    let response_url = form["response_url"].as_str().unwrap().to_owned();
    assert!(
        response_url.starts_with(&server.url("/commands/")),
        "{response_url}"
    );
    let alice = form["user_id"].as_str().unwrap().to_owned();

    let seen = ephemeral(&server, "deploys", "alice").await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["text"], "Deploying prod…");
    assert!(ephemeral(&server, "deploys", "bob").await.is_empty());
    assert!(
        server.channel_messages("deploys").await.is_empty(),
        "an ephemeral answer is not a channel message"
    );

    // Delayed answers: in the channel, then to alice only.
    let (status, body) = respond(
        &server,
        &response_url,
        json!({ "text": "Deployed prod", "response_type": "in_channel" }),
    )
    .await;
    assert_eq!((status, body), (200, json!({ "ok": true })));
    let messages = server.wait_for_messages("deploys", 1).await;
    assert_eq!(messages[0]["text"], "Deployed prod");
    assert_eq!(messages[0]["postedBy"]["kind"], "bot");
    assert_eq!(messages[0]["postedBy"]["name"], "Deployer");
    respond(&server, &response_url, json!({ "text": "only for you" })).await;
    let seen = ephemeral(&server, "deploys", "alice").await;
    assert_eq!(seen.last().unwrap()["text"], "only for you");

    // A bad body is refused and still counts as a use; five in all.
    let (status, body) = respond(&server, &response_url, json!({ "blocks": "nope" })).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_blocks"))
    );
    respond(&server, &response_url, json!({ "text": "four" })).await;
    respond(&server, &response_url, json!({ "text": "five" })).await;
    let (status, body) = respond(&server, &response_url, json!({ "text": "six" })).await;
    assert_eq!(
        (status, body),
        (404, json!({ "ok": false, "error": "used_url" }))
    );

    // A forged or mangled URL is refused.
    let forged = format!("{}x", response_url);
    let (status, body) = respond(&server, &forged, json!({ "text": "hi" })).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("invalid_token"))
    );
    let (status, _) = respond(
        &server,
        &server.url(&format!("/commands/T1/{}/abc.def", app.id())),
        json!({ "text": "hi" }),
    )
    .await;
    assert_eq!(status, 404);

    // A JSON immediate answer `in_channel` is posted for everyone.
    app.reply_with([AppReply::json(
        json!({ "response_type": "in_channel", "text": "Rolling back" }),
    )]);
    let (_, out) = run(&server, "deploys", "/deploy", "rollback").await;
    assert_eq!(out["responseType"], "in_channel");
    assert_eq!(out["message"]["text"], "Rolling back");
    assert!(server
        .channel_messages("deploys")
        .await
        .iter()
        .any(|m| m["text"] == "Rolling back"));

    // An empty answer shows nothing.
    app.reply_with([AppReply::empty()]);
    let (_, out) = run(&server, "deploys", "/deploy", "").await;
    assert_eq!(
        (out["status"].as_u64(), &out["text"]),
        (Some(200), &Value::Null)
    );
    let _ = alice;
}

#[tokio::test]
async fn slash_command_errors_are_clear() {
    let server = TestServer::start_default().await;
    server.create_channel("ops").await;
    let app = SlackApp::create(&server, "Ops").await;
    with_command(&server, &app, "/ops").await;

    let (status, body) = run(&server, "ops", "/nothing", "x").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("command_not_found"))
    );
    let (status, body) = run(&server, "no-such-channel", "/ops", "x").await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = server
        .call(
            Method::POST,
            "/api/v1/channels/ops/commands",
            Some(&json!({ "user": "", "command": "/ops" })),
        )
        .await;
    assert_eq!(status, 422);

    // The app fails: Slack's names for it, shown to the person.
    app.reply_with([AppReply::text(500, "oops")]);
    let (_, out) = run(&server, "ops", "/ops", "x").await;
    assert_eq!(out["status"], 500);
    assert_eq!(out["error"], "http_service_error");
    assert!(ephemeral(&server, "ops", "alice").await[0]["text"]
        .as_str()
        .unwrap()
        .contains("http_service_error"));
    // Slack gives an app 3 seconds.
    app.reply_with([AppReply::text(200, "late").after(Duration::from_millis(3500))]);
    let (_, out) = run(&server, "ops", "/ops", "x").await;
    assert_eq!(out["error"], "operation_timeout", "{out}");

    // An archived channel takes no command.
    server
        .call_ok(Method::POST, "/api/v1/channels/ops/archive", None)
        .await;
    let (status, _) = run(&server, "ops", "/ops", "x").await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn a_button_click_is_block_actions_and_response_url_updates_the_message() {
    let server = TestServer::start_default().await;
    let channel = server.create_channel("approvals").await;
    let channel_id = channel["id"].as_str().unwrap();
    let app = SlackApp::create(&server, "Approver").await;
    with_command(&server, &app, "/approve").await;

    let blocks = json!([
        { "type": "section", "text": { "type": "mrkdwn", "text": "Ship v2?" } },
        { "type": "actions", "block_id": "decide", "elements": [
            { "type": "button", "action_id": "approve", "value": "v2",
              "text": { "type": "plain_text", "text": "Approve" }, "style": "primary" },
            { "type": "button", "action_id": "reject", "value": "v2",
              "text": { "type": "plain_text", "text": "Reject" } }
        ]}
    ]);
    let posted: Value = server
        .http()
        .post(server.url("/api/chat.postMessage"))
        .bearer_auth(app.token())
        .json(&json!({ "channel": channel_id, "text": "Ship v2?", "blocks": blocks }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ts = posted["ts"].as_str().unwrap().to_owned();

    let click = |action: &str| {
        let path = format!("/api/v1/channels/approvals/messages/{ts}/actions");
        let body = json!({ "user": "bob", "actionId": action });
        let server = &server;
        async move { server.call(Method::POST, &path, Some(&body)).await }
    };
    let (status, out) = click("approve").await;
    assert_eq!((status, out["status"].as_u64()), (200, Some(200)), "{out}");

    let request = &app.wait_for(1).await[0];
    assert!(request.signed);
    assert_eq!(request.path, "/slack/interactive");
    let payload = request.json();
    assert_eq!(payload["type"], "block_actions");
    assert_eq!(payload["user"]["username"], "bob");
    assert_eq!(payload["api_app_id"], app.id());
    assert_eq!(payload["container"]["message_ts"], ts.as_str());
    assert_eq!(payload["channel"]["id"], channel_id);
    assert_eq!(payload["message"]["text"], "Ship v2?");
    assert_eq!(payload["message"]["bot_id"], app.app["botId"]);
    let action = &payload["actions"][0];
    assert_eq!(action["action_id"], "approve");
    assert_eq!(action["block_id"], "decide");
    assert_eq!(action["value"], "v2");
    assert_eq!(action["type"], "button");
    let response_url = payload["response_url"].as_str().unwrap().to_owned();
    assert!(response_url.starts_with(&server.url("/actions/")));

    // replace_original edits the message with the button.
    let (status, _) = respond(
        &server,
        &response_url,
        json!({ "replace_original": true, "text": "Approved by bob" }),
    )
    .await;
    assert_eq!(status, 200);
    let messages = server.channel_messages("approvals").await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["ts"], ts.as_str());
    assert_eq!(messages[0]["text"], "Approved by bob");
    assert!(messages[0]["blocks"].is_null());

    // delete_original removes it.
    let (status, _) = respond(&server, &response_url, json!({ "delete_original": true })).await;
    assert_eq!(status, 200);
    assert!(server.channel_messages("approvals").await.is_empty());

    // Errors: no such message, no such button, a person's message, no interactivity URL.
    let (status, body) = click("approve").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("message_not_found"))
    );
    let said = server.say("approvals", "bob", "plain words").await;
    let path = format!(
        "/api/v1/channels/approvals/messages/{}/actions",
        said["ts"].as_str().unwrap()
    );
    let (status, body) = server
        .call(
            Method::POST,
            &path,
            Some(&json!({ "user": "bob", "actionId": "approve" })),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("action_not_found"))
    );
    server
        .call_ok(
            Method::PATCH,
            &format!("/api/v1/slack-apps/{}", app.id()),
            Some(&json!({ "interactivityUrl": null })),
        )
        .await;
    let again: Value = server
        .http()
        .post(server.url("/api/chat.postMessage"))
        .bearer_auth(app.token())
        .json(&json!({ "channel": channel_id, "text": "again", "blocks": blocks }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let path = format!(
        "/api/v1/channels/approvals/messages/{}/actions",
        again["ts"].as_str().unwrap()
    );
    let (status, body) = server
        .call(
            Method::POST,
            &path,
            Some(&json!({ "user": "bob", "actionId": "reject" })),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("no_interactivity_url"))
    );
}

#[tokio::test]
async fn chat_post_ephemeral_shows_a_message_to_one_person() {
    let server = TestServer::start_default().await;
    let channel = server.create_channel("private-word").await;
    let app = SlackApp::create(&server, "Whisper").await;
    let said = server.say("private-word", "gina", "hi").await;
    let _ = said;
    let gina = server
        .http()
        .get(server.url("/api/users.list"))
        .bearer_auth(app.token())
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "gina")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let call = |body: Value| {
        let server = &server;
        let token = app.token().to_owned();
        async move {
            server
                .http()
                .post(server.url("/api/chat.postEphemeral"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let ok = call(json!({ "channel": channel["id"], "user": gina, "text": "psst" })).await;
    assert_eq!(ok["ok"], true, "{ok}");
    assert!(ok["message_ts"].as_str().unwrap().contains('.'));
    let seen = ephemeral(&server, "private-word", "gina").await;
    assert_eq!(seen[0]["text"], "psst");
    assert!(ephemeral(&server, "private-word", "hank").await.is_empty());
    assert_eq!(server.channel_messages("private-word").await.len(), 1);

    let no_user =
        call(json!({ "channel": channel["id"], "user": "U0NOBODY00", "text": "x" })).await;
    assert_eq!(no_user["error"], "user_not_found");
    let no_text = call(json!({ "channel": channel["id"], "user": gina })).await;
    assert_eq!(no_text["error"], "no_text");
    let no_channel = call(json!({ "channel": "C0NOPE", "user": gina, "text": "x" })).await;
    assert_eq!(no_channel["error"], "channel_not_found");
}

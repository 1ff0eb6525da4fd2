//! The console's Slack platform pages over plain HTTP: creating an app (its bot token shown
//! once), its settings (a request URL that does not answer the challenge is refused beside the
//! form; one that does is saved and verified), its Events API log; a slash command typed in the
//! composer with its ephemeral answer; and a button clicked on a bot's message.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn slack_apps_are_created_configured_and_logged_in_the_console() {
    let server = TestServer::start_default().await;
    let console = Console::sign_in(&server).await;
    server.create_channel("console-events").await;

    let (status, page) = console
        .post_page("/slack-apps", &[("name", "Console Bot")])
        .await;
    assert_eq!(status, StatusCode::CREATED, "{page}");
    assert!(page.contains("xoxb-"), "the bot token is shown once");
    let listed = server.get("/api/v1/slack-apps").await;
    let app = &listed["data"][0];
    let id = app["id"].as_str().unwrap();
    assert!(page.contains(app["signingSecret"].as_str().unwrap()));
    let (_, again) = console.get(&format!("/slack-apps/{id}")).await;
    assert!(!again.contains("xoxb-"), "and never again");

    // A request URL that does not answer the challenge: refused beside the form, kept as typed.
    let (status, page) = console
        .post_page(
            &format!("/slack-apps/{id}"),
            &[
                ("request_url", "http://127.0.0.1:9/nobody"),
                ("event_types", "message.channels"),
                ("commands", ""),
                ("interactivity_url", ""),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("url_verification"), "{page}");
    assert!(page.contains("http://127.0.0.1:9/nobody"));
    assert!(server.get(&format!("/api/v1/slack-apps/{id}")).await["events"].is_null());

    // A malformed command line is refused too.
    let (status, page) = console
        .post_page(
            &format!("/slack-apps/{id}"),
            &[("request_url", ""), ("commands", "/lonely")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("/command URL description"), "{page}");

    // An app server that answers: saved, verified, and its events logged on the page.
    let receiver = SlackApp::serve(app.clone()).await;
    let response = console
        .post(
            &format!("/slack-apps/{id}"),
            &[
                ("request_url", &receiver.url("/events")),
                ("event_types", "message.channels, app_mention"),
                (
                    "commands",
                    &format!("/console-deploy {} Deploys things", receiver.url("/cmd")),
                ),
                ("interactivity_url", &receiver.url("/actions")),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let saved = server.get(&format!("/api/v1/slack-apps/{id}")).await;
    assert_eq!(saved["events"]["verified"], true, "{saved}");
    assert_eq!(saved["slashCommands"][0]["command"], "/console-deploy");
    assert_eq!(saved["slashCommands"][0]["description"], "Deploys things");
    server.say("console-events", "ivy", "logged?").await;
    eventually("the event in the app's log", || async {
        let (_, page) = console.get(&format!("/slack-apps/{id}")).await;
        if page.contains("HTTP 200") {
            Ok(())
        } else {
            Err("no attempt yet".into())
        }
    })
    .await;
    let (_, page) = console.get(&format!("/slack-apps/{id}")).await;
    assert!(page.contains("verified"));

    // Rotate shows a new token once; delete removes the app.
    let (status, page) = console
        .post_page(&format!("/slack-apps/{id}/rotate-token"), &[])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("xoxb-"));
    let response = console.post(&format!("/slack-apps/{id}/delete"), &[]).await;
    assert_eq!(Console::location(&response), "/slack-apps");
    let (status, _) = console.get(&format!("/slack-apps/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_composer_runs_slash_commands_and_buttons_are_clickable() {
    let server = TestServer::start_default().await;
    let console = Console::sign_in(&server).await;
    let channel = server.create_channel("console-cmds").await;
    let channel_id = channel["id"].as_str().unwrap();
    let app = SlackApp::create(&server, "Buttons").await;
    server
        .call_ok(
            reqwest::Method::PATCH,
            &format!("/api/v1/slack-apps/{}", app.id()),
            Some(&json!({
                "slashCommands": [{ "command": "/console-ship", "url": app.url("/cmd") }],
                "interactivityUrl": app.url("/actions"),
            })),
        )
        .await;

    // `/console-ship prod` typed in the composer: the app gets the command, the person sees
    // the answer as only they do.
    app.reply_with([AppReply::text(200, "Shipping prod for you")]);
    let response = console
        .post(
            &format!("/channels/{channel_id}/messages"),
            &[("user", "jo"), ("text", "/console-ship prod")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = Console::location(&response);
    assert!(location.contains("as=jo"), "{location}");
    let request = &app.wait_for(1).await[0];
    assert_eq!(request.json()["command"], "/console-ship");
    assert_eq!(request.json()["text"], "prod");
    let (_, page) = console.get(&format!("/channels/{channel_id}?as=jo")).await;
    assert!(page.contains("Only visible to"), "{page}");
    assert!(page.contains("Shipping prod for you"));
    let (_, others) = console.get(&format!("/channels/{channel_id}")).await;
    assert!(!others.contains("Shipping prod for you"));
    assert!(server.channel_messages("console-cmds").await.is_empty());

    // An unknown command is refused as Slack refuses it, and nothing is posted.
    let (status, page) = console
        .post_page(
            &format!("/channels/{channel_id}/messages"),
            &[("user", "jo"), ("text", "/nope now")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("/nope is not a valid command"), "{page}");
    assert!(server.channel_messages("console-cmds").await.is_empty());

    // A bot's message with a button: the page has a form for it, and posting it clicks.
    let posted: serde_json::Value = server
        .http()
        .post(server.url("/api/chat.postMessage"))
        .bearer_auth(app.token())
        .json(&json!({
            "channel": channel_id,
            "text": "Deploy?",
            "blocks": [{ "type": "actions", "elements": [
                { "type": "button", "action_id": "go", "text": { "type": "plain_text", "text": "Go ahead" } }
            ]}]
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ts = posted["ts"].as_str().unwrap();
    let (_, page) = console.get(&format!("/channels/{channel_id}")).await;
    let action = format!("/channels/{channel_id}/messages/{ts}/actions");
    assert!(page.contains(&action), "{page}");
    assert!(page.contains("Go ahead"));
    let response = console.post(&action, &[("action_id", "go")]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let clicks = app.wait_for(2).await;
    let payload = clicks[1].json();
    assert_eq!(payload["type"], "block_actions");
    assert_eq!(payload["actions"][0]["action_id"], "go");
    assert_eq!(payload["user"]["username"], "admin");

    // A button the message does not have: shown as a refusal, not a crash.
    let (status, page) = console.post_page(&action, &[("action_id", "gone")]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("no button"), "{page}");
}

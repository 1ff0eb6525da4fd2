//! Slack's Events API, black-box, with a real app server that checks every signature with its
//! own HMAC: the `url_verification` challenge before a request URL is saved, the
//! `event_callback` envelope and its events (`message` with its subtypes, `app_mention`,
//! reactions, `channel_created`, `member_joined_channel`, edits and deletions), and an app that
//! is down: retried as Slack retries (`X-Slack-Retry-Num`, `X-Slack-Retry-Reason`), then given
//! up, every attempt in the log.

use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};

/// A Web API call as the app's bot; the body (Slack answers 200).
async fn web_api(server: &TestServer, app: &SlackApp, method: &str, body: Value) -> Value {
    let response = server
        .http()
        .post(server.url(&format!("/api/{method}")))
        .bearer_auth(app.token())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["ok"], true, "{method}: {body}");
    body
}

#[tokio::test]
async fn a_request_url_is_saved_only_once_it_answers_the_challenge() {
    let server = TestServer::start_default().await;
    let app = SlackApp::create(&server, "Challenged").await;
    app.answer_challenges(false);
    let path = format!("/api/v1/slack-apps/{}", app.id());
    let body = json!({
        "events": { "requestUrl": app.url("/slack/events"), "eventTypes": ["message.channels"] }
    });
    let (status, answer) = server.call(Method::PATCH, &path, Some(&body)).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["code"], "url_verification_failed", "{answer}");
    assert!(
        server.get(&path).await["events"].is_null(),
        "nothing was saved"
    );

    // The challenge was Slack's: signed with the app's secret, its verification token inside.
    let challenge = &app.wait_for(1).await[0];
    assert!(challenge.signed, "{challenge:?}");
    let fields = challenge.json();
    assert_eq!(fields["type"], "url_verification");
    assert_eq!(fields["token"], app.app["verificationToken"]);
    assert!(fields["challenge"].as_str().unwrap().len() >= 32);

    // An unreachable URL is refused the same way.
    let (status, answer) = server
        .call(
            Method::PATCH,
            &path,
            Some(&json!({
                "events": { "requestUrl": "http://127.0.0.1:9/nobody", "eventTypes": ["message"] }
            })),
        )
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (400, Some("url_verification_failed"))
    );

    app.answer_challenges(true);
    let saved = app.subscribe(&server, &["message.channels"]).await;
    assert_eq!(saved["events"]["verified"], true, "{saved}");
    // Saving it again with the same URL sends no new challenge.
    let before = app.requests().len();
    server
        .call_ok(Method::PATCH, &path, Some(&json!({ "name": "Renamed" })))
        .await;
    assert_eq!(app.requests().len(), before);
}

#[tokio::test]
async fn messages_and_mentions_arrive_as_signed_event_callbacks() {
    let server = TestServer::start_default().await;
    let channel = server.create_channel("events").await;
    let channel_id = channel["id"].as_str().unwrap();
    let app = SlackApp::create(&server, "Event Bot").await;
    app.subscribe(&server, &["message.channels", "app_mention"])
        .await;
    let team = app.app["teamId"].as_str().unwrap();

    // A person's message.
    let said = server.say("events", "alice", "hello there").await;
    let request = app
        .wait_for_event("alice's message", |e| e["text"] == "hello there")
        .await;
    assert!(request.signed, "the signature must verify: {request:?}");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("x-slack-retry-num"), None);
    let envelope = request.json();
    assert_eq!(envelope["type"], "event_callback");
    assert_eq!(envelope["token"], app.app["verificationToken"]);
    assert_eq!(envelope["team_id"], team);
    assert_eq!(envelope["api_app_id"], app.id());
    assert!(envelope["event_id"].as_str().unwrap().starts_with("Ev"));
    assert!(envelope["event_time"].as_i64().unwrap() > 1_700_000_000);
    assert_eq!(
        envelope["authorizations"][0]["user_id"],
        app.bot_user_id(),
        "{envelope}"
    );
    assert_eq!(envelope["authorizations"][0]["is_bot"], true);
    let event = &envelope["event"];
    assert_eq!(event["type"], "message");
    assert_eq!(event["channel"], channel_id);
    assert_eq!(event["channel_type"], "channel");
    assert_eq!(event["ts"], said["ts"]);
    assert_eq!(event["event_ts"], said["ts"]);
    assert!(event["user"].as_str().unwrap().starts_with('U'));
    assert!(event.get("subtype").is_none(), "{event}");

    // A mention, written with the bot's handle as a person types it: both `message` and
    // `app_mention`, the text carrying Slack's `<@U…>`.
    server
        .say("events", "alice", "@event-bot what is the status?")
        .await;
    let mention = app
        .wait_for_event("the app_mention", |e| e["type"] == "app_mention")
        .await;
    let expected = format!("<@{}> what is the status?", app.bot_user_id());
    assert_eq!(mention.event()["text"], expected.as_str());
    assert_eq!(mention.event()["channel"], channel_id);
    app.wait_for_event("the mention's message event", |e| {
        e["type"] == "message" && e["text"] == expected.as_str()
    })
    .await;

    // A thread reply carries its thread.
    let parent = said["ts"].as_str().unwrap();
    server
        .post(
            "/api/v1/channels/events/messages",
            &json!({ "user": "bob", "text": "in the thread", "threadTs": parent }),
        )
        .await;
    let reply = app
        .wait_for_event("the thread reply", |e| e["text"] == "in the thread")
        .await;
    assert_eq!(reply.event()["thread_ts"], parent);

    // The bot's own message (Bolt drops it itself): bot_id, app_id and bot_profile.
    web_api(
        &server,
        &app,
        "chat.postMessage",
        json!({ "channel": channel_id, "text": "from the bot" }),
    )
    .await;
    let own = app
        .wait_for_event("the bot's own message", |e| e["text"] == "from the bot")
        .await
        .event();
    assert_eq!(own["user"], app.bot_user_id());
    assert_eq!(own["bot_id"], app.app["botId"]);
    assert_eq!(own["app_id"], app.id());
    assert_eq!(own["bot_profile"]["name"], "Event Bot");

    // An incoming webhook's message is a classic `bot_message`.
    let hook = server
        .create_incoming_hook(json!({ "channel": "events", "username": "ci" }))
        .await;
    server
        .post_hook_json(
            hook["url"].as_str().unwrap(),
            &json!({ "text": "build green" }),
        )
        .await
        .assert(200, "ok");
    let hooked = app
        .wait_for_event("the hook's message", |e| e["text"] == "build green")
        .await
        .event();
    assert_eq!(hooked["subtype"], "bot_message");
    assert_eq!(hooked["username"], "ci");
}

#[tokio::test]
async fn reactions_channels_joins_edits_and_deletions_are_events() {
    let server = TestServer::start_default().await;
    server.create_channel("general").await;
    let app = SlackApp::create(&server, "Watcher").await;
    app.subscribe(
        &server,
        &[
            "message.channels",
            "reaction_added",
            "reaction_removed",
            "channel_created",
            "member_joined_channel",
        ],
    )
    .await;

    // A channel made through the API, and one the bot makes: channel_created for both, the
    // bot's creator id and its joining for the second.
    server.create_channel("made-by-api").await;
    app.wait_for_event("channel_created (API)", |e| {
        e["type"] == "channel_created" && e["channel"]["name"] == "made-by-api"
    })
    .await;
    let created = web_api(
        &server,
        &app,
        "conversations.create",
        json!({ "name": "made-by-bot" }),
    )
    .await;
    let new_id = created["channel"]["id"].as_str().unwrap().to_owned();
    let event = app
        .wait_for_event("channel_created (bot)", |e| {
            e["type"] == "channel_created" && e["channel"]["name"] == "made-by-bot"
        })
        .await
        .event();
    assert_eq!(event["channel"]["id"], new_id.as_str());
    assert_eq!(event["channel"]["creator"], app.bot_user_id());
    let joined = app
        .wait_for_event("member_joined_channel", |e| {
            e["type"] == "member_joined_channel" && e["channel"] == new_id.as_str()
        })
        .await
        .event();
    assert_eq!(joined["user"], app.bot_user_id());

    // Reactions to a person's message.
    let said = server.say("general", "carol", "react to me").await;
    let ts = said["ts"].as_str().unwrap();
    let general = said["channelId"].as_str().unwrap();
    let reaction = json!({ "channel": general, "timestamp": ts, "name": "tada" });
    web_api(&server, &app, "reactions.add", reaction.clone()).await;
    let added = app
        .wait_for_event("reaction_added", |e| e["type"] == "reaction_added")
        .await
        .event();
    assert_eq!(added["reaction"], "tada");
    assert_eq!(added["user"], app.bot_user_id());
    assert_eq!(
        added["item"],
        json!({ "type": "message", "channel": general, "ts": ts })
    );
    assert!(added["item_user"].as_str().unwrap().starts_with('U'));
    web_api(&server, &app, "reactions.remove", reaction).await;
    app.wait_for_event("reaction_removed", |e| e["type"] == "reaction_removed")
        .await;

    // The bot edits, then deletes, its message.
    let posted = web_api(
        &server,
        &app,
        "chat.postMessage",
        json!({ "channel": general, "text": "first draft" }),
    )
    .await;
    let bot_ts = posted["ts"].as_str().unwrap();
    web_api(
        &server,
        &app,
        "chat.update",
        json!({ "channel": general, "ts": bot_ts, "text": "second draft" }),
    )
    .await;
    let changed = app
        .wait_for_event("message_changed", |e| e["subtype"] == "message_changed")
        .await
        .event();
    assert_eq!(changed["message"]["text"], "second draft");
    assert_eq!(changed["message"]["ts"], bot_ts);
    assert_eq!(changed["previous_message"]["text"], "first draft");
    web_api(
        &server,
        &app,
        "chat.delete",
        json!({ "channel": general, "ts": bot_ts }),
    )
    .await;
    let deleted = app
        .wait_for_event("message_deleted", |e| e["subtype"] == "message_deleted")
        .await
        .event();
    assert_eq!(deleted["deleted_ts"], bot_ts);
    assert_eq!(deleted["channel"], general);
}

#[tokio::test]
async fn only_subscribed_events_are_sent() {
    let server = TestServer::start_default().await;
    server.create_channel("quiet").await;
    let app = SlackApp::create(&server, "Mentions Only").await;
    app.subscribe(&server, &["app_mention"]).await;
    let challenges = app.requests().len();
    server.say("quiet", "dave", "no mention here").await;
    server
        .say("quiet", "dave", &format!("<@{}> ping", app.bot_user_id()))
        .await;
    let mention = app
        .wait_for_event("the mention", |e| e["type"] == "app_mention")
        .await;
    assert_eq!(mention.event()["user"].as_str().unwrap().len(), 11);
    settle().await;
    let kinds: Vec<Value> = app.requests()[challenges..]
        .iter()
        .map(|r| r.event()["type"].clone())
        .collect();
    assert_eq!(kinds, vec![json!("app_mention")], "only the mention");
}

#[tokio::test]
async fn an_app_that_is_down_is_retried_as_slack_retries_then_given_up() {
    let server = TestServer::start(
        ServerOptions::default().env("KANCA_SLACK_EVENTS_RETRY_SCHEDULE", "100ms,150ms,200ms"),
    )
    .await;
    server.create_channel("ops").await;
    let app = SlackApp::create(&server, "Flaky").await;
    app.subscribe(&server, &["message.channels"]).await;
    let challenges = app.requests().len();
    app.set_default(AppReply::text(500, "boom"));
    server.say("ops", "erin", "are you there?").await;

    // The first try and Slack's three retries, numbered, each saying why.
    let requests = app.wait_for(challenges + 4).await;
    let tries = &requests[challenges..challenges + 4];
    let event_ids: Vec<Value> = tries.iter().map(|r| r.json()["event_id"].clone()).collect();
    assert!(
        event_ids.iter().all(|id| *id == event_ids[0]),
        "one event, retried: {event_ids:?}"
    );
    assert_eq!(tries[0].header("x-slack-retry-num"), None);
    for (n, request) in tries[1..].iter().enumerate() {
        assert!(request.signed);
        assert_eq!(
            request.header("x-slack-retry-num"),
            Some((n + 1).to_string().as_str())
        );
        assert_eq!(request.header("x-slack-retry-reason"), Some("http_error"));
    }
    settle().await;
    assert_eq!(
        app.requests().len(),
        challenges + 4,
        "given up after three retries"
    );

    // Every attempt is in the app's log, newest first.
    let log = server
        .get(&format!("/api/v1/slack-apps/{}/event-attempts", app.id()))
        .await;
    let attempts = log["data"].as_array().unwrap();
    assert_eq!(attempts.len(), 4, "{log}");
    assert!(attempts.iter().all(|a| a["responseStatusCode"] == 500));
    assert_eq!(attempts[0]["response"], "boom");

    // An app that answers `X-Slack-No-Retry: 1` is not retried.
    app.set_default(AppReply::text(503, "busy").header("x-slack-no-retry", "1"));
    let before = app.requests().len();
    server.say("ops", "erin", "no retries please").await;
    app.wait_for(before + 1).await;
    settle().await;
    assert_eq!(app.requests().len(), before + 1, "one try only");

    // Unknown ids and bad limits are clear errors.
    let (status, _) = server
        .call(
            Method::GET,
            "/api/v1/slack-apps/A0NOPE/event-attempts",
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = server
        .call(
            Method::GET,
            &format!("/api/v1/slack-apps/{}/event-attempts?limit=0", app.id()),
            None,
        )
        .await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn a_deleted_app_hears_nothing_more() {
    let server = TestServer::start_default().await;
    server.create_channel("gone").await;
    let app = SlackApp::create(&server, "Short Lived").await;
    app.subscribe(&server, &["message.channels"]).await;
    server.say("gone", "fay", "before").await;
    app.wait_for_event("before", |e| e["text"] == "before")
        .await;
    let seen = app.requests().len();
    server
        .call_ok(
            Method::DELETE,
            &format!("/api/v1/slack-apps/{}", app.id()),
            None,
        )
        .await;
    server.say("gone", "fay", "after").await;
    settle().await;
    assert_eq!(app.requests().len(), seen);
}

//! Slack apps (`/api/v1/slack-apps`) and Slack's Web API (`/api/{method}`), black-box: every
//! method and the errors Slack names, form and JSON bodies, the token as a bearer or a `token`
//! argument, cursor paging, the rate limit, and a bot's messages being the channel's messages.

use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};

/// A Slack app made through the management API, and calls to the Web API with its token.
struct SlackBot<'a> {
    server: &'a TestServer,
    app: Value,
    token: String,
}

impl<'a> SlackBot<'a> {
    async fn create(server: &'a TestServer, name: &str) -> Self {
        let app = server
            .post("/api/v1/slack-apps", &json!({ "name": name }))
            .await;
        let token = app["botToken"].as_str().expect("a bot token").to_owned();
        Self { server, app, token }
    }

    /// A form POST with the token as a bearer: status, `Retry-After`, body.
    async fn form_raw(
        &self,
        method: &str,
        fields: &[(&str, &str)],
    ) -> (u16, Option<String>, Value) {
        let response = self
            .server
            .http()
            .post(self.server.url(&format!("/api/{method}")))
            .bearer_auth(&self.token)
            .form(fields)
            .send()
            .await
            .expect("an answer");
        let status = response.status().as_u16();
        let retry = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let ct = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(ct.starts_with("application/json"), "{ct}");
        (status, retry, response.json().await.expect("JSON"))
    }

    /// A form POST that Slack answers 200; the body.
    async fn form(&self, method: &str, fields: &[(&str, &str)]) -> Value {
        let (status, _, body) = self.form_raw(method, fields).await;
        assert_eq!(status, 200, "{method}: {body}");
        body
    }

    /// A JSON POST with the token as a bearer; the body (Slack answers 200).
    async fn json(&self, method: &str, body: Value) -> Value {
        let response = self
            .server
            .http()
            .post(self.server.url(&format!("/api/{method}")))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status().as_u16(), 200);
        response.json().await.expect("JSON")
    }

    /// A GET with the arguments in the query string and the token as a bearer.
    async fn get(&self, method: &str, query: &[(&str, &str)]) -> Value {
        let response = self
            .server
            .http()
            .get(self.server.url(&format!("/api/{method}")))
            .bearer_auth(&self.token)
            .query(query)
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status().as_u16(), 200);
        response.json().await.expect("JSON")
    }

    /// A call that must succeed (`ok: true`).
    async fn ok(&self, method: &str, fields: &[(&str, &str)]) -> Value {
        let body = self.form(method, fields).await;
        assert_eq!(body["ok"], true, "{method} {fields:?}: {body}");
        body
    }

    /// A call that must fail with Slack's `error`.
    async fn fails(&self, method: &str, fields: &[(&str, &str)], error: &str) {
        let body = self.form(method, fields).await;
        assert_eq!(
            (body["ok"].clone(), body["error"].clone()),
            (json!(false), json!(error)),
            "{method} {fields:?}: {body}"
        );
    }

    fn user_id(&self) -> &str {
        self.app["botUserId"].as_str().unwrap()
    }
}

/// POSTs a form to a Web API method with no bearer token; the body.
async fn anonymous(server: &TestServer, method: &str, fields: &[(&str, &str)]) -> Value {
    let response = server
        .http()
        .post(server.url(&format!("/api/{method}")))
        .form(fields)
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.expect("JSON")
}

fn ts_of(v: &Value) -> String {
    v["ts"].as_str().expect("a ts").to_owned()
}

/// Every page of a cursor-paged list, following `response_metadata.next_cursor`.
async fn all_pages(
    bot: &SlackBot<'_>,
    method: &str,
    args: &[(&str, &str)],
    key: &str,
) -> Vec<Vec<Value>> {
    let mut pages = Vec::new();
    let mut cursor = String::new();
    loop {
        let mut fields: Vec<(&str, &str)> = args.to_vec();
        if !cursor.is_empty() {
            fields.push(("cursor", &cursor));
        }
        let page = bot.ok(method, &fields).await;
        pages.push(page[key].as_array().unwrap().clone());
        cursor = page["response_metadata"]["next_cursor"]
            .as_str()
            .unwrap()
            .to_owned();
        if cursor.is_empty() {
            return pages;
        }
        assert!(pages.len() < 50, "paging does not end");
    }
}

#[tokio::test]
async fn slack_apps_are_managed_with_the_admin_token() {
    let server = TestServer::start_default().await;
    // An event subscription is saved only once its URL answers the challenge, which this one
    // cannot: nothing is created (tests/it/slack_events.rs has the rest).
    let unverifiable = json!({
        "name": "Deploy Bot",
        "events": { "requestUrl": "https://bot.example.com/slack/events",
                    "eventTypes": ["message.channels", "app_mention"] },
    });
    let (status, refused) = server
        .call(Method::POST, "/api/v1/slack-apps", Some(&unverifiable))
        .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (400, Some("url_verification_failed")),
        "{refused}"
    );
    assert!(server.get("/api/v1/slack-apps").await["data"]
        .as_array()
        .unwrap()
        .is_empty());
    let body = json!({
        "name": "Deploy Bot",
        "slashCommands": [{ "command": "/deploy", "url": "https://bot.example.com/slack/commands",
                            "description": "Deploys", "usageHint": "[env]" }],
        "interactivityUrl": "https://bot.example.com/slack/actions",
    });
    let (status, created) = server
        .call(Method::POST, "/api/v1/slack-apps", Some(&body))
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with('A'), "{created}");
    assert!(created["botId"].as_str().unwrap().starts_with('B'));
    assert!(created["botUserId"].as_str().unwrap().starts_with('U'));
    assert!(created["teamId"].as_str().unwrap().starts_with('T'));
    let token = created["botToken"].as_str().unwrap().to_owned();
    assert!(token.starts_with("xoxb-"), "{token}");
    let secret = created["signingSecret"].as_str().unwrap();
    assert_eq!(secret.len(), 32);
    assert_eq!(created["events"], Value::Null);
    assert_eq!(
        created["verificationToken"].as_str().unwrap().len(),
        24,
        "{created}"
    );
    assert_eq!(created["slashCommands"][0]["command"], "/deploy");
    assert_eq!(created["slashCommands"][0]["usageHint"], "[env]");
    assert_eq!(
        created["interactivityUrl"],
        "https://bot.example.com/slack/actions"
    );

    // The token is shown once; the signing secret on every read.
    let fetched = server.get(&format!("/api/v1/slack-apps/{id}")).await;
    assert!(fetched.get("botToken").is_none(), "{fetched}");
    assert_eq!(fetched["signingSecret"], secret);
    let listed = server.get("/api/v1/slack-apps").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert!(listed["data"][0].get("botToken").is_none());

    // PATCH changes what it names; `null` clears.
    let patched = server
        .call_ok(
            Method::PATCH,
            &format!("/api/v1/slack-apps/{id}"),
            Some(&json!({ "name": "Release Bot", "events": null, "slashCommands": [] })),
        )
        .await;
    assert_eq!(patched["name"], "Release Bot");
    assert_eq!(patched["events"], Value::Null);
    assert_eq!(patched["slashCommands"], json!([]));
    assert_eq!(
        patched["interactivityUrl"],
        "https://bot.example.com/slack/actions"
    );

    // Bad input is a clear 422, and nothing changes.
    for bad in [
        json!({ "name": "" }),
        json!({ "slashCommands": [{ "command": "deploy", "url": "https://x.example.com" }] }),
        json!({ "interactivityUrl": "ftp://x.example.com" }),
        json!({ "events": { "requestUrl": "https://x.example.com", "eventTypes": ["Bad Type"] } }),
        json!({ "unknownField": 1 }),
    ] {
        let (status, answer) = server
            .call(
                Method::PATCH,
                &format!("/api/v1/slack-apps/{id}"),
                Some(&bad),
            )
            .await;
        assert!(matches!(status, 400 | 422), "{bad} → {status} {answer}");
    }
    let (status, _) = server
        .call(Method::POST, "/api/v1/slack-apps", Some(&json!({})))
        .await;
    assert_eq!(status, 422);

    // Rotating: the new token works, the old one no longer does.
    let rotated = server
        .post(&format!("/api/v1/slack-apps/{id}/rotate-token"), &json!({}))
        .await;
    let new_token = rotated["botToken"].as_str().unwrap().to_owned();
    assert_ne!(new_token, token);
    let mut bot = SlackBot {
        server: &server,
        app: rotated.clone(),
        token: token.clone(),
    };
    bot.fails("auth.test", &[], "invalid_auth").await;
    bot.token = new_token;
    assert_eq!(
        bot.ok("auth.test", &[]).await["user_id"],
        rotated["botUserId"]
    );

    // Management needs the admin token.
    let anonymous = server
        .http()
        .get(server.url("/api/v1/slack-apps"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);

    // Deleting: the token stops working, the app is gone, its bot user is marked deleted.
    let (status, _) = server
        .call(Method::DELETE, &format!("/api/v1/slack-apps/{id}"), None)
        .await;
    assert_eq!(status, 204);
    bot.fails("auth.test", &[], "invalid_auth").await;
    let (status, _) = server
        .call(Method::GET, &format!("/api/v1/slack-apps/{id}"), None)
        .await;
    assert_eq!(status, 404);
    let other = SlackBot::create(&server, "Other").await;
    let user = other
        .ok(
            "users.info",
            &[("user", rotated["botUserId"].as_str().unwrap())],
        )
        .await;
    assert_eq!(user["user"]["deleted"], true);
}

#[tokio::test]
async fn tokens_are_read_as_slack_reads_them() {
    let server = TestServer::start_default().await;
    let bot = SlackBot::create(&server, "Auth Bot").await;

    // Method first, then the token.
    let unknown = anonymous(&server, "chat.fly", &[]).await;
    assert_eq!(unknown["ok"], false);
    assert_eq!(unknown["error"], "unknown_method");
    assert_eq!(
        anonymous(&server, "auth.test", &[]).await["error"],
        "not_authed"
    );
    for wrong in ["xoxb-1-2-nope", "not-a-token", server.token()] {
        let answer = anonymous(&server, "auth.test", &[("token", wrong)]).await;
        assert_eq!(answer["error"], "invalid_auth", "{wrong}");
    }
    // Wrong tokens are security incidents (the token itself is not recorded).
    let incidents = server.incidents().await;
    let guesses: Vec<&Value> = incidents
        .iter()
        .filter(|i| i["reason"] == "unknown bot token (Slack Web API)")
        .collect();
    assert!(!guesses.is_empty(), "{incidents:?}");
    assert_eq!(guesses[0]["path"], "/api/auth.test");
    assert!(!format!("{incidents:?}").contains("xoxb-1-2-nope"));

    // A bearer, a `token` form field, or a `token` in a JSON body.
    let tested = bot.ok("auth.test", &[]).await;
    assert_eq!(tested["user_id"], bot.app["botUserId"]);
    assert_eq!(tested["bot_id"], bot.app["botId"]);
    assert_eq!(tested["team_id"], bot.app["teamId"]);
    assert_eq!(tested["user"], "auth-bot");
    assert_eq!(tested["url"], format!("{}/", server.base_url()));
    let by_field = anonymous(&server, "auth.test", &[("token", &bot.token)]).await;
    assert_eq!(by_field["ok"], true, "{by_field}");
    let by_json: Value = server
        .http()
        .post(server.url("/api/auth.test"))
        .json(&json!({ "token": bot.token }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_json["ok"], true, "{by_json}");
    // GET works too, with the token in the query string.
    let by_query: Value = server
        .http()
        .get(server.url("/api/auth.test"))
        .query(&[("token", &bot.token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_query["ok"], true, "{by_query}");

    // Bodies that cannot be read.
    let broken: Value = server
        .http()
        .post(server.url("/api/auth.test"))
        .bearer_auth(&bot.token)
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(broken["error"], "invalid_json");

    // `/api/v1` is still the management API.
    assert_eq!(
        server.get("/api/v1/slack-apps").await["data"][0]["id"],
        bot.app["id"]
    );
}

#[tokio::test]
async fn a_bots_message_is_a_message_of_the_channel() {
    let server = TestServer::start_default().await;
    let channel = server.create_channel("deploys").await;
    let channel_id = channel["id"].as_str().unwrap().to_owned();
    // An outgoing webhook on every message of the channel: bots must not fire it.
    let hook_bot = Bot::start().await;
    server
        .post(
            "/api/v1/outgoing-webhooks",
            &json!({ "name": "all", "channel": "deploys", "callbackUrls": [hook_bot.url()] }),
        )
        .await;
    // And an endpoint of the workspace's events: a bot's post is `message.posted` too.
    let events = Receiver::start().await;
    let workspace_app = server.get("/api/v1/app/workspace").await;
    server
        .create_endpoint(
            workspace_app["id"].as_str().unwrap(),
            json!({ "url": events.url(), "filterTypes": ["message.posted"] }),
        )
        .await;
    let bot = SlackBot::create(&server, "Deploy Bot").await;

    // A form body, the channel by id.
    let posted = bot
        .ok(
            "chat.postMessage",
            &[("channel", &channel_id), ("text", "deploying *v2*")],
        )
        .await;
    assert_eq!(posted["channel"], channel_id);
    let ts = ts_of(&posted);
    assert_eq!(posted["message"]["ts"], ts);
    assert_eq!(posted["message"]["text"], "deploying *v2*");
    assert_eq!(posted["message"]["user"], bot.user_id());
    assert_eq!(posted["message"]["bot_id"], bot.app["botId"]);
    assert_eq!(posted["message"]["app_id"], bot.app["id"]);
    assert_eq!(posted["message"]["type"], "message");

    // A JSON body with blocks, the channel by name; a form body with blocks as JSON text and
    // the channel as `#name`; a thread reply.
    let blocks = json!([{ "type": "section", "text": { "type": "mrkdwn", "text": "*done*" } }]);
    let by_json = bot
        .json(
            "chat.postMessage",
            json!({ "channel": "deploys", "text": "done", "blocks": blocks }),
        )
        .await;
    assert_eq!(by_json["ok"], true, "{by_json}");
    assert_eq!(by_json["message"]["blocks"], blocks);
    let by_form = bot
        .ok(
            "chat.postMessage",
            &[
                ("channel", "#deploys"),
                ("blocks", &blocks.to_string()),
                ("thread_ts", &ts),
            ],
        )
        .await;
    assert_eq!(by_form["message"]["blocks"], blocks);
    assert_eq!(by_form["message"]["thread_ts"], ts);

    // The same messages in Kanca's own API, posted by a bot named after the app.
    let messages = server.channel_messages(&channel_id).await;
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert_eq!(messages[0]["ts"], ts);
    assert_eq!(
        messages[0]["postedBy"],
        json!({ "kind": "bot", "name": "Deploy Bot" })
    );
    assert_eq!(messages[2]["threadTs"], ts);

    // Each of the three was published as `message.posted`, posted by a bot.
    let published: Vec<Value> = events
        .wait_for(3, WAIT)
        .await
        .iter()
        .map(|d| d.json())
        .collect();
    let first = published
        .iter()
        .find(|e| e["data"]["message"]["ts"] == ts)
        .unwrap_or_else(|| panic!("no message.posted for {ts}: {published:#?}"));
    assert_eq!(first["data"]["message"]["postedBy"]["kind"], "bot");
    assert_eq!(first["data"]["message"]["text"], "deploying *v2*");

    // A person's message fires the hook; the bot's three never did.
    server.say("deploys", "ada", "hello").await;
    let requests = hook_bot.wait_for(1).await;
    settle().await;
    let requests_now = hook_bot.requests();
    assert_eq!(requests_now.len(), 1, "{requests:?}");

    // Slack's refusals.
    bot.fails("chat.postMessage", &[("text", "hi")], "channel_not_found")
        .await;
    bot.fails(
        "chat.postMessage",
        &[("channel", "C0NOSUCH00"), ("text", "hi")],
        "channel_not_found",
    )
    .await;
    bot.fails("chat.postMessage", &[("channel", &channel_id)], "no_text")
        .await;
    bot.fails(
        "chat.postMessage",
        &[("channel", &channel_id), ("text", "  ")],
        "no_text",
    )
    .await;
    let long = "x".repeat(40_001);
    bot.fails(
        "chat.postMessage",
        &[("channel", &channel_id), ("text", &long)],
        "msg_too_long",
    )
    .await;
    let at_limit = "x".repeat(40_000);
    bot.ok(
        "chat.postMessage",
        &[("channel", &channel_id), ("text", &at_limit)],
    )
    .await;
    bot.fails(
        "chat.postMessage",
        &[("channel", &channel_id), ("blocks", "[1, 2]")],
        "invalid_blocks",
    )
    .await;
    server
        .post("/api/v1/channels/deploys/archive", &json!({}))
        .await;
    bot.fails(
        "chat.postMessage",
        &[("channel", &channel_id), ("text", "hi")],
        "is_archived",
    )
    .await;
}

#[tokio::test]
async fn a_bot_edits_and_deletes_only_its_own_messages() {
    let server = TestServer::start_default().await;
    let channel = server.create_channel("ops").await;
    let channel_id = channel["id"].as_str().unwrap().to_owned();
    let bot = SlackBot::create(&server, "Ops Bot").await;
    let ts = ts_of(
        &bot.ok(
            "chat.postMessage",
            &[("channel", "ops"), ("text", "deploying")],
        )
        .await,
    );

    let updated = bot
        .json(
            "chat.update",
            json!({ "channel": channel_id, "ts": ts, "text": "deployed",
                    "blocks": [{ "type": "divider" }] }),
        )
        .await;
    assert_eq!(updated["ok"], true, "{updated}");
    assert_eq!(updated["ts"], ts);
    assert_eq!(updated["text"], "deployed");
    assert_eq!(updated["message"]["edited"]["user"], bot.user_id());
    let messages = server.channel_messages(&channel_id).await;
    assert_eq!(messages[0]["text"], "deployed");
    assert_eq!(messages[0]["blocks"], json!([{ "type": "divider" }]));
    let history = bot
        .ok("conversations.history", &[("channel", &channel_id)])
        .await;
    assert_eq!(history["messages"][0]["text"], "deployed");

    // Refusals: someone else's message, a missing one, no content.
    let person_ts = ts_of(&server.say("ops", "ada", "mine").await);
    let edit = |ts: &str| {
        [
            ("channel", channel_id.clone()),
            ("ts", ts.to_owned()),
            ("text", "x".to_owned()),
        ]
    };
    let fields = edit(&person_ts);
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    bot.fails("chat.update", &fields, "cant_update_message")
        .await;
    bot.fails(
        "chat.delete",
        &[("channel", &channel_id), ("ts", &person_ts)],
        "cant_delete_message",
    )
    .await;
    bot.fails(
        "chat.update",
        &[("channel", &channel_id), ("ts", "1.000001"), ("text", "x")],
        "message_not_found",
    )
    .await;
    bot.fails(
        "chat.update",
        &[("channel", &channel_id), ("ts", &ts)],
        "no_text",
    )
    .await;
    bot.fails(
        "chat.delete",
        &[("channel", "nowhere"), ("ts", &ts)],
        "channel_not_found",
    )
    .await;

    let deleted = bot
        .ok("chat.delete", &[("channel", &channel_id), ("ts", &ts)])
        .await;
    assert_eq!(deleted["ts"], ts);
    assert_eq!(deleted["channel"], channel_id);
    let messages = server.channel_messages(&channel_id).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["ts"], person_ts);
    bot.fails(
        "chat.delete",
        &[("channel", &channel_id), ("ts", &ts)],
        "message_not_found",
    )
    .await;
}

#[tokio::test]
async fn conversations_are_listed_paged_created_and_joined() {
    let server = TestServer::start_default().await;
    let bot = SlackBot::create(&server, "Lister").await;
    for name in ["alpha", "bravo", "charlie"] {
        server.create_channel(name).await;
    }
    let created = bot.ok("conversations.create", &[("name", "delta")]).await;
    assert_eq!(created["channel"]["name"], "delta");
    assert_eq!(created["channel"]["is_channel"], true);
    assert!(created["channel"]["id"].as_str().unwrap().starts_with('C'));
    bot.fails("conversations.create", &[("name", "delta")], "name_taken")
        .await;
    for bad in ["has space", "UPPER", "#hash", ""] {
        bot.fails("conversations.create", &[("name", bad)], "invalid_name")
            .await;
    }
    server
        .post("/api/v1/channels/bravo/archive", &json!({}))
        .await;

    // Two per page, in name order, every channel once.
    let pages = all_pages(&bot, "conversations.list", &[("limit", "2")], "channels").await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 2]);
    let names: Vec<&str> = pages
        .iter()
        .flatten()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha", "bravo", "charlie", "delta"]);
    let active = bot
        .ok("conversations.list", &[("exclude_archived", "true")])
        .await;
    let names: Vec<&str> = active["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha", "charlie", "delta"]);
    assert_eq!(active["response_metadata"]["next_cursor"], "");
    bot.fails(
        "conversations.list",
        &[("cursor", "bm9wZQ==")],
        "invalid_cursor",
    )
    .await;

    // Info by id or name; join.
    let info = bot.ok("conversations.info", &[("channel", "bravo")]).await;
    assert_eq!(info["channel"]["is_archived"], true);
    let id = info["channel"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        bot.ok("conversations.info", &[("channel", &id)]).await["channel"]["name"],
        "bravo"
    );
    bot.fails(
        "conversations.info",
        &[("channel", "nope")],
        "channel_not_found",
    )
    .await;
    bot.fails("conversations.join", &[("channel", "bravo")], "is_archived")
        .await;
    let joined = bot.ok("conversations.join", &[("channel", "alpha")]).await;
    assert_eq!(joined["channel"]["is_member"], true);
    bot.fails(
        "conversations.join",
        &[("channel", "zulu")],
        "channel_not_found",
    )
    .await;
}

#[tokio::test]
async fn history_and_replies_page_with_cursors_and_bounds() {
    let server = TestServer::start_default().await;
    let bot = SlackBot::create(&server, "Historian").await;
    let channel = server.create_channel("log").await;
    let channel_id = channel["id"].as_str().unwrap().to_owned();
    let mut tss = Vec::new();
    for i in 0..5 {
        let posted = bot
            .ok(
                "chat.postMessage",
                &[("channel", "log"), ("text", &format!("m{i}"))],
            )
            .await;
        tss.push(ts_of(&posted));
    }
    let mut replies = Vec::new();
    for i in 0..2 {
        let posted = bot
            .ok(
                "chat.postMessage",
                &[
                    ("channel", "log"),
                    ("text", &format!("r{i}")),
                    ("thread_ts", &tss[0]),
                ],
            )
            .await;
        replies.push(ts_of(&posted));
    }

    // Newest first, two at a time, replies left out.
    let pages = all_pages(
        &bot,
        "conversations.history",
        &[("channel", &channel_id), ("limit", "2")],
        "messages",
    )
    .await;
    let texts: Vec<&str> = pages
        .iter()
        .flatten()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["m4", "m3", "m2", "m1", "m0"]);
    let first = bot
        .ok(
            "conversations.history",
            &[("channel", &channel_id), ("limit", "2")],
        )
        .await;
    assert_eq!(first["has_more"], true);
    let last = pages.last().unwrap();
    assert_eq!(last.len(), 1);

    // Bounds: exclusive by default, inclusive when asked; GET with a query string works.
    let window = bot
        .get(
            "conversations.history",
            &[
                ("channel", &channel_id),
                ("latest", &tss[3]),
                ("oldest", &tss[1]),
            ],
        )
        .await;
    let texts: Vec<&str> = window["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["m2"], "{window}");
    assert_eq!(window["has_more"], false);
    let window = bot
        .ok(
            "conversations.history",
            &[
                ("channel", &channel_id),
                ("latest", &tss[3]),
                ("oldest", &tss[1]),
                ("inclusive", "true"),
            ],
        )
        .await;
    let texts: Vec<&str> = window["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["m3", "m2", "m1"]);
    bot.fails(
        "conversations.history",
        &[("channel", &channel_id), ("latest", "soon")],
        "invalid_ts_latest",
    )
    .await;
    bot.fails(
        "conversations.history",
        &[("channel", "nope")],
        "channel_not_found",
    )
    .await;

    // A thread: the parent, then its replies, oldest first, one per page.
    let pages = all_pages(
        &bot,
        "conversations.replies",
        &[("channel", &channel_id), ("ts", &tss[0]), ("limit", "1")],
        "messages",
    )
    .await;
    let texts: Vec<&str> = pages
        .iter()
        .flatten()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["m0", "r0", "r1"]);
    assert_eq!(pages[1][0]["thread_ts"], tss[0]);
    let thread = bot
        .json(
            "conversations.replies",
            json!({ "channel": channel_id, "ts": tss[0] }),
        )
        .await;
    assert_eq!(thread["messages"].as_array().unwrap().len(), 3, "{thread}");
    assert_eq!(thread["has_more"], false);
    bot.fails(
        "conversations.replies",
        &[("channel", &channel_id), ("ts", "12.000001")],
        "thread_not_found",
    )
    .await;
}

#[tokio::test]
async fn users_are_bots_and_the_people_who_post() {
    let server = TestServer::start_default().await;
    let bot = SlackBot::create(&server, "Greeter").await;
    server.create_channel("hall").await;
    server.say("hall", "ada", "hello").await;
    server.say("hall", "grace", "hi").await;

    let me = bot.ok("users.info", &[("user", bot.user_id())]).await;
    assert_eq!(me["user"]["is_bot"], true);
    assert_eq!(me["user"]["name"], "greeter");
    assert_eq!(me["user"]["real_name"], "Greeter");
    assert_eq!(me["user"]["profile"]["bot_id"], bot.app["botId"]);

    // A person's id is in their messages and known to users.info.
    let history = bot
        .ok("conversations.history", &[("channel", "hall")])
        .await;
    let ada = history["messages"][1]["user"].as_str().unwrap().to_owned();
    assert!(ada.starts_with('U'), "{history}");
    let user = bot.ok("users.info", &[("user", &ada)]).await;
    assert_eq!(user["user"]["name"], "ada");
    assert_eq!(user["user"]["is_bot"], false);

    let pages = all_pages(&bot, "users.list", &[("limit", "1")], "members").await;
    assert_eq!(pages.len(), 3, "{pages:?}");
    let mut names: Vec<&str> = pages
        .iter()
        .flatten()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["ada", "grace", "greeter"]);

    bot.fails("users.info", &[("user", "U0NOBODY00")], "user_not_found")
        .await;
    bot.fails("users.info", &[], "user_not_found").await;
}

#[tokio::test]
async fn reactions_are_added_once_and_removed_once() {
    let server = TestServer::start_default().await;
    let bot = SlackBot::create(&server, "Reactor").await;
    server.create_channel("fun").await;
    let ts = ts_of(&server.say("fun", "ada", "ship it").await);
    let target = [
        ("channel", "fun"),
        ("timestamp", ts.as_str()),
        ("name", "thumbsup"),
    ];

    bot.ok("reactions.add", &target).await;
    let history = bot.ok("conversations.history", &[("channel", "fun")]).await;
    assert_eq!(
        history["messages"][0]["reactions"],
        json!([{ "name": "thumbsup", "users": [bot.user_id()], "count": 1 }])
    );
    bot.fails("reactions.add", &target, "already_reacted").await;
    bot.ok("reactions.remove", &target).await;
    bot.fails("reactions.remove", &target, "no_reaction").await;
    let history = bot.ok("conversations.history", &[("channel", "fun")]).await;
    assert!(
        history["messages"][0].get("reactions").is_none(),
        "{history}"
    );

    bot.fails(
        "reactions.add",
        &[
            ("channel", "fun"),
            ("timestamp", "1.000001"),
            ("name", "tada"),
        ],
        "message_not_found",
    )
    .await;
    bot.fails(
        "reactions.add",
        &[
            ("channel", "fun"),
            ("timestamp", &ts),
            ("name", "not an emoji"),
        ],
        "invalid_name",
    )
    .await;
    bot.fails(
        "reactions.add",
        &[("channel", "gone"), ("timestamp", &ts), ("name", "tada")],
        "channel_not_found",
    )
    .await;
}

#[tokio::test]
async fn calls_past_an_apps_rate_are_answered_ratelimited_with_retry_after() {
    let server = TestServer::start(
        ServerOptions::default()
            .env("KANCA_SLACK_API_RATE_LIMIT", "1")
            .env("KANCA_SLACK_API_RATE_BURST", "2"),
    )
    .await;
    let bot = SlackBot::create(&server, "Chatty").await;
    let mut limited = None;
    for _ in 0..10 {
        let (status, retry, body) = bot.form_raw("auth.test", &[]).await;
        if status == 429 {
            limited = Some((retry, body));
            break;
        }
        assert_eq!(body["ok"], true);
    }
    let (retry, body) = limited.expect("a 429 within 10 calls at 1/s with bursts of 2");
    assert_eq!(body, json!({ "ok": false, "error": "ratelimited" }));
    let secs: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!((1..=2).contains(&secs), "{secs}");
    // The limit is the app's: another app is not held back.
    let other = SlackBot::create(&server, "Quiet").await;
    other.ok("auth.test", &[]).await;
}

//! Incoming webhooks, black-box: every status and body Slack answers with (DESIGN.md), the
//! payloads real senders produce (the fixtures), JSON and form bodies, Mattermost's raw
//! newlines, overrides and locked hooks, archived channels, hook management, and the `mrkdwn`
//! flag kept through the API and `message.posted`.

use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};

/// A server with `#general` (the hooks' default) and `#alerts` (the fixtures' override). The
/// hooks' rate limit is raised: these tests post quickly (`workspace_security` tests the limit).
async fn workspace() -> TestServer {
    let server = TestServer::start(
        ServerOptions::default()
            .env("KANCA_HOOK_RATE_LIMIT", "1000")
            .env("KANCA_HOOK_RATE_BURST", "1000"),
    )
    .await;
    server.create_channel("general").await;
    server.create_channel("alerts").await;
    server
}

async fn hook(server: &TestServer, extra: Value) -> String {
    let mut body = json!({ "channel": "general" });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let hook = server.create_incoming_hook(body).await;
    hook["url"].as_str().expect("a hook URL").to_owned()
}

#[tokio::test]
async fn real_senders_payloads_are_answered_as_slack_does() {
    let server = workspace().await;
    let url = hook(&server, json!({})).await;
    let cases = [
        ("alertmanager-firing.json", "application/json", 200, "ok"),
        (
            "grafana-firing.json",
            "application/json; charset=utf-8",
            200,
            "ok",
        ),
        (
            "jenkins-legacy.form",
            "application/x-www-form-urlencoded; charset=UTF-8",
            200,
            "ok",
        ),
        (
            "gha-slack-github-action-blocks.json",
            "application/json",
            200,
            "ok",
        ),
        ("blockkit-only-incident.json", "application/json", 200, "ok"),
        ("edge-unicode-escapes.json", "application/json", 200, "ok"),
        (
            "invalid-empty-object.json",
            "application/json",
            400,
            "no_text",
        ),
    ];
    for (file, content_type, status, body) in cases {
        let answer = server.post_hook(&url, content_type, fixture(file)).await;
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (status, body),
            "{file}: {answer:?}"
        );
        answer.assert(status, body);
    }

    // Every accepted fixture is a message, in the channel its payload names or the default.
    let alerts = server.channel_messages("alerts").await;
    let general = server.channel_messages("general").await;
    assert_eq!(alerts.len() + general.len(), 6, "{alerts:#?} {general:#?}");

    // Alertmanager: its overrides applied, every attachment field kept (buttons, confirm,
    // fields, mrkdwn_in), and Go's \u003c escapes decoded.
    let sent: Value = serde_json::from_slice(&fixture("alertmanager-firing.json")).unwrap();
    let am = alerts
        .iter()
        .find(|m| m["username"] == "Alertmanager")
        .expect("the Alertmanager message in #alerts");
    assert_eq!(am["iconEmoji"], ":rotating_light:");
    assert_eq!(am["attachments"], sent["attachments"]);
    assert_eq!(am["postedBy"]["kind"], "app");
    assert_eq!(am["postedBy"]["name"], "test hook");

    // The form body: its JSON and its string-typed booleans were understood.
    let jenkins: Value = {
        let form = String::from_utf8(fixture("jenkins-legacy.form")).unwrap();
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&form).unwrap();
        serde_json::from_str(&pairs[0].1).unwrap()
    };
    let all: Vec<Value> = alerts.iter().chain(general.iter()).cloned().collect();
    assert!(
        all.iter()
            .any(|m| m["attachments"] == jenkins["attachments"]),
        "the Jenkins attachments were kept: {all:#?}"
    );

    // Blocks only, no text: kept as given.
    let blocks: Value = serde_json::from_slice(&fixture("blockkit-only-incident.json")).unwrap();
    assert!(all.iter().any(|m| m["blocks"] == blocks["blocks"]));

    // Unicode: surrogate pairs and escapes decoded to the same text the sender meant.
    let edge: Value = serde_json::from_slice(&fixture("edge-unicode-escapes.json")).unwrap();
    let edge_msg = all
        .iter()
        .find(|m| m["text"] == edge["text"])
        .expect("the unicode message, text intact");
    if let Some(name) = edge["username"].as_str() {
        assert_eq!(edge_msg["username"], name);
    }
}

#[tokio::test]
async fn every_refusal_has_slacks_status_and_body() {
    let server = workspace().await;
    let url = hook(&server, json!({})).await;

    // 400 invalid_payload: not JSON, not an object, a form without `payload`.
    server
        .post_hook(&url, "application/json", b"{\"text\": ".to_vec())
        .await
        .assert(400, "invalid_payload");
    server
        .post_hook(&url, "application/json", b"[\"text\"]".to_vec())
        .await
        .assert(400, "invalid_payload");
    server
        .post_hook(
            &url,
            "application/x-www-form-urlencoded",
            b"text=hello".to_vec(),
        )
        .await
        .assert(400, "invalid_payload");
    server
        .post_hook(&url, "application/json", vec![0xff, 0xfe, b'{'])
        .await
        .assert(400, "invalid_payload");

    // 400 no_text: nothing to show.
    for body in [
        json!({}),
        json!({"text": ""}),
        json!({"text": null, "attachments": []}),
        json!({"username": "x"}),
    ] {
        server
            .post_hook_json(&url, &body)
            .await
            .assert(400, "no_text");
    }

    // 400 invalid_blocks: not a list of block objects, or over 50.
    for blocks in [
        json!("not blocks"),
        json!({"type": "section"}),
        json!([1, 2]),
        json!([{"text": "no type"}]),
    ] {
        server
            .post_hook_json(&url, &json!({"text": "t", "blocks": blocks}))
            .await
            .assert(400, "invalid_blocks");
    }
    let block = json!({"type": "divider"});
    let fifty: Vec<Value> = (0..50).map(|_| block.clone()).collect();
    let fifty_one: Vec<Value> = (0..51).map(|_| block.clone()).collect();
    server
        .post_hook_json(&url, &json!({"text": "t", "blocks": fifty}))
        .await
        .assert(200, "ok");
    server
        .post_hook_json(&url, &json!({"text": "t", "blocks": fifty_one}))
        .await
        .assert(400, "invalid_blocks");

    // At most 100 attachments.
    let att = json!({"text": "a"});
    let hundred: Vec<Value> = (0..100).map(|_| att.clone()).collect();
    let hundred_one: Vec<Value> = (0..101).map(|_| att.clone()).collect();
    server
        .post_hook_json(&url, &json!({"attachments": hundred}))
        .await
        .assert(200, "ok");
    server
        .post_hook_json(&url, &json!({"attachments": hundred_one}))
        .await
        .assert(400, "too_many_attachments");

    // 40,000 characters of text, not one more (characters, not bytes).
    let max = "é".repeat(40_000);
    server
        .post_hook_json(&url, &json!({ "text": max }))
        .await
        .assert(200, "ok");
    server
        .post_hook_json(&url, &json!({ "text": format!("{max}x") }))
        .await
        .assert(400, "msg_too_long");

    // 404 channel_not_found: an override to a channel that does not exist.
    server
        .post_hook_json(&url, &json!({"text": "t", "channel": "#nowhere"}))
        .await
        .assert(404, "channel_not_found");

    // 413: a body over the limit (1 MiB by default).
    let huge = json!({ "text": "x".repeat(2 * 1024 * 1024) });
    server
        .post_hook_json(&url, &huge)
        .await
        .assert(413, "payload_too_large");

    // 403 invalid_token: a wrong token, a wrong team, an unknown hook.
    let (base, token) = url.rsplit_once('/').unwrap();
    let wrong_token = format!("{base}/{}", "A".repeat(token.len()));
    server
        .post_hook_json(&wrong_token, &json!({"text": "t"}))
        .await
        .assert(403, "invalid_token");
    let parts: Vec<&str> = url.split('/').collect();
    let (team, hook_id) = (parts[4], parts[5]);
    let wrong_team = url.replace(team, "TWRONGTEAM1");
    server
        .post_hook_json(&wrong_team, &json!({"text": "t"}))
        .await
        .assert(403, "invalid_token");
    let unknown_hook = url.replace(hook_id, "BUNKNOWN001");
    server
        .post_hook_json(&unknown_hook, &json!({"text": "t"}))
        .await
        .assert(403, "invalid_token");

    // None of the refused requests left a message behind; the accepted ones did.
    let messages = server.channel_messages("general").await;
    assert_eq!(messages.len(), 3, "{}", messages.len());
}

#[tokio::test]
async fn revoked_and_regenerated_urls() {
    let server = workspace().await;
    let created = server
        .create_incoming_hook(json!({"channel": "general"}))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let old = created["url"].as_str().unwrap().to_owned();
    assert!(old.starts_with(&format!("{}/services/T", server.base_url())));
    server
        .post_hook_json(&old, &json!({"text": "before"}))
        .await
        .assert(200, "ok");

    // Listing never shows the URL again: only a digest of the token is kept.
    let listed = server.get("/api/v1/incoming-webhooks").await;
    assert_eq!(listed["data"][0]["id"], id.as_str());
    assert!(listed["data"][0].get("url").is_none(), "{listed}");

    let regenerated = server
        .post(
            &format!("/api/v1/incoming-webhooks/{id}/regenerate"),
            &json!({}),
        )
        .await;
    let new = regenerated["url"].as_str().unwrap().to_owned();
    assert_ne!(old, new);
    server
        .post_hook_json(&old, &json!({"text": "old url"}))
        .await
        .assert(403, "invalid_token");
    server
        .post_hook_json(&new, &json!({"text": "new url"}))
        .await
        .assert(200, "ok");

    let status = server
        .status_of(
            Method::DELETE,
            &format!("/api/v1/incoming-webhooks/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    server
        .post_hook_json(&new, &json!({"text": "revoked"}))
        .await
        .assert(403, "invalid_token");
    let hook = server.get(&format!("/api/v1/incoming-webhooks/{id}")).await;
    assert_eq!(hook["revoked"], true);

    let texts: Vec<Value> = server
        .channel_messages("general")
        .await
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(texts, vec![json!("before"), json!("new url")]);

    // Hook URLs are secrets: no token in the server's logs.
    let logs = server.logs();
    for url in [&old, &new] {
        let token = url.rsplit('/').next().unwrap();
        assert!(!logs.contains(token), "a hook token reached the logs");
    }
}

#[tokio::test]
async fn json_and_form_bodies_and_sloppy_senders() {
    let server = workspace().await;
    let url = hook(&server, json!({})).await;

    // Form `payload=` (space as `+`), and JSON sent with a form content type (`curl -d`).
    let form = format!(
        "payload={}",
        url::form_urlencoded::byte_serialize(br#"{"text": "from a form"}"#).collect::<String>()
    );
    server
        .post_hook(&url, "application/x-www-form-urlencoded", form.into_bytes())
        .await
        .assert(200, "ok");
    server
        .post_hook(
            &url,
            "application/x-www-form-urlencoded",
            br#"{"text": "curl -d"}"#.to_vec(),
        )
        .await
        .assert(200, "ok");

    // Mattermost-style: raw newlines and tabs inside JSON strings.
    server
        .post_hook(
            &url,
            "application/json",
            b"{\"text\": \"line one\nline\ttwo\",\n \"username\": \"mm\"}\n".to_vec(),
        )
        .await
        .assert(200, "ok");

    // Booleans as strings, "" overrides as absent, null inside arrays, floats for ints.
    server
        .post_hook_json(
            &url,
            &json!({
                "text": "lenient",
                "mrkdwn": "true",
                "link_names": "1",
                "username": "",
                "icon_emoji": "",
                "channel": "",
                "attachments": [null, {"text": "a", "ts": 1714000000.5, "short": "true"}]
            }),
        )
        .await
        .assert(200, "ok");

    let messages = server.channel_messages("general").await;
    let texts: Vec<&str> = messages
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        vec!["from a form", "curl -d", "line one\nline\ttwo", "lenient"]
    );
    assert_eq!(messages[2]["username"], "mm");
    assert_eq!(messages[3]["username"], Value::Null);
    assert_eq!(
        messages[3]["attachments"],
        json!([null, {"text": "a", "ts": 1714000000.5, "short": "true"}])
    );
}

#[tokio::test]
async fn overrides_apply_unless_the_hook_is_locked() {
    let server = workspace().await;
    let defaults = json!({
        "username": "deploy-bot",
        "iconEmoji": ":rocket:",
    });
    let open = hook(&server, defaults.clone()).await;
    let mut locked_body = defaults.clone();
    locked_body["locked"] = json!(true);
    let locked = hook(&server, locked_body).await;
    let overrides = json!({
        "text": "overridden",
        "username": "someone-else",
        "icon_emoji": ":ghost:",
        "icon_url": "https://example.com/i.png",
        "channel": "#alerts"
    });
    server
        .post_hook_json(&open, &overrides)
        .await
        .assert(200, "ok");
    let mut locked_msg = overrides.clone();
    locked_msg["text"] = json!("locked");
    server
        .post_hook_json(&locked, &locked_msg)
        .await
        .assert(200, "ok");
    server
        .post_hook_json(&open, &json!({"text": "defaults"}))
        .await
        .assert(200, "ok");

    let alerts = server.channel_messages("alerts").await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["text"], "overridden");
    assert_eq!(alerts[0]["username"], "someone-else");
    assert_eq!(alerts[0]["iconEmoji"], ":ghost:");
    assert_eq!(alerts[0]["iconUrl"], "https://example.com/i.png");

    let general = server.channel_messages("general").await;
    assert_eq!(general.len(), 2);
    assert_eq!(general[0]["text"], "locked");
    assert_eq!(general[0]["username"], "deploy-bot");
    assert_eq!(general[0]["iconEmoji"], ":rocket:");
    assert_eq!(general[0]["iconUrl"], Value::Null);
    assert_eq!(general[1]["text"], "defaults");
    assert_eq!(general[1]["username"], "deploy-bot");

    // A locked hook ignores even a channel that does not exist.
    let mut nowhere = locked_msg.clone();
    nowhere["channel"] = json!("#nowhere");
    server
        .post_hook_json(&locked, &nowhere)
        .await
        .assert(200, "ok");
}

#[tokio::test]
async fn archived_channels_answer_410() {
    let server = workspace().await;
    let url = hook(&server, json!({})).await;
    server
        .post("/api/v1/channels/general/archive", &json!({}))
        .await;
    server
        .post_hook_json(&url, &json!({"text": "into the archive"}))
        .await
        .assert(410, "channel_is_archived");
    // An override into an archived channel too; into a live one it works.
    server
        .post("/api/v1/channels/alerts/archive", &json!({}))
        .await;
    server.create_channel("live").await;
    let other = hook(&server, json!({"channel": "live"})).await;
    server
        .post_hook_json(&other, &json!({"text": "x", "channel": "#alerts"}))
        .await
        .assert(410, "channel_is_archived");
    server
        .post_hook_json(&url, &json!({"text": "x", "channel": "live"}))
        .await
        .assert(200, "ok");

    server
        .post("/api/v1/channels/general/unarchive", &json!({}))
        .await;
    server
        .post_hook_json(&url, &json!({"text": "back"}))
        .await
        .assert(200, "ok");
    let texts: Vec<Value> = server
        .channel_messages("general")
        .await
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(texts, vec![json!("back")]);
}

#[tokio::test]
async fn thread_ts_puts_a_message_in_a_thread() {
    let server = workspace().await;
    let url = hook(&server, json!({})).await;
    let parent = server.say("general", "ada", "parent").await;
    let ts = parent["ts"].as_str().unwrap().to_owned();
    server
        .post_hook_json(&url, &json!({"text": "reply", "thread_ts": ts}))
        .await
        .assert(200, "ok");
    let thread = server
        .get(&format!(
            "/api/v1/channels/general/messages?threadTs={ts}&order=ascending"
        ))
        .await;
    let texts: Vec<Value> = thread["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(texts, vec![json!("parent"), json!("reply")]);
    assert_eq!(thread["data"][1]["threadTs"], ts.as_str());
}

#[tokio::test]
async fn managing_hooks_refuses_bad_input() {
    let server = workspace().await;
    let cases = [
        (json!({"name": "h", "channel": "nowhere"}), 404),
        (json!({"name": "", "channel": "general"}), 422),
        (json!({"name": "h"}), 422),
        (
            json!({"name": "h", "channel": "general", "allowedIps": ["not-an-ip"]}),
            422,
        ),
        (
            json!({"name": "h", "channel": "general", "rateLimit": {"perSecond": 0, "burst": 1}}),
            422,
        ),
        (
            json!({"name": "h", "channel": "general", "locked": "yes"}),
            422,
        ),
    ];
    for (body, status) in cases {
        let (got, answer) = server
            .call(Method::POST, "/api/v1/incoming-webhooks", Some(&body))
            .await;
        assert_eq!(got, status, "{body} → {answer}");
        assert!(answer["code"].is_string(), "{answer}");
    }
    let (status, _) = server
        .call(Method::GET, "/api/v1/incoming-webhooks/BNOSUCHHOOK", None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = server
        .call(Method::DELETE, "/api/v1/incoming-webhooks/nonsense", None)
        .await;
    assert_eq!(status, 404);
    // Management needs the admin token; the hook URL does not.
    let response = server
        .http()
        .get(server.url("/api/v1/incoming-webhooks"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
}

#[tokio::test]
async fn hook_urls_and_messages_survive_a_restart() {
    let mut server = workspace().await;
    let url = hook(&server, json!({})).await;
    server
        .post_hook_json(&url, &json!({"text": "before"}))
        .await
        .assert(200, "ok");
    server.restart().await;
    // Same team, same hook, same token; only the port changed.
    let path = &url[url.find("/services/").unwrap()..];
    let url = format!("{}{path}", server.base_url());
    server
        .post_hook_json(&url, &json!({"text": "after"}))
        .await
        .assert(200, "ok");
    let texts: Vec<Value> = server
        .channel_messages("general")
        .await
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(texts, vec![json!("before"), json!("after")]);
}

#[tokio::test]
async fn the_mrkdwn_flag_is_kept_and_published() {
    let server = workspace().await;
    let receiver = Receiver::start().await;
    let app = server.get("/api/v1/app/workspace").await;
    server
        .create_endpoint(
            app["id"].as_str().unwrap(),
            json!({"url": receiver.url(), "filterTypes": ["message.posted"]}),
        )
        .await;
    let url = hook(&server, json!({})).await;

    // Slack's `"mrkdwn": false` (also as text, and in a form body) turns formatting off; absent
    // or anything Slack would not read as false, it stays on.
    for body in [
        json!({"text": "*default*"}),
        json!({"text": "*bool false*", "mrkdwn": false}),
        json!({"text": "*text false*", "mrkdwn": "false"}),
        json!({"text": "*bool true*", "mrkdwn": true}),
        json!({"text": "*null*", "mrkdwn": null}),
    ] {
        server.post_hook_json(&url, &body).await.assert(200, "ok");
    }
    let form = format!(
        "payload={}",
        url::form_urlencoded::byte_serialize(br#"{"text": "*form zero*", "mrkdwn": "0"}"#)
            .collect::<String>()
    );
    server
        .post_hook(&url, "application/x-www-form-urlencoded", form.into_bytes())
        .await
        .assert(200, "ok");
    // A person's post is always formatted.
    server.say("general", "ada", "*person*").await;

    let expected = [
        ("*default*", true),
        ("*bool false*", false),
        ("*text false*", false),
        ("*bool true*", true),
        ("*null*", true),
        ("*form zero*", false),
        ("*person*", true),
    ];
    let read: Vec<(String, Value)> = server
        .channel_messages("general")
        .await
        .iter()
        .map(|m| (m["text"].as_str().unwrap().to_owned(), m["mrkdwn"].clone()))
        .collect();
    let want: Vec<(String, Value)> = expected
        .iter()
        .map(|(t, f)| (t.to_string(), json!(f)))
        .collect();
    assert_eq!(read, want);

    // The same flag in every `message.posted` event (deliveries arrive in any order).
    let events: Vec<Value> = receiver
        .wait_for(expected.len(), WAIT)
        .await
        .iter()
        .map(|d| d.json())
        .collect();
    for (text, flag) in expected {
        let event = events
            .iter()
            .find(|e| e["data"]["message"]["text"] == text)
            .unwrap_or_else(|| panic!("no message.posted for {text}: {events:#?}"));
        assert_eq!(event["data"]["message"]["mrkdwn"], json!(flag), "{event}");
    }

    // The catalog's schema and example know the field.
    let et = server.get("/api/v1/event-type/message.posted").await;
    let schema = &et["schemas"]["1"];
    let message = &schema["properties"]["data"]["properties"]["message"];
    assert_eq!(message["properties"]["mrkdwn"]["type"], "boolean", "{et}");
    assert_eq!(
        schema["examples"][0]["data"]["message"]["mrkdwn"], true,
        "{et}"
    );
}

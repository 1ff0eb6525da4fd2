//! Channels and messages, black-box: managing channels, people posting, paging and threads,
//! the live stream (and resuming it), and the workspace's events delivered to a subscribed
//! endpoint of the built-in `workspace` application.

use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn channels_are_created_renamed_archived_and_listed() {
    let server = TestServer::start_default().await;
    let created = server.create_channel("#Deploys").await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with('C'), "{created}");
    assert_eq!(created["name"], "deploys");
    assert_eq!(created["isArchived"], false);
    assert!(created["createdAt"].is_string());

    // By id or by name (with or without `#`).
    assert_eq!(
        server.get(&format!("/api/v1/channels/{id}")).await["id"],
        id
    );
    assert_eq!(server.get("/api/v1/channels/%23deploys").await["id"], id);

    let renamed = server
        .call_ok(
            Method::PATCH,
            &format!("/api/v1/channels/{id}"),
            Some(&json!({"name": "releases"})),
        )
        .await;
    assert_eq!(renamed["name"], "releases");
    let archived = server
        .post("/api/v1/channels/releases/archive", &json!({}))
        .await;
    assert_eq!(archived["isArchived"], true);
    let unarchived = server
        .post(&format!("/api/v1/channels/{id}/unarchive"), &json!({}))
        .await;
    assert_eq!(unarchived["isArchived"], false);

    server.create_channel("alpha").await;
    let names: Vec<Value> = server
        .list_all("/api/v1/channels")
        .await
        .iter()
        .map(|c| c["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("alpha"), json!("releases")]);
}

#[tokio::test]
async fn channel_input_is_checked() {
    let server = TestServer::start_default().await;
    server.create_channel("taken").await;
    let cases = [
        (
            Method::POST,
            "/api/v1/channels",
            Some(json!({"name": "taken"})),
            409,
        ),
        (
            Method::POST,
            "/api/v1/channels",
            Some(json!({"name": "has space"})),
            422,
        ),
        (
            Method::POST,
            "/api/v1/channels",
            Some(json!({"name": ""})),
            422,
        ),
        (
            Method::POST,
            "/api/v1/channels",
            Some(json!({"nam": "x"})),
            422,
        ),
        (
            Method::POST,
            "/api/v1/channels",
            Some(json!({"name": 7})),
            422,
        ),
        (Method::GET, "/api/v1/channels/nowhere", None, 404),
        (Method::GET, "/api/v1/channels/CNOSUCH1234", None, 404),
        (
            Method::POST,
            "/api/v1/channels/nowhere/archive",
            Some(json!({})),
            404,
        ),
        (
            Method::POST,
            "/api/v1/channels/taken/messages",
            Some(json!({"user": "ada"})),
            422,
        ),
        (
            Method::POST,
            "/api/v1/channels/taken/messages",
            Some(json!({"user": "", "text": "x"})),
            422,
        ),
        (
            Method::POST,
            "/api/v1/channels/taken/messages",
            Some(json!({"user": "ada", "text": "x", "threadTs": "yesterday"})),
            422,
        ),
        (
            Method::POST,
            "/api/v1/channels/nowhere/messages",
            Some(json!({"user": "ada", "text": "x"})),
            404,
        ),
        (
            Method::GET,
            "/api/v1/channels/taken/messages?iterator=bogus",
            None,
            422,
        ),
    ];
    for (method, path, body, status) in cases {
        let (got, answer) = server.call(method.clone(), path, body.as_ref()).await;
        assert_eq!(got, status, "{method} {path} {body:?} → {answer}");
        assert!(answer["code"].is_string(), "{answer}");
    }
    // Bad JSON is a 400; an unauthenticated call a 401.
    let response = server
        .request(Method::POST, "/api/v1/channels")
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let response = server
        .http()
        .get(server.url("/api/v1/channels"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);

    // An archived channel takes no messages, and the refusal stores nothing.
    server
        .post("/api/v1/channels/taken/archive", &json!({}))
        .await;
    let (status, _) = server
        .call(
            Method::POST,
            "/api/v1/channels/taken/messages",
            Some(&json!({"user": "ada", "text": "x"})),
        )
        .await;
    assert_eq!(status, 409);
    assert!(server.channel_messages("taken").await.is_empty());
}

#[tokio::test]
async fn people_post_and_messages_page_in_ts_order() {
    let server = TestServer::start_default().await;
    server.create_channel("general").await;
    let mut posted = Vec::new();
    for i in 0..120 {
        let m = server.say("general", "ada", &format!("message {i}")).await;
        posted.push(m["ts"].as_str().unwrap().to_owned());
    }
    // `ts` is unique and increasing, so it can be a cursor.
    let mut sorted = posted.clone();
    sorted.sort_by_key(|ts| {
        let (s, f) = ts.split_once('.').unwrap();
        (s.parse::<i64>().unwrap(), f.parse::<i64>().unwrap())
    });
    sorted.dedup();
    assert_eq!(sorted, posted);

    let all = server.channel_messages("general").await;
    assert_eq!(all.len(), 120);
    assert_eq!(all[0]["text"], "message 0");
    assert_eq!(all[119]["text"], "message 119");
    assert_eq!(all[0]["postedBy"], json!({"kind": "user", "name": "ada"}));

    // Newest first by default, as Slack's history.
    let newest = server
        .get("/api/v1/channels/general/messages?limit=2")
        .await;
    assert_eq!(newest["data"][0]["text"], "message 119");
    assert_eq!(newest["done"], false);
    let next = server
        .get(&format!(
            "/api/v1/channels/general/messages?limit=2&iterator={}",
            newest["iterator"].as_str().unwrap()
        ))
        .await;
    assert_eq!(next["data"][0]["text"], "message 117");

    // Threads: replies carry `threadTs`; a thread lists its parent and replies.
    let parent = &posted[5];
    let reply = server
        .post(
            "/api/v1/channels/general/messages",
            &json!({"user": "bob", "text": "in thread", "threadTs": parent}),
        )
        .await;
    assert_eq!(reply["threadTs"], parent.as_str());
    let thread = server
        .get(&format!(
            "/api/v1/channels/general/messages?threadTs={parent}&order=ascending"
        ))
        .await;
    let texts: Vec<Value> = thread["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(texts, vec![json!("message 5"), json!("in thread")]);
}

#[tokio::test]
async fn the_live_stream_shows_hook_messages_and_resumes_without_loss() {
    let server = TestServer::start_default().await;
    let channel = server.create_channel("live").await;
    let id = channel["id"].as_str().unwrap().to_owned();
    let hook = server
        .create_incoming_hook(json!({"channel": "live"}))
        .await;
    let url = hook["url"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/channels/{id}/stream");

    let mut stream = SseReader::connect(&server, &path, None).await;
    server
        .post_hook_json(&url, &json!({"text": "first"}))
        .await
        .assert(200, "ok");
    let first = stream.next().await;
    assert_eq!(first.event, "message");
    let data: Value = serde_json::from_str(&first.data).unwrap();
    assert_eq!(data["text"], "first");
    assert_eq!(data["postedBy"]["kind"], "app");
    assert_eq!(first.id, data["ts"].as_str().unwrap());

    // Disconnect; messages arrive meanwhile; reconnecting with Last-Event-ID gets exactly
    // those, in order, and then live ones.
    drop(stream);
    for text in ["second", "third"] {
        server
            .post_hook_json(&url, &json!({ "text": text }))
            .await
            .assert(200, "ok");
    }
    let mut resumed = SseReader::connect(&server, &path, Some(&first.id)).await;
    let second = resumed.next().await;
    let third = resumed.next().await;
    server.say("live", "ada", "fourth").await;
    let fourth = resumed.next().await;
    let texts: Vec<String> = [&second, &third, &fourth]
        .iter()
        .map(|e| {
            serde_json::from_str::<Value>(&e.data).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(texts, vec!["second", "third", "fourth"]);

    // Without a cursor the stream starts from the beginning.
    let mut fresh = SseReader::connect(&server, "/api/v1/channels/live/stream", None).await;
    assert_eq!(fresh.next().await.id, first.id);

    // A cursor that is not a ts is refused.
    let (status, _) = server
        .call(Method::GET, &format!("{path}?lastEventId=nope"), None)
        .await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn workspace_events_reach_a_subscribed_endpoint() {
    let server = TestServer::start_default().await;
    let receiver = Receiver::start().await;

    // The built-in application is a normal one: found by uid, endpoints added as usual.
    let app = server.get("/api/v1/app/workspace").await;
    let app_id = app["id"].as_str().unwrap().to_owned();
    server
        .create_endpoint(
            &app_id,
            json!({"url": receiver.url(), "filterTypes": ["message.posted", "channel.created", "channel.archived"]}),
        )
        .await;

    // The event types are in the catalog with a schema and an example.
    for name in ["message.posted", "channel.created", "channel.archived"] {
        let et = server.get(&format!("/api/v1/event-type/{name}")).await;
        let schema = &et["schemas"]["1"];
        assert!(schema["properties"].is_object(), "{et}");
        assert!(schema["examples"][0]["type"] == name, "{et}");
    }

    server.create_channel("ops").await;
    let hook = server.create_incoming_hook(json!({"channel": "ops"})).await;
    server
        .post_hook_json(
            hook["url"].as_str().unwrap(),
            &json!({"text": "from a hook"}),
        )
        .await
        .assert(200, "ok");
    server.say("ops", "ada", "from a person").await;
    server
        .post("/api/v1/channels/ops/archive", &json!({}))
        .await;

    // Deliveries run concurrently: find each event rather than rely on arrival order.
    let deliveries = receiver.wait_for(4, WAIT).await;
    let events: Vec<Value> = deliveries.iter().map(|d| d.json()).collect();
    let mut types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    types.sort();
    assert_eq!(
        types,
        vec![
            "channel.archived",
            "channel.created",
            "message.posted",
            "message.posted"
        ]
    );
    let posted = |text: &str| {
        events
            .iter()
            .find(|e| e["data"]["message"]["text"] == text)
            .unwrap_or_else(|| panic!("no message.posted for {text}: {events:#?}"))
            .clone()
    };
    let from_hook = posted("from a hook");
    assert_eq!(from_hook["type"], "message.posted");
    assert_eq!(from_hook["data"]["message"]["postedBy"]["kind"], "app");
    assert_eq!(from_hook["data"]["channel"]["name"], "ops");
    let from_person = posted("from a person");
    assert_eq!(from_person["data"]["message"]["postedBy"]["kind"], "user");
    assert!(from_person["data"]["teamId"]
        .as_str()
        .unwrap()
        .starts_with('T'));
    let archived = events
        .iter()
        .find(|e| e["type"] == "channel.archived")
        .unwrap();
    assert_eq!(archived["data"]["channel"]["isArchived"], true);
    // Signed like every delivery.
    assert!(deliveries[0].header("webhook-signature").is_some());
}

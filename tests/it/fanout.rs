//! Fan-out: a message goes to every endpoint whose `eventTypes` and `channels` match it, and to
//! no other.
//!
//! Three endpoints, each on its own receiver: one with no filter, one filtered to
//! `user.created`, one filtered to channel `project-1`. A table of messages says by hand which
//! of them each message must reach (the test does not recompute the matching rule, so it
//! cannot share a bug with the server). The check is exact both ways: every expected delivery
//! arrives, and once the server reports nothing left to send, nothing else has arrived.

use crate::common::*;
use serde_json::json;
use std::collections::BTreeMap;

/// The three subscriptions under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Subscriber {
    /// No `eventTypes`, no `channels`: everything.
    Everything,
    /// `eventTypes: ["user.created"]`.
    UserCreated,
    /// `channels: ["project-1"]`.
    Project1,
}

use Subscriber::*;

/// Event type, channels, and who must get the message.
const MESSAGES: &[(&str, &[&str], &[Subscriber])] = &[
    // No channels: an endpoint filtered by channel does not get it.
    ("user.created", &[], &[Everything, UserCreated]),
    (
        "user.created",
        &["project-1"],
        &[Everything, UserCreated, Project1],
    ),
    ("invoice.paid", &["project-1"], &[Everything, Project1]),
    ("invoice.paid", &["project-2"], &[Everything]),
    ("user.deleted", &[], &[Everything]),
    ("user.created", &["project-2"], &[Everything, UserCreated]),
    // One matching channel out of several is enough.
    (
        "invoice.paid",
        &["project-2", "project-1"],
        &[Everything, Project1],
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_endpoint_gets_exactly_the_messages_it_subscribes_to() {
    let server = TestServer::start_default().await;
    let app = server.create_app("Fan-out").await;
    for name in ["user.created", "user.deleted", "invoice.paid"] {
        server.create_event_type(name).await;
    }

    let mut receivers = BTreeMap::new();
    let mut endpoints = BTreeMap::new();
    for (subscriber, filter) in [
        (Everything, json!({})),
        (UserCreated, json!({ "eventTypes": ["user.created"] })),
        (Project1, json!({ "channels": ["project-1"] })),
    ] {
        let receiver = Receiver::start().await;
        let mut body = filter;
        body["url"] = json!(receiver.url());
        endpoints.insert(subscriber, server.create_endpoint(&app, body).await);
        receivers.insert(subscriber, receiver);
    }

    // Publish the table; remember which ids each subscriber must get.
    let mut expected: BTreeMap<Subscriber, Vec<String>> = BTreeMap::new();
    let mut published = Vec::new();
    for (i, (event_type, channels, subscribers)) in MESSAGES.iter().enumerate() {
        let mut body = json!({ "eventType": event_type, "payload": { "case": i } });
        if !channels.is_empty() {
            body["channels"] = json!(channels);
        }
        let msg_id = server.publish(&app, body).await;
        for subscriber in *subscribers {
            expected
                .entry(*subscriber)
                .or_default()
                .push(msg_id.clone());
        }
        published.push((msg_id, *subscribers));
    }

    // Every expected delivery arrives...
    for (subscriber, receiver) in &receivers {
        let ids = expected[subscriber].clone();
        receiver
            .wait_until(&format!("{subscriber:?}'s messages {ids:?}"), WAIT, |r| {
                ids.iter()
                    .all(|id| r.iter().any(|req| req.header("webhook-id") == Some(id)))
            })
            .await;
    }
    // ...the server agrees on who each message was for, and has nothing left to send...
    for (msg_id, subscribers) in &published {
        let statuses = server.wait_until_settled(&app, msg_id).await;
        let mut reached: Vec<&str> = statuses.iter().filter_map(|s| s["id"].as_str()).collect();
        reached.sort_unstable();
        let mut wanted: Vec<&str> = subscribers.iter().map(|s| endpoints[s].as_str()).collect();
        wanted.sort_unstable();
        assert_eq!(reached, wanted, "the endpoints listed for {msg_id}");
        assert!(
            statuses.iter().all(|s| s["status"] == STATUS_SUCCESS),
            "every delivery of {msg_id} succeeded: {statuses:?}"
        );
    }
    // ...and nothing more arrives: each subscriber got its messages exactly once, and no other.
    settle().await;
    for (subscriber, receiver) in &receivers {
        let mut got: Vec<String> = receiver
            .requests()
            .iter()
            .map(RecordedRequest::webhook_id)
            .collect();
        got.sort_unstable();
        let mut want = expected[subscriber].clone();
        want.sort_unstable();
        assert_eq!(got, want, "what {subscriber:?} received");
    }
}

/// The payload is stored, delivered and shown back exactly as it was written: the spacing,
/// key order and escapes a sender chose are what the receiver signs over.
#[tokio::test]
async fn the_payload_travels_byte_for_byte() {
    let server = TestServer::start_default().await;
    let receiver = Receiver::start().await;
    let app = server.create_app("bytes").await;
    server
        .create_endpoint(&app, json!({"url": receiver.url()}))
        .await;
    let payload = r#"{ "z": 1,  "a": "caf\u00e9", "n": 1.50 }"#;
    let body = format!(r#"{{"eventType": "a.b", "payload": {payload}}}"#);
    let published = server
        .request(reqwest::Method::POST, &format!("/api/v1/app/{app}/msg"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(published.status(), 202);
    let answer = published.text().await.unwrap();
    assert!(
        answer.contains(payload),
        "the 202 shows the payload as sent: {answer}"
    );
    let delivered = receiver.wait_for(1, WAIT).await.remove(0);
    assert_eq!(delivered.body.as_ref(), payload.as_bytes());
    let id = delivered.webhook_id();
    let read = server
        .request(reqwest::Method::GET, &format!("/api/v1/app/{app}/msg/{id}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        read.contains(payload),
        "reading it back shows it as sent: {read}"
    );
}

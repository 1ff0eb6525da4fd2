//! The workspace keeps DESIGN.md's first decision: the database is the queue. A channel message
//! and its `message.posted` event (a message of the built-in `workspace` application, with its
//! deliveries) are committed together, and so are a channel and its `channel.created` event;
//! a `kill -9` at any moment leaves both or neither.
//!
//! The server is killed with SIGKILL in the middle of a burst of concurrent posts (through an
//! incoming webhook and by people) and channel creations, so some requests are cut off at
//! every stage of their work. After a restart on the same data, every stored message has
//! exactly one event, every stored channel has exactly one, no event names a message or a
//! channel that is not stored, and everything acknowledged (`ok`, 200) is there.

use crate::common::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// Requests in the burst, of each kind.
const HOOK_POSTS: usize = 150;
const USER_POSTS: usize = 50;
const CHANNELS: usize = 40;
/// The server is killed once this many requests have been acknowledged.
const KILL_AFTER: usize = 60;

/// What one request of the burst came to: acknowledged or not (cut off, or refused).
struct Sent {
    kind: &'static str,
    label: String,
    acked: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_mid_burst_leaves_every_message_and_channel_with_exactly_one_event() {
    let mut server = TestServer::start_default().await;
    let receiver = Receiver::start().await;
    receiver.set_default(Reply::Status(200));
    let app = server.get("/api/v1/app/workspace").await;
    let app_id = id_of(&app);
    server
        .create_endpoint(&app_id, json!({ "url": receiver.url() }))
        .await;
    server.create_channel("burst").await;
    // A rate limit far above the burst, so every post is accepted while the server lives.
    let hook = server
        .create_incoming_hook(json!({
            "channel": "burst",
            "rateLimit": {"perSecond": 100000, "burst": 100000}
        }))
        .await;
    let hook_url = hook["url"].as_str().expect("a hook URL").to_owned();

    let acked = Arc::new(AtomicUsize::new(0));
    let enough = Arc::new(Notify::new());
    let http = reqwest::Client::new();
    let mut tasks = Vec::new();
    let mut spawn = |kind: &'static str, label: String, request: reqwest::RequestBuilder| {
        let (acked, enough) = (acked.clone(), enough.clone());
        tasks.push(tokio::spawn(async move {
            let ok = match request.send().await {
                Ok(response) => response.status().is_success(),
                Err(_) => false,
            };
            if ok && acked.fetch_add(1, Ordering::SeqCst) + 1 == KILL_AFTER {
                enough.notify_one();
            }
            Sent {
                kind,
                label,
                acked: ok,
            }
        }));
    };
    // Interleaved, so every kind is in flight when the kill comes.
    for n in 0..HOOK_POSTS {
        let text = format!("hook {n}");
        spawn(
            "hook",
            text.clone(),
            http.post(&hook_url).json(&json!({ "text": text })),
        );
        if n % 3 == 0 && n / 3 < USER_POSTS {
            let text = format!("person {}", n / 3);
            spawn(
                "user",
                text.clone(),
                server
                    .request(reqwest::Method::POST, "/api/v1/channels/burst/messages")
                    .json(&json!({ "user": "ada", "text": text })),
            );
        }
        if n % 4 == 0 && n / 4 < CHANNELS {
            let name = format!("room-{}", n / 4);
            spawn(
                "channel",
                name.clone(),
                server
                    .request(reqwest::Method::POST, "/api/v1/channels")
                    .json(&json!({ "name": name })),
            );
        }
    }
    tokio::time::timeout(WAIT, enough.notified())
        .await
        .unwrap_or_else(|_| panic!("{KILL_AFTER} requests acknowledged"));
    server.kill9();
    let mut sent = Vec::new();
    for task in tasks {
        sent.push(task.await.expect("a request task"));
    }
    let acked_count = sent.iter().filter(|s| s.acked).count();
    assert!(
        acked_count >= KILL_AFTER && acked_count < sent.len(),
        "the kill came in the middle of the burst: {acked_count} of {} acknowledged",
        sent.len()
    );

    server.restart().await;

    // The events as stored: the workspace application's messages, with their payloads.
    let events: Vec<Value> = server
        .list_all(&format!("/api/v1/app/{app_id}/msg"))
        .await
        .iter()
        .map(|m| m["payload"].clone())
        .collect();
    let mut posted_events: BTreeMap<String, usize> = BTreeMap::new();
    let mut created_events: BTreeMap<String, usize> = BTreeMap::new();
    for event in &events {
        match event["type"].as_str() {
            Some("message.posted") => {
                let message = &event["data"]["message"];
                let key = format!("{} {}", message["channelId"], message["ts"]);
                *posted_events.entry(key).or_default() += 1;
            }
            Some("channel.created") => {
                let channel = event["data"]["channel"]["id"].to_string();
                *created_events.entry(channel).or_default() += 1;
            }
            other => panic!("an unexpected event {other:?}: {event}"),
        }
    }

    // Every stored message has exactly one `message.posted`, and every one names a stored
    // message.
    let messages = server.channel_messages("burst").await;
    let stored: BTreeMap<String, &Value> = messages
        .iter()
        .map(|m| (format!("{} {}", m["channelId"], m["ts"]), m))
        .collect();
    for (key, message) in &stored {
        assert_eq!(
            posted_events.get(key).copied().unwrap_or(0),
            1,
            "message {message} has exactly one message.posted event"
        );
    }
    for key in posted_events.keys() {
        assert!(
            stored.contains_key(key),
            "message.posted for {key}, a message that is not stored"
        );
    }

    // Likewise every channel and its `channel.created` (`burst` was created before the kill,
    // and is one of them).
    let channels = server.list_all("/api/v1/channels").await;
    let channel_ids: BTreeSet<String> = channels.iter().map(|c| c["id"].to_string()).collect();
    for channel in &channels {
        assert_eq!(
            created_events
                .get(&channel["id"].to_string())
                .copied()
                .unwrap_or(0),
            1,
            "channel {channel} has exactly one channel.created event"
        );
    }
    for id in created_events.keys() {
        assert!(
            channel_ids.contains(id),
            "channel.created for {id}, a channel that is not stored"
        );
    }

    // Nothing acknowledged was lost.
    let texts: BTreeSet<&str> = messages.iter().filter_map(|m| m["text"].as_str()).collect();
    let names: BTreeSet<&str> = channels.iter().filter_map(|c| c["name"].as_str()).collect();
    for s in sent.iter().filter(|s| s.acked) {
        let kept = match s.kind {
            "channel" => names.contains(s.label.as_str()),
            _ => texts.contains(s.label.as_str()),
        };
        assert!(kept, "the acknowledged {} `{}` is stored", s.kind, s.label);
    }
}

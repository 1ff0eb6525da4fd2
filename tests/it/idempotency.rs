//! Idempotency keys: a client that retries a publish (it timed out, the connection dropped)
//! with the same `idempotency-key` gets the first answer back and creates nothing new, so its
//! consumers see the event once. Different keys are different messages, even with equal bodies.

use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_key_twice_gives_the_same_answer_and_one_delivery() {
    let server = TestServer::start_default().await;
    let receiver = Receiver::start().await;
    let app = app_with_endpoint(&server, &receiver).await;
    let body = order_paid();

    let (first_status, first_body) = publish_with_key(&server, &app, "order-42", &body).await;
    let (second_status, second_body) = publish_with_key(&server, &app, "order-42", &body).await;
    assert_eq!(first_status, 202, "{first_body}");
    assert_eq!(second_status, first_status, "{second_body}");
    // The same answer, byte for byte, not merely an equivalent one.
    assert_eq!(second_body, first_body);
    let msg_id = id_of(&parse(&first_body));

    let messages = server.list_all(&format!("/api/v1/app/{app}/msg")).await;
    assert_eq!(
        ids(&messages),
        std::slice::from_ref(&msg_id),
        "{messages:#?}"
    );

    receiver.wait_for(1, WAIT).await;
    server.wait_until_settled(&app, &msg_id).await;
    settle().await;
    let deliveries: Vec<String> = receiver
        .requests()
        .iter()
        .map(RecordedRequest::webhook_id)
        .collect();
    assert_eq!(deliveries, [msg_id], "one message, delivered once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn different_keys_make_different_messages() {
    let server = TestServer::start_default().await;
    let receiver = Receiver::start().await;
    let app = app_with_endpoint(&server, &receiver).await;
    let body = order_paid();

    let (first_status, first_body) = publish_with_key(&server, &app, "order-42-a", &body).await;
    let (second_status, second_body) = publish_with_key(&server, &app, "order-42-b", &body).await;
    assert_eq!(first_status, 202, "{first_body}");
    assert_eq!(second_status, 202, "{second_body}");
    let first = id_of(&parse(&first_body));
    let second = id_of(&parse(&second_body));
    assert_ne!(first, second);

    let mut listed = ids(&server.list_all(&format!("/api/v1/app/{app}/msg")).await);
    listed.sort_unstable();
    let mut both = vec![first.clone(), second.clone()];
    both.sort_unstable();
    assert_eq!(listed, both);

    receiver.wait_for(2, WAIT).await;
    for msg in [&first, &second] {
        server.wait_until_settled(&app, msg).await;
    }
    settle().await;
    let mut delivered: Vec<String> = receiver
        .requests()
        .iter()
        .map(RecordedRequest::webhook_id)
        .collect();
    delivered.sort_unstable();
    assert_eq!(delivered, both, "each message delivered once");
}

async fn app_with_endpoint(server: &TestServer, receiver: &Receiver) -> String {
    let app = server.create_app("Idempotency").await;
    server
        .create_endpoint(&app, json!({ "url": receiver.url() }))
        .await;
    app
}

fn order_paid() -> Value {
    json!({ "eventType": "order.paid", "payload": { "orderId": "o_42", "amount": 1999 } })
}

/// Publishes with an `idempotency-key`; returns the status and the raw body text.
async fn publish_with_key(
    server: &TestServer,
    app: &str,
    key: &str,
    body: &Value,
) -> (u16, String) {
    let response = server
        .request(Method::POST, &format!("/api/v1/app/{app}/msg"))
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .expect("publishing");
    let status = response.status().as_u16();
    (status, response.text().await.expect("reading the answer"))
}

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

fn ids(resources: &[Value]) -> Vec<String> {
    resources.iter().map(id_of).collect()
}

/// A POST with an `idempotency-key`; returns the status and the JSON answer.
async fn post_with_key(server: &TestServer, path: &str, key: &str, body: &Value) -> (u16, Value) {
    let response = server
        .request(Method::POST, path)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .expect("posting");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON answer"))
}

/// Answers that hold a secret (a hook URL, a signing secret) are not kept under the key: the
/// secret would sit in the database in clear for 24 h (an incoming hook's token is otherwise
/// kept only as a digest). The key is accepted and the request simply runs again.
#[tokio::test]
async fn answers_holding_a_secret_are_not_kept_under_the_key() {
    let server = TestServer::start_default().await;
    server.create_channel("general").await;

    let hook = json!({ "name": "ci", "channel": "general" });
    let (s1, first) = post_with_key(&server, "/api/v1/incoming-webhooks", "hook-1", &hook).await;
    let (s2, second) = post_with_key(&server, "/api/v1/incoming-webhooks", "hook-1", &hook).await;
    assert_eq!((s1, s2), (201, 201), "{first} {second}");
    assert_ne!(first["id"], second["id"], "not a replay: a second hook");
    assert_ne!(first["url"], second["url"]);
    for url in [&first["url"], &second["url"]] {
        server
            .post_hook_json(url.as_str().unwrap(), &json!({ "text": "hello" }))
            .await
            .assert(200, "ok");
    }

    let path = format!("/api/v1/incoming-webhooks/{}/regenerate", id_of(&first));
    let (s1, renewed) = post_with_key(&server, &path, "renew-1", &json!({})).await;
    let (s2, renewed_again) = post_with_key(&server, &path, "renew-1", &json!({})).await;
    assert_eq!((s1, s2), (200, 200), "{renewed} {renewed_again}");
    assert_ne!(renewed["url"], renewed_again["url"], "not a replay");
    // A replayed answer would hand out a URL that no longer works.
    server
        .post_hook_json(renewed["url"].as_str().unwrap(), &json!({ "text": "x" }))
        .await
        .assert(403, "invalid_token");
    server
        .post_hook_json(
            renewed_again["url"].as_str().unwrap(),
            &json!({ "text": "x" }),
        )
        .await
        .assert(200, "ok");

    let outgoing = json!({
        "name": "bot", "triggerWords": ["deploy"], "callbackUrls": ["http://127.0.0.1:9/hook"]
    });
    let (s1, first) = post_with_key(&server, "/api/v1/outgoing-webhooks", "out-1", &outgoing).await;
    let (s2, second) =
        post_with_key(&server, "/api/v1/outgoing-webhooks", "out-1", &outgoing).await;
    assert_eq!((s1, s2), (201, 201), "{first} {second}");
    assert_ne!(
        first["signingSecret"], second["signingSecret"],
        "not a replay"
    );

    // Other answers are still kept: the same key on a channel creation replays the first.
    let (s1, made) = post_with_key(
        &server,
        "/api/v1/channels",
        "chan-1",
        &json!({"name": "ops"}),
    )
    .await;
    let (s2, replayed) = post_with_key(
        &server,
        "/api/v1/channels",
        "chan-1",
        &json!({"name": "ops"}),
    )
    .await;
    assert_eq!((s1, s2), (201, 201), "{made} {replayed}");
    assert_eq!(made, replayed);
}

//! At-least-once across crashes: a `kill -9` at any moment loses nothing that was acknowledged,
//! and the work resumes when the server starts again on the same data dir.
//!
//! The server is killed with SIGKILL, so it gets no chance to finish a request or record
//! anything; everything it delivers afterwards comes from what it had committed before its 202.

use crate::common::*;
use reqwest::Method;
use serde_json::json;
use std::collections::BTreeSet;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_cut_off_by_kill9_is_made_again_after_restart() {
    let mut server = TestServer::start_default().await;
    let receiver = Receiver::start().await;
    // The first request never gets an answer: the server is killed while it waits for one.
    receiver.reply_with([Reply::Hang]);
    receiver.set_default(Reply::Status(200));
    let app = server.create_app("Durability").await;
    let endpoint = server
        .create_endpoint(&app, json!({ "url": receiver.url() }))
        .await;
    let payload = json!({ "orderId": "o_7", "items": 3 });
    let msg = server
        .publish(
            &app,
            json!({ "eventType": "order.created", "payload": payload }),
        )
        .await;

    receiver.wait_for(1, WAIT).await;
    server.kill9();
    server.restart().await;

    let requests = receiver.wait_for(2, WAIT).await;
    for request in &requests {
        assert_eq!(request.webhook_id(), msg, "{request:?}");
        assert_eq!(request.json(), payload);
    }
    let outcome = server.wait_for_outcome(&app, &msg, &endpoint).await;
    assert_eq!(
        outcome["status"], STATUS_SUCCESS,
        "marked delivered: {outcome}"
    );
    let attempts = server.attempts_for_msg(&app, &msg).await;
    assert!(
        attempts
            .iter()
            .any(|a| a["status"] == STATUS_SUCCESS && a["responseStatusCode"] == 200),
        "a successful attempt is recorded: {attempts:#?}"
    );
    // The message itself came through the crash intact.
    let stored = server.get(&format!("/api/v1/app/{app}/msg/{msg}")).await;
    assert_eq!(stored["payload"], payload, "{stored}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_message_survives_kill9() {
    const MESSAGES: usize = 50;
    // Long enough that no message can run out of retries before the kill, however slowly the
    // publishes go; a restarted server finds every delivery still pending.
    let schedule = vec!["500ms"; 40].join(",");
    let mut server = TestServer::start(ServerOptions::default().retry_schedule(schedule)).await;
    let receiver = Receiver::start().await;
    receiver.set_default(Reply::Status(503));
    let app = server.create_app("Durability").await;
    let endpoint = server
        .create_endpoint(&app, json!({ "url": receiver.url() }))
        .await;

    let publishes = (0..MESSAGES).map(|n| {
        let body = json!({ "eventType": "order.created", "payload": { "n": n } });
        let (server, app) = (&server, &app);
        async move {
            let response = server
                .request(Method::POST, &format!("/api/v1/app/{app}/msg"))
                .json(&body)
                .send()
                .await
                .expect("publishing");
            assert_eq!(response.status().as_u16(), 202, "publishing message {n}");
            id_of(&response.json().await.expect("a JSON answer"))
        }
    });
    let published: BTreeSet<String> = futures::future::join_all(publishes)
        .await
        .into_iter()
        .collect();
    assert_eq!(published.len(), MESSAGES, "distinct ids");
    server.kill9();

    receiver.set_default(Reply::Status(200));
    server.restart().await;

    // Every message reaches the receiver and is accepted; before the restart it accepted none.
    receiver
        .wait_until(
            &format!("all {MESSAGES} messages to be accepted"),
            WAIT,
            |requests| {
                let accepted: BTreeSet<String> = requests
                    .iter()
                    .filter(|r| r.was_accepted())
                    .map(RecordedRequest::webhook_id)
                    .collect();
                published.is_subset(&accepted)
            },
        )
        .await;
    // The server knows it: every message is stored and marked delivered.
    let stored: BTreeSet<String> = server
        .list_all(&format!("/api/v1/app/{app}/msg"))
        .await
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(stored, published);
    for msg in &published {
        let outcome = server.wait_for_outcome(&app, msg, &endpoint).await;
        assert_eq!(outcome["status"], STATUS_SUCCESS, "{msg}: {outcome}");
    }
}

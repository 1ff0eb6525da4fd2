//! Fair delivery slots: a handful of stalled endpoints cannot take the node's whole in-flight
//! budget from the others, and a backlog paced for a slow endpoint speeds up as soon as the
//! endpoint answers quickly again.
//!
//! Both are about the order in which a queue is served, which only shows as time: the waits
//! here are bounds far beyond what a fair server needs (seconds) and far below what the unfair
//! one took (the stalled endpoints' whole delivery timeout; the slow pace's half minute).

use crate::common::*;
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

async fn publish_all(server: &TestServer, app: &str, count: usize) {
    for chunk in (0..count).collect::<Vec<_>>().chunks(16) {
        let wave = chunk.iter().map(|n| {
            let body = json!({ "eventType": "order.created", "payload": { "n": n } });
            async move {
                let (status, body) = server
                    .call(Method::POST, &format!("/api/v1/app/{app}/msg"), Some(&body))
                    .await;
                assert_eq!(status, 202, "{body}");
            }
        });
        futures::future::join_all(wave).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_endpoints_do_not_starve_the_others() {
    // A budget of 64 slots, at most 8 per endpoint; a stalled request holds its slot for the
    // whole delivery timeout (a minute), longer than this test.
    let server = TestServer::start(
        ServerOptions::default()
            .env("KANCA_MAX_IN_FLIGHT", "64")
            .env("KANCA_ENDPOINT_MAX_IN_FLIGHT", "8")
            .env("KANCA_DELIVERY_TIMEOUT", "60s"),
    )
    .await;
    let stalled_app = server.create_app("Stalled").await;
    let mut stalled = Vec::new();
    for _ in 0..4 {
        let receiver = Receiver::start().await;
        receiver.set_default(Reply::Hang);
        server
            .create_endpoint(&stalled_app, json!({ "url": receiver.url() }))
            .await;
        stalled.push(receiver);
    }
    let fast_app = server.create_app("Fast").await;
    let mut fast = Vec::new();
    for _ in 0..6 {
        let receiver = Receiver::start().await;
        server
            .create_endpoint(&fast_app, json!({ "url": receiver.url() }))
            .await;
        fast.push(receiver);
    }

    // The stalled endpoints' backlog first: before, four of them took 4 × (8 in flight + 8 in
    // line) = all 64 slots, and nothing else moved until their requests timed out.
    publish_all(&server, &stalled_app, 100).await;
    for receiver in &stalled {
        receiver.wait_for(1, WAIT).await;
    }
    publish_all(&server, &fast_app, 200).await;
    for receiver in &fast {
        receiver.wait_for(200, Duration::from_secs(20)).await;
    }
    // The stalled ones never held more than their share.
    let held: usize = stalled.iter().map(|r| r.requests().len()).sum();
    assert!(held <= 40, "stalled endpoints hold {held} requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_paced_for_a_slow_endpoint_speeds_up_when_it_recovers() {
    let server =
        TestServer::start(ServerOptions::default().env("KANCA_ENDPOINT_MAX_IN_FLIGHT", "2")).await;
    let receiver = Receiver::start().await;
    let app = server.create_app("Slow then fast").await;
    server
        .create_endpoint(&app, json!({ "url": receiver.url() }))
        .await;
    // Slow at first: 2 at a time, 200 ms each, 10 a second, long enough for the server to
    // learn that pace.
    receiver.set_default(Reply::Slow(Duration::from_millis(200), 200));
    publish_all(&server, &app, 40).await;
    receiver.wait_for(30, WAIT).await;
    // A backlog arrives and is paced at what the endpoint has shown: 500 at 10 a second.
    publish_all(&server, &app, 500).await;
    receiver.wait_for(36, WAIT).await;

    // Recovered: it answers at once. Before, the backlog kept its slow pace (50 s); it must
    // now drain at the endpoint's new speed.
    receiver.set_default(Reply::Status(200));
    receiver.wait_for(540, Duration::from_secs(15)).await;
}

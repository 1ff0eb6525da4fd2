//! Several nodes on one PostgreSQL (DESIGN.md, "Scale-out"): they share the work, a node killed
//! mid-run loses nothing, and what one node accepts the others see at once.
//!
//! They run in the PostgreSQL run (`KANCA_TEST_BACKEND=postgres`) and skip on SQLite.

use crate::common::{
    eventually, runs_on, Backend, Receiver, Reply, ServerOptions, TestDatabase, TestServer,
};
use reqwest::Method;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Nodes of one cluster: the same database and admin token.
fn node_options(db: &TestDatabase, token: &str) -> ServerOptions {
    ServerOptions::default()
        .token(token)
        .env("KANCA_DATABASE_URL", &db.url)
        // Short timeout, so the lease of a killed node's deliveries (2 × timeout + 5 s) runs
        // out within the test.
        .env("KANCA_DELIVERY_TIMEOUT", "2s")
        .env("KANCA_MAX_IN_FLIGHT", "64")
        .retry_schedule("200ms,500ms,1s,2s,5s")
}

#[tokio::test(flavor = "multi_thread")]
async fn three_nodes_deliver_everything_when_one_is_killed() {
    if !runs_on(Backend::Postgres, "several nodes share one database") {
        return;
    }
    let db = TestDatabase::create_on_postgres().await;
    let token = format!("cluster-{}", rand::random::<u64>());
    let a = TestServer::start(node_options(&db, &token)).await;
    let b = TestServer::start(node_options(&db, &token)).await;
    let mut c = TestServer::start(node_options(&db, &token)).await;

    let receiver = Receiver::start().await;
    // A little latency, so the killed node has deliveries in flight.
    receiver.set_default(Reply::Slow(Duration::from_millis(5), 200));
    let app = a.create_app("cluster").await;
    a.create_endpoint(&app, json!({"url": receiver.url()}))
        .await;

    const TOTAL: usize = 5000;
    const PUBLISHERS: usize = 16;
    let nodes = Arc::new([a.base_url().to_owned(), b.base_url().to_owned()]);
    let http = reqwest::Client::new();
    let mut publishers = Vec::new();
    for p in 0..PUBLISHERS {
        let (http, nodes, app, token) = (http.clone(), nodes.clone(), app.clone(), token.clone());
        publishers.push(tokio::spawn(async move {
            for n in (p..TOTAL).step_by(PUBLISHERS) {
                // Publish through both surviving nodes, so "accepted by one, sent by another"
                // happens all the time.
                let node = &nodes[n % 2];
                let resp = http
                    .post(format!("{node}/api/v1/app/{app}/msg"))
                    .bearer_auth(&token)
                    .json(&json!({"eventType": "load.test", "payload": {"n": n}}))
                    .send()
                    .await
                    .expect("publishing");
                assert_eq!(resp.status(), 202);
            }
        }));
    }

    // Kill node C in the middle of the run, with work in flight.
    receiver
        .wait_until("a third of the deliveries", Duration::from_secs(60), |r| {
            r.len() >= TOTAL / 3
        })
        .await;
    c.kill9();
    for p in publishers {
        p.await.expect("a publisher panicked");
    }

    let seen = receiver
        .wait_until(
            "every message at least once",
            Duration::from_secs(120),
            |r| {
                let mut ids = std::collections::HashSet::new();
                r.iter().filter(|q| q.was_accepted()).for_each(|q| {
                    ids.insert(q.webhook_id());
                });
                ids.len() >= TOTAL
            },
        )
        .await;
    let mut counts: HashMap<String, usize> = HashMap::new();
    for r in &seen {
        *counts.entry(r.webhook_id()).or_default() += 1;
    }
    let duplicates: usize = counts.values().map(|n| n - 1).sum();
    println!(
        "scale-out: {TOTAL} messages, 3 nodes, one killed: {} deliveries, {} unique, {duplicates} duplicates",
        seen.len(),
        counts.len()
    );
    assert_eq!(counts.len(), TOTAL);
    // At-least-once: only what the killed node had in flight may arrive twice.
    assert!(
        duplicates <= 64,
        "{duplicates} duplicates, more than node C could have had in flight"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn what_one_node_accepts_another_serves_at_once() {
    if !runs_on(Backend::Postgres, "several nodes share one database") {
        return;
    }
    let db = TestDatabase::create_on_postgres().await;
    let token = format!("cluster-{}", rand::random::<u64>());
    let a = TestServer::start(node_options(&db, &token)).await;
    let b = TestServer::start(node_options(&db, &token)).await;
    let app = a.create_app("visible").await;

    let msg = a
        .publish(&app, json!({"eventType": "a.b", "payload": {"via": "a"}}))
        .await;
    let read = b.get(&format!("/api/v1/app/{app}/msg/{msg}")).await;
    assert_eq!(read["payload"], json!({"via": "a"}));

    // An idempotency key used on node A is honoured on node B.
    let body = json!({"eventType": "a.b", "payload": {"once": true}});
    let first = a
        .request(Method::POST, &format!("/api/v1/app/{app}/msg"))
        .header("idempotency-key", "cross-node-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    let first_status = first.status();
    let first_body = first.text().await.unwrap();
    let second = b
        .request(Method::POST, &format!("/api/v1/app/{app}/msg"))
        .header("idempotency-key", "cross-node-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), first_status);
    assert_eq!(second.text().await.unwrap(), first_body);
    let listed = b.list_all(&format!("/api/v1/app/{app}/msg")).await;
    assert_eq!(listed.len(), 2, "one message per key, plus the first one");
}

#[tokio::test(flavor = "multi_thread")]
async fn api_only_and_worker_only_nodes_split_the_work() {
    if !runs_on(Backend::Postgres, "several nodes share one database") {
        return;
    }
    let db = TestDatabase::create_on_postgres().await;
    let token = format!("cluster-{}", rand::random::<u64>());
    let api = TestServer::start(node_options(&db, &token).env("KANCA_ROLE", "api")).await;
    let worker = TestServer::start(node_options(&db, &token).env("KANCA_ROLE", "worker")).await;
    let receiver = Receiver::start().await;
    let app = api.create_app("roles").await;
    api.create_endpoint(&app, json!({"url": receiver.url()}))
        .await;
    let msg = api
        .publish(&app, json!({"eventType": "a.b", "payload": {}}))
        .await;
    // Only the worker delivers; it is woken through the database, not by polling.
    let got = receiver.wait_for(1, Duration::from_secs(4)).await;
    assert_eq!(got[0].webhook_id(), msg);
    // The worker serves health and metrics, not the management API.
    let (status, _) = worker.call(Method::GET, "/api/v1/app", None).await;
    assert_eq!(status, 404);
    let health = worker
        .http()
        .get(worker.url("/api/v1/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    eventually("the attempt to be recorded", || async {
        let a = api.attempts_for_msg(&app, &msg).await;
        if a.len() == 1 {
            Ok(())
        } else {
            Err(format!("{a:?}"))
        }
    })
    .await;
}

//! Sources, continued: `cron` sources (Kanca sends the payload on the schedule), sources that
//! also publish into an application (`publishToApp`, a Kanca extension), and the console's
//! request page, live log and replay.

use crate::common::*;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Sha256;
use std::time::Duration;

fn github_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn create_source(server: &TestServer, body: Value) -> Value {
    let (status, out) = server
        .call(Method::POST, "/ingest/api/v1/source", Some(&body))
        .await;
    assert_eq!(status, 201, "{out}");
    out
}

async fn add_endpoint(server: &TestServer, source: &str, receiver: &Receiver) {
    server
        .post(
            &format!("/ingest/api/v1/source/{source}/endpoint"),
            &json!({ "url": receiver.url() }),
        )
        .await;
}

async fn post_github(
    server: &TestServer,
    url: &str,
    secret: &str,
    delivery: &str,
    event: &str,
    body: &[u8],
) -> u16 {
    server
        .http()
        .post(url)
        .header("x-hub-signature-256", github_signature(secret, body))
        .header("x-github-delivery", delivery)
        .header("x-github-event", event)
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cron_source_sends_its_payload_on_the_schedule() {
    let server = TestServer::start_default().await;
    let receiver = Receiver::start().await;
    // A leading seconds field (a Kanca extension) keeps the test short: every second.
    let out = create_source(
        &server,
        json!({
            "name": "heartbeat",
            "type": "cron",
            "config": {
                "schedule": "* * * * * *",
                "payload": "{\"ping\":true}",
                "contentType": "application/json; charset=utf-8"
            }
        }),
    )
    .await;
    assert_eq!(out["type"], "cron");
    assert_eq!(
        out["config"],
        json!({
            "schedule": "* * * * * *",
            "payload": "{\"ping\":true}",
            "contentType": "application/json; charset=utf-8"
        }),
        "a cron config holds no secret and is shown whole, as Svix's CronConfig"
    );
    let src = id_of(&out);
    add_endpoint(&server, &src, &receiver).await;

    let got = receiver.wait_for(2, WAIT).await;
    for req in &got[..2] {
        assert_eq!(&req.body[..], b"{\"ping\":true}");
        assert_eq!(
            req.header("content-type"),
            Some("application/json; charset=utf-8")
        );
        assert!(req.header("webhook-signature").is_some());
    }
    assert_ne!(
        got[0].webhook_id(),
        got[1].webhook_id(),
        "each tick is its own message"
    );

    // Each tick is in the source's log, as a `CRON` request of the schedule.
    let log = server
        .get(&format!("/ingest/api/v1/source/{src}/log"))
        .await;
    let first = &log["data"].as_array().unwrap()[0];
    assert_eq!(first["method"], "CRON", "{first}");
    assert_eq!(first["status"], "accepted");

    // Nobody else may post to it.
    let url = out["ingestUrl"].as_str().unwrap();
    let res = server.http().post(url).body("{}").send().await.unwrap();
    assert_eq!(res.status(), 401);

    // Deleting the source stops the schedule.
    server
        .call(
            Method::DELETE,
            &format!("/ingest/api/v1/source/{src}"),
            None,
        )
        .await;
    settle().await;
    let before = receiver.requests().len();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(receiver.requests().len(), before, "no ticks after deletion");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cron_source_with_a_bad_schedule_or_payload_is_refused() {
    let server = TestServer::start_default().await;
    for config in [
        json!({ "payload": "{}" }),
        json!({ "schedule": "every minute", "payload": "{}" }),
        json!({ "schedule": "61 * * * *", "payload": "{}" }),
        json!({ "schedule": "* * * * *" }),
        json!({ "schedule": "* * * * *", "payload": { "not": "a string" } }),
    ] {
        let (status, out) = server
            .call(
                Method::POST,
                "/ingest/api/v1/source",
                Some(&json!({ "name": "c", "type": "cron", "config": config })),
            )
            .await;
        assert_eq!(status, 422, "{config}: {out}");
        assert!(
            out["detail"].to_string().contains("config"),
            "the error names the field: {out}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_can_publish_provider_events_into_an_application() {
    let server = TestServer::start_default().await;
    let app_receiver = Receiver::start().await;
    let source_receiver = Receiver::start().await;
    let app = server
        .post("/api/v1/app", &json!({ "name": "shop", "uid": "shop" }))
        .await;
    let app_id = id_of(&app);
    // The application's endpoint takes only pushes.
    server
        .post(
            &format!("/api/v1/app/{app_id}/endpoint"),
            &json!({ "url": app_receiver.url(), "filterTypes": ["github.push"] }),
        )
        .await;

    // An application that does not exist is refused by name.
    let (status, out) = server
        .call(
            Method::POST,
            "/ingest/api/v1/source",
            Some(&json!({
                "name": "gh", "type": "github", "config": { "secret": "s" },
                "publishToApp": "no-such-app"
            })),
        )
        .await;
    assert_eq!(status, 422, "{out}");

    let secret = "It's a Secret to Everybody";
    let out = create_source(
        &server,
        json!({
            "name": "gh", "type": "github", "config": { "secret": secret },
            "publishToApp": "shop"
        }),
    )
    .await;
    assert_eq!(out["publishToApp"], app_id.as_str());
    let src = id_of(&out);
    add_endpoint(&server, &src, &source_receiver).await;
    let url = out["ingestUrl"].as_str().unwrap();

    let push = br#"{"ref":"refs/heads/main"}"#;
    assert_eq!(
        post_github(&server, url, secret, "d-1", "push", push).await,
        200
    );
    assert_eq!(
        post_github(
            &server,
            url,
            secret,
            "d-2",
            "issues",
            b"{\"action\":\"opened\"}"
        )
        .await,
        200
    );
    // GitHub's retry of the push: neither the source nor the application gets it again.
    assert_eq!(
        post_github(&server, url, secret, "d-1", "push", push).await,
        200
    );

    let got = app_receiver.wait_for(1, WAIT).await;
    assert_eq!(&got[0].body[..], &push[..]);
    source_receiver.wait_for(2, WAIT).await;
    settle().await;
    assert_eq!(
        app_receiver.requests().len(),
        1,
        "only the push matches the filter"
    );
    assert_eq!(
        source_receiver.requests().len(),
        2,
        "the retry is not delivered"
    );

    let msgs = server.get(&format!("/api/v1/app/{app_id}/msg")).await;
    let mut types: Vec<String> = msgs["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["eventType"].as_str().unwrap().to_owned())
        .collect();
    types.sort();
    assert_eq!(types, ["github.issues", "github.push"], "{msgs}");

    // Turning it off: a full update without the field.
    let (status, out) = server
        .call(
            Method::PUT,
            &format!("/ingest/api/v1/source/{src}"),
            Some(&json!({ "name": "gh", "type": "github", "config": { "secret": secret } })),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    assert!(out.get("publishToApp").is_none(), "{out}");
    assert_eq!(
        post_github(&server, url, secret, "d-3", "push", push).await,
        200
    );
    source_receiver.wait_for(3, WAIT).await;
    settle().await;
    assert_eq!(app_receiver.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_a_request_with_its_deliveries_live_and_replays_it() {
    let server = TestServer::start_default().await;
    let receiver = Receiver::start().await;
    let secret = "console-secret";
    let out = create_source(
        &server,
        json!({ "name": "gh", "type": "github", "config": { "secret": secret } }),
    )
    .await;
    let src = id_of(&out);
    add_endpoint(&server, &src, &receiver).await;
    let url = out["ingestUrl"].as_str().unwrap().to_owned();
    let console = Console::sign_in(&server).await;

    // The live log: a stream that carries each new entry's row.
    let mut live = console.stream(&format!("/sources/{src}/live")).await;
    assert_eq!(live.status(), 200);
    let body = br#"{"zen":"Design for failure."}"#;
    assert_eq!(
        post_github(&server, &url, secret, "live-1", "ping", body).await,
        200
    );
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while !seen.contains("live-1") {
        let chunk = tokio::time::timeout_at(deadline, live.chunk())
            .await
            .expect("the new arrival is streamed")
            .unwrap()
            .expect("the stream stays open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("arrival-"), "{seen}");
    receiver.wait_for(1, WAIT).await;

    // The request's page: as it came, and where it went.
    let log = server
        .get(&format!("/ingest/api/v1/source/{src}/log"))
        .await;
    let entry = log["data"][0]["id"]
        .as_str()
        .expect("log entry id")
        .to_owned();
    eventually("the delivery's attempt on the request page", || async {
        let (_, page) = console
            .get(&format!("/sources/{src}/requests/{entry}"))
            .await;
        if page.contains("Attempts") && page.contains(" ms") {
            Ok(())
        } else {
            Err(page)
        }
    })
    .await;
    let (status, page) = console
        .get(&format!("/sources/{src}/requests/{entry}"))
        .await;
    assert_eq!(status, 200);
    for want in [
        "x-github-delivery",
        "live-1",
        "Design for failure.",
        &receiver.url(),
    ] {
        assert!(
            page.contains(want),
            "the request page shows {want}:\n{page}"
        );
    }

    // Replay sends it to the endpoint again.
    let r = console
        .post(&format!("/sources/{src}/requests/{entry}/replay"), &[])
        .await;
    assert_eq!(r.status(), 303);
    let got = receiver.wait_for(2, WAIT).await;
    assert_eq!(&got[1].body[..], &body[..]);

    // Unknown and malformed entries are 404s, not errors.
    for bad in ["999999", "x"] {
        let (status, _) = console.get(&format!("/sources/{src}/requests/{bad}")).await;
        assert_eq!(status, 404, "{bad}");
    }
}

//! Hook security, black-box: the per-hook rate limit (429 with `Retry-After`), IP
//! allow-lists, security incidents (with the token masked), and the temporary block of an
//! address that keeps failing.

use crate::common::*;
use serde_json::{json, Value};

async fn hook_url(server: &TestServer, extra: Value) -> String {
    server.create_channel("general").await;
    let mut body = json!({"channel": "general"});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    server.create_incoming_hook(body).await["url"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Posts `n` messages as fast as possible; returns the answers.
async fn burst(server: &TestServer, url: &str, n: usize) -> Vec<HookAnswer> {
    let mut answers = Vec::new();
    for i in 0..n {
        answers.push(
            server
                .post_hook_json(url, &json!({ "text": format!("m{i}") }))
                .await,
        );
    }
    answers
}

#[tokio::test]
async fn the_default_rate_allows_a_burst_of_ten_then_answers_429() {
    let server = TestServer::start_default().await;
    let url = hook_url(&server, json!({})).await;
    // 1/s with a burst of 10: the first ten pass at once; a quick 30 cannot all pass (that
    // would take 20 s at 1/s).
    let answers = burst(&server, &url, 30).await;
    for a in &answers[..10] {
        a.assert(200, "ok");
    }
    let limited: Vec<&HookAnswer> = answers.iter().filter(|a| a.status == 429).collect();
    assert!(limited.len() >= 15, "{answers:?}");
    for a in &limited {
        a.assert(429, "rate_limited");
        let wait: u64 = a.retry_after.as_deref().unwrap().parse().unwrap();
        assert!((1..=2).contains(&wait), "{a:?}");
    }
    // Refused posts store nothing.
    let stored = server.channel_messages("general").await.len();
    assert_eq!(stored, answers.iter().filter(|a| a.status == 200).count());
}

#[tokio::test]
async fn a_hook_can_set_its_own_rate_and_the_default_is_configurable() {
    let server = TestServer::start(
        ServerOptions::default()
            .env("KANCA_HOOK_RATE_LIMIT", "1")
            .env("KANCA_HOOK_RATE_BURST", "2"),
    )
    .await;
    let default_url = hook_url(&server, json!({})).await;
    let answers = burst(&server, &default_url, 3).await;
    answers[0].assert(200, "ok");
    answers[1].assert(200, "ok");
    answers[2].assert(429, "rate_limited");

    let own = server
        .create_incoming_hook(json!({
            "channel": "general",
            "rateLimit": {"perSecond": 1, "burst": 5}
        }))
        .await;
    assert_eq!(own["rateLimit"], json!({"perSecond": 1, "burst": 5}));
    let answers = burst(&server, own["url"].as_str().unwrap(), 6).await;
    for a in &answers[..5] {
        a.assert(200, "ok");
    }
    answers[5].assert(429, "rate_limited");
}

#[tokio::test]
async fn ip_allow_lists_refuse_and_record_other_addresses() {
    let server = TestServer::start_default().await;
    let refused = hook_url(&server, json!({"allowedIps": ["10.0.0.0/8", "192.0.2.7"]})).await;
    let allowed = server
        .create_incoming_hook(json!({"channel": "general", "allowedIps": ["127.0.0.1/32"]}))
        .await;
    assert_eq!(allowed["allowedIps"], json!(["127.0.0.1/32"]));

    server
        .post_hook_json(&refused, &json!({"text": "from loopback"}))
        .await
        .assert(403, "action_prohibited");
    server
        .post_hook_json(allowed["url"].as_str().unwrap(), &json!({"text": "ok"}))
        .await
        .assert(200, "ok");
    assert_eq!(server.channel_messages("general").await.len(), 1);

    let incidents = server.incidents().await;
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    let incident = &incidents[0];
    assert_eq!(incident["ip"], "127.0.0.1");
    assert!(incident["reason"].as_str().unwrap().contains("allow-list"));
    assert!(incident["at"].is_string());
    // The path names the hook but not its token.
    let token = refused.rsplit('/').next().unwrap();
    let path = incident["path"].as_str().unwrap();
    assert!(path.starts_with("/services/T"), "{path}");
    assert!(!path.contains(token), "the token was stored: {path}");
    assert!(!server.logs().contains(token), "the token was logged");
}

#[tokio::test]
async fn unknown_tokens_are_incidents_and_repeated_failures_block_the_address() {
    let server = TestServer::start(
        ServerOptions::default()
            .env("KANCA_IP_BLOCK_THRESHOLD", "3")
            .env("KANCA_IP_BLOCK_WINDOW", "10m")
            .env("KANCA_IP_BLOCK_DURATION", "10m"),
    )
    .await;
    let good = hook_url(&server, json!({})).await;
    server
        .post_hook_json(&good, &json!({"text": "before"}))
        .await
        .assert(200, "ok");

    let (base, token) = good.rsplit_once('/').unwrap();
    let guess = format!("{base}/{}", "Z".repeat(token.len()));
    for _ in 0..3 {
        server
            .post_hook_json(&guess, &json!({"text": "guess"}))
            .await
            .assert(403, "invalid_token");
    }
    // Blocked now: even the right URL is refused from this address.
    server
        .post_hook_json(&good, &json!({"text": "after"}))
        .await
        .assert(403, "action_prohibited");

    let incidents = server.incidents().await;
    let reasons: Vec<&str> = incidents
        .iter()
        .map(|i| i["reason"].as_str().unwrap())
        .collect();
    // The three wrong tokens are one incident with a count (issue 14: repeats aggregate).
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[0].contains("blocked"), "newest first: {reasons:?}");
    assert!(reasons[1].contains("token"), "{reasons:?}");
    assert_eq!(incidents[1]["hits"], 3, "{incidents:?}");
    for i in &incidents {
        assert!(!i["path"].as_str().unwrap().contains(&"Z".repeat(8)));
    }
    let texts: Vec<Value> = server
        .channel_messages("general")
        .await
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(texts, vec![json!("before")]);

    // Incidents are a management route: admin token required.
    let response = server
        .http()
        .get(server.url("/api/v1/security/incidents"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let (status, _) = server
        .call(
            reqwest::Method::GET,
            "/api/v1/security/incidents?limit=0",
            None,
        )
        .await;
    assert_eq!(status, 422);
}

//! Sources (Svix's Ingest API): a provider's signed request at a source's `ingestUrl` is
//! verified by the provider's scheme, deduplicated by its delivery id, stored, answered 2xx and
//! delivered on to every ingest endpoint with its original body (byte for byte) and headers
//! plus Kanca's Standard Webhooks signature. Forged, expired and replayed requests are refused
//! with 401 and recorded; rotating the token shuts the old URL at once.
//!
//! Signatures are made here with each provider's documented formula (the conformance programs
//! make them with the providers' own libraries).

use crate::common::*;
use base64::{engine::general_purpose::STANDARD, Engine};
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Sha256;

fn hmac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Creates a source; returns `(id, ingestUrl)`.
async fn create_source(server: &TestServer, body: Value) -> (String, String) {
    let (status, out) = server
        .call(Method::POST, "/ingest/api/v1/source", Some(&body))
        .await;
    assert_eq!(status, 201, "{out}");
    let url = out["ingestUrl"].as_str().expect("ingestUrl").to_owned();
    (id_of(&out), url)
}

/// Adds an ingest endpoint pointing at `receiver`; returns `(id, secret)`.
async fn add_endpoint(server: &TestServer, source: &str, receiver: &Receiver) -> (String, String) {
    let ep = server
        .post(
            &format!("/ingest/api/v1/source/{source}/endpoint"),
            &json!({ "url": receiver.url() }),
        )
        .await;
    let id = id_of(&ep);
    let secret = server
        .get(&format!(
            "/ingest/api/v1/source/{source}/endpoint/{id}/secret"
        ))
        .await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    (id, secret)
}

async fn post_to(
    server: &TestServer,
    url: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> (u16, Value) {
    let mut req = server.http().post(url).body(body.to_vec());
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let res = req.send().await.expect("posting to the ingest URL");
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Checks Kanca's Standard Webhooks signature of a delivery under the endpoint's secret.
fn assert_signed_by_kanca(req: &RecordedRequest, secret: &str) {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let id = req.header("webhook-id").expect("webhook-id");
    let ts = req.header("webhook-timestamp").expect("webhook-timestamp");
    let expected = format!(
        "v1,{}",
        STANDARD.encode(hmac(
            &key,
            &[id.as_bytes(), b".", ts.as_bytes(), b".", &req.body]
        ))
    );
    let sigs = req.header("webhook-signature").expect("webhook-signature");
    assert!(
        sigs.split(' ').any(|s| s == expected),
        "Kanca's signature does not verify: {sigs}"
    );
}

async fn log_of(server: &TestServer, source: &str) -> Vec<Value> {
    server
        .get(&format!("/ingest/api/v1/source/{source}/log"))
        .await["data"]
        .as_array()
        .unwrap()
        .clone()
}

fn statuses(log: &[Value]) -> Vec<String> {
    // The log is newest first; read it in arrival order.
    log.iter()
        .rev()
        .map(|e| e["status"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_requests_are_verified_deduplicated_and_delivered_as_sent() {
    let server = TestServer::start_default().await;
    let receiver = Receiver::start().await;
    let secret = "It's a Secret to Everybody";
    let (src, url) = create_source(
        &server,
        json!({ "name": "gh", "type": "github", "config": { "secret": secret } }),
    )
    .await;
    let (_, ep_secret) = add_endpoint(&server, &src, &receiver).await;

    // Spacing and key order that a re-serialisation would change.
    let body = b"{ \"zen\":  \"Keep it logically awesome.\",\n \"hook_id\": 1 }";
    let sig = format!("sha256={}", hex::encode(hmac(secret.as_bytes(), &[body])));
    let headers = [
        ("x-hub-signature-256", sig.clone()),
        (
            "x-github-delivery",
            "72d3162e-cc78-11e3-81ab-4c9367dc0958".into(),
        ),
        ("x-github-event", "ping".into()),
        ("content-type", "application/json".into()),
        ("user-agent", "GitHub-Hookshot/044aadd".into()),
    ];
    let (status, out) = post_to(&server, &url, &headers, body).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["status"], "accepted");

    let got = receiver.wait_for(1, WAIT).await;
    let req = &got[0];
    assert_eq!(
        &req.body[..],
        &body[..],
        "the body must arrive byte for byte"
    );
    assert_eq!(req.header("x-github-event"), Some("ping"));
    assert_eq!(req.header("x-hub-signature-256"), Some(sig.as_str()));
    assert_eq!(
        req.header("x-github-delivery"),
        Some("72d3162e-cc78-11e3-81ab-4c9367dc0958")
    );
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_signed_by_kanca(req, &ep_secret);

    // GitHub redelivers with the same delivery id: answered 2xx, not delivered again.
    let (status, out) = post_to(&server, &url, &headers, body).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["status"], "duplicate");

    // Forged: another secret signed it.
    let forged = format!("sha256={}", hex::encode(hmac(b"guess", &[body])));
    let (status, out) = post_to(
        &server,
        &url,
        &[
            ("x-hub-signature-256", forged),
            ("x-github-delivery", "another".into()),
        ],
        body,
    )
    .await;
    assert_eq!(status, 401, "{out}");
    assert_eq!(out["code"], "verification_failed");
    // No signature at all.
    let (status, _) = post_to(&server, &url, &[], body).await;
    assert_eq!(status, 401);

    settle().await;
    assert_eq!(
        receiver.requests().len(),
        1,
        "only the first request is delivered"
    );
    let log = log_of(&server, &src).await;
    assert_eq!(
        statuses(&log),
        ["accepted", "duplicate", "rejected", "rejected"],
        "{log:#?}"
    );
    assert_eq!(log[1]["reason"], "signature does not match");
    assert_eq!(
        log[0]["path"], "/ingest/…",
        "the token is not kept in the log"
    );
    assert_eq!(log[0]["reason"], "missing X-Hub-Signature-256");
    let incidents = server.get("/api/v1/security/incidents").await;
    assert!(
        incidents.to_string().contains("source request rejected"),
        "a rejected request is a security incident: {incidents}"
    );
    assert!(
        !incidents
            .to_string()
            .contains(url.rsplit('/').next().unwrap()),
        "the ingest token must not be recorded: {incidents}"
    );
}

fn stripe_header(secret: &str, t: i64, body: &[u8]) -> String {
    let sig = hex::encode(hmac(
        secret.as_bytes(),
        &[t.to_string().as_bytes(), b".", body],
    ));
    format!("t={t},v1={sig}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_requests_are_checked_for_signature_age_and_event_id() {
    let server = TestServer::start_default().await;
    let receiver = Receiver::start().await;
    let secret = "whsec_stripe_test_0123456789";
    let (src, url) = create_source(
        &server,
        json!({ "name": "stripe", "type": "stripe", "config": { "secret": secret } }),
    )
    .await;
    add_endpoint(&server, &src, &receiver).await;
    let body = br#"{"id":"evt_1","object":"event","type":"invoice.paid"}"#;

    let valid = stripe_header(secret, now(), body);
    let (status, out) = post_to(&server, &url, &[("stripe-signature", valid)], body).await;
    assert_eq!((status, out["status"].clone()), (200, json!("accepted")));

    // Stripe retries the same event with a fresh signature: a duplicate by its `id`.
    let retry = stripe_header(secret, now(), body);
    let (status, out) = post_to(&server, &url, &[("stripe-signature", retry)], body).await;
    assert_eq!((status, out["status"].clone()), (200, json!("duplicate")));

    // Expired: signed six minutes ago (a replay of a captured request).
    let old = stripe_header(secret, now() - 360, br#"{"id":"evt_2"}"#);
    let (status, out) = post_to(
        &server,
        &url,
        &[("stripe-signature", old)],
        br#"{"id":"evt_2"}"#,
    )
    .await;
    assert_eq!(status, 401, "{out}");
    assert!(out["detail"].as_str().unwrap().contains("too old"), "{out}");

    // Forged: signed with the secret minus its `whsec_` prefix (the whole string is the key).
    let forged = stripe_header("stripe_test_0123456789", now(), br#"{"id":"evt_3"}"#);
    let (status, _) = post_to(
        &server,
        &url,
        &[("stripe-signature", forged)],
        br#"{"id":"evt_3"}"#,
    )
    .await;
    assert_eq!(status, 401);

    settle().await;
    let got = receiver.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(&got[0].body[..], &body[..]);
    assert!(got[0].header("stripe-signature").is_some());
    assert_eq!(
        statuses(&log_of(&server, &src).await),
        ["accepted", "duplicate", "rejected", "rejected"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_shopify_and_standard_webhooks_sources_verify_their_schemes() {
    let server = TestServer::start_default().await;
    let receiver = Receiver::start().await;

    // Slack v0: a form body, kept as form.
    let slack_secret = "8f742231b10e8888abcd99yyyzzz85a5";
    let (slack, slack_url) = create_source(
        &server,
        json!({ "name": "slack", "type": "slack", "config": { "secret": slack_secret } }),
    )
    .await;
    add_endpoint(&server, &slack, &receiver).await;
    let form = b"token=x&team_id=T1&text=hello+world";
    let slack_sig = |ts: i64, body: &[u8]| {
        format!(
            "v0={}",
            hex::encode(hmac(
                slack_secret.as_bytes(),
                &[b"v0:", ts.to_string().as_bytes(), b":", body]
            ))
        )
    };
    let ts = now();
    let (status, out) = post_to(
        &server,
        &slack_url,
        &[
            ("x-slack-request-timestamp", ts.to_string()),
            ("x-slack-signature", slack_sig(ts, form)),
            (
                "content-type",
                "application/x-www-form-urlencoded".to_owned(),
            ),
        ],
        form,
    )
    .await;
    assert_eq!(status, 200, "{out}");
    let got = receiver.wait_for(1, WAIT).await;
    assert_eq!(&got[0].body[..], &form[..]);
    assert_eq!(
        got[0].header("content-type"),
        Some("application/x-www-form-urlencoded"),
        "the provider's content type is passed on"
    );
    let old = now() - 400;
    let (status, _) = post_to(
        &server,
        &slack_url,
        &[
            ("x-slack-request-timestamp", old.to_string()),
            ("x-slack-signature", slack_sig(old, form)),
        ],
        form,
    )
    .await;
    assert_eq!(status, 401, "an expired Slack request is refused");
    let (status, _) = post_to(
        &server,
        &slack_url,
        &[
            ("x-slack-request-timestamp", ts.to_string()),
            ("x-slack-signature", slack_sig(ts, b"token=x&text=changed")),
        ],
        form,
    )
    .await;
    assert_eq!(status, 401, "a forged Slack request is refused");

    // Slack's url_verification handshake is answered with its challenge, not delivered.
    let hello = br#"{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let (status, out) = post_to(
        &server,
        &slack_url,
        &[
            ("x-slack-request-timestamp", ts.to_string()),
            ("x-slack-signature", slack_sig(ts, hello)),
        ],
        hello,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        out["challenge"],
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );

    // Shopify: base64 of the body's HMAC; the webhook id dedupes.
    let (shop, shop_url) = create_source(
        &server,
        json!({ "name": "shop", "type": "shopify", "config": { "secret": "shpss_1" } }),
    )
    .await;
    add_endpoint(&server, &shop, &receiver).await;
    let order = br#"{"id":820982911946154508,"email":"jon@example.com"}"#;
    let shop_headers = [
        (
            "x-shopify-hmac-sha256",
            STANDARD.encode(hmac(b"shpss_1", &[order])),
        ),
        ("x-shopify-webhook-id", "b54557e4".to_owned()),
        ("x-shopify-topic", "orders/create".to_owned()),
    ];
    assert_eq!(
        post_to(&server, &shop_url, &shop_headers, order).await.0,
        200
    );
    let (status, out) = post_to(&server, &shop_url, &shop_headers, order).await;
    assert_eq!((status, out["status"].clone()), (200, json!("duplicate")));
    let forged = [(
        "x-shopify-hmac-sha256",
        STANDARD.encode(hmac(b"shpss_2", &[order])),
    )];
    assert_eq!(post_to(&server, &shop_url, &forged, order).await.0, 401);
    let got = receiver.wait_for(2, WAIT).await;
    assert_eq!(got[1].header("x-shopify-topic"), Some("orders/create"));

    // Clerk signs as Svix does (Standard Webhooks).
    let key = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let (clerk, clerk_url) = create_source(
        &server,
        json!({ "name": "clerk", "type": "clerk", "config": { "secret": key } }),
    )
    .await;
    add_endpoint(&server, &clerk, &receiver).await;
    let raw_key = STANDARD.decode(&key[6..]).unwrap();
    let sw = |id: &str, ts: i64, body: &[u8]| {
        let sig = STANDARD.encode(hmac(
            &raw_key,
            &[id.as_bytes(), b".", ts.to_string().as_bytes(), b".", body],
        ));
        vec![
            ("svix-id", id.to_owned()),
            ("svix-timestamp", ts.to_string()),
            ("svix-signature", format!("v1,{sig}")),
        ]
    };
    let user = br#"{"type":"user.created","data":{"id":"user_1"}}"#;
    let (status, out) = post_to(&server, &clerk_url, &sw("msg_1", now(), user), user).await;
    assert_eq!((status, out["status"].clone()), (200, json!("accepted")));
    let (status, out) = post_to(&server, &clerk_url, &sw("msg_1", now(), user), user).await;
    assert_eq!((status, out["status"].clone()), (200, json!("duplicate")));
    let (status, _) = post_to(&server, &clerk_url, &sw("msg_2", now() - 301, user), user).await;
    assert_eq!(
        status, 401,
        "an expired Standard Webhooks request is refused"
    );
    let mut forged = sw("msg_3", now(), user);
    forged[2].1 = format!("v1,{}", STANDARD.encode([0u8; 32]));
    assert_eq!(post_to(&server, &clerk_url, &forged, user).await.0, 401);

    let got = receiver.wait_for(3, WAIT).await;
    assert_eq!(&got[2].body[..], &user[..]);
    settle().await;
    assert_eq!(
        receiver.requests().len(),
        3,
        "one delivery per accepted request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_that_is_down_gets_the_request_when_it_returns() {
    let server = TestServer::start_default().await;
    let receiver = Receiver::start().await;
    // Down for the first two attempts, then back.
    receiver.reply_with([Reply::Status(503), Reply::Status(502)]);
    receiver.set_default(Reply::Status(200));
    let (src, url) = create_source(
        &server,
        json!({ "name": "generic", "type": "generic-webhook" }),
    )
    .await;
    add_endpoint(&server, &src, &receiver).await;
    let second = Receiver::start().await;
    add_endpoint(&server, &src, &second).await;

    let body = b"plain text, not JSON \xe2\x9c\x93";
    let (status, out) = post_to(
        &server,
        &url,
        &[("content-type", "text/plain; charset=utf-8".into())],
        body,
    )
    .await;
    assert_eq!(
        status, 200,
        "the provider never waits for a destination: {out}"
    );

    let got = receiver.wait_for(3, WAIT).await;
    assert_eq!(
        got.iter()
            .map(|r| r.reply.status_code())
            .collect::<Vec<_>>(),
        [Some(503), Some(502), Some(200)]
    );
    for r in &got {
        assert_eq!(&r.body[..], &body[..]);
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    }
    let other = second.wait_for(1, WAIT).await;
    assert_eq!(&other[0].body[..], &body[..]);
    settle().await;
    assert_eq!(receiver.requests().len(), 3);
    assert_eq!(second.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_the_token_shuts_the_old_url_at_once() {
    let server = TestServer::start_default().await;
    let receiver = Receiver::start().await;
    let (src, old_url) = create_source(
        &server,
        json!({ "name": "g", "uid": "my-source", "type": "generic-webhook" }),
    )
    .await;
    add_endpoint(&server, &src, &receiver).await;
    assert_eq!(post_to(&server, &old_url, &[], b"{}").await.0, 200);

    let rotated = server
        .post("/ingest/api/v1/source/my-source/token/rotate", &json!({}))
        .await;
    let new_url = rotated["ingestUrl"].as_str().unwrap().to_owned();
    assert_ne!(new_url, old_url);
    let (status, out) = post_to(&server, &old_url, &[], b"{}").await;
    assert_eq!(status, 404, "{out}");
    assert_eq!(post_to(&server, &new_url, &[], b"{}").await.0, 200);
    assert_eq!(
        server.get(&format!("/ingest/api/v1/source/{src}")).await["ingestUrl"],
        json!(new_url)
    );
    receiver.wait_for(2, WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_and_their_endpoints_are_managed_as_the_sdks_expect() {
    let server = TestServer::start_default().await;
    let (src, _) = create_source(
        &server,
        json!({
            "name": "Payments", "uid": "payments", "type": "stripe",
            "config": { "secret": "whsec_abc" }, "metadata": { "team": "billing" }
        }),
    )
    .await;
    let got = server.get("/ingest/api/v1/source/payments").await;
    assert_eq!(got["id"], json!(src));
    assert_eq!(got["type"], "stripe");
    assert_eq!(got["config"], json!({}), "the secret is never answered");
    assert_eq!(got["metadata"]["team"], "billing");
    assert!(got["createdAt"].is_string() && got["updatedAt"].is_string());

    // Upsert: an update of the existing one, a create under a new uid.
    let (status, updated) = server
        .call(
            Method::PUT,
            "/ingest/api/v1/source/payments",
            Some(&json!({ "name": "Payments 2", "type": "generic-webhook" })),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["name"], "Payments 2");
    assert_eq!(updated["uid"], "payments");
    assert!(updated.get("config").is_none(), "{updated}");
    let (status, _) = server
        .call(
            Method::PUT,
            "/ingest/api/v1/source/other",
            Some(&json!({ "name": "Other", "type": "generic-webhook" })),
        )
        .await;
    assert_eq!(status, 201);
    let listed = server.get("/ingest/api/v1/source?limit=1").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert_eq!(listed["done"], false);
    // Sources' applications are internal: the application list does not show them.
    let apps = server.get("/api/v1/app").await;
    assert!(
        apps["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| !a["name"].as_str().unwrap().starts_with("Source")),
        "{apps}"
    );

    // Endpoints: create, get, list, upsert, headers, secret and its rotation, delete.
    let base = "/ingest/api/v1/source/payments/endpoint";
    let ep = server
        .post(
            base,
            &json!({ "url": "https://example.com/hook", "uid": "ep-one", "throttleRate": 5,
                     "metadata": { "a": "b" }, "headers": { "x-extra": "1" } }),
        )
        .await;
    assert_eq!(ep["throttleRate"], 5);
    assert_eq!(ep["disabled"], false);
    let ep_id = id_of(&ep);
    assert_eq!(
        server.get(&format!("{base}/ep-one")).await["id"],
        json!(ep_id)
    );
    assert_eq!(server.get(base).await["data"].as_array().unwrap().len(), 1);
    let (status, up) = server
        .call(
            Method::PUT,
            &format!("{base}/ep-one"),
            Some(&json!({ "url": "https://example.com/other", "disabled": true })),
        )
        .await;
    assert_eq!(status, 200, "{up}");
    assert_eq!(up["url"], "https://example.com/other");
    assert_eq!(up["uid"], "ep-one");
    let headers = server.get(&format!("{base}/{ep_id}/headers")).await;
    assert_eq!(headers["headers"], json!({ "x-extra": "1" }));
    let (status, _) = server
        .call(
            Method::PUT,
            &format!("{base}/{ep_id}/headers"),
            Some(&json!({ "headers": { "x-other": "2" } })),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        server.get(&format!("{base}/{ep_id}/headers")).await["headers"],
        json!({ "x-other": "2" })
    );
    let before = server.get(&format!("{base}/{ep_id}/secret")).await["key"].clone();
    let (status, _) = server
        .call(Method::POST, &format!("{base}/{ep_id}/secret/rotate"), None)
        .await;
    assert_eq!(status, 204);
    let after = server.get(&format!("{base}/{ep_id}/secret")).await["key"].clone();
    assert_ne!(before, after);
    let (status, _) = server
        .call(Method::DELETE, &format!("{base}/{ep_id}"), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = server
        .call(Method::GET, &format!("{base}/{ep_id}"), None)
        .await;
    assert_eq!(status, 404);

    let (status, _) = server
        .call(Method::DELETE, "/ingest/api/v1/source/payments", None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = server
        .call(Method::GET, &format!("/ingest/api/v1/source/{src}"), None)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_answers() {
    let server = TestServer::start_default().await;
    let post = |body: Value| {
        server
            .request(Method::POST, "/ingest/api/v1/source")
            .json(&body)
            .send()
    };
    let res = post(json!({ "name": "z", "type": "zoom", "config": { "secret": "x" } }))
        .await
        .unwrap();
    let body = expect_error(res, 422, "validation", "an SDK-listed type Kanca lacks").await;
    assert!(error_detail(&body).contains("not supported yet"), "{body}");
    let res = post(json!({ "name": "x", "type": "no-such-type" }))
        .await
        .unwrap();
    expect_error(res, 422, "validation", "an unknown type").await;
    let res = post(json!({ "name": "gh", "type": "github" }))
        .await
        .unwrap();
    let body = expect_error(res, 422, "validation", "github without a secret").await;
    assert!(error_detail(&body).contains("config.secret"), "{body}");
    let res = post(json!({ "name": "s", "type": "svix", "config": { "secret": "not base64!" } }))
        .await
        .unwrap();
    expect_error(res, 422, "validation", "a svix secret that is not whsec_").await;
    let res = post(json!({ "name": "s", "type": "stripe", "config": { "secret": 7 } }))
        .await
        .unwrap();
    expect_error(res, 422, "validation", "a secret that is not a string").await;
    let res = post(json!({ "name": "", "type": "generic-webhook" }))
        .await
        .unwrap();
    expect_error(res, 422, "validation", "an empty name").await;
    let res = post(json!({ "name": "u", "uid": "src_x", "type": "generic-webhook" }))
        .await
        .unwrap();
    expect_error(res, 422, "validation", "a uid that looks like an id").await;
    let res = server
        .request(Method::POST, "/ingest/api/v1/source")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    expect_error(res, 400, "invalid_json", "malformed JSON").await;
    let res = server
        .http()
        .get(server.url("/ingest/api/v1/source"))
        .send()
        .await
        .unwrap();
    expect_error(res, 401, "authentication_failed", "no token").await;
    let res = server
        .request(
            Method::GET,
            "/ingest/api/v1/source/src_2abcdefghijklmnopqrstuvwxyz",
        )
        .send()
        .await
        .unwrap();
    expect_error(res, 404, "not_found", "an unknown source").await;

    create_source(
        &server,
        json!({ "name": "dup", "uid": "dup", "type": "generic-webhook" }),
    )
    .await;
    let res = post(json!({ "name": "dup", "uid": "dup", "type": "generic-webhook" }))
        .await
        .unwrap();
    expect_error(res, 409, "conflict", "a taken uid").await;
    let res = server
        .request(Method::POST, "/ingest/api/v1/source/dup/endpoint")
        .json(&json!({ "url": "https://example.com", "filterTypes": ["a.b"] }))
        .send()
        .await
        .unwrap();
    expect_error(res, 422, "validation", "filters on an ingest endpoint").await;
    let res = server
        .request(Method::POST, "/ingest/api/v1/source/dup/endpoint")
        .json(&json!({ "url": "not a url" }))
        .send()
        .await
        .unwrap();
    expect_error(res, 422, "validation", "a bad endpoint URL").await;

    // An ingest URL that never existed.
    let res = server
        .http()
        .post(server.url(&format!("/ingest/{}", "0".repeat(48))))
        .body("{}")
        .send()
        .await
        .unwrap();
    expect_error(res, 404, "not_found", "an unknown ingest URL").await;
    let res = server
        .http()
        .post(server.url("/ingest/short"))
        .body("{}")
        .send()
        .await
        .unwrap();
    expect_error(res, 404, "not_found", "a malformed ingest URL").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_request_survives_kill_9() {
    let mut server = TestServer::start_default().await;
    let receiver = Receiver::start().await;
    // The first delivery hangs: the server is killed while it is in flight.
    receiver.reply_with([Reply::Hang]);
    receiver.set_default(Reply::Status(200));
    let (src, url) =
        create_source(&server, json!({ "name": "g", "type": "generic-webhook" })).await;
    add_endpoint(&server, &src, &receiver).await;
    let (status, _) = post_to(&server, &url, &[], br#"{"n":1}"#).await;
    assert_eq!(status, 200);
    receiver.wait_for(1, WAIT).await;
    server.kill9();
    server.restart().await;
    // The port changes with the restart; the token does not.
    let url = server.get(&format!("/ingest/api/v1/source/{src}")).await["ingestUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(post_to(&server, &url, &[], br#"{"n":2}"#).await.0, 200);
    receiver
        .wait_until("both requests delivered", WAIT, |reqs| {
            let ok: Vec<_> = reqs.iter().filter(|r| r.was_accepted()).collect();
            ok.iter().any(|r| &r.body[..] == br#"{"n":1}"#)
                && ok.iter().any(|r| &r.body[..] == br#"{"n":2}"#)
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_creates_a_source_and_shows_what_arrived() {
    let server = TestServer::start_default().await;
    let receiver = Receiver::start().await;
    let console = Console::sign_in(&server).await;

    // A type that needs a secret, without one: the form comes back with the reason.
    let (status, page) = console
        .post_page(
            "/sources",
            &[("name", "GH"), ("type", "github"), ("secret", "")],
        )
        .await;
    assert_eq!(status, 422);
    assert!(page.contains("needs config.secret"), "{page}");

    let r = console
        .post(
            "/sources",
            &[("name", "GH"), ("type", "github"), ("secret", "s3cret")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let page_path = Console::location(&r);
    let r = console
        .post(
            &format!("{page_path}/endpoints"),
            &[("url", &receiver.url())],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (status, page) = console.get(&page_path).await;
    assert_eq!(status, 200);
    assert!(page.contains(&receiver.url()), "the endpoint is listed");
    let src = page_path.rsplit('/').next().unwrap();
    let url = server.get(&format!("/ingest/api/v1/source/{src}")).await["ingestUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(page.contains(&url), "the ingest URL is shown to copy");

    let body = b"{\"a\":1}";
    let sig = format!("sha256={}", hex::encode(hmac(b"s3cret", &[body])));
    let ok = [
        ("x-hub-signature-256", sig),
        ("x-github-delivery", "d1".into()),
    ];
    assert_eq!(post_to(&server, &url, &ok, body).await.0, 200);
    assert_eq!(post_to(&server, &url, &ok, body).await.0, 200);
    assert_eq!(post_to(&server, &url, &[], body).await.0, 401);
    // A body that is not UTF-8 cannot be kept as a message: 415, and logged.
    let bytes = [0xff, 0xfe, 0x00];
    let sig = format!("sha256={}", hex::encode(hmac(b"s3cret", &[&bytes])));
    let (status, out) = post_to(
        &server,
        &url,
        &[
            ("x-hub-signature-256", sig),
            ("x-github-delivery", "d2".into()),
        ],
        &bytes,
    )
    .await;
    assert_eq!(status, 415, "{out}");
    // Nor can one with a NUL byte (PostgreSQL text cannot hold it): the same on both backends.
    let nul = b"{\"a\":\"\0\"}";
    let sig = format!("sha256={}", hex::encode(hmac(b"s3cret", &[nul])));
    let (status, out) = post_to(
        &server,
        &url,
        &[
            ("x-hub-signature-256", sig),
            ("x-github-delivery", "d3".into()),
        ],
        nul,
    )
    .await;
    assert_eq!(status, 415, "{out}");
    receiver.wait_for(1, WAIT).await;

    let (_, page) = console.get(&page_path).await;
    for word in [
        "accepted",
        "duplicate",
        "rejected",
        "missing X-Hub-Signature-256",
        "body is not UTF-8 text",
    ] {
        assert!(page.contains(word), "the arrivals show `{word}`:\n{page}");
    }
    let (_, list) = console.get("/sources").await;
    assert!(list.contains(&url), "{list}");

    // Rotating from the console shuts the old URL.
    let r = console.post(&format!("{page_path}/rotate"), &[]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(post_to(&server, &url, &[], body).await.0, 404);
    let r = console.post(&format!("{page_path}/delete"), &[]).await;
    assert_eq!(r.status(), 303);
    let (status, _) = console.get(&page_path).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kanca_listen_forwards_what_a_source_accepts() {
    let server = TestServer::start_default().await;
    let secret = "listen-secret";
    let (src, url) = create_source(
        &server,
        json!({ "name": "gh", "uid": "gh-listen", "type": "github", "config": { "secret": secret } }),
    )
    .await;
    let port = free_port();
    let app = LocalApp::start_on(port).await;
    let mut listen = ListenProcess::start(
        &server,
        &format!("http://127.0.0.1:{port}/github"),
        &["--source", "gh-listen"],
    )
    .await;
    eventually("kanca listen prints the source's URL", || async {
        let out = listen.output();
        if out.contains(&format!("Source URL: {url}")) {
            Ok(())
        } else {
            Err(out)
        }
    })
    .await;

    let body = br#"{"ref":"refs/heads/main"}"#;
    let sig = format!("sha256={}", hex::encode(hmac(secret.as_bytes(), &[body])));
    let headers = [
        ("x-hub-signature-256", sig),
        ("x-github-event", "push".to_owned()),
        ("x-github-delivery", "listen-1".to_owned()),
    ];
    assert_eq!(post_to(&server, &url, &headers, body).await.0, 200);
    assert_eq!(post_to(&server, &url, &[], body).await.0, 401, "forged");
    let got = app.wait_for(1).await;
    assert_eq!(got[0].uri, "/github");
    assert_eq!(&got[0].body[..], &body[..]);
    assert!(got[0]
        .headers
        .iter()
        .any(|(k, v)| k == "x-github-event" && v == "push"));
    settle().await;
    assert_eq!(
        app.requests().len(),
        1,
        "the forged request is not forwarded"
    );

    listen.signal("INT").await;
    let endpoints = server
        .get(&format!("/ingest/api/v1/source/{src}/endpoint"))
        .await;
    assert_eq!(
        endpoints["data"],
        json!([]),
        "the endpoint is removed on exit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_ingest_urls_gets_the_address_blocked() {
    let server =
        TestServer::start(ServerOptions::default().env("KANCA_IP_BLOCK_THRESHOLD", "3")).await;
    let (_, url) = create_source(&server, json!({ "name": "g", "type": "generic-webhook" })).await;
    assert_eq!(post_to(&server, &url, &[], b"{}").await.0, 200);
    for i in 0..3 {
        let guess = server.url(&format!("/ingest/{:048x}", i));
        assert_eq!(post_to(&server, &guess, &[], b"{}").await.0, 404);
    }
    // Blocked now: even the real URL is not looked up for this address.
    assert_eq!(post_to(&server, &url, &[], b"{}").await.0, 404);
    let incidents = server.get("/api/v1/security/incidents").await.to_string();
    assert!(incidents.contains("unknown ingest URL"), "{incidents}");
    assert!(
        incidents.contains("address blocked from ingest URLs"),
        "{incidents}"
    );
}

/// The README's screenshot of a source's page (ignored by default: it writes
/// `docs/console-sources.png`; run with `cargo test --test it sources::screenshot -- --ignored`).
#[tokio::test]
#[ignore = "writes the README's screenshot to docs/; run with --ignored"]
async fn screenshot_of_a_source_page() {
    let server = TestServer::start_default().await;
    let receiver = Receiver::start().await;
    let secret = "It's a Secret to Everybody";
    let (src, url) = create_source(
        &server,
        json!({ "name": "GitHub (acme/api)", "uid": "github", "type": "github", "config": { "secret": secret } }),
    )
    .await;
    add_endpoint(&server, &src, &receiver).await;
    let body = br#"{"ref":"refs/heads/main","repository":{"full_name":"acme/api"}}"#;
    let sig = format!("sha256={}", hex::encode(hmac(secret.as_bytes(), &[body])));
    let ok = [
        ("x-hub-signature-256", sig),
        ("x-github-event", "push".to_owned()),
        (
            "x-github-delivery",
            "9f2c1a70-8f1e-11ef-8e5c-2b1a3c4d5e6f".to_owned(),
        ),
    ];
    post_to(&server, &url, &ok, body).await;
    post_to(&server, &url, &ok, body).await;
    let forged = [("x-hub-signature-256", format!("sha256={}", "0".repeat(64)))];
    post_to(&server, &url, &forged, body).await;
    receiver.wait_for(1, WAIT).await;

    let Some(browser) = Browser::start_sized(1280, 1000).await else {
        return;
    };
    browser.sign_in(&server).await;
    browser.goto(&server.url(&format!("/sources/{src}"))).await;
    browser.wait_for("table").await;
    let path =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/console-sources.png");
    browser.screenshot(&path).await;
    browser.close().await;
}

/// The store keeps the newest entries of a source's log when pruned, on SQLite and (when
/// `KANCA_TEST_DATABASE_URL` is set) PostgreSQL.
#[tokio::test]
async fn the_log_is_pruned_to_its_newest_entries() {
    use kanca::domain::sources::*;
    use kanca::store::{connect, PageRequest, StoreOptions};
    let dir = tempfile::tempdir().unwrap();
    let mut urls = vec![format!("sqlite://{}/kanca.db", dir.path().display())];
    let pg = match postgres_url() {
        Some(_) => Some(TestDatabase::create_on_postgres().await),
        None => None,
    };
    if let Some(db) = &pg {
        urls.push(db.url.clone());
    }
    for url in urls {
        let store = connect(&url, "n", &StoreOptions::default()).await.unwrap();
        let fields = SourceFields {
            uid: None,
            name: "s".into(),
            kind: SourceKind::GenericWebhook,
            metadata: Default::default(),
            publish_to: None,
        };
        let source = store
            .create_source(fields, &IngestToken::generate())
            .await
            .unwrap();
        for i in 0..5 {
            let arrival = Arrival {
                id: 0,
                source_id: source.id.clone(),
                received_at: chrono::Utc::now(),
                request: ReceivedRequest {
                    method: "POST".into(),
                    path: format!("/{i}"),
                    headers: vec![],
                },
                body_preview: String::new(),
                outcome: ArrivalOutcome::Accepted,
                reason: None,
                dedupe_id: None,
                msg_id: None,
            };
            store.record_arrival(&arrival).await.unwrap();
        }
        assert_eq!(
            store.prune_arrivals(&source.id, 2).await.unwrap(),
            3,
            "{url}"
        );
        assert_eq!(
            store.prune_arrivals(&source.id, 2).await.unwrap(),
            0,
            "{url}"
        );
        let page = PageRequest {
            limit: 10,
            iterator: None,
            ascending: false,
        };
        let left: Vec<String> = store
            .list_arrivals(&source.id, &page)
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.request.path)
            .collect();
        assert_eq!(left, ["/4", "/3"], "{url}");
        store.close().await;
    }
}

//! The delivery rules beyond plain retries (DESIGN.md, "Delivery rules"): Retry-After, 410
//! Gone, throttling, per-endpoint in-flight caps, resend, recover, custom headers, operational
//! webhooks, metrics, and logs that keep secrets out.

use crate::common::{self, eventually, id_of, Receiver, Reply, ServerOptions, TestServer, WAIT};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;
use svix::webhooks::Webhook;

/// An app with one endpoint (extra endpoint fields merged in); returns (app id, endpoint id).
async fn app_with_endpoint(
    server: &TestServer,
    receiver: &Receiver,
    extra: Value,
) -> (String, String) {
    let app = server.create_app("reliability").await;
    let mut body = json!({"url": receiver.url()});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    let ep = server.create_endpoint(&app, body).await;
    (app, ep)
}

/// The per-endpoint status of a message (`/msg/{id}/endpoint`), once it has at least one
/// recorded attempt.
async fn destination_after_attempt(server: &TestServer, app: &str, msg: &str) -> Value {
    eventually("an attempt to be recorded", || async {
        let attempts = server.attempts_for_msg(app, msg).await;
        if attempts.is_empty() {
            return Err("no attempt yet".into());
        }
        Ok(server.delivery_statuses(app, msg).await.remove(0))
    })
    .await
}

/// Seconds from the last attempt of `msg` to its next scheduled attempt.
async fn wait_before_next_attempt(server: &TestServer, app: &str, msg: &str) -> i64 {
    let dest = destination_after_attempt(server, app, msg).await;
    let attempts = server.attempts_for_msg(app, msg).await;
    // Oldest first: the last attempt is at the end.
    let last = chrono::DateTime::parse_from_rfc3339(
        attempts.last().unwrap()["timestamp"].as_str().unwrap(),
    )
    .unwrap();
    let next = chrono::DateTime::parse_from_rfc3339(
        dest["nextAttempt"]
            .as_str()
            .unwrap_or_else(|| panic!("a retry should be scheduled: {dest}")),
    )
    .unwrap();
    (next - last).num_seconds()
}

fn retry_after(status: u16, value: &str) -> Reply {
    Reply::WithHeaders(status, vec![("retry-after".into(), value.into())])
}

#[tokio::test]
async fn retry_after_on_503_sets_the_next_attempt() {
    let server = TestServer::start(ServerOptions::default().retry_schedule("1h")).await;
    let receiver = Receiver::start().await;
    receiver.reply_with([retry_after(503, "1")]);
    let (app, _) = app_with_endpoint(&server, &receiver, json!({})).await;
    let msg = server
        .publish(&app, json!({"eventType": "a.b", "payload": {"n": 1}}))
        .await;
    // The schedule says an hour; the endpoint asked for a second, and gets it.
    let requests = receiver.wait_for(2, WAIT).await;
    assert!(requests[1].was_accepted());
    let statuses = server.wait_until_settled(&app, &msg).await;
    assert_eq!(statuses[0]["statusText"], "success");
}

#[tokio::test]
async fn retry_after_is_capped_at_a_day_and_cannot_shorten_a_429() {
    let server = TestServer::start(ServerOptions::default().retry_schedule("1m")).await;
    let receiver = Receiver::start().await;
    receiver.reply_with([retry_after(503, "99999999")]);
    let (app, _) = app_with_endpoint(&server, &receiver, json!({})).await;
    let msg = server
        .publish(&app, json!({"eventType": "a.b", "payload": {}}))
        .await;
    let wait = wait_before_next_attempt(&server, &app, &msg).await;
    assert!(
        (86_390..=86_410).contains(&wait),
        "capped at 24 h, got {wait} s"
    );

    // A 429 asking for one second still waits the schedule's minute (±20 % jitter).
    let receiver2 = Receiver::start().await;
    receiver2.reply_with([retry_after(429, "1")]);
    let (app2, _) = app_with_endpoint(&server, &receiver2, json!({})).await;
    let msg2 = server
        .publish(&app2, json!({"eventType": "a.b", "payload": {}}))
        .await;
    let wait = wait_before_next_attempt(&server, &app2, &msg2).await;
    assert!(
        (47..=73).contains(&wait),
        "a 429 waits the schedule, got {wait} s"
    );

    // An HTTP date works too.
    let receiver3 = Receiver::start().await;
    let in_two_hours =
        httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(7200));
    receiver3.reply_with([retry_after(503, &in_two_hours)]);
    let (app3, _) = app_with_endpoint(&server, &receiver3, json!({})).await;
    let msg3 = server
        .publish(&app3, json!({"eventType": "a.b", "payload": {}}))
        .await;
    let wait = wait_before_next_attempt(&server, &app3, &msg3).await;
    assert!(
        (7_190..=7_201).contains(&wait),
        "the date's wait, got {wait} s"
    );
}

#[tokio::test]
async fn gone_disables_the_endpoint_at_once() {
    let server = TestServer::start(ServerOptions::default().retry_schedule("100ms,100ms")).await;
    let receiver = Receiver::start().await;
    receiver.set_default(Reply::Status(410));
    let (app, ep) = app_with_endpoint(&server, &receiver, json!({})).await;
    let msg = server
        .publish(&app, json!({"eventType": "a.b", "payload": {}}))
        .await;
    let statuses = server.wait_until_settled(&app, &msg).await;
    assert_eq!(statuses[0]["statusText"], "fail");
    assert_eq!(
        server.attempts_for_msg(&app, &msg).await.len(),
        1,
        "no retries after 410"
    );
    let endpoint = server
        .get(&format!("/api/v1/app/{app}/endpoint/{ep}"))
        .await;
    assert_eq!(endpoint["disabled"], true);
    // A disabled endpoint gets nothing more.
    server
        .publish(&app, json!({"eventType": "a.b", "payload": {}}))
        .await;
    common::settle().await;
    assert_eq!(receiver.requests().len(), 1);
}

#[tokio::test]
async fn throttle_rate_holds_the_endpoint_to_its_rate() {
    let server = TestServer::start_default().await;
    let receiver = Receiver::start().await;
    let (app, _) = app_with_endpoint(&server, &receiver, json!({"throttleRate": 10})).await;
    let total = 30;
    for n in 0..total {
        server
            .publish(&app, json!({"eventType": "a.b", "payload": {"n": n}}))
            .await;
    }
    let all = receiver.wait_for(total, WAIT).await;
    // A bucket of one second's worth (10) and then 10 per second: in any window of one second
    // after the first delivery at most 10 + 10 arrive. Allow a generous margin for scheduling.
    let first = all[0].received_at;
    let within_one_second = all
        .iter()
        .filter(|r| r.received_at.duration_since(first) < Duration::from_secs(1))
        .count();
    assert!(
        within_one_second <= 23,
        "{within_one_second} deliveries in the first second"
    );
    let span = all.last().unwrap().received_at.duration_since(first);
    assert!(
        span >= Duration::from_millis(1500),
        "30 at 10/s took only {span:?}"
    );
}

#[tokio::test]
async fn a_slow_endpoint_does_not_delay_another() {
    // Few connections in all, two per endpoint: without the per-endpoint cap the slow
    // endpoint's backlog would take every connection for seconds.
    let server = TestServer::start(
        ServerOptions::default()
            .env("KANCA_MAX_IN_FLIGHT", "8")
            .env("KANCA_ENDPOINT_MAX_IN_FLIGHT", "2"),
    )
    .await;
    let slow = Receiver::start().await;
    slow.set_default(Reply::Slow(Duration::from_secs(4), 200));
    let fast = Receiver::start().await;
    let app = server.create_app("two endpoints").await;
    server
        .create_endpoint(
            &app,
            json!({"url": slow.url(), "eventTypes": ["slow.work"]}),
        )
        .await;
    server
        .create_endpoint(
            &app,
            json!({"url": fast.url(), "eventTypes": ["fast.work"]}),
        )
        .await;
    for n in 0..20 {
        server
            .publish(&app, json!({"eventType": "slow.work", "payload": {"n": n}}))
            .await;
    }
    for n in 0..5 {
        server
            .publish(&app, json!({"eventType": "fast.work", "payload": {"n": n}}))
            .await;
    }
    fast.wait_for(5, Duration::from_secs(3)).await;
    // The slow endpoint has not finished even its first request yet, and never had more than
    // its cap open.
    assert!(
        slow.requests().len() <= 2,
        "{} slow requests",
        slow.requests().len()
    );
}

#[tokio::test]
async fn resend_delivers_again_as_a_manual_attempt() {
    let server = TestServer::start_default().await;
    let receiver = Receiver::start().await;
    let (app, ep) = app_with_endpoint(&server, &receiver, json!({})).await;
    let msg = server
        .publish(
            &app,
            json!({"eventType": "a.b", "payload": {"again": true}}),
        )
        .await;
    receiver.wait_for(1, WAIT).await;
    server.wait_until_settled(&app, &msg).await;
    let (status, _) = server
        .call(
            Method::POST,
            &format!("/api/v1/app/{app}/msg/{msg}/endpoint/{ep}/resend"),
            None,
        )
        .await;
    assert_eq!(status, 202);
    let requests = receiver.wait_for(2, WAIT).await;
    assert_eq!(requests[1].webhook_id(), msg);
    assert_eq!(requests[1].json(), json!({"again": true}));
    let attempts = eventually("two attempts", || async {
        let a = server.attempts_for_msg(&app, &msg).await;
        if a.len() == 2 {
            Ok(a)
        } else {
            Err(format!("{a:?}"))
        }
    })
    .await;
    // Oldest first: the resend is a manual trigger.
    assert_eq!(attempts[0]["triggerType"], 0);
    assert_eq!(attempts[1]["triggerType"], 1);

    // Unknown message or endpoint: 404, nothing queued.
    let (status, body) = server
        .call(
            Method::POST,
            &format!("/api/v1/app/{app}/msg/msg_unknown/endpoint/{ep}/resend"),
            None,
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn recover_resends_what_failed_since_a_time() {
    let server = TestServer::start(ServerOptions::default().retry_schedule("50ms")).await;
    let receiver = Receiver::start().await;
    receiver.set_default(Reply::Status(500));
    let (app, ep) = app_with_endpoint(&server, &receiver, json!({})).await;
    let mut msgs = Vec::new();
    for n in 0..3 {
        msgs.push(
            server
                .publish(&app, json!({"eventType": "a.b", "payload": {"n": n}}))
                .await,
        );
    }
    for msg in &msgs {
        let s = server.wait_until_settled(&app, msg).await;
        assert_eq!(s[0]["statusText"], "fail");
    }
    let stats = server
        .get(&format!("/api/v1/app/{app}/endpoint/{ep}/stats"))
        .await;
    assert_eq!(stats["fail"], 3, "{stats}");

    receiver.set_default(Reply::Status(200));
    let since = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let (status, task) = server
        .call(
            Method::POST,
            &format!("/api/v1/app/{app}/endpoint/{ep}/recover"),
            Some(&json!({"since": since})),
        )
        .await;
    assert_eq!(status, 202, "{task}");
    assert_eq!(task["task"], "endpoint.recover");
    for msg in &msgs {
        let s = server.wait_until_settled(&app, msg).await;
        assert_eq!(s[0]["statusText"], "success");
    }
    let stats = server
        .get(&format!("/api/v1/app/{app}/endpoint/{ep}/stats"))
        .await;
    assert_eq!(
        (stats["success"].as_i64(), stats["fail"].as_i64()),
        (Some(3), Some(0))
    );

    // A window that holds none of them recovers nothing.
    let (status, body) = server
        .call(
            Method::POST,
            &format!("/api/v1/app/{app}/endpoint/{ep}/recover"),
            Some(&json!({"since": "2000-01-01T00:00:00Z", "until": "2000-01-02T00:00:00Z"})),
        )
        .await;
    assert_eq!(status, 202);
    assert_eq!(body["recovered"], 0);
    // Malformed: since must be a time.
    let (status, body) = server
        .call(
            Method::POST,
            &format!("/api/v1/app/{app}/endpoint/{ep}/recover"),
            Some(&json!({"since": "yesterday"})),
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (422, Some("validation")));
}

#[tokio::test]
async fn custom_headers_are_sent_and_unsafe_names_refused() {
    let server = TestServer::start_default().await;
    let receiver = Receiver::start().await;
    let (app, ep) = app_with_endpoint(&server, &receiver, json!({})).await;
    let headers_path = format!("/api/v1/app/{app}/endpoint/{ep}/headers");
    let (status, _) = server
        .call(
            Method::PUT,
            &headers_path,
            Some(&json!({"headers": {"X-Api-Key": "k1", "X-Tenant": "t1"}})),
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = server
        .call(
            Method::PATCH,
            &headers_path,
            Some(&json!({"headers": {"x-tenant": null, "x-region": "eu"}})),
        )
        .await;
    assert_eq!(status, 204);
    let got = server.get(&headers_path).await;
    assert_eq!(got["headers"], json!({"x-api-key": "k1", "x-region": "eu"}));

    for bad in [
        "webhook-signature",
        "Svix-Id",
        "content-type",
        "Host",
        "connection",
        "bad name",
    ] {
        let (status, body) = server
            .call(
                Method::PUT,
                &headers_path,
                Some(&json!({"headers": {bad: "x"}})),
            )
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (422, Some("validation")),
            "{bad}: {body}"
        );
    }
    assert_eq!(
        server.get(&headers_path).await["headers"],
        got["headers"],
        "nothing changed"
    );

    server
        .publish(&app, json!({"eventType": "a.b", "payload": {}}))
        .await;
    let delivered = receiver.wait_for(1, WAIT).await.remove(0);
    assert_eq!(delivered.header("x-api-key"), Some("k1"));
    assert_eq!(delivered.header("x-region"), Some("eu"));
    assert_eq!(delivered.header("x-tenant"), None);
    assert!(delivered.header("webhook-signature").is_some());
}

/// An operational endpoint on its own receiver; returns it with its secret.
async fn operational_endpoint(server: &TestServer, event_types: Value) -> (Receiver, String) {
    let receiver = Receiver::start().await;
    let ep = server
        .post(
            "/api/v1/operational-webhook/endpoint",
            &json!({"url": receiver.url(), "eventTypes": event_types}),
        )
        .await;
    let id = id_of(&ep);
    let secret = server
        .get(&format!("/api/v1/operational-webhook/endpoint/{id}/secret"))
        .await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    (receiver, secret)
}

/// The operational events received so far, each checked against the endpoint's secret.
fn verified_events(receiver: &Receiver, secret: &str) -> Vec<Value> {
    receiver
        .requests()
        .iter()
        .map(|r| {
            Webhook::new(secret)
                .unwrap()
                .verify(&r.body, &r.headers)
                .expect("operational events are signed with the endpoint's secret");
            r.json()
        })
        .collect()
}

#[tokio::test]
async fn operational_webhooks_report_endpoint_changes() {
    let server = TestServer::start_default().await;
    let (ops, secret) = operational_endpoint(
        &server,
        json!(["endpoint.created", "endpoint.updated", "endpoint.deleted"]),
    )
    .await;
    let target = Receiver::start().await;
    let app = server.create_app("ops").await;
    let ep = server
        .create_endpoint(&app, json!({"url": target.url(), "uid": "watched"}))
        .await;
    server
        .call_ok(
            Method::PATCH,
            &format!("/api/v1/app/{app}/endpoint/{ep}"),
            Some(&json!({"description": "changed"})),
        )
        .await;
    server
        .call_ok(
            Method::DELETE,
            &format!("/api/v1/app/{app}/endpoint/{ep}"),
            None,
        )
        .await;
    ops.wait_for(3, WAIT).await;
    let events = verified_events(&ops, &secret);
    let mut types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    types.sort();
    assert_eq!(
        types,
        ["endpoint.created", "endpoint.deleted", "endpoint.updated"]
    );
    for e in &events {
        assert_eq!(e["data"]["endpointId"], ep.as_str());
        assert_eq!(e["data"]["endpointUid"], "watched");
        assert_eq!(e["data"]["appId"], app.as_str());
    }
}

#[tokio::test]
async fn operational_webhooks_report_failing_exhausted_and_recovered() {
    let server =
        TestServer::start(ServerOptions::default().retry_schedule("50ms,50ms,50ms,50ms,50ms"))
            .await;
    let (ops, secret) = operational_endpoint(
        &server,
        json!([
            "message.attempt.failing",
            "message.attempt.exhausted",
            "message.attempt.recovered",
            "endpoint.disabled"
        ]),
    )
    .await;

    // Fails four times, then succeeds: failing after the 4th, recovered after the 5th.
    let flaky = Receiver::start().await;
    flaky.reply_with([
        Reply::Status(500),
        Reply::Status(500),
        Reply::Status(500),
        Reply::Status(500),
    ]);
    let (app, flaky_ep) = app_with_endpoint(&server, &flaky, json!({})).await;
    let recovered_msg = server
        .publish(
            &app,
            json!({"eventType": "a.b", "eventId": "evt-1", "payload": {}}),
        )
        .await;
    ops.wait_for(2, WAIT).await;

    // Always fails: failing, then exhausted after the sixth attempt.
    let broken = Receiver::start().await;
    broken.set_default(Reply::Status(500));
    let (app2, broken_ep) = app_with_endpoint(&server, &broken, json!({})).await;
    let exhausted_msg = server
        .publish(&app2, json!({"eventType": "a.b", "payload": {}}))
        .await;
    ops.wait_for(4, WAIT).await;
    common::settle().await;

    let events = verified_events(&ops, &secret);
    let of = |t: &str, msg: &str| {
        events
            .iter()
            .filter(|e| e["type"] == t && e["data"]["msgId"] == msg)
            .cloned()
            .collect::<Vec<_>>()
    };
    let failing = of("message.attempt.failing", &recovered_msg);
    assert_eq!(failing.len(), 1, "{events:?}");
    assert_eq!(failing[0]["data"]["endpointId"], flaky_ep.as_str());
    assert_eq!(failing[0]["data"]["msgEventId"], "evt-1");
    assert_eq!(failing[0]["data"]["lastAttempt"]["responseStatusCode"], 500);
    let recovered = of("message.attempt.recovered", &recovered_msg);
    assert_eq!(recovered.len(), 1, "{events:?}");
    assert_eq!(
        recovered[0]["data"]["lastAttempt"]["responseStatusCode"],
        200
    );

    assert_eq!(
        of("message.attempt.failing", &exhausted_msg).len(),
        1,
        "{events:?}"
    );
    let exhausted = of("message.attempt.exhausted", &exhausted_msg);
    assert_eq!(exhausted.len(), 1, "{events:?}");
    assert_eq!(exhausted[0]["data"]["endpointId"], broken_ep.as_str());
    assert_eq!(exhausted[0]["data"]["appId"], app2.as_str());
    assert_eq!(broken.requests().len(), 6);
    assert_eq!(events.len(), 4, "nothing else was sent: {events:?}");
}

#[tokio::test]
async fn operational_endpoints_need_a_token_and_valid_input() {
    let server = TestServer::start(ServerOptions::default().with_ssrf_guard()).await;
    let unauthenticated = server
        .http()
        .get(server.url("/api/v1/operational-webhook/endpoint"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    let (status, body) = server
        .call(
            Method::POST,
            "/api/v1/operational-webhook/endpoint",
            Some(&json!({"url": "http://169.254.169.254/latest"})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("validation")),
        "{body}"
    );
    let list = server.get("/api/v1/operational-webhook/endpoint").await;
    assert_eq!(list["data"], json!([]));
    // The internal application behind them is not one of the user's applications: the only
    // one there from the start is the built-in, visible `workspace` (the Slack workspace's
    // events).
    let apps = server.get("/api/v1/app").await;
    let uids: Vec<&Value> = apps["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["uid"])
        .collect();
    assert_eq!(uids, vec![&json!("workspace")]);
}

#[tokio::test]
async fn metrics_count_deliveries_as_they_happen() {
    let server = TestServer::start_default().await;
    let anonymous = server
        .http()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401, "metrics need the admin token");

    let scrape = || async {
        let text = server
            .request(Method::GET, "/metrics")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let value = |name: &str| -> f64 {
            text.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0)
        };
        (
            value("kanca_deliveries_total{outcome=\"Delivered\"}"),
            value("kanca_deliveries_total{outcome=\"FailedWillRetry\"}"),
            value("kanca_attempt_duration_seconds_count"),
            text.contains("kanca_queue_due") && text.contains("kanca_deliveries_in_flight"),
        )
    };
    let before = scrape().await;
    assert!(before.3, "queue and in-flight gauges are exported");

    let receiver = Receiver::start().await;
    receiver.reply_with([Reply::Status(500)]);
    let (app, _) = app_with_endpoint(&server, &receiver, json!({})).await;
    let msg = server
        .publish(&app, json!({"eventType": "a.b", "payload": {}}))
        .await;
    server.wait_until_settled(&app, &msg).await;
    let after = eventually("the counters to move", || async {
        let now = scrape().await;
        if now.0 >= before.0 + 1.0 && now.1 >= before.1 + 1.0 && now.2 >= before.2 + 2.0 {
            Ok(now)
        } else {
            Err(format!("{now:?}"))
        }
    })
    .await;
    assert!(after.0 >= 1.0);
}

#[tokio::test]
async fn log_lines_never_contain_secrets_or_payloads() {
    let server = TestServer::start(ServerOptions::default().retry_schedule("50ms")).await;
    let receiver = Receiver::start().await;
    receiver.reply_with([Reply::Status(500)]);
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let (app, ep) = app_with_endpoint(
        &server,
        &receiver,
        json!({"secret": secret, "headers": {"authorization": "Bearer header-secret-1234"}}),
    )
    .await;
    let msg = server
        .publish(
            &app,
            json!({"eventType": "a.b", "payload": {"card": "payload-secret-5678"}}),
        )
        .await;
    server.wait_until_settled(&app, &msg).await;
    server
        .call_ok(
            Method::POST,
            &format!("/api/v1/app/{app}/endpoint/{ep}/secret/rotate"),
            Some(&json!({})),
        )
        .await;
    // A request with a wrong token is logged nowhere with the token in it either.
    let _ = server
        .http()
        .get(server.url("/api/v1/app"))
        .bearer_auth("wrong-token-9999")
        .send()
        .await;

    let logs = server.logs();
    assert!(logs.contains(&msg), "delivery lines carry the message id");
    for needle in [
        server.token(),
        secret,
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "header-secret-1234",
        "payload-secret-5678",
        "wrong-token-9999",
    ] {
        assert!(
            !logs.contains(needle),
            "a log line contains `{needle}`:\n{logs}"
        );
    }
}

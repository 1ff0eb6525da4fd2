//! Rules that span hours or days, tested by moving Kanca's clock instead of waiting: secret
//! rotation's grace period, auto-disable after days of failures, payload retention.
//!
//! These tests run the application in-process (`Application::build` on 127.0.0.1:0, real
//! SQLite, real receivers) because the clock is injected through `Settings`; everything else
//! is still plain HTTP.

use crate::common::{self, eventually, Receiver, Reply};
use kanca::clock::Clock;
use kanca::config::Settings;
use kanca::delivery::schedule::RetrySchedule;
use kanca::startup::Application;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;
use svix::webhooks::Webhook;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

const DAY: Duration = Duration::from_secs(24 * 60 * 60);
const WAIT: Duration = Duration::from_secs(15);

/// A Kanca running in this process, stopped on drop.
struct InProcess {
    base: String,
    clock: Clock,
    http: reqwest::Client,
    shutdown: CancellationToken,
    _database: Option<common::TestDatabase>,
    _dir: TempDir,
}

impl InProcess {
    async fn start(schedule: &str, tune: impl FnOnce(&mut Settings)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::for_data_dir(dir.path());
        settings.admin_token = Some("clock-test-token".into());
        settings.allow_private_targets = true;
        settings.retry_schedule = RetrySchedule::parse(schedule).unwrap();
        let database = common::TestDatabase::create().await;
        if let Some(db) = &database {
            settings.database_url = db.url.clone();
        }
        tune(&mut settings);
        let clock = settings.clock.clone();
        let app = Application::build(settings)
            .await
            .expect("building the app");
        let base = format!("http://127.0.0.1:{}", app.port());
        let shutdown = app.shutdown_token();
        tokio::spawn(app.run_until_stopped());
        Self {
            base,
            clock,
            http: reqwest::Client::new(),
            shutdown,
            _database: database,
            _dir: dir,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}/api/v1{path}", self.base))
            .bearer_auth("clock-test-token");
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("the server answers");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.call(method.clone(), path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {value}"
        );
        value
    }

    /// An app with one endpoint at `url`; returns (app id, endpoint id, endpoint secret).
    async fn app_with_endpoint(&self, url: &str) -> (String, String, String) {
        let app = self
            .ok(Method::POST, "/app", Some(json!({"name": "clock"})))
            .await;
        let app_id = app["id"].as_str().unwrap().to_owned();
        let ep = self
            .ok(
                Method::POST,
                &format!("/app/{app_id}/endpoint"),
                Some(json!({"url": url})),
            )
            .await;
        let ep_id = ep["id"].as_str().unwrap().to_owned();
        let secret = self
            .ok(
                Method::GET,
                &format!("/app/{app_id}/endpoint/{ep_id}/secret"),
                None,
            )
            .await["key"]
            .as_str()
            .unwrap()
            .to_owned();
        (app_id, ep_id, secret)
    }

    async fn publish(&self, app_id: &str, payload: Value) -> String {
        let msg = self
            .ok(
                Method::POST,
                &format!("/app/{app_id}/msg"),
                Some(json!({"eventType": "clock.test", "payload": payload})),
            )
            .await;
        msg["id"].as_str().unwrap().to_owned()
    }
}

impl InProcess {
    /// Waits until `n` attempts of a message are recorded: moving the clock before then would
    /// date them after the move.
    async fn attempts_recorded(&self, app: &str, msg: &str, n: usize) {
        eventually(&format!("{n} recorded attempt(s) of {msg}"), || async {
            let a = self
                .ok(Method::GET, &format!("/app/{app}/attempt/msg/{msg}"), None)
                .await;
            if a["data"].as_array().map_or(0, Vec::len) >= n {
                Ok(())
            } else {
                Err(a.to_string())
            }
        })
        .await;
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Whether `secret` verifies a recorded delivery. The timestamp is the moved clock's, so the
/// tolerance check (against the real clock) is skipped; the signature itself is what counts.
fn verifies(secret: &str, req: &common::RecordedRequest) -> bool {
    Webhook::new(secret)
        .unwrap()
        .verify_ignoring_timestamp(&req.body, &req.headers)
        .is_ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_secret_signs_beside_the_new_one_for_24_hours_then_stops() {
    let kanca = InProcess::start("100ms", |_| {}).await;
    let receiver = Receiver::start().await;
    let (app, ep, old_secret) = kanca.app_with_endpoint(&receiver.url()).await;

    let new_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let (status, rotated) = kanca
        .call(
            Method::POST,
            &format!("/app/{app}/endpoint/{ep}/secret/rotate"),
            Some(json!({"key": new_secret})),
        )
        .await;
    // Svix's `EndpointSecretOut`, which today's SDKs parse.
    assert_eq!(status, 200, "{rotated}");
    assert_eq!(rotated, json!({"key": new_secret}));
    let current = kanca
        .ok(
            Method::GET,
            &format!("/app/{app}/endpoint/{ep}/secret"),
            None,
        )
        .await;
    assert_eq!(current["key"], new_secret);

    // During the grace period: two signatures, each secret verifies on its own.
    let m1 = kanca.publish(&app, json!({"n": 1})).await;
    let first = receiver.wait_for(1, WAIT).await.remove(0);
    // Moving the clock while this delivery is still in flight would make its lease look
    // expired and send it again.
    kanca.attempts_recorded(&app, &m1, 1).await;
    let signatures = first.header("webhook-signature").unwrap().to_owned();
    assert_eq!(signatures.split(' ').count(), 2, "{signatures}");
    assert!(
        verifies(new_secret, &first),
        "the new secret must verify at once"
    );
    assert!(
        verifies(&old_secret, &first),
        "the old secret must still verify"
    );

    // A day and a bit later: only the new secret signs.
    kanca.clock.advance(DAY + Duration::from_secs(3600));
    kanca.publish(&app, json!({"n": 2})).await;
    let second = receiver.wait_for(2, WAIT).await.remove(1);
    assert_eq!(second.json(), json!({"n": 2}));
    assert_eq!(
        second
            .header("webhook-signature")
            .unwrap()
            .split(' ')
            .count(),
        1
    );
    assert!(verifies(new_secret, &second));
    assert!(
        !verifies(&old_secret, &second),
        "the old secret must have expired"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rotation_refuses_a_malformed_key_and_keeps_the_old_one() {
    let kanca = InProcess::start("100ms", |_| {}).await;
    let receiver = Receiver::start().await;
    let (app, ep, secret) = kanca.app_with_endpoint(&receiver.url()).await;
    let (status, body) = kanca
        .call(
            Method::POST,
            &format!("/app/{app}/endpoint/{ep}/secret/rotate"),
            Some(json!({"key": "not-a-secret"})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "validation");
    let current = kanca
        .ok(
            Method::GET,
            &format!("/app/{app}/endpoint/{ep}/secret"),
            None,
        )
        .await;
    assert_eq!(current["key"], secret.as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endpoint_failing_for_five_days_is_disabled_and_operators_are_told() {
    let kanca = InProcess::start("1h", |_| {}).await;
    let ops_receiver = Receiver::start().await;
    let ops = kanca
        .ok(
            Method::POST,
            "/operational-webhook/endpoint",
            Some(json!({"url": ops_receiver.url(), "eventTypes": ["endpoint.disabled"]})),
        )
        .await;
    let ops_id = ops["id"].as_str().unwrap();
    let ops_secret = kanca
        .ok(
            Method::GET,
            &format!("/operational-webhook/endpoint/{ops_id}/secret"),
            None,
        )
        .await["key"]
        .as_str()
        .unwrap()
        .to_owned();

    let failing = Receiver::start().await;
    failing.set_default(Reply::Status(500));
    let (app, ep, _) = kanca.app_with_endpoint(&failing.url()).await;

    let first = kanca.publish(&app, json!({"day": 0})).await;
    kanca.attempts_recorded(&app, &first, 1).await;
    // Four days on: still failing, but not for long enough.
    kanca.clock.advance(4 * DAY);
    let day4 = kanca.publish(&app, json!({"day": 4})).await;
    kanca.attempts_recorded(&app, &day4, 1).await;
    let endpoint = kanca
        .ok(Method::GET, &format!("/app/{app}/endpoint/{ep}"), None)
        .await;
    assert_eq!(endpoint["disabled"], false);

    // Past five days without a single success: the next failure disables it.
    kanca.clock.advance(DAY + Duration::from_secs(60));
    kanca.publish(&app, json!({"day": 5})).await;
    eventually("the endpoint to be disabled", || async {
        let e = kanca
            .ok(Method::GET, &format!("/app/{app}/endpoint/{ep}"), None)
            .await;
        if e["disabled"] == true {
            Ok(())
        } else {
            Err(e.to_string())
        }
    })
    .await;

    let notice = ops_receiver.wait_for(1, WAIT).await.remove(0);
    assert!(
        verifies(&ops_secret, &notice),
        "operational events are signed"
    );
    let event = notice.json();
    assert_eq!(event["type"], "endpoint.disabled");
    assert_eq!(event["data"]["endpointId"], ep.as_str());
    assert_eq!(event["data"]["appId"], app.as_str());
    assert_eq!(event["data"]["trigger"], "automatic");
    assert!(event["data"]["failSince"].is_string(), "{event}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_success_resets_the_failure_run() {
    let kanca = InProcess::start("1h", |_| {}).await;
    let receiver = Receiver::start().await;
    receiver.reply_with([Reply::Status(500), Reply::Status(200)]);
    receiver.set_default(Reply::Status(500));
    let (app, ep, _) = kanca.app_with_endpoint(&receiver.url()).await;

    let m1 = kanca.publish(&app, json!({"n": 1})).await; // fails: the run starts
    kanca.attempts_recorded(&app, &m1, 1).await;
    kanca.clock.advance(3 * DAY);
    let m2 = kanca.publish(&app, json!({"n": 2})).await; // succeeds: the run ends
    kanca.attempts_recorded(&app, &m2, 1).await;
    kanca.clock.advance(3 * DAY);
    let m3 = kanca.publish(&app, json!({"n": 3})).await; // fails: a new run, not six days old
    kanca.attempts_recorded(&app, &m3, 1).await;
    let endpoint = kanca
        .ok(Method::GET, &format!("/app/{app}/endpoint/{ep}"), None)
        .await;
    assert_eq!(endpoint["disabled"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn payloads_are_dropped_after_their_retention_period_but_attempts_stay() {
    let kanca = InProcess::start("100ms", |s| {
        s.retention_sweep = Duration::from_millis(100);
    })
    .await;
    let receiver = Receiver::start().await;
    let (app, ep, _) = kanca.app_with_endpoint(&receiver.url()).await;
    let short = kanca
        .ok(
            Method::POST,
            &format!("/app/{app}/msg"),
            Some(json!({"eventType": "a.b", "payload": {"keep": "briefly"}, "payloadRetentionPeriod": 1})),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let long = kanca.publish(&app, json!({"keep": "for 90 days"})).await;
    receiver.wait_for(2, WAIT).await;
    kanca.attempts_recorded(&app, &short, 1).await;
    kanca.attempts_recorded(&app, &long, 1).await;

    kanca.clock.advance(2 * DAY);
    eventually("the short-lived payload to be cleared", || async {
        let m = kanca
            .ok(Method::GET, &format!("/app/{app}/msg/{short}"), None)
            .await;
        if m["payload"] == json!({}) {
            Ok(())
        } else {
            Err(m.to_string())
        }
    })
    .await;
    let kept = kanca
        .ok(Method::GET, &format!("/app/{app}/msg/{long}"), None)
        .await;
    assert_eq!(kept["payload"], json!({"keep": "for 90 days"}));
    let attempts = kanca
        .ok(
            Method::GET,
            &format!("/app/{app}/attempt/msg/{short}"),
            None,
        )
        .await;
    assert_eq!(
        attempts["data"].as_array().unwrap().len(),
        1,
        "attempts stay"
    );
    // A message without its payload cannot be sent again.
    let (status, body) = kanca
        .call(
            Method::POST,
            &format!("/app/{app}/msg/{short}/endpoint/{ep}/resend"),
            None,
        )
        .await;
    assert_eq!(status, 422, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scheduled_message_is_delivered_at_deliver_at_and_not_to_an_endpoint_deleted_before() {
    let kanca = InProcess::start("100ms", |_| {}).await;
    let kept = Receiver::start().await;
    let dropped = Receiver::start().await;
    let (app, _kept_ep, secret) = kanca.app_with_endpoint(&kept.url()).await;
    let gone = kanca
        .ok(
            Method::POST,
            &format!("/app/{app}/endpoint"),
            Some(json!({"url": dropped.url()})),
        )
        .await;
    let gone_id = gone["id"].as_str().unwrap();

    let deliver_at = kanca.clock.now() + chrono::Duration::minutes(10);
    let (status, msg) = kanca
        .call(
            Method::POST,
            &format!("/app/{app}/msg"),
            Some(
                json!({"eventType": "clock.test", "payload": {"at": "later"},
                        "deliverAt": deliver_at}),
            ),
        )
        .await;
    assert_eq!(status, 202, "{msg}");
    kanca
        .ok(
            Method::DELETE,
            &format!("/app/{app}/endpoint/{gone_id}"),
            None,
        )
        .await;
    common::settle().await;
    assert!(kept.requests().is_empty(), "nothing before deliverAt");

    // Ten minutes and a bit later (the dispatcher's slow poll notices the moved clock).
    kanca.clock.advance(Duration::from_secs(11 * 60));
    let delivery = kept.wait_for(1, WAIT).await.remove(0);
    assert_eq!(delivery.json(), json!({"at": "later"}));
    assert!(verifies(&secret, &delivery));
    common::settle().await;
    assert!(
        dropped.requests().is_empty(),
        "the endpoint deleted before deliverAt gets nothing"
    );
}

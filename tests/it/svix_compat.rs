//! Svix semantics that today's SDKs rely on (issue 13): both generations of endpoint field
//! names, the bodies newer SDKs parse (secret rotate, resend), Svix's 422 shape, `eventId`
//! uniqueness and lookup, the attempted-messages list, secrets without `whsec_`,
//! `message.attempt.recovered` after a manual resend, `deliverAt` bounds and pending state,
//! and `/health/ping`.
//!
//! Plain HTTP where the exact JSON is the point, the `svix` crate where an SDK call is.
//! Scheduled delivery at its time is in `clock.rs`, which can move the clock.

use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};
use svix::models::{EndpointSecretRotateIn, MessageIn};
use svix::webhooks::Webhook;

async fn app(server: &TestServer) -> String {
    server.create_app("compat").await
}

fn assert_both_generations(ep: &Value, types: Value, rate: Value) {
    assert_eq!(ep["eventTypes"], types, "eventTypes in {ep}");
    assert_eq!(ep["filterTypes"], types, "filterTypes in {ep}");
    assert_eq!(ep["throttleRate"], rate, "throttleRate in {ep}");
    assert_eq!(ep["rateLimit"], rate, "rateLimit in {ep}");
    assert_eq!(ep["version"], 1, "version in {ep}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_answer_both_generations_of_field_names_everywhere() {
    let server = TestServer::start_default().await;
    let receiver = Receiver::start().await;
    let app = app(&server).await;

    // Created with the new names, answered with both.
    let ep = server
        .post(
            &format!("/api/v1/app/{app}/endpoint"),
            &json!({"url": receiver.url(), "filterTypes": ["invoice.paid"], "rateLimit": 7}),
        )
        .await;
    assert_both_generations(&ep, json!(["invoice.paid"]), json!(7));
    let ep_id = id_of(&ep);
    let got = server
        .get(&format!("/api/v1/app/{app}/endpoint/{ep_id}"))
        .await;
    assert_both_generations(&got, json!(["invoice.paid"]), json!(7));
    let listed = server.get(&format!("/api/v1/app/{app}/endpoint")).await;
    assert_both_generations(&listed["data"][0], json!(["invoice.paid"]), json!(7));

    // A message's destinations carry them too.
    let msg = server
        .publish(
            &app,
            json!({"eventType": "invoice.paid", "payload": {"n": 1}}),
        )
        .await;
    let dest = server.delivery_statuses(&app, &msg).await;
    assert_both_generations(&dest[0], json!(["invoice.paid"]), json!(7));

    // And operational endpoints.
    let ops = server
        .post(
            "/api/v1/operational-webhook/endpoint",
            &json!({"url": receiver.url(), "eventTypes": ["endpoint.created"], "throttleRate": 3}),
        )
        .await;
    assert_both_generations(&ops, json!(["endpoint.created"]), json!(3));

    // No filter: both are null.
    let open = server
        .post(
            &format!("/api/v1/app/{app}/endpoint"),
            &json!({"url": receiver.url()}),
        )
        .await;
    assert_both_generations(&open, Value::Null, Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_modify_write_of_an_endpoint_keeps_its_filter() {
    let server = TestServer::start_default().await;
    let receiver = Receiver::start().await;
    let app = app(&server).await;
    let ep_id = server
        .create_endpoint(
            &app,
            json!({"url": receiver.url(), "eventTypes": ["a.b"], "throttleRate": 5}),
        )
        .await;
    let path = format!("/api/v1/app/{app}/endpoint/{ep_id}");

    // What `endpoint.update(app, id, {...await endpoint.get(app, id), description})` sends:
    // the whole answer back, both names included, with one field changed.
    let mut ep = server.get(&path).await;
    ep["description"] = json!("changed");
    let updated = server.call_ok(Method::PUT, &path, Some(&ep)).await;
    assert_eq!(updated["description"], "changed");
    assert_both_generations(&updated, json!(["a.b"]), json!(5));

    // An SDK that knows only the new names (JavaScript 1.99) sends only those.
    let only_new = json!({"url": receiver.url(), "filterTypes": ["a.b", "c.d"], "rateLimit": 9});
    let updated = server.call_ok(Method::PUT, &path, Some(&only_new)).await;
    assert_both_generations(&updated, json!(["a.b", "c.d"]), json!(9));

    // Both names with different values: refused, nothing changed.
    for body in [
        json!({"url": receiver.url(), "eventTypes": ["a.b"], "filterTypes": ["x.y"]}),
        json!({"url": receiver.url(), "throttleRate": 1, "rateLimit": 2}),
    ] {
        let r = server
            .request(Method::PUT, &path)
            .json(&body)
            .send()
            .await
            .unwrap();
        let err = expect_error(r, 422, "validation", "PUT with two different values").await;
        assert!(error_detail(&err).contains("same setting"), "{err}");
    }
    let r = server
        .request(Method::PATCH, &path)
        .json(&json!({"eventTypes": ["a.b"], "filterTypes": ["x.y"]}))
        .send()
        .await
        .unwrap();
    expect_error(r, 422, "validation", "PATCH with two different values").await;
    assert_both_generations(&server.get(&path).await, json!(["a.b", "c.d"]), json!(9));

    // PATCH by the new name; `[]` and `null` agree (both mean "every event type").
    let patched = server
        .call_ok(
            Method::PATCH,
            &path,
            Some(&json!({"filterTypes": ["e.f"], "rateLimit": null})),
        )
        .await;
    assert_both_generations(&patched, json!(["e.f"]), Value::Null);
    let patched = server
        .call_ok(
            Method::PATCH,
            &path,
            Some(&json!({"filterTypes": [], "eventTypes": null})),
        )
        .await;
    assert_both_generations(&patched, Value::Null, Value::Null);

    // A PUT that leaves a field out resets it, as in Svix (no filter, no description).
    let bare = server
        .call_ok(Method::PUT, &path, Some(&json!({"url": receiver.url()})))
        .await;
    assert_eq!(bare["description"], "");
    assert_both_generations(&bare, Value::Null, Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_answers_the_new_secret_and_takes_up_to_seven_days_of_grace() {
    let server = TestServer::start_default().await;
    let receiver = Receiver::start().await;
    let app = app(&server).await;
    let ep = server
        .create_endpoint(&app, json!({"url": receiver.url()}))
        .await;

    // The SDK parses `EndpointSecretOut`.
    let svix = server.svix();
    let rotated = svix
        .endpoint()
        .rotate_secret(
            app.clone(),
            ep.clone(),
            EndpointSecretRotateIn {
                grace_period_seconds: Some(7 * 24 * 3600),
                ..EndpointSecretRotateIn::new()
            },
            None,
        )
        .await
        .expect("rotate through the SDK");
    let current = svix
        .endpoint()
        .get_secret(app.clone(), ep.clone())
        .await
        .unwrap();
    assert_eq!(rotated.key, current.key);

    let rotate = format!("/api/v1/app/{app}/endpoint/{ep}/secret/rotate");
    let r = server
        .request(Method::POST, &rotate)
        .json(&json!({"gracePeriodSeconds": 7 * 24 * 3600 + 1}))
        .send()
        .await
        .unwrap();
    expect_error(r, 422, "validation", "a grace period over 7 days").await;
    let r = server
        .request(Method::POST, &rotate)
        .json(&json!({"gracePeriodSeconds": -1}))
        .send()
        .await
        .unwrap();
    expect_error(r, 422, "validation", "a negative grace period").await;
    // No body at all still rotates (curl -X POST).
    let (status, body) = server.call(Method::POST, &rotate, None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["key"].as_str().unwrap().starts_with("whsec_"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resend_answers_an_empty_object_that_the_sdk_parses() {
    let server = TestServer::start_default().await;
    let receiver = Receiver::start().await;
    let app = app(&server).await;
    let ep = server
        .create_endpoint(&app, json!({"url": receiver.url()}))
        .await;
    let msg = server
        .publish(&app, json!({"eventType": "a.b", "payload": {"n": 1}}))
        .await;
    receiver.wait_for(1, WAIT).await;
    server.wait_for_outcome(&app, &msg, &ep).await;

    server
        .svix()
        .message_attempt()
        .resend(app.clone(), msg.clone(), ep.clone(), None)
        .await
        .expect("resend through the SDK");
    receiver.wait_for(2, WAIT).await;
    let (status, body) = server
        .call(
            Method::POST,
            &format!("/api/v1/app/{app}/msg/{msg}/endpoint/{ep}/resend"),
            None,
        )
        .await;
    assert_eq!((status, body), (202, json!({})));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_errors_have_svix_shape_and_keep_the_code() {
    let server = TestServer::start_default().await;
    let app = app(&server).await;
    let r = server
        .request(Method::POST, &format!("/api/v1/app/{app}/endpoint"))
        .json(&json!({"url": 12}))
        .send()
        .await
        .unwrap();
    let err = expect_error(r, 422, "validation", "a url that is a number").await;
    assert_eq!(err["detail"][0]["loc"], json!(["body"]), "{err}");
    assert_eq!(err["detail"][0]["type"], "value_error", "{err}");
    let r = server
        .request(Method::GET, &format!("/api/v1/app/{app}/msg?limit=nope"))
        .send()
        .await
        .unwrap();
    let err = expect_error(r, 422, "validation", "a limit that is not a number").await;
    assert_eq!(err["detail"][0]["loc"], json!(["query"]), "{err}");

    // The SDK sees a validation error, with Svix's payload decoded.
    let e = server
        .svix()
        .endpoint()
        .create(
            app.clone(),
            svix::models::EndpointIn::new("not a url".into()),
            None,
        )
        .await
        .expect_err("a bad url");
    match e {
        svix::error::Error::Validation(content) => {
            let payload = content.payload.expect("a decoded HTTPValidationError");
            assert!(!payload.detail[0].msg.is_empty());
        }
        other => panic!("expected a validation error, got {other:?}"),
    }

    // Other errors keep their string detail.
    let (status, body) = server.call(Method::GET, "/api/v1/app/app_nope", None).await;
    assert_eq!(status, 404);
    assert!(body["detail"].is_string(), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_id_is_unique_per_application_and_finds_its_message() {
    let server = TestServer::start_default().await;
    let app = app(&server).await;
    let other = server.create_app("other").await;
    let body = json!({"eventType": "a.b", "eventId": "evt-1", "payload": {"n": 1}});
    let first = server.publish(&app, body.clone()).await;

    let r = server
        .request(Method::POST, &format!("/api/v1/app/{app}/msg"))
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_error(r, 409, "conflict", "a second message with the same eventId").await;
    // The SDK sees the 409 as an HTTP error.
    let e = server
        .svix()
        .message()
        .create(
            app.clone(),
            MessageIn {
                event_id: Some("evt-1".into()),
                ..MessageIn::new("a.b".into(), json!({"n": 2}))
            },
            None,
        )
        .await
        .expect_err("a duplicate eventId");
    assert!(
        matches!(&e, svix::error::Error::Http(c) if c.status == 409),
        "{e:?}"
    );

    // Another application may use the same eventId.
    server.publish(&other, body.clone()).await;

    // Found by id and by eventId, through the SDK too.
    let by_event = server.get(&format!("/api/v1/app/{app}/msg/evt-1")).await;
    assert_eq!(by_event["id"], first);
    let sdk = server
        .svix()
        .message()
        .get(app.clone(), "evt-1".into(), None)
        .await
        .unwrap();
    assert_eq!(sdk.id, first);
    let (status, _) = server
        .call(Method::GET, &format!("/api/v1/app/{app}/msg/evt-2"), None)
        .await;
    assert_eq!(status, 404);

    // Only one message was stored in `app`.
    assert_eq!(
        server
            .list_all(&format!("/api/v1/app/{app}/msg"))
            .await
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_lists_the_messages_attempted_to_it() {
    let server = TestServer::start_default().await;
    let ok = Receiver::start().await;
    let failing = Receiver::start().await;
    failing.set_default(Reply::Status(500));
    let app = app(&server).await;
    let ep_ok = server.create_endpoint(&app, json!({"url": ok.url()})).await;
    let ep_fail = server
        .create_endpoint(&app, json!({"url": failing.url(), "eventTypes": ["a.b"]}))
        .await;
    let mut msgs = Vec::new();
    for n in 0..3 {
        msgs.push(
            server
                .publish(&app, json!({"eventType": "a.b", "payload": {"n": n}}))
                .await,
        );
    }
    let only_ok = server
        .publish(&app, json!({"eventType": "c.d", "payload": {"n": 9}}))
        .await;
    for m in &msgs {
        server.wait_until_settled(&app, m).await;
    }
    server.wait_until_settled(&app, &only_ok).await;

    // Paged, newest first, with each message's status for this endpoint.
    let path = format!("/api/v1/app/{app}/endpoint/{ep_fail}/msg");
    let page1 = server.get(&format!("{path}?limit=2")).await;
    assert_eq!(page1["done"], false, "{page1}");
    let iterator = page1["iterator"].as_str().unwrap();
    let page2 = server
        .get(&format!("{path}?limit=2&iterator={iterator}"))
        .await;
    assert_eq!(page2["done"], true, "{page2}");
    let ids: Vec<&Value> = page1["data"]
        .as_array()
        .unwrap()
        .iter()
        .chain(page2["data"].as_array().unwrap())
        .map(|m| &m["id"])
        .collect();
    // Newest first by id (ids are time-ordered, but two made in the same instant may sort
    // either way, so the expectation is the ids sorted, not the publishing order).
    let mut sorted = msgs.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    let mut expected: Vec<Value> = sorted.iter().map(|m| json!(m)).collect();
    assert_eq!(ids, expected.iter().collect::<Vec<_>>());
    let first = &page1["data"][0];
    assert_eq!(first["status"], STATUS_FAIL, "{first}");
    assert_eq!(first["statusText"], "fail");
    assert_eq!(first["eventType"], "a.b");
    // The newest by id: the last published, unless two shared a time tick.
    let n = msgs.iter().position(|m| json!(m) == first["id"]).unwrap();
    assert_eq!(first["payload"], json!({ "n": n }));

    // The other endpoint got all four; `status` filters.
    expected.insert(0, json!(only_ok));
    let all_ok = server
        .list_all(&format!("/api/v1/app/{app}/endpoint/{ep_ok}/msg"))
        .await;
    assert_eq!(all_ok.len(), 4);
    let failed = server.get(&format!("{path}?status=2")).await;
    assert_eq!(failed["data"].as_array().unwrap().len(), 3);
    let succeeded = server.get(&format!("{path}?status=0")).await;
    assert_eq!(succeeded["data"].as_array().unwrap().len(), 0);

    // Through the SDK.
    let listed = server
        .svix()
        .message_attempt()
        .list_attempted_messages(app.clone(), ep_ok.clone(), None)
        .await
        .expect("list_attempted_messages");
    assert_eq!(listed.data.len(), 4);

    // Unknown endpoint: 404.
    let (status, _) = server
        .call(
            Method::GET,
            &format!("/api/v1/app/{app}/endpoint/ep_nope/msg"),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_without_its_prefix_is_accepted_and_signs() {
    let server = TestServer::start_default().await;
    let receiver = Receiver::start().await;
    let app = app(&server).await;
    let bare = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let ep = server
        .create_endpoint(&app, json!({"url": receiver.url(), "secret": bare}))
        .await;
    let secret = server
        .get(&format!("/api/v1/app/{app}/endpoint/{ep}/secret"))
        .await;
    assert_eq!(secret["key"], format!("whsec_{bare}"));
    server
        .publish(&app, json!({"eventType": "a.b", "payload": {"n": 1}}))
        .await;
    let delivery = receiver.wait_for(1, WAIT).await.remove(0);
    Webhook::new(&format!("whsec_{bare}"))
        .unwrap()
        .verify(&delivery.body, &delivery.headers)
        .expect("signed with the secret given without its prefix");

    // Too short, or not base64: refused.
    for secret in [
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS!",
    ] {
        let r = server
            .request(Method::POST, &format!("/api/v1/app/{app}/endpoint"))
            .json(&json!({"url": receiver.url(), "secret": secret}))
            .send()
            .await
            .unwrap();
        expect_error(r, 422, "validation", "a malformed secret").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_that_succeeds_after_exhaustion_sends_recovered() {
    let server = TestServer::start(ServerOptions::default().retry_schedule("50ms")).await;
    let operators = Receiver::start().await;
    let target = Receiver::start().await;
    target.set_default(Reply::Status(500));
    server
        .post(
            "/api/v1/operational-webhook/endpoint",
            &json!({"url": operators.url(), "eventTypes": [
                "message.attempt.exhausted", "message.attempt.recovered"
            ]}),
        )
        .await;
    let app = app(&server).await;
    let ep = server
        .create_endpoint(&app, json!({"url": target.url()}))
        .await;
    let msg = server
        .publish(&app, json!({"eventType": "a.b", "payload": {"n": 1}}))
        .await;
    server.wait_for_outcome(&app, &msg, &ep).await;
    let events = |reqs: Vec<RecordedRequest>| -> Vec<String> {
        reqs.iter()
            .map(|r| r.json()["type"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let seen = operators.wait_for(1, WAIT).await;
    assert_eq!(events(seen), ["message.attempt.exhausted"]);

    // The endpoint is fixed; a manual resend succeeds on its first attempt.
    target.set_default(Reply::Status(200));
    server
        .call_ok(
            Method::POST,
            &format!("/api/v1/app/{app}/msg/{msg}/endpoint/{ep}/resend"),
            None,
        )
        .await;
    let seen = operators.wait_for(2, WAIT).await;
    assert_eq!(
        events(seen.clone()),
        ["message.attempt.exhausted", "message.attempt.recovered"]
    );
    assert_eq!(seen[1].json()["data"]["msgId"], msg, "{}", seen[1].json());

    // Resending a delivery that succeeded is not a recovery.
    server
        .call_ok(
            Method::POST,
            &format!("/api/v1/app/{app}/msg/{msg}/endpoint/{ep}/resend"),
            None,
        )
        .await;
    target.wait_for(4, WAIT).await;
    server.wait_for_outcome(&app, &msg, &ep).await;
    settle().await;
    assert_eq!(operators.requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliver_at_is_bounded_and_waits_as_pending() {
    let server = TestServer::start_default().await;
    let receiver = Receiver::start().await;
    let app = app(&server).await;
    let ep = server
        .create_endpoint(&app, json!({"url": receiver.url()}))
        .await;
    let at = |secs: i64| {
        (chrono::Utc::now() + chrono::Duration::seconds(secs))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    for (secs, what) in [
        (10, "ten seconds ahead"),
        (-60, "in the past"),
        (25 * 3600, "a day and an hour ahead"),
    ] {
        let r = server
            .request(Method::POST, &format!("/api/v1/app/{app}/msg"))
            .json(&json!({"eventType": "a.b", "payload": {}, "deliverAt": at(secs)}))
            .send()
            .await
            .unwrap();
        expect_error(r, 422, "validation", what).await;
    }
    let r = server
        .request(Method::POST, &format!("/api/v1/app/{app}/msg"))
        .json(&json!({"eventType": "a.b", "payload": {}, "deliverAt": "tomorrow"}))
        .send()
        .await
        .unwrap();
    expect_error(r, 422, "validation", "a deliverAt that is not a time").await;

    let when = at(3600);
    let msg = server
        .post(
            &format!("/api/v1/app/{app}/msg"),
            &json!({"eventType": "a.b", "payload": {"n": 1}, "deliverAt": when}),
        )
        .await;
    let msg_id = id_of(&msg);
    let when_t: chrono::DateTime<chrono::Utc> = when.parse().unwrap();
    let answered: chrono::DateTime<chrono::Utc> =
        msg["deliverAt"].as_str().unwrap().parse().unwrap();
    assert_eq!(answered, when_t);

    // Pending, due at that time, in the message's destinations and the endpoint's messages.
    let dest = server.delivery_statuses(&app, &msg_id).await;
    assert_eq!(dest[0]["status"], STATUS_PENDING, "{dest:?}");
    let next: chrono::DateTime<chrono::Utc> =
        dest[0]["nextAttempt"].as_str().unwrap().parse().unwrap();
    assert_eq!(next, when_t);
    let listed = server
        .get(&format!("/api/v1/app/{app}/endpoint/{ep}/msg"))
        .await;
    assert_eq!(listed["data"][0]["status"], STATUS_PENDING);
    let stats = server
        .get(&format!("/api/v1/app/{app}/endpoint/{ep}/stats"))
        .await;
    assert_eq!(stats["pending"], 1, "{stats}");

    // It survives a restart, still pending; nothing is sent before its time.
    let mut server = server;
    server.restart().await;
    let dest = server.delivery_statuses(&app, &msg_id).await;
    assert_eq!(dest[0]["status"], STATUS_PENDING, "{dest:?}");
    settle().await;
    assert!(receiver.requests().is_empty());

    // Deleting the endpoint first cancels it: nothing left to send.
    server
        .call_ok(
            Method::DELETE,
            &format!("/api/v1/app/{app}/endpoint/{ep}"),
            None,
        )
        .await;
    assert!(server.delivery_statuses(&app, &msg_id).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_ping_answers_204_without_a_token() {
    let server = TestServer::start_default().await;
    let r = server
        .http()
        .get(server.url("/api/v1/health/ping"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    server
        .svix()
        .health()
        .get()
        .await
        .expect("the SDK's health");
}

/// The Rust SDK's calls that `svix_sdk.rs` does not make, module by module: pagination,
/// headers, recover, stats, attempts, resend and the operational webhook endpoints.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rest_of_each_rust_sdk_module_works_unchanged() {
    use std::collections::BTreeMap;
    use svix::api::{
        ApplicationListOptions, MessageListOptions, OperationalWebhookEndpointListOptions,
    };
    use svix::models::{
        ApplicationIn, EndpointHeadersIn, EndpointHeadersPatchIn, EndpointIn, EndpointUpsertIn,
        OperationalWebhookEndpointHeadersIn, OperationalWebhookEndpointIn,
        OperationalWebhookEndpointSecretIn, OperationalWebhookEndpointUpsertIn, RecoverIn,
    };
    let server = TestServer::start_default().await;
    let receiver = Receiver::start().await;
    let ops_receiver = Receiver::start().await;
    let svix = server.svix();

    // Applications, paged two at a time until done.
    for i in 0..3 {
        svix.application()
            .create(ApplicationIn::new(format!("page {i}")), None)
            .await
            .unwrap();
    }
    let (mut seen, mut iterator, mut pages) = (0, None, 0);
    loop {
        let page = svix
            .application()
            .list(Some(ApplicationListOptions {
                limit: Some(2),
                iterator: iterator.clone(),
                ..Default::default()
            }))
            .await
            .unwrap();
        seen += page.data.len();
        pages += 1;
        if page.done {
            break;
        }
        iterator = page.iterator;
    }
    assert!(seen >= 3 && pages >= 2, "{seen} in {pages} pages");

    // Operational webhook endpoints: every call.
    let ops = svix.operational_webhook().endpoint();
    let op = ops
        .create(
            OperationalWebhookEndpointIn {
                event_types: Some(["endpoint.created".to_owned()].into()),
                ..OperationalWebhookEndpointIn::new(ops_receiver.url())
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(ops.get(op.id.clone()).await.unwrap().id, op.id);
    let listed = ops
        .list(Some(OperationalWebhookEndpointListOptions::default()))
        .await
        .unwrap();
    assert!(listed.data.iter().any(|e| e.id == op.id));
    let up = ops
        .upsert(
            op.id.clone(),
            OperationalWebhookEndpointUpsertIn {
                description: Some("ops".into()),
                event_types: Some(["endpoint.created".to_owned()].into()),
                ..OperationalWebhookEndpointUpsertIn::new(ops_receiver.url())
            },
        )
        .await
        .unwrap();
    assert_eq!(up.description, "ops");
    let old = ops.get_secret(op.id.clone()).await.unwrap().key;
    ops.rotate_secret(
        op.id.clone(),
        OperationalWebhookEndpointSecretIn::new(),
        None,
    )
    .await
    .unwrap();
    let ops_secret = ops.get_secret(op.id.clone()).await.unwrap().key;
    assert_ne!(old, ops_secret);
    ops.set_headers(
        op.id.clone(),
        OperationalWebhookEndpointHeadersIn::new(BTreeMap::from([("x-op".into(), "1".into())])),
    )
    .await
    .unwrap();
    assert_eq!(
        ops.get_headers(op.id.clone()).await.unwrap().headers["x-op"],
        "1"
    );

    // Endpoints: headers, upsert, recover, stats.
    let app = svix
        .application()
        .create(ApplicationIn::new("rest".into()), None)
        .await
        .unwrap()
        .id;
    let ep = svix
        .endpoint()
        .create(app.clone(), EndpointIn::new(receiver.url()), None)
        .await
        .unwrap();
    let created = ops_receiver.wait_for(1, WAIT).await.remove(0);
    Webhook::new(&ops_secret)
        .unwrap()
        .verify(&created.body, &created.headers)
        .expect("operational event signed with the rotated secret");
    let endpoints = svix.endpoint();
    endpoints
        .set_headers(
            app.clone(),
            ep.id.clone(),
            EndpointHeadersIn::new(BTreeMap::from([
                ("x-a".into(), "1".into()),
                ("x-b".into(), "2".into()),
            ])),
        )
        .await
        .unwrap();
    endpoints
        .patch_headers(
            app.clone(),
            ep.id.clone(),
            EndpointHeadersPatchIn {
                delete_headers: Some(vec!["x-b".into()]),
                ..EndpointHeadersPatchIn::new(BTreeMap::from([("x-c".into(), "3".into())]))
            },
        )
        .await
        .unwrap();
    let headers = endpoints
        .get_headers(app.clone(), ep.id.clone())
        .await
        .unwrap()
        .headers;
    assert_eq!(
        headers,
        BTreeMap::from([("x-a".into(), "1".into()), ("x-c".into(), "3".into())])
    );
    let up = endpoints
        .upsert(
            app.clone(),
            ep.id.clone(),
            EndpointUpsertIn {
                description: Some("upserted".into()),
                ..EndpointUpsertIn::new(receiver.url())
            },
        )
        .await
        .unwrap();
    assert_eq!(up.description, "upserted");

    // Messages, paged; attempts, destinations, resend; recover and stats.
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(
            svix.message()
                .create(
                    app.clone(),
                    MessageIn::new("a.b".into(), json!({"n": n})),
                    None,
                )
                .await
                .unwrap()
                .id,
        );
    }
    receiver.wait_for(3, WAIT).await;
    let page = svix
        .message()
        .list(
            app.clone(),
            Some(MessageListOptions {
                limit: Some(2),
                ..Default::default()
            }),
        )
        .await
        .unwrap();
    assert_eq!((page.data.len(), page.done), (2, false));
    let msg = ids[0].clone();
    server.wait_for_outcome(&app, &msg, &ep.id).await;
    let attempts = svix
        .message_attempt()
        .list_by_msg(app.clone(), msg.clone(), None)
        .await
        .unwrap();
    let attempt = svix
        .message_attempt()
        .get(app.clone(), msg.clone(), attempts.data[0].id.clone(), None)
        .await
        .unwrap();
    assert_eq!(attempt.response_status_code, 200);
    let dests = svix
        .message_attempt()
        .list_attempted_destinations(app.clone(), msg.clone(), None)
        .await
        .unwrap();
    assert_eq!(dests.data[0].id, ep.id);
    svix.message_attempt()
        .resend(app.clone(), msg.clone(), ep.id.clone(), None)
        .await
        .unwrap();
    receiver.wait_for(4, WAIT).await;
    let recovered = endpoints
        .recover(
            app.clone(),
            ep.id.clone(),
            RecoverIn::new(chrono::Utc::now() - chrono::Duration::hours(1)),
            None,
        )
        .await
        .unwrap();
    assert!(!recovered.id.is_empty());
    let stats = endpoints
        .get_stats(app.clone(), ep.id.clone(), None)
        .await
        .unwrap();
    assert!(stats.success >= 3, "{stats:?}");

    // Deleting: then 404 as an HTTP error.
    endpoints.delete(app.clone(), ep.id.clone()).await.unwrap();
    let e = endpoints
        .get(app.clone(), ep.id.clone())
        .await
        .expect_err("a deleted endpoint");
    assert!(
        matches!(&e, svix::error::Error::Http(c) if c.status == 404),
        "{e:?}"
    );
    ops.delete(op.id.clone()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_routes_that_exist_and_needs_no_token() {
    let server = TestServer::start_default().await;
    let r = server
        .http()
        .get(server.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    let paths = doc["paths"].as_object().unwrap();
    for must in [
        "/api/v1/app",
        "/api/v1/app/{app_id}/endpoint/{endpoint_id}",
        "/api/v1/app/{app_id}/msg/{msg_id}",
        "/api/v1/app/{app_id}/endpoint/{endpoint_id}/msg",
        "/api/v1/health/ping",
    ] {
        assert!(paths.contains_key(must), "{must} missing");
    }
    // Every documented GET is a route (an unknown id is 404 `not_found`, never "no such
    // route"), so the document cannot name routes the server does not have.
    for (path, item) in paths {
        if item.get("get").is_none() {
            continue;
        }
        let concrete = path
            .replace("{app_id}", "app_x")
            .replace("{endpoint_id}", "ep_x")
            .replace("{msg_id}", "msg_x")
            .replace("{attempt_id}", "atmpt_x")
            .replace("{event_type_name}", "x.y");
        let (status, body) = server.call(Method::GET, &concrete, None).await;
        assert_ne!(body["detail"], "no such route", "{path}: {status} {body}");
    }
    // Kanca's additions are marked.
    assert_eq!(
        doc["components"]["schemas"]["AttemptOut"]["properties"]["failureReason"]
            ["x-kanca-extension"],
        true
    );
    // Svix's 422 shape is what the document promises.
    let create = &paths["/api/v1/app"]["post"]["responses"]["422"];
    assert!(create.is_object(), "{create}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_creates_what_is_missing_as_the_sdks_upsert_expects() {
    let server = TestServer::start_default().await;
    let receiver = Receiver::start().await;

    // An application that does not exist yet: created with the path's key as its uid.
    let (status, app) = server
        .call(
            Method::PUT,
            "/api/v1/app/tenant-42",
            Some(&json!({"name": "Tenant 42"})),
        )
        .await;
    assert_eq!(status, 201, "{app}");
    assert_eq!(app["uid"], "tenant-42");
    let (status, again) = server
        .call(
            Method::PUT,
            "/api/v1/app/tenant-42",
            Some(&json!({"name": "Tenant 42 renamed"})),
        )
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        (again["id"].clone(), again["name"].clone()),
        (app["id"].clone(), json!("Tenant 42 renamed"))
    );

    // The same for an endpoint, through the Rust SDK's upsert.
    let ep = server
        .svix()
        .endpoint()
        .upsert(
            "tenant-42".into(),
            "primary".into(),
            svix::models::EndpointUpsertIn::new(receiver.url()),
        )
        .await
        .expect("upsert creates the endpoint");
    assert_eq!(ep.uid.as_deref(), Some("primary"));
    let found = server.get("/api/v1/app/tenant-42/endpoint/primary").await;
    assert_eq!(found["id"], ep.id);

    // An id-shaped key that names nothing is still 404: ids are Kanca's to give.
    let (status, _) = server
        .call(
            Method::PUT,
            "/api/v1/app/app_2xKnoSuchApplication0000",
            Some(&json!({"name": "x"})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = server
        .call(
            Method::PUT,
            "/api/v1/app/app_nope/endpoint/x",
            Some(&json!({"url": receiver.url()})),
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expunging_content_drops_payloads_and_response_bodies_through_the_sdk() {
    let server = TestServer::start_default().await;
    let receiver = Receiver::start().await;
    let app = app(&server).await;
    let ep = server
        .create_endpoint(&app, json!({ "url": receiver.url() }))
        .await;
    let secret_msg = server
        .publish(
            &app,
            json!({"eventType": "a.b", "eventId": "evt-1", "payload": {"card": "4242"}}),
        )
        .await;
    let other = server
        .publish(&app, json!({"eventType": "a.b", "payload": {"n": 2}}))
        .await;
    server.wait_until_settled(&app, &secret_msg).await;
    server.wait_until_settled(&app, &other).await;
    let svix = server.svix();

    // The message's payload goes; the message and its attempts stay.
    svix.message()
        .expunge_content(app.clone(), secret_msg.clone())
        .await
        .expect("expunge_content");
    let msg = server
        .get(&format!("/api/v1/app/{app}/msg/{secret_msg}"))
        .await;
    assert!(!msg.to_string().contains("4242"), "payload gone: {msg}");
    let (status, body) = server
        .call(
            Method::POST,
            &format!("/api/v1/app/{app}/msg/{secret_msg}/endpoint/{ep}/resend"),
            None,
        )
        .await;
    assert_eq!(status, 422, "an expunged message cannot be resent: {body}");

    // The attempt's response body goes too.
    let attempts = svix
        .message_attempt()
        .list_by_msg(app.clone(), other.clone(), None)
        .await
        .expect("attempts");
    let attempt = &attempts.data[0];
    assert!(
        !attempt.response.is_empty(),
        "the receiver's answer was kept"
    );
    svix.message_attempt()
        .expunge_content(app.clone(), other.clone(), attempt.id.clone())
        .await
        .expect("attempt expunge_content");
    let again = svix
        .message_attempt()
        .get(app.clone(), other.clone(), attempt.id.clone(), None)
        .await
        .expect("attempt");
    assert_eq!(again.response, "", "response body gone");
    assert_eq!(
        again.response_status_code, 200,
        "the rest of the record stays"
    );

    // In bulk, by id or eventId; unknown ones are named as such.
    let results = svix
        .message()
        .bulk_expunge_content(
            app.clone(),
            svix::models::BulkExpungeContentsIn {
                ids: Some(["evt-1".into(), other.clone(), "msg_nope".into()].into()),
            },
            None,
        )
        .await
        .expect("bulk_expunge_content");
    let results = serde_json::to_value(&results).unwrap();
    assert_eq!(
        results["results"],
        json!({"evt-1": "expunged", other.clone(): "expunged", "msg_nope": "not-found"})
    );

    // Unknown things are 404, never 5xx.
    for path in [
        format!("/api/v1/app/{app}/msg/msg_nope/content"),
        format!("/api/v1/app/{app}/msg/{other}/attempt/atmpt_nope/content"),
        format!("/api/v1/app/{app}/msg/{other}/attempt/not-an-id/content"),
        "/api/v1/app/app_nope/msg/x/content".to_string(),
    ] {
        let (status, body) = server.call(Method::DELETE, &path, None).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    let too_many: Vec<String> = (0..1001).map(|i| format!("evt-{i}")).collect();
    let (status, body) = server
        .call(
            Method::POST,
            &format!("/api/v1/app/{app}/msg/bulk-expunge"),
            Some(&json!({ "ids": too_many })),
        )
        .await;
    assert_eq!(status, 422, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn precheck_says_whether_a_message_would_reach_any_endpoint() {
    let server = TestServer::start_default().await;
    let receiver = Receiver::start().await;
    let app = app(&server).await;
    let svix = server.svix();
    let precheck = |event_type: &str, channels: Option<Vec<&str>>| {
        let svix = &svix;
        let app = app.clone();
        let input = svix::models::MessagePrecheckIn {
            event_type: event_type.to_owned(),
            channels: channels.map(|c| c.into_iter().map(String::from).collect()),
        };
        async move {
            svix.message()
                .precheck(app, input, None)
                .await
                .expect("precheck")
                .active
        }
    };
    assert!(!precheck("a.b", None).await, "no endpoints at all");
    server
        .create_endpoint(
            &app,
            json!({ "url": receiver.url(), "filterTypes": ["a.b"], "channels": ["eu"] }),
        )
        .await;
    let disabled = server
        .create_endpoint(&app, json!({ "url": receiver.url(), "disabled": true }))
        .await;
    assert!(precheck("a.b", Some(vec!["eu"])).await);
    assert!(!precheck("a.b", None).await, "the endpoint wants a channel");
    assert!(!precheck("a.b", Some(vec!["us"])).await);
    assert!(
        !precheck("c.d", Some(vec!["eu"])).await,
        "not subscribed, and the catch-all one is disabled"
    );
    server
        .call_ok(
            Method::PATCH,
            &format!("/api/v1/app/{app}/endpoint/{disabled}"),
            Some(&json!({ "disabled": false })),
        )
        .await;
    assert!(precheck("c.d", None).await, "enabled again, it takes all");

    let (status, body) = server
        .call(
            Method::POST,
            &format!("/api/v1/app/{app}/msg/precheck/active"),
            Some(&json!({ "eventType": "not valid!" })),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = server
        .call(
            Method::POST,
            &format!("/api/v1/app/{app}/msg/precheck/active"),
            Some(&json!({ "channels": ["eu"] })),
        )
        .await;
    assert_eq!(status, 422, "eventType is required: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempt_stats_count_an_endpoints_outcomes_in_a_window() {
    let server = TestServer::start_default().await;
    let ok = Receiver::start().await;
    let app = app(&server).await;
    let ep = server
        .create_endpoint(&app, json!({ "url": ok.url() }))
        .await;
    let mut msgs = Vec::new();
    for n in 0..3 {
        msgs.push(
            server
                .publish(&app, json!({"eventType": "a.b", "payload": {"n": n}}))
                .await,
        );
    }
    for m in &msgs {
        server.wait_until_settled(&app, m).await;
    }
    let svix = server.svix();
    let stats = svix
        .endpoint()
        .get_attempt_stats(app.clone(), ep.clone(), None)
        .await
        .expect("get_attempt_stats");
    assert_eq!((stats.success, stats.fail, stats.canceled), (3, 0, 0));

    // A window that ended before them counts nothing.
    let (status, body) = server
        .call(
            Method::GET,
            &format!(
                "/api/v1/app/{app}/endpoint/{ep}/attempt-stats?since=2020-01-01T00:00:00Z&until=2020-01-02T00:00:00Z"
            ),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"success": 0, "fail": 0, "canceled": 0}));
    let (status, body) = server
        .call(
            Method::GET,
            &format!(
                "/api/v1/app/{app}/endpoint/{ep}/attempt-stats?since=2020-01-02T00:00:00Z&until=2020-01-01T00:00:00Z"
            ),
            None,
        )
        .await;
    assert_eq!(status, 422, "since after until: {body}");
    let (status, _) = server
        .call(
            Method::GET,
            &format!("/api/v1/app/{app}/endpoint/ep_nope/attempt-stats"),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_queue_what_was_missed_or_sent_before_through_the_sdk() {
    let server = TestServer::start_default().await;
    let early = Receiver::start().await;
    let late = Receiver::start().await;
    let app = app(&server).await;
    server
        .create_endpoint(&app, json!({ "url": early.url() }))
        .await;
    let since = chrono::Utc::now() - chrono::Duration::minutes(1);
    let mut before = Vec::new();
    for (n, t) in ["a.b", "c.d", "a.b"].iter().enumerate() {
        before.push(
            server
                .publish(&app, json!({"eventType": t, "payload": {"n": n}}))
                .await,
        );
    }
    for m in &before {
        server.wait_until_settled(&app, m).await;
    }
    // An endpoint created afterwards, for a.b only, missed two of them.
    let ep = server
        .create_endpoint(&app, json!({ "url": late.url(), "filterTypes": ["a.b"] }))
        .await;
    let svix = server.svix();
    let out = svix
        .endpoint()
        .replay_missing(
            app.clone(),
            ep.clone(),
            svix::models::ReplayIn::new(since),
            None,
        )
        .await
        .expect("replay_missing");
    assert!(out.id.starts_with("qtask_"), "{out:?}");
    let got = late.wait_for(2, WAIT).await;
    let mut ns: Vec<Value> = got
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["n"].clone())
        .collect();
    ns.sort_by_key(|n| n.as_i64());
    assert_eq!(
        ns,
        vec![json!(0), json!(2)],
        "only the subscribed ones it missed"
    );
    for m in [&before[0], &before[2]] {
        server.wait_until_settled(&app, m).await;
    }
    // Nothing is missing any more: a second replay sends nothing.
    let (status, body) = server
        .call(
            Method::POST,
            &format!("/api/v1/app/{app}/endpoint/{ep}/replay-missing"),
            Some(&json!({ "since": since })),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["data"]["messagesSent"], 0, "{body}");

    // Bulk replay sends again what was sent, narrowed by event type.
    let mut narrowed = svix::models::BulkReplayIn::new(since);
    narrowed.event_types = Some(["a.b".to_string()].into());
    svix.endpoint()
        .bulk_replay(app.clone(), ep.clone(), narrowed, None)
        .await
        .expect("bulk_replay");
    late.wait_for(4, WAIT).await;
    let (status, body) = server
        .call(
            Method::POST,
            &format!("/api/v1/app/{app}/endpoint/{ep}/bulk-replay"),
            Some(&json!({ "since": since, "status": 2 })),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["data"]["messagesSent"], 0, "none failed: {body}");

    // Bad input is refused, not widened.
    for (body, why) in [
        (json!({ "since": since, "tag": "x" }), "tag"),
        (json!({ "since": since, "status": 9 }), "status"),
        (
            json!({ "since": since, "eventTypes": ["bad type!"] }),
            "event type",
        ),
        (
            json!({ "since": chrono::Utc::now() + chrono::Duration::hours(1) }),
            "since after until",
        ),
        (json!({}), "since is required"),
    ] {
        let (status, answer) = server
            .call(
                Method::POST,
                &format!("/api/v1/app/{app}/endpoint/{ep}/bulk-replay"),
                Some(&body),
            )
            .await;
        assert_eq!(status, 422, "{why}: {answer}");
    }
    let (status, _) = server
        .call(
            Method::POST,
            &format!("/api/v1/app/{app}/endpoint/ep_nope/replay-missing"),
            Some(&json!({ "since": since })),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        early.requests().len(),
        3,
        "the first endpoint got nothing twice"
    );

    // Each replay is a task the SDK can look up, finished, with what it did.
    let task = svix
        .background_task()
        .get(out.id.clone())
        .await
        .expect("background_task.get");
    assert_eq!(task.data["messagesSent"], 2, "{task:?}");
    let listed = svix
        .background_task()
        .list(Some(svix::api::BackgroundTaskListOptions {
            task: Some(svix::models::BackgroundTaskType::EndpointBulkReplay),
            ..Default::default()
        }))
        .await
        .expect("background_task.list");
    assert_eq!(
        listed.data.len(),
        2,
        "two bulk replays were made: {listed:?}"
    );
    let (status, _) = server
        .call(Method::GET, "/api/v1/background-task/qtask_nope", None)
        .await;
    assert_eq!(status, 404);

    // Purging every payload of the application is a task too.
    let purged = svix
        .message()
        .expunge_all_contents(app.clone(), None)
        .await
        .expect("expunge_all_contents");
    let task = svix
        .background_task()
        .get(purged.id)
        .await
        .expect("the purge task");
    assert_eq!(task.data["messagesPurged"], 3, "{task:?}");
    let msg = server
        .get(&format!("/api/v1/app/{app}/msg/{}", before[1]))
        .await;
    assert!(
        !msg.to_string().contains("\"n\":1"),
        "payload purged: {msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openapi_documents_webhooks_become_the_event_catalog_through_the_sdk() {
    let server = TestServer::start_default().await;
    let svix = server.svix();
    server
        .post(
            "/api/v1/event-type",
            &json!({ "name": "legacy.thing", "description": "old" }),
        )
        .await;
    let spec = json!({
        "openapi": "3.1.0",
        "info": {"title": "Billing", "version": "1"},
        "webhooks": {
            "invoice.paid": {"post": {
                "description": "An invoice was paid",
                "requestBody": {"content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Invoice"}}}}
            }}
        },
        "components": {"schemas": {"Invoice": {
            "type": "object", "examples": [{"amount": 100}],
            "properties": {"amount": {"type": "integer"}}
        }}}
    });
    let mut dry = svix::models::EventTypeImportOpenApiIn::new();
    dry.spec = Some(spec.clone());
    dry.dry_run = Some(true);
    let out = svix
        .event_type()
        .import_openapi(dry, None)
        .await
        .expect("dry run");
    assert!(out.data.modified.is_empty(), "{out:?}");
    assert_eq!(
        out.data.to_modify.as_ref().map(Vec::len),
        Some(1),
        "{out:?}"
    );
    let (status, _) = server
        .call(Method::GET, "/api/v1/event-type/invoice.paid", None)
        .await;
    assert_eq!(status, 404, "a dry run changes nothing");

    let mut real = svix::models::EventTypeImportOpenApiIn::new();
    real.spec_raw = Some(spec.to_string());
    real.replace_all = Some(true);
    let out = svix
        .event_type()
        .import_openapi(real, None)
        .await
        .expect("import");
    assert_eq!(out.data.modified, vec!["invoice.paid".to_string()]);
    let et = server.get("/api/v1/event-type/invoice.paid").await;
    assert_eq!(et["description"], "An invoice was paid");
    assert_eq!(
        et["schemas"]["1"]["examples"],
        json!([{"amount": 100}]),
        "the schema, its $ref inlined: {et}"
    );
    let legacy = server.get("/api/v1/event-type/legacy.thing").await;
    assert_eq!(legacy["archived"], true, "replaceAll archives the rest");

    // The imported example is what "send test event" delivers.
    let receiver = Receiver::start().await;
    let app = app(&server).await;
    let ep = server
        .create_endpoint(&app, json!({ "url": receiver.url() }))
        .await;
    server
        .post(
            &format!("/api/v1/app/{app}/endpoint/{ep}/send-example"),
            &json!({ "eventType": "invoice.paid" }),
        )
        .await;
    let got = receiver.wait_for(1, WAIT).await;
    assert_eq!(
        serde_json::from_slice::<Value>(&got[0].body).unwrap(),
        json!({"amount": 100})
    );

    for (body, why) in [
        (json!({ "specRaw": "openapi: 3.1.0" }), "YAML"),
        (json!({ "spec": {"openapi": "3.1.0"} }), "no webhooks"),
        (json!({}), "no document"),
        (json!({ "spec": {}, "specRaw": "{}" }), "both"),
    ] {
        let (status, answer) = server
            .call(
                Method::POST,
                "/api/v1/event-type/import/openapi",
                Some(&body),
            )
            .await;
        assert_eq!(status, 422, "{why}: {answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transformations_are_off_and_turning_one_on_is_refused() {
    let server = TestServer::start_default().await;
    let receiver = Receiver::start().await;
    let app = app(&server).await;
    let ep = server
        .create_endpoint(&app, json!({ "url": receiver.url() }))
        .await;
    let svix = server.svix();
    let t = svix
        .endpoint()
        .transformation()
        .get(app.clone(), ep.clone())
        .await
        .expect("transformation get");
    assert_eq!(t.enabled, Some(false));
    let mut off = svix::models::EndpointTransformationPatch::new();
    off.enabled = Some(false);
    svix.endpoint()
        .transformation()
        .patch(app.clone(), ep.clone(), off)
        .await
        .expect("turning it off is fine");
    let (status, body) = server
        .call(
            Method::PATCH,
            &format!("/api/v1/app/{app}/endpoint/{ep}/transformation"),
            Some(&json!({ "enabled": true, "code": "function handler(w) { return w }" })),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("not supported"), "{body}");
}

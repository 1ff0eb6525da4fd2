//! Retries: a failed delivery is tried again on the schedule, every attempt is recorded, and
//! the delivery ends as a success on the first 2xx or as a failure when the schedule runs out.
//!
//! The server runs with `KANCA_RETRY_SCHEDULE=100ms,200ms`: three attempts in all. The
//! receiver's script decides each answer, so the expected attempt log is known exactly.

use crate::common::*;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_delivery_is_retried_until_it_succeeds() {
    let server = TestServer::start_default().await;
    let receiver = Receiver::start().await;
    receiver.reply_with([Reply::Status(500), Reply::Status(500)]);
    receiver.set_default(Reply::Status(200));
    let (app, endpoint, msg) = publish_one(&server, &receiver).await;

    receiver.wait_for(3, WAIT).await;
    let outcome = server.wait_for_outcome(&app, &msg, &endpoint).await;
    assert_eq!(outcome["status"], STATUS_SUCCESS, "{outcome}");
    assert_eq!(outcome["statusText"], "success", "{outcome}");

    let attempts = attempts_after_settling(&server, &app, &msg, &endpoint).await;
    assert_eq!(codes(&attempts), [500, 500, 200], "{attempts:#?}");
    assert_eq!(
        statuses(&attempts),
        [STATUS_FAIL, STATUS_FAIL, STATUS_SUCCESS]
    );
    assert_delivered_times(&receiver, &msg, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_that_always_fails_ends_as_failed_after_the_schedule() {
    let server = TestServer::start_default().await;
    let receiver = Receiver::start().await;
    receiver.set_default(Reply::Status(500));
    let (app, endpoint, msg) = publish_one(&server, &receiver).await;

    receiver.wait_for(3, WAIT).await;
    let outcome = server.wait_for_outcome(&app, &msg, &endpoint).await;
    assert_eq!(outcome["status"], STATUS_FAIL, "{outcome}");
    assert_eq!(outcome["statusText"], "fail", "{outcome}");
    assert!(
        outcome["nextAttempt"].is_null(),
        "nothing is scheduled once the schedule is used up: {outcome}"
    );

    let attempts = attempts_after_settling(&server, &app, &msg, &endpoint).await;
    assert_eq!(codes(&attempts), [500, 500, 500], "{attempts:#?}");
    assert_eq!(statuses(&attempts), [STATUS_FAIL; 3]);
    // The first attempt plus one per entry of the schedule, and then no more.
    assert_delivered_times(&receiver, &msg, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_a_failure_and_is_not_followed() {
    let server = TestServer::start_default().await;
    let receiver = Receiver::start().await;
    // Redirects to another path of the same receiver, so following one would show up there.
    let elsewhere = format!("{}followed", receiver.url());
    receiver.reply_with([
        Reply::Redirect(301, elsewhere.clone()),
        Reply::Redirect(302, elsewhere.clone()),
    ]);
    receiver.set_default(Reply::Redirect(307, elsewhere));
    let (app, endpoint, msg) = publish_one(&server, &receiver).await;

    receiver.wait_for(3, WAIT).await;
    let outcome = server.wait_for_outcome(&app, &msg, &endpoint).await;
    assert_eq!(outcome["status"], STATUS_FAIL, "{outcome}");

    let attempts = attempts_after_settling(&server, &app, &msg, &endpoint).await;
    assert_eq!(codes(&attempts), [301, 302, 307], "{attempts:#?}");
    assert_eq!(statuses(&attempts), [STATUS_FAIL; 3]);
    let followed: Vec<_> = receiver
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/followed"))
        .collect();
    assert!(followed.is_empty(), "a redirect was followed: {followed:?}");
    assert_delivered_times(&receiver, &msg, 3);
}

/// An application with one endpoint on `receiver`, and one message published to it.
/// Returns the app, endpoint and message ids.
async fn publish_one(server: &TestServer, receiver: &Receiver) -> (String, String, String) {
    let app = server.create_app("Retries").await;
    let endpoint = server
        .create_endpoint(&app, json!({ "url": receiver.url() }))
        .await;
    let msg = server
        .publish(
            &app,
            json!({ "eventType": "order.shipped", "payload": { "orderId": "o_1" } }),
        )
        .await;
    (app, endpoint, msg)
}

/// The attempt log of a message once the delivery is over and any stray retry would have
/// landed, checked to belong to this message and endpoint; oldest first.
async fn attempts_after_settling(
    server: &TestServer,
    app: &str,
    msg: &str,
    endpoint: &str,
) -> Vec<Value> {
    settle().await;
    let attempts = server.attempts_for_msg(app, msg).await;
    for attempt in &attempts {
        assert_eq!(attempt["msgId"], msg, "{attempt}");
        assert_eq!(attempt["endpointId"], endpoint, "{attempt}");
        assert!(
            attempt["id"]
                .as_str()
                .is_some_and(|id| id.starts_with("atmpt_")),
            "{attempt}"
        );
    }
    attempts
}

fn codes(attempts: &[Value]) -> Vec<i64> {
    attempts
        .iter()
        .map(|a| a["responseStatusCode"].as_i64().unwrap_or(-1))
        .collect()
}

fn statuses(attempts: &[Value]) -> Vec<i64> {
    attempts
        .iter()
        .map(|a| a["status"].as_i64().unwrap_or(-1))
        .collect()
}

/// The receiver got exactly `times` requests, all of them this message.
fn assert_delivered_times(receiver: &Receiver, msg: &str, times: usize) {
    let requests = receiver.requests();
    assert_eq!(requests.len(), times, "{requests:#?}");
    for request in &requests {
        assert_eq!(request.webhook_id(), msg);
    }
}

//! Svix's official Rust SDK (`svix` 2.x), unchanged, driving Kanca.
//!
//! Kanca promises that Svix's SDKs work against it as they are. These tests use only the SDK's
//! public API for everything they do to the server, so any difference in routes, field names,
//! status codes or JSON shapes that the SDK cares about shows up here as an SDK error. The
//! deliveries are checked with the SDK's own `Webhook::verify`, as a consumer would.

use crate::common::*;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use svix::api::Svix;
use svix::models::{
    ApplicationIn, ApplicationPatch, EndpointIn, EndpointPatch, EndpointUpsertIn, EventExampleIn,
    EventTypeIn, MessageAttemptOut, MessageIn, MessageStatus,
};
use svix::webhooks::Webhook;

/// The secret from Standard Webhooks' test vector: a valid `whsec_` key chosen by the caller.
const CHOSEN_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applications_round_trip_through_the_sdk() {
    let server = TestServer::start_default().await;
    let svix = server.svix();
    let apps = svix.application();

    let billing = apps
        .create(
            ApplicationIn {
                uid: Some("billing".into()),
                metadata: Some(strings(&[("team", "payments")])),
                ..ApplicationIn::new("Billing".into())
            },
            None,
        )
        .await
        .expect("creating an application");
    assert!(billing.id.starts_with("app_"), "{billing:?}");
    assert_eq!(billing.name, "Billing");
    assert_eq!(billing.uid.as_deref(), Some("billing"));
    assert_eq!(billing.metadata, strings(&[("team", "payments")]));

    // get_or_create: the first call creates, the second finds what the first created, and it
    // also finds an application made by a plain create.
    let shipping_in = ApplicationIn {
        uid: Some("shipping".into()),
        ..ApplicationIn::new("Shipping".into())
    };
    let shipping = apps
        .get_or_create(shipping_in.clone(), None)
        .await
        .expect("get_or_create (creating)");
    let shipping_again = apps
        .get_or_create(shipping_in, None)
        .await
        .expect("get_or_create (existing)");
    assert_eq!(shipping.id, shipping_again.id);
    let billing_found = apps
        .get_or_create(
            ApplicationIn {
                uid: Some("billing".into()),
                ..ApplicationIn::new("Billing".into())
            },
            None,
        )
        .await
        .expect("get_or_create of an application made by create");
    assert_eq!(billing_found.id, billing.id);

    // A uid stands in for the id, and what is read back is exactly what create returned,
    // timestamps included (a client may compare them).
    let by_id = apps.get(billing.id.clone()).await.expect("get by id");
    let by_uid = apps.get("billing".into()).await.expect("get by uid");
    assert_eq!(by_id, billing, "read back by id");
    assert_eq!(by_uid, billing, "read back by uid");

    // The built-in `workspace` application (the Slack workspace's events) is listed too.
    let listed = apps.list(None).await.expect("listing applications");
    assert_eq!(
        ids(listed
            .data
            .iter()
            .filter(|a| a.uid.as_deref() != Some("workspace"))
            .map(|a| &a.id)),
        ids([&billing.id, &shipping.id])
    );
    assert!(listed.done, "two applications fit in one page: {listed:?}");

    let updated = apps
        .upsert(
            billing.id.clone(),
            ApplicationIn {
                uid: Some("billing".into()),
                ..ApplicationIn::new("Billing v2".into())
            },
        )
        .await
        .expect("updating an application");
    assert_eq!(updated.id, billing.id);
    assert_eq!(updated.name, "Billing v2");

    let patched = apps
        .patch(
            billing.id.clone(),
            ApplicationPatch {
                name: Some("Billing v3".into()),
                ..ApplicationPatch::new()
            },
        )
        .await
        .expect("patching an application");
    assert_eq!(patched.name, "Billing v3");
    // A patch leaves alone what it does not mention.
    assert_eq!(patched.uid.as_deref(), Some("billing"));
    assert_eq!(
        apps.get(billing.id.clone()).await.expect("get").name,
        "Billing v3"
    );

    apps.delete(shipping.id.clone())
        .await
        .expect("deleting an application");
    expect_http_status(apps.get(shipping.id.clone()).await, 404);
    let listed = apps.list(None).await.expect("listing applications");
    assert_eq!(
        ids(listed
            .data
            .iter()
            .filter(|a| a.uid.as_deref() != Some("workspace"))
            .map(|a| &a.id)),
        ids([&billing.id])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_types_carry_their_schema_through_the_sdk() {
    let server = TestServer::start_default().await;
    let svix = server.svix();
    let event_types = svix.event_type();

    let schemas = invoice_schemas();
    let created = event_types
        .create(
            EventTypeIn {
                schemas: Some(schemas.clone()),
                ..EventTypeIn::new("invoice.paid".into(), "An invoice was paid".into())
            },
            None,
        )
        .await
        .expect("creating an event type");
    assert_eq!(created.name, "invoice.paid");
    assert_eq!(created.description, "An invoice was paid");
    assert_eq!(created.schemas.as_ref(), Some(&schemas));

    let fetched = event_types
        .get("invoice.paid".into())
        .await
        .expect("getting an event type");
    assert_eq!(fetched.description, "An invoice was paid");
    assert_eq!(fetched.schemas.as_ref(), Some(&schemas));

    event_types
        .create(
            EventTypeIn::new("invoice.refunded".into(), "An invoice was refunded".into()),
            None,
        )
        .await
        .expect("creating a second event type");
    let listed = event_types.list(None).await.expect("listing event types");
    // Besides the workspace's own event types, in the catalog from the first start.
    let names: BTreeSet<&str> = listed
        .data
        .iter()
        .filter(|t| t.group_name.as_deref() != Some("workspace"))
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(names, BTreeSet::from(["invoice.paid", "invoice.refunded"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_round_trip_through_the_sdk() {
    let server = TestServer::start_default().await;
    let svix = server.svix();
    let app = svix
        .application()
        .create(ApplicationIn::new("Endpoints".into()), None)
        .await
        .expect("creating an application");
    for name in ["user.created", "user.deleted"] {
        svix.event_type()
            .create(EventTypeIn::new(name.into(), format!("{name} event")), None)
            .await
            .expect("creating an event type");
    }
    let endpoints = svix.endpoint();

    let created = endpoints
        .create(
            app.id.clone(),
            EndpointIn {
                description: Some("CRM sync".into()),
                uid: Some("crm".into()),
                event_types: Some(set(&["user.created"])),
                metadata: Some(strings(&[("owner", "crm-team")])),
                ..EndpointIn::new("https://crm.example.com/hooks".into())
            },
            None,
        )
        .await
        .expect("creating an endpoint");
    assert!(created.id.starts_with("ep_"), "{created:?}");
    assert_eq!(created.url, "https://crm.example.com/hooks");
    assert_eq!(created.description, "CRM sync");
    assert_eq!(created.uid.as_deref(), Some("crm"));
    assert_eq!(created.event_types, Some(set(&["user.created"])));
    assert_eq!(created.metadata, strings(&[("owner", "crm-team")]));

    let by_id = endpoints
        .get(app.id.clone(), created.id.clone())
        .await
        .expect("get by id");
    let by_uid = endpoints
        .get(app.id.clone(), "crm".into())
        .await
        .expect("get by uid");
    // Read back exactly as created, timestamps included.
    assert_eq!(by_id, created, "read back by id");
    assert_eq!(by_uid, created, "read back by uid");

    let listed = endpoints
        .list(app.id.clone(), None)
        .await
        .expect("listing endpoints");
    assert_eq!(ids(listed.data.iter().map(|e| &e.id)), ids([&created.id]));

    let updated = endpoints
        .upsert(
            app.id.clone(),
            created.id.clone(),
            EndpointUpsertIn {
                description: Some("CRM sync, both events".into()),
                uid: Some("crm".into()),
                event_types: Some(set(&["user.created", "user.deleted"])),
                ..EndpointUpsertIn::new("https://crm.example.com/hooks/v2".into())
            },
        )
        .await
        .expect("updating an endpoint");
    assert_eq!(updated.id, created.id);
    assert_eq!(updated.url, "https://crm.example.com/hooks/v2");
    assert_eq!(updated.description, "CRM sync, both events");
    assert_eq!(
        updated.event_types,
        Some(set(&["user.created", "user.deleted"]))
    );

    let patched = endpoints
        .patch(
            app.id.clone(),
            created.id.clone(),
            EndpointPatch {
                description: Some("patched".into()),
                ..EndpointPatch::new()
            },
        )
        .await
        .expect("patching an endpoint");
    assert_eq!(patched.description, "patched");
    // Untouched by the patch.
    assert_eq!(patched.url, "https://crm.example.com/hooks/v2");
    assert_eq!(
        patched.event_types,
        Some(set(&["user.created", "user.deleted"]))
    );

    let secret = endpoints
        .get_secret(app.id.clone(), created.id.clone())
        .await
        .expect("getting the endpoint's secret");
    assert!(secret.key.starts_with("whsec_"), "{secret:?}");
    Webhook::new(&secret.key).expect("the generated secret is a usable key");

    // A secret chosen at creation is the one the endpoint keeps.
    let chosen = endpoints
        .create(
            app.id.clone(),
            EndpointIn {
                secret: Some(CHOSEN_SECRET.into()),
                ..EndpointIn::new("https://erp.example.com/hooks".into())
            },
            None,
        )
        .await
        .expect("creating an endpoint with a chosen secret");
    let chosen_secret = endpoints
        .get_secret(app.id.clone(), chosen.id.clone())
        .await
        .expect("getting the chosen secret");
    assert_eq!(chosen_secret.key, CHOSEN_SECRET);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_message_arrives_signed_and_its_attempt_is_listed() {
    let server = TestServer::start_default().await;
    let receiver = Receiver::start().await;
    let svix = server.svix();
    let (app_id, endpoint_id, secret) = app_with_receiver(&svix, &receiver).await;

    // Svix does not require the event type to exist in the catalog, and neither may Kanca.
    let payload = json!({ "user": { "id": "u_1", "email": "ada@example.com" }, "n": 42 });
    let message = svix
        .message()
        .create(
            app_id.clone(),
            MessageIn::new("user.created".into(), payload.clone()),
            None,
        )
        .await
        .expect("publishing a message");
    assert!(message.id.starts_with("msg_"), "{message:?}");
    assert_eq!(message.event_type, "user.created");

    let delivery = receiver.wait_for(1, WAIT).await.remove(0);
    assert_eq!(delivery.method, "POST");
    assert_eq!(delivery.json(), payload);
    assert_eq!(delivery.webhook_id(), message.id);
    assert_signed(&delivery, &secret);

    let attempts = eventually(
        "the SDK to list a successful attempt for the message",
        || {
            let svix = &svix;
            let (app_id, msg_id) = (app_id.clone(), message.id.clone());
            async move {
                let list = svix
                    .message_attempt()
                    .list_by_msg(app_id, msg_id, None)
                    .await
                    .map_err(|e| e.to_string())?;
                successful(list.data)
            }
        },
    )
    .await;
    assert_eq!(attempts.len(), 1, "one delivery, one attempt: {attempts:?}");
    let attempt = &attempts[0];
    assert_eq!(attempt.response_status_code, 200);
    assert_eq!(attempt.msg_id, message.id);
    assert_eq!(attempt.endpoint_id, endpoint_id);
    assert_eq!(attempt.url, receiver.url());

    let by_endpoint = svix
        .message_attempt()
        .list_by_endpoint(app_id.clone(), endpoint_id.clone(), None)
        .await
        .expect("listing attempts by endpoint");
    assert_eq!(by_endpoint.data.len(), 1, "{by_endpoint:?}");
    assert_eq!(by_endpoint.data[0].id, attempt.id);
    assert_eq!(by_endpoint.data[0].status, MessageStatus::Success);
    assert_eq!(by_endpoint.data[0].response_status_code, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_example_delivers_the_schema_example() {
    let server = TestServer::start_default().await;
    let receiver = Receiver::start().await;
    let svix = server.svix();
    svix.event_type()
        .create(
            EventTypeIn {
                schemas: Some(invoice_schemas()),
                ..EventTypeIn::new("invoice.paid".into(), "An invoice was paid".into())
            },
            None,
        )
        .await
        .expect("creating an event type with an example");
    let (app_id, endpoint_id, secret) = app_with_receiver(&svix, &receiver).await;

    let message = svix
        .endpoint()
        .send_example(
            app_id,
            endpoint_id,
            EventExampleIn::new("invoice.paid".into()),
            None,
        )
        .await
        .expect("sending the example");
    assert_eq!(message.event_type, "invoice.paid");

    let delivery = receiver.wait_for(1, WAIT).await.remove(0);
    assert_eq!(delivery.json(), invoice_example());
    assert_eq!(delivery.webhook_id(), message.id);
    assert_signed(&delivery, &secret);
}

/// An application with one endpoint pointing at `receiver`; returns their ids and the secret.
async fn app_with_receiver(svix: &Svix, receiver: &Receiver) -> (String, String, String) {
    let app = svix
        .application()
        .create(ApplicationIn::new("Deliveries".into()), None)
        .await
        .expect("creating an application");
    let endpoint = svix
        .endpoint()
        .create(app.id.clone(), EndpointIn::new(receiver.url()), None)
        .await
        .expect("creating an endpoint");
    let secret = svix
        .endpoint()
        .get_secret(app.id.clone(), endpoint.id.clone())
        .await
        .expect("getting the endpoint's secret")
        .key;
    (app.id, endpoint.id, secret)
}

/// Checks a delivery the way a consumer does, with the SDK's verifier, through each of the two
/// header families on its own, and checks that a tampered body is refused (so a verifier that
/// accepts anything cannot make this pass).
fn assert_signed(delivery: &RecordedRequest, secret: &str) {
    assert_eq!(
        delivery.header("content-type"),
        Some("application/json"),
        "{delivery:?}"
    );
    for name in ["id", "timestamp", "signature"] {
        assert_eq!(
            delivery.header(&format!("svix-{name}")),
            delivery.header(&format!("webhook-{name}")),
            "svix-{name} and webhook-{name} must carry the same value"
        );
    }
    let webhook = Webhook::new(secret).expect("the endpoint secret is a valid key");
    for family in ["webhook", "svix"] {
        let headers = header_family(delivery, family);
        webhook
            .verify(&delivery.body, &headers)
            .unwrap_or_else(|e| panic!("{family}-* headers do not verify: {e}; {delivery:?}"));
    }
    assert!(
        webhook
            .verify(b"{\"tampered\":true}", &delivery.headers)
            .is_err(),
        "a tampered body must not verify"
    );
}

/// Only the `{family}-id`, `-timestamp` and `-signature` headers of a delivery.
fn header_family(delivery: &RecordedRequest, family: &str) -> axum::http::HeaderMap {
    let mut headers = axum::http::HeaderMap::new();
    for name in ["id", "timestamp", "signature"] {
        let key = format!("{family}-{name}");
        let value = delivery
            .headers
            .get(&key)
            .unwrap_or_else(|| panic!("the delivery has no {key} header: {delivery:?}"));
        headers.insert(
            axum::http::HeaderName::try_from(key).expect("a valid header name"),
            value.clone(),
        );
    }
    headers
}

/// The attempts that succeeded, or what was seen instead.
fn successful(attempts: Vec<MessageAttemptOut>) -> Result<Vec<MessageAttemptOut>, String> {
    if attempts.iter().any(|a| a.status == MessageStatus::Success) {
        Ok(attempts)
    } else {
        Err(format!("{attempts:?}"))
    }
}

fn invoice_example() -> serde_json::Value {
    json!({ "invoiceId": "inv_1", "amount": 4200, "currency": "EUR" })
}

/// Version 1 of `invoice.paid`: a JSON Schema with one example, as Svix's catalog holds it.
fn invoice_schemas() -> serde_json::Value {
    json!({
        "1": {
            "type": "object",
            "title": "Invoice paid",
            "properties": {
                "invoiceId": { "type": "string" },
                "amount": { "type": "integer" },
                "currency": { "type": "string" }
            },
            "required": ["invoiceId", "amount"],
            "examples": [invoice_example()]
        }
    })
}

/// Fails unless `result` is an HTTP error with `status`.
fn expect_http_status<T: std::fmt::Debug>(result: svix::error::Result<T>, status: u16) {
    match result {
        Err(svix::error::Error::Http(e)) => assert_eq!(e.status.as_u16(), status, "{e:?}"),
        other => panic!("expected an HTTP {status} error, got {other:?}"),
    }
}

fn strings(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn ids<'a>(ids: impl IntoIterator<Item = &'a String>) -> BTreeSet<String> {
    ids.into_iter().cloned().collect()
}

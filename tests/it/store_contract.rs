//! The store contract: the `Store` interface, called as the rest of Kanca calls it, held to the
//! same rules on every backend. Each test below runs twice in one run of the suite, as
//! `store_contract::sqlite::<test>` on a fresh SQLite file in a temporary directory and as
//! `store_contract::postgres::<test>` on a fresh PostgreSQL database.
//!
//! The PostgreSQL half needs a server: `KANCA_TEST_DATABASE_URL` (for example
//! `postgres://postgres@127.0.0.1:5432/test`), whose user may create databases. Unset, each of
//! its tests prints why it skips and passes, so `cargo test` works anywhere; set (as in CI), a
//! server that cannot be reached fails them. Each test gets a database of its own, dropped at
//! the end.
//!
//! "Two nodes" are two stores opened on the same database: two pools, nothing shared in
//! memory, which is what two Kanca processes are to each other.

use crate::common::{postgres_url, skipped, TestDatabase};
use chrono::{DateTime, Duration as TimeDelta, Utc};
use kanca::domain::*;
use kanca::store::*;
use sqlx::Connection;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;

/// Every contract test, once per backend.
macro_rules! on_every_backend {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(super::TestDb::sqlite()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    if let Some(db) = super::TestDb::postgres().await {
                        super::$test(db).await;
                    }
                }
            )*
        }
    };
}

on_every_backend!(
    messages_fan_out_by_event_type_and_channel_and_read_back_exactly,
    an_idempotency_key_makes_one_message_even_from_two_nodes_at_once,
    two_nodes_claiming_at_once_never_take_the_same_delivery,
    a_lease_that_runs_out_is_claimed_again_and_startup_releases_only_its_own,
    a_restarted_node_takes_back_its_own_leases_at_once,
    a_node_that_lost_its_lease_cannot_move_the_delivery_on,
    attempts_move_the_delivery_and_keep_the_run_of_failures,
    deferred_deliveries_wait_for_their_slot,
    paced_deliveries_are_recalled_but_retries_and_throttle_slots_stay,
    lists_page_in_byte_order_like_sqlite,
    resend_and_recover_queue_work_again,
    new_work_on_one_node_wakes_the_other,
    a_claim_left_in_the_writer_rides_on_the_next_commit_that_queues_work,
    conflicts_secrets_internal_apps_and_retention,
);

/// A database of the test's own on one backend, removed (best effort) when this goes out of
/// scope, even when the test panics.
struct TestDb {
    url: String,
    /// The PostgreSQL database, for the tests that reach past the store (its connections).
    postgres: Option<TestDatabase>,
    _dir: Option<TempDir>,
}

impl TestDb {
    /// A fresh SQLite file in a temporary directory.
    fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("a temporary directory");
        TestDb {
            url: format!("sqlite://{}/kanca.db", dir.path().display()),
            postgres: None,
            _dir: Some(dir),
        }
    }

    /// A fresh PostgreSQL database; `None`, with a note, when no server is configured.
    async fn postgres() -> Option<TestDb> {
        if postgres_url().is_none() {
            skipped("KANCA_TEST_DATABASE_URL is unset, so the store contract runs on SQLite only");
            return None;
        }
        // A linguistic default collation where the server has ICU, so the paging tests show
        // that the schema's byte-order columns, not the server default, decide the order.
        let db = TestDatabase::create_on_postgres_with_icu_collation().await;
        Some(TestDb {
            url: db.url.clone(),
            postgres: Some(db),
            _dir: None,
        })
    }

    /// Two nodes, opened (and migrated) at the same time on PostgreSQL. One node owns a SQLite
    /// database, and SQLite's migrations take no lock across connections: there the second
    /// opens once the first has migrated.
    async fn two_nodes(&self) -> (DynStore, DynStore) {
        let options = StoreOptions::default();
        let (a, b) = match self.postgres {
            Some(_) => {
                tokio::join!(
                    connect(&self.url, "node-a", &options),
                    connect(&self.url, "node-b", &options)
                )
            }
            None => {
                let a = connect(&self.url, "node-a", &options).await;
                (a, connect(&self.url, "node-b", &options).await)
            }
        };
        (a.expect("node a connects"), b.expect("node b connects"))
    }
}

fn page(limit: u32, iterator: Option<String>, ascending: bool) -> PageRequest {
    PageRequest {
        limit,
        iterator,
        ascending,
    }
}

async fn app(store: &DynStore) -> Application {
    store
        .create_app(ApplicationFields {
            uid: None,
            name: "Test app".into(),
            throttle_rate: None,
            metadata: BTreeMap::from([("team".into(), "payments".into())]),
        })
        .await
        .expect("create app")
}

fn names<T>(list: &[&str], parse: fn(&str) -> Result<T, ParseError>) -> BTreeSet<T>
where
    T: Ord,
{
    list.iter().map(|s| parse(s).expect("valid name")).collect()
}

async fn endpoint(
    store: &DynStore,
    app: &AppId,
    types: Option<&[&str]>,
    channels: Option<&[&str]>,
    disabled: bool,
) -> Endpoint {
    store
        .create_endpoint(
            app,
            EndpointFields {
                uid: None,
                url: EndpointUrl::parse("https://example.com/hook", false).expect("url"),
                description: "receiver".into(),
                event_types: types.map(|t| names(t, EventTypeName::parse)),
                channels: channels.map(|c| names(c, ChannelName::parse)),
                disabled,
                throttle_rate: Some(10),
                metadata: BTreeMap::new(),
                headers: BTreeMap::from([("x-test".into(), "1".into())]),
            },
            EndpointSecret::generate(),
        )
        .await
        .expect("create endpoint")
}

/// A message created a second ago, so its deliveries are due now.
fn message(app: &AppId, event_type: &str, channels: Option<&[&str]>) -> Message {
    let created_at = Utc::now() - TimeDelta::seconds(1);
    Message {
        id: MessageId::generate(),
        app_id: app.clone(),
        event_type: EventTypeName::parse(event_type).expect("event type"),
        event_id: None,
        payload: Some("{\"amount\":  1.50, \"note\": \"caf\u{e9} \\u0000\"}".into()),
        channels: channels.map(|c| names(c, ChannelName::parse)),
        tags: Some(BTreeSet::from(["tag-a".to_string()])),
        created_at,
        payload_expires_at: created_at + TimeDelta::days(90),
        deliver_at: None,
        received: None,
    }
}

async fn send(store: &DynStore, msg: &Message) -> usize {
    sent(store, msg).await.0
}

/// The deliveries a publish queued, and whether a waiting claim rode on its commit.
async fn sent(store: &DynStore, msg: &Message) -> (usize, bool) {
    match store
        .create_message(msg, FanOut::Subscribed, None)
        .await
        .expect("create message")
    {
        CreateMessageOutcome::Created {
            deliveries,
            claimed,
        } => (deliveries, claimed),
        CreateMessageOutcome::Replayed(_) => panic!("nothing to replay without a key"),
    }
}

async fn claim_all(store: &DynStore, now: DateTime<Utc>) -> Vec<DeliveryJob> {
    store
        .claim_due(now, 1000, Duration::from_secs(60))
        .await
        .expect("claim")
}

fn attempt(job: &DeliveryJob, status: DeliveryStatus, response: &str) -> Attempt {
    Attempt {
        id: AttemptId::generate(),
        msg_id: job.msg_id.clone(),
        endpoint_id: job.endpoint.id.clone(),
        url: job.endpoint.fields.url.as_str().to_owned(),
        response_status_code: if status == DeliveryStatus::Success {
            200
        } else {
            500
        },
        response: response.into(),
        response_duration_ms: 12,
        status,
        trigger_type: job.trigger,
        failure_reason: None,
        created_at: Utc::now(),
    }
}

async fn destination_status(store: &DynStore, app: &AppId, msg: &MessageId) -> DeliveryStatus {
    let dests = store
        .message_destinations(app, msg, &page(10, None, true))
        .await
        .expect("destinations");
    assert_eq!(dests.len(), 1);
    dests[0].status
}

async fn messages_fan_out_by_event_type_and_channel_and_read_back_exactly(db: TestDb) {
    let (store, _) = db.two_nodes().await;
    let app = app(&store).await;
    let all = endpoint(&store, &app.id, None, None, false).await;
    let typed = endpoint(&store, &app.id, Some(&["user.created"]), None, false).await;
    let channel = endpoint(&store, &app.id, None, Some(&["ch:1"]), false).await;
    let off = endpoint(&store, &app.id, None, None, true).await;

    let created = message(&app.id, "user.created", None);
    assert_eq!(send(&store, &created).await, 2, "all + typed");
    let deleted = message(&app.id, "user.deleted", Some(&["ch:1", "ch:2"]));
    assert_eq!(send(&store, &deleted).await, 2, "all + channel");
    let test_event = message(&app.id, "user.deleted", None);
    let outcome = store
        .create_message(&test_event, FanOut::Only(off.id.clone()), None)
        .await
        .expect("test event");
    assert!(matches!(
        outcome,
        CreateMessageOutcome::Created { deliveries: 1, .. }
    ));

    let dests = store
        .message_destinations(&app.id, &created.id, &page(10, None, true))
        .await
        .expect("destinations");
    let mut expected = vec![all.id.clone(), typed.id.clone()];
    expected.sort();
    let got: Vec<_> = dests.iter().map(|d| d.endpoint.id.clone()).collect();
    assert_eq!(got, expected);
    assert!(dests.iter().all(|d| d.status == DeliveryStatus::Pending));
    assert!(dests.iter().all(|d| d.next_attempt_at.is_some()));
    let stats = store.endpoint_stats(&app.id, &channel.id).await.unwrap();
    assert_eq!((stats.pending, stats.success), (1, 0));

    let read = store
        .get_message(&app.id, &deleted.id)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(read.payload, deleted.payload, "payload bytes kept exactly");
    assert_eq!(read.channels, deleted.channels);
    assert_eq!(read.tags, deleted.tags);
    assert_eq!(read.created_at, created_at_ms(deleted.created_at));

    let ep = store
        .get_endpoint(&app.id, &IdOrUid::parse(typed.id.as_str()).unwrap())
        .await
        .unwrap()
        .expect("endpoint");
    assert_eq!(ep.fields.event_types, typed.fields.event_types);
    assert_eq!(ep.fields.headers, typed.fields.headers);
    assert_eq!(ep.fields.throttle_rate, Some(10));
    assert_eq!(ep.secret, typed.secret);

    // The test event goes to the disabled endpoint anyway, as a manual trigger.
    let jobs = claim_all(&store, Utc::now()).await;
    assert_eq!(jobs.len(), 5);
    let manual = jobs.iter().find(|j| j.msg_id == test_event.id).unwrap();
    assert_eq!(manual.trigger, TriggerType::Manual);
    assert_eq!(manual.endpoint.id, off.id);
    assert_eq!(manual.payload, test_event.payload);
    // The jobs of one claim for one endpoint share one read of it.
    let to_all: Vec<_> = jobs.iter().filter(|j| j.endpoint.id == all.id).collect();
    assert_eq!(to_all.len(), 2);
    assert!(Arc::ptr_eq(&to_all[0].endpoint, &to_all[1].endpoint));
    assert_eq!(to_all[0].endpoint.secret, all.secret);
    assert_eq!(to_all[0].endpoint.fields.url, all.fields.url);
}

fn created_at_ms(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap()
}

async fn an_idempotency_key_makes_one_message_even_from_two_nodes_at_once(db: TestDb) {
    let (a, b) = db.two_nodes().await;
    // One node owns a SQLite database: a second process writing the same file at once meets
    // `database is locked`, which is why SQLite runs one node. There the race is within it.
    let b = match db.postgres {
        Some(_) => b,
        None => a.clone(),
    };
    let app = app(&a).await;
    endpoint(&a, &app.id, None, None, false).await;

    let write = |body: &str| IdempotentWrite {
        key: "key-1".into(),
        scope: format!("msg:{}", app.id),
        response: StoredResponse {
            status: 202,
            body: body.as_bytes().to_vec(),
        },
    };
    let mut tasks = Vec::new();
    for i in 0..12 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let (msg, write) = (message(&app.id, "a.b", None), write(&format!("first-{i}")));
        tasks.push(tokio::spawn(async move {
            store
                .create_message(&msg, FanOut::Subscribed, Some(write))
                .await
        }));
    }
    let mut created = Vec::new();
    let mut replayed = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.unwrap().expect("create") {
            CreateMessageOutcome::Created { deliveries, .. } => {
                assert_eq!(deliveries, 1);
                created.push(format!("first-{i}"));
            }
            CreateMessageOutcome::Replayed(r) => {
                assert_eq!(r.status, 202);
                replayed.push(String::from_utf8(r.body).unwrap());
            }
        }
    }
    assert_eq!(created.len(), 1, "exactly one request wins the key");
    assert!(replayed.iter().all(|body| *body == created[0]));
    let msgs = a
        .list_messages(&app.id, &page(50, None, true), &MessageFilter::default())
        .await
        .unwrap();
    assert_eq!(msgs.len(), 1);

    // Later requests replay it too, and the plain key store agrees.
    let again = b
        .create_message(
            &message(&app.id, "a.b", None),
            FanOut::Subscribed,
            Some(write("x")),
        )
        .await
        .unwrap();
    assert!(matches!(again, CreateMessageOutcome::Replayed(r) if r.body == created[0].as_bytes()));
    let kept = a.get_idempotent("key-1", &write("").scope).await.unwrap();
    assert_eq!(kept.unwrap().body, created[0].as_bytes());

    let other = IdempotentWrite {
        key: "key-2".into(),
        scope: "app".into(),
        response: StoredResponse {
            status: 201,
            body: vec![0, 159, 146, 150],
        },
    };
    a.put_idempotent(other.clone()).await.unwrap();
    let back = b.get_idempotent("key-2", "app").await.unwrap().unwrap();
    assert_eq!((back.status, back.body), (201, other.response.body));
}

async fn two_nodes_claiming_at_once_never_take_the_same_delivery(db: TestDb) {
    let (a, b) = db.two_nodes().await;
    let app = app(&a).await;
    for _ in 0..3 {
        endpoint(&a, &app.id, None, None, false).await;
    }
    let messages = 100;
    for _ in 0..messages {
        send(&a, &message(&app.id, "a.b", None)).await;
    }
    let total = messages * 3;
    assert_eq!(a.queue_depth(Utc::now()).await.unwrap(), (total as i64, 0));

    let drain = |store: DynStore| {
        tokio::spawn(async move {
            let mut ids = Vec::new();
            loop {
                let jobs = store
                    .claim_due(Utc::now(), 7, Duration::from_secs(60))
                    .await
                    .expect("claim");
                if jobs.is_empty() {
                    return ids;
                }
                ids.extend(jobs.iter().map(|j| j.delivery_id));
            }
        })
    };
    let (got_a, got_b) = tokio::join!(drain(a.clone()), drain(b.clone()));
    let (got_a, got_b) = (got_a.unwrap(), got_b.unwrap());
    let mut seen = HashSet::new();
    for id in got_a.iter().chain(&got_b) {
        assert!(seen.insert(*id), "delivery {id} was claimed twice");
    }
    assert_eq!(seen.len(), total, "every delivery was claimed");
    // SQLite runs one writer at a time, so one node may drain the queue before the other's
    // first claim; that both take part is PostgreSQL's (`SKIP LOCKED`) to show.
    if db.postgres.is_some() {
        assert!(
            !got_a.is_empty() && !got_b.is_empty(),
            "both nodes took part"
        );
    }
    assert!(claim_all(&b, Utc::now()).await.is_empty());
    assert_eq!(a.queue_depth(Utc::now()).await.unwrap(), (0, 0));
}

async fn a_lease_that_runs_out_is_claimed_again_and_startup_releases_only_its_own(db: TestDb) {
    let (a, b) = db.two_nodes().await;
    let app = app(&a).await;
    endpoint(&a, &app.id, None, None, false).await;
    send(&a, &message(&app.id, "a.b", None)).await;

    let now = Utc::now();
    let first = a.claim_due(now, 10, Duration::from_secs(5)).await.unwrap();
    assert_eq!(first.len(), 1);
    assert!(b
        .claim_due(now, 10, Duration::from_secs(5))
        .await
        .unwrap()
        .is_empty());
    // Another node starting must not take a live node's work back. (On SQLite one node owns
    // the database, so its startup takes every lease back: `Store::release_own_leases`.)
    if db.postgres.is_some() {
        assert_eq!(b.release_own_leases().await.unwrap(), 0);
        assert!(b
            .claim_due(now, 10, Duration::from_secs(5))
            .await
            .unwrap()
            .is_empty());
    }
    let lease_end = created_at_ms(now + TimeDelta::seconds(5));
    assert_eq!(b.next_due_at().await.unwrap(), Some(lease_end));

    let later = now + TimeDelta::seconds(6);
    let again = b
        .claim_due(later, 10, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(again.len(), 1, "the dead node's delivery comes back");
    assert_eq!(again[0].delivery_id, first[0].delivery_id);
    assert_eq!(again[0].attempts_made, 0);
}

async fn a_restarted_node_takes_back_its_own_leases_at_once(db: TestDb) {
    let (a, b) = db.two_nodes().await;
    let app = app(&a).await;
    endpoint(&a, &app.id, None, None, false).await;
    send(&a, &message(&app.id, "a.b", None)).await;
    let now = Utc::now();
    assert_eq!(
        a.claim_due(now, 10, Duration::from_secs(60))
            .await
            .unwrap()
            .len(),
        1
    );
    // Node A dies and comes back with the same node id: its lease is released at once, and
    // node B can take the delivery without waiting a minute.
    drop(a);
    let a_again = connect(&db.url, "node-a", &StoreOptions::default())
        .await
        .unwrap();
    assert_eq!(a_again.release_own_leases().await.unwrap(), 1);
    assert_eq!(
        b.claim_due(Utc::now(), 10, Duration::from_secs(60))
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn a_node_that_lost_its_lease_cannot_move_the_delivery_on(db: TestDb) {
    let (a, b) = db.two_nodes().await;
    let app = app(&a).await;
    endpoint(&a, &app.id, None, None, false).await;
    let msg = message(&app.id, "a.b", None);
    send(&a, &msg).await;
    let now = Utc::now();
    let slow = a
        .claim_due(now, 10, Duration::from_secs(5))
        .await
        .unwrap()
        .remove(0);
    // A's lease runs out; B takes the delivery over.
    let later = now + TimeDelta::seconds(6);
    let taken = b
        .claim_due(later, 10, Duration::from_secs(5))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(taken.delivery_id, slow.delivery_id);
    // A finally records a failure: the attempt is kept, but B's claim stands.
    let late = attempt(&slow, DeliveryStatus::Fail, "late");
    a.record_attempt(
        slow.delivery_id,
        Some(&late),
        DeliveryUpdate::Exhausted,
        Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(
        destination_status(&a, &app.id, &msg.id).await,
        DeliveryStatus::Sending
    );
    let ok = attempt(&taken, DeliveryStatus::Success, "ok");
    b.record_attempt(
        taken.delivery_id,
        Some(&ok),
        DeliveryUpdate::Delivered,
        Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(
        destination_status(&a, &app.id, &msg.id).await,
        DeliveryStatus::Success
    );
}

async fn attempts_move_the_delivery_and_keep_the_run_of_failures(db: TestDb) {
    let (store, other) = db.two_nodes().await;
    let app = app(&store).await;
    let ep = endpoint(&store, &app.id, None, None, false).await;
    let msg = message(&app.id, "a.b", None);
    send(&store, &msg).await;

    let job = claim_all(&store, Utc::now()).await.remove(0);
    let failed = attempt(&job, DeliveryStatus::Fail, "boom \0 binary");
    let retry_at = Utc::now() + TimeDelta::seconds(30);
    let since = store
        .record_attempt(
            job.delivery_id,
            Some(&failed),
            DeliveryUpdate::RetryAt(retry_at),
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(since, Some(created_at_ms(failed.created_at)));
    assert_eq!(
        destination_status(&store, &app.id, &msg.id).await,
        DeliveryStatus::Pending
    );
    assert_eq!(
        other.next_due_at().await.unwrap(),
        Some(created_at_ms(retry_at))
    );
    assert_eq!(other.queue_depth(Utc::now()).await.unwrap(), (0, 1));

    let job = claim_all(&other, retry_at).await.remove(0);
    assert_eq!(job.attempts_made, 1);
    let second = attempt(&job, DeliveryStatus::Fail, "still down");
    let still = other
        .record_attempt(
            job.delivery_id,
            Some(&second),
            DeliveryUpdate::RetryAt(retry_at),
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(still, since, "the run of failures began at the first one");

    let job = claim_all(&store, retry_at).await.remove(0);
    let ok = attempt(&job, DeliveryStatus::Success, "ok");
    let cleared = store
        .record_attempt(
            job.delivery_id,
            Some(&ok),
            DeliveryUpdate::Delivered,
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(cleared, None);
    assert_eq!(
        destination_status(&store, &app.id, &msg.id).await,
        DeliveryStatus::Success
    );
    let stats = store.endpoint_stats(&app.id, &ep.id).await.unwrap();
    assert_eq!((stats.success, stats.pending, stats.sending), (1, 0, 0));

    let all = AttemptFilter {
        msg_id: Some(msg.id.clone()),
        endpoint_id: None,
        status: None,
    };
    let attempts = store
        .list_attempts(&app.id, &all, &page(10, None, true))
        .await
        .unwrap();
    assert_eq!(attempts.len(), 3);
    assert_eq!(attempts[0].id, failed.id);
    assert_eq!(
        attempts[0].response, "boom \0 binary",
        "response bytes kept, NUL and all"
    );
    assert_eq!(attempts[0].response_status_code, 500);
    let only_failed = AttemptFilter {
        status: Some(DeliveryStatus::Fail),
        ..all
    };
    let failures = store
        .list_attempts(&app.id, &only_failed, &page(10, None, false))
        .await
        .unwrap();
    assert_eq!(
        failures.iter().map(|a| &a.id).collect::<Vec<_>>(),
        [&second.id, &failed.id]
    );
    let one = store
        .get_attempt(&app.id, &msg.id, &ok.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (one.status, one.trigger_type),
        (DeliveryStatus::Success, TriggerType::Scheduled)
    );

    // Canceled without an attempt: nothing recorded, no run of failures touched.
    let msg2 = message(&app.id, "a.b", None);
    send(&store, &msg2).await;
    let job = claim_all(&store, Utc::now()).await.remove(0);
    let none = store
        .record_attempt(job.delivery_id, None, DeliveryUpdate::Canceled, Utc::now())
        .await
        .unwrap();
    assert_eq!(none, None);
    assert_eq!(
        destination_status(&store, &app.id, &msg2.id).await,
        DeliveryStatus::Canceled
    );
}

async fn deferred_deliveries_wait_for_their_slot(db: TestDb) {
    let (store, _) = db.two_nodes().await;
    let app = app(&store).await;
    endpoint(&store, &app.id, None, None, false).await;
    send(&store, &message(&app.id, "a.b", None)).await;
    let job = claim_all(&store, Utc::now()).await.remove(0);
    assert!(!job.reserved);

    let until = Utc::now() + TimeDelta::seconds(3);
    let deferral = Deferral {
        delivery_id: job.delivery_id,
        until,
        reserved: true,
        paced: false,
    };
    store.defer(&[deferral]).await.unwrap();
    assert!(claim_all(&store, Utc::now()).await.is_empty());
    assert_eq!(
        store.next_due_at().await.unwrap(),
        Some(created_at_ms(until))
    );
    let back = claim_all(&store, until).await;
    assert_eq!(back.len(), 1);
    assert!(back[0].reserved, "the throttle's slot is remembered");
    assert_eq!(back[0].attempts_made, 0);
}

async fn paced_deliveries_are_recalled_but_retries_and_throttle_slots_stay(db: TestDb) {
    let (store, _) = db.two_nodes().await;
    let app = app(&store).await;
    let ep = endpoint(&store, &app.id, None, None, false).await.id;
    for _ in 0..3 {
        send(&store, &message(&app.id, "a.b", None)).await;
    }
    let jobs = claim_all(&store, Utc::now()).await;
    assert_eq!(jobs.len(), 3);
    let later = Utc::now() + TimeDelta::seconds(60);
    let deferrals: Vec<Deferral> = jobs
        .iter()
        .enumerate()
        .map(|(i, job)| Deferral {
            delivery_id: job.delivery_id,
            until: later,
            reserved: i == 1,
            paced: i != 1,
        })
        .collect();
    store.defer(&deferrals).await.unwrap();
    assert!(claim_all(&store, Utc::now()).await.is_empty());
    let now = Utc::now();
    assert_eq!(store.recall_paced(&ep, now).await.unwrap(), 2);
    let back = claim_all(&store, now).await;
    assert_eq!(back.len(), 2, "the two paced ones are due now");
    assert!(back.iter().all(|j| j.delivery_id != jobs[1].delivery_id));
    // A claim clears the mark: recalling again moves nothing.
    assert_eq!(store.recall_paced(&ep, now).await.unwrap(), 0);
}

async fn lists_page_in_byte_order_like_sqlite(db: TestDb) {
    let (store, _) = db.two_nodes().await;
    // Byte order puts every capital first; a linguistic collation would interleave them.
    let mut names = vec!["a.b", "B.c", "a.C", "Z.z", "b.a", "_x"];
    for name in &names {
        let fields = EventTypeFields {
            description: format!("about {name}"),
            archived: *name == "b.a",
            deprecated: false,
            schemas: Some(serde_json::json!({"1": {"examples": [{"n": 1.5}]}})),
            group_name: None,
            feature_flags: None,
        };
        store
            .create_event_type(&EventTypeName::parse(name).unwrap(), fields)
            .await
            .unwrap();
    }
    names.sort();
    let walk = |ascending: bool, archived: bool| {
        let store = store.clone();
        async move {
            let mut out = Vec::new();
            let mut iterator = None;
            loop {
                let batch = store
                    .list_event_types(&page(2, iterator.clone(), ascending), archived)
                    .await
                    .unwrap();
                if batch.is_empty() {
                    return out;
                }
                iterator = Some(batch.last().unwrap().name.to_string());
                out.extend(batch.into_iter().map(|e| e.name.to_string()));
            }
        }
    };
    assert_eq!(walk(true, true).await, names);
    let mut desc: Vec<_> = names.iter().rev().map(|s| s.to_string()).collect();
    assert_eq!(walk(false, true).await, desc);
    desc.retain(|n| n != "b.a");
    assert_eq!(walk(false, false).await, desc, "archived types hidden");

    let app = app(&store).await;
    let mut ids = Vec::new();
    for _ in 0..7 {
        ids.push(endpoint(&store, &app.id, None, None, false).await.id);
    }
    ids.sort();
    let mut seen = Vec::new();
    let mut iterator = None;
    loop {
        let batch = store
            .list_endpoints(&app.id, &page(3, iterator.clone(), true))
            .await
            .unwrap();
        let Some(last) = batch.last() else { break };
        iterator = Some(last.id.to_string());
        seen.extend(batch.into_iter().map(|e| e.id));
    }
    assert_eq!(seen, ids);

    let (m1, m2) = (
        message(&app.id, "a.b", Some(&["p1"])),
        message(&app.id, "Z.z", None),
    );
    send(&store, &m1).await;
    send(&store, &m2).await;
    let list = |filter: MessageFilter| {
        let (store, app) = (store.clone(), app.id.clone());
        async move {
            store
                .list_messages(&app, &page(10, None, true), &filter)
                .await
                .unwrap()
                .into_iter()
                .map(|m| m.id)
                .collect::<Vec<_>>()
        }
    };
    let both = list(MessageFilter::default()).await;
    assert_eq!(both.len(), 2);
    let by_type = MessageFilter {
        event_types: Some(vec![EventTypeName::parse("Z.z").unwrap()]),
        ..Default::default()
    };
    assert_eq!(list(by_type).await, vec![m2.id.clone()]);
    let by_channel = MessageFilter {
        channel: Some(ChannelName::parse("p1").unwrap()),
        ..Default::default()
    };
    assert_eq!(list(by_channel).await, vec![m1.id.clone()]);
    let too_early = MessageFilter {
        before: Some(m1.created_at - TimeDelta::seconds(1)),
        ..Default::default()
    };
    assert!(list(too_early).await.is_empty());

    // By where a delivery stands: both are pending to every endpoint until one of m1's
    // deliveries succeeds.
    let standing = |status| MessageFilter {
        status: Some(status),
        ..Default::default()
    };
    assert_eq!(list(standing(DeliveryStatus::Pending)).await.len(), 2);
    assert!(list(standing(DeliveryStatus::Success)).await.is_empty());
    let job = claim_all(&store, Utc::now())
        .await
        .into_iter()
        .find(|j| j.msg_id == m1.id)
        .expect("a delivery of m1");
    store
        .record_attempt(
            job.delivery_id,
            Some(&attempt(&job, DeliveryStatus::Success, "ok")),
            DeliveryUpdate::Delivered,
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(
        list(standing(DeliveryStatus::Success)).await,
        vec![m1.id.clone()]
    );
    assert!(list(standing(DeliveryStatus::Fail)).await.is_empty());
}

async fn resend_and_recover_queue_work_again(db: TestDb) {
    let (store, _) = db.two_nodes().await;
    let app = app(&store).await;
    let ep = endpoint(&store, &app.id, None, None, false).await;
    let msg = message(&app.id, "a.b", None);
    send(&store, &msg).await;

    let job = claim_all(&store, Utc::now()).await.remove(0);
    // Being sent right now: a resend leaves it alone.
    assert!(!store.requeue(&app.id, &msg.id, &ep.id).await.unwrap());
    let fail = attempt(&job, DeliveryStatus::Fail, "no");
    store
        .record_attempt(
            job.delivery_id,
            Some(&fail),
            DeliveryUpdate::Exhausted,
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(
        destination_status(&store, &app.id, &msg.id).await,
        DeliveryStatus::Fail
    );

    let window = (
        msg.created_at - TimeDelta::minutes(1),
        msg.created_at + TimeDelta::minutes(1),
    );
    let outside = (
        msg.created_at + TimeDelta::seconds(1),
        msg.created_at + TimeDelta::minutes(1),
    );
    assert_eq!(
        store
            .recover_failed(&app.id, &ep.id, outside.0, outside.1)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .recover_failed(&app.id, &ep.id, window.0, window.1)
            .await
            .unwrap(),
        1
    );
    let job = claim_all(&store, Utc::now()).await.remove(0);
    assert_eq!((job.attempts_made, job.trigger), (0, TriggerType::Manual));
    store
        .record_attempt(job.delivery_id, None, DeliveryUpdate::Delivered, Utc::now())
        .await
        .unwrap();

    assert!(store.requeue(&app.id, &msg.id, &ep.id).await.unwrap());
    assert_eq!(
        destination_status(&store, &app.id, &msg.id).await,
        DeliveryStatus::Pending
    );
    // An endpoint the message never went to gets a delivery of its own.
    let late = endpoint(&store, &app.id, None, None, false).await;
    assert!(store.requeue(&app.id, &msg.id, &late.id).await.unwrap());
    assert_eq!(claim_all(&store, Utc::now()).await.len(), 2);
}

/// The dispatcher's claim while it waits: the next commit that queues deliveries makes it,
/// and nothing else does. Its answer is there when the publisher's is (no poll, no timer).
async fn a_claim_left_in_the_writer_rides_on_the_next_commit_that_queues_work(db: TestDb) {
    use futures::FutureExt;
    let (store, _) = db.two_nodes().await;
    let lease = Duration::from_secs(60);
    let Some(mut waiting) = store.claim_on_next_queue(10, lease) else {
        assert!(db.postgres.is_some(), "SQLite claims through its writer");
        skipped("PostgreSQL claims outside its writer: the dispatcher waits for its waker");
        return;
    };
    let app = app(&store).await;
    let ep = endpoint(&store, &app.id, Some(&["a.b"]), None, false).await;

    // A commit that queues nothing (no endpoint takes this type) leaves the claim waiting.
    assert_eq!(
        sent(&store, &message(&app.id, "other.type", None)).await,
        (0, false)
    );
    assert!(
        waiting.made().now_or_never().is_none(),
        "a commit that queued nothing made the claim"
    );

    // The publish is told the claim rode on its commit: the dispatcher needs no wake for it.
    let msg = message(&app.id, "a.b", None);
    assert_eq!(sent(&store, &msg).await, (1, true));
    let claimed = waiting
        .made()
        .now_or_never()
        .expect("answered by the publish's commit")
        .expect("the claim");
    assert_eq!(claimed.jobs.len(), 1);
    let job = &claimed.jobs[0];
    assert_eq!((&job.msg_id, &job.endpoint.id), (&msg.id, &ep.id));
    assert_eq!(job.payload, msg.payload);
    assert!(
        claimed
            .next_due
            .is_some_and(|at| at > Utc::now() + TimeDelta::seconds(30)),
        "nothing else is due before the new lease runs out: {:?}",
        claimed.next_due
    );
    assert!(
        claim_all(&store, Utc::now()).await.is_empty(),
        "the delivery is leased to the claim that rode"
    );

    // Withdrawn before any commit took it: nothing is claimed, the next message waits.
    let waiting = store.claim_on_next_queue(10, lease).expect("SQLite");
    assert!(waiting.withdraw().await.is_none(), "nothing took it");
    let second = message(&app.id, "a.b", None);
    assert_eq!(
        sent(&store, &second).await,
        (1, false),
        "no claim rode: the dispatcher must be woken"
    );
    let jobs = claim_all(&store, Utc::now()).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].msg_id, second.id);

    // Withdrawn after a commit made it: the withdrawal hands over what it claimed.
    let waiting = store.claim_on_next_queue(10, lease).expect("SQLite");
    let third = message(&app.id, "a.b", None);
    assert_eq!(sent(&store, &third).await, (1, true));
    let claimed = waiting
        .withdraw()
        .await
        .expect("a commit made it")
        .expect("the claim");
    assert_eq!(claimed.jobs.len(), 1);
    assert_eq!(claimed.jobs[0].msg_id, third.id);
}

async fn new_work_on_one_node_wakes_the_other(db: TestDb) {
    let Some(pg) = &db.postgres else {
        skipped("SQLite wakes only its own process (one SQLite file is one node)");
        return;
    };
    let (a, b) = db.two_nodes().await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    a.watch_new_work(Arc::new(move || {
        let _ = tx.send(());
    }))
    .await
    .expect("watch");

    let app = app(&b).await;
    let ep = endpoint(&b, &app.id, None, None, false).await;
    let msg = message(&app.id, "a.b", None);
    send(&b, &msg).await;
    let woke = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
    assert!(
        matches!(woke, Ok(Some(()))),
        "node a heard of node b's message"
    );

    while rx.try_recv().is_ok() {}
    let job = claim_all(&b, Utc::now()).await.remove(0);
    b.record_attempt(job.delivery_id, None, DeliveryUpdate::Delivered, Utc::now())
        .await
        .unwrap();
    assert!(b.requeue(&app.id, &msg.id, &ep.id).await.unwrap());
    let woke = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
    assert!(
        matches!(woke, Ok(Some(()))),
        "node a heard of node b's resend"
    );

    // The listener's connection is cut: it comes back on its own, wakes once for whatever it
    // may have missed, and hears the next message.
    let mut admin = sqlx::PgConnection::connect(&pg.admin_url).await.unwrap();
    let cut_listener = "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
                        WHERE datname = $1 AND query LIKE 'LISTEN%'";
    let cut: i64 = sqlx::query_scalar(cut_listener)
        .bind(&pg.name)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert_eq!(cut, 1, "one listener connection");
    let woke = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
    assert!(matches!(woke, Ok(Some(()))), "woken after reconnecting");
    while rx.try_recv().is_ok() {}
    send(&b, &message(&app.id, "a.b", None)).await;
    let woke = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
    assert!(
        matches!(woke, Ok(Some(()))),
        "node a hears node b again after reconnecting"
    );

    // Cut again while the database refuses connections: reconnecting fails for a while and
    // the listener keeps trying until it can.
    let refuse = |allow: bool| format!("ALTER DATABASE {} ALLOW_CONNECTIONS {allow}", pg.name);
    sqlx::raw_sql(&refuse(false))
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::query(cut_listener)
        .bind(&pg.name)
        .execute(&mut admin)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    while rx.try_recv().is_ok() {}
    sqlx::raw_sql(&refuse(true))
        .execute(&mut admin)
        .await
        .unwrap();
    let woke = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
    assert!(
        matches!(woke, Ok(Some(()))),
        "woken once connections are allowed again"
    );
    while rx.try_recv().is_ok() {}
    send(&b, &message(&app.id, "a.b", None)).await;
    let woke = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
    assert!(
        matches!(woke, Ok(Some(()))),
        "node a hears node b after a failed reconnect"
    );

    // The listener goes with its store.
    let listeners =
        "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'LISTEN%'";
    let before: i64 = sqlx::query_scalar(listeners)
        .bind(&pg.name)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert_eq!(before, 1);
    drop(a);
    let mut left: i64 = -1;
    for _ in 0..50 {
        left = sqlx::query_scalar(listeners)
            .bind(&pg.name)
            .fetch_one(&mut admin)
            .await
            .unwrap();
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0, "no listener outlives its store");
}

async fn conflicts_secrets_internal_apps_and_retention(db: TestDb) {
    let (a, b) = db.two_nodes().await;
    let uid = Uid::parse("billing").unwrap();
    let fields = ApplicationFields {
        uid: Some(uid.clone()),
        name: "Billing".into(),
        throttle_rate: Some(5),
        metadata: BTreeMap::new(),
    };
    let app = a.create_app(fields.clone()).await.unwrap();
    assert!(matches!(
        b.create_app(fields).await,
        Err(StoreError::Conflict(_))
    ));
    let by_uid = b
        .get_app(&IdOrUid::parse("billing").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((by_uid.id, by_uid.throttle_rate), (app.id.clone(), Some(5)));
    assert_eq!(by_uid.created_at, app.created_at, "read back as created");
    let name = EventTypeName::parse("a.b").unwrap();
    let et = EventTypeFields {
        description: String::new(),
        archived: false,
        deprecated: false,
        schemas: None,
        group_name: None,
        feature_flags: None,
    };
    a.create_event_type(&name, et.clone()).await.unwrap();
    assert!(matches!(
        b.create_event_type(&name, et).await,
        Err(StoreError::Conflict(_))
    ));

    // Nodes starting together agree on one internal application, hidden from the API.
    let internal_uid = Uid::parse("kanca-operational").unwrap();
    let (x, y) = tokio::join!(
        a.ensure_internal_app(&internal_uid, "ops"),
        b.ensure_internal_app(&internal_uid, "ops")
    );
    assert_eq!(x.unwrap(), y.unwrap());
    let visible = a.list_apps(&page(10, None, true)).await.unwrap();
    assert_eq!(visible.len(), 1);
    assert!(matches!(
        a.ensure_internal_app(&uid, "taken").await,
        Err(StoreError::Conflict(_))
    ));

    let ep = endpoint(&a, &app.id, None, None, false).await;
    let old = ep.secret.clone();
    let new = EndpointSecret::generate();
    let now = Utc::now();
    a.rotate_secret(&app.id, &ep.id, &new, now + TimeDelta::hours(24), now)
        .await
        .unwrap();
    let rotated = b
        .get_endpoint(&app.id, &IdOrUid::parse(ep.id.as_str()).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rotated.created_at, ep.created_at, "read back as created");
    assert_eq!(rotated.secret, new);
    assert_eq!(rotated.retired_secrets.len(), 1);
    assert_eq!(rotated.retired_secrets[0].secret, old);

    let mut expired = message(&app.id, "a.b", None);
    expired.payload_expires_at = Utc::now() - TimeDelta::seconds(1);
    send(&a, &expired).await;
    assert_eq!(b.clear_expired_payloads(Utc::now(), 100).await.unwrap(), 1);
    assert_eq!(b.clear_expired_payloads(Utc::now(), 100).await.unwrap(), 0);
    let read = a.get_message(&app.id, &expired.id).await.unwrap().unwrap();
    assert_eq!(read.payload, None);
    let job = claim_all(&a, Utc::now()).await.remove(0);
    assert_eq!(job.payload, None);

    a.delete_app(&app.id).await.unwrap();
    assert!(matches!(
        a.delete_app(&app.id).await,
        Err(StoreError::NotFound)
    ));
}

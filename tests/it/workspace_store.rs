//! The workspace's writes and their follow-up messages, called through the `Store` trait as the
//! workspace calls it: a channel message with its `message.posted` event, a channel with its
//! `channel.created`, an archive with its `channel.archived` are committed together or not at
//! all. A follow-up that cannot be stored (its application does not exist) must take the
//! change down with it.
//!
//! On the backend of the run: SQLite by default, PostgreSQL with `KANCA_TEST_BACKEND=postgres`.

use crate::common::TestDatabase;
use chrono::Utc;
use kanca::domain::workspace::{Channel, ChannelId, ChannelMessage, ChannelRef, SlackChannelName};
use kanca::domain::workspace::{NewChannelMessage, PosterKind};
use kanca::domain::{
    AppId, ApplicationFields, EndpointFields, EndpointSecret, EndpointUrl, EventTypeName, Message,
    MessageId,
};
use kanca::store::workspace::{ChannelMessageQuery, FollowUps, PostResult};
use kanca::store::{DynStore, MessageFilter, PageRequest, StoreError};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A store on a fresh database, with an application that has one endpoint taking everything.
struct Fixture {
    store: DynStore,
    app: AppId,
    _dir: tempfile::TempDir,
    _db: Option<TestDatabase>,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = TestDatabase::create().await;
    let url = match &db {
        Some(db) => db.url.clone(),
        None => format!("sqlite://{}/kanca.db", dir.path().display()),
    };
    let store = kanca::store::connect(&url, "test-node", &Default::default())
        .await
        .expect("opening the store");
    let app = store
        .create_app(ApplicationFields {
            uid: None,
            name: "Events".into(),
            throttle_rate: None,
            metadata: BTreeMap::new(),
        })
        .await
        .expect("an application")
        .id;
    store
        .create_endpoint(
            &app,
            EndpointFields {
                uid: None,
                url: EndpointUrl::parse("https://example.com/hook", false).expect("a URL"),
                description: "receiver".into(),
                event_types: None,
                channels: None,
                disabled: false,
                throttle_rate: None,
                metadata: BTreeMap::new(),
                headers: BTreeMap::new(),
            },
            EndpointSecret::generate(),
        )
        .await
        .expect("an endpoint");
    Fixture {
        store,
        app,
        _dir: dir,
        _db: db,
    }
}

fn event(app: &AppId, event_type: &str, data: Value) -> Message {
    let now = Utc::now();
    Message {
        id: MessageId::generate(),
        app_id: app.clone(),
        event_type: EventTypeName::parse(event_type).expect("an event type"),
        event_id: None,
        payload: Some(json!({ "type": event_type, "data": data }).to_string()),
        channels: None,
        tags: None,
        created_at: now,
        payload_expires_at: now + chrono::Duration::days(1),
        deliver_at: None,
        received: None,
    }
}

/// An application id that names no application: a message of it cannot be stored.
fn missing_app() -> AppId {
    AppId::generate()
}

fn channel(name: &str) -> Channel {
    Channel {
        id: ChannelId::generate(),
        name: SlackChannelName::parse(name).expect("a channel name"),
        archived: false,
        created_at: Utc::now(),
    }
}

fn new_message(text: &str) -> NewChannelMessage {
    NewChannelMessage {
        text: text.into(),
        mrkdwn: true,
        username: None,
        icon_emoji: None,
        icon_url: None,
        attachments: None,
        blocks: None,
        thread_ts: None,
        posted_by: PosterKind::User,
        poster_name: "ada".into(),
        user_id: None,
    }
}

/// `message.posted` for the stored message, as the workspace builds it (with its `ts`).
fn posted_event(app: &AppId) -> FollowUps {
    let app = app.clone();
    Box::new(move |m: &ChannelMessage| {
        vec![event(
            &app,
            "message.posted",
            json!({ "ts": m.ts.to_string(), "text": m.text }),
        )]
    })
}

async fn events(f: &Fixture) -> Vec<Value> {
    let page = PageRequest {
        limit: 100,
        iterator: None,
        ascending: true,
    };
    f.store
        .list_messages(&f.app, &page, &MessageFilter::default())
        .await
        .expect("listing messages")
        .iter()
        .map(|m| serde_json::from_str(m.payload.as_deref().expect("a payload")).expect("JSON"))
        .collect()
}

async fn channel_messages(f: &Fixture, channel: &ChannelId) -> Vec<ChannelMessage> {
    let query = ChannelMessageQuery {
        from: None,
        limit: 100,
        ascending: true,
        thread: None,
        top_level: false,
    };
    f.store
        .list_channel_messages(channel, &query)
        .await
        .expect("listing channel messages")
}

#[tokio::test]
async fn a_message_is_stored_with_its_follow_ups_or_not_at_all() {
    let f = fixture().await;
    let general = channel("general");
    f.store
        .create_channel(&general, &[])
        .await
        .expect("a channel");

    // The event can be stored but the second follow-up cannot: nothing is stored.
    let app = f.app.clone();
    let doomed: FollowUps = Box::new(move |m: &ChannelMessage| {
        vec![
            event(&app, "message.posted", json!({ "ts": m.ts.to_string() })),
            event(&missing_app(), "slack.outgoing_webhook", json!({})),
        ]
    });
    let now_us = Utc::now().timestamp_micros();
    let failed = f
        .store
        .post_channel_message(&general.id, &new_message("lost"), now_us, doomed)
        .await;
    assert!(failed.is_err(), "{failed:?}");
    assert!(channel_messages(&f, &general.id).await.is_empty());
    assert!(events(&f).await.is_empty(), "no event without its message");

    // A good post stores the message and its event, which carries the message's `ts`, and
    // queues the event's delivery.
    let posted = f
        .store
        .post_channel_message(
            &general.id,
            &new_message("kept"),
            now_us,
            posted_event(&f.app),
        )
        .await
        .expect("posting");
    let PostResult::Posted {
        message,
        deliveries,
    } = posted
    else {
        panic!("posted: {posted:?}")
    };
    assert_eq!(deliveries, 1, "one endpoint subscribes");
    let stored = channel_messages(&f, &general.id).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].ts, message.ts);
    assert_eq!(
        events(&f).await,
        vec![
            json!({"type": "message.posted", "data": {"ts": message.ts.to_string(), "text": "kept"}})
        ]
    );

    // An archived channel stores nothing, follow-ups neither.
    f.store
        .set_channel_archived(&general.id, true, &[])
        .await
        .expect("archiving");
    let refused = f
        .store
        .post_channel_message(
            &general.id,
            &new_message("too late"),
            now_us,
            posted_event(&f.app),
        )
        .await
        .expect("a refusal, not an error");
    assert!(matches!(refused, PostResult::Archived), "{refused:?}");
    assert_eq!(events(&f).await.len(), 1);
}

#[tokio::test]
async fn a_channel_is_created_and_archived_with_its_events_or_not_at_all() {
    let f = fixture().await;

    // An event that cannot be stored takes the channel down with it.
    let lost = channel("lost");
    let failed = f
        .store
        .create_channel(
            &lost,
            &[event(&missing_app(), "channel.created", json!({}))],
        )
        .await;
    assert!(failed.is_err(), "{failed:?}");
    let key = ChannelRef::parse("lost").expect("a channel ref");
    assert!(f.store.get_channel(&key).await.expect("reading").is_none());
    assert!(events(&f).await.is_empty());

    let ops = channel("ops");
    let created = event(&f.app, "channel.created", json!({ "id": ops.id.as_str() }));
    let deliveries = f
        .store
        .create_channel(&ops, &[created])
        .await
        .expect("creating");
    assert_eq!(deliveries, 1);
    assert_eq!(events(&f).await.len(), 1);

    // Archiving fails whole, then succeeds with its event; a second archive changes nothing
    // and stores no second event.
    let doomed = [event(&missing_app(), "channel.archived", json!({}))];
    let failed = f.store.set_channel_archived(&ops.id, true, &doomed).await;
    assert!(failed.is_err(), "{failed:?}");
    let key = ChannelRef::parse("ops").expect("a channel ref");
    let still = f.store.get_channel(&key).await.expect("reading").unwrap();
    assert!(
        !still.archived,
        "the failed archive left the channel as it was"
    );

    let archived = [event(&f.app, "channel.archived", json!({}))];
    let changed = f
        .store
        .set_channel_archived(&ops.id, true, &archived)
        .await
        .expect("archiving");
    assert_eq!(changed, Some(1));
    let again = [event(&f.app, "channel.archived", json!({}))];
    let changed = f
        .store
        .set_channel_archived(&ops.id, true, &again)
        .await
        .expect("archiving again");
    assert_eq!(changed, None, "already archived: nothing written");
    // As a set: ids made within one time tick list in either order.
    let mut types: Vec<Value> = events(&f).await.iter().map(|e| e["type"].clone()).collect();
    types.sort_by_key(|t| t.to_string());
    assert_eq!(
        types,
        vec![json!("channel.archived"), json!("channel.created")]
    );

    // Unarchiving needs no event; an unknown channel is `NotFound`.
    assert_eq!(
        f.store
            .set_channel_archived(&ops.id, false, &[])
            .await
            .expect("unarchiving"),
        Some(0)
    );
    let unknown = f
        .store
        .set_channel_archived(&ChannelId::generate(), true, &[])
        .await;
    assert!(matches!(unknown, Err(StoreError::NotFound)), "{unknown:?}");
}

/// An endpoint change and its operational event (here a message of the fixture's application,
/// as `endpoint.*` events are messages of the operational one) commit together: the event and
/// its delivery are there once the change returns, and an event that cannot be stored takes
/// the change down with it.
#[tokio::test]
async fn an_endpoint_change_is_stored_with_its_event_or_not_at_all() {
    use kanca::store::EndpointEvents;
    let f = fixture().await;
    let tenant = f
        .store
        .create_app(ApplicationFields {
            uid: None,
            name: "Tenant".into(),
            throttle_rate: None,
            metadata: BTreeMap::new(),
        })
        .await
        .expect("an application")
        .id;
    let fields = |description: &str| EndpointFields {
        uid: None,
        url: EndpointUrl::parse("https://example.com/tenant", false).expect("a URL"),
        description: description.into(),
        event_types: None,
        channels: None,
        disabled: false,
        throttle_rate: None,
        metadata: BTreeMap::new(),
        headers: BTreeMap::new(),
    };
    let told = |event_type: &'static str| -> EndpointEvents {
        let app = f.app.clone();
        Box::new(move |ep| {
            vec![event(
                &app,
                event_type,
                json!({ "endpointId": ep.id, "description": ep.fields.description }),
            )]
        })
    };
    let doomed = || -> EndpointEvents {
        Box::new(|ep| {
            vec![event(
                &missing_app(),
                "endpoint.created",
                json!({ "id": ep.id }),
            )]
        })
    };
    let queued = || async {
        f.store
            .queue_depth(Utc::now())
            .await
            .expect("queue depth")
            .0
    };

    let refused = f
        .store
        .create_endpoint_with_events(
            &tenant,
            fields("lost"),
            EndpointSecret::generate(),
            doomed(),
        )
        .await;
    assert!(refused.is_err(), "{refused:?}");
    let page = PageRequest {
        limit: 10,
        iterator: None,
        ascending: true,
    };
    let listed = f
        .store
        .list_endpoints(&tenant, &page)
        .await
        .expect("listing");
    assert!(
        listed.is_empty(),
        "no endpoint without its event: {listed:?}"
    );

    let ep = f
        .store
        .create_endpoint_with_events(
            &tenant,
            fields("first"),
            EndpointSecret::generate(),
            told("endpoint.created"),
        )
        .await
        .expect("creating");
    assert_eq!(
        events(&f).await,
        vec![
            json!({"type": "endpoint.created", "data": {"endpointId": ep.id, "description": "first"}})
        ]
    );
    assert_eq!(queued().await, 1, "the event's delivery is queued with it");

    let failed = f
        .store
        .update_endpoint_with_events(&tenant, &ep.id, fields("second"), doomed())
        .await;
    assert!(failed.is_err(), "{failed:?}");
    let key = kanca::domain::IdOrUid::parse(ep.id.as_str()).expect("an id");
    let kept = f.store.get_endpoint(&tenant, &key).await.expect("reading");
    assert_eq!(kept.expect("still there").fields.description, "first");

    f.store
        .update_endpoint_with_events(&tenant, &ep.id, fields("second"), told("endpoint.updated"))
        .await
        .expect("updating");
    f.store
        .set_endpoint_disabled_with_events(&tenant, &ep.id, true, told("endpoint.disabled"))
        .await
        .expect("disabling");
    f.store
        .delete_endpoint_with_events(&tenant, &ep.id, told("endpoint.deleted"))
        .await
        .expect("deleting");
    // Ids made within one KSUID tick (1/256 s) list in any order: compare as sets.
    let stored = events(&f).await;
    let mut types: Vec<String> = stored.iter().map(|e| e["type"].to_string()).collect();
    types.sort();
    assert_eq!(
        types,
        [
            "\"endpoint.created\"",
            "\"endpoint.deleted\"",
            "\"endpoint.disabled\"",
            "\"endpoint.updated\""
        ]
    );
    let deleted = stored
        .iter()
        .find(|e| e["type"] == "endpoint.deleted")
        .expect("endpoint.deleted");
    assert_eq!(
        deleted["data"]["description"], "second",
        "made of the endpoint as it was"
    );
    assert_eq!(queued().await, 4);

    // Nothing to change: nothing stored, the event neither.
    let gone = f
        .store
        .delete_endpoint_with_events(&tenant, &ep.id, told("endpoint.deleted"))
        .await;
    assert!(matches!(gone, Err(StoreError::NotFound)), "{gone:?}");
    assert_eq!(events(&f).await.len(), 4);
}

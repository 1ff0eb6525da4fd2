//! The Slack platform's storage (`SlackStore`), called through the `Store` trait as the
//! workspace calls it, on the backend of the run (a fresh SQLite file, or a fresh PostgreSQL
//! database with `KANCA_TEST_BACKEND=postgres`): apps found by their token's digest, users
//! stored once even by two nodes at once, reactions, edits and deletions, each storing its
//! Events API messages in its own transaction only when it changed something.

use crate::common::TestDatabase;
use chrono::{SubsecRound, Utc};
use kanca::domain::workspace::*;
use kanca::domain::EndpointUrl;
use kanca::domain::{AppId, Message, Uid};
use kanca::store::slack::{MessageEdit, ReactionChange};
use kanca::store::workspace::PostResult;
use kanca::store::DynStore;

/// An event message (as the Events API's envelopes are) of an internal application.
fn event(app: &AppId, tag: &str) -> Message {
    Message::own_event(
        app,
        "slack.test",
        &serde_json::json!({ "tag": tag }),
        Utc::now(),
    )
}

/// Whether `msg` was stored.
async fn stored(store: &DynStore, msg: &Message) -> bool {
    store
        .get_message(&msg.app_id, &msg.id)
        .await
        .unwrap()
        .is_some()
}

/// Two stores ("nodes") on one fresh database.
struct Nodes {
    a: DynStore,
    b: DynStore,
    _dir: tempfile::TempDir,
    _db: Option<TestDatabase>,
}

async fn nodes() -> Nodes {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = TestDatabase::create().await;
    let url = match &db {
        Some(db) => db.url.clone(),
        None => format!("sqlite://{}/kanca.db", dir.path().display()),
    };
    let open = |node: &'static str| {
        let url = url.clone();
        async move {
            kanca::store::connect(&url, node, &Default::default())
                .await
                .expect("opening the store")
        }
    };
    let a = open("node-a").await;
    let b = open("node-b").await;
    Nodes {
        a,
        b,
        _dir: dir,
        _db: db,
    }
}

fn app_and_bot(name: &str) -> (SlackApp, WsUser) {
    let now = Utc::now().trunc_subsecs(3);
    let app = SlackApp {
        id: SlackAppId::generate(),
        name: name.into(),
        bot_id: BotId::generate(),
        bot_user_id: UserId::generate(),
        signing_secret: generate_signing_secret(),
        events: Some(EventSubscription {
            request_url: EndpointUrl::parse("https://bot.example.com/events", false).unwrap(),
            event_types: vec![SlackEventName::parse("app_mention").unwrap()],
            verified: false,
        }),
        slash_commands: vec![SlashCommand {
            command: CommandName::parse("/deploy").unwrap(),
            url: EndpointUrl::parse("https://bot.example.com/commands", false).unwrap(),
            description: "Deploys".into(),
            usage_hint: "[env]".into(),
        }],
        interactivity_url: None,
        created_at: now,
    };
    let bot = WsUser {
        id: app.bot_user_id.clone(),
        name: name.to_lowercase(),
        real_name: name.into(),
        is_bot: true,
        app_id: Some(app.id.clone()),
        bot_id: Some(app.bot_id.clone()),
        deleted: false,
        created_at: now,
    };
    (app, bot)
}

fn person(name: &str) -> WsUser {
    WsUser {
        id: UserId::generate(),
        name: name.into(),
        real_name: name.into(),
        is_bot: false,
        app_id: None,
        bot_id: None,
        deleted: false,
        created_at: Utc::now().trunc_subsecs(3),
    }
}

#[tokio::test]
async fn apps_are_found_by_their_tokens_digest_on_any_node() {
    let n = nodes().await;
    let (app, bot) = app_and_bot("Deployer");
    let token = BotToken::generate();
    n.a.create_slack_app(&app, &bot, &token.digest())
        .await
        .unwrap();

    let found = n.b.slack_app_by_token(&token.digest()).await.unwrap();
    let found = found.expect("the app, by its token's digest");
    assert_eq!(found.id, app.id);
    assert_eq!(found.events, app.events);
    assert_eq!(found.slash_commands, app.slash_commands);
    assert_eq!(found.created_at, app.created_at);
    assert_eq!(n.b.get_user(&bot.id).await.unwrap(), Some(bot.clone()));

    // A new token replaces the old at once.
    let rotated = BotToken::generate();
    n.b.set_slack_app_token(&app.id, &rotated.digest())
        .await
        .unwrap();
    assert!(n
        .a
        .slack_app_by_token(&token.digest())
        .await
        .unwrap()
        .is_none());
    assert!(n
        .a
        .slack_app_by_token(&rotated.digest())
        .await
        .unwrap()
        .is_some());

    // An edit renames the bot user's real name with the app.
    let renamed = SlackApp {
        name: "Releaser".into(),
        events: None,
        ..app.clone()
    };
    n.a.update_slack_app(&renamed).await.unwrap();
    let read = n.b.get_slack_app(&app.id).await.unwrap().unwrap();
    assert_eq!((read.name.as_str(), read.events), ("Releaser", None));
    assert_eq!(
        n.b.get_user(&bot.id).await.unwrap().unwrap().real_name,
        "Releaser"
    );

    // Deleting: the token finds nothing, the bot user stays, marked deleted.
    n.b.delete_slack_app(&app.id).await.unwrap();
    assert!(n
        .a
        .slack_app_by_token(&rotated.digest())
        .await
        .unwrap()
        .is_none());
    assert!(n.a.get_user(&bot.id).await.unwrap().unwrap().deleted);
    assert!(n.a.delete_slack_app(&app.id).await.is_err());
}

#[tokio::test]
async fn a_person_is_stored_once_even_by_two_nodes_at_once() {
    let n = nodes().await;
    let ada = person("ada");
    let (from_a, from_b) = tokio::join!(n.a.ensure_user(&ada), n.b.ensure_user(&ada));
    assert_eq!(from_a.unwrap(), ada);
    assert_eq!(from_b.unwrap(), ada);
    // The stored one wins over a later candidate with the same id.
    let again =
        n.a.ensure_user(&WsUser {
            real_name: "someone else".into(),
            ..ada.clone()
        })
        .await
        .unwrap();
    assert_eq!(again, ada);

    let grace = person("grace");
    n.b.ensure_user(&grace).await.unwrap();
    let first = n.a.list_users(None, 1).await.unwrap();
    assert_eq!(first.len(), 1);
    let rest = n.a.list_users(Some(&first[0].id), 10).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert_ne!(rest[0].id, first[0].id);
}

#[tokio::test]
async fn reactions_edits_and_deletions_of_a_message() {
    let n = nodes().await;
    let channel = Channel {
        id: ChannelId::generate(),
        name: SlackChannelName::parse("ops").unwrap(),
        archived: false,
        created_at: Utc::now(),
    };
    n.a.create_channel(&channel, &[]).await.unwrap();
    let (app, bot) = app_and_bot("Ops");
    n.a.create_slack_app(&app, &bot, &BotToken::generate().digest())
        .await
        .unwrap();
    let posted =
        n.a.post_channel_message(
            &channel.id,
            &NewChannelMessage {
                text: "deploying".into(),
                mrkdwn: true,
                username: None,
                icon_emoji: None,
                icon_url: None,
                attachments: None,
                blocks: None,
                thread_ts: None,
                posted_by: PosterKind::Bot,
                poster_name: "Ops".into(),
                user_id: Some(bot.id.clone()),
            },
            Utc::now().timestamp_micros(),
            Box::new(|_| Vec::new()),
        )
        .await
        .unwrap();
    let PostResult::Posted { message, .. } = posted else {
        panic!("not posted: {posted:?}");
    };
    let ts = message.ts;
    let read = n.b.get_channel_message(&channel.id, ts).await.unwrap();
    assert_eq!(read.unwrap().user_id, Some(bot.id.clone()));

    let reaction = Reaction {
        ts,
        name: ReactionName::parse("rocket").unwrap(),
        user_id: bot.id.clone(),
    };
    let now_ms = Utc::now().timestamp_millis();
    let events_app =
        n.a.ensure_internal_app(&Uid::parse("slack-store-events").unwrap(), "events")
            .await
            .unwrap();
    let (ev_a, ev_b) = (event(&events_app, "a"), event(&events_app, "b"));
    let add = |store: &DynStore, ev: &Message| {
        let (store, channel, reaction) = (store.clone(), channel.id.clone(), reaction.clone());
        let ev = ev.clone();
        async move {
            store
                .add_reaction(&channel, &reaction, now_ms, &[ev])
                .await
                .unwrap()
        }
    };
    let (one, other) = tokio::join!(add(&n.a, &ev_a), add(&n.b, &ev_b));
    // The reaction that was stored stored its event; the other stored nothing.
    assert_eq!(
        (one == ReactionChange::Done, other == ReactionChange::Done),
        (stored(&n.a, &ev_a).await, stored(&n.a, &ev_b).await)
    );
    let mut outcomes = [one, other];
    outcomes.sort_by_key(|o| format!("{o:?}"));
    assert_eq!(outcomes, [ReactionChange::Done, ReactionChange::Unchanged]);
    assert_eq!(
        n.b.reactions_between(&channel.id, ts, ts).await.unwrap(),
        vec![reaction.clone()]
    );
    assert_eq!(
        n.b.remove_reaction(&channel.id, &reaction, &[])
            .await
            .unwrap(),
        ReactionChange::Done
    );
    assert_eq!(
        n.a.remove_reaction(&channel.id, &reaction, &[])
            .await
            .unwrap(),
        ReactionChange::Unchanged
    );
    let elsewhere = Reaction {
        ts: Ts::from_micros(1),
        ..reaction.clone()
    };
    assert_eq!(
        n.a.add_reaction(&channel.id, &elsewhere, now_ms, &[])
            .await
            .unwrap(),
        ReactionChange::NoMessage
    );

    let edit = MessageEdit {
        text: "deployed".into(),
        attachments: None,
        blocks: Some(r#"[{"type":"divider"}]"#.into()),
        edited: Ts::from_micros(ts.micros() + 5),
    };
    let changed = event(&events_app, "changed");
    let edited =
        n.b.edit_channel_message(&channel.id, ts, &edit, std::slice::from_ref(&changed))
            .await
            .unwrap();
    assert!(stored(&n.a, &changed).await);
    let edited = edited.expect("the edited message");
    assert_eq!(edited.text, "deployed");
    assert_eq!(edited.edited, Some(edit.edited));
    assert_eq!(edited.blocks.as_deref(), Some(r#"[{"type":"divider"}]"#));
    let nothing = event(&events_app, "nothing changed");
    assert!(n
        .a
        .edit_channel_message(
            &channel.id,
            Ts::from_micros(1),
            &edit,
            std::slice::from_ref(&nothing)
        )
        .await
        .unwrap()
        .is_none());
    assert!(!stored(&n.a, &nothing).await, "no edit, no event");

    n.a.add_reaction(&channel.id, &reaction, now_ms, &[])
        .await
        .unwrap();
    let (deleted, again) = (event(&events_app, "deleted"), event(&events_app, "again"));
    assert!(n
        .b
        .delete_channel_message(&channel.id, ts, std::slice::from_ref(&deleted))
        .await
        .unwrap());
    assert!(!n
        .a
        .delete_channel_message(&channel.id, ts, std::slice::from_ref(&again))
        .await
        .unwrap());
    assert!(stored(&n.a, &deleted).await && !stored(&n.a, &again).await);
    assert!(n
        .a
        .get_channel_message(&channel.id, ts)
        .await
        .unwrap()
        .is_none());
    assert!(n
        .a
        .reactions_between(&channel.id, ts, ts)
        .await
        .unwrap()
        .is_empty());
}

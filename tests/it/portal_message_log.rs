//! The portal's message log: filters by event type, channel, time and delivery status, as GET
//! parameters of the one page, with labelled inputs, bad values refused beside their field,
//! and the filters kept by the "next page" link.

use crate::common::*;
use serde_json::json;
use std::time::Duration;

fn query(pairs: &[(&str, &str)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        q.append_pair(k, v);
    }
    format!("/portal/messages?{}", q.finish())
}

/// The message ids a log page lists, in order.
fn listed(page: &str) -> Vec<String> {
    page.match_indices("/portal/messages/msg_")
        .map(|(at, _)| {
            let id = &page[at + "/portal/messages/".len()..];
            id[..id.find('"').unwrap()].to_owned()
        })
        .collect()
}

/// The "next page" link of a log page, unescaped.
fn next_link(page: &str) -> Option<String> {
    let marker = r#"rel="next" href=""#;
    let at = page.find(marker)? + marker.len();
    Some(page[at..at + page[at..].find('"').unwrap()].replace("&amp;", "&"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_message_log_filters_by_type_channel_time_and_status_across_pages() {
    let server = TestServer::start(ServerOptions::default().retry_schedule("20ms")).await;
    let good = Receiver::start().await;
    let bad = Receiver::start().await;
    bad.set_default(Reply::Status(500));
    let app = server.create_app("Log filters").await;
    server
        .create_endpoint(&app, json!({"url": good.url(), "channels": ["good"]}))
        .await;
    server
        .create_endpoint(&app, json!({"url": bad.url(), "channels": ["bad"]}))
        .await;
    let publish = |event_type: &'static str, channel: &'static str| {
        let (server, app) = (&server, &app);
        async move {
            let m = server
                .post(
                    &format!("/api/v1/app/{app}/msg"),
                    &json!({"eventType": event_type, "payload": {}, "channels": [channel]}),
                )
                .await;
            // Apart by more than the store's millisecond, so the time filters can split them.
            tokio::time::sleep(Duration::from_millis(15)).await;
            (
                m["id"].as_str().unwrap().to_owned(),
                m["timestamp"].as_str().unwrap().to_owned(),
            )
        }
    };
    let (a, a_time) = publish("invoice.paid", "good").await;
    let (b, b_time) = publish("invoice.failed", "bad").await;
    let (c, _) = publish("invoice.paid", "good").await;
    let (d, _) = publish("invoice.paid", "elsewhere").await;

    let token = issue_portal_link(&server, &app, json!({"readOnly": true})).await;
    let portal = Portal::open(&server, &token, &[]).await;
    let (status, page) = portal.get("/portal/messages").await;
    assert_eq!(status, 200);
    assert_eq!(
        listed(&page),
        vec![d.clone(), c.clone(), b.clone(), a.clone()]
    );
    for label in [
        r#"<label for="f-event_type">Event type</label>"#,
        r#"<label for="f-channel">Channel</label>"#,
        r#"<label for="f-status">Delivery status</label>"#,
        r#"<label for="f-after">From (UTC)</label>"#,
        r#"<label for="f-before">Until (UTC)</label>"#,
    ] {
        assert!(page.contains(label), "missing {label}");
    }

    let get = |pairs: &'static [(&'static str, &'static str)]| {
        let portal = &portal;
        async move { listed(&portal.get(&query(pairs)).await.1) }
    };
    // Event type, channel.
    assert_eq!(
        get(&[("event_type", "invoice.failed")]).await,
        vec![b.clone()]
    );
    assert_eq!(
        get(&[("channel", "good")]).await,
        vec![c.clone(), a.clone()]
    );
    // Time: strictly after a, strictly before b; both together.
    let (_, page) = portal.get(&query(&[("after", &a_time)])).await;
    assert_eq!(listed(&page), vec![d.clone(), c.clone(), b.clone()]);
    assert!(
        page.contains(&format!("value=\"{a_time}\"")),
        "the filter stays in its field"
    );
    let (_, page) = portal.get(&query(&[("before", &b_time)])).await;
    assert_eq!(listed(&page), vec![a.clone()]);
    let (_, page) = portal
        .get(&query(&[("after", &a_time), ("before", &b_time)]))
        .await;
    assert!(listed(&page).is_empty() && page.contains("No messages."));
    // A `datetime-local` value is UTC to the minute.
    assert_eq!(
        get(&[("before", "2000-01-01T00:00")]).await,
        Vec::<String>::new()
    );
    assert_eq!(get(&[("after", "2000-01-01T00:00")]).await.len(), 4);

    // Delivery status: a succeeded to its endpoint, b failed for good after its retry; d went
    // nowhere, so it has no status at all.
    eventually("b to fail for good", || async {
        let ids = get(&[("status", "fail")]).await;
        if ids == vec![b.clone()] {
            Ok(())
        } else {
            Err(format!("{ids:?}"))
        }
    })
    .await;
    eventually("a and c to succeed", || async {
        let ids = get(&[("status", "success")]).await;
        if ids == vec![c.clone(), a.clone()] {
            Ok(())
        } else {
            Err(format!("{ids:?}"))
        }
    })
    .await;
    assert!(get(&[("status", "pending")]).await.is_empty());
    let (_, page) = portal
        .get(&query(&[("status", "fail"), ("channel", "bad")]))
        .await;
    assert_eq!(listed(&page), vec![b.clone()]);
    assert!(
        page.contains(r#"<option value="fail" selected>Failed</option>"#),
        "{page}"
    );

    // Bad values: answered beside their field, nothing listed.
    let (status, page) = portal
        .get(&query(&[
            ("channel", "no spaces allowed"),
            ("status", "lost"),
            ("after", "yesterday"),
        ]))
        .await;
    assert_eq!(status, 200);
    for id in ["f-channel-error", "f-status-error", "f-after-error"] {
        assert!(page.contains(&format!("id=\"{id}\"")), "missing {id}");
    }
    assert!(listed(&page).is_empty());

    // Pages of one, filtered by type: the next-page link keeps the filter to the end.
    let mut seen = Vec::new();
    let mut path = query(&[("event_type", "invoice.paid"), ("limit", "1")]);
    for _ in 0..5 {
        let (status, page) = portal.get(&path).await;
        assert_eq!(status, 200);
        seen.extend(listed(&page));
        match next_link(&page) {
            Some(next) => {
                assert!(
                    next.contains("event_type=invoice.paid") && next.contains("limit=1"),
                    "{next}"
                );
                path = next;
            }
            None => break,
        }
    }
    assert_eq!(seen, vec![d, c, a]);
}

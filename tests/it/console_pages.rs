//! The console's channel, webhook and bin pages over plain HTTP: sessions and CSRF on every
//! new route, the session-protected live streams (and the API's stream keeping its bearer
//! auth), 404 for unknown channels, bins and requests, 422 with the form again for bad input
//! (nothing stored), text from strangers escaped, and console actions having the same effect
//! as the API. The browser tests (`console_live`) watch the live parts in Chromium.

use crate::common::*;
use reqwest::header::{ACCEPT, CONTENT_TYPE, COOKIE};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn the_new_pages_and_streams_need_a_session() {
    let server = TestServer::start_default().await;
    let channel = server.create_channel("ops").await;
    let channel_id = channel["id"].as_str().unwrap();
    let bin = server.create_bin(json!({})).await;
    let bin_id = bin["id"].as_str().unwrap();
    let http = Console::client();

    for page in ["/channels", "/integrations", "/bins"] {
        let r = http.get(server.url(page)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{page}");
        assert!(Console::location(&r).starts_with("/login"), "{page}");
    }
    // EventSource cannot follow a sign-in redirect: a stream without a session is refused.
    for stream in [
        format!("/channels/{channel_id}/live"),
        format!("/bins/{bin_id}/live"),
    ] {
        let r = http
            .get(server.url(&stream))
            .header(ACCEPT, "text/event-stream")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{stream}");
    }

    // The session opens the console's streams, never the API's (which keeps its bearer token).
    let console = Console::sign_in(&server).await;
    let r = console
        .stream(&format!("/channels/{channel_id}/live"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let r = console.stream(&format!("/bins/{bin_id}/live")).await;
    assert_eq!(r.status(), StatusCode::OK);
    // A resume point that is not one is refused, not guessed.
    for bad in [
        format!("/channels/{channel_id}/live?after=yesterday"),
        format!("/bins/{bin_id}/live?after=req_x"),
    ] {
        let r = console.stream(&bad).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    for api in [
        format!("/api/v1/channels/{channel_id}/stream"),
        format!("/api/v1/bin/{bin_id}/stream"),
    ] {
        let r = http
            .get(server.url(&api))
            .header(COOKIE, &console.cookie)
            .header(ACCEPT, "text/event-stream")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{api}");
    }

    // Forms without the session's CSRF token change nothing.
    for (path, fields) in [
        ("/channels", vec![("name", "forged")]),
        ("/bins", vec![("status", "200")]),
        (
            "/integrations/incoming",
            vec![("name", "forged"), ("channel", channel_id)],
        ),
    ] {
        let r = http
            .post(server.url(path))
            .header(COOKIE, &console.cookie)
            .form(&fields)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let r = http
        .post(server.url(&format!("/channels/{channel_id}/archive")))
        .header(COOKIE, &console.cookie)
        .form(&[("_csrf", "not-the-token")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let channels = server.get("/api/v1/channels").await;
    assert_eq!(channels["data"].as_array().unwrap().len(), 1, "{channels}");
    assert_eq!(channels["data"][0]["isArchived"], false);
    assert!(server.get("/api/v1/incoming-webhooks").await["data"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(server.list_all("/api/v1/bin").await.len(), 1);
}

#[tokio::test]
async fn unknown_channels_bins_and_requests_are_404() {
    let server = TestServer::start_default().await;
    let console = Console::sign_in(&server).await;
    let bin = server.create_bin(json!({})).await;
    let bin_id = bin["id"].as_str().unwrap();
    for path in [
        "/channels/C0000000000".to_owned(),
        "/channels/no-such-channel".to_owned(),
        "/channels/C0000000000/live".to_owned(),
        "/integrations/outgoing/nope".to_owned(),
        "/bins/nope".to_owned(),
        "/bins/bin_0000000000000000000000000".to_owned(),
        format!("/bins/{bin_id}?req=42"),
        format!("/bins/{bin_id}?req=x"),
    ] {
        let (status, page) = console.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {page}");
    }
    for path in [
        "/channels/C0000000000/messages".to_owned(),
        "/integrations/incoming/B0000000000/revoke".to_owned(),
        "/bins/nope/delete".to_owned(),
        format!("/bins/{bin_id}/requests/42/replay"),
    ] {
        let (status, _) = console
            .post_page(
                &path,
                &[("text", "x"), ("user", "a"), ("url", "http://example.com")],
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn bad_form_input_is_422_with_the_form_again_and_stores_nothing() {
    let server = TestServer::start_default().await;
    let console = Console::sign_in(&server).await;
    let channel = server.create_channel("general").await;
    let channel_id = channel["id"].as_str().unwrap();

    let (status, page) = console
        .post_page("/channels", &[("name", "Not A Name!")])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("f-name-error"), "{page}");
    assert!(page.contains("Not A Name!"), "the value typed is kept");
    let (status, _) = console.post_page("/channels", &[("name", "general")]).await;
    assert_eq!(status, StatusCode::CONFLICT);

    let messages = format!("/channels/{channel_id}/messages");
    for fields in [
        vec![("user", "ada"), ("text", "   ")],
        vec![("user", ""), ("text", "hello")],
        vec![
            ("user", "ada"),
            ("text", "reply"),
            ("thread_ts", "not-a-ts"),
        ],
    ] {
        let (status, page) = console.post_page(&messages, &fields).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{fields:?}: {page}"
        );
        assert!(page.contains("compose-error"), "{page}");
    }
    assert!(server.channel_messages(channel_id).await.is_empty());

    for fields in [
        vec![("status", "99")],
        vec![("status", "abc")],
        vec![("status", "200"), ("max_requests", "0")],
        vec![("status", "99999999999")],
    ] {
        let (status, page) = console.post_page("/bins", &fields).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{fields:?}");
        assert!(page.contains("bin-error"), "{page}");
    }
    assert!(server.list_all("/api/v1/bin").await.is_empty());

    let (status, page) = console
        .post_page(
            "/integrations/incoming",
            &[("name", ""), ("channel", channel_id)],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("incoming-error"), "{page}");
    let (status, _) = console
        .post_page(
            "/integrations/incoming",
            &[("name", "ci"), ("channel", "C0000000000")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    for fields in [
        vec![
            ("name", "bot"),
            ("channel", channel_id),
            ("callback_urls", "not a url"),
        ],
        vec![
            ("name", "bot"),
            ("channel", ""),
            ("trigger_words", ""),
            ("callback_urls", "http://example.com/"),
        ],
        vec![
            ("name", "bot"),
            ("channel", channel_id),
            ("callback_urls", ""),
        ],
    ] {
        let (status, page) = console.post_page("/integrations/outgoing", &fields).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{fields:?}");
        assert!(page.contains("outgoing-error"), "{page}");
    }
    assert!(server.get("/api/v1/incoming-webhooks").await["data"]
        .as_array()
        .unwrap()
        .is_empty());
    assert!(server.get("/api/v1/outgoing-webhooks").await["data"]
        .as_array()
        .unwrap()
        .is_empty());

    // A replay to something that is not a URL is refused beside the field.
    let bin = server.create_bin(json!({})).await;
    let bin_id = bin["id"].as_str().unwrap();
    server
        .http()
        .post(format!("{}/b/{bin_id}", server.base_url()))
        .body("x")
        .send()
        .await
        .unwrap();
    let req = server.bin_requests(bin_id).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, page) = console
        .post_page(
            &format!("/bins/{bin_id}/requests/{req}/replay"),
            &[("url", "not a url")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("f-url-error"), "{page}");
}

/// The messages a hook posts are shown escaped: the page never carries a stranger's markup.
#[tokio::test]
async fn text_and_attachments_from_strangers_are_escaped_and_rendered() {
    let server = TestServer::start_default().await;
    let console = Console::sign_in(&server).await;
    let channel = server.create_channel("alerts").await;
    let channel_id = channel["id"].as_str().unwrap();
    let hook = server
        .create_incoming_hook(json!({ "channel": "alerts", "name": "Grafana" }))
        .await;
    let hook_url = hook["url"].as_str().unwrap();
    server
        .post_hook_json(
            hook_url,
            &json!({
                "text": "<script>alert(1)</script> *CPU high* on <https://grafana.example/d/1|db-1> <javascript:alert(2)|click>",
                "icon_url": "https://grafana.example/logo.png",
                "attachments": [{
                    "color": "danger\" onmouseover=\"alert(3)",
                    "title": "<img src=x onerror=alert(4)>",
                    "title_link": "javascript:alert(5)",
                    "fields": [{ "title": "Host", "value": "`db-1`", "short": true }],
                    "image_url": "https://grafana.example/render/1.png",
                    "mrkdwn_in": ["fields"]
                }]
            }),
        )
        .await
        .assert(200, "ok");
    let (status, page) = console.get(&format!("/channels/{channel_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("<script>alert"), "{page}");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!page.contains("<img src=x"));
    assert!(!page.contains(r#"href="javascript:"#), "{page}");
    assert!(!page.contains("onmouseover"), "{page}");
    assert!(page.contains("<strong>CPU high</strong>"));
    assert!(page
        .contains(r#"<a href="https://grafana.example/d/1" rel="noopener noreferrer nofollow""#));
    assert!(page.contains("<code>db-1</code>"));
    // Formatting off as the sender asks: `"mrkdwn": false` for the text, and an attachment's
    // text without `mrkdwn_in` (Slack formats attachments only where it is listed).
    server
        .post_hook_json(
            hook_url,
            &json!({
                "text": "*as typed* &lt;b&gt;", "mrkdwn": false,
                "attachments": [{ "text": "_plain_ `too`", "pretext": "*pre*", "mrkdwn_in": ["pretext"] }]
            }),
        )
        .await
        .assert(200, "ok");
    let (_, page) = console.get(&format!("/channels/{channel_id}")).await;
    assert!(page.contains("*as typed* &lt;b&gt;"), "{page}");
    assert!(page.contains("_plain_ `too`"), "{page}");
    assert!(page.contains("<strong>pre</strong>"), "{page}");
    assert!(page.contains(r#"src="https://grafana.example/render/1.png""#));
    assert!(
        page.contains("APP"),
        "the hook's post is marked as an app's"
    );

    // The live stream sends the same escaped markup.
    let mut stream = SseReader::from_response(
        console
            .stream(&format!("/channels/{channel_id}/live"))
            .await,
    );
    let event = stream.next().await;
    assert_eq!(event.event, "message");
    let data: Value = serde_json::from_str(&event.data).unwrap();
    let html = data["html"].as_str().unwrap();
    assert!(
        html.contains("&lt;script&gt;") && !html.contains("<script>"),
        "{html}"
    );
    assert!(html.contains("att-bar"), "{html}");
}

#[tokio::test]
async fn the_channel_stream_sends_what_is_posted_after_the_page_and_replies_with_their_parent() {
    let server = TestServer::start_default().await;
    let console = Console::sign_in(&server).await;
    let channel = server.create_channel("dev").await;
    let channel_id = channel["id"].as_str().unwrap();
    let first = server.say(channel_id, "ada", "already here").await;
    let first_ts = first["ts"].as_str().unwrap();

    let mut stream = SseReader::from_response(
        console
            .stream(&format!("/channels/{channel_id}/live?after={first_ts}"))
            .await,
    );
    let (status, _) = console
        .post_page(
            &format!("/channels/{channel_id}/messages"),
            &[
                ("user", "grace"),
                ("text", "a reply"),
                ("thread_ts", first_ts),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let event = stream.next().await;
    let data: Value = serde_json::from_str(&event.data).unwrap();
    assert!(data["html"].as_str().unwrap().contains("a reply"), "{data}");
    assert_eq!(data["parent"], format!("r-{}", first_ts.replace('.', "-")));
    let messages = server.channel_messages(channel_id).await;
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[1]["threadTs"], first_ts);
    assert_eq!(
        messages[1]["postedBy"],
        json!({ "kind": "user", "name": "grace" })
    );

    // The page shows the reply under its parent.
    let (_, page) = console.get(&format!("/channels/{channel_id}")).await;
    let replies = page
        .split(&format!(r#"id="r-{}""#, first_ts.replace('.', "-")))
        .nth(1)
        .expect("the parent's replies");
    assert!(replies.contains("a reply"));
}

#[tokio::test]
async fn console_webhook_and_channel_actions_have_the_api_s_effect() {
    let server = TestServer::start_default().await;
    let console = Console::sign_in(&server).await;
    let r = console.post("/channels", &[("name", "#deploys")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let channel = server.get("/api/v1/channels/deploys").await;
    let channel_id = channel["id"].as_str().unwrap();
    assert_eq!(Console::location(&r), format!("/channels/{channel_id}"));

    // The incoming hook's URL is shown once, and works.
    let (status, page) = console
        .post_page(
            "/integrations/incoming",
            &[
                ("name", "CI"),
                ("channel", channel_id),
                ("username", "ci-bot"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let url_at = page.find("/services/T").expect("the hook URL is shown");
    let start = page[..url_at].rfind('"').unwrap() + 1;
    let url = page[start..start + page[start..].find('"').unwrap()].to_owned();
    server
        .post_hook_json(&url, &json!({ "text": "build 7 passed" }))
        .await
        .assert(200, "ok");
    let (_, list) = console.get("/integrations").await;
    assert!(!list.contains(&url), "the URL is not shown again");
    let hooks = server.get("/api/v1/incoming-webhooks").await;
    let hook_id = hooks["data"][0]["id"].as_str().unwrap().to_owned();

    // A new URL replaces the old one; revoking ends the new one.
    let (status, page) = console
        .post_page(&format!("/integrations/incoming/{hook_id}/regenerate"), &[])
        .await;
    assert_eq!(status, StatusCode::OK);
    server
        .post_hook_json(&url, &json!({ "text": "old" }))
        .await
        .assert(403, "invalid_token");
    let url_at = page.find("/services/T").unwrap();
    let start = page[..url_at].rfind('"').unwrap() + 1;
    let new_url = page[start..start + page[start..].find('"').unwrap()].to_owned();
    assert_ne!(new_url, url);
    server
        .post_hook_json(&new_url, &json!({ "text": "new" }))
        .await
        .assert(200, "ok");
    let r = console
        .post(&format!("/integrations/incoming/{hook_id}/revoke"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    server
        .post_hook_json(&new_url, &json!({ "text": "revoked" }))
        .await
        .assert(403, "invalid_token");

    // Outgoing hooks: created with the form's values, listed, deleted.
    let (status, page) = console
        .post_page(
            "/integrations/outgoing",
            &[
                ("name", "deploy bot"),
                ("channel", channel_id),
                ("trigger_words", "deploy, ship"),
                ("trigger_when", "starts_with"),
                (
                    "callback_urls",
                    "http://127.0.0.1:9/a\nhttp://127.0.0.1:9/b",
                ),
                ("content_type", "json"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Signing secret"));
    let out = server.get("/api/v1/outgoing-webhooks").await;
    let hook = &out["data"][0];
    assert_eq!(hook["triggerWords"], json!(["deploy", "ship"]), "{hook}");
    assert_eq!(hook["triggerWhen"], "starts_with");
    assert_eq!(hook["contentType"], "json");
    assert_eq!(hook["callbackUrls"].as_array().unwrap().len(), 2);
    let out_id = hook["id"].as_str().unwrap().to_owned();
    let (status, page) = console
        .get(&format!("/integrations/outgoing/{out_id}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("deploy bot"));
    let r = console
        .post(&format!("/integrations/outgoing/{out_id}/delete"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, _) = server
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/outgoing-webhooks/{out_id}"),
            None,
        )
        .await;
    assert_eq!(status, 404);

    // Archive, then unarchive.
    let r = console
        .post(&format!("/channels/{channel_id}/archive"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        server.get("/api/v1/channels/deploys").await["isArchived"],
        true
    );
    let (status, _) = console
        .post_page(
            &format!("/channels/{channel_id}/messages"),
            &[("user", "ada"), ("text", "into the archive")],
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    console
        .post(&format!("/channels/{channel_id}/unarchive"), &[])
        .await;
    assert_eq!(
        server.get("/api/v1/channels/deploys").await["isArchived"],
        false
    );
}

#[tokio::test]
async fn bins_through_the_console_capture_show_replay_and_delete() {
    let server = TestServer::start_default().await;
    let console = Console::sign_in(&server).await;
    let receiver = Receiver::start().await;
    let r = console
        .post(
            "/bins",
            &[("name", "github"), ("status", "202"), ("max_requests", "5")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let bin_id = Console::location(&r)
        .trim_start_matches("/bins/")
        .to_owned();
    let bin = server.get(&format!("/api/v1/bin/{bin_id}")).await;
    assert_eq!(bin["name"], "github");
    assert_eq!(bin["response"]["status"], 202);
    assert_eq!(bin["maxRequests"], 5);

    let sent = server
        .http()
        .post(format!("{}/b/{bin_id}/push?ref=main", server.base_url()))
        .header("x-github-event", "push")
        .header("content-type", "application/json")
        .body(r#"{"ref":"main","commits":[{"id":"abc"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status().as_u16(), 202);
    server
        .http()
        .put(format!("{}/b/{bin_id}/blob", server.base_url()))
        .body(vec![0xffu8, 0x00, 0x41])
        .send()
        .await
        .unwrap();
    let requests = server.bin_requests(&bin_id).await;
    let json_req = requests[1]["id"].as_str().unwrap().to_owned();

    // The newest is selected by default: the binary one, as base64 and hex.
    let (status, page) = console.get(&format!("/bins/{bin_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("/wBB"), "base64 of the body: {page}");
    assert!(page.contains("ff 00 41"), "hex of the body");
    // The JSON one, pretty-printed, with its headers in order and a curl command.
    let (_, page) = console.get(&format!("/bins/{bin_id}?req={json_req}")).await;
    assert!(
        page.contains("&quot;commits&quot;: ["),
        "pretty JSON: {page}"
    );
    assert!(page.contains("x-github-event"));
    assert!(
        page.contains("curl -X &#39;POST&#39;") || page.contains("curl -X 'POST'"),
        "{page}"
    );
    assert!(page.contains("ref=main"));

    let (status, page) = console
        .post_page(
            &format!("/bins/{bin_id}/requests/{json_req}/replay"),
            &[("url", &receiver.url())],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains(r#"id="replay-result" data-state="success""#),
        "{page}"
    );
    let got = receiver.wait_for(1, WAIT).await;
    assert_eq!(
        got[0].body.as_ref(),
        br#"{"ref":"main","commits":[{"id":"abc"}]}"#
    );

    let r = console.post(&format!("/bins/{bin_id}/delete"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, _) = server
        .call(reqwest::Method::GET, &format!("/api/v1/bin/{bin_id}"), None)
        .await;
    assert_eq!(status, 404);
}

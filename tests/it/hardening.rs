//! What a hostile tester broke (issue 14), each kept mended by a test that failed before the
//! fix: built-in things that could be deleted, sign-in redirects, idempotency races, deep JSON,
//! SSRF address forms, sessions that outlived sign-out, unbounded incidents, token guessing,
//! slow connections and amplified pages. Every test runs a real server (and runs again on
//! PostgreSQL with `KANCA_TEST_BACKEND=postgres`).

use crate::common::*;
use reqwest::header::LOCATION;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

// ---- 2. Built-in things refuse deletion --------------------------------------------------

#[tokio::test]
async fn the_workspace_application_cannot_be_deleted_or_renamed_away() {
    let server = TestServer::start_default().await;
    server.create_channel("ops").await;
    let hook = server
        .create_incoming_hook(json!({"name": "ci", "channel": "ops"}))
        .await;
    let url = hook["url"].as_str().unwrap().to_owned();

    let r = server
        .request(Method::DELETE, "/api/v1/app/workspace")
        .send()
        .await
        .unwrap();
    let body = expect_error(r, 409, "conflict", "deleting the workspace app").await;
    assert!(
        body["detail"].as_str().unwrap().contains("built-in"),
        "{body}"
    );

    let (status, body) = server
        .call(
            Method::PATCH,
            "/api/v1/app/workspace",
            Some(&json!({"uid": "elsewhere"})),
        )
        .await;
    assert_eq!(status, 409, "changing the workspace app's uid: {body}");
    let (status, body) = server
        .call(
            Method::PUT,
            "/api/v1/app/workspace",
            Some(&json!({"name": "Workspace"})),
        )
        .await;
    // Addressed by its uid, a PUT without one keeps it (Svix's upsert semantics, issue 13), so
    // the application stays the workspace's.
    assert_eq!(status, 200, "PUT by uid without a uid: {body}");
    assert_eq!(body["uid"], "workspace", "{body}");
    // Its name may change; it is an ordinary, visible application otherwise.
    server
        .call_ok(
            Method::PATCH,
            "/api/v1/app/workspace",
            Some(&json!({"name": "Our workspace"})),
        )
        .await;

    // The workspace still works: a hook post lands in its channel.
    server
        .post_hook_json(&url, &json!({"text": "still here"}))
        .await
        .assert(200, "ok");
    let messages = server.wait_for_messages("ops", 1).await;
    assert_eq!(messages[0]["text"], "still here");
}

// ---- 3. Sign-in `next` stays on this site ------------------------------------------------

async fn sign_in_with_next(server: &TestServer, next: &str) -> reqwest::Response {
    Console::client()
        .post(server.url("/login"))
        .form(&[("token", server.token()), ("next", next)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn sign_in_next_only_leads_to_paths_on_this_site() {
    let server = TestServer::start_default().await;
    for hostile in [
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r\n/evil.example",
        "//evil.example",
        "/\\evil.example",
        "\t//evil.example",
        "https://evil.example/",
        "/%09/evil.example",
    ] {
        let r = sign_in_with_next(&server, hostile).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "next={hostile:?}");
        let location = Console::location(&r);
        assert!(
            location.starts_with('/')
                && !location.starts_with("//")
                && !location.starts_with("/\\")
                && !location.chars().any(|c| c.is_control()),
            "next={hostile:?} redirected to {location:?}"
        );
        let resolved = url::Url::parse("http://kanca.test/")
            .unwrap()
            .join(&location)
            .unwrap();
        assert_eq!(
            resolved.host_str(),
            Some("kanca.test"),
            "next={hostile:?} → {location:?}"
        );
    }
    // A local path with a query survives.
    let r = sign_in_with_next(&server, "/channels/general?x=1").await;
    assert_eq!(Console::location(&r), "/channels/general?x=1");

    // The sign-in page with a session redirects at once: same rule.
    let console = Console::sign_in(&server).await;
    let r = Console::client()
        .get(server.url("/login?next=/%09/evil.example"))
        .header(reqwest::header::COOKIE, &console.cookie)
        .send()
        .await
        .unwrap();
    let location = r.headers()[LOCATION].to_str().unwrap().to_owned();
    let resolved = url::Url::parse("http://kanca.test/")
        .unwrap()
        .join(&location)
        .unwrap();
    assert_eq!(resolved.host_str(), Some("kanca.test"), "{location:?}");
}

// ---- 9. Idempotency keys are claimed before the work --------------------------------------

#[tokio::test]
async fn concurrent_posts_with_one_idempotency_key_create_one_application() {
    let server = TestServer::start_default().await;
    let requests = (0..20).map(|i| {
        server
            .request(Method::POST, "/api/v1/app")
            .header("idempotency-key", "one-key")
            .json(&json!({"name": format!("racer {i}")}))
            .send()
    });
    let answers = futures::future::join_all(requests).await;
    let mut ids = std::collections::BTreeSet::new();
    for a in answers {
        let a = a.unwrap();
        assert_eq!(a.status(), 201);
        let body: Value = a.json().await.unwrap();
        ids.insert(body["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1, "every answer is the first one: {ids:?}");
    let apps = server.list_all("/api/v1/app").await;
    let racers = apps
        .iter()
        .filter(|a| a["name"].as_str().unwrap_or_default().starts_with("racer"))
        .count();
    assert_eq!(racers, 1, "{apps:?}");

    // A failed request gives its key back: the same key then works.
    let (status, _) = server
        .call(Method::POST, "/api/v1/app", Some(&json!({"name": ""})))
        .await;
    assert_eq!(status, 422);
    let bad = server
        .request(Method::POST, "/api/v1/app")
        .header("idempotency-key", "second-key")
        .json(&json!({"name": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    let good = server
        .request(Method::POST, "/api/v1/app")
        .header("idempotency-key", "second-key")
        .json(&json!({"name": "after a failure"}))
        .send()
        .await
        .unwrap();
    assert_eq!(good.status(), 201);
}

// ---- 12. Small ones ------------------------------------------------------------------------

#[tokio::test]
async fn unknown_api_routes_ask_for_the_token_first() {
    let server = TestServer::start_default().await;
    let r = server
        .http()
        .get(server.url("/api/v1/no-such-thing"))
        .send()
        .await
        .unwrap();
    expect_error(r, 401, "authentication_failed", "unknown route, no token").await;
    let r = server
        .request(Method::GET, "/api/v1/no-such-thing")
        .send()
        .await
        .unwrap();
    expect_error(r, 404, "not_found", "unknown route, with the token").await;
    // Health stays public.
    let r = server
        .http()
        .get(server.url("/api/v1/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

// ---- 1. U+0000 is removed wherever text comes in, on both backends -------------------------

#[tokio::test]
async fn nul_characters_are_removed_from_hook_posts_replies_api_and_console_text() {
    let server = TestServer::start_default().await;
    server.create_channel("nul").await;
    let hook = server
        .create_incoming_hook(json!({"name": "nul", "channel": "nul"}))
        .await;
    let url = hook["url"].as_str().unwrap().to_owned();

    // JSON, with the escape in every overridable text field.
    let body =
        r#"{"text":"a\u0000b","username":"bo\u0000t","icon_url":"https://e.example/i\u0000.png"}"#;
    server
        .post_hook(&url, "application/json", body.as_bytes().to_vec())
        .await
        .assert(200, "ok");
    // A form: the escape inside `payload`, and a raw NUL byte (%00) in it.
    let form = format!(
        "payload={}",
        url::form_urlencoded::byte_serialize(br#"{"text":"c\u0000d"}"#).collect::<String>()
    );
    server
        .post_hook(&url, "application/x-www-form-urlencoded", form.into_bytes())
        .await
        .assert(200, "ok");
    server
        .post_hook(
            &url,
            "application/x-www-form-urlencoded",
            b"payload=%7B%22text%22%3A%22e%00f%22%7D".to_vec(),
        )
        .await
        .assert(200, "ok");
    // Found by fuzzing: a broken escape next to raw NULs must not come out as a NUL.
    let answer = server
        .post_hook(
            &url,
            "application/json",
            b"{\"text\":\"k\\u00\x0000l\"}".to_vec(),
        )
        .await;
    assert_eq!(answer.status, 400, "{answer:?}");
    // The API and the console.
    server
        .post(
            "/api/v1/channels/nul/messages",
            &json!({"user": "ada\u{0}", "text": "g\u{0}h"}),
        )
        .await;
    let console = Console::sign_in(&server).await;
    let r = console
        .post(
            "/channels/nul/messages",
            &[("user", "ada"), ("text", "i\0j")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    let messages = server.wait_for_messages("nul", 5).await;
    let texts: Vec<&str> = messages
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["ab", "cd", "ef", "gh", "ij"], "{messages:?}");
    assert_eq!(messages[0]["username"], "bot");
    assert_eq!(messages[0]["iconUrl"], "https://e.example/i.png");

    // An outgoing-webhook reply holding NUL is posted, not dropped.
    let bot = Bot::start().await;
    bot.set_default(200, json!({"text": "re\u{0}ply"}));
    server
        .post(
            "/api/v1/outgoing-webhooks",
            &json!({"name": "echo", "channel": "nul", "triggerWords": ["echo"],
                    "callbackUrls": [bot.url()], "contentType": "json"}),
        )
        .await;
    server.say("nul", "ada", "echo this").await;
    let messages = server.wait_for_messages("nul", 7).await;
    assert!(
        messages.iter().any(|m| m["text"] == "reply"),
        "the reply was not posted: {messages:?}"
    );

    // Other API text: removed too. A message payload is kept byte for byte.
    let app = server
        .post("/api/v1/app", &json!({"name": "na\u{0}me"}))
        .await;
    assert_eq!(app["name"], "name");
    let app_id = app["id"].as_str().unwrap();
    let raw = r#"{"eventType":"nul.test","payload":{"k":"v\u0000w"}}"#;
    let r = server
        .request(Method::POST, &format!("/api/v1/app/{app_id}/msg"))
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let msg: Value = r.json().await.unwrap();
    assert_eq!(msg["payload"]["k"], "v\u{0}w");
}

// ---- 10. JSON depth -------------------------------------------------------------------------

#[tokio::test]
async fn payloads_nested_deeper_than_128_are_refused_with_a_422() {
    let server = TestServer::start_default().await;
    let app = server.create_app("deep").await;
    let nested = |depth: usize| "[".repeat(depth) + &"]".repeat(depth);
    for depth in [129, 100_000] {
        let body = format!(
            r#"{{"eventType":"deep.test","payload":{{"a":{}}}}}"#,
            nested(depth - 2)
        );
        let r = server
            .request(Method::POST, &format!("/api/v1/app/{app}/msg"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let err = expect_error(r, 422, "validation", "a deep payload").await;
        // Svix's 422 shape: `detail` is a list of `{loc, msg, type}`.
        assert!(err["detail"].to_string().contains("128"), "{err}");
    }
    // 128 levels in all are fine, and the application's messages still list.
    let ok = format!(
        r#"{{"eventType":"deep.test","payload":{{"a":{}}}}}"#,
        nested(126)
    );
    let r = server
        .request(Method::POST, &format!("/api/v1/app/{app}/msg"))
        .header("content-type", "application/json")
        .body(ok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let r = server
        .request(Method::GET, &format!("/api/v1/app/{app}/msg"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains(&nested(126)));
    // Other API bodies too.
    let r = server
        .request(Method::POST, "/api/v1/app")
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"name":"x","metadata":{{"a":"{}"}}, "x": {}}}"#,
            "b",
            nested(200)
        ))
        .send()
        .await
        .unwrap();
    expect_error(r, 422, "validation", "a deep application body").await;
}

// ---- 5. A bin page never holds an amplified body -------------------------------------------

#[tokio::test]
async fn a_deeply_nested_capture_renders_raw_and_bounded_with_a_download_link() {
    let server = TestServer::start_default().await;
    let bin = server.create_bin(json!({})).await;
    let bin_url = bin["url"].as_str().unwrap().to_owned();
    let bin_id = bin_id_of(&bin_url);
    // 1 MiB nested 126 deep: indented, every `1,` line would carry 252 spaces (~130 MB).
    let depth = 126;
    let inner_len = 1024 * 1024 - 2 * depth;
    let ones = vec!["1"; inner_len / 2].join(",");
    let body = "[".repeat(depth) + &ones + &"]".repeat(depth);
    let r = server
        .http()
        .post(format!("{bin_url}/deep"))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());

    let console = Console::sign_in(&server).await;
    let (status, page) = console.get(&format!("/bins/{bin_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.len() < 2 * 1024 * 1024,
        "the page is {} bytes for a {} byte body",
        page.len(),
        body.len()
    );
    assert!(
        page.contains("too deep or too large to indent"),
        "no notice"
    );
    let link = format!("/bins/{bin_id}/requests/");
    let at = page.find(&link).expect("a download link");
    let href = &page[at..];
    let href = &href[..href.find('"').unwrap()];
    assert!(href.ends_with("/body"), "{href}");
    let r = Console::client()
        .get(server.url(href))
        .header(reqwest::header::COOKIE, &console.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    assert_eq!(
        r.bytes().await.unwrap(),
        body.as_bytes(),
        "the whole body, as sent"
    );
    // Without a session it is not served.
    let r = Console::client()
        .get(server.url(href))
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), 200);

    // A small JSON body is still indented.
    server
        .http()
        .post(&bin_url)
        .body(r#"{"a":[1,2]}"#)
        .send()
        .await
        .unwrap();
    let (_, page) = console.get(&format!("/bins/{bin_id}")).await;
    assert!(
        page.contains("{\n  &quot;a&quot;: [") || page.contains("{\n  \"a\": ["),
        "indented"
    );
}

// ---- 11. IPv6 forms that embed IPv4 --------------------------------------------------------

#[tokio::test]
async fn ipv6_forms_embedding_a_private_ipv4_are_refused_when_saved() {
    let server = TestServer::start(ServerOptions::default().with_ssrf_guard()).await;
    let app = server.create_app("ssrf").await;
    for host in [
        "[64:ff9b::7f00:1]",
        "[::ffff:0:7f00:1]",
        "[::127.0.0.1]",
        "[64:ff9b::a9fe:a9fe]",
        "[2002:7f00:1::1]",
        "[::ffff:10.0.0.1]",
    ] {
        let url = format!("http://{host}:8080/hook");
        let r = server
            .request(Method::POST, &format!("/api/v1/app/{app}/endpoint"))
            .json(&json!({"url": url}))
            .send()
            .await
            .unwrap();
        expect_error(r, 422, "validation", &format!("endpoint {url}")).await;
        let (status, body) = server
            .call(
                Method::POST,
                "/api/v1/outgoing-webhooks",
                Some(&json!({"name": "x", "triggerWords": ["x"], "callbackUrls": [url]})),
            )
            .await;
        assert_eq!(status, 422, "outgoing webhook to {url}: {body}");
    }
    // A public address in a NAT64 form is fine.
    server
        .post(
            &format!("/api/v1/app/{app}/endpoint"),
            &json!({"url": "http://[64:ff9b::808:808]/hook"}),
        )
        .await;
}

// ---- 12. Outgoing webhooks may call this server's own bins, as endpoints may ---------------

#[tokio::test]
async fn outgoing_webhooks_accept_and_reach_the_servers_own_bins() {
    let server = TestServer::start(ServerOptions::default().with_ssrf_guard()).await;
    let bin = server.create_bin(json!({})).await;
    let bin_url = bin["url"].as_str().unwrap().to_owned();
    let app = server.create_app("bins").await;
    server
        .post(
            &format!("/api/v1/app/{app}/endpoint"),
            &json!({"url": format!("{bin_url}/endpoint")}),
        )
        .await;
    server
        .post(
            "/api/v1/outgoing-webhooks",
            &json!({"name": "to-bin", "triggerWords": ["ping"],
                    "callbackUrls": [format!("{bin_url}/outgoing")]}),
        )
        .await;
    server.create_channel("pings").await;
    server.say("pings", "ada", "ping now").await;
    let bin_id = bin_id_of(&bin_url);
    let requests = eventually("the bin catches the outgoing webhook", || async {
        let r = server.bin_requests(&bin_id).await;
        if r.is_empty() {
            Err("nothing yet".to_owned())
        } else {
            Ok(r)
        }
    })
    .await;
    assert_eq!(requests[0]["path"], "/outgoing");
}

// ---- 12. Signing out ends the session on the server ----------------------------------------

#[tokio::test]
async fn a_copied_session_cookie_stops_working_after_sign_out() {
    let server = TestServer::start_default().await;
    let console = Console::sign_in(&server).await;
    let copied = console.cookie.clone();
    let (status, _) = console.get("/apps").await;
    assert_eq!(status, StatusCode::OK);
    let r = console.post("/logout", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = Console::client()
        .get(server.url("/apps"))
        .header(reqwest::header::COOKIE, &copied)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    assert!(Console::location(&r).starts_with("/login"));
    // A fresh sign-in works again.
    let again = Console::sign_in(&server).await;
    assert_eq!(again.get("/apps").await.0, StatusCode::OK);
}

// ---- 8. Guessing the admin token ------------------------------------------------------------

/// A client whose connections come from another loopback address, so that blocking it does
/// not block the test's own admin calls (from 127.0.0.1).
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<std::net::IpAddr>().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn wrong_admin_tokens_are_limited_per_address_and_recorded() {
    let server = TestServer::start(
        ServerOptions::default()
            .env("KANCA_AUTH_FAILURE_THRESHOLD", "3")
            .env("KANCA_AUTH_FAILURE_WINDOW", "10m")
            .env("KANCA_AUTH_BLOCK_DURATION", "10m"),
    )
    .await;
    let guesser = client_from("127.0.0.2");
    for i in 0..3 {
        let r = guesser
            .get(server.url("/api/v1/app"))
            .bearer_auth(format!("guess-{i}"))
            .send()
            .await
            .unwrap();
        expect_error(r, 401, "authentication_failed", "a wrong token").await;
    }
    // Blocked now, even with the right token, and unknown routes too.
    for path in ["/api/v1/app", "/api/v1/nope"] {
        let r = guesser
            .get(server.url(path))
            .bearer_auth(server.token())
            .send()
            .await
            .unwrap();
        let retry: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(retry >= 1);
        expect_error(r, 429, "rate_limited", "a blocked address").await;
    }
    // Sign-in from the same address: 429 too.
    let r = guesser
        .post(server.url("/login"))
        .form(&[("token", server.token()), ("next", "/apps")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    // Other addresses are not affected.
    server.get("/api/v1/app").await;

    // Sign-in guesses count the same way, from their own address.
    let signer = client_from("127.0.0.3");
    for _ in 0..3 {
        let r = signer
            .post(server.url("/login"))
            .form(&[("token", "not-it-at-all-no"), ("next", "/apps")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    let r = signer
        .post(server.url("/login"))
        .form(&[("token", server.token()), ("next", "/apps")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);

    let incidents = server.incidents().await;
    let find = |ip: &str, what: &str| {
        incidents
            .iter()
            .find(|i| i["ip"] == ip && i["reason"].as_str().unwrap().contains(what))
            .cloned()
            .unwrap_or_else(|| panic!("no `{what}` incident for {ip}: {incidents:?}"))
    };
    assert_eq!(find("127.0.0.2", "wrong admin token (API)")["hits"], 3);
    find("127.0.0.2", "answered 429");
    assert_eq!(find("127.0.0.3", "console sign-in")["hits"], 3);
    for i in &incidents {
        assert!(!i.to_string().contains("guess-"), "a token was stored: {i}");
    }
    assert!(!server.logs().contains("guess-1"), "a token was logged");
}

#[tokio::test]
async fn the_server_refuses_to_start_with_a_short_or_well_known_admin_token() {
    for token in ["change-me", "short-token", "changemechangeme"] {
        let dir = tempfile::tempdir().unwrap();
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_kanca"))
            .arg("serve")
            .env("KANCA_LISTEN", "127.0.0.1:0")
            .env("KANCA_DATA_DIR", dir.path())
            .env("KANCA_ADMIN_TOKEN", token)
            .env_remove("KANCA_DATABASE_URL")
            .kill_on_drop(true)
            .output()
            .await
            .unwrap();
        assert!(!out.status.success(), "started with {token:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("KANCA_ADMIN_TOKEN"), "{token:?}: {stderr}");
        assert!(!stderr.contains(token) || token == "change-me", "{stderr}");
    }
}

// ---- 6. Trusted proxies and the block's scope -----------------------------------------------

#[tokio::test]
async fn failures_behind_a_trusted_proxy_block_the_sender_not_the_proxy() {
    let server = TestServer::start(
        ServerOptions::default()
            .env("KANCA_TRUSTED_PROXIES", "127.0.0.1/32")
            .env("KANCA_IP_BLOCK_THRESHOLD", "3")
            .env("KANCA_IP_BLOCK_SCOPE", "all"),
    )
    .await;
    server.create_channel("proxied").await;
    let hook = server
        .create_incoming_hook(json!({"channel": "proxied"}))
        .await;
    let good = hook["url"].as_str().unwrap().to_owned();
    let (base, token) = good.rsplit_once('/').unwrap();
    let guess = format!("{base}/{}", "Q".repeat(token.len()));
    let post = |url: String, xff: &'static str| {
        let http = server.http().clone();
        async move {
            http.post(url)
                .header("x-forwarded-for", xff)
                .json(&json!({"text": xff}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    for _ in 0..3 {
        assert_eq!(post(guess.clone(), "198.51.100.7").await, 403);
    }
    assert_eq!(
        post(good.clone(), "198.51.100.7").await,
        403,
        "the guesser is blocked"
    );
    assert_eq!(
        post(good.clone(), "198.51.100.8").await,
        200,
        "others behind the proxy are not"
    );
    let incidents = server.incidents().await;
    assert!(
        incidents.iter().all(|i| i["ip"] == "198.51.100.7"),
        "{incidents:?}"
    );
}

#[tokio::test]
async fn by_default_failures_block_an_address_only_from_the_hook_they_were_against() {
    let server =
        TestServer::start(ServerOptions::default().env("KANCA_IP_BLOCK_THRESHOLD", "3")).await;
    server.create_channel("quiet").await;
    let hook = server
        .create_incoming_hook(json!({"channel": "quiet"}))
        .await;
    let good = hook["url"].as_str().unwrap().to_owned();
    // Guesses at a hook id that does not exist (all one can do without a hook's URL).
    let team_base = good.rsplitn(3, '/').nth(2).unwrap().to_owned();
    let fake = format!("{team_base}/BFAKEFAKE01/{}", "x".repeat(24));
    for _ in 0..5 {
        server
            .post_hook_json(&fake, &json!({"text": "guess"}))
            .await;
    }
    // X-Forwarded-For from an untrusted peer is ignored: the address is the connection's.
    let r = server
        .http()
        .post(&fake)
        .header("x-forwarded-for", "203.0.113.1")
        .json(&json!({"text": "spoofed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // The real hook still takes posts from the same address.
    server
        .post_hook_json(&good, &json!({"text": "still heard"}))
        .await
        .assert(200, "ok");
    let incidents = server.incidents().await;
    assert!(
        incidents.iter().all(|i| i["ip"] == "127.0.0.1"),
        "{incidents:?}"
    );
    assert!(incidents
        .iter()
        .any(|i| i["reason"].as_str().unwrap().contains("from this hook")));
}

// ---- 7. Incidents are aggregated, capped, kept for a while, and paged -----------------------

#[tokio::test]
async fn incidents_aggregate_repeats_keep_a_row_cap_and_page() {
    let server = TestServer::start(
        ServerOptions::default()
            .env("KANCA_TRUSTED_PROXIES", "127.0.0.1")
            .env("KANCA_IP_BLOCK_SCOPE", "off")
            .env("KANCA_INCIDENT_MAX_ROWS", "5"),
    )
    .await;
    server.create_channel("inc").await;
    let hook = server.create_incoming_hook(json!({"channel": "inc"})).await;
    let good = hook["url"].as_str().unwrap().to_owned();
    let (base, token) = good.rsplit_once('/').unwrap();
    let guess = format!("{base}/{}", "W".repeat(token.len()));
    let post_from = |ip: String| {
        let http = server.http().clone();
        let guess = guess.clone();
        async move {
            let r = http
                .post(guess)
                .header("x-forwarded-for", ip)
                .json(&json!({"text": "x"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 403);
        }
    };
    // 40 repeats from one address: one row.
    for _ in 0..40 {
        post_from("198.51.100.1".into()).await;
    }
    let incidents = server.incidents().await;
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    assert_eq!(incidents[0]["hits"], 40);
    assert!(incidents[0]["lastAt"].is_string());
    // 30 addresses: the table keeps the newest 5.
    for i in 0..30 {
        post_from(format!("198.51.100.{}", 100 + i)).await;
    }
    let all = server.list_all("/api/v1/security/incidents").await;
    assert_eq!(all.len(), 5, "{all:?}");
    assert_eq!(all[0]["ip"], "198.51.100.129", "newest first");
    // Paged like every list.
    let page = server.get("/api/v1/security/incidents?limit=2").await;
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert_eq!(page["done"], false);
    let next = server
        .get(&format!(
            "/api/v1/security/incidents?limit=2&iterator={}",
            page["iterator"].as_str().unwrap()
        ))
        .await;
    assert_eq!(next["data"][0]["ip"], "198.51.100.127");
    let (status, _) = server
        .call(Method::GET, "/api/v1/security/incidents?iterator=abc", None)
        .await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn incidents_older_than_the_retention_are_deleted() {
    let server = TestServer::start(
        ServerOptions::default()
            .env("KANCA_IP_BLOCK_SCOPE", "off")
            .env("KANCA_INCIDENT_RETENTION", "1ms")
            .env("KANCA_INCIDENT_MAX_ROWS", "10"),
    )
    .await;
    server.create_channel("old").await;
    let hook = server.create_incoming_hook(json!({"channel": "old"})).await;
    let good = hook["url"].as_str().unwrap().to_owned();
    let (base, token) = good.rsplit_once('/').unwrap();
    let guess = format!("{base}/{}", "V".repeat(token.len()));
    server.post_hook_json(&guess, &json!({"text": "a"})).await;
    settle().await;
    // An allow-list refusal is another reason: a row of its own, and its recording prunes.
    let locked = server
        .create_incoming_hook(json!({"channel": "old", "allowedIps": ["192.0.2.1"]}))
        .await;
    server
        .post_hook_json(locked["url"].as_str().unwrap(), &json!({"text": "b"}))
        .await;
    let incidents = server.incidents().await;
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    assert!(incidents[0]["reason"]
        .as_str()
        .unwrap()
        .contains("allow-list"));
}

// ---- 4. Slow and idle connections ------------------------------------------------------------

/// Reads until the server closes the connection (or `limit` passes); true if it closed.
async fn closed_by_server(tcp: &mut tokio::net::TcpStream, limit: std::time::Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn a_slowloris_connection_is_closed_after_the_header_read_timeout() {
    use tokio::io::AsyncWriteExt;
    let server = TestServer::start(
        ServerOptions::default()
            .env("KANCA_HEADER_READ_TIMEOUT", "1s")
            .env("KANCA_IDLE_TIMEOUT", "1h"),
    )
    .await;
    let addr = server.base_url().trim_start_matches("http://").to_owned();
    let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut read, mut write) = tcp.into_split();
    write
        .write_all(b"GET /api/v1/health HTTP/1.1\r\nHo")
        .await
        .unwrap();
    // Trickle one header byte now and then, as slowloris does; the server must hang up.
    let trickle = tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            if write.write_all(b"x").await.is_err() {
                return;
            }
        }
    });
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(WAIT, async {
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    trickle.abort();
    assert!(closed.is_ok(), "a slowloris connection was never closed");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    use tokio::io::AsyncWriteExt;
    let server = TestServer::start(
        ServerOptions::default()
            .env("KANCA_HEADER_READ_TIMEOUT", "1h")
            .env("KANCA_IDLE_TIMEOUT", "1s"),
    )
    .await;
    let addr = server.base_url().trim_start_matches("http://").to_owned();
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    tcp.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: k\r\n\r\n")
        .await
        .unwrap();
    // The answer comes, then nothing more is asked: the server closes the connection.
    assert!(
        closed_by_server(&mut tcp, WAIT).await,
        "an idle connection stayed open"
    );
    // A connection that never sends anything is idle too.
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    assert!(closed_by_server(&mut silent, WAIT).await);
    // A live stream is a request in flight, not idle: it outlives the idle timeout.
    let console = Console::sign_in(&server).await;
    let bin = server.create_bin(json!({})).await;
    let bin_id = bin_id_of(bin["url"].as_str().unwrap());
    let mut stream = console.stream(&format!("/bins/{bin_id}/live")).await;
    assert_eq!(stream.status(), 200);
    let http = server.http().clone();
    let url = bin["url"].as_str().unwrap().to_owned();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
        http.post(format!("{url}/late-path"))
            .body("late")
            .send()
            .await
            .unwrap();
    });
    let mut seen = String::new();
    while !seen.contains("late-path") {
        let chunk = tokio::time::timeout(WAIT, stream.chunk())
            .await
            .expect("the stream went quiet")
            .expect("the stream broke")
            .expect("the stream ended");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn a_half_sent_request_does_not_hold_up_sigterm() {
    use tokio::io::AsyncWriteExt;
    let mut server = TestServer::start(
        ServerOptions::default()
            .env("KANCA_HEADER_READ_TIMEOUT", "1h")
            .env("KANCA_IDLE_TIMEOUT", "1h"),
    )
    .await;
    let addr = server.base_url().trim_start_matches("http://").to_owned();
    let mut half = tokio::net::TcpStream::connect(&addr).await.unwrap();
    half.write_all(b"GET / HTTP/1.1\r\nHo").await.unwrap();
    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: k\r\n\r\n")
        .await
        .unwrap();
    settle().await;
    let status = server.terminate(WAIT).await;
    assert!(
        status.is_some_and(|s| s.success()),
        "the server did not exit cleanly on SIGTERM with a half-sent request open: {status:?}"
    );
    assert!(closed_by_server(&mut half, WAIT).await);
}

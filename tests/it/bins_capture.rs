//! Request bins: what a bin captures (every detail, any method, up to the body limit), what
//! it answers (custom status, headers, body, delay), its cap and time to live, managing bins
//! and captures, and bad input.

use crate::common::*;
use base64::Engine as _;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn a_capture_keeps_method_path_query_repeated_headers_binary_body_and_sender() {
    let kanca = TestServer::start_default().await;
    let bin = kanca.create_bin(json!({})).await;
    let (id, url) = (id_of(&bin), bin["url"].as_str().unwrap().to_owned());
    assert_eq!(url, format!("{}/b/{id}", kanca.base_url()));

    let binary: Vec<u8> = (0..=255u8).chain([0, 0xff, 0xfe]).collect();
    let answer = kanca
        .http()
        .put(format!("{url}/github/push?a=1&a=2&b=%20x"))
        .header("x-repeat", "one")
        .header("x-other", "o")
        .header("x-repeat", "two")
        .header("content-type", "application/octet-stream")
        .body(binary.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.text().await.unwrap(),
        "",
        "the default answer is an empty 200"
    );

    let requests = kanca.bin_requests(&id).await;
    assert_eq!(requests.len(), 1, "{requests:?}");
    let r = &requests[0];
    assert_eq!(r["method"], "PUT");
    assert_eq!(r["path"], "/github/push");
    assert_eq!(r["query"], "a=1&a=2&b=%20x");
    assert_eq!(
        r["bodyBase64"],
        b64(&binary),
        "binary bodies come back byte for byte"
    );
    assert!(
        r.get("body").is_none(),
        "a binary body is not shown as text: {r}"
    );
    assert_eq!(r["size"], binary.len());
    assert!(
        r["remoteAddr"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{r}"
    );
    assert!(r["receivedAt"].is_string());
    let headers: Vec<(String, String)> = serde_json::from_value(r["headers"].clone()).unwrap();
    let repeated: Vec<&str> = headers
        .iter()
        .filter(|(n, _)| n == "x-repeat")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(
        repeated,
        ["one", "two"],
        "repeated headers are all kept, in order"
    );
    assert!(headers.contains(&("x-other".into(), "o".into())));

    // One request by id reads the same.
    let one = kanca
        .get(&format!(
            "/api/v1/bin/{id}/request/{}",
            r["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(&one, r);
}

#[tokio::test]
async fn any_method_and_the_bin_root_are_captured_and_text_bodies_show_as_text() {
    let kanca = TestServer::start_default().await;
    let bin = kanca.create_bin(json!({})).await;
    let (id, url) = (id_of(&bin), bin["url"].as_str().unwrap().to_owned());
    let methods = [
        "GET", "POST", "DELETE", "PATCH", "OPTIONS", "HEAD", "PROPFIND", "PURGE",
    ];
    for m in methods {
        let answer = kanca
            .http()
            .request(Method::from_bytes(m.as_bytes()).unwrap(), &url)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{m}");
    }
    let text = "{\"hello\":\"wörld\"}\n";
    kanca
        .http()
        .post(format!("{url}/x"))
        .body(text)
        .send()
        .await
        .unwrap();
    let requests = kanca.bin_requests(&id).await;
    let seen: Vec<&str> = requests
        .iter()
        .rev()
        .map(|r| r["method"].as_str().unwrap())
        .collect();
    assert_eq!(seen[..methods.len()], methods);
    assert_eq!(requests[1]["path"], "/");
    assert_eq!(requests[1]["query"], "");
    assert_eq!(requests[0]["body"], text);
    assert!(requests[0].get("bodyBase64").is_none());
    // Ids count up in arrival order; the list is newest first.
    let ids: Vec<&str> = requests.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(ids, sorted);
}

#[tokio::test]
async fn bodies_at_the_limit_are_captured_and_over_it_get_413() {
    let kanca =
        TestServer::start(ServerOptions::default().env("KANCA_MAX_BODY_BYTES", "1024")).await;
    let bin = kanca.create_bin(json!({})).await;
    let (id, url) = (id_of(&bin), bin["url"].as_str().unwrap().to_owned());

    let at = kanca
        .http()
        .post(&url)
        .body(vec![b'a'; 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(at.status(), 200);

    let over = kanca
        .http()
        .post(&url)
        .body(vec![b'b'; 1025])
        .send()
        .await
        .unwrap();
    expect_error(
        over,
        413,
        "payload_too_large",
        "a declared body over the limit",
    )
    .await;

    // Without a length (chunked), the body is cut off as it streams in.
    let chunks = futures::stream::iter(
        (0..4).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'c'; 512]))),
    );
    let chunked = kanca
        .http()
        .post(&url)
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    expect_error(
        chunked,
        413,
        "payload_too_large",
        "a chunked body over the limit",
    )
    .await;

    let requests = kanca.bin_requests(&id).await;
    assert_eq!(requests.len(), 1, "only the body at the limit is stored");
    assert_eq!(requests[0]["size"], 1024);
}

#[tokio::test]
async fn a_custom_response_is_sent_after_its_delay_and_the_capture_is_stored_first() {
    let kanca = TestServer::start_default().await;
    let bin = kanca
        .create_bin(json!({
            "response": {
                "status": 202,
                "headers": [["x-kind", "a"], ["x-kind", "b"], ["content-type", "text/plain"]],
                "body": "accepted, thanks",
                "delayMs": 2000
            }
        }))
        .await;
    let (id, url) = (id_of(&bin), bin["url"].as_str().unwrap().to_owned());
    assert_eq!(bin["response"]["delayMs"], 2000);

    let http = kanca.http().clone();
    let started = Instant::now();
    let sent = tokio::spawn(async move { http.post(url).body("x").send().await.unwrap() });
    // The capture is visible while the bin is still holding its answer back.
    eventually("the capture before the delayed answer", || async {
        match kanca.bin_requests(&id).await.len() {
            1 => Ok(()),
            n => Err(format!("{n} captures")),
        }
    })
    .await;
    assert!(
        !sent.is_finished(),
        "the answer came before the delay was over"
    );
    let answer = sent.await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(2000));
    assert_eq!(answer.status(), 202);
    let kinds: Vec<&str> = answer
        .headers()
        .get_all("x-kind")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(kinds, ["a", "b"]);
    assert_eq!(answer.headers()["content-type"], "text/plain");
    assert_eq!(answer.text().await.unwrap(), "accepted, thanks");
}

#[tokio::test]
async fn over_the_cap_the_oldest_requests_go() {
    let kanca = TestServer::start_default().await;
    let bin = kanca.create_bin(bin_with_cap(3)).await;
    let (id, url) = (id_of(&bin), bin["url"].as_str().unwrap().to_owned());
    for i in 1..=5 {
        kanca
            .http()
            .post(format!("{url}/{i}"))
            .send()
            .await
            .unwrap();
    }
    let paths: Vec<String> = kanca
        .bin_requests(&id)
        .await
        .iter()
        .map(|r| r["path"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(paths, ["/5", "/4", "/3"]);

    // Lowering the cap trims on the next capture.
    kanca
        .call_ok(
            Method::PATCH,
            &format!("/api/v1/bin/{id}"),
            Some(&bin_with_cap(1)),
        )
        .await;
    kanca.http().post(format!("{url}/6")).send().await.unwrap();
    let requests = kanca.bin_requests(&id).await;
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0]["path"], "/6");
}

#[tokio::test]
async fn after_its_time_to_live_a_bin_answers_410_and_keeps_what_it_caught() {
    let kanca = TestServer::start_default().await;
    let bin = kanca.create_bin(json!({ "ttlSeconds": 1 })).await;
    let (id, url) = (id_of(&bin), bin["url"].as_str().unwrap().to_owned());
    assert_eq!(bin["expired"], false);
    let first = kanca.http().post(&url).body("early").send().await.unwrap();
    assert_eq!(first.status(), 200);

    // A time to live is measured in seconds; this wait is the only way past one.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let late = kanca.http().post(&url).body("late").send().await.unwrap();
    let error = expect_error(late, 410, "bin_expired", "a request to an expired bin").await;
    assert!(error["detail"].as_str().unwrap().contains("expired"));

    let shown = kanca.get(&format!("/api/v1/bin/{id}")).await;
    assert_eq!(shown["expired"], true);
    let requests = kanca.bin_requests(&id).await;
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0]["body"], "early");

    // A new time to live brings it back.
    kanca
        .call_ok(
            Method::PATCH,
            &format!("/api/v1/bin/{id}"),
            Some(&json!({ "ttlSeconds": 60 })),
        )
        .await;
    let again = kanca.http().post(&url).send().await.unwrap();
    assert_eq!(again.status(), 200);
}

#[tokio::test]
async fn bins_are_listed_updated_and_deleted_with_their_captures() {
    let kanca = TestServer::start_default().await;
    let a = kanca.create_bin(json!({ "name": "github" })).await;
    let b = kanca.create_bin(json!({})).await;
    // An empty body is all defaults.
    let (status, c) = kanca.call(Method::POST, "/api/v1/bin", None).await;
    assert_eq!(status, 201, "{c}");
    assert_eq!(c["maxRequests"], 100);
    assert_eq!(c["response"]["status"], 200);

    let listed = kanca.list_all("/api/v1/bin").await;
    let ids: Vec<String> = listed.iter().map(id_of).collect();
    // Ids are time-ordered to 1/256 s, so bins made within one tick may list either way.
    let mut expected = vec![id_of(&a), id_of(&b), id_of(&c)];
    expected.sort_unstable_by(|x, y| y.cmp(x));
    assert_eq!(ids, expected, "by id, newest first");

    let (a_id, a_url) = (id_of(&a), a["url"].as_str().unwrap().to_owned());
    let patched = kanca
        .call_ok(
            Method::PATCH,
            &format!("/api/v1/bin/{a_id}"),
            Some(&json!({ "response": { "status": 418, "body": "teapot" } })),
        )
        .await;
    assert_eq!(
        patched["name"], "github",
        "PATCH keeps what it is not given"
    );
    assert_eq!(patched["response"]["status"], 418);
    let teapot = kanca.http().get(&a_url).send().await.unwrap();
    assert_eq!(teapot.status(), 418);
    assert_eq!(teapot.text().await.unwrap(), "teapot");

    let replaced = kanca
        .call_ok(
            Method::PUT,
            &format!("/api/v1/bin/{a_id}"),
            Some(&json!({ "maxRequests": 7 })),
        )
        .await;
    assert_eq!(replaced["name"], Value::Null, "PUT replaces every setting");
    assert_eq!(replaced["response"]["status"], 200);
    assert_eq!(replaced["maxRequests"], 7);

    // Delete one capture, then all.
    for _ in 0..3 {
        kanca.http().post(&a_url).send().await.unwrap();
    }
    let requests = kanca.bin_requests(&a_id).await;
    let one = requests[1]["id"].as_str().unwrap();
    let path = format!("/api/v1/bin/{a_id}/request/{one}");
    let (status, _) = kanca.call(Method::DELETE, &path, None).await;
    assert_eq!(status, 204);
    let (status, _) = kanca.call(Method::GET, &path, None).await;
    assert_eq!(status, 404);
    assert_eq!(kanca.bin_requests(&a_id).await.len(), 3);
    let (status, _) = kanca
        .call(Method::DELETE, &format!("/api/v1/bin/{a_id}/request"), None)
        .await;
    assert_eq!(status, 204);
    assert!(kanca.bin_requests(&a_id).await.is_empty());

    let (status, _) = kanca
        .call(Method::DELETE, &format!("/api/v1/bin/{a_id}"), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = kanca
        .call(Method::GET, &format!("/api/v1/bin/{a_id}"), None)
        .await;
    assert_eq!(status, 404);
    let gone = kanca.http().post(&a_url).send().await.unwrap();
    expect_error(gone, 404, "not_found", "a request to a deleted bin").await;
}

#[tokio::test]
async fn captures_are_filtered_by_method_path_and_text_and_paged() {
    let kanca = TestServer::start_default().await;
    let bin = kanca.create_bin(json!({})).await;
    let (id, url) = (id_of(&bin), bin["url"].as_str().unwrap().to_owned());
    let sends = [
        ("POST", "/github/push", "has the needle"),
        ("POST", "/stripe", "nothing"),
        ("GET", "/github/ping", ""),
        ("PUT", "/github/push", "no"),
    ];
    for (m, p, body) in sends {
        kanca
            .http()
            .request(
                Method::from_bytes(m.as_bytes()).unwrap(),
                format!("{url}{p}"),
            )
            .body(body)
            .send()
            .await
            .unwrap();
    }
    let paths = |rows: Vec<Value>| -> Vec<String> {
        rows.iter()
            .map(|r| {
                format!(
                    "{} {}",
                    r["method"].as_str().unwrap(),
                    r["path"].as_str().unwrap()
                )
            })
            .collect()
    };
    let base = format!("/api/v1/bin/{id}/request");
    assert_eq!(
        paths(kanca.list_all(&format!("{base}?method=post")).await),
        ["POST /stripe", "POST /github/push"]
    );
    assert_eq!(
        paths(kanca.list_all(&format!("{base}?path=/github")).await),
        ["PUT /github/push", "GET /github/ping", "POST /github/push"]
    );
    assert_eq!(
        paths(kanca.list_all(&format!("{base}?q=needle")).await),
        ["POST /github/push"]
    );
    let first = kanca.get(&format!("{base}?limit=3")).await;
    assert_eq!(first["data"].as_array().unwrap().len(), 3);
    assert_eq!(first["done"], false);
    let it = first["iterator"].as_str().unwrap();
    let second = kanca.get(&format!("{base}?limit=3&iterator={it}")).await;
    assert_eq!(
        paths(second["data"].as_array().unwrap().clone()),
        ["POST /github/push"]
    );
    assert_eq!(second["done"], true);
}

#[tokio::test]
async fn bad_input_gets_clear_errors() {
    let kanca =
        TestServer::start(ServerOptions::default().env("KANCA_MAX_BODY_BYTES", "4096")).await;
    let bad_bodies = [
        ("{not json", 400, "invalid_json"),
        ("{\"maxRequests\": \"many\"}", 422, "validation"),
        ("{\"maxRequests\": 0}", 422, "validation"),
        ("{\"maxRequests\": 10001}", 422, "validation"),
        ("{\"ttlSeconds\": 0}", 422, "validation"),
        ("{\"response\": {\"delayMs\": 30001}}", 422, "validation"),
        ("{\"response\": {\"status\": 99}}", 422, "validation"),
        (
            "{\"response\": {\"headers\": [[\"bad name\", \"v\"]]}}",
            422,
            "validation",
        ),
        (
            "{\"response\": {\"headers\": {\"content-length\": \"1\"}}}",
            422,
            "validation",
        ),
        ("{\"colour\": \"red\"}", 422, "validation"),
    ];
    for (body, status, code) in bad_bodies {
        let response = kanca
            .request(Method::POST, "/api/v1/bin")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        expect_error(response, status, code, body).await;
    }
    let huge = kanca
        .request(Method::POST, "/api/v1/bin")
        .body(format!("{{\"name\": \"{}\"}}", "n".repeat(5000)))
        .send()
        .await
        .unwrap();
    expect_error(huge, 413, "payload_too_large", "a bin body over the limit").await;

    let no_token = kanca
        .http()
        .post(kanca.url("/api/v1/bin"))
        .send()
        .await
        .unwrap();
    expect_error(no_token, 401, "authentication_failed", "no token").await;

    let bin = kanca.create_bin(json!({})).await;
    let id = id_of(&bin);
    kanca
        .http()
        .post(bin["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let req_id = kanca.bin_requests(&id).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for path in [
        "/api/v1/bin/bin_2nQ8oRzXoKcXr0hqBnBY3YmJ9zL".to_owned(),
        "/api/v1/bin/not-a-bin".to_owned(),
        format!("/api/v1/bin/{id}/request/req_000000000999"),
        format!("/api/v1/bin/{id}/request/whatever"),
    ] {
        let response = kanca.request(Method::GET, &path).send().await.unwrap();
        expect_error(response, 404, "not_found", &path).await;
    }
    let unknown = kanca
        .http()
        .post(kanca.url("/b/bin_2nQ8oRzXoKcXr0hqBnBY3YmJ9zL"))
        .send()
        .await
        .unwrap();
    expect_error(unknown, 404, "not_found", "capture into an unknown bin").await;
    let bad_filter = kanca
        .request(Method::GET, &format!("/api/v1/bin/{id}/request?limit=0"))
        .send()
        .await
        .unwrap();
    expect_error(bad_filter, 422, "validation", "limit=0").await;
    let bad_cursor = kanca
        .request(Method::GET, &format!("/api/v1/bin/{id}/stream"))
        .header("last-event-id", "yesterday")
        .send()
        .await
        .unwrap();
    expect_error(bad_cursor, 422, "validation", "a bad Last-Event-ID").await;

    let replay = format!("/api/v1/bin/{id}/request/{req_id}/replay");
    for (body, status, code) in [
        (json!({ "url": "not a url" }), 422, "validation"),
        (json!({ "url": "ftp://example.com/" }), 422, "validation"),
        (json!({}), 422, "validation"),
    ] {
        let response = kanca
            .request(Method::POST, &replay)
            .json(&body)
            .send()
            .await
            .unwrap();
        expect_error(response, status, code, &body.to_string()).await;
    }
}

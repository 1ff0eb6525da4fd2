//! Request bins beyond capture: replaying a request through the SSRF guard, exporting it as a
//! curl command (run for real) and a bin as JSON, the live stream and its resume, and an event
//! Kanca itself delivers into one of its own bins with the SSRF guard on.

use crate::common::*;
use base64::Engine as _;
use reqwest::Method;
use serde_json::{json, Value};

async fn send(kanca: &TestServer, url: &str, path: &str, body: &str) {
    let answer = kanca
        .http()
        .post(format!("{url}{path}"))
        .header("x-test", "yes")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
}

#[tokio::test]
async fn a_replay_sends_the_captured_request_and_shows_the_answer() {
    let kanca = TestServer::start_default().await;
    let receiver = Receiver::start().await;
    receiver.set_default(Reply::WithHeaders(
        201,
        vec![("x-answer".into(), "42".into())],
    ));
    let bin = kanca.create_bin(json!({})).await;
    let (id, url) = (id_of(&bin), bin["url"].as_str().unwrap().to_owned());
    kanca
        .http()
        .patch(format!("{url}/orders?x=1"))
        .header("x-signature", "abc")
        .body("{\"order\":7}")
        .send()
        .await
        .unwrap();
    let req_id = kanca.bin_requests(&id).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let target = format!("{}replayed", receiver.url());
    let result = kanca
        .post(
            &format!("/api/v1/bin/{id}/request/{req_id}/replay"),
            &json!({ "url": target }),
        )
        .await;
    assert_eq!(result["status"], 201, "{result}");
    assert!(result["durationMs"].is_u64());
    let headers: Vec<(String, String)> = serde_json::from_value(result["headers"].clone()).unwrap();
    assert!(
        headers.contains(&("x-answer".into(), "42".into())),
        "{headers:?}"
    );

    let got = receiver.wait_for(1, WAIT).await;
    assert_eq!(got[0].method, Method::PATCH);
    assert_eq!(got[0].path, "/replayed", "sent to exactly the URL given");
    assert_eq!(got[0].header("x-signature"), Some("abc"));
    assert_eq!(&got[0].body[..], b"{\"order\":7}");
}

#[tokio::test]
async fn replays_go_through_the_ssrf_guard_but_reach_this_servers_own_bins() {
    let kanca = TestServer::start(ServerOptions::default().with_ssrf_guard()).await;
    let receiver = Receiver::start().await;
    let bin = kanca.create_bin(json!({})).await;
    let (id, url) = (id_of(&bin), bin["url"].as_str().unwrap().to_owned());
    send(&kanca, &url, "/first", "payload").await;
    let req_id = kanca.bin_requests(&id).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let replay = format!("/api/v1/bin/{id}/request/{req_id}/replay");

    // A private IP literal is refused outright.
    let literal = kanca
        .request(Method::POST, &replay)
        .json(&json!({ "url": receiver.url() }))
        .send()
        .await
        .unwrap();
    expect_error(literal, 422, "validation", "replay to 127.0.0.1").await;
    // A name that resolves to loopback is refused when connecting.
    let by_name = kanca
        .post(
            &replay,
            &json!({ "url": format!("http://localhost:{}/", receiver.port()) }),
        )
        .await;
    assert_eq!(by_name["status"], Value::Null, "{by_name}");
    assert!(
        by_name["error"].as_str().unwrap().contains("SSRF"),
        "{by_name}"
    );
    assert!(receiver.requests().is_empty());

    // This server's own bin is reachable, guard or not.
    let other = kanca.create_bin(json!({})).await;
    let into_bin = kanca
        .post(
            &replay,
            &json!({ "url": format!("{}/again?k=v", other["url"].as_str().unwrap()) }),
        )
        .await;
    assert_eq!(into_bin["status"], 200, "{into_bin}");
    let copied = kanca.bin_requests(&id_of(&other)).await;
    assert_eq!(copied.len(), 1);
    assert_eq!(copied[0]["path"], "/again");
    assert_eq!(copied[0]["query"], "k=v");
    assert_eq!(copied[0]["body"], "payload");
}

#[tokio::test]
async fn the_curl_export_reproduces_the_request_byte_for_byte_and_the_json_export_holds_all() {
    let kanca = TestServer::start_default().await;
    let bin = kanca.create_bin(json!({})).await;
    let (id, url) = (id_of(&bin), bin["url"].as_str().unwrap().to_owned());
    let binary: Vec<u8> = vec![0, 1, 2, 0xff, b'\'', b'"', b'\n', 0x80];
    kanca
        .http()
        .put(format!("{url}/it's?q=a%20b"))
        .header("x-quote", "it's \"quoted\"")
        .body(binary.clone())
        .send()
        .await
        .unwrap();
    send(&kanca, &url, "/text", "plain 'text'").await;
    let requests = kanca.bin_requests(&id).await;
    assert_eq!(requests.len(), 2);
    let binary_id = requests[1]["id"].as_str().unwrap();

    let (status, command) = kanca
        .call(
            Method::GET,
            &format!("/api/v1/bin/{id}/request/{binary_id}/curl"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let command = command.as_str().unwrap().to_owned();
    assert!(command.contains("curl -X 'PUT'"), "{command}");

    // Run it, against the same bin: the new capture must equal the old one.
    let ran = std::process::Command::new("sh")
        .args(["-c", &format!("{} -s -o /dev/null", command.trim())])
        .status()
        .expect("running sh");
    assert!(ran.success(), "{command}");
    let requests = kanca.bin_requests(&id).await;
    assert_eq!(requests.len(), 3);
    let (again, original) = (&requests[0], &requests[2]);
    for field in ["method", "path", "query", "bodyBase64", "size"] {
        assert_eq!(again[field], original[field], "{field}");
    }
    assert_eq!(
        again["bodyBase64"],
        base64::engine::general_purpose::STANDARD.encode(&binary)
    );
    let quoted = |r: &Value| {
        r["headers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h[0] == "x-quote")
            .cloned()
    };
    assert_eq!(quoted(again), quoted(original));

    // The JSON export: every request, oldest first, as the API shows them.
    let response = kanca
        .request(Method::GET, &format!("/api/v1/bin/{id}/export"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("attachment"));
    let exported: Vec<Value> = response.json().await.unwrap();
    let mut newest_first = exported.clone();
    newest_first.reverse();
    assert_eq!(newest_first, requests);

    // An empty bin exports an empty array.
    let empty = kanca.create_bin(json!({})).await;
    let response = kanca
        .request(
            Method::GET,
            &format!("/api/v1/bin/{}/export", id_of(&empty)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.json::<Vec<Value>>().await.unwrap(),
        Vec::<Value>::new()
    );
}

#[tokio::test]
async fn the_live_stream_sends_each_capture_and_resumes_after_last_event_id() {
    let kanca = TestServer::start_default().await;
    let bin = kanca.create_bin(json!({})).await;
    let (id, url) = (id_of(&bin), bin["url"].as_str().unwrap().to_owned());

    let mut live = BinStream::open(&kanca, &id, None).await;
    for i in 1..=3 {
        send(&kanca, &url, &format!("/{i}"), "x").await;
    }
    let events = live.next(3).await;
    let paths: Vec<&str> = events
        .iter()
        .map(|e| e.data["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["/1", "/2", "/3"]);
    assert!(events.iter().all(|e| e.event == "request"));
    assert!(events.iter().all(|e| e.id == e.data["id"]));
    drop(live);

    // Reconnect after the second: the third comes again, then what arrives next.
    let mut resumed = BinStream::open(&kanca, &id, Some(&events[1].id)).await;
    send(&kanca, &url, "/4", "x").await;
    let more = resumed.next(2).await;
    let paths: Vec<&str> = more
        .iter()
        .map(|e| e.data["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["/3", "/4"]);

    // `?lastEventId=` works for a first connection too.
    let response = kanca
        .request(
            Method::GET,
            &format!("/api/v1/bin/{id}/stream?lastEventId={}", more[1].id),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (status, _) = kanca
        .call(
            Method::GET,
            "/api/v1/bin/bin_2nQ8oRzXoKcXr0hqBnBY3YmJ9zL/stream",
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn an_event_kanca_delivers_into_its_own_bin_arrives_with_the_guard_on() {
    let kanca = TestServer::start(ServerOptions::default().with_ssrf_guard()).await;
    let bin = kanca.create_bin(json!({})).await;
    let (id, url) = (id_of(&bin), bin["url"].as_str().unwrap().to_owned());
    let app = kanca.create_app("bin demo").await;
    let endpoint = kanca
        .create_endpoint(&app, json!({ "url": format!("{url}/webhooks") }))
        .await;
    let payload = json!({ "type": "user.created", "id": 7 });
    let msg_id = kanca
        .publish(
            &app,
            json!({ "eventType": "user.created", "payload": payload }),
        )
        .await;

    let captured = eventually("the delivery in the bin", || async {
        match kanca.bin_requests(&id).await.pop() {
            Some(r) => Ok(r),
            None => Err("nothing captured yet".to_owned()),
        }
    })
    .await;
    assert_eq!(captured["method"], "POST");
    assert_eq!(captured["path"], "/webhooks");
    let body: Value = serde_json::from_str(captured["body"].as_str().unwrap()).unwrap();
    assert_eq!(body, payload);
    let header = |name: &str| {
        captured["headers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h[0] == name)
            .and_then(|h| h[1].as_str())
            .map(str::to_owned)
    };
    assert_eq!(header("webhook-id").as_deref(), Some(msg_id.as_str()));
    assert!(header("webhook-signature").unwrap().starts_with("v1,"));
    let outcome = kanca.wait_for_outcome(&app, &msg_id, &endpoint).await;
    assert_eq!(outcome["status"], STATUS_SUCCESS, "{outcome}");

    // The guard is still closed for everything else on loopback.
    let receiver = Receiver::start().await;
    let refused = kanca
        .request(Method::POST, &format!("/api/v1/app/{app}/endpoint"))
        .json(&json!({ "url": receiver.url() }))
        .send()
        .await
        .unwrap();
    expect_error(refused, 422, "validation", "an endpoint on loopback").await;
}

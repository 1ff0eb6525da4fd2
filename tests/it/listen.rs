//! `kanca listen`, the real binary, against a real server and a real local app: it forwards
//! every request a bin captures, in order and exactly once, while the local app starts late
//! and the server is killed and restarted in the middle; it reuses a bin; it stops cleanly on
//! SIGTERM and Ctrl-C.

use crate::common::*;
use serde_json::json;

/// Sends one request to the bin and checks the bin took it.
async fn send(kanca: &TestServer, bin_url: &str, i: usize) {
    let answer = kanca
        .http()
        .post(format!("{bin_url}/hooks/{i}?n={i}"))
        .header("x-seq", i.to_string())
        .header("connection", "keep-alive")
        .body(format!("{{\"n\":{i}}}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("sending request {i} to the bin: {e}"));
    assert_eq!(answer.status(), 200, "request {i}");
}

#[tokio::test]
async fn listen_forwards_every_request_across_a_late_local_app_and_a_server_restart() {
    let mut kanca = TestServer::start(pinned_port(ServerOptions::default())).await;
    let app_port = free_port();
    let forward_to = format!("http://127.0.0.1:{app_port}/local");
    let mut listen = ListenProcess::start(&kanca, &forward_to, &[]).await;
    assert!(listen
        .bin_url
        .starts_with(&format!("{}/b/bin_", kanca.base_url())));
    let bin_url = listen.bin_url.clone();

    // The local app is not up yet: the first request is retried, the others wait behind it.
    for i in 1..=3 {
        send(&kanca, &bin_url, i).await;
    }
    eventually(
        "kanca listen to retry the unreachable local app",
        || async {
            let output = listen.output();
            if output.contains("unreachable") {
                Ok(())
            } else {
                Err(output)
            }
        },
    )
    .await;
    // The server dies while requests 2 and 3 are captured but not forwarded.
    kanca.restart().await;
    assert!(
        bin_url.starts_with(kanca.base_url()),
        "the pinned port keeps the bin URL"
    );
    for i in 4..=6 {
        send(&kanca, &bin_url, i).await;
    }
    let app = LocalApp::start_on(app_port).await;
    app.wait_for(6).await;

    // And once more with the local app up, requests on both sides of the restart.
    for i in 7..=9 {
        send(&kanca, &bin_url, i).await;
    }
    kanca.restart().await;
    for i in 10..=12 {
        send(&kanca, &bin_url, i).await;
    }

    let got = app.wait_for(12).await;
    // Give a duplicate the time to show up, if one were coming.
    settle().await;
    let got_now = app.requests();
    assert_eq!(got_now.len(), 12, "each request exactly once: {got_now:#?}");
    for (i, r) in got.iter().enumerate() {
        let n = i + 1;
        assert_eq!(r.method, "POST");
        assert_eq!(r.uri, format!("/local/hooks/{n}?n={n}"), "in order");
        assert_eq!(r.body, format!("{{\"n\":{n}}}").into_bytes());
        let header = |name: &str| {
            r.headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(header("x-seq"), Some(n.to_string()));
        assert_eq!(
            header("host"),
            Some(format!("127.0.0.1:{app_port}")),
            "the captured host is not forwarded"
        );
    }
    let output = listen.output();
    assert!(output.contains("POST /hooks/12?n=12 → 200"), "{output}");

    let status = listen.signal("TERM").await;
    assert!(status.success(), "SIGTERM is a clean exit: {status:?}");
    assert!(listen.output().contains("Stopped."));
}

#[tokio::test]
async fn listen_reuses_a_bin_without_replaying_what_it_caught_before() {
    let kanca = TestServer::start_default().await;
    let bin = kanca.create_bin(json!({ "name": "mine" })).await;
    let (id, url) = (id_of(&bin), bin["url"].as_str().unwrap().to_owned());
    send(&kanca, &url, 1).await;

    let port = free_port();
    let app = LocalApp::start_on(port).await;
    let mut listen =
        ListenProcess::start(&kanca, &format!("http://127.0.0.1:{port}"), &["--bin", &id]).await;
    assert_eq!(listen.bin_url, url);
    send(&kanca, &url, 2).await;
    let got = app.wait_for(1).await;
    assert_eq!(got[0].uri, "/hooks/2?n=2");
    settle().await;
    assert_eq!(
        app.requests().len(),
        1,
        "the request from before is not forwarded"
    );
    let status = listen.signal("INT").await;
    assert!(
        status.success(),
        "Ctrl-C (SIGINT) is a clean exit: {status:?}"
    );
}

#[tokio::test]
async fn listen_with_a_wrong_token_or_bin_says_why_and_fails() {
    let kanca = TestServer::start_default().await;
    for args in [
        vec!["--token", "wrong"],
        vec!["--bin", "bin_2nQ8oRzXoKcXr0hqBnBY3YmJ9zL"],
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_kanca"))
            .args(["listen", "--forward-to", "http://127.0.0.1:9/", "--server"])
            .arg(kanca.base_url())
            .env("KANCA_ADMIN_TOKEN", kanca.token())
            .args(&args)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("error:"), "{args:?}: {stderr}");
        assert!(
            !stderr.contains(kanca.token()),
            "the token is never printed"
        );
    }
}

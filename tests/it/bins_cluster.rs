//! Request bins on several nodes sharing PostgreSQL: a live stream on one node hears what
//! another node captures, and captures racing on both nodes reach the stream all, once, in
//! the order of their ids.
//!
//! They run in the PostgreSQL run (`KANCA_TEST_BACKEND=postgres`) and skip on SQLite.

use crate::common::{id_of, runs_on, Backend, BinStream, ServerOptions, TestDatabase, TestServer};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_on_one_node_sees_every_capture_made_on_any_node_in_id_order() {
    if !runs_on(Backend::Postgres, "several nodes share one database") {
        return;
    }
    let db = TestDatabase::create_on_postgres().await;
    let token = format!("cluster-{}", rand::random::<u64>());
    let options = || {
        ServerOptions::default()
            .token(&token)
            .env("KANCA_DATABASE_URL", &db.url)
    };
    let a = TestServer::start(options()).await;
    let b = TestServer::start(options()).await;
    let bin = a.create_bin(json!({ "maxRequests": 1000 })).await;
    let id = id_of(&bin);
    let mut live = BinStream::open(&a, &id, None).await;

    const EACH: usize = 40;
    let mut senders = Vec::new();
    for node in [a.base_url().to_owned(), b.base_url().to_owned()] {
        for k in 0..4 {
            let (node, id) = (node.clone(), id.clone());
            senders.push(tokio::spawn(async move {
                let http = reqwest::Client::new();
                for i in 0..EACH / 4 {
                    let answer = http
                        .post(format!("{node}/b/{id}/{k}/{i}"))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(answer.status(), 200);
                }
            }));
        }
    }
    for s in senders {
        s.await.unwrap();
    }
    let events = live.next(2 * EACH).await;
    let ids: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
    let expected: Vec<String> = (1..=2 * EACH).map(|n| format!("req_{n:012}")).collect();
    assert_eq!(
        ids, expected,
        "every capture once, in id order, none skipped"
    );
    assert_eq!(b.bin_requests(&id).await.len(), 2 * EACH);
}

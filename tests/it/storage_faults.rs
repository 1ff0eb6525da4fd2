//! Storage faults: a full disk and a database outage are answered 503 with `Retry-After`,
//! never 202; nothing refused is ever delivered; everything acknowledged is kept, delivered
//! and still there after a restart; and the server recovers by itself once storage does.
//!
//! Three ways to run out of storage, as operations meet them:
//! - SQLite's `max_page_count` (`KANCA_SQLITE_MAX_SIZE`), which yields the same `SQLITE_FULL`
//!   as a full disk, then room made again by deleting an application;
//! - a real 16 MiB filesystem (tmpfs, where the test may mount one: CI runs as root) filled up,
//!   then room made again by removing a ballast file;
//! - PostgreSQL refusing connections for a while.

use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What one publish got.
struct Publish {
    n: usize,
    status: u16,
    msg_id: Option<String>,
}

async fn publish_n(server: &TestServer, app: &str, n: usize, filler: &str) -> Publish {
    let response = server
        .request(Method::POST, &format!("/api/v1/app/{app}/msg"))
        .json(&json!({"eventType": "order.created", "payload": {"n": n, "filler": filler}}))
        .send()
        .await
        .expect("the server answers every publish");
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").cloned();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    match status {
        202 => Publish {
            n,
            status,
            msg_id: Some(body["id"].as_str().expect("a message id").to_owned()),
        },
        503 => {
            assert_eq!(body["code"], "storage_unavailable", "{body}");
            assert!(retry_after.is_some(), "a 503 says when to retry");
            Publish {
                n,
                status,
                msg_id: None,
            }
        }
        other => panic!("publish {n}: expected 202 or 503, got {other}: {body}"),
    }
}

/// Publishes `count` messages, `parallel` at a time, numbered from `first`.
async fn publish_many(
    server: &TestServer,
    app: &str,
    first: usize,
    count: usize,
    parallel: usize,
    filler: &str,
) -> Vec<Publish> {
    let mut out = Vec::new();
    let mut n = first;
    while n < first + count {
        let wave =
            (n..(n + parallel).min(first + count)).map(|i| publish_n(server, app, i, filler));
        out.extend(futures::future::join_all(wave).await);
        n += parallel;
    }
    out
}

async fn health_status(server: &TestServer) -> u16 {
    server
        .http()
        .get(server.url("/api/v1/health"))
        .send()
        .await
        .expect("health answers")
        .status()
        .as_u16()
}

/// The invariant: every acknowledged message reads back and is delivered; no refused one is
/// ever delivered.
async fn check_nothing_lost(
    server: &TestServer,
    receiver: &Receiver,
    app: &str,
    publishes: &[Publish],
) {
    let acked: Vec<&Publish> = publishes.iter().filter(|p| p.status == 202).collect();
    let refused: BTreeSet<usize> = publishes
        .iter()
        .filter(|p| p.status != 202)
        .map(|p| p.n)
        .collect();
    for p in &acked {
        let id = p.msg_id.as_deref().unwrap();
        let (status, body) = server
            .call(Method::GET, &format!("/api/v1/app/{app}/msg/{id}"), None)
            .await;
        assert_eq!(
            status, 200,
            "acknowledged message {id} (n={}) reads back: {body}",
            p.n
        );
        assert_eq!(body["payload"]["n"], p.n, "{body}");
    }
    let wanted: BTreeSet<usize> = acked.iter().map(|p| p.n).collect();
    receiver
        .wait_until(
            "every acknowledged message delivered",
            Duration::from_secs(60),
            |requests| {
                let got: BTreeSet<usize> = requests
                    .iter()
                    .filter_map(|r| r.json()["n"].as_u64().map(|n| n as usize))
                    .collect();
                wanted.is_subset(&got)
            },
        )
        .await;
    for r in receiver.requests() {
        let n = r.json()["n"].as_u64().unwrap() as usize;
        assert!(
            !refused.contains(&n),
            "message n={n} was refused (503) yet delivered"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_database_is_answered_503_and_writes_resume_when_room_returns() {
    if !runs_on(Backend::Sqlite, "it fills SQLite's size cap") {
        return;
    }
    let mut server = TestServer::start(
        ServerOptions::default()
            .env("KANCA_SQLITE_MAX_SIZE", "1536KiB")
            .env("KANCA_SQLITE_WAL_LIMIT", "1MiB"),
    )
    .await;
    let receiver = Receiver::start().await;
    let main = server.create_app("Main").await;
    server
        .create_endpoint(&main, json!({ "url": receiver.url() }))
        .await;
    let ballast = server.create_app("Ballast").await;

    // Ballast (no endpoints) until it is refused, then real messages until they are too.
    let big = "b".repeat(30_000);
    let mut refused_ballast = 0;
    for round in 0..200 {
        let b = publish_n(&server, &ballast, 1_000_000 + round, &big).await;
        refused_ballast += usize::from(b.status == 503);
        if refused_ballast >= 3 {
            break;
        }
    }
    assert!(refused_ballast >= 3, "the size cap was reached");
    let mut publishes = Vec::new();
    for wave in 0..200 {
        let results = publish_many(&server, &main, wave * 8, 8, 8, "small").await;
        let all_refused = results.iter().all(|p| p.status == 503);
        publishes.extend(results);
        if all_refused {
            break;
        }
    }
    let refused = publishes.iter().filter(|p| p.status == 503).count();
    assert!(refused >= 8, "the size cap was reached ({refused} refused)");
    assert_eq!(health_status(&server).await, 503, "health says writes fail");
    let metrics = server
        .request(Method::GET, "/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("kanca_storage_failing 1"),
        "metrics say storage is failing: {metrics}"
    );

    // Room again, without a restart: the ballast goes.
    server
        .call_ok(Method::DELETE, &format!("/api/v1/app/{ballast}"), None)
        .await;
    eventually("health to recover", || async {
        match health_status(&server).await {
            200 => Ok(()),
            other => Err(other.to_string()),
        }
    })
    .await;
    let after = publish_many(&server, &main, 10_000, 40, 8, "small").await;
    assert!(
        after.iter().all(|p| p.status == 202),
        "every publish succeeds once there is room"
    );
    publishes.extend(after);
    check_nothing_lost(&server, &receiver, &main, &publishes).await;

    // And all of it survives a restart.
    server.restart().await;
    for p in publishes.iter().filter(|p| p.status == 202) {
        let id = p.msg_id.as_deref().unwrap();
        let (status, _) = server
            .call(Method::GET, &format!("/api/v1/app/{main}/msg/{id}"), None)
            .await;
        assert_eq!(status, 200, "message {id} kept across the restart");
    }
    let episodes = server.logs().matches("storage writes are failing").count();
    assert!(
        episodes <= 3,
        "the episode is logged once, not per request ({episodes} times)"
    );
}

/// A tmpfs mounted for one test, unmounted when dropped.
struct SmallDisk {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("mount -t tmpfs exited with {status}"));
        }
        Ok(Self {
            path: dir.path().to_owned(),
            _dir: dir,
        })
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_full_disk_is_answered_503_and_writes_resume_when_space_is_freed() {
    if !runs_on(Backend::Sqlite, "it puts SQLite's file on a small disk") {
        return;
    }
    let disk = match SmallDisk::mount("16m") {
        Ok(disk) => disk,
        Err(why) => {
            if std::env::var_os("CI").is_some() {
                panic!("CI runs as root and must be able to mount a tmpfs: {why}");
            }
            skipped(&format!("cannot mount a small filesystem here ({why})"));
            return;
        }
    };
    // Ballast that takes most of the disk, to be freed later.
    let ballast = disk.path().join("ballast");
    std::fs::write(&ballast, vec![0u8; 9 * 1024 * 1024]).unwrap();
    let mut server = TestServer::start(
        ServerOptions::default()
            .data_dir_in(disk.path())
            .env("KANCA_SQLITE_WAL_LIMIT", "2MiB"),
    )
    .await;
    let receiver = Receiver::start().await;
    let app = server.create_app("Main").await;
    server
        .create_endpoint(&app, json!({ "url": receiver.url() }))
        .await;

    let filler = "f".repeat(4_000);
    let mut publishes = Vec::new();
    let started = Instant::now();
    for wave in 0..400 {
        publishes.extend(publish_many(&server, &app, wave * 16, 16, 16, &filler).await);
        let refused = publishes.iter().filter(|p| p.status == 503).count();
        if refused >= 50 || started.elapsed() > Duration::from_secs(60) {
            break;
        }
    }
    let refused = publishes.iter().filter(|p| p.status == 503).count();
    assert!(refused >= 50, "the disk filled up ({refused} refused)");
    assert_eq!(health_status(&server).await, 503, "health says writes fail");

    std::fs::remove_file(&ballast).unwrap();
    eventually("health to recover", || async {
        match health_status(&server).await {
            200 => Ok(()),
            other => Err(other.to_string()),
        }
    })
    .await;
    let after = publish_many(&server, &app, 100_000, 50, 10, "small").await;
    assert!(
        after.iter().all(|p| p.status == 202),
        "every publish succeeds once space is freed"
    );
    publishes.extend(after);
    check_nothing_lost(&server, &receiver, &app, &publishes).await;

    server.restart().await;
    for p in publishes.iter().filter(|p| p.status == 202) {
        let id = p.msg_id.as_deref().unwrap();
        let (status, _) = server
            .call(Method::GET, &format!("/api/v1/app/{app}/msg/{id}"), None)
            .await;
        assert_eq!(status, 200, "message {id} kept across the restart");
    }
    drop(server);
    drop(disk);
}

fn wal_size(dir: &Path) -> u64 {
    std::fs::metadata(dir.join("kanca.db-wal"))
        .map(|m| m.len())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_log_stays_bounded_under_load_and_is_emptied_when_idle_and_on_shutdown() {
    if !runs_on(Backend::Sqlite, "it watches SQLite's write-ahead log") {
        return;
    }
    let mut server =
        TestServer::start(ServerOptions::default().env("KANCA_SQLITE_WAL_LIMIT", "1MiB")).await;
    let receiver = Receiver::start().await;
    let app = server.create_app("Load").await;
    server
        .create_endpoint(&app, json!({ "url": receiver.url() }))
        .await;

    // Steady load from 16 publishers while a sampler watches the log's size.
    let dir = server.data_dir().to_owned();
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (dir, sampling) = (dir.clone(), sampling.clone());
        tokio::spawn(async move {
            let mut peak = 0;
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(wal_size(&dir));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            peak
        })
    };
    let publishes = publish_many(&server, &app, 0, 3_000, 16, &"p".repeat(1_000)).await;
    assert!(publishes.iter().all(|p| p.status == 202));
    receiver.wait_for(3_000, Duration::from_secs(60)).await;
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let peak = sampler.await.unwrap();
    // Before: the log only grew (about 76 KB written per message, never reused under load).
    // Now it is cut back each second once past the limit.
    assert!(
        peak < 48 * 1024 * 1024,
        "the WAL peaked at {peak} bytes with a 1 MiB limit"
    );

    // Idle: emptied within a few checkpoints.
    eventually("the idle log to be emptied", || async {
        match wal_size(&dir) {
            0 => Ok(()),
            n => Err(format!("{n} bytes")),
        }
    })
    .await;

    // A clean stop leaves no log behind.
    let status = server
        .terminate(Duration::from_secs(30))
        .await
        .expect("the server stopped within 30 s");
    assert!(status.success(), "SIGTERM is a clean exit: {status:?}");
    assert_eq!(wal_size(&dir), 0, "no WAL left after a clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_is_answered_503_within_seconds_and_the_node_recovers() {
    if !runs_on(Backend::Postgres, "it makes PostgreSQL refuse connections") {
        return;
    }
    let db = TestDatabase::create_on_postgres().await;
    let server = TestServer::start(
        ServerOptions::default()
            .env("KANCA_DATABASE_URL", &db.url)
            .env("KANCA_DATABASE_TIMEOUT", "2s"),
    )
    .await;
    let receiver = Receiver::start().await;
    let app = server.create_app("Outage").await;
    server
        .create_endpoint(&app, json!({ "url": receiver.url() }))
        .await;
    let mut publishes = vec![publish_n(&server, &app, 0, "before").await];
    assert_eq!(publishes[0].status, 202);

    db.refuse_connections(true).await;
    let started = Instant::now();
    let down = publish_n(&server, &app, 1, "during").await;
    let waited = started.elapsed();
    assert_eq!(down.status, 503, "a publish during the outage is refused");
    assert!(
        waited < Duration::from_secs(15),
        "answered after {waited:?}, not after the pool's old 30 s"
    );
    publishes.push(down);
    assert_eq!(health_status(&server).await, 503);

    db.refuse_connections(false).await;
    eventually("health to recover", || async {
        match health_status(&server).await {
            200 => Ok(()),
            other => Err(other.to_string()),
        }
    })
    .await;
    publishes.extend(publish_many(&server, &app, 2, 10, 5, "after").await);
    assert!(publishes[2..].iter().all(|p| p.status == 202));
    check_nothing_lost(&server, &receiver, &app, &publishes).await;
}

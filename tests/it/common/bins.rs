//! Request bins in tests: creating bins, reading their live stream as a client would, a local
//! app that `kanca listen` forwards to, and `kanca listen` itself as a child process.

use super::server::{ServerOptions, TestServer};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

impl TestServer {
    /// Creates a bin with these settings; returns the bin as the API shows it.
    pub async fn create_bin(&self, body: Value) -> Value {
        let (status, bin) = self
            .call(reqwest::Method::POST, "/api/v1/bin", Some(&body))
            .await;
        assert_eq!(
            status, 201,
            "creating a bin with {body} answered {status}: {bin}"
        );
        bin
    }

    /// Every captured request of a bin, newest first.
    pub async fn bin_requests(&self, bin_id: &str) -> Vec<Value> {
        self.list_all(&format!("/api/v1/bin/{bin_id}/request"))
            .await
    }
}

/// A free port on loopback, for a server that must come back on the same address after a
/// restart (`ServerOptions::env("KANCA_LISTEN", …)`). The port is free when this returns;
/// another process could take it before the server does, which only fails a test loudly.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding a free port")
        .port()
}

/// Options for a server on a fixed port that a restart keeps.
pub fn pinned_port(options: ServerOptions) -> ServerOptions {
    options.env("KANCA_LISTEN", &format!("127.0.0.1:{}", free_port()))
}

/// One event of a bin's live stream.
#[derive(Debug, Clone)]
pub struct StreamEvent {
    pub id: String,
    pub event: String,
    pub data: Value,
}

/// A bin's live stream, read the way a browser's `EventSource` would.
pub struct BinStream {
    events: std::pin::Pin<Box<dyn futures::Stream<Item = StreamEvent> + Send>>,
}

impl BinStream {
    /// Opens the stream, resuming after `last_event_id` when given.
    pub async fn open(server: &TestServer, bin_id: &str, last_event_id: Option<&str>) -> Self {
        let mut request = server.request(
            reqwest::Method::GET,
            &format!("/api/v1/bin/{bin_id}/stream"),
        );
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.expect("opening the bin's stream");
        assert_eq!(response.status(), 200, "opening the stream");
        let events = response
            .bytes_stream()
            .eventsource()
            .filter_map(|e| async move {
                let e = e.ok()?;
                Some(StreamEvent {
                    id: e.id,
                    event: e.event,
                    data: serde_json::from_str(&e.data).unwrap_or(Value::String(e.data)),
                })
            });
        Self {
            events: Box::pin(events),
        }
    }

    /// The next `n` events; panics if they do not come within the harness's wait.
    pub async fn next(&mut self, n: usize) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        while out.len() < n {
            match tokio::time::timeout(super::WAIT, self.events.next()).await {
                Ok(Some(event)) => out.push(event),
                Ok(None) => panic!("the stream ended after {out:?}"),
                Err(_) => panic!("timed out waiting for stream events; got {out:?}"),
            }
        }
        out
    }
}

/// One request as the local app saw it.
#[derive(Debug, Clone)]
pub struct LocalRequest {
    pub method: String,
    /// Path and query.
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The "local app" `kanca listen` forwards to: records every request, answers 200. It can be
/// started on a port chosen beforehand, so a test can point `kanca listen` at it while it is
/// still down.
pub struct LocalApp {
    requests: Arc<Mutex<Vec<LocalRequest>>>,
    task: tokio::task::JoinHandle<()>,
}

impl LocalApp {
    pub async fn start_on(port: u16) -> Self {
        let requests: Arc<Mutex<Vec<LocalRequest>>> = Arc::default();
        let recorded = requests.clone();
        let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let recorded = recorded.clone();
            async move {
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, usize::MAX)
                    .await
                    .unwrap_or_default();
                recorded.lock().unwrap().push(LocalRequest {
                    method: parts.method.to_string(),
                    uri: parts.uri.to_string(),
                    headers: parts
                        .headers
                        .iter()
                        .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
                        .collect(),
                    body: body.to_vec(),
                });
                "ok"
            }
        });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("binding the local app");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { requests, task }
    }

    pub fn requests(&self) -> Vec<LocalRequest> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits until `n` requests have arrived; returns all of them.
    pub async fn wait_for(&self, n: usize) -> Vec<LocalRequest> {
        super::eventually(&format!("{n} forwarded request(s)"), || async {
            let seen = self.requests();
            if seen.len() >= n {
                Ok(seen)
            } else {
                Err(format!("{} so far: {:?}", seen.len(), seen))
            }
        })
        .await
    }
}

impl Drop for LocalApp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `kanca listen` as a child process; killed when dropped.
pub struct ListenProcess {
    child: Option<Child>,
    output: Arc<Mutex<Vec<String>>>,
    /// The threads copying stdout and stderr into `output`; joined after an exit so that the
    /// last lines printed are in `output` before a test reads it.
    readers: Vec<std::thread::JoinHandle<()>>,
    /// The bin URL it printed.
    pub bin_url: String,
}

impl ListenProcess {
    /// Runs `kanca listen` with these extra arguments against `server`, and waits for it to
    /// print its bin URL.
    pub async fn start(server: &TestServer, forward_to: &str, extra: &[&str]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kanca"));
        command
            .args(["listen", "--forward-to", forward_to, "--server"])
            .arg(server.base_url())
            .args(extra)
            .env_remove("KANCA_ADMIN_TOKEN")
            .env_remove("KANCA_SERVER")
            .env_remove("KANCA_DATA_DIR")
            // The token through the environment, as a user would keep it out of `ps`.
            .env("KANCA_ADMIN_TOKEN", server.token())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawning kanca listen");
        let output: Arc<Mutex<Vec<String>>> = Arc::default();
        let (url_tx, url_rx) = tokio::sync::oneshot::channel();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut readers = Vec::new();
        {
            let output = output.clone();
            readers.push(std::thread::spawn(move || {
                let mut url_tx = Some(url_tx);
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    eprintln!("[kanca listen] {line}");
                    if let Some(url) = line.strip_prefix("Bin URL: ") {
                        if let Some(tx) = url_tx.take() {
                            let _ = tx.send(url.trim().to_owned());
                        }
                    }
                    output.lock().unwrap().push(line);
                }
            }));
        }
        {
            let output = output.clone();
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    eprintln!("[kanca listen stderr] {line}");
                    output.lock().unwrap().push(line);
                }
            }));
        }
        let bin_url = match tokio::time::timeout(super::WAIT, url_rx).await {
            Ok(Ok(url)) => url,
            _ => {
                let _ = child.kill();
                panic!(
                    "kanca listen did not print its bin URL; output:\n{}",
                    output.lock().unwrap().join("\n")
                );
            }
        };
        Self {
            child: Some(child),
            output,
            readers,
            bin_url,
        }
    }

    pub fn output(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }

    /// Sends a signal (`TERM`, or `INT` as Ctrl-C does) and returns the exit status.
    pub async fn signal(&mut self, signal: &str) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("the process is running");
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success());
        let readers = std::mem::take(&mut self.readers);
        // The pipes close when the process exits; joining the readers then means every line it
        // printed, "Stopped." included, is in `output` when this returns.
        let waited = tokio::task::spawn_blocking(move || {
            let status = child.wait();
            for reader in readers {
                let _ = reader.join();
            }
            status
        });
        tokio::time::timeout(super::WAIT, waited)
            .await
            .unwrap_or_else(|_| panic!("kanca listen did not exit after SIG{signal}"))
            .unwrap()
            .unwrap()
    }
}

impl Drop for ListenProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The bin id at the end of a bin URL.
pub fn bin_id_of(url: &str) -> String {
    url.rsplit('/').next().unwrap_or_default().to_owned()
}

/// A JSON body for a bin that keeps `n` requests.
pub fn bin_with_cap(n: u32) -> Value {
    json!({ "maxRequests": n })
}

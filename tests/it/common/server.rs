//! The real `kanca` binary as a child process, on a random port and a throwaway data dir.
//!
//! Tests run the binary rather than calling the library so that what they check is what a user
//! runs: argument and environment parsing, startup, the SQLite file on disk, and what survives a
//! `kill -9`. The port is learned from the one line the server prints on stdout; both pipes are
//! drained for the life of the process so the server never blocks on a full pipe. Everything
//! the server prints is kept (for `logs()`) and echoed through `eprintln!`, which the test
//! harness shows only for failing tests.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use svix::api::{Svix, SvixOptions};
use tempfile::TempDir;

use super::database::TestDatabase;

/// How long a server may take to print its address before the test gives up on it.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// What the server prints once it listens; the address follows.
const LISTENING_PREFIX: &str = "kanca listening on http://";

/// How many of the last output lines to quote when the server fails to start.
const STARTUP_FAILURE_TAIL: usize = 40;

/// Every line the server printed, stdout and stderr, in the order they were read, across
/// restarts.
type Output = Arc<Mutex<Vec<String>>>;

/// How a test server is configured.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Sets `KANCA_ALLOW_PRIVATE_TARGETS=true`, needed to deliver to receivers on 127.0.0.1.
    /// Off means the SSRF guard is on, as in production.
    pub allow_private: bool,
    /// `KANCA_RETRY_SCHEDULE`: short by default so retry tests take well under a second.
    pub retry_schedule: String,
    /// Any other `KANCA_*` settings, applied last.
    pub env: Vec<(String, String)>,
    /// The admin token; random per server unless several servers must share one.
    pub token: Option<String>,
    /// Where the throwaway data dir is made (a small filesystem, say); the system's temp dir
    /// when `None`.
    pub data_dir_parent: Option<std::path::PathBuf>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            allow_private: true,
            retry_schedule: "100ms,200ms".into(),
            env: Vec::new(),
            token: None,
            data_dir_parent: None,
        }
    }
}

impl ServerOptions {
    /// The production default: deliveries to private and loopback addresses are refused.
    pub fn with_ssrf_guard(mut self) -> Self {
        self.allow_private = false;
        self
    }

    pub fn retry_schedule(mut self, schedule: impl Into<String>) -> Self {
        self.retry_schedule = schedule.into();
        self
    }

    /// Nodes of one cluster share the admin token.
    pub fn token(mut self, token: &str) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Makes the data dir inside `parent`.
    pub fn data_dir_in(mut self, parent: &Path) -> Self {
        self.data_dir_parent = Some(parent.to_owned());
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
}

/// A running `kanca serve`; killed when dropped.
pub struct TestServer {
    options: ServerOptions,
    token: String,
    child: Option<Child>,
    base_url: String,
    http: reqwest::Client,
    output: Output,
    // Declared after the child so they are removed only once the process is gone (fields
    // drop in order, after `Drop::drop` has killed it).
    _database: Option<TestDatabase>,
    data_dir: TempDir,
}

impl TestServer {
    pub async fn start(mut options: ServerOptions) -> Self {
        let data_dir = match &options.data_dir_parent {
            Some(parent) => tempfile::tempdir_in(parent),
            None => tempfile::tempdir(),
        }
        .expect("creating a data dir for the server");
        // In the PostgreSQL run every server gets a database of its own, unless the test gave
        // it one (nodes of a cluster share theirs).
        let names_its_database = options
            .env
            .iter()
            .any(|(key, _)| key == "KANCA_DATABASE_URL");
        let database = match names_its_database {
            true => None,
            false => TestDatabase::create().await,
        };
        if let Some(db) = &database {
            options = options.env("KANCA_DATABASE_URL", &db.url);
        }
        // Unique per server so that a test can never pass by talking to another test's server.
        let token = options
            .token
            .clone()
            .unwrap_or_else(|| format!("test-token-{}", rand::random::<u64>()));
        let output = Output::default();
        let (child, base_url) = spawn(data_dir.path(), &token, &options, &output).await;
        Self {
            options,
            token,
            child: Some(child),
            base_url,
            http: reqwest::Client::new(),
            output,
            _database: database,
            data_dir,
        }
    }

    /// Starts a server with the default options (private targets allowed, short retries).
    pub async fn start_default() -> Self {
        Self::start(ServerOptions::default()).await
    }

    /// Starts the binary again on the same data dir, killing the running one first if there is
    /// one. The port changes: take `base_url()` (and a new `svix()`) after this.
    pub async fn restart(&mut self) {
        self.kill9();
        let (child, base_url) = spawn(
            self.data_dir.path(),
            &self.token,
            &self.options,
            &self.output,
        )
        .await;
        self.child = Some(child);
        self.base_url = base_url;
    }

    /// `kill -9`: the server gets no chance to finish or record anything.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            // An error here means it has already exited, which is what we want anyway.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM and waits (at most `wait`) for the server to exit; `None` if it did not.
    pub async fn terminate(&mut self, wait: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take().expect("the server is running");
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("running kill");
        assert!(sent.success());
        let deadline = std::time::Instant::now() + wait;
        loop {
            if let Some(status) = child.try_wait().expect("waiting for the server") {
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The server's data directory (the SQLite file and its log live here).
    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// The full URL of an API path such as `/api/v1/app`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// Everything the server has printed so far (logs on stderr, the address line on stdout),
    /// one line per line, from every start on this data dir. Lines reach it a moment after the
    /// server writes them.
    pub fn logs(&self) -> String {
        lock(&self.output).join("\n")
    }

    /// A plain HTTP client, for requests that must not carry the admin token.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// A request to an API path with the admin token attached.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(&self.token)
    }

    /// Svix's own Rust SDK pointed at this server.
    pub fn svix(&self) -> Svix {
        Svix::new(
            self.token.clone(),
            Some(SvixOptions {
                server_url: Some(self.base_url.clone()),
                // The SDK retries 5xx answers by default, which would hide a server error
                // behind a second try.
                num_retries: Some(0),
                ..Default::default()
            }),
        )
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Starts the binary and waits for its "listening" line; returns the child and its base URL.
async fn spawn(
    data_dir: &Path,
    token: &str,
    options: &ServerOptions,
    output: &Output,
) -> (Child, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kanca"));
    // A random port unless the test pinned one (`KANCA_LISTEN` in the options), e.g. so that a
    // client outside the harness finds the server again after a restart.
    let listen = options
        .env
        .iter()
        .rev()
        .find(|(key, _)| key == "KANCA_LISTEN")
        .map_or("127.0.0.1:0", |(_, value)| value.as_str());
    command
        .args(["serve", "--listen", listen, "--data-dir"])
        .arg(data_dir)
        // A `kanca.toml` in the directory the tests run from must not leak into the server.
        .current_dir(data_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Only the settings below may apply, whatever the environment running the tests holds.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("KANCA_") {
            command.env_remove(key);
        }
    }
    command
        .env("KANCA_ADMIN_TOKEN", token)
        .env("KANCA_RETRY_SCHEDULE", &options.retry_schedule)
        .env("KANCA_LOG_FORMAT", "json");
    if options.allow_private {
        command.env("KANCA_ALLOW_PRIVATE_TARGETS", "true");
    }
    for (key, value) in &options.env {
        command.env(key, value);
    }

    let mut child = command.spawn().expect("spawning the kanca binary");
    let stdout = child.stdout.take().expect("the server's stdout is piped");
    let stderr = child.stderr.take().expect("the server's stderr is piped");
    let (address_tx, address_rx) = tokio::sync::oneshot::channel();
    // Plain threads, not tokio tasks: the pipes are blocking, and threads spawned here inherit
    // the test's output capture so the echoed lines stay with the test that caused them.
    {
        let output = output.clone();
        std::thread::spawn(move || drain_stdout(stdout, address_tx, output));
    }
    {
        let output = output.clone();
        std::thread::spawn(move || drain_stderr(stderr, output));
    }

    match tokio::time::timeout(STARTUP_TIMEOUT, address_rx).await {
        Ok(Ok(address)) => (child, format!("http://{address}")),
        outcome => {
            let _ = child.kill();
            let status = child.wait();
            // Give the stderr thread a moment to read what the dying process wrote last.
            tokio::time::sleep(Duration::from_millis(100)).await;
            let tail = {
                let lines = lock(output);
                lines[lines.len().saturating_sub(STARTUP_FAILURE_TAIL)..].join("\n")
            };
            panic!(
                "the server did not print `{LISTENING_PREFIX}…` ({}); exit: {status:?}; output:\n{}",
                if outcome.is_err() {
                    "timed out"
                } else {
                    "stdout closed"
                },
                tail
            );
        }
    }
}

/// Sends the address from the first "listening" line, then keeps reading until the process
/// exits so that it never blocks writing to stdout.
fn drain_stdout(
    stdout: impl Read,
    address_tx: tokio::sync::oneshot::Sender<String>,
    output: Output,
) {
    let mut address_tx = Some(address_tx);
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        eprintln!("[kanca stdout] {line}");
        if let Some(rest) = line.strip_prefix(LISTENING_PREFIX) {
            let address = rest.split_whitespace().next().unwrap_or("").to_owned();
            if let Some(tx) = address_tx.take() {
                let _ = tx.send(address);
            }
        }
        lock(&output).push(line);
    }
}

/// Echoes and keeps the server's logs until the process exits.
fn drain_stderr(stderr: impl Read, output: Output) {
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        eprintln!("[kanca] {line}");
        lock(&output).push(line);
    }
}

/// The output lines, even if a panicking test poisoned the lock: they are most wanted then.
fn lock(output: &Output) -> std::sync::MutexGuard<'_, Vec<String>> {
    output
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

//! The servers under test when the bench starts them itself: `kanca serve` children of this
//! very binary, each on `127.0.0.1:0` and a throwaway data directory.
//!
//! Running the real binary rather than the library in-process keeps the bench's own work
//! (publishers, receiver) out of the server's memory and CPU figures, and measures what users
//! run. Each child learns nothing from the bench's environment (every inherited `KANCA_*`
//! variable is removed, and it runs in its data directory so no `./kanca.toml` applies); it
//! gets exactly: the admin token shared by all nodes, private targets allowed (the receiver
//! is on loopback), JSON logs at `warn`, the retry schedule, the database URL when there is
//! one, and whatever `--server-env` adds. Its stdout and stderr are drained by threads for its whole life so it never
//! blocks on a full pipe; warnings, errors and anything that is not a JSON log line (a
//! panic) are counted and a few kept for the report.
//!
//! Children are killed with SIGKILL when the [`Cluster`] is dropped: at the end of the run,
//! on an error, and on Ctrl-C (the bench drops the run). Their data is thrown away, so there
//! is nothing a graceful shutdown would save.

use super::rss;
use anyhow::Context;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tempfile::TempDir;
use tokio::task::JoinHandle;

/// How long a node may take to print its address (PostgreSQL migrations included).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// What `kanca serve` prints on stdout once it listens; the address follows.
const LISTENING_PREFIX: &str = "kanca listening on http://";

/// Output lines kept per node, quoted when it fails to start or dies.
const TAIL_LINES: usize = 30;

/// Log lines of each kind kept as examples for the report.
const SAMPLES_PER_KIND: usize = 3;

/// How the spawned servers are set up.
pub struct ClusterSpec {
    pub nodes: usize,
    /// `None`: each node uses SQLite in its data directory.
    pub database_url: Option<String>,
    pub retry_schedule: String,
    /// Any other settings (`--server-env`), applied last.
    pub env: Vec<(String, String)>,
    /// Every line the servers print goes here too, prefixed with the node number.
    pub server_log: Option<PathBuf>,
}

pub struct Cluster {
    nodes: Vec<Node>,
    token: String,
    logs: Arc<ServerLogs>,
}

struct Node {
    child: Child,
    /// The SQLite write-ahead log, when the node runs on SQLite.
    wal: std::path::PathBuf,
    base_url: String,
    memory: Arc<rss::Gauge>,
    sampler: JoinHandle<()>,
    tail: Arc<Mutex<VecDeque<String>>>,
    // Removed only after the child is killed (fields drop after `Drop::drop`).
    _data_dir: TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.sampler.abort();
        // An error means it has exited already, which is what we want.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The figures of one spawned server.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeFigures {
    pub node: usize,
    pub pid: u32,
    pub peak_rss_bytes: Option<u64>,
    pub end_rss_bytes: Option<u64>,
    pub cpu_secs: Option<f64>,
    /// The largest the SQLite write-ahead log grew (none on PostgreSQL).
    pub peak_wal_bytes: Option<u64>,
    /// What the process wrote to storage over the run (`/proc/<pid>/io`).
    pub disk_written_bytes: Option<u64>,
}

impl Cluster {
    /// Starts `spec.nodes` servers one after another (the first migrates the database) and
    /// waits until each listens.
    pub async fn start(spec: &ClusterSpec) -> anyhow::Result<Self> {
        let token = format!("bench-{:032x}", rand::random::<u128>());
        let log_file = match &spec.server_log {
            Some(path) => Some(Mutex::new(std::io::BufWriter::new(
                std::fs::File::create(path)
                    .with_context(|| format!("creating {}", path.display()))?,
            ))),
            None => None,
        };
        let logs = Arc::new(ServerLogs {
            file: log_file,
            ..ServerLogs::default()
        });
        let mut nodes = Vec::with_capacity(spec.nodes);
        for index in 0..spec.nodes {
            nodes.push(spawn(index, spec, &token, &logs).await?);
        }
        Ok(Self { nodes, token, logs })
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// `http://127.0.0.1:PORT` of every node, in node order.
    pub fn base_urls(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.base_url.clone()).collect()
    }

    /// The process ids of the nodes, in node order.
    pub fn pids(&self) -> Vec<u32> {
        self.nodes.iter().map(|n| n.child.id()).collect()
    }

    /// Describes the first node that is no longer running, with its last output lines.
    pub fn exited(&mut self) -> Option<String> {
        self.nodes.iter_mut().enumerate().find_map(|(i, node)| {
            let status = node.child.try_wait().ok()??;
            Some(format!(
                "node {i} exited ({status}); its last output:\n{}",
                quote_tail(&node.tail)
            ))
        })
    }

    /// Reads memory and CPU one last time and stops sampling; the servers keep running until
    /// the cluster is dropped.
    pub fn figures(&self) -> Vec<NodeFigures> {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, node)| {
                node.sampler.abort();
                node.memory.sample(node.child.id(), &node.wal);
                NodeFigures {
                    node: i,
                    pid: node.child.id(),
                    peak_rss_bytes: node.memory.peak_bytes(),
                    end_rss_bytes: node.memory.last_bytes(),
                    cpu_secs: rss::cpu_seconds(node.child.id()),
                    peak_wal_bytes: node.memory.peak_wal_bytes(),
                    disk_written_bytes: rss::disk_written_bytes(node.child.id()),
                }
            })
            .collect()
    }

    /// What the servers logged so far.
    pub fn log_summary(&self) -> LogSummary {
        let mut summary = lock(&self.logs.summary).clone();
        if let Some(file) = &self.logs.file {
            let _ = lock(file).flush();
        }
        summary.samples.truncate(SAMPLES_PER_KIND * 3);
        summary
    }
}

/// Counts of what the servers logged (at `RUST_LOG=warn`), with a few examples.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogSummary {
    pub errors: u64,
    pub warnings: u64,
    /// Lines that are not JSON log lines, e.g. a panic message.
    pub other: u64,
    pub samples: Vec<String>,
}

#[derive(Default)]
struct ServerLogs {
    summary: Mutex<LogSummary>,
    file: Option<Mutex<std::io::BufWriter<std::fs::File>>>,
}

impl ServerLogs {
    fn record(&self, node: usize, line: &str) {
        if let Some(file) = &self.file {
            let _ = writeln!(lock(file), "[node {node}] {line}");
        }
        let mut summary = lock(&self.summary);
        let (count, seen) = if line.contains(r#""level":"ERROR""#) {
            summary.errors += 1;
            (summary.errors, "error")
        } else if line.contains(r#""level":"WARN""#) {
            summary.warnings += 1;
            (summary.warnings, "warn")
        } else if !line.starts_with('{') {
            summary.other += 1;
            (summary.other, "other")
        } else {
            return;
        };
        if count <= SAMPLES_PER_KIND as u64 {
            let short: String = line.chars().take(400).collect();
            summary
                .samples
                .push(format!("[node {node} {seen}] {short}"));
        }
    }
}

async fn spawn(
    index: usize,
    spec: &ClusterSpec,
    token: &str,
    logs: &Arc<ServerLogs>,
) -> anyhow::Result<Node> {
    let data_dir = tempfile::Builder::new()
        .prefix("kanca-bench-")
        .tempdir()
        .context("creating a data directory for the server")?;
    let mut command = Command::new(std::env::current_exe().context("finding the kanca binary")?);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir.path())
        .current_dir(data_dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("KANCA_") {
            command.env_remove(key);
        }
    }
    command
        .env("KANCA_ADMIN_TOKEN", token)
        .env("KANCA_ALLOW_PRIVATE_TARGETS", "true")
        .env("KANCA_LOG_FORMAT", "json")
        .env("KANCA_RETRY_SCHEDULE", &spec.retry_schedule)
        .env("RUST_LOG", "warn");
    if let Some(url) = &spec.database_url {
        command.env("KANCA_DATABASE_URL", url);
    }
    for (key, value) in &spec.env {
        command.env(key, value);
    }
    let mut child = command.spawn().context("starting `kanca serve`")?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let tail = Arc::new(Mutex::new(VecDeque::new()));
    let (address_tx, address_rx) = tokio::sync::oneshot::channel();
    // Threads, not tasks: the pipes are blocking reads.
    {
        let (logs, tail) = (logs.clone(), tail.clone());
        std::thread::spawn(move || drain(index, stdout, Some(address_tx), &logs, &tail));
    }
    {
        let (logs, tail) = (logs.clone(), tail.clone());
        std::thread::spawn(move || drain(index, stderr, None, &logs, &tail));
    }
    let memory = Arc::new(rss::Gauge::default());
    let wal = data_dir.path().join("kanca.db-wal");
    let sampler = rss::watch(child.id(), wal.clone(), memory.clone());
    let mut node = Node {
        child,
        wal,
        base_url: String::new(),
        memory,
        sampler,
        tail,
        _data_dir: data_dir,
    };
    match tokio::time::timeout(STARTUP_TIMEOUT, address_rx).await {
        Ok(Ok(address)) => {
            node.base_url = format!("http://{address}");
            Ok(node)
        }
        outcome => {
            let why = if outcome.is_err() {
                "timed out"
            } else {
                "it exited"
            };
            let _ = node.child.kill();
            let status = node.child.wait();
            // Let the stderr thread read what the dying process wrote last.
            tokio::time::sleep(Duration::from_millis(200)).await;
            anyhow::bail!(
                "node {index} did not start ({why}; {status:?}); its output:\n{}",
                quote_tail(&node.tail)
            )
        }
    }
}

/// Reads one pipe until the process closes it. On stdout, the first "listening" line
/// gives the address.
fn drain(
    node: usize,
    pipe: impl Read,
    mut address_tx: Option<tokio::sync::oneshot::Sender<String>>,
    logs: &ServerLogs,
    tail: &Mutex<VecDeque<String>>,
) {
    for line in BufReader::new(pipe).lines() {
        let Ok(line) = line else { break };
        if let Some(rest) = line.strip_prefix(LISTENING_PREFIX) {
            if let Some(tx) = address_tx.take() {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_owned());
                continue;
            }
        }
        logs.record(node, &line);
        let mut tail = lock(tail);
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }
}

fn quote_tail(lines: &Mutex<VecDeque<String>>) -> String {
    let lines = lock(lines);
    if lines.is_empty() {
        return "    (nothing)".into();
    }
    lines
        .iter()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Even after a panic on a drain thread, what was collected is still wanted.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Server CPU seconds (all spawned nodes together) per 1,000 of `units` (deliveries, or posts
/// in the inbound scenarios): what one costs, whatever the machine's speed. `None` for a
/// running server, or when nothing was done.
pub fn cpu_seconds_per_1k(nodes: &[NodeFigures], units: u64) -> Option<f64> {
    let cpu: Option<f64> = nodes.iter().map(|n| n.cpu_secs).sum();
    cpu.filter(|_| units > 0 && !nodes.is_empty())
        .map(|c| c * 1000.0 / units as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(cpu: Option<f64>) -> NodeFigures {
        NodeFigures {
            node: 0,
            pid: 1,
            peak_rss_bytes: None,
            end_rss_bytes: None,
            cpu_secs: cpu,
            peak_wal_bytes: None,
            disk_written_bytes: None,
        }
    }

    #[test]
    fn cpu_per_thousand_adds_the_nodes_and_needs_every_reading() {
        let two = [node(Some(1.5)), node(Some(0.5))];
        assert_eq!(cpu_seconds_per_1k(&two, 20_000), Some(0.1));
        assert_eq!(cpu_seconds_per_1k(&two, 0), None, "nothing delivered");
        assert_eq!(
            cpu_seconds_per_1k(&[node(Some(1.0)), node(None)], 1_000),
            None
        );
        assert_eq!(
            cpu_seconds_per_1k(&[], 1_000),
            None,
            "a running server: no reading"
        );
    }
}

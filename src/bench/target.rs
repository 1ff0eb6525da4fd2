//! The server under test: `kanca serve` nodes the bench spawned (on SQLite, or on PostgreSQL,
//! perhaps a fresh database), or a server that was already running (`--server`).
//!
//! The rest of the bench only needs its URLs and token; what only a spawned server can give
//! (memory, CPU, logs, Kanca's own counters) is gathered here at the end, and is absent for a
//! running server rather than guessed.

use super::api::Api;
use super::cluster::{Cluster, ClusterSpec, LogSummary, NodeFigures};
use super::database::{self, FreshDatabase};
use super::progress::Progress;
use super::Options;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How long the servers' counters may lag behind what the receiver saw.
const OUTCOMES_SETTLE: Duration = Duration::from_secs(2);
const OUTCOMES_POLL: Duration = Duration::from_millis(20);

pub enum Target {
    Running {
        base_url: String,
        token: String,
    },
    Spawned {
        // Fields drop in order: the nodes are killed before their database is dropped.
        cluster: Cluster,
        _database: Option<FreshDatabase>,
        description: String,
    },
}

/// What only spawned servers tell, read after the run.
#[derive(Default)]
pub struct ServerFigures {
    pub nodes: Vec<NodeFigures>,
    pub delivery_outcomes: Option<BTreeMap<String, u64>>,
    pub logs: Option<LogSummary>,
}

impl Target {
    pub async fn start(options: &Options, progress: &Progress) -> anyhow::Result<Self> {
        if let Some(url) = &options.server {
            return Ok(Self::Running {
                base_url: url.trim_end_matches('/').to_owned(),
                token: options.token.clone().unwrap_or_default(),
            });
        }
        let database = match (&options.database_url, options.fresh_database) {
            (Some(url), true) => Some(FreshDatabase::create(url).await?),
            _ => None,
        };
        progress.phase(|| "starting kanca serve".into());
        let spec = ClusterSpec {
            nodes: options.nodes,
            database_url: database
                .as_ref()
                .map(|db| db.url.clone())
                .or_else(|| options.database_url.clone()),
            retry_schedule: options.retry_schedule.clone(),
            env: options.server_env.clone(),
            server_log: options.server_log.clone(),
        };
        let cluster = Cluster::start(&spec).await?;
        let storage = match (&database, &options.database_url) {
            (Some(db), _) => format!("PostgreSQL, fresh database {}", db.name()),
            (None, Some(url)) => format!("PostgreSQL {}", database::redact(url)),
            (None, None) => "SQLite".into(),
        };
        Ok(Self::Spawned {
            cluster,
            _database: database,
            description: format!("kanca serve × {} ({storage}), spawned", options.nodes),
        })
    }

    /// What is measured, in words.
    pub fn describe(&self) -> String {
        match self {
            Self::Running { base_url, .. } => {
                format!("{base_url} (running server; nothing spawned)")
            }
            Self::Spawned { description, .. } => description.clone(),
        }
    }

    /// `http://host:port` of every node; publishes go to them in turn.
    pub fn base_urls(&self) -> Vec<String> {
        match self {
            Self::Running { base_url, .. } => vec![base_url.clone()],
            Self::Spawned { cluster, .. } => cluster.base_urls(),
        }
    }

    pub fn token(&self) -> &str {
        match self {
            Self::Running { token, .. } => token,
            Self::Spawned { cluster, .. } => cluster.token(),
        }
    }

    /// The spawned servers' process ids (none for a running server).
    pub fn pids(&self) -> Vec<u32> {
        match self {
            Self::Running { .. } => Vec::new(),
            Self::Spawned { cluster, .. } => cluster.pids(),
        }
    }

    /// Describes a spawned node that has died, if one has.
    pub fn exited(&mut self) -> Option<String> {
        match self {
            Self::Running { .. } => None,
            Self::Spawned { cluster, .. } => cluster.exited(),
        }
    }

    /// Memory, CPU, logs and Kanca's delivery counters of spawned servers. `answered_ok` is
    /// every 200 the receiver answered, which Kanca counts as `Delivered` once it has
    /// recorded the attempt, a moment later: the counters are read again (for up to
    /// [`OUTCOMES_SETTLE`]) until they catch up.
    pub async fn figures(&self, client: &reqwest::Client, answered_ok: u64) -> ServerFigures {
        let Self::Spawned { cluster, .. } = self else {
            return ServerFigures::default();
        };
        let nodes = cluster.figures();
        let give_up = Instant::now() + OUTCOMES_SETTLE;
        let outcomes = loop {
            let total = self.delivery_outcomes(client).await;
            let delivered = total.get("Delivered").copied().unwrap_or(0);
            if delivered >= answered_ok || total.is_empty() || Instant::now() >= give_up {
                break total;
            }
            tokio::time::sleep(OUTCOMES_POLL).await;
        };
        ServerFigures {
            nodes,
            delivery_outcomes: Some(outcomes),
            logs: Some(cluster.log_summary()),
        }
    }

    /// `kanca_deliveries_total` by outcome, summed over the nodes; empty when unreadable.
    async fn delivery_outcomes(&self, client: &reqwest::Client) -> BTreeMap<String, u64> {
        let mut total = BTreeMap::new();
        for base_url in self.base_urls() {
            let api = Api {
                client,
                base_url: &base_url,
                token: self.token(),
            };
            match api.delivery_outcomes().await {
                Ok(outcomes) => {
                    for (outcome, n) in outcomes {
                        *total.entry(outcome).or_default() += n;
                    }
                }
                Err(e) => eprintln!("warning: reading {base_url}/metrics: {e:#}"),
            }
        }
        total
    }
}

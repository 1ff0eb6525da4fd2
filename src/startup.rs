//! Building and running the application: open the store, bind the listener, start the
//! delivery engine, serve until told to stop.
//!
//! [`Application::build`] binds first (port 0 in tests) so the caller learns the port before
//! anything runs; [`Application::run_until_stopped`] serves until its shutdown token is
//! cancelled, then lets in-flight deliveries finish (or leaves them to be retried after a
//! restart: their leases are released on the next start).

use crate::api;
use crate::config::Settings;
use crate::delivery::dispatcher::Dispatcher;
use crate::delivery::metrics::Metrics;
use crate::delivery::operational::Operational;
use crate::delivery::retention;
use crate::delivery::sender::Sender;
use crate::delivery::throttle::Limiter;
use crate::delivery::{Engine, EngineConfig, Waker};
use crate::domain::bins::OwnBinUrls;
use crate::send::{Sending, SendingDeps};
use crate::services::{HttpConfig, Services};
use crate::store::{self, DynStore};
use anyhow::Context;
use rand::distributions::{Alphanumeric, DistString};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::Layer;
use tower_http::normalize_path::NormalizePathLayer;

pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    settings: Settings,
    store: DynStore,
    admin_token: String,
    /// `Some` when the token was generated on this start: the caller prints it once.
    generated_token: bool,
    shutdown: CancellationToken,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&settings.data_dir)
            .with_context(|| format!("creating data directory {}", settings.data_dir.display()))?;
        let (admin_token, generated_token) = match &settings.admin_token {
            Some(t) => {
                crate::config::check_admin_token(t, "KANCA_ADMIN_TOKEN")?;
                (t.clone(), false)
            }
            None => {
                let (token, generated) = load_or_generate_token(&settings.data_dir)?;
                let file = settings.data_dir.join("admin-token");
                crate::config::check_admin_token(
                    &token,
                    &format!("the admin token in {}", file.display()),
                )?;
                (token, generated)
            }
        };
        let node_id = load_or_generate_node_id(&settings.data_dir)?;
        let store_options = store::StoreOptions {
            clock: settings.clock.clone(),
            ..settings.store.clone()
        };
        let store = store::connect(&settings.database_url, &node_id, &store_options).await?;
        let released = store.release_own_leases().await?;
        if released > 0 {
            tracing::info!(
                deliveries = released,
                "re-queued deliveries that were in flight when the last run stopped"
            );
        }
        let listener = TcpListener::bind(&settings.listen)
            .await
            .with_context(|| format!("binding {}", settings.listen))?;
        let addr = listener.local_addr()?;
        Ok(Self {
            listener,
            addr,
            settings,
            store,
            admin_token,
            generated_token,
            shutdown: CancellationToken::new(),
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL hook and bin URLs are printed with: `KANCA_PUBLIC_URL`, else the address
    /// actually bound (so port 0 in tests gives a usable URL).
    pub fn public_url(&self) -> String {
        match &self.settings.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.addr),
        }
    }

    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// Whether the admin token was generated just now (so it should be shown, once).
    pub fn token_was_generated(&self) -> bool {
        self.generated_token
    }

    /// Cancel it to stop the server gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let settings = &self.settings;
        let waker = Waker::default();
        let tracker = TaskTracker::new();
        let clock = settings.clock.clone();
        let ops = Operational::init(self.store.clone(), waker.clone(), clock.clone()).await?;
        let metrics = Metrics::default();
        // Deliveries and replays into this server's own bins go straight to its listen address,
        // when it serves the bins: a delivery-only node (`--role worker`) does not, so its
        // deliveries to bins go out by the public URL like any other.
        let own_bins = OwnBinUrls::new(&self.public_url(), self.addr);
        let mut sender = Sender::new(settings.delivery_timeout, settings.allow_private_targets)?;
        if settings.role.serves_api() {
            sender = sender.with_own_bins(own_bins.clone())?;
        }
        let live = crate::live::LiveHub::start(self.store.clone(), self.shutdown.clone()).await?;
        // The workspace registers its delivery profile (Slack signing, replies) here, before
        // the dispatcher can send one of its deliveries.
        let profiles = Arc::new(crate::delivery::profile::Profiles::default());
        let workspace = crate::workspace::Workspace::init(
            crate::workspace::WorkspaceDeps {
                store: self.store.clone(),
                live: live.clone(),
                waker: waker.clone(),
                clock: clock.clone(),
                public_url: self.public_url(),
                allow_private_targets: settings.allow_private_targets,
                own_bins: own_bins.clone(),
                sender: Arc::new(
                    Sender::new(settings.delivery_timeout, settings.allow_private_targets)?
                        .with_own_bins(own_bins.clone())?,
                ),
            },
            settings.workspace.clone(),
            &profiles,
        )
        .await?;
        let engine = Arc::new(Engine {
            store: self.store.clone(),
            sender,
            config: EngineConfig {
                schedule: settings.retry_schedule.clone(),
                delivery_timeout: settings.delivery_timeout,
                max_in_flight: settings.max_in_flight,
                safety_poll: Duration::from_secs(5),
                disable_after: settings.disable_after,
            },
            clock: clock.clone(),
            waker: waker.clone(),
            metrics: metrics.clone(),
            limiter: Limiter::new(settings.endpoint_max_in_flight, settings.max_in_flight),
            ops: ops.clone(),
            profiles,
        });
        let mut background = Vec::new();
        if settings.role.delivers() {
            // Work queued by other nodes (PostgreSQL NOTIFY) wakes this node's dispatcher too.
            let remote = waker.clone();
            self.store
                .watch_new_work(Arc::new(move || remote.wake()))
                .await?;
            background.push(tokio::spawn(
                Dispatcher::new(engine).run(self.shutdown.clone(), tracker.clone()),
            ));
            background.push(tokio::spawn(retention::run(
                self.store.clone(),
                clock.clone(),
                settings.retention_sweep,
                self.shutdown.clone(),
            )));
        }

        let send = Arc::new(Sending::new(SendingDeps {
            store: self.store.clone(),
            waker,
            clock: clock.clone(),
            ops,
            allow_private_targets: settings.allow_private_targets,
            own_bins: own_bins.clone(),
            built_in_app: workspace.events_app().clone(),
        }));
        let sources = Arc::new(crate::sources::Sources::new(
            self.store.clone(),
            send.clone(),
            clock.clone(),
            live.clone(),
            &self.public_url(),
        ));
        if settings.role.delivers() {
            // Cron sources' ticks are queued work like deliveries: every delivering node runs
            // the schedules, and a tick's eventId makes it sent once.
            background.push(tokio::spawn(crate::sources::cron::run(
                sources.clone(),
                self.shutdown.clone(),
            )));
        }
        let state = Services::new(crate::services::Shared {
            store: self.store.clone(),
            send,
            clock,
            metrics,
            config: Arc::new(
                HttpConfig::new(
                    &self.admin_token,
                    settings.allow_private_targets,
                    settings.max_body_bytes,
                    &self.public_url(),
                )
                .with_portal_frame_ancestors(&settings.portal_frame_ancestors),
            ),
            live,
            inspect: Arc::new(crate::inspect::Inspector {
                sender: Sender::new(settings.delivery_timeout, settings.allow_private_targets)?
                    .with_own_bins(own_bins.clone())?,
                own_bins,
            }),
            workspace,
            sources,
            portal_logos: Arc::new(crate::send::PortalLogos::new(
                settings.allow_private_targets,
            )?),
        });
        // Trailing slashes are trimmed before routing: older Svix SDKs send `/api/v1/app/`.
        let routes = if settings.role.serves_api() {
            api::router(state.clone()).merge(crate::web::router(state))
        } else {
            api::worker_router(state)
        };
        let app = NormalizePathLayer::trim_trailing_slash().layer(routes);
        // Timeouts, the connection limit and a shutdown that half-sent requests cannot hold
        // up: see `http_server`.
        crate::http_server::serve(
            self.listener,
            app,
            self.settings.http,
            self.shutdown.clone(),
        )
        .await?;

        self.shutdown.cancel();
        for task in background {
            let _ = task.await;
        }
        tracker.close();
        let grace = self.settings.delivery_timeout + Duration::from_secs(5);
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            tracing::warn!(
                "deliveries still in flight at shutdown will be retried on the next start"
            );
        }
        // Connections closed cleanly: on SQLite the log is checkpointed and removed.
        self.store.close().await;
        Ok(())
    }
}

/// This node's id, kept in the data directory so a restarted node recognises the leases its
/// previous run left behind (and takes them back at once).
fn load_or_generate_node_id(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("node-id");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let id = existing.trim().to_owned();
        if !id.is_empty() {
            return Ok(id);
        }
    }
    let id = format!(
        "node_{}",
        Alphanumeric.sample_string(&mut rand::thread_rng(), 16)
    );
    std::fs::write(&path, &id).with_context(|| format!("writing {}", path.display()))?;
    Ok(id)
}

/// The admin token kept in the data directory, generated (and stored with owner-only
/// permissions) on first start.
fn load_or_generate_token(data_dir: &Path) -> anyhow::Result<(String, bool)> {
    let path = data_dir.join("admin-token");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let token = existing.trim().to_owned();
        if !token.is_empty() {
            return Ok((token, false));
        }
    }
    let token = format!(
        "kanca_{}",
        Alphanumeric.sample_string(&mut rand::thread_rng(), 40)
    );
    write_private(&path, &token).with_context(|| format!("writing {}", path.display()))?;
    Ok((token, true))
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

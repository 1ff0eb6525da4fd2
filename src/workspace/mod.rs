//! The Slack-compatible workspace: one team, channels and their messages, incoming webhooks
//! that post into them, outgoing webhooks that fire on what people write, and the events that
//! let any endpoint follow the conversation.
//!
//! Everything here is plain functions on [`Workspace`], so the API, the console and tests call
//! the same code:
//!
//! - [`channels`]: create, rename, archive, list; messages of a channel.
//! - [`post`]: the one way a message enters a channel (people, incoming hooks, outgoing-hook
//!   replies): store it together with its `message.posted` event and the outgoing-webhook
//!   requests it triggers, in one transaction, then wake the dispatcher and the channel's live
//!   streams.
//! - [`incoming`]: Slack's incoming-webhook protocol, answered exactly as Slack does.
//! - [`payload`]: parsing what real senders post to an incoming webhook.
//! - [`outgoing`]: outgoing webhooks: triggers, Slack's request body, `X-Slack-Signature`, and
//!   the reply posted back. Requests go through the delivery engine as deliveries of an
//!   internal application.
//! - [`callback`]: what travels to a callback URL and back: the Slack signature (a
//!   [`crate::delivery::profile::DeliveryProfile`]) and the reply posted into the channel.
//! - [`guard`]: per-hook rate limits, IP allow-lists, incidents and temporary IP blocks.
//! - [`events`]: the built-in application `workspace` and its event types.
//! - [`apps`]: Slack apps (bot user, bot token, signing secret, event subscription, slash
//!   commands, interactivity URL) and the workspace's users.
//! - [`events_api`]: Slack's Events API: `url_verification`, then signed `event_callback`
//!   envelopes through the delivery engine, retried as Slack retries.
//! - [`interact`]: slash commands, Block Kit button clicks (`block_actions`), `response_url`
//!   and ephemeral messages.
//! - [`slack_json`]: Slack's message, conversation and user objects.
//! - [`bot`]: what an app's bot does through Slack's Web API (`/api/{method}`): post, edit,
//!   delete and react to messages, read channels and users, with Slack's error names.

pub mod apps;
pub mod bot;
pub mod callback;
pub mod channels;
pub mod events;
pub mod events_api;
pub mod guard;
pub mod incoming;
pub mod interact;
pub mod outgoing;
pub mod payload;
pub mod post;
pub mod slack_json;

use crate::clock::Clock;
use crate::delivery::profile::Profiles;
use crate::delivery::Waker;
use crate::domain::workspace::{HookRate, TeamId};
use crate::domain::AppId;
use crate::live::LiveHub;
use crate::store::{DynStore, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// The workspace's settings (`kanca serve --help` lists them).
#[derive(Debug, Clone)]
pub struct WorkspaceSettings {
    /// A hook's rate when it sets none: 1 message per second with bursts of 10 (Slack's own
    /// documented limit for incoming webhooks is one per second, with short bursts allowed).
    pub hook_rate: HookRate,
    /// Failed hook requests (unknown token, disallowed IP) from one IP within
    /// `ip_block_window` that get it blocked for `ip_block_duration`.
    pub ip_block_threshold: u32,
    pub ip_block_window: Duration,
    pub ip_block_duration: Duration,
    /// What such a block covers: the one hook id (default), every hook, or nothing.
    pub ip_block_scope: guard::BlockScope,
    /// Proxies whose `Forwarded` / `X-Forwarded-For` say who the client is.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Wrong admin tokens (API or sign-in) from one address within the window that get it
    /// answered 429 for the block's duration.
    pub auth_failure_threshold: u32,
    pub auth_failure_window: Duration,
    pub auth_block_duration: Duration,
    /// Repeats of one incident (address, reason) within this window are one stored row.
    pub incident_window: Duration,
    /// Incidents last seen longer ago than this are deleted.
    pub incident_retention: Duration,
    /// At most this many incident rows are kept (the oldest go first).
    pub incident_max_rows: u32,
    /// Web API calls (`/api/{method}`) one app may make: per second sustained, and at once.
    /// Generous by default (Slack's own tiers allow 1 to 100+ calls a minute per method);
    /// past it, calls are answered 429 `ratelimited` with `Retry-After`, as Slack does.
    pub web_api_rate: HookRate,
    /// Waits between retries of Events API requests (Slack's own: at once, 1 min, 5 min).
    pub events_retry_schedule: crate::delivery::schedule::RetrySchedule,
}

impl Default for WorkspaceSettings {
    fn default() -> Self {
        Self {
            hook_rate: HookRate {
                per_second: 1,
                burst: 10,
            },
            ip_block_threshold: 20,
            ip_block_window: Duration::from_secs(60),
            ip_block_duration: Duration::from_secs(15 * 60),
            ip_block_scope: guard::BlockScope::Hook,
            trusted_proxies: Vec::new(),
            auth_failure_threshold: 10,
            auth_failure_window: Duration::from_secs(60),
            auth_block_duration: Duration::from_secs(5 * 60),
            incident_window: Duration::from_secs(60 * 60),
            incident_retention: Duration::from_secs(30 * 24 * 60 * 60),
            incident_max_rows: 10_000,
            web_api_rate: HookRate {
                per_second: 100,
                burst: 200,
            },
            events_retry_schedule: crate::delivery::schedule::RetrySchedule::parse("1s,1m,5m")
                .expect("static schedule"),
        }
    }
}

/// What the workspace is built on.
pub struct WorkspaceDeps {
    pub store: DynStore,
    pub live: Arc<LiveHub>,
    pub waker: Waker,
    pub clock: Clock,
    /// The base of printed hook URLs.
    pub public_url: String,
    /// Outgoing-webhook callback URLs may point at private addresses (tests, intranets).
    pub allow_private_targets: bool,
    /// This server's own bin URLs, which callbacks may name as endpoints may (they are
    /// reached at the listen address, never through the private network).
    pub own_bins: crate::domain::bins::OwnBinUrls,
    /// Requests Kanca makes to Slack apps itself (the `url_verification` challenge, slash
    /// commands, interactions): the delivery sender's SSRF guard, without its retries.
    pub sender: Arc<crate::delivery::sender::Sender>,
}

pub struct Workspace {
    pub(crate) deps: WorkspaceDeps,
    pub(crate) settings: WorkspaceSettings,
    team: TeamId,
    /// The application `workspace` that `message.posted` and friends are published into.
    events_app: AppId,
    /// The internal application whose endpoints are outgoing-webhook callback URLs.
    outgoing_app: AppId,
    pub(crate) guard: guard::Guard,
    /// Incidents recorded by this node, to prune every so often.
    incidents_recorded: std::sync::atomic::AtomicU64,
    /// Per-app limits on Web API calls.
    web_api_limiter: bot::WebApiLimiter,
    /// The internal application whose endpoints are Slack apps' event request URLs.
    slack_events_app: AppId,
    /// This node's copy of the app list ([`events_api`]).
    apps_cache: events_api::AppsCache,
    /// Ephemeral messages (slash command answers, `chat.postEphemeral`), kept in memory only.
    ephemeral: interact::EphemeralBox,
    /// How often each `response_url` has been used on this node.
    response_uses: interact::ResponseUses,
}

/// Why a workspace operation did not happen, for the API to answer.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The input was understood but is not acceptable.
    #[error("{0}")]
    Invalid(String),
    #[error("channel is archived")]
    Archived,
    /// A request URL did not answer Slack's `url_verification` challenge.
    #[error("{0}")]
    UrlVerification(String),
    /// Another refusal the API names with its own HTTP status and code (`command_not_found`,
    /// `action_not_found`, `no_interactivity_url` …).
    #[error("{2}")]
    Coded(u16, &'static str, String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<crate::domain::ParseError> for WorkspaceError {
    fn from(e: crate::domain::ParseError) -> Self {
        Self::Invalid(e.0)
    }
}

impl Workspace {
    /// Finds (or, on first start, creates) the team, the `workspace` application with its event
    /// types and the internal outgoing-webhook application, and registers the Slack delivery
    /// profile for the latter.
    pub async fn init(
        deps: WorkspaceDeps,
        settings: WorkspaceSettings,
        profiles: &Profiles,
    ) -> anyhow::Result<Arc<Self>> {
        let team = deps.store.ensure_team(&TeamId::generate()).await?;
        let events_app = events::ensure_app(&deps.store).await?;
        let outgoing_app = outgoing::ensure_app(&deps.store).await?;
        let slack_events_app = events_api::ensure_app(&deps.store).await?;
        let events_schedule = settings.events_retry_schedule.clone();
        let workspace = Arc::new(Self {
            guard: guard::Guard::new(&settings),
            web_api_limiter: bot::WebApiLimiter::new(settings.web_api_rate),
            deps,
            settings,
            team,
            events_app,
            outgoing_app: outgoing_app.clone(),
            incidents_recorded: Default::default(),
            slack_events_app: slack_events_app.clone(),
            apps_cache: Default::default(),
            ephemeral: Default::default(),
            response_uses: Default::default(),
        });
        profiles.register(
            outgoing_app,
            Arc::new(callback::SlackProfile::new(Arc::downgrade(&workspace))),
        );
        profiles.register(
            slack_events_app,
            Arc::new(events_api::SlackEventsProfile::new(
                Arc::downgrade(&workspace),
                events_schedule,
            )),
        );
        Ok(workspace)
    }

    pub fn team_id(&self) -> &TeamId {
        &self.team
    }

    /// The id of the `workspace` application (events).
    pub fn events_app(&self) -> &AppId {
        &self.events_app
    }

    /// The guard: client addresses behind trusted proxies, blocks, admin-token failures.
    pub fn guard(&self) -> &guard::Guard {
        &self.guard
    }

    pub fn store(&self) -> &DynStore {
        &self.deps.store
    }
}

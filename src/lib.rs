//! Kanca: a self-hosted webhook server in one binary.
//!
//! It sends (a Svix-compatible API that delivers signed events with retries), receives
//! (Slack-compatible incoming and outgoing webhooks) and inspects (request bins). One node
//! runs on an embedded SQLite file; many nodes can share PostgreSQL.
//!
//! The map of the crate, from the bottom layer up (each layer only uses the ones above it in
//! this list):
//!
//! - [`domain`]: the values Kanca works with (ids, names, URLs, secrets, records), parsed at
//!   the boundary; no I/O.
//! - [`clock`]: the time Kanca goes by, which tests can move forward.
//! - [`store`]: the storage interface and its backends. The database is also the delivery
//!   queue.
//! - [`delivery`]: the engine that claims due deliveries, signs and sends them through the
//!   SSRF guard, records every attempt and schedules retries.
//! - [`live`]: news for live streams (a channel, a bin): wakes the SSE clients watching a
//!   topic, on every node.
//! - [`inspect`]: request bins: capture, custom responses, cap and time to live, replay and
//!   export; the API, the console and `kanca listen` all go through it.
//! - [`workspace`]: the Slack-compatible workspace: channels, messages, incoming and outgoing
//!   webhooks (Slack's wire protocol), their security guard, and the events they publish;
//!   Slack apps, their bot users and what a bot does through Slack's Web API.
//! - [`send`]: the sending side as a service: applications, event types, endpoints and
//!   messages, with the operational events their changes store; publishing and waking the
//!   dispatcher happen here only.
//! - [`sources`]: sources (Svix's Ingest API): a provider's webhooks verified by its scheme,
//!   deduplicated, stored with one delivery per destination and delivered on by the engine.
//! - [`services`]: the services above and the HTTP settings, built by `startup`, as the
//!   routes reach them.
//! - [`error`]: the API's error type and how it answers (the services' errors become it).
//! - [`http`]: what the API and the console share: who is asking (client address, admin
//!   token) and live streams that resume.
//! - [`api`]: the HTTP API (`/api/v1`), one router per resource: request → domain values →
//!   a service call → Svix's answer; beside it Slack's Web API (`/api/{method}`).
//! - [`web`]: the web console at `/` (server-rendered pages, session sign-in), a peer of the
//!   API that calls the same services and never imports it.
//! - [`config`]: settings from defaults, `kanca.toml`, `KANCA_*` and flags.
//! - [`http_server`]: the accept loop: header-read and idle timeouts, a connection limit,
//!   a shutdown that half-sent requests cannot hold up.
//! - [`startup`]: [`startup::Application`] binds, runs and shuts down the whole.
//! - [`telemetry`]: logging setup.
//! - [`bench`](mod@bench): `kanca bench`, a load generator and receiver that measure a server from outside
//!   through its public API; it uses none of the modules above, so it measures Kanca the way
//!   it would any Svix-compatible server.
//! - [`cli`]: the subcommands of the `kanca` binary.

pub mod api;
pub mod bench;
pub mod cli;
pub mod clock;
pub mod config;
pub mod delivery;
pub mod domain;
pub mod error;
pub mod http;
pub mod http_server;
pub mod inspect;
pub mod live;
pub mod send;
pub mod services;
pub mod sources;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod web;
pub mod workspace;

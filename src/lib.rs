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
//! - [`store`]: the storage interface and its backends. The database is also the delivery
//!   queue.
//! - [`delivery`]: the engine that claims due deliveries, signs and sends them through the
//!   SSRF guard, records every attempt and schedules retries.
//! - [`live`]: news for live streams (a channel, a bin): wakes the SSE clients watching a
//!   topic, on every node.
//! - [`inspect`]: request bins: capture, custom responses, cap and time to live, replay and
//!   export; the API, the console and `kanca listen` all go through it.
//! - [`workspace`]: the Slack-compatible workspace: channels, messages, incoming and outgoing
//!   webhooks (Slack's wire protocol), their security guard, and the events they publish.
//! - [`api`]: the HTTP API (`/api/v1`), one router per resource.
//! - [`web`]: the web console at `/` (server-rendered pages, session sign-in), beside the
//!   API and calling the same functions.
//! - [`error`]: the API's error type and how it answers.
//! - [`clock`]: the time Kanca goes by, which tests can move forward.
//! - [`config`]: settings from defaults, `kanca.toml`, `KANCA_*` and flags.
//! - [`http_server`]: the accept loop: header-read and idle timeouts, a connection limit,
//!   a shutdown that half-sent requests cannot hold up.
//! - [`startup`]: [`startup::Application`] binds, runs and shuts down the whole.
//! - [`telemetry`]: logging setup.
//! - [`bench`]: `kanca bench`, a load generator and receiver that measure a server from outside
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
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod web;
pub mod workspace;

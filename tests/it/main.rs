//! Kanca's integration tests, in one binary so that the harness (`common`) and every test
//! compile once.
//!
//! Two kinds of test live here:
//!
//! - **Black-box tests**, one module per area: the real `kanca` binary (for `clock`, the
//!   application in-process) on `127.0.0.1:0`, driven over HTTP, delivering to real receivers.
//!   They run on the backend that the environment chooses at run time, `KANCA_TEST_BACKEND`:
//!   `sqlite` (the default; a fresh data directory per server) or `postgres` (a fresh database
//!   per server on `KANCA_TEST_DATABASE_URL`'s server). The same compiled binary serves both.
//! - **The store contract** (`store_contract`), the `Store` interface called directly: every
//!   contract test runs once per backend in the same run, on a fresh SQLite file always, and on
//!   a fresh PostgreSQL database when `KANCA_TEST_DATABASE_URL` is set. Set, it is required
//!   (an unreachable server fails the tests); unset, the PostgreSQL half prints why it skips.
//!
//! So the README's `cargo test` means: unit tests, the black-box suite on SQLite, and the store
//! contract on every backend there is. The black-box suite on PostgreSQL is a second run of
//! this binary, which `.ci/run` makes after the first:
//!
//! ```sh
//! KANCA_TEST_BACKEND=postgres cargo test --test it -- --skip store_contract::
//! ```
//!
//! (`--skip` because the first run already held the store contract to both backends.) A test
//! that only makes sense on one backend (SQLite's write-ahead log and size cap, a PostgreSQL
//! outage, several nodes on one database) asks `common::runs_on` and, on the other, prints
//! `SKIPPED <test>: <why>` past the harness's output capture, so skips show in every log.

mod common;

mod bad_input;
mod bench_inbound;
mod bench_report;
mod bins_capture;
mod bins_cluster;
mod bins_flow;
mod clock;
mod console_browser;
mod console_http;
mod console_live;
mod console_pages;
mod console_screenshots;
mod console_slack;
mod durability;
mod fair_delivery;
mod fanout;
mod hardening;
mod idempotency;
mod listen;
mod portal_access;
mod portal_browser;
mod portal_endpoint_form;
mod portal_logo;
mod portal_message_log;
mod portal_pages;
mod reliability;
mod retries;
mod scale_out;
mod slack_events;
mod slack_interact;
mod slack_store;
mod slack_web_api;
mod source_schedules;
mod sources;
mod storage_faults;
mod store_contract;
mod svix_compat;
mod svix_sdk;
mod workspace_atomic;
mod workspace_channels;
mod workspace_incoming;
mod workspace_outgoing;
mod workspace_security;
mod workspace_store;

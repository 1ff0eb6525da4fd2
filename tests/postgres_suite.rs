//! The whole black-box suite again, against PostgreSQL.
//!
//! Built only when `KANCA_TEST_DATABASE_URL` is set (`build.rs` sets the `kanca_pg_suite` cfg;
//! `.ci/run` sets the variable). Each test file is compiled here once more as a module; its
//! harness sees that it lives in this crate (`common::postgres_suite`) and gives every server
//! a fresh database on that PostgreSQL.
#![cfg(kanca_pg_suite)]
// Each test file brings its own `mod common;`, so the harness is compiled once per file here,
// exactly as it is in the files' own binaries. That is deliberate: the files stay unchanged.
#![allow(clippy::duplicate_mod)]

#[path = "bad_input.rs"]
mod bad_input;
#[path = "bench_inbound.rs"]
mod bench_inbound;
#[path = "bins_capture.rs"]
mod bins_capture;
#[path = "bins_flow.rs"]
mod bins_flow;
#[path = "clock.rs"]
mod clock;
#[path = "console_browser.rs"]
mod console_browser;
#[path = "console_http.rs"]
mod console_http;
#[path = "console_live.rs"]
mod console_live;
#[path = "console_pages.rs"]
mod console_pages;
#[path = "durability.rs"]
mod durability;
#[path = "fair_delivery.rs"]
mod fair_delivery;
#[path = "fanout.rs"]
mod fanout;
#[path = "hardening.rs"]
mod hardening;
#[path = "idempotency.rs"]
mod idempotency;
#[path = "listen.rs"]
mod listen;
#[path = "reliability.rs"]
mod reliability;
#[path = "retries.rs"]
mod retries;
#[path = "svix_compat.rs"]
mod svix_compat;
#[path = "svix_sdk.rs"]
mod svix_sdk;
#[path = "workspace_atomic.rs"]
mod workspace_atomic;
#[path = "workspace_channels.rs"]
mod workspace_channels;
#[path = "workspace_incoming.rs"]
mod workspace_incoming;
#[path = "workspace_outgoing.rs"]
mod workspace_outgoing;
#[path = "workspace_security.rs"]
mod workspace_security;
#[path = "workspace_store.rs"]
mod workspace_store;

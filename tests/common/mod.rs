//! The black-box test harness: the real `kanca` binary on a random port, real HTTP receivers
//! standing in for webhook consumers, and bounded waits between the two.
//!
//! - `server`: spawning, restarting and `kill -9`-ing the binary on a throwaway data dir.
//! - `receiver`: a scripted HTTP server that records every delivery.
//! - `api`: JSON calls to `/api/v1` and the resource helpers shared by the test files.
//! - `wait`: bounded polling of server-side state, and the one deliberate settle delay.
//! - `database`: a fresh PostgreSQL database per server in the suite's PostgreSQL run.
//! - `browser`: headless Chromium over WebDriver, for the console's browser tests.
//! - `bins`: request bins: creating them, sending to them, reading their live stream, and
//!   running `kanca listen`.
//! - `workspace`: channels, hook URLs, fixtures, live streams and a bot for the workspace tests.

// Each test file is its own crate and uses only part of the harness; the rest would be
// reported as dead code (and its re-exports as unused) once per file.
#![allow(dead_code, unused_imports)]

mod api;
mod bins;
mod browser;
mod database;
mod receiver;
mod server;
mod wait;
mod workspace;

pub use api::*;
pub use bins::*;
pub use browser::Browser;
pub use database::{postgres_suite, TestDatabase};
pub use receiver::{Receiver, RecordedRequest, Reply};
pub use server::{ServerOptions, TestServer};
pub use wait::{eventually, settle, SETTLE, WAIT};
pub use workspace::*;

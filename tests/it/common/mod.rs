//! The black-box test harness: the real `kanca` binary on a random port, real HTTP receivers
//! standing in for webhook consumers, and bounded waits between the two.
//!
//! - `server`: spawning, restarting and `kill -9`-ing the binary on a throwaway data dir.
//! - `receiver`: a scripted HTTP server that records every delivery.
//! - `api`: JSON calls to `/api/v1` and the resource helpers shared by the test files.
//! - `wait`: bounded polling of server-side state, and the one deliberate settle delay.
//! - `database`: which backend this run's servers use (`KANCA_TEST_BACKEND`), skips for tests
//!   that only make sense on one, and a fresh PostgreSQL database per server.
//! - `browser`: headless Chromium over WebDriver, for the console's browser tests.
//! - `console`: a signed-in console session over plain HTTP (cookie, CSRF token, streams).
//! - `portal`: an app portal session over plain HTTP (the link's cookies, CSRF token).
//! - `bins`: request bins: creating them, sending to them, reading their live stream, and
//!   running `kanca listen`.
//! - `slack`: a Slack app's HTTP side (signature checks, `url_verification`, scripted answers).
//! - `workspace`: channels, hook URLs, fixtures, live streams and a bot for the workspace tests.

mod api;
mod bins;
mod browser;
mod console;
mod database;
mod portal;
mod receiver;
mod server;
mod slack;
mod wait;
mod workspace;

pub use api::*;
pub use bins::*;
pub use browser::Browser;
pub use console::Console;
pub use database::{postgres_url, runs_on, skipped, Backend, TestDatabase};
pub use portal::{issue_portal_link, Portal};
pub use receiver::{Receiver, RecordedRequest, Reply};
pub use server::{ServerOptions, TestServer};
pub use slack::*;
pub use wait::{eventually, settle, WAIT};
pub use workspace::*;

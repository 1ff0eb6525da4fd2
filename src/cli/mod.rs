//! The `kanca` command line: one file per subcommand.

mod bench;
mod listen;
mod migrate;
mod serve;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Kanca: a self-hosted webhook server. Send signed webhooks with retries through a
/// Svix-compatible API, receive Slack-compatible webhooks, inspect requests.
#[derive(Debug, Parser)]
#[command(name = "kanca", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: migrate the database, serve the API, deliver messages.
    // Boxed: its many settings make it much larger than the other variants.
    Serve(Box<crate::config::ServeArgs>),
    /// Bring the database schema up to date and exit.
    Migrate(crate::config::DatabaseArgs),
    /// Measure publish and delivery rates, latency and memory of Kanca or of any
    /// Svix-compatible server.
    ///
    /// By default it starts `kanca serve` itself on a throwaway SQLite data dir (or on
    /// PostgreSQL with --database-url, on --nodes nodes), runs its own receiver on loopback,
    /// publishes through the API and times publish → delivery. With --server it measures a
    /// running server instead. With --scenario incoming-webhook or bin it posts to a Slack
    /// incoming webhook or a request bin instead and times post → 2xx and post → seen on the
    /// live stream. It reports and judges nothing.
    Bench(bench::BenchArgs),
    /// Forward what a bin receives to a local server, so a laptop can receive real webhooks.
    ///
    /// Creates a bin on the Kanca server (or reuses --bin), prints its public URL, and
    /// forwards every request captured there to --forward-to: same method, path under the
    /// bin, query string, headers (minus connection-level ones) and body. One line per request
    /// shows the time, method, path, the local answer's status and latency.
    ///
    /// It survives restarts on both sides without losing a request: when the server goes away
    /// it reconnects with backoff and resumes after the last request it forwarded; when the
    /// local app is down it retries that request with backoff before moving on. Ctrl-C or
    /// SIGTERM stops it.
    Listen(listen::ListenArgs),
}

impl Cli {
    pub fn run(self) -> ExitCode {
        let runtime = match tokio::runtime::Runtime::new() {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("error: cannot start the async runtime: {e}");
                return ExitCode::FAILURE;
            }
        };
        let result = runtime.block_on(async {
            match self.command {
                Command::Serve(args) => serve::run(*args).await,
                Command::Migrate(args) => migrate::run(args).await,
                Command::Bench(args) => bench::run(args).await,
                Command::Listen(args) => listen::run(args).await,
            }
        });
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        }
    }
}

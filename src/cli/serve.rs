//! `kanca serve`: runs the server until SIGINT or SIGTERM.

use crate::config::{ServeArgs, Settings};
use crate::startup::Application;

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let settings = Settings::load(args)?;
    crate::telemetry::init(settings.log_format);
    let app = Application::build(settings.clone()).await?;
    if app.token_was_generated() {
        // Printed to the terminal once, never logged: it is a credential.
        eprintln!(
            "Generated an admin API token (kept in {}):\n\n    {}\n",
            settings.data_dir.join("admin-token").display(),
            app.admin_token()
        );
    }
    // Tests and scripts read this line to learn the port when listening on port 0.
    println!("kanca listening on http://{}", app.local_addr());
    tracing::info!(address = %app.local_addr(), database = %redact(&settings.database_url), "kanca started");

    let shutdown = app.shutdown_token();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: finishing in-flight deliveries");
        shutdown.cancel();
    });
    app.run_until_stopped().await
}

/// A database URL without its password, for logs.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Ctrl-C (SIGINT) or SIGTERM; `kanca listen` stops on the same signals.
pub(super) async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

//! PostgreSQL `LISTEN`/`NOTIFY`: how one node hears what another has committed.
//!
//! Two channels use it: `kanca_work` (new deliveries were queued: wake the dispatcher) and
//! `kanca_live` (a live stream's topic has news: wake the SSE clients connected here). A
//! notification only says "look again"; what changed is always read from the database, so a
//! lost notification costs latency, never data.

use super::PgStore;
use crate::store::StoreResult;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Called with a notification's payload, or with `None` after the connection was lost and
/// restored (notifications sent meanwhile are gone, so the listener should look at everything).
pub(super) type OnNotification = crate::store::OnLiveTopic;

/// Listens on `channel` and calls `on_note` for every notification, until the store is
/// dropped. The first LISTEN happens before this returns, so its error is the caller's and a
/// notification sent after it is never missed. The listener has its own connection, not one
/// of the pool's: it is held for good and would otherwise shrink the pool by one.
pub(super) async fn watch(
    s: &PgStore,
    channel: &'static str,
    on_note: OnNotification,
) -> StoreResult<()> {
    let options = s.options.clone();
    let mut listener = listen(&options, channel).await?;
    let stop = s.stop.clone();
    tokio::spawn(async move {
        loop {
            let received = tokio::select! {
                r = listener.try_recv() => r,
                _ = stop.cancelled() => return,
            };
            match received {
                Ok(Some(note)) => on_note(Some(note.payload())),
                // The connection dropped and sqlx has reconnected and listens again.
                // Notifications sent in between are lost.
                Ok(None) => {
                    tracing::warn!(
                        channel,
                        "a notification listener lost its connection and reconnected"
                    );
                    on_note(None);
                }
                // sqlx could not reconnect, or the connection broke in a way it does not
                // recognise and may not recover from: start over with a new listener.
                Err(e) => {
                    tracing::warn!(channel, error = %e, "a notification listener failed; reconnecting");
                    let Some(fresh) = relisten(&options, channel, &stop).await else {
                        return;
                    };
                    listener = fresh;
                    tracing::info!(channel, "the notification listener is connected again");
                    on_note(None);
                }
            }
        }
    });
    Ok(())
}

/// Sends one notification now (outside any transaction: callers notify after they commit).
pub(super) async fn notify(s: &PgStore, channel: &str, payload: &str) -> StoreResult<()> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(channel)
        .bind(payload)
        .execute(&s.pool)
        .await?;
    Ok(())
}

async fn listen(options: &PgConnectOptions, channel: &str) -> Result<PgListener, sqlx::Error> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with(options.clone());
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.listen(channel).await?;
    Ok(listener)
}

/// Tries to listen again, backing off up to a few seconds between tries, until it works or
/// the store is dropped (`None`). Meanwhile safety polls still find work.
async fn relisten(
    options: &PgConnectOptions,
    channel: &str,
    stop: &CancellationToken,
) -> Option<PgListener> {
    let mut backoff = Duration::from_millis(100);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.cancelled() => return None,
        }
        match listen(options, channel).await {
            Ok(listener) => return Some(listener),
            Err(e) => {
                tracing::warn!(channel, error = %e, retry_in = ?backoff, "a notification listener could not reconnect");
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

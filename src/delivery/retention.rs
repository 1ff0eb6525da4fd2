//! The payload retention cleaner: drops message payloads once `payloadRetentionPeriod` has
//! passed. Messages and their attempts stay, so the delivery log is complete; only the
//! content goes (and such a message can no longer be resent).

use crate::clock::Clock;
use crate::store::DynStore;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How many payloads the cleaner clears per statement (small batches keep the single SQLite
/// writer free for deliveries).
const BATCH: u32 = 1000;

/// Clears expired payloads now, then every `every`, until `shutdown`.
pub async fn run(store: DynStore, clock: Clock, every: Duration, shutdown: CancellationToken) {
    loop {
        loop {
            match store.clear_expired_payloads(clock.now(), BATCH).await {
                Ok(n) if n == u64::from(BATCH) => continue,
                Ok(0) => break,
                Ok(n) => {
                    tracing::info!(messages = n, "cleared payloads past their retention period");
                    break;
                }
                Err(e) => {
                    tracing::error!(error = %e, "clearing expired payloads failed");
                    break;
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

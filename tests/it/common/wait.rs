//! Bounded waiting for state that only the server can report.
//!
//! Deliveries are awaited on the receiver itself (it wakes waiters as requests land); what the
//! server records about them (attempts, delivery status) can only be polled. Every wait here is
//! bounded, so a broken server fails the test with the last thing it said instead of hanging.

use std::future::Future;
use std::time::Duration;

/// The longest any single wait in these tests lasts.
pub const WAIT: Duration = Duration::from_secs(15);

/// How long to keep listening for deliveries that must *not* come. Longer than the whole
/// test retry schedule (100 ms + 200 ms, ±20 %), so a stray retry would land within it.
pub const SETTLE: Duration = Duration::from_millis(800);

/// How often `eventually` asks the server again.
const POLL_EVERY: Duration = Duration::from_millis(50);

/// Calls `probe` until it returns `Ok`, for at most `WAIT`. `Err` carries what was seen, which
/// is quoted in the panic message if the wait runs out.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(seen) if tokio::time::Instant::now() >= deadline => {
                panic!("timed out after {WAIT:?} waiting for {what}; last seen: {seen}")
            }
            Err(_) => tokio::time::sleep(POLL_EVERY).await,
        }
    }
}

/// Gives the server time to send anything it should not, before a test checks that nothing
/// more arrived. A negative check cannot be event-driven, so this one sleep is deliberate.
pub async fn settle() {
    tokio::time::sleep(SETTLE).await;
}

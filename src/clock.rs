//! The time Kanca goes by.
//!
//! Everything that compares against "now" for a rule that spans hours or days (secret
//! rotation grace periods, auto-disable after days of failures, retention, retry schedules)
//! reads this clock, so tests can move it forward instead of waiting. In production it is
//! the system clock with a zero offset.

use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// Now, to the millisecond (what the database keeps, so a record reads back as created).
    pub fn now(&self) -> DateTime<Utc> {
        let ms = Utc::now().timestamp_millis() + self.offset_ms.load(Ordering::Relaxed);
        DateTime::from_timestamp_millis(ms).unwrap_or_default()
    }

    /// Moves this clock (and every clone of it) forward.
    pub fn advance(&self, by: Duration) {
        self.offset_ms
            .fetch_add(by.as_millis() as i64, Ordering::Relaxed);
    }
}

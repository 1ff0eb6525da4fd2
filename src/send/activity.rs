//! An endpoint's deliveries over the last day or week, for the charts the console and the
//! app portal draw (`crate::web::delivery_chart`). The counting is the store's
//! ([`crate::store::charts`]); this picks the windows and reads the clock.

use super::{SendError, Sending};
use crate::domain::{AppId, EndpointId};
use crate::store::charts::{activity_buckets, ActivityBucket, ActivityWindow};
use chrono::{DateTime, Duration, Utc};

/// Which chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivitySpan {
    /// The last 24 hours, hour by hour.
    Day,
    /// The last 7 days, in 6-hour intervals.
    Week,
}

impl ActivitySpan {
    fn window(self, now: DateTime<Utc>) -> ActivityWindow {
        let (width, count) = match self {
            Self::Day => (Duration::hours(1), 24),
            Self::Week => (Duration::hours(6), 28),
        };
        // Intervals end on whole hours (or 6 hours), so bars line up from one load to the next.
        let w = width.num_milliseconds();
        let end_ms = (now.timestamp_millis() / w + 1) * w;
        ActivityWindow {
            end: DateTime::from_timestamp_millis(end_ms).unwrap_or(now),
            width,
            count,
        }
    }
}

impl Sending {
    /// The endpoint's attempts per interval of `span`, oldest first.
    pub async fn endpoint_activity(
        &self,
        app: &AppId,
        endpoint: &EndpointId,
        span: ActivitySpan,
    ) -> Result<Vec<ActivityBucket>, SendError> {
        let window = span.window(self.clock.now());
        let counts = self.store.activity_counts(app, endpoint, window).await?;
        Ok(activity_buckets(window, &counts))
    }
}

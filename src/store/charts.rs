//! An endpoint's deliveries over time, for the charts of the console and the app portal:
//! per interval, attempts that succeeded and failed, and latency p50/p99.
//!
//! The database does the counting, so a busy endpoint's week is not read row by row: each
//! backend groups the window's attempts by interval, outcome and a latency class
//! ([`latency_class_sql`], one `CASE` both backends run) and returns counts
//! ([`ActivityCount`]). Percentiles come from those per-class counts here, once for both
//! backends ([`activity_buckets`]): a percentile is reported as the upper bound of the class
//! it falls in, which is as precise as a chart can show (the classes grow by about ×2).

use super::StoreResult;
use crate::domain::{AppId, EndpointId};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

/// Upper bounds (ms) of the latency classes; the last class is everything slower.
pub const LATENCY_BOUNDS_MS: [i64; 14] = [
    5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 15_000, 30_000, 60_000,
];

/// The `CASE` that gives an attempt's latency class from `duration_ms`.
pub fn latency_class_sql() -> String {
    let mut sql = String::from("CASE");
    for (i, bound) in LATENCY_BOUNDS_MS.iter().enumerate() {
        sql.push_str(&format!(" WHEN duration_ms < {bound} THEN {i}"));
    }
    sql.push_str(&format!(" ELSE {} END", LATENCY_BOUNDS_MS.len()));
    sql
}

/// One group of a window's attempts, as a backend counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActivityCount {
    /// Which interval of the window (0 = the oldest).
    pub bucket: i64,
    pub succeeded: bool,
    /// Index into [`LATENCY_BOUNDS_MS`] (its length: slower than every bound).
    pub class: usize,
    pub count: u64,
}

/// One interval of a chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityBucket {
    pub start: DateTime<Utc>,
    pub succeeded: u64,
    pub failed: u64,
    /// `None` when nothing was attempted in the interval.
    pub p50_ms: Option<i64>,
    pub p99_ms: Option<i64>,
}

/// The window a chart shows: `count` intervals of `width`, ending at `end`.
#[derive(Debug, Clone, Copy)]
pub struct ActivityWindow {
    pub end: DateTime<Utc>,
    pub width: Duration,
    pub count: u32,
}

impl ActivityWindow {
    pub fn start(&self) -> DateTime<Utc> {
        self.end - self.width * self.count as i32
    }
}

#[async_trait]
pub trait ActivityStore {
    /// The endpoint's attempts in the window, counted by interval, outcome and latency class.
    async fn activity_counts(
        &self,
        app: &AppId,
        endpoint: &EndpointId,
        window: ActivityWindow,
    ) -> StoreResult<Vec<ActivityCount>>;
}

/// The chart's intervals from a backend's counts (intervals without attempts included).
pub fn activity_buckets(window: ActivityWindow, counts: &[ActivityCount]) -> Vec<ActivityBucket> {
    let start = window.start();
    (0..window.count as i64)
        .map(|b| {
            let mut classes = vec![0u64; LATENCY_BOUNDS_MS.len() + 1];
            let (mut succeeded, mut failed) = (0, 0);
            for c in counts.iter().filter(|c| c.bucket == b) {
                if c.succeeded {
                    succeeded += c.count;
                } else {
                    failed += c.count;
                }
                classes[c.class.min(LATENCY_BOUNDS_MS.len())] += c.count;
            }
            ActivityBucket {
                start: start + window.width * b as i32,
                succeeded,
                failed,
                p50_ms: percentile(&classes, 50),
                p99_ms: percentile(&classes, 99),
            }
        })
        .collect()
}

/// The upper bound of the class the `pct`th percentile falls in (the last class reads as
/// twice the last bound).
fn percentile(classes: &[u64], pct: u64) -> Option<i64> {
    let total: u64 = classes.iter().sum();
    if total == 0 {
        return None;
    }
    // The rank of the percentile, 1-based, rounded up: p99 of 10 attempts is the 10th.
    let rank = (total * pct).div_ceil(100).max(1);
    let mut seen = 0;
    for (i, n) in classes.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return Some(
                LATENCY_BOUNDS_MS
                    .get(i)
                    .copied()
                    .unwrap_or(LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.len() - 1] * 2),
            );
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_class_sql_covers_every_bound() {
        let sql = latency_class_sql();
        assert!(sql.starts_with("CASE WHEN duration_ms < 5 THEN 0"));
        assert!(sql.ends_with("ELSE 14 END"));
    }

    #[test]
    fn buckets_count_outcomes_and_place_percentiles_in_their_class() {
        let window = ActivityWindow {
            end: DateTime::from_timestamp(3600 * 3, 0).unwrap(),
            width: Duration::hours(1),
            count: 3,
        };
        let counts = [
            ActivityCount {
                bucket: 0,
                succeeded: true,
                class: 1,
                count: 98,
            },
            ActivityCount {
                bucket: 0,
                succeeded: false,
                class: 9,
                count: 2,
            },
            ActivityCount {
                bucket: 2,
                succeeded: false,
                class: 14,
                count: 1,
            },
        ];
        let b = activity_buckets(window, &counts);
        assert_eq!(b.len(), 3);
        assert_eq!(b[0].start, DateTime::from_timestamp(0, 0).unwrap());
        assert_eq!((b[0].succeeded, b[0].failed), (98, 2));
        assert_eq!(b[0].p50_ms, Some(10));
        assert_eq!(b[0].p99_ms, Some(5_000));
        assert_eq!((b[1].succeeded, b[1].failed, b[1].p50_ms), (0, 0, None));
        assert_eq!(b[2].p99_ms, Some(120_000));
    }
}

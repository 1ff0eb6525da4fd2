//! When to try again: the retry schedule (`KANCA_RETRY_SCHEDULE`) with jitter.
//!
//! The first attempt is immediate; entry *n* of the schedule is the wait before retry *n*.
//! Each wait is spread by ±20 % so that deliveries that failed together (an endpoint went
//! down) do not all come back in the same millisecond.

use chrono::{DateTime, Utc};
use rand::Rng;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(Vec<Duration>);

impl RetrySchedule {
    /// Parses `5s,5m,30m,2h`; an empty string means "never retry".
    pub fn parse(s: &str) -> Result<Self, String> {
        let waits = s
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                humantime::parse_duration(p).map_err(|e| format!("retry schedule entry `{p}`: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self(waits))
    }

    /// How many attempts a delivery gets in all.
    pub fn max_attempts(&self) -> usize {
        self.0.len() + 1
    }

    /// When to retry after `attempts_made` attempts have failed, or `None` when the schedule
    /// is used up and the delivery has failed for good.
    pub fn next_attempt_at(&self, attempts_made: u32, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let wait = *self.0.get((attempts_made as usize).checked_sub(1)?)?;
        let factor = rand::thread_rng().gen_range(0.8..=1.2);
        let jittered = Duration::from_secs_f64(wait.as_secs_f64() * factor);
        Some(now + chrono::Duration::from_std(jittered).unwrap_or(chrono::Duration::MAX))
    }
}

impl Default for RetrySchedule {
    fn default() -> Self {
        Self::parse("5s,5m,30m,2h,5h,10h,10h").expect("default schedule parses")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_default_and_short_test_schedules() {
        assert_eq!(RetrySchedule::default().max_attempts(), 8);
        let s = RetrySchedule::parse("100ms,200ms").unwrap();
        assert_eq!(
            s.0,
            vec![Duration::from_millis(100), Duration::from_millis(200)]
        );
        assert!(RetrySchedule::parse("5 parsecs").is_err());
    }

    #[test]
    fn retries_follow_the_schedule_with_jitter_then_stop() {
        let s = RetrySchedule::parse("10s,100s").unwrap();
        let now = Utc::now();
        for _ in 0..100 {
            let first = s.next_attempt_at(1, now).unwrap() - now;
            assert!(
                (8_000..=12_000).contains(&first.num_milliseconds()),
                "{first}"
            );
            let second = s.next_attempt_at(2, now).unwrap() - now;
            assert!(
                (80_000..=120_000).contains(&second.num_milliseconds()),
                "{second}"
            );
        }
        assert_eq!(s.next_attempt_at(3, now), None);
        assert_eq!(s.next_attempt_at(0, now), None);
    }
}

//! Scheduled webhooks: `cron` sources, whose payload Kanca itself sends on their schedule.
//!
//! A tick becomes a message of the source, exactly as a provider's accepted request does
//! ([`Sources::fire`]), so its endpoints get it through the delivery engine with retries and
//! the attempt log, and a source that publishes into an application publishes it there too.
//!
//! Each tick's message has the eventId `cron-{unix seconds}`, unique within the source, so a
//! tick is sent once however many nodes run this loop: the first to commit wins and the
//! others' attempts are refused as duplicates. That also makes a restart safe: the loop's
//! first pass fires each source's most recent tick (if it came after the source was created
//! or last changed), which is a no-op when it was sent and the one missed tick when the server
//! was down at that time. Older missed ticks are not sent (as anacron, not as a replay of
//! every minute of an outage).
//!
//! The loop sleeps until the earliest next tick of any source, or until a source is created
//! or changed on this node ([`Sources::cron_changed`]), and looks at the list again at least
//! every [`RESCAN`] for sources changed on other nodes.

use super::Sources;
use crate::domain::sources::{Source, SourceKind};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the list of cron sources is read again even when nothing is due.
pub const RESCAN: Duration = Duration::from_secs(30);
/// How long to wait after the store failed before trying again.
const RETRY: Duration = Duration::from_secs(5);

/// Runs the schedules until `shutdown`.
pub async fn run(sources: Arc<Sources>, shutdown: CancellationToken) {
    // The latest tick handled per source (sent, or found sent by another node).
    let mut handled: HashMap<String, DateTime<Utc>> = HashMap::new();
    loop {
        let wait = match sources.store.cron_sources().await {
            Ok(list) => {
                handled.retain(|id, _| list.iter().any(|s| s.id.as_str() == id));
                let mut next: Option<DateTime<Utc>> = None;
                for source in &list {
                    let SourceKind::Cron(schedule) = &source.fields.kind else {
                        continue;
                    };
                    let now = sources.clock.now();
                    let due = due_tick(source, schedule.last_at_or_before(now))
                        .filter(|tick| handled.get(source.id.as_str()) < Some(tick));
                    if let Some(tick) = due {
                        if sources.fire(source, tick).await {
                            handled.insert(source.id.as_str().to_owned(), tick);
                        }
                    }
                    if let Some(t) = schedule.next_after(now) {
                        next = Some(next.map_or(t, |n| n.min(t)));
                    }
                }
                next.map(|t| (t - sources.clock.now()).to_std().unwrap_or_default())
                    .map_or(RESCAN, |d| d.min(RESCAN))
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not read the cron sources; trying again");
                RETRY
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = sources.cron_changed.notified() => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// The tick to send: the schedule's latest, if it came after the source was last set (a
/// new schedule does not fire for a time before it existed).
fn due_tick(source: &Source, latest: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    latest.filter(|t| *t > source.updated_at.max(source.created_at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::sources::*;
    use chrono::TimeZone;

    #[test]
    fn a_schedule_fires_only_for_ticks_after_it_was_set() {
        let kind = SourceKind::parse(
            "cron",
            Some(&serde_json::json!({ "schedule": "*/5 * * * *", "payload": "{}" })),
        )
        .unwrap();
        let SourceKind::Cron(schedule) = &kind else {
            unreachable!()
        };
        let set = Utc.with_ymd_and_hms(2026, 1, 1, 12, 1, 0).unwrap();
        let source = Source {
            id: SourceId::generate(),
            app_id: crate::domain::AppId::generate(),
            fields: SourceFields {
                uid: None,
                name: "t".into(),
                kind: kind.clone(),
                metadata: Default::default(),
                publish_to: None,
            },
            token: IngestToken::generate(),
            created_at: set,
            updated_at: set,
        };
        let at = |m| Utc.with_ymd_and_hms(2026, 1, 1, 12, m, 0).unwrap();
        assert_eq!(due_tick(&source, schedule.last_at_or_before(at(4))), None);
        assert_eq!(
            due_tick(&source, schedule.last_at_or_before(at(7))),
            Some(at(5))
        );
        assert_eq!(schedule.next_after(at(5)), Some(at(10)));
    }

    #[test]
    fn bad_schedules_and_payloads_are_refused() {
        for config in [
            serde_json::json!({ "payload": "{}" }),
            serde_json::json!({ "schedule": "not cron", "payload": "{}" }),
            serde_json::json!({ "schedule": "* * * * *" }),
            serde_json::json!({ "schedule": "* * * * *", "payload": 5 }),
            serde_json::json!({ "schedule": "* * * * *", "payload": "{}", "contentType": "a\nb" }),
        ] {
            assert!(
                SourceKind::parse("cron", Some(&config)).is_err(),
                "{config}"
            );
        }
        let ok = SourceKind::parse(
            "cron",
            Some(&serde_json::json!({ "schedule": "*/10 * * * * *", "payload": "x" })),
        );
        assert!(ok.is_ok(), "six fields (seconds) are a Kanca extension");
    }
}

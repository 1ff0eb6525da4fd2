//! Delivery metrics in Prometheus form, served at `/metrics`.
//!
//! Counters and the latency histogram are updated as attempts end; queue depth is read from
//! the store when scraped, so it is exact rather than tracked.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::Arc;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum OutcomeLabel {
    Delivered,
    FailedWillRetry,
    FailedExhausted,
    EndpointGone,
    Canceled,
    Throttled,
    NotRecorded,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: OutcomeLabel,
}

#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    pub deliveries: Family<OutcomeLabels, Counter>,
    pub attempt_seconds: Histogram,
    pub in_flight: Gauge,
    pub queue_due: Gauge,
    pub queue_scheduled: Gauge,
    /// Writes refused for want of storage since start (a count; set when scraped).
    pub storage_write_failures: Gauge,
    /// 1 while writes are failing for want of storage.
    pub storage_failing: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let deliveries = Family::<OutcomeLabels, Counter>::default();
        // 1 ms to ~33 s.
        let attempt_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        let in_flight = Gauge::default();
        let queue_due = Gauge::default();
        let queue_scheduled = Gauge::default();
        let storage_write_failures = Gauge::default();
        let storage_failing = Gauge::default();
        let mut registry = Registry::with_prefix("kanca");
        registry.register(
            "deliveries",
            "Delivery attempts (and deliveries sent back to wait) by outcome",
            deliveries.clone(),
        );
        registry.register(
            "attempt_duration_seconds",
            "How long delivery requests took, response body included",
            attempt_seconds.clone(),
        );
        registry.register(
            "deliveries_in_flight",
            "Delivery requests open now",
            in_flight.clone(),
        );
        registry.register(
            "queue_due",
            "Deliveries due now and waiting to be sent",
            queue_due.clone(),
        );
        registry.register(
            "queue_scheduled",
            "Deliveries scheduled for later (retries, throttled)",
            queue_scheduled.clone(),
        );
        registry.register(
            "storage_write_failures",
            "Writes that failed for want of storage (disk full, database down) since start",
            storage_write_failures.clone(),
        );
        registry.register(
            "storage_failing",
            "1 while writes fail for want of storage, else 0",
            storage_failing.clone(),
        );
        Self {
            registry: Arc::new(registry),
            storage_write_failures,
            storage_failing,
            deliveries,
            attempt_seconds,
            in_flight,
            queue_due,
            queue_scheduled,
        }
    }
}

impl Metrics {
    pub fn count(&self, outcome: OutcomeLabel) {
        self.deliveries
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

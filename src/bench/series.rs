//! What happened over the course of a run, interval by interval: publishes acknowledged,
//! deliveries (or posts seen on the stream), their latency p50/p99, and each spawned server's
//! memory and CPU. It is what the HTML report (`--report`) draws and what shows whether
//! memory stays flat while a backlog drains.
//!
//! The hot path pays one relaxed atomic add per delivery: the receiver (or the stream reader)
//! adds each latency to [`LatencyBins`], a fixed array of counters on a log scale (eight bins
//! per power of two, so a bin is at most 12.5 % wide). A sampler task takes the counters
//! (swapping them to zero) every [`TICK`], with the publish counter, and reads `/proc` for the
//! servers' RSS and CPU time; nothing is locked per message. A delivery counted while the
//! sampler sweeps the array may land in the next interval; the headline figures of the report
//! are computed from every sample at the end and do not depend on this.
//!
//! The interval grows with the run: when [`MAX_POINTS`] are recorded, neighbours are merged
//! and the interval doubles (250 ms, 500 ms, 1 s, …), so a short run has fine detail and an
//! hour-long one still has a few hundred points and bounded memory. The p50/p99 of an
//! interval are read from its bins (the bin's middle), so they are within about 6 % of the
//! exact value; the overall percentiles are exact.

use super::load::Live;
use super::rss;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// How often the sampler reads the counters.
pub const TICK: Duration = Duration::from_millis(250);

/// When this many intervals are recorded, neighbours are merged and the interval doubles.
const MAX_POINTS: usize = 400;

/// Bins 0..8 hold 0..8 µs exactly; above, each power of two has eight bins up to u32::MAX.
const BINS: usize = 8 + 29 * 8;

/// Latency counters on a log scale, shared by the receiver (adding) and the sampler (taking).
pub struct LatencyBins {
    counts: Box<[AtomicU64]>,
}

impl Default for LatencyBins {
    fn default() -> Self {
        Self {
            counts: (0..BINS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl LatencyBins {
    /// Counts one latency; the only cost a delivery pays for the time series.
    pub fn record(&self, latency_us: u32) {
        self.counts[bin_of(latency_us)].fetch_add(1, Ordering::Relaxed);
    }

    /// The counts since the last take, leaving zeros.
    fn take(&self) -> Vec<u64> {
        self.counts
            .iter()
            .map(|c| c.swap(0, Ordering::Relaxed))
            .collect()
    }
}

fn bin_of(us: u32) -> usize {
    if us < 8 {
        return us as usize;
    }
    let power = 31 - us.leading_zeros() as usize; // 3..=31
    let sub = ((us >> (power - 3)) & 7) as usize;
    8 + (power - 3) * 8 + sub
}

/// The middle of a bin, in µs.
fn bin_middle_us(bin: usize) -> f64 {
    if bin < 8 {
        return bin as f64;
    }
    let power = (bin - 8) / 8 + 3;
    let sub = (bin - 8) % 8;
    let width = (1u64 << (power - 3)) as f64;
    (8 + sub) as f64 * width + width / 2.0
}

/// The value at percentile `p` (nearest rank) of binned counts, in ms; `None` when empty.
fn percentile_ms(bins: &[u64], p: f64) -> Option<f64> {
    let total: u64 = bins.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = ((p / 100.0) * total as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (bin, &n) in bins.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return Some(round3(bin_middle_us(bin) / 1000.0));
        }
    }
    None
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The time series of a run, as reported in JSON (`series`). Interval *i* ends `endsMs[i]`
/// after the first publish and starts where the one before ended (at 0 for the first). The
/// intervals are `intervalMs` long as planned, but their ends are the times the sampler
/// actually ran, so a late sample (a busy machine) makes its interval longer rather than the
/// time axis wrong; the last one is between half an interval and one and a half long. In the
/// receive and inspect scenarios `published` counts accepted posts and `deliveries` posts
/// first seen on the stream.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Series {
    pub interval_ms: u64,
    pub ends_ms: Vec<u64>,
    /// Publishes acknowledged in each interval.
    pub published: Vec<u64>,
    /// Deliveries that first succeeded in each interval.
    pub deliveries: Vec<u64>,
    /// Latency of the interval's deliveries (null when it had none).
    pub p50_ms: Vec<Option<f64>>,
    pub p99_ms: Vec<Option<f64>>,
    /// The largest RSS of any spawned server sampled in the interval (null for `--server`).
    pub rss_bytes: Vec<Option<u64>>,
    /// CPU seconds all spawned servers used in the interval (null for `--server`).
    pub server_cpu_secs: Vec<Option<f64>>,
}

impl Series {
    /// Whether every per-interval list has one value per interval (a saved report could have
    /// been edited).
    pub fn is_consistent(&self) -> bool {
        let n = self.deliveries.len();
        [
            self.published.len(),
            self.ends_ms.len(),
            self.p50_ms.len(),
            self.p99_ms.len(),
            self.rss_bytes.len(),
            self.server_cpu_secs.len(),
        ]
        .iter()
        .all(|&len| len == n)
            && self.interval_ms > 0
    }

    /// The RSS samples in MiB, at most `max` of them (evenly picked), for a line of text.
    pub fn rss_mib_line(&self, max: usize) -> Option<String> {
        let mib: Vec<f64> = self
            .rss_bytes
            .iter()
            .flatten()
            .map(|&b| b as f64 / (1024.0 * 1024.0))
            .collect();
        if mib.is_empty() {
            return None;
        }
        let step = mib.len().div_ceil(max.max(1));
        let picked: Vec<String> = mib
            .iter()
            .step_by(step)
            .map(|m| format!("{m:.0}"))
            .collect();
        Some(format!(
            "server RSS MiB over time (every {:.2} s): {}",
            (self.interval_ms * step as u64) as f64 / 1000.0,
            picked.join(" ")
        ))
    }
}

/// One interval while it is recorded.
#[derive(Clone)]
struct Point {
    /// When its last tick ran, in ms after the start.
    end_ms: u64,
    published: u64,
    bins: Vec<u64>,
    rss: Option<u64>,
    cpu: Option<f64>,
}

impl Point {
    fn merge(&mut self, other: &Point) {
        self.end_ms = self.end_ms.max(other.end_ms);
        self.published += other.published;
        for (a, b) in self.bins.iter_mut().zip(&other.bins) {
            *a += b;
        }
        self.rss = self.rss.max(other.rss);
        self.cpu = match (self.cpu, other.cpu) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
    }
}

struct State {
    points: Vec<Point>,
    /// The interval being filled, and how many ticks it has had.
    pending: Option<(Point, u32)>,
    ticks_per_point: u32,
    published_before: u64,
    cpu_before: Vec<Option<f64>>,
}

/// The running sampler; [`Sampler::finish`] stops it and returns the series.
pub struct Sampler {
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
    bins: Arc<LatencyBins>,
    live: Arc<Live>,
    pids: Vec<u32>,
    started: Instant,
}

impl Sampler {
    /// Starts sampling now (call it just before the first publish). `pids` are the spawned
    /// servers (none for `--server`).
    pub fn start(bins: Arc<LatencyBins>, live: Arc<Live>, pids: Vec<u32>) -> Self {
        let state = Arc::new(Mutex::new(State {
            points: Vec::new(),
            pending: None,
            ticks_per_point: 1,
            published_before: live.acknowledged.load(Ordering::Relaxed),
            cpu_before: pids.iter().map(|&p| rss::cpu_seconds(p)).collect(),
        }));
        let started = Instant::now();
        let task = {
            let (state, bins, live, pids) =
                (state.clone(), bins.clone(), live.clone(), pids.clone());
            tokio::spawn(async move {
                let mut every = tokio::time::interval_at((started + TICK).into(), TICK);
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    every.tick().await;
                    let now_ms = started.elapsed().as_millis() as u64;
                    tick(&mut lock(&state), now_ms, &bins, &live, &pids);
                }
            })
        };
        Self {
            state,
            task,
            bins,
            live,
            pids,
            started,
        }
    }

    /// Stops sampling, takes what the last (partial) interval has, and returns the series.
    pub fn finish(self) -> Series {
        self.task.abort();
        let mut state = lock(&self.state);
        let end_ms = self.started.elapsed().as_millis() as u64;
        // What arrived since the last tick closes the last interval. A tail shorter than half
        // an interval joins the one before, so that a few deliveries in a sliver of time do
        // not draw as a spike of throughput.
        tick(&mut state, end_ms, &self.bins, &self.live, &self.pids);
        let interval_ms = (TICK * state.ticks_per_point).as_millis() as u64;
        if let Some((point, _)) = state.pending.take() {
            match state.points.last_mut() {
                Some(last) if end_ms.saturating_sub(last.end_ms) < interval_ms / 2 => {
                    last.merge(&point)
                }
                _ => state.points.push(point),
            }
        }
        let mut series = Series {
            interval_ms,
            ..Series::default()
        };
        for p in &state.points {
            series.ends_ms.push(p.end_ms);
            series.published.push(p.published);
            series.deliveries.push(p.bins.iter().sum());
            series.p50_ms.push(percentile_ms(&p.bins, 50.0));
            series.p99_ms.push(percentile_ms(&p.bins, 99.0));
            series.rss_bytes.push(p.rss);
            series.server_cpu_secs.push(p.cpu.map(round3));
        }
        series
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Takes one tick's counts into the pending interval, closing it when it is full.
fn tick(state: &mut State, now_ms: u64, bins: &LatencyBins, live: &Live, pids: &[u32]) {
    let published_now = live.acknowledged.load(Ordering::Relaxed);
    let published = published_now.saturating_sub(state.published_before);
    state.published_before = published_now;
    let rss = pids.iter().filter_map(|&p| rss::rss_bytes(p)).max();
    let mut cpu = None;
    for (before, &pid) in state.cpu_before.iter_mut().zip(pids) {
        let now = rss::cpu_seconds(pid);
        if let Some((now, then)) = now.zip(*before) {
            *cpu.get_or_insert(0.0) += now - then;
        }
        *before = now.or(*before);
    }
    let point = Point {
        end_ms: now_ms,
        published,
        bins: bins.take(),
        rss,
        cpu,
    };
    let (pending, ticks) = state.pending.get_or_insert_with(|| {
        (
            Point {
                end_ms: now_ms,
                published: 0,
                bins: vec![0; BINS],
                rss: None,
                cpu: None,
            },
            0,
        )
    });
    pending.merge(&point);
    *ticks += 1;
    if *ticks >= state.ticks_per_point {
        let (full, _) = state.pending.take().expect("just filled");
        state.points.push(full);
    }
    if state.points.len() >= MAX_POINTS {
        let merged = state
            .points
            .chunks(2)
            .map(|pair| {
                let mut first = pair[0].clone();
                if let Some(second) = pair.get(1) {
                    first.merge(second);
                }
                first
            })
            .collect();
        state.points = merged;
        state.ticks_per_point *= 2;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One bar of the latency histogram (`latencyHistogram` in JSON): samples with
/// `fromMs ≤ latency < toMs` (`toMs` null: no upper bound).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistogramBar {
    pub from_ms: f64,
    pub to_ms: Option<f64>,
    pub count: u64,
}

/// Every latency sample in bars on a 1-1.5-2-3-5-7 scale (about six per decade) from 0.1 ms, without the empty bars below
/// the smallest sample and above the largest: readable on a log axis, comparable between runs.
pub fn latency_histogram(samples_us: &[u32]) -> Vec<HistogramBar> {
    // 0.1 ms .. 700 s, in µs; the last bar holds everything above.
    let mut edges = Vec::new();
    let mut decade = 100u64;
    while decade <= 100_000_000 {
        edges.extend([10, 15, 20, 30, 50, 70].map(|m| decade * m / 10));
        decade *= 10;
    }
    let mut counts = vec![0u64; edges.len() + 1];
    for &s in samples_us {
        let i = edges.partition_point(|&e| e <= u64::from(s));
        counts[i] += 1;
    }
    let (Some(first), Some(last)) = (
        counts.iter().position(|&n| n > 0),
        counts.iter().rposition(|&n| n > 0),
    ) else {
        return Vec::new();
    };
    (first..=last)
        .map(|i| HistogramBar {
            from_ms: if i == 0 {
                0.0
            } else {
                edges[i - 1] as f64 / 1000.0
            },
            to_ms: edges.get(i).map(|&e| e as f64 / 1000.0),
            count: counts[i],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_are_ordered_and_at_most_an_eighth_wide() {
        let mut last = 0;
        for us in (0..100_000u32).chain([u32::MAX - 1, u32::MAX]) {
            let bin = bin_of(us);
            assert!(bin >= last && bin < BINS, "{us} → {bin}");
            last = bin;
            let middle = bin_middle_us(bin);
            assert!(
                (middle - f64::from(us)).abs() <= f64::from(us) / 16.0 + 0.5,
                "{us} ~ {middle}"
            );
        }
    }

    #[test]
    fn interval_percentiles_come_from_the_bins() {
        let bins = LatencyBins::default();
        for ms in 1..=100u32 {
            bins.record(ms * 1000);
        }
        let counts = bins.take();
        let p50 = percentile_ms(&counts, 50.0).unwrap();
        let p99 = percentile_ms(&counts, 99.0).unwrap();
        assert!((p50 - 50.0).abs() < 50.0 / 16.0, "{p50}");
        assert!((p99 - 99.0).abs() < 99.0 / 16.0, "{p99}");
        assert_eq!(bins.take().iter().sum::<u64>(), 0, "taking leaves zeros");
        assert_eq!(percentile_ms(&bins.take(), 50.0), None);
    }

    #[test]
    fn the_histogram_spans_the_samples_on_a_log_scale() {
        let bars = latency_histogram(&[1_500, 1_900, 3_000, 40_000]);
        let spans: Vec<_> = bars.iter().map(|b| (b.from_ms, b.to_ms, b.count)).collect();
        assert_eq!(
            spans,
            [
                (1.5, Some(2.0), 2),
                (2.0, Some(3.0), 0),
                (3.0, Some(5.0), 1),
                (5.0, Some(7.0), 0),
                (7.0, Some(10.0), 0),
                (10.0, Some(15.0), 0),
                (15.0, Some(20.0), 0),
                (20.0, Some(30.0), 0),
                (30.0, Some(50.0), 1)
            ]
        );
        assert!(latency_histogram(&[]).is_empty());
        let extremes = latency_histogram(&[0, u32::MAX]);
        assert_eq!(extremes.first().unwrap().from_ms, 0.0);
        assert_eq!(extremes.last().unwrap().to_ms, None);
    }

    #[test]
    fn the_interval_doubles_when_the_run_is_long() {
        let bins = LatencyBins::default();
        let live = Live::default();
        let mut state = State {
            points: Vec::new(),
            pending: None,
            ticks_per_point: 1,
            published_before: 0,
            cpu_before: Vec::new(),
        };
        bins.record(2_000);
        live.acknowledged.fetch_add(3, Ordering::Relaxed);
        for i in 1..=MAX_POINTS as u64 + 10 {
            tick(&mut state, i * 250, &bins, &live, &[]);
        }
        assert_eq!(state.ticks_per_point, 2);
        assert_eq!(state.points.len(), MAX_POINTS / 2 + 5);
        let first = &state.points[0];
        assert_eq!((first.published, first.bins.iter().sum::<u64>()), (3, 1));
        assert_eq!(first.rss, None);
        assert_eq!(first.end_ms, 500, "two ticks of 250 ms");
        let total: u64 = state
            .points
            .iter()
            .map(|p| p.bins.iter().sum::<u64>())
            .sum();
        assert_eq!(total, 1);
    }
}

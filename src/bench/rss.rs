//! Memory, CPU and disk writes of a spawned server, read from `/proc/<pid>` (Linux), and the
//! size of its SQLite write-ahead log.
//!
//! The resident set size is sampled every 100 ms in a background task: the peak is the
//! largest sample, so a spike shorter than that can be missed, which is the price of not
//! slowing the server down. The end value is read once more after the last delivery,
//! before the server is stopped. Where `/proc` cannot be read, both stay unknown.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// Clock ticks per second in `/proc/<pid>/stat`: USER_HZ, fixed at 100 in the Linux ABI on
/// every mainstream architecture.
const USER_HZ: f64 = 100.0;

/// The memory figures of one process; 0 means "not read (yet)".
#[derive(Default)]
pub struct Gauge {
    peak: AtomicU64,
    last: AtomicU64,
    /// The largest size seen of the server's `kanca.db-wal`.
    peak_wal: AtomicU64,
}

impl Gauge {
    pub fn peak_bytes(&self) -> Option<u64> {
        Some(self.peak.load(Ordering::Relaxed)).filter(|&b| b > 0)
    }

    pub fn last_bytes(&self) -> Option<u64> {
        Some(self.last.load(Ordering::Relaxed)).filter(|&b| b > 0)
    }

    /// The largest write-ahead log seen; `None` when there was none (PostgreSQL).
    pub fn peak_wal_bytes(&self) -> Option<u64> {
        Some(self.peak_wal.load(Ordering::Relaxed)).filter(|&b| b > 0)
    }

    /// Reads the process's RSS (and the log's size) now and folds them into the figures.
    pub fn sample(&self, pid: u32, wal: &Path) {
        if let Some(bytes) = rss_bytes(pid) {
            self.last.store(bytes, Ordering::Relaxed);
            self.peak.fetch_max(bytes, Ordering::Relaxed);
        }
        if let Ok(meta) = std::fs::metadata(wal) {
            self.peak_wal.fetch_max(meta.len(), Ordering::Relaxed);
        }
    }
}

/// Samples `pid` (and its log at `wal`) into `gauge` until the returned task is aborted.
pub fn watch(pid: u32, wal: PathBuf, gauge: Arc<Gauge>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(SAMPLE_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            every.tick().await;
            gauge.sample(pid, &wal);
        }
    })
}

/// Bytes the process has caused to be written to storage (`write_bytes` in
/// `/proc/<pid>/io`): the database file, its log and anything else, as the disk sees it.
pub fn disk_written_bytes(pid: u32) -> Option<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    let line = io.lines().find(|l| l.starts_with("write_bytes:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `VmRSS` from `/proc/<pid>/status`, in bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// User plus system CPU time the process has used so far, from `/proc/<pid>/stat`.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces; count from after it.
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        if cfg!(target_os = "linux") {
            assert!(rss_bytes(std::process::id()).is_some_and(|b| b > 0));
            assert!(cpu_seconds(std::process::id()).is_some());
            assert!(disk_written_bytes(std::process::id()).is_some());
        }
    }
}

//! The progress line on stderr: rewritten in place a few times a second with `\r` while a
//! phase runs, and only when stderr is a terminal, so piped or `--json` output stays clean.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

const REFRESH_EVERY: Duration = Duration::from_millis(250);

type Line = Box<dyn Fn() -> String + Send>;

/// Shows what the current phase says about itself; nothing when stderr is not a terminal.
pub struct Progress {
    line: Arc<Mutex<Option<(Instant, Line)>>>,
    task: Option<JoinHandle<()>>,
}

impl Progress {
    pub fn start() -> Self {
        let line: Arc<Mutex<Option<(Instant, Line)>>> = Arc::default();
        let task = std::io::stderr().is_terminal().then(|| {
            let line = line.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(REFRESH_EVERY);
                loop {
                    every.tick().await;
                    let text = match &*lock(&line) {
                        Some((since, describe)) => {
                            format!("{}  [{:.1}s]", describe(), since.elapsed().as_secs_f64())
                        }
                        None => continue,
                    };
                    // Padding wipes what a longer previous line left behind.
                    let mut err = std::io::stderr().lock();
                    let _ = write!(err, "\r{text:<100}");
                    let _ = err.flush();
                }
            })
        });
        Self { line, task }
    }

    /// From now on the line shows what `describe` returns, with the time since this call.
    pub fn phase(&self, describe: impl Fn() -> String + Send + 'static) {
        *lock(&self.line) = Some((Instant::now(), Box::new(describe)));
    }

    /// Stops refreshing and clears the line.
    pub fn finish(mut self) {
        self.clear();
    }

    fn clear(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r{:<120}\r", "");
            let _ = err.flush();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

//! `--baseline`: the same load generator straight at a receiver of its own, with no server
//! in between. Its rate is the loopback HTTP ceiling of this machine for this client and
//! this receiver; its latency is what a bare request costs one way. It always runs unpaced
//! (`--rate` does not apply): it is a ceiling, not a scenario.

use super::load::{self, Destination, Live, Load};
use super::progress::Progress;
use super::receiver::{self, Receiver, Tally};
use super::report::Percentiles;
use anyhow::Context;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;

pub struct Baseline {
    pub rate: Option<f64>,
    pub latency_ms: Option<Percentiles>,
}

/// Sends `load` (unpaced) to a fresh receiver on `host`'s address with a free port.
pub async fn run(
    load: &Load,
    mut host: SocketAddr,
    progress: &Progress,
    epoch: Instant,
) -> anyhow::Result<Baseline> {
    let tally = Tally::new(1, load.messages, 0.0, epoch);
    host.set_port(0);
    let listener = TcpListener::bind(host)
        .await
        .with_context(|| format!("binding the baseline receiver to {host}"))?;
    let url = format!(
        "http://{}{}",
        listener.local_addr()?,
        receiver::endpoint_path(0)
    );
    let _receiver = Receiver::start(listener, tally.clone());
    let live = Arc::new(Live::default());
    {
        let (live, messages) = (live.clone(), load.messages);
        progress.phase(move || {
            let sent = live.acknowledged.load(Ordering::Relaxed);
            format!("baseline: sent {sent}/{messages}")
        });
    }
    let unpaced = Load {
        rate: None,
        ..load.clone()
    };
    let destination = Destination {
        urls: vec![url],
        token: None,
        github_secret: None,
    };
    // A client of its own, so the measured run starts with no connections left from this one.
    let client = load::client(load.concurrency)?;
    let outcome = load::run(&unpaced, &destination, &client, live).await;
    Ok(Baseline {
        rate: outcome.rate(),
        latency_ms: Percentiles::from_micros(tally.latencies_us()),
    })
}

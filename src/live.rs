//! Live streams: telling the clients watching a channel or a bin that there is something new.
//!
//! The database holds what was posted or captured; this module only carries the news that a
//! *topic* (`channel:C…`, `bin:…`) changed, so that a waiting stream reads again from where it
//! left off. That shape gives three properties for free:
//!
//! - **Nothing is lost.** A stream always reads rows after its cursor from the database, so a
//!   wake-up that coalesces with another, or a client that reconnects with `Last-Event-ID`,
//!   misses nothing.
//! - **No polling.** A stream sleeps on its topic until a writer calls [`LiveHub::publish`].
//! - **Any node.** On PostgreSQL, `publish` also announces the topic with `NOTIFY`, and every
//!   node's hub wakes its own streams ([`crate::store::Store::watch_live`]). On SQLite one
//!   process owns the database and the in-process wake-up is all there is.
//!
//! A topic costs a `tokio::sync::watch` channel while someone watches it and nothing after.

use crate::store::DynStore;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Wakes the live streams of a topic, on this node and (PostgreSQL) every other.
pub struct LiveHub {
    store: DynStore,
    /// A counter per watched topic; bumping it wakes every receiver.
    topics: Mutex<HashMap<String, watch::Sender<u64>>>,
    /// Cancelled when the server stops: streams end, so graceful shutdown is not held up by
    /// clients that would stay connected for ever.
    shutdown: CancellationToken,
}

impl LiveHub {
    /// A hub that also hears the topics other nodes announce. `shutdown` ends every stream.
    pub async fn start(
        store: DynStore,
        shutdown: CancellationToken,
    ) -> crate::store::StoreResult<Arc<Self>> {
        let hub = Arc::new(Self {
            store: store.clone(),
            topics: Mutex::default(),
            shutdown,
        });
        let weak: Weak<Self> = Arc::downgrade(&hub);
        store
            .watch_live(Arc::new(move |topic| {
                if let Some(hub) = weak.upgrade() {
                    match topic {
                        Some(topic) => hub.wake_local(topic),
                        None => hub.wake_all_local(),
                    }
                }
            }))
            .await?;
        Ok(hub)
    }

    /// Tells every stream of `topic` to read again. Call it after the commit that stored the
    /// news. An announcement that cannot reach the other nodes is logged, not returned: the
    /// write it follows has succeeded, and their clients catch up on their next wake-up or
    /// reconnect.
    pub async fn publish(&self, topic: &str) {
        self.wake_local(topic);
        if let Err(e) = self.store.announce_live(topic).await {
            tracing::warn!(topic, error = %e, "could not announce live news to other nodes");
        }
    }

    /// Starts watching `topic`. Subscribe *before* the first read of the database, so news
    /// committed between that read and the first wait is not missed.
    pub fn subscribe(&self, topic: &str) -> Subscription {
        let mut topics = self.topics.lock().expect("live topics lock");
        let rx = match topics.get(topic) {
            Some(tx) => tx.subscribe(),
            None => {
                let (tx, rx) = watch::channel(0);
                topics.insert(topic.to_owned(), tx);
                rx
            }
        };
        Subscription {
            rx,
            shutdown: self.shutdown.clone(),
        }
    }

    /// A token cancelled when the server stops.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }

    fn wake_local(&self, topic: &str) {
        let mut topics = self.topics.lock().expect("live topics lock");
        if let Some(tx) = topics.get(topic) {
            if tx.receiver_count() == 0 {
                // Nobody watches it any more: forget it rather than keep one per topic ever seen.
                topics.remove(topic);
            } else {
                tx.send_modify(|n| *n = n.wrapping_add(1));
            }
        }
    }

    fn wake_all_local(&self) {
        let mut topics = self.topics.lock().expect("live topics lock");
        topics.retain(|_, tx| tx.receiver_count() > 0);
        for tx in topics.values() {
            tx.send_modify(|n| *n = n.wrapping_add(1));
        }
    }
}

/// One stream's watch on a topic.
pub struct Subscription {
    rx: watch::Receiver<u64>,
    shutdown: CancellationToken,
}

impl Subscription {
    /// Waits until the topic has news since the last call (or since subscribing). Returns
    /// `false` when the server is stopping and the stream should end.
    pub async fn changed(&mut self) -> bool {
        tokio::select! {
            r = self.rx.changed() => r.is_ok(),
            _ = self.shutdown.cancelled() => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn hub() -> (Arc<LiveHub>, CancellationToken, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/kanca.db", dir.path().display());
        let store = crate::store::connect(&url, "test-node", &Default::default())
            .await
            .unwrap();
        let stop = CancellationToken::new();
        (
            LiveHub::start(store, stop.clone()).await.unwrap(),
            stop,
            dir,
        )
    }

    #[tokio::test]
    async fn news_published_after_subscribing_wakes_only_that_topic() {
        let (hub, _stop, _dir) = hub().await;
        let mut a = hub.subscribe("bin:a");
        let mut b = hub.subscribe("bin:b");
        hub.publish("bin:a").await;
        // Published before the wait began, and still seen: nothing falls between a read and
        // the next wait.
        assert!(tokio::time::timeout(Duration::from_secs(1), a.changed())
            .await
            .unwrap());
        let quiet = tokio::time::timeout(Duration::from_millis(100), b.changed()).await;
        assert!(quiet.is_err(), "a topic with no news must not wake");
    }

    #[tokio::test]
    async fn shutdown_ends_waiting_streams_and_unwatched_topics_are_forgotten() {
        let (hub, stop, _dir) = hub().await;
        let mut sub = hub.subscribe("channel:C1");
        stop.cancel();
        assert!(!sub.changed().await);
        drop(sub);
        hub.publish("channel:C1").await;
        assert!(hub.topics.lock().unwrap().is_empty());
    }
}

//! Creating and changing bins.
//!
//! The time to live counts from when it is set: creating a bin, or giving `ttlSeconds` again
//! in an update, sets the expiry to now + TTL (so an update can bring an expired bin back).
//! An expired bin answers 410 Gone to every request but is kept, with what it captured, and
//! shown as `expired` until it is deleted: the requests it caught are often what someone
//! still wants to read.

use crate::domain::bins::*;
use crate::store::{DynStore, StoreResult};
use chrono::{DateTime, Utc};
use std::time::Duration;

fn expiry(now: DateTime<Utc>, ttl: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX)
}

pub async fn create(
    store: &DynStore,
    settings: BinSettings,
    ttl: Duration,
    now: DateTime<Utc>,
) -> StoreResult<Bin> {
    let bin = Bin {
        id: BinId::generate(),
        settings,
        expires_at: expiry(now, ttl),
        created_at: now,
        updated_at: now,
    };
    store.create_bin(&bin).await?;
    Ok(bin)
}

/// Replaces the settings; with `ttl`, the bin lives that long from now, else its expiry stays.
pub async fn update(
    store: &DynStore,
    bin: &Bin,
    settings: BinSettings,
    ttl: Option<Duration>,
    now: DateTime<Utc>,
) -> StoreResult<Bin> {
    let expires_at = ttl.map_or(bin.expires_at, |ttl| expiry(now, ttl));
    store.update_bin(&bin.id, &settings, expires_at, now).await
}

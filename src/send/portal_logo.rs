//! The app portal's logo: the image at the `logoUrl` a link carries, fetched by the server.
//!
//! The browser never loads the product's URL itself: it would tell that host who opens the
//! portal and when, and an `<img>` pointing anywhere makes the portal's CSP as wide as the web.
//! Instead `/portal/logo` serves what this fetches, and the fetch is a delivery in miniature:
//! the delivery engine's [`Sender`] (its SSRF guard after DNS resolution, no redirects, no
//! proxy), http(s) only, a short timeout and [`MAX_LOGO_BYTES`]. Only raster images are kept
//! (PNG, JPEG, GIF, WebP), recognised by their first bytes as well as their content type, and
//! served under Kanca's own content type: an SVG can carry script, and a body that only claims
//! to be an image is not one.
//!
//! A portal page checks the logo before it shows the `<img>`, so each result, a logo or "none",
//! is cached in memory per URL ([`MAX_CACHED`] entries, oldest dropped first) and a page view
//! is a lookup, not a fetch. A URL that fails (invalid, refused by the guard, too big, not an
//! image) gives no logo, and the page is drawn without one; why is logged at debug level, by
//! host only, since a URL's query may hold a credential.

use crate::delivery::sender::Sender;
use crate::domain::EndpointUrl;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The largest logo accepted: a header image, not a photograph.
pub const MAX_LOGO_BYTES: usize = 256 * 1024;
/// How long one fetch may take; the first page view with a new logo waits for it.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// How many URLs' results are kept (at most [`MAX_LOGO_BYTES`] each).
pub const MAX_CACHED: usize = 32;
/// How long a fetched logo is served before it is fetched again.
const KEEP_LOGO: Duration = Duration::from_secs(60 * 60);
/// How long a failed URL stays without a logo before it is tried again.
const KEEP_FAILURE: Duration = Duration::from_secs(5 * 60);

/// A logo ready to serve.
#[derive(Debug, Clone)]
pub struct Logo {
    /// One of the raster types, as Kanca names it (not as the product's server did).
    pub content_type: &'static str,
    pub bytes: Bytes,
}

struct Entry {
    logo: Option<Logo>,
    fetched_at: Instant,
}

impl Entry {
    fn fresh(&self, now: Instant) -> bool {
        let keep = if self.logo.is_some() {
            KEEP_LOGO
        } else {
            KEEP_FAILURE
        };
        now.duration_since(self.fetched_at) < keep
    }
}

/// Fetches and caches portal logos.
pub struct PortalLogos {
    sender: Sender,
    allow_private: bool,
    cache: Mutex<HashMap<String, Entry>>,
}

impl PortalLogos {
    /// `allow_private` mirrors `KANCA_ALLOW_PRIVATE_TARGETS`, as for deliveries.
    pub fn new(allow_private: bool) -> anyhow::Result<Self> {
        Ok(Self {
            sender: Sender::new(FETCH_TIMEOUT, allow_private)?,
            allow_private,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The logo at `url`, from the cache or fetched now; `None` when there is none to show.
    ///
    /// Two first views of the same new URL at once may both fetch it; the second result
    /// simply replaces the first.
    pub async fn get(&self, url: &str) -> Option<Logo> {
        let now = Instant::now();
        if let Some(entry) = self.lock().get(url).filter(|e| e.fresh(now)) {
            return entry.logo.clone();
        }
        let logo = match self.fetch(url).await {
            Ok(logo) => Some(logo),
            Err(why) => {
                let host = url::Url::parse(url)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned))
                    .unwrap_or_else(|| "an invalid URL".to_owned());
                tracing::debug!(%host, %why, "portal logo not shown");
                None
            }
        };
        let mut cache = self.lock();
        if cache.len() >= MAX_CACHED && !cache.contains_key(url) {
            // Stale entries go first; otherwise the oldest fetch makes room.
            cache.retain(|_, e| e.fresh(now));
            if cache.len() >= MAX_CACHED {
                if let Some(oldest) = cache
                    .iter()
                    .min_by_key(|(_, e)| e.fetched_at)
                    .map(|(k, _)| k.clone())
                {
                    cache.remove(&oldest);
                }
            }
        }
        cache.insert(
            url.to_owned(),
            Entry {
                logo: logo.clone(),
                fetched_at: Instant::now(),
            },
        );
        logo
    }

    async fn fetch(&self, url: &str) -> Result<Logo, String> {
        let url = EndpointUrl::parse(url, self.allow_private).map_err(|e| e.0)?;
        let fetched = self.sender.fetch_small(&url, MAX_LOGO_BYTES).await?;
        let claimed = fetched
            .content_type
            .as_deref()
            .and_then(|c| c.split(';').next())
            .map(|c| c.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let content_type = raster_type(&fetched.body)
            .filter(|t| claimed == *t || (claimed == "image/jpg" && *t == "image/jpeg"))
            .ok_or_else(|| {
                format!("not a PNG, JPEG, GIF or WebP image (content type `{claimed}`)")
            })?;
        Ok(Logo {
            content_type,
            bytes: fetched.body,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // The map is only ever left whole, so a panic elsewhere leaves it usable.
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The raster type `bytes` start as, by their signature.
fn raster_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(b"\xff\xd8\xff") {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_raster_signatures_are_images() {
        assert_eq!(raster_type(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(raster_type(b"\xff\xd8\xff\xe0"), Some("image/jpeg"));
        assert_eq!(raster_type(b"GIF89a.."), Some("image/gif"));
        assert_eq!(raster_type(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(
            raster_type(b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>"),
            None
        );
        assert_eq!(raster_type(b"<html>"), None);
        assert_eq!(raster_type(b""), None);
    }
}

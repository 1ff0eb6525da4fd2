//! The portal's logo (`logoUrl`): fetched by the server through the SSRF guard and served as
//! `/portal/logo`, cached, raster images only; anything else gives a page without a logo.

use crate::common::*;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use axum::Router;
use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A 1×1 PNG.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\0\x05\0\x01\xff\x89\x99=\x1d\0\0\0\0IEND\xaeB`\x82";

/// The product's web server: a logo, and what should never be shown as one. Counts how often
/// the logo is fetched.
struct ImageHost {
    base: String,
    logo_hits: Arc<AtomicUsize>,
    _task: tokio::task::JoinHandle<()>,
}

impl ImageHost {
    async fn start() -> Self {
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        let big: Vec<u8> = PNG
            .iter()
            .copied()
            .chain(std::iter::repeat_n(0u8, 300 * 1024))
            .collect();
        let app = Router::new()
            .route(
                "/logo.png",
                get(move || {
                    counted.fetch_add(1, Ordering::SeqCst);
                    async { ([(CONTENT_TYPE, "image/png")], PNG) }
                }),
            )
            .route(
                "/page.html",
                get(|| async { ([(CONTENT_TYPE, "text/html")], "<html>hi</html>") }),
            )
            .route(
                "/logo.svg",
                get(|| async {
                    (
                        [(CONTENT_TYPE, "image/svg+xml")],
                        "<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>",
                    )
                }),
            )
            .route(
                "/fake.png",
                get(|| async { ([(CONTENT_TYPE, "image/png")], "<script>alert(1)</script>") }),
            )
            .route(
                "/big.png",
                get(move || {
                    let big = big.clone();
                    async move { ([(CONTENT_TYPE, "image/png")], big) }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            base,
            logo_hits: hits,
            _task: task,
        }
    }
}

const LOGO_TAG: &str = r#"<img class="logo" src="/portal/logo" alt="Acme logo">"#;

/// Opens a fresh link with `logo` as its `logoUrl` and says whether the page shows a logo.
async fn shows_logo(server: &TestServer, app: &str, logo: &str) -> bool {
    let token = issue_portal_link(server, app, json!({})).await;
    let portal = Portal::open(
        server,
        &token,
        &[("productName", "Acme"), ("logoUrl", logo)],
    )
    .await;
    let (status, page) = portal.get("/portal/endpoints").await;
    assert_eq!(status, 200, "the page works whatever the logo: {page}");
    assert!(page.contains("Acme"));
    let shown = page.contains(LOGO_TAG);
    let r = portal.get_response("/portal/logo").await;
    assert_eq!(r.status() == 200, shown, "{logo}");
    shown
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raster_logo_is_fetched_once_and_served_from_the_portal() {
    let server = TestServer::start_default().await;
    let host = ImageHost::start().await;
    let app = server.create_app("Logo").await;
    let logo_url = format!("{}/logo.png", host.base);
    let token = issue_portal_link(&server, &app, json!({})).await;
    let portal = Portal::open(
        &server,
        &token,
        &[("productName", "Acme"), ("logoUrl", &logo_url)],
    )
    .await;
    let (_, page) = portal.get("/portal/endpoints").await;
    assert!(page.contains(LOGO_TAG), "{page}");
    assert!(
        !page.contains(&host.base),
        "the browser is never sent to the product's URL"
    );
    let r = portal.get_response("/portal/logo").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[CONTENT_TYPE], "image/png");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let csp = r.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("sandbox"),
        "{csp}"
    );
    let cache = r.headers()[CACHE_CONTROL].to_str().unwrap();
    assert!(
        cache.contains("private") && cache.contains("max-age"),
        "{cache}"
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), PNG);

    // Page views and the image itself come from the cache: one fetch in all.
    for _ in 0..3 {
        let (_, page) = portal.get("/portal/messages").await;
        assert!(page.contains(LOGO_TAG));
        assert_eq!(portal.get_response("/portal/logo").await.status(), 200);
    }
    assert_eq!(host.logo_hits.load(Ordering::SeqCst), 1);

    // Without a logoUrl: no logo, and /portal/logo has nothing.
    let plain = Portal::open(&server, &token, &[("productName", "Acme")]).await;
    let (_, page) = plain.get("/portal/endpoints").await;
    assert!(!page.contains(r#"src="/portal/logo""#));
    assert_eq!(plain.get_response("/portal/logo").await.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_not_a_small_raster_image_gives_no_logo() {
    let server = TestServer::start_default().await;
    let host = ImageHost::start().await;
    let app = server.create_app("No logo").await;
    let base = &host.base;
    for bad in [
        format!("{base}/page.html"),
        format!("{base}/logo.svg"),
        format!("{base}/fake.png"),
        format!("{base}/big.png"),
        format!("{base}/missing.png"),
        "javascript:alert(1)".to_owned(),
        "not a url".to_owned(),
        format!("ftp://{}/logo.png", base.trim_start_matches("http://")),
    ] {
        assert!(!shows_logo(&server, &app, &bad).await, "{bad} gave a logo");
    }
    // The same host's real logo still works: the refusals are per URL.
    assert!(shows_logo(&server, &app, &format!("{base}/logo.png")).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_ssrf_guard_on_a_private_logo_is_not_fetched() {
    let server = TestServer::start(ServerOptions::default().with_ssrf_guard()).await;
    let host = ImageHost::start().await;
    let app = server.create_app("Guarded").await;
    let port = host.base.rsplit(':').next().unwrap();
    for private in [
        format!("{}/logo.png", host.base),
        format!("http://localhost:{port}/logo.png"),
        format!("http://[::ffff:127.0.0.1]:{port}/logo.png"),
    ] {
        assert!(!shows_logo(&server, &app, &private).await, "{private}");
    }
    assert_eq!(host.logo_hits.load(Ordering::SeqCst), 0);
}

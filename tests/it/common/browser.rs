//! A real headless Chromium, driven over WebDriver, for the console's browser tests.
//!
//! `chromedriver` is started on a free port in a process group of its own, with a fresh
//! profile directory; the browser it launches joins that group, so dropping the [`Browser`]
//! (even when a test panics) ends both and nothing else. Chromium runs with the flags that
//! keep it from reaching for the network (this machine has none: without them it hangs on
//! connections). `KANCA_TEST_CHROMIUM` and `KANCA_TEST_CHROMEDRIVER` override the binaries
//! (Debian's `chromium` and `chromium-driver`, which `.ci/run` installs).
//!
//! Where neither is installed (a fresh machine running the README's `cargo test`), the browser
//! tests say so on stderr and return without checking anything, so the two quickstart commands
//! still work. `.ci/run` installs both and sets `KANCA_TEST_REQUIRE_BROWSER=1`, which makes a
//! missing browser a failure: in CI these tests always run.

use super::server::TestServer;
use fantoccini::{Client, ClientBuilder, Locator};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tempfile::TempDir;

/// The longest a page may take to show what a test waits for.
const BROWSER_WAIT: Duration = Duration::from_secs(20);

const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
];

pub struct Browser {
    client: Option<Client>,
    driver: Child,
    _profile: TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("finding a free port")
        .port()
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session at the given window size; `None`
    /// when they are not installed and not required (see the module doc).
    pub async fn start_sized(width: u32, height: u32) -> Option<Self> {
        let chromium =
            std::env::var("KANCA_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let chromedriver = std::env::var("KANCA_TEST_CHROMEDRIVER")
            .unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        let installed = std::path::Path::new(&chromium).exists()
            && std::path::Path::new(&chromedriver).exists();
        let required = std::env::var("KANCA_TEST_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
        if !installed && !required {
            super::database::skipped(&format!(
                "a browser test needs {chromium} and {chromedriver} \
                 (apt-get install chromium chromium-driver; .ci/run installs them)"
            ));
            return None;
        }
        // Two rustls crypto providers are linked into the tests (ring through reqwest,
        // aws-lc-rs through the Svix SDK), so the WebDriver client's must be named.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let port = free_port();
        let profile = tempfile::tempdir().expect("a profile directory for Chromium");
        let driver = {
            use std::os::unix::process::CommandExt;
            Command::new(&chromedriver)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("starting {chromedriver} (apt-get install chromium-driver): {e}")
                })
        };
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| s.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        args.push(format!("--window-size={width},{height}"));
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), "chrome".into());
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "binary": chromium, "args": args }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut browser = Self {
            client: None,
            driver,
            _profile: profile,
        };
        // chromedriver takes a moment to listen; connecting is the readiness check.
        let deadline = tokio::time::Instant::now() + BROWSER_WAIT;
        let client = loop {
            let attempt = ClientBuilder::rustls()
                .expect("rustls for the WebDriver client")
                .capabilities(caps.clone())
                .connect(&url)
                .await;
            match attempt {
                Ok(c) => break c,
                Err(e) if tokio::time::Instant::now() >= deadline => {
                    panic!("no WebDriver session from {chromedriver} with {chromium}: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        browser.client = Some(client);
        Some(browser)
    }

    pub async fn start() -> Option<Self> {
        Self::start_sized(1280, 900).await
    }

    pub fn client(&self) -> &Client {
        self.client.as_ref().expect("a WebDriver session")
    }

    pub async fn goto(&self, url: &str) {
        self.client()
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("opening {url}: {e}"));
    }

    /// Waits for an element to be present, failing the test with the page's text if it never is.
    pub async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .client()
            .wait()
            .at_most(BROWSER_WAIT)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(el) => el,
            Err(e) => panic!(
                "`{css}` never appeared ({e}); the page shows:\n{}",
                self.page_text().await
            ),
        }
    }

    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self.client().find(Locator::Css(css)).await {
            Ok(el) => el,
            Err(e) => panic!(
                "no `{css}` on the page ({e}); it shows:\n{}",
                self.page_text().await
            ),
        }
    }

    /// The visible text of the page, for failure messages and assertions.
    pub async fn page_text(&self) -> String {
        match self.client().find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    pub async fn path(&self) -> String {
        self.client()
            .current_url()
            .await
            .map(|u| u.path().to_owned())
            .unwrap_or_default()
    }

    /// Signs in to the console of `server` with its admin token.
    pub async fn sign_in(&self, server: &TestServer) {
        self.goto(&server.url("/login")).await;
        self.wait_for("#token")
            .await
            .send_keys(server.token())
            .await
            .expect("typing the token");
        self.find("form[action='/login'] button[type=submit]")
            .await
            .click()
            .await
            .expect("clicking Sign in");
        self.wait_for("nav[aria-label='Console sections']").await;
    }

    /// A PNG of the whole viewport.
    pub async fn screenshot(&self, path: &std::path::Path) {
        let png = self.client().screenshot().await.expect("a screenshot");
        std::fs::write(path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }

    /// Ends the WebDriver session cleanly (Chromium exits), then chromedriver.
    pub async fn close(mut self) {
        if let Some(client) = self.client.take() {
            let _ = client.close().await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The whole process group: chromedriver and the Chromium it started, nothing else.
        let pgid = self.driver.id();
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pgid}")])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.wait();
    }
}

//! `kanca listen`: receive real webhooks on a laptop. It creates (or reuses) a bin on a Kanca
//! server, prints the bin's public URL, follows the bin's live stream and forwards every
//! captured request to a local URL, printing one line per request.
//!
//! Nothing is lost, by construction rather than by care:
//! - The stream is resumable: the cursor is the id of the last request *forwarded* (not the
//!   last received), and every reconnect sends it as `Last-Event-ID`. A server restart, a
//!   dropped connection or a crash between receiving and forwarding all end the same way:
//!   reconnect with backoff, and the server sends everything after the cursor again.
//! - Requests are forwarded one at a time, in order. When the local app cannot be reached,
//!   the same request is retried with backoff until it can; the stream waits meanwhile (the
//!   server keeps the requests, so nothing piles up in memory here). Any HTTP answer, even a
//!   500, counts as forwarded: it is the local app's answer to show, not a reason to resend.
//!
//! With `--source SRC` it forwards what a source (Svix's Ingest API) accepts instead: it adds
//! an ingest endpoint to the source whose URL is the bin, so the source's deliveries (verified,
//! deduplicated, with the provider's headers) land in the bin and are forwarded from there with
//! the same guarantees; the endpoint is removed again when it stops.
//!
//! It talks to the server through its public API only (`/api/v1/bin…`, `/ingest/api/v1/…`),
//! with the admin token.

use anyhow::{bail, Context};
use base64::Engine as _;
use eventsource_stream::Eventsource;
use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// `kanca listen` options (its help text is the doc of `Command::Listen`).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  kanca listen --forward-to http://localhost:3000\n  \
kanca listen --forward-to http://localhost:3000/webhooks --bin bin_2a… \\\n    \
--server https://kanca.example.com --token $KANCA_ADMIN_TOKEN\n  \
kanca listen --source github --forward-to http://localhost:3000/github"
)]
pub struct ListenArgs {
    /// The local URL to forward to; each request's path under the bin is appended to it.
    #[arg(long, value_name = "URL")]
    forward_to: String,
    /// Reuse this bin instead of creating one (requests it caught before are not forwarded).
    #[arg(long, value_name = "ID")]
    bin: Option<String>,
    /// Forward what this source (id or uid; `/ingest/api/v1/source`) accepts: the requests its
    /// provider sends, verified and deduplicated, with the provider's headers. An ingest
    /// endpoint pointing at the bin is added to the source while this runs.
    #[arg(long, value_name = "SOURCE")]
    source: Option<String>,
    /// The Kanca server.
    #[arg(
        long,
        env = "KANCA_SERVER",
        value_name = "URL",
        default_value = "http://127.0.0.1:8080"
    )]
    server: String,
    /// The server's admin token. Default: KANCA_ADMIN_TOKEN, else the `admin-token` file in the
    /// data directory (what `kanca serve` generated there).
    #[arg(
        long,
        env = "KANCA_ADMIN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    /// Where to look for the `admin-token` file when no token is given.
    #[arg(
        long,
        env = "KANCA_DATA_DIR",
        value_name = "DIR",
        default_value = "./kanca-data"
    )]
    data_dir: PathBuf,
    /// How long the local app may take to answer one request, e.g. `30s`.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    timeout: humantime::Duration,
}

/// The first wait before reconnecting or retrying, and the longest.
const BACKOFF_START: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// A captured request as the stream sends it (the API's capture shape).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Captured {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
    body_base64: Option<String>,
}

#[derive(Debug, Deserialize)]
struct BinInfo {
    id: String,
    url: String,
}

pub async fn run(args: ListenArgs) -> anyhow::Result<()> {
    let token = match args.token.clone().filter(|t| !t.is_empty()) {
        Some(t) => t,
        None => {
            let path = args.data_dir.join("admin-token");
            std::fs::read_to_string(&path)
                .map(|t| t.trim().to_owned())
                .with_context(|| {
                    format!(
                        "no admin token: pass --token, set KANCA_ADMIN_TOKEN, or run where {} exists",
                        path.display()
                    )
                })?
        }
    };
    let forward_to = url::Url::parse(&args.forward_to)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
        .with_context(|| format!("--forward-to `{}` is not an http(s) URL", args.forward_to))?;
    let listener = Listener::new(&args, &token, forward_to)?;

    let (bin, mut cursor) = listener.bin(args.bin.as_deref()).await?;
    println!("Bin URL: {}", bin.url);
    let endpoint = match args.source.as_deref() {
        Some(source) => {
            let (ingest_url, endpoint) = listener.attach_to_source(source, &bin.url).await?;
            println!("Source URL: {ingest_url}");
            println!(
                "Forwarding what source {source} accepts to {} (through bin {}; Ctrl-C to stop)",
                listener.forward_to, bin.id
            );
            Some((source.to_owned(), endpoint))
        }
        None => {
            println!(
                "Forwarding requests sent there to {} (bin {}; Ctrl-C to stop)",
                listener.forward_to, bin.id
            );
            None
        }
    };

    let result = tokio::select! {
        result = listener.follow(&bin.id, &mut cursor) => result,
        _ = super::serve::wait_for_signal() => {
            println!("Stopped.");
            Ok(())
        }
    };
    if let Some((source, endpoint)) = endpoint {
        listener.detach_from_source(&source, &endpoint).await;
    }
    result
}

struct Listener {
    server: String,
    /// For the API and the stream: no overall timeout, since the stream lasts for ever.
    api: reqwest::Client,
    /// For the local app.
    local: reqwest::Client,
    auth: HeaderValue,
    forward_to: url::Url,
}

impl Listener {
    fn new(args: &ListenArgs, token: &str, forward_to: url::Url) -> anyhow::Result<Self> {
        let mut auth = HeaderValue::from_str(&format!("Bearer {token}"))
            .context("the admin token holds characters a header cannot")?;
        auth.set_sensitive(true);
        Ok(Self {
            server: args.server.trim_end_matches('/').to_owned(),
            api: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .build()?,
            local: reqwest::Client::builder()
                .timeout(*args.timeout)
                // The local app's redirects are its answer to show, not to follow; and a proxy
                // from the environment has no business between us and localhost.
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .build()?,
            auth,
            forward_to,
        })
    }

    /// The bin to follow and where to start: a new bin from its beginning, a reused one after
    /// its newest request (what it caught before is not replayed).
    async fn bin(&self, reuse: Option<&str>) -> anyhow::Result<(BinInfo, Option<String>)> {
        let Some(id) = reuse else {
            let response = self
                .api
                .post(format!("{}/api/v1/bin", self.server))
                .header(AUTHORIZATION, self.auth.clone())
                .json(&serde_json::json!({ "name": "kanca listen" }))
                .send()
                .await
                .with_context(|| format!("cannot reach the Kanca server at {}", self.server))?;
            return Ok((answer(response).await?, None));
        };
        let response = self
            .api
            .get(format!("{}/api/v1/bin/{id}", self.server))
            .header(AUTHORIZATION, self.auth.clone())
            .send()
            .await
            .with_context(|| format!("cannot reach the Kanca server at {}", self.server))?;
        let bin: BinInfo = answer(response).await?;
        #[derive(Deserialize)]
        struct Page {
            data: Vec<serde_json::Value>,
        }
        let response = self
            .api
            .get(format!("{}/api/v1/bin/{id}/request?limit=1", self.server))
            .header(AUTHORIZATION, self.auth.clone())
            .send()
            .await?;
        let newest: Page = answer(response).await?;
        let cursor = newest
            .data
            .first()
            .and_then(|r| r["id"].as_str())
            .map(str::to_owned);
        Ok((bin, cursor))
    }

    /// Adds an ingest endpoint delivering into the bin to `source`; returns the source's
    /// ingest URL and the endpoint's id.
    async fn attach_to_source(
        &self,
        source: &str,
        bin_url: &str,
    ) -> anyhow::Result<(String, String)> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct SourceInfo {
            ingest_url: String,
        }
        let response = self
            .api
            .get(format!("{}/ingest/api/v1/source/{source}", self.server))
            .header(AUTHORIZATION, self.auth.clone())
            .send()
            .await
            .with_context(|| format!("cannot reach the Kanca server at {}", self.server))?;
        let info: SourceInfo = answer(response)
            .await
            .with_context(|| format!("source `{source}`"))?;
        let response = self
            .api
            .post(format!(
                "{}/ingest/api/v1/source/{source}/endpoint",
                self.server
            ))
            .header(AUTHORIZATION, self.auth.clone())
            .json(&serde_json::json!({ "url": bin_url, "description": "kanca listen" }))
            .send()
            .await?;
        let endpoint: serde_json::Value = answer(response).await?;
        let id = endpoint["id"]
            .as_str()
            .context("the server answered an endpoint without an id")?
            .to_owned();
        Ok((info.ingest_url, id))
    }

    /// Removes the endpoint [`Self::attach_to_source`] added (what it delivered stays in the
    /// bin). A failure is only reported: the endpoint can be deleted by hand.
    async fn detach_from_source(&self, source: &str, endpoint: &str) {
        let sent = self
            .api
            .delete(format!(
                "{}/ingest/api/v1/source/{source}/endpoint/{endpoint}",
                self.server
            ))
            .header(AUTHORIZATION, self.auth.clone())
            .send()
            .await;
        if !sent.is_ok_and(|r| r.status().is_success()) {
            eprintln!(
                "could not remove endpoint {endpoint} from source {source}; delete it by hand"
            );
        }
    }

    /// Follows the bin's stream for ever, reconnecting after the last forwarded request.
    async fn follow(&self, bin: &str, cursor: &mut Option<String>) -> anyhow::Result<()> {
        let mut backoff = BACKOFF_START;
        // Set while the server is away, so the outage is reported once, not per attempt.
        let mut reconnecting = false;
        loop {
            let mut request = self
                .api
                .get(format!("{}/api/v1/bin/{bin}/stream", self.server))
                .header(AUTHORIZATION, self.auth.clone())
                .header("accept", "text/event-stream");
            if let Some(id) = cursor.as_deref() {
                request = request.header("last-event-id", id);
            }
            match request.send().await {
                Ok(response) if response.status().is_success() => {
                    if reconnecting {
                        eprintln!("{} reconnected to {}", now(), self.server);
                    }
                    backoff = BACKOFF_START;
                    let mut events = response.bytes_stream().eventsource();
                    while let Some(event) = events.next().await {
                        let Ok(event) = event else { break };
                        if event.event != "request" {
                            continue;
                        }
                        match serde_json::from_str::<Captured>(&event.data) {
                            Ok(captured) => self.forward(&captured).await,
                            Err(e) => eprintln!("{} skipped an event it cannot read: {e}", now()),
                        }
                        *cursor = Some(event.id);
                    }
                    eprintln!("{} lost the server at {}; reconnecting", now(), self.server);
                    reconnecting = true;
                }
                Ok(response) if matches!(response.status().as_u16(), 401 | 403 | 404) => {
                    let status = response.status();
                    let body = response.text().await.unwrap_or_default();
                    bail!("the server refused the stream ({status}): {body}");
                }
                Ok(response) => {
                    eprintln!(
                        "{} the server answered {}; retrying",
                        now(),
                        response.status()
                    )
                }
                Err(e) => {
                    if !reconnecting {
                        eprintln!(
                            "{} cannot reach the server at {} ({}); reconnecting",
                            now(),
                            self.server,
                            e.without_url()
                        );
                        reconnecting = true;
                    }
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// Sends one captured request to the local app, retrying until the app answers.
    async fn forward(&self, captured: &Captured) {
        let url = local_url(&self.forward_to, &captured.path, &captured.query);
        let shown = if captured.query.is_empty() {
            captured.path.clone()
        } else {
            format!("{}?{}", captured.path, captured.query)
        };
        let method = reqwest::Method::from_bytes(captured.method.as_bytes())
            .unwrap_or(reqwest::Method::POST);
        let mut headers = HeaderMap::new();
        for (name, value) in &captured.headers {
            if !crate::inspect::is_forwarded(name) {
                continue;
            }
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.append(n, v);
            }
        }
        let body = match (&captured.body, &captured.body_base64) {
            (Some(text), _) => bytes::Bytes::from(text.clone()),
            (None, Some(b64)) => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map(bytes::Bytes::from)
                .unwrap_or_default(),
            (None, None) => bytes::Bytes::new(),
        };
        let mut backoff = BACKOFF_START;
        loop {
            let start = Instant::now();
            let sent = self
                .local
                .request(method.clone(), url.clone())
                .headers(headers.clone())
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(response) => {
                    let status = response.status().as_u16();
                    // Read the answer so the connection can be reused; its content is not shown.
                    let _ = response.bytes().await;
                    println!(
                        "{} {} {} → {} ({} ms)",
                        now(),
                        captured.method,
                        shown,
                        status,
                        start.elapsed().as_millis()
                    );
                    return;
                }
                Err(e) => {
                    eprintln!(
                        "{} {} {} → {} unreachable ({}); retrying in {} ms",
                        now(),
                        captured.method,
                        shown,
                        self.forward_to,
                        e.without_url(),
                        backoff.as_millis()
                    );
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }
}

/// `--forward-to` with the captured path under it and the captured query (else its own).
fn local_url(base: &url::Url, path: &str, query: &str) -> url::Url {
    let mut url = base.clone();
    if path != "/" {
        url.set_path(&format!("{}{}", base.path().trim_end_matches('/'), path));
    }
    if !query.is_empty() {
        url.set_query(Some(query));
    }
    url
}

/// The server's answer as `T`, or its error (`{"code","detail"}`) as the reason.
async fn answer<T: serde::de::DeserializeOwned>(response: reqwest::Response) -> anyhow::Result<T> {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("the server answered {status}: {text}");
    }
    serde_json::from_str(&text)
        .with_context(|| format!("unexpected answer from the server: {text}"))
}

fn now() -> String {
    chrono::Local::now().format("%H:%M:%S").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_captured_path_goes_under_the_local_url() {
        let base = url::Url::parse("http://localhost:3000/hooks/?k=v").unwrap();
        assert_eq!(
            local_url(&base, "/gh/push", "a=1").as_str(),
            "http://localhost:3000/hooks/gh/push?a=1"
        );
        assert_eq!(
            local_url(&base, "/", "").as_str(),
            "http://localhost:3000/hooks/?k=v"
        );
        let root = url::Url::parse("http://localhost:3000").unwrap();
        assert_eq!(
            local_url(&root, "/x", "").as_str(),
            "http://localhost:3000/x"
        );
    }
}

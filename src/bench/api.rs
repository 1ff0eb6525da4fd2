//! The API calls the bench makes besides publishing: an application and its endpoints before
//! the run (plain Svix API, so any compatible server can be measured), and, for a spawned
//! Kanca, its delivery outcome counters from `/metrics` after it. The receive and inspect
//! scenarios make a channel with an incoming webhook, or a bin, the same way.

use anyhow::{bail, Context};
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub struct Api<'a> {
    pub client: &'a reqwest::Client,
    /// `http://host:port`, without a trailing slash.
    pub base_url: &'a str,
    pub token: &'a str,
}

impl Api<'_> {
    /// Creates an application and returns its id.
    pub async fn create_app(&self, name: &str) -> anyhow::Result<String> {
        let created = self
            .post("/api/v1/app", json!({ "name": name }))
            .await
            .context("creating the bench application")?;
        created["id"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("the created application has no id: {created}"))
    }

    /// Creates an endpoint of `app` that receives every event type.
    pub async fn create_endpoint(&self, app: &str, url: &str) -> anyhow::Result<()> {
        self.post(
            &format!("/api/v1/app/{app}/endpoint"),
            json!({ "url": url, "description": "kanca bench receiver" }),
        )
        .await
        .with_context(|| format!("creating an endpoint for {url}"))?;
        Ok(())
    }

    /// Creates a channel and returns its id.
    pub async fn create_channel(&self, name: &str) -> anyhow::Result<String> {
        let created = self
            .post("/api/v1/channels", json!({ "name": name }))
            .await
            .context("creating the bench channel")?;
        created["id"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("the created channel has no id: {created}"))
    }

    /// Creates an incoming webhook into `channel` and returns the path of its URL
    /// (`/services/T…/B…/token`). The path, not the URL: the server's public URL need not be
    /// how the bench reaches it, and with several nodes posts go to each in turn. The token
    /// is a secret, so it is never put in an error or the report.
    pub async fn create_incoming_webhook(&self, channel: &str) -> anyhow::Result<String> {
        let created = self
            .post(
                "/api/v1/incoming-webhooks",
                json!({ "name": "kanca bench", "channel": channel }),
            )
            .await
            .context("creating the bench incoming webhook")?;
        let url = created["url"]
            .as_str()
            .context("the created incoming webhook has no url")?;
        let url = url::Url::parse(url).context("the incoming webhook's url does not parse")?;
        Ok(url.path().to_owned())
    }

    /// Creates a bin keeping `max_requests` requests and returns its id.
    pub async fn create_bin(&self, max_requests: u32) -> anyhow::Result<String> {
        let created = self
            .post(
                "/api/v1/bin",
                json!({ "name": "kanca bench", "maxRequests": max_requests }),
            )
            .await
            .context("creating the bench bin")?;
        created["id"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("the created bin has no id: {created}"))
    }

    /// A `github` source with this secret, whose one ingest endpoint delivers to `url`;
    /// returns the source's ingest URL.
    pub async fn create_github_source(&self, secret: &str, url: &str) -> anyhow::Result<String> {
        let created = self
            .post(
                "/ingest/api/v1/source",
                json!({ "name": "kanca bench", "type": "github", "config": { "secret": secret } }),
            )
            .await
            .context("creating the bench source")?;
        let id = created["id"]
            .as_str()
            .with_context(|| format!("the created source has no id: {created}"))?;
        self.post(
            &format!("/ingest/api/v1/source/{id}/endpoint"),
            json!({ "url": url, "description": "kanca bench" }),
        )
        .await
        .context("adding the bench source's endpoint")?;
        created["ingestUrl"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("the created source has no ingestUrl: {created}"))
    }

    /// `kanca_deliveries_total` by outcome (Kanca only), from `/metrics`.
    pub async fn delivery_outcomes(&self) -> anyhow::Result<BTreeMap<String, u64>> {
        let response = self
            .client
            .get(format!("{}/metrics", self.base_url))
            .bearer_auth(self.token)
            .send()
            .await?
            .error_for_status()?;
        Ok(parse_outcomes(&response.text().await?))
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let response = self
            .client
            .post(format!("{}{path}", self.base_url))
            .bearer_auth(self.token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("POST {path} answered {status}: {text}");
        }
        serde_json::from_str(&text).with_context(|| format!("POST {path} answered {text:?}"))
    }
}

/// Reads `kanca_deliveries_total{outcome="Delivered"} 123` lines.
fn parse_outcomes(metrics: &str) -> BTreeMap<String, u64> {
    let mut outcomes = BTreeMap::new();
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix("kanca_deliveries_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.split_once('}') else {
            continue;
        };
        let outcome = labels
            .split(',')
            .find_map(|l| l.trim().strip_prefix("outcome="))
            .map(|v| v.trim_matches('"').to_owned());
        let value = value.trim().parse::<f64>().ok();
        if let (Some(outcome), Some(value)) = (outcome, value) {
            *outcomes.entry(outcome).or_default() += value as u64;
        }
    }
    outcomes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_outcome_counters() {
        let text = "# TYPE kanca_deliveries_total counter\n\
            kanca_deliveries_total{outcome=\"Delivered\"} 10\n\
            kanca_deliveries_total{outcome=\"FailedWillRetry\"} 2\n\
            kanca_deliveries_in_flight 0\n";
        let outcomes = parse_outcomes(text);
        assert_eq!(outcomes["Delivered"], 10);
        assert_eq!(outcomes["FailedWillRetry"], 2);
        assert_eq!(outcomes.len(), 2);
    }
}

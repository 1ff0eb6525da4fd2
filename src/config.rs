//! Settings: built-in defaults, then an optional `kanca.toml`, then `KANCA_*` environment
//! variables, then command-line flags (the later wins).
//!
//! Flags and environment variables are declared together on the CLI (clap reads both), so
//! `--help` lists every variable; this module adds the file layer and the defaults, and parses
//! every value once so the rest of the program only sees checked settings.

use crate::clock::Clock;
use crate::delivery::schedule::RetrySchedule;
use anyhow::Context;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// What a node does: everything, only the API, or only deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Serve the API and deliver (the default; the only sensible role with SQLite).
    All,
    /// Serve the API only; other nodes deliver (PostgreSQL).
    Api,
    /// Deliver only; serves just `/api/v1/health` and `/metrics` (PostgreSQL).
    Worker,
}

impl Role {
    pub fn serves_api(self) -> bool {
        matches!(self, Self::All | Self::Api)
    }

    pub fn delivers(self) -> bool {
        matches!(self, Self::All | Self::Worker)
    }
}

/// Settings shared by every subcommand that opens the database.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseArgs {
    /// Where the SQLite file and the generated admin token live.
    #[arg(long, env = "KANCA_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// `sqlite://…` (default: `sqlite://<data dir>/kanca.db`) or `postgres://…`.
    #[arg(
        long,
        env = "KANCA_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// A settings file (TOML, same names as the flags with `_`); `./kanca.toml` is read if present.
    #[arg(long, env = "KANCA_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `kanca serve` settings, as given on the command line or in the environment.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DatabaseArgs,
    /// What this node does: `all`, `api` or `worker` (several nodes on PostgreSQL).
    #[arg(long, env = "KANCA_ROLE", value_name = "ROLE")]
    pub role: Option<Role>,
    /// Address to listen on (`127.0.0.1:8080`; port 0 picks a free port).
    #[arg(long, env = "KANCA_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// The bearer token for the API. Default: generated on first start, stored in the data dir.
    #[arg(
        long,
        env = "KANCA_ADMIN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,
    /// The base URL that printed hook and bin URLs start with (default: `http://<listen>`).
    #[arg(long, env = "KANCA_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// Who may show the app portal (`/portal`) in an iframe: CSP `frame-ancestors` sources,
    /// space-separated, e.g. `'self' https://app.example.com` (default `'self'`).
    #[arg(long, env = "KANCA_PORTAL_FRAME_ANCESTORS", value_name = "SOURCES")]
    pub portal_frame_ancestors: Option<String>,
    /// Allow deliveries to loopback/private/link-local addresses (turns the SSRF guard off).
    #[arg(long, env = "KANCA_ALLOW_PRIVATE_TARGETS", value_name = "BOOL")]
    pub allow_private_targets: Option<bool>,
    /// Waits before each retry, e.g. `5s,5m,30m,2h,5h,10h,10h` (±20 % jitter).
    #[arg(long, env = "KANCA_RETRY_SCHEDULE", value_name = "LIST")]
    pub retry_schedule: Option<String>,
    /// How long one delivery request may take, e.g. `15s`.
    #[arg(long, env = "KANCA_DELIVERY_TIMEOUT", value_name = "DURATION")]
    pub delivery_timeout: Option<String>,
    /// Largest accepted request body in bytes (default 1 MiB).
    #[arg(long, env = "KANCA_MAX_BODY_BYTES", value_name = "BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Deliveries in flight at once (default 512).
    #[arg(long, env = "KANCA_MAX_IN_FLIGHT", value_name = "N")]
    pub max_in_flight: Option<usize>,
    /// Requests one endpoint may have in flight at once (default 64); the rest wait in the
    /// queue, so a slow endpoint cannot take every connection.
    #[arg(long, env = "KANCA_ENDPOINT_MAX_IN_FLIGHT", value_name = "N")]
    pub endpoint_max_in_flight: Option<u32>,
    /// Disable an endpoint that has failed without a single success for this long (`5d`).
    #[arg(long, env = "KANCA_DISABLE_AFTER", value_name = "DURATION")]
    pub disable_after: Option<String>,
    /// `pretty` or `json` (default: pretty on a terminal, json otherwise).
    #[arg(long, env = "KANCA_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Messages per second an incoming webhook may post when it sets no rate (default 1).
    #[arg(long, env = "KANCA_HOOK_RATE_LIMIT", value_name = "N")]
    pub hook_rate_limit: Option<u32>,
    /// How many messages an incoming webhook may post at once before its rate applies
    /// (default 10).
    #[arg(long, env = "KANCA_HOOK_RATE_BURST", value_name = "N")]
    pub hook_rate_burst: Option<u32>,
    /// Slack Web API calls (`/api/{method}`) per second one app may make (default 100); past
    /// it a call is answered 429 `ratelimited` with `Retry-After`, as Slack does.
    #[arg(long, env = "KANCA_SLACK_API_RATE_LIMIT", value_name = "N")]
    pub slack_api_rate_limit: Option<u32>,
    /// How many Web API calls an app may make at once before its rate applies (default 200).
    #[arg(long, env = "KANCA_SLACK_API_RATE_BURST", value_name = "N")]
    pub slack_api_rate_burst: Option<u32>,
    /// Waits between retries of a Slack app's Events API requests, comma-separated (default
    /// `1s,1m,5m`: Slack retries nearly at once, after a minute, after five minutes, then gives
    /// up). Each retry carries `X-Slack-Retry-Num` and `X-Slack-Retry-Reason`.
    #[arg(long, env = "KANCA_SLACK_EVENTS_RETRY_SCHEDULE", value_name = "LIST")]
    pub slack_events_retry_schedule: Option<String>,
    /// Failed hook requests (unknown token, disallowed address) from one IP within the window
    /// that get it blocked for a while (default 20).
    #[arg(long, env = "KANCA_IP_BLOCK_THRESHOLD", value_name = "N")]
    pub ip_block_threshold: Option<u32>,
    /// The window those failures are counted in, e.g. `1m` (default).
    #[arg(long, env = "KANCA_IP_BLOCK_WINDOW", value_name = "DURATION")]
    pub ip_block_window: Option<String>,
    /// How long such an IP is blocked, e.g. `15m` (default).
    #[arg(long, env = "KANCA_IP_BLOCK_DURATION", value_name = "DURATION")]
    pub ip_block_duration: Option<String>,
    /// PostgreSQL: how long a request waits for a database connection before it is answered
    /// 503 with `Retry-After` (default `5s`), e.g. while the database is down.
    #[arg(long, env = "KANCA_DATABASE_TIMEOUT", value_name = "DURATION")]
    pub database_timeout: Option<String>,
    /// SQLite: checkpoint and cut back the write-ahead log once it passes this size (default
    /// `64MiB`), so it stays bounded under steady load.
    #[arg(long, env = "KANCA_SQLITE_WAL_LIMIT", value_name = "SIZE")]
    pub sqlite_wal_limit: Option<String>,
    /// SQLite: the most the database file may grow to, e.g. `10GiB` (default: no limit). Past it
    /// writes are refused with 503, exactly as on a full disk.
    #[arg(long, env = "KANCA_SQLITE_MAX_SIZE", value_name = "SIZE")]
    pub sqlite_max_size: Option<String>,
    /// What a block covers: `hook` (only the hook id it kept failing on; the default), `all`
    /// (every hook: behind a proxy that is not trusted, anyone could then silence every
    /// hook), or `off` (failures are only recorded).
    #[arg(long, env = "KANCA_IP_BLOCK_SCOPE", value_name = "SCOPE")]
    pub ip_block_scope: Option<crate::workspace::guard::BlockScope>,
    /// Reverse proxies whose `Forwarded` / `X-Forwarded-For` headers are believed, as
    /// comma-separated addresses or CIDRs (e.g. `10.0.0.0/8,127.0.0.1`). Default: none, so
    /// the connection's address is the client's.
    #[arg(long, env = "KANCA_TRUSTED_PROXIES", value_name = "CIDRS")]
    pub trusted_proxies: Option<String>,
    /// Wrong admin tokens (bearer or sign-in) from one address within the window after which
    /// it is answered 429 (default 10).
    #[arg(long, env = "KANCA_AUTH_FAILURE_THRESHOLD", value_name = "N")]
    pub auth_failure_threshold: Option<u32>,
    /// The window those are counted in (default `1m`).
    #[arg(long, env = "KANCA_AUTH_FAILURE_WINDOW", value_name = "DURATION")]
    pub auth_failure_window: Option<String>,
    /// How long such an address is answered 429 (default `5m`).
    #[arg(long, env = "KANCA_AUTH_BLOCK_DURATION", value_name = "DURATION")]
    pub auth_block_duration: Option<String>,
    /// Repeats of one security incident (same address, same reason) within this window are
    /// one row with a count (default `1h`).
    #[arg(long, env = "KANCA_INCIDENT_WINDOW", value_name = "DURATION")]
    pub incident_window: Option<String>,
    /// How long incidents are kept (default `30d`).
    #[arg(long, env = "KANCA_INCIDENT_RETENTION", value_name = "DURATION")]
    pub incident_retention: Option<String>,
    /// How long a client has to send a request's headers, e.g. `10s` (default); for a
    /// kept-alive HTTP/1.1 connection, counted from the previous response. Slow senders
    /// (slowloris) are disconnected.
    #[arg(long, env = "KANCA_HEADER_READ_TIMEOUT", value_name = "DURATION")]
    pub header_read_timeout: Option<String>,
    /// Close a connection with no request in flight for this long, e.g. `60s` (default).
    #[arg(long, env = "KANCA_IDLE_TIMEOUT", value_name = "DURATION")]
    pub idle_timeout: Option<String>,
    /// Open connections at most (default 1024); past it, new ones wait to be accepted.
    #[arg(long, env = "KANCA_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,
    /// The most incident rows kept; the oldest go first (default 10000).
    #[arg(long, env = "KANCA_INCIDENT_MAX_ROWS", value_name = "N")]
    pub incident_max_rows: Option<u32>,
}

/// The optional settings file: every key optional, names as the flags with `_`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    role: Option<Role>,
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    admin_token: Option<String>,
    public_url: Option<String>,
    portal_frame_ancestors: Option<String>,
    allow_private_targets: Option<bool>,
    retry_schedule: Option<String>,
    delivery_timeout: Option<String>,
    max_body_bytes: Option<usize>,
    max_in_flight: Option<usize>,
    endpoint_max_in_flight: Option<u32>,
    disable_after: Option<String>,
    log_format: Option<LogFormat>,
    hook_rate_limit: Option<u32>,
    hook_rate_burst: Option<u32>,
    slack_api_rate_limit: Option<u32>,
    slack_api_rate_burst: Option<u32>,
    slack_events_retry_schedule: Option<String>,
    ip_block_threshold: Option<u32>,
    ip_block_window: Option<String>,
    ip_block_duration: Option<String>,
    database_timeout: Option<String>,
    sqlite_wal_limit: Option<String>,
    sqlite_max_size: Option<String>,
    ip_block_scope: Option<crate::workspace::guard::BlockScope>,
    trusted_proxies: Option<String>,
    auth_failure_threshold: Option<u32>,
    auth_failure_window: Option<String>,
    auth_block_duration: Option<String>,
    incident_window: Option<String>,
    incident_retention: Option<String>,
    incident_max_rows: Option<u32>,
    header_read_timeout: Option<String>,
    idle_timeout: Option<String>,
    max_connections: Option<usize>,
}

/// Checked settings for running the server.
#[derive(Debug, Clone)]
pub struct Settings {
    pub role: Role,
    pub listen: String,
    pub data_dir: PathBuf,
    pub database_url: String,
    /// `None`: use the token stored in the data dir, generating it on first start.
    pub admin_token: Option<String>,
    pub public_url: Option<String>,
    /// CSP `frame-ancestors` of the app portal's pages (`KANCA_PORTAL_FRAME_ANCESTORS`).
    pub portal_frame_ancestors: String,
    pub allow_private_targets: bool,
    pub retry_schedule: RetrySchedule,
    pub delivery_timeout: Duration,
    pub max_body_bytes: usize,
    pub max_in_flight: usize,
    pub endpoint_max_in_flight: u32,
    pub disable_after: Duration,
    pub log_format: Option<LogFormat>,
    /// The time rules are checked against; tests move it forward.
    pub clock: Clock,
    /// How often expired payloads are looked for (a minute; tests shorten it).
    pub retention_sweep: Duration,
    /// The Slack-compatible workspace's limits (hook rates, temporary IP blocks).
    pub workspace: crate::workspace::WorkspaceSettings,
    /// How the store treats its database (timeouts, the WAL's bound, a size cap).
    pub store: crate::store::StoreOptions,
    /// Connection timeouts and limit.
    pub http: crate::http_server::HttpLimits,
}

impl Settings {
    /// Defaults that suit a test or an embedded use: port 0, the given data dir.
    pub fn for_data_dir(data_dir: &Path) -> Self {
        Self {
            role: Role::All,
            listen: "127.0.0.1:0".into(),
            data_dir: data_dir.to_owned(),
            database_url: default_database_url(data_dir),
            admin_token: None,
            public_url: None,
            portal_frame_ancestors: "'self'".into(),
            allow_private_targets: false,
            retry_schedule: RetrySchedule::default(),
            delivery_timeout: Duration::from_secs(15),
            max_body_bytes: 1024 * 1024,
            max_in_flight: 512,
            endpoint_max_in_flight: 64,
            disable_after: Duration::from_secs(5 * 24 * 60 * 60),
            log_format: None,
            clock: Clock::default(),
            retention_sweep: Duration::from_secs(60),
            workspace: Default::default(),
            store: Default::default(),
            http: Default::default(),
        }
    }

    pub fn load(args: ServeArgs) -> anyhow::Result<Self> {
        let file = read_file(args.db.config.as_deref())?;
        let workspace = workspace_settings(&args, &file, &Default::default())?;
        let store = store_options(&args, &file, &Default::default())?;
        let data_dir = args
            .db
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("./kanca-data"));
        let retry = args
            .retry_schedule
            .or(file.retry_schedule)
            .map(|s| RetrySchedule::parse(&s).map_err(anyhow::Error::msg))
            .transpose()
            .context("KANCA_RETRY_SCHEDULE")?
            .unwrap_or_default();
        let timeout = args
            .delivery_timeout
            .or(file.delivery_timeout)
            .map(|s| humantime::parse_duration(&s))
            .transpose()
            .context("KANCA_DELIVERY_TIMEOUT")?
            .unwrap_or(Duration::from_secs(15));
        let disable_after = args
            .disable_after
            .or(file.disable_after)
            .map(|s| humantime::parse_duration(&s))
            .transpose()
            .context("KANCA_DISABLE_AFTER")?;
        let defaults = Self::for_data_dir(&data_dir);
        let http_duration = |arg: Option<String>, file: Option<String>, name: &str, d: Duration| {
            arg.or(file)
                .map(|s| humantime::parse_duration(&s))
                .transpose()
                .with_context(|| name.to_owned())
                .map(|v| v.unwrap_or(d).max(Duration::from_millis(1)))
        };
        let http = crate::http_server::HttpLimits {
            header_read_timeout: http_duration(
                args.header_read_timeout,
                file.header_read_timeout,
                "KANCA_HEADER_READ_TIMEOUT",
                defaults.http.header_read_timeout,
            )?,
            idle_timeout: http_duration(
                args.idle_timeout,
                file.idle_timeout,
                "KANCA_IDLE_TIMEOUT",
                defaults.http.idle_timeout,
            )?,
            max_connections: args
                .max_connections
                .or(file.max_connections)
                .unwrap_or(defaults.http.max_connections)
                .max(1),
        };
        Ok(Self {
            role: args.role.or(file.role).unwrap_or(Role::All),
            listen: args
                .listen
                .or(file.listen)
                .unwrap_or_else(|| "127.0.0.1:8080".into()),
            database_url: args
                .db
                .database_url
                .or(file.database_url)
                .unwrap_or(defaults.database_url),
            admin_token: args
                .admin_token
                .or(file.admin_token)
                .filter(|t| !t.is_empty()),
            public_url: args.public_url.or(file.public_url),
            portal_frame_ancestors: parse_frame_ancestors(
                args.portal_frame_ancestors
                    .or(file.portal_frame_ancestors)
                    .as_deref(),
            )?,
            allow_private_targets: args
                .allow_private_targets
                .or(file.allow_private_targets)
                .unwrap_or(false),
            retry_schedule: retry,
            delivery_timeout: timeout,
            max_body_bytes: args
                .max_body_bytes
                .or(file.max_body_bytes)
                .unwrap_or(defaults.max_body_bytes),
            max_in_flight: args
                .max_in_flight
                .or(file.max_in_flight)
                .unwrap_or(defaults.max_in_flight),
            endpoint_max_in_flight: args
                .endpoint_max_in_flight
                .or(file.endpoint_max_in_flight)
                .unwrap_or(defaults.endpoint_max_in_flight),
            disable_after: disable_after.unwrap_or(defaults.disable_after),
            log_format: args.log_format.or(file.log_format),
            clock: Clock::default(),
            retention_sweep: defaults.retention_sweep,
            workspace,
            store,
            http,
            data_dir,
        })
    }
}

/// `KANCA_PORTAL_FRAME_ANCESTORS`: CSP sources, checked so that the value cannot end the
/// directive and add another (no `;` or `,`, no control characters).
fn parse_frame_ancestors(value: Option<&str>) -> anyhow::Result<String> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok("'self'".into());
    };
    if v.chars().any(|c| c == ';' || c == ',' || c.is_control()) {
        anyhow::bail!(
            "KANCA_PORTAL_FRAME_ANCESTORS must be CSP sources separated by spaces, e.g. `'self' https://app.example.com`"
        );
    }
    Ok(v.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The workspace's settings from flags, environment and file, checked.
fn workspace_settings(
    args: &ServeArgs,
    file: &FileSettings,
    defaults: &crate::workspace::WorkspaceSettings,
) -> anyhow::Result<crate::workspace::WorkspaceSettings> {
    let duration = |arg: &Option<String>, file: &Option<String>, name: &str, default: Duration| {
        arg.clone()
            .or(file.clone())
            .map(|s| humantime::parse_duration(&s))
            .transpose()
            .with_context(|| name.to_owned())
            .map(|d| d.unwrap_or(default))
    };
    let rate = crate::domain::workspace::HookRate::parse(
        args.hook_rate_limit
            .or(file.hook_rate_limit)
            .unwrap_or(defaults.hook_rate.per_second),
        args.hook_rate_burst
            .or(file.hook_rate_burst)
            .unwrap_or(defaults.hook_rate.burst),
    )
    .map_err(anyhow::Error::msg)
    .context("KANCA_HOOK_RATE_LIMIT / KANCA_HOOK_RATE_BURST")?;
    let web_api_rate = crate::domain::workspace::HookRate::parse(
        args.slack_api_rate_limit
            .or(file.slack_api_rate_limit)
            .unwrap_or(defaults.web_api_rate.per_second),
        args.slack_api_rate_burst
            .or(file.slack_api_rate_burst)
            .unwrap_or(defaults.web_api_rate.burst),
    )
    .map_err(anyhow::Error::msg)
    .context("KANCA_SLACK_API_RATE_LIMIT / KANCA_SLACK_API_RATE_BURST")?;
    let events_retry_schedule = match args
        .slack_events_retry_schedule
        .clone()
        .or(file.slack_events_retry_schedule.clone())
    {
        Some(s) => RetrySchedule::parse(&s)
            .map_err(anyhow::Error::msg)
            .context("KANCA_SLACK_EVENTS_RETRY_SCHEDULE")?,
        None => defaults.events_retry_schedule.clone(),
    };
    Ok(crate::workspace::WorkspaceSettings {
        hook_rate: rate,
        web_api_rate,
        events_retry_schedule,
        ip_block_threshold: args
            .ip_block_threshold
            .or(file.ip_block_threshold)
            .unwrap_or(defaults.ip_block_threshold)
            .max(1),
        ip_block_window: duration(
            &args.ip_block_window,
            &file.ip_block_window,
            "KANCA_IP_BLOCK_WINDOW",
            defaults.ip_block_window,
        )?,
        ip_block_duration: duration(
            &args.ip_block_duration,
            &file.ip_block_duration,
            "KANCA_IP_BLOCK_DURATION",
            defaults.ip_block_duration,
        )?,
        ip_block_scope: args
            .ip_block_scope
            .or(file.ip_block_scope)
            .unwrap_or(defaults.ip_block_scope),
        trusted_proxies: args
            .trusted_proxies
            .clone()
            .or(file.trusted_proxies.clone())
            .map(|s| parse_cidrs(&s))
            .transpose()
            .context("KANCA_TRUSTED_PROXIES")?
            .unwrap_or_default(),
        auth_failure_threshold: args
            .auth_failure_threshold
            .or(file.auth_failure_threshold)
            .unwrap_or(defaults.auth_failure_threshold)
            .max(1),
        auth_failure_window: duration(
            &args.auth_failure_window,
            &file.auth_failure_window,
            "KANCA_AUTH_FAILURE_WINDOW",
            defaults.auth_failure_window,
        )?,
        auth_block_duration: duration(
            &args.auth_block_duration,
            &file.auth_block_duration,
            "KANCA_AUTH_BLOCK_DURATION",
            defaults.auth_block_duration,
        )?,
        incident_window: duration(
            &args.incident_window,
            &file.incident_window,
            "KANCA_INCIDENT_WINDOW",
            defaults.incident_window,
        )?
        .max(Duration::from_millis(1)),
        incident_retention: duration(
            &args.incident_retention,
            &file.incident_retention,
            "KANCA_INCIDENT_RETENTION",
            defaults.incident_retention,
        )?,
        incident_max_rows: args
            .incident_max_rows
            .or(file.incident_max_rows)
            .unwrap_or(defaults.incident_max_rows)
            .max(1),
    })
}

/// The store's settings from flags, environment and file, checked.
fn store_options(
    args: &ServeArgs,
    file: &FileSettings,
    defaults: &crate::store::StoreOptions,
) -> anyhow::Result<crate::store::StoreOptions> {
    let size = |arg: &Option<String>, file: &Option<String>, name: &str| {
        arg.clone()
            .or(file.clone())
            .map(|s| parse_size(&s))
            .transpose()
            .with_context(|| name.to_owned())
    };
    let acquire_timeout = args
        .database_timeout
        .clone()
        .or(file.database_timeout.clone())
        .map(|s| humantime::parse_duration(&s))
        .transpose()
        .context("KANCA_DATABASE_TIMEOUT")?
        .unwrap_or(defaults.acquire_timeout);
    if acquire_timeout.is_zero() {
        anyhow::bail!("KANCA_DATABASE_TIMEOUT must be more than zero");
    }
    Ok(crate::store::StoreOptions {
        acquire_timeout,
        wal_limit: size(
            &args.sqlite_wal_limit,
            &file.sqlite_wal_limit,
            "KANCA_SQLITE_WAL_LIMIT",
        )?
        .unwrap_or(defaults.wal_limit),
        max_database_bytes: size(
            &args.sqlite_max_size,
            &file.sqlite_max_size,
            "KANCA_SQLITE_MAX_SIZE",
        )?
        .or(defaults.max_database_bytes),
        // Replaced by the settings' clock when the server starts.
        clock: defaults.clock.clone(),
    })
}

/// A size such as `64MiB`, `512KB`, `1GiB` or a plain number of bytes.
fn parse_size(text: &str) -> anyhow::Result<u64> {
    text.trim()
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|e| anyhow::anyhow!("{text:?} is not a size such as 64MiB: {e}"))
}

/// `10.0.0.0/8, 127.0.0.1` → networks (a bare address is a network of one).
fn parse_cidrs(list: &str) -> anyhow::Result<Vec<ipnet::IpNet>> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| anyhow::anyhow!("`{s}` is neither an address nor a CIDR"))
        })
        .collect()
}

/// The shortest admin token accepted.
pub const MIN_ADMIN_TOKEN_LEN: usize = 16;

/// Tokens seen in examples and guessed first.
const WELL_KNOWN_TOKENS: &[&str] = &[
    "change-me",
    "change-me-please",
    "changemechangeme",
    "0123456789abcdef",
    "1234567890123456",
    "changeme",
    "change_me",
    "secret",
    "password",
    "admin",
    "token",
    "kanca",
    "test",
    "example",
    "your-admin-token",
];

/// Refuses an admin token that is short or well known: it guards every route, and guessing
/// it is only slowed down, not stopped, by the per-address limit. `setting` names where the
/// token came from, for the error.
pub fn check_admin_token(token: &str, setting: &str) -> anyhow::Result<()> {
    let lower = token.trim().to_ascii_lowercase();
    if WELL_KNOWN_TOKENS.contains(&lower.as_str()) {
        anyhow::bail!(
            "{setting} is a well-known value; set it to a long random one, e.g. `openssl rand -hex 24`"
        );
    }
    if token.chars().count() < MIN_ADMIN_TOKEN_LEN {
        anyhow::bail!(
            "{setting} is too short ({} characters): use at least {MIN_ADMIN_TOKEN_LEN} random characters, e.g. `openssl rand -hex 24`",
            token.chars().count()
        );
    }
    Ok(())
}

/// The database URL for `kanca migrate`, resolved like `serve` does.
pub fn database_url(args: &DatabaseArgs) -> anyhow::Result<(PathBuf, String)> {
    let file = read_file(args.config.as_deref())?;
    let data_dir = args
        .data_dir
        .clone()
        .or(file.data_dir)
        .unwrap_or_else(|| PathBuf::from("./kanca-data"));
    let url = args
        .database_url
        .clone()
        .or(file.database_url)
        .unwrap_or_else(|| default_database_url(&data_dir));
    Ok((data_dir, url))
}

fn default_database_url(data_dir: &Path) -> String {
    format!("sqlite://{}", data_dir.join("kanca.db").display())
}

fn read_file(explicit: Option<&Path>) -> anyhow::Result<FileSettings> {
    let path = match explicit {
        Some(p) => p.to_owned(),
        None if Path::new("kanca.toml").exists() => PathBuf::from("kanca.toml"),
        None => return Ok(FileSettings::default()),
    };
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

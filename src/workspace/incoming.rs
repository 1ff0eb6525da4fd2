//! Incoming webhooks: managing them, and answering `POST /services/T…/B…/token` exactly as
//! Slack does (status and `text/plain` body for every case).
//!
//! The order of checks matters for security: a blocked address is refused before anything is
//! looked up; the token is checked (in constant time, against its stored SHA-256) before the
//! allow-list, the rate limit or the body are looked at, so an unauthorized caller learns
//! nothing about the hook. Every refusal for lack of authorization is a stored incident and
//! counts towards the caller's temporary block. The token never reaches a log or an incident:
//! paths are masked first.

use super::guard::FailureEffect;
use super::payload;
use super::{Workspace, WorkspaceError};
use crate::domain::workspace::*;
use std::net::IpAddr;
use subtle::ConstantTimeEq;

/// What a hook is created with (`POST /api/v1/incoming-webhooks`).
#[derive(Debug, Clone, Default)]
pub struct NewIncomingHook {
    pub name: String,
    pub channel: String,
    pub username: Option<String>,
    pub icon_emoji: Option<String>,
    pub icon_url: Option<String>,
    pub locked: bool,
    /// `(per_second, burst)`.
    pub rate: Option<(u32, u32)>,
    pub allowed_ips: Vec<String>,
}

/// One request to a hook URL, as it arrived.
#[derive(Debug, Clone, Copy)]
pub struct HookRequest<'a> {
    pub team: &'a str,
    pub hook: &'a str,
    pub token: &'a str,
    /// The client's: the connection's, or what a trusted proxy says ([`super::guard`]).
    pub ip: IpAddr,
    pub path: &'a str,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

/// Slack's answer: a status and a short `text/plain` body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlackAnswer {
    pub status: u16,
    pub body: &'static str,
    /// Seconds, for a 429.
    pub retry_after: Option<u64>,
}

impl SlackAnswer {
    const fn new(status: u16, body: &'static str) -> Self {
        Self {
            status,
            body,
            retry_after: None,
        }
    }
}

const OK: SlackAnswer = SlackAnswer::new(200, "ok");
const INVALID_TOKEN: SlackAnswer = SlackAnswer::new(403, "invalid_token");
/// Slack's answer when an administrator's policy forbids the post; used for a disallowed or
/// temporarily blocked address.
const PROHIBITED: SlackAnswer = SlackAnswer::new(403, "action_prohibited");

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

impl Workspace {
    /// The secret URL of a hook with this token.
    pub fn hook_url(&self, id: &HookId, token: &HookToken) -> String {
        format!(
            "{}/services/{}/{}/{}",
            self.deps.public_url,
            self.team_id(),
            id,
            token.expose()
        )
    }

    /// Creates a hook; returns it with its URL, which is shown this once (only a digest of
    /// the token is stored).
    pub async fn create_incoming_hook(
        &self,
        input: NewIncomingHook,
    ) -> Result<(IncomingHook, String), WorkspaceError> {
        let name = input.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 80 {
            return Err(WorkspaceError::Invalid(
                "`name` must be 1 to 80 characters long".into(),
            ));
        }
        let rate = input
            .rate
            .map(|(per_second, burst)| HookRate::parse(per_second, burst))
            .transpose()?;
        let allowed_ips = AllowedIps::parse(&input.allowed_ips)?;
        if let Some(url) = input.icon_url.as_deref().filter(|u| !u.is_empty()) {
            url::Url::parse(url)
                .map_err(|_| WorkspaceError::Invalid(format!("`{url}` is not a valid URL")))?;
        }
        let channel = self.channel(&input.channel).await?;
        let hook = IncomingHook {
            id: HookId::generate(),
            name,
            channel_id: channel.id,
            username: non_empty(input.username),
            icon_emoji: non_empty(input.icon_emoji),
            icon_url: non_empty(input.icon_url),
            locked: input.locked,
            rate,
            allowed_ips,
            revoked: false,
            created_at: crate::store::from_ms(crate::store::to_ms(self.deps.clock.now())),
        };
        let token = HookToken::generate();
        self.deps
            .store
            .create_incoming_hook(&hook, &token.digest())
            .await?;
        let url = self.hook_url(&hook.id, &token);
        Ok((hook, url))
    }

    pub async fn incoming_hook(&self, id: &str) -> Result<IncomingHook, WorkspaceError> {
        let id = HookId::parse(id).map_err(|_| hook_not_found())?;
        self.deps
            .store
            .get_incoming_hook(&id)
            .await?
            .map(|(hook, _)| hook)
            .ok_or_else(hook_not_found)
    }

    pub async fn list_incoming_hooks(&self) -> Result<Vec<IncomingHook>, WorkspaceError> {
        Ok(self.deps.store.list_incoming_hooks().await?)
    }

    /// Revokes a hook: its URL answers 403 `invalid_token` from then on.
    pub async fn revoke_incoming_hook(&self, id: &str) -> Result<(), WorkspaceError> {
        let hook = self.incoming_hook(id).await?;
        self.deps.store.revoke_incoming_hook(&hook.id).await?;
        Ok(())
    }

    /// A new URL for a hook; the old one stops working at once.
    pub async fn regenerate_incoming_hook(
        &self,
        id: &str,
    ) -> Result<(IncomingHook, String), WorkspaceError> {
        let hook = self.incoming_hook(id).await?;
        if hook.revoked {
            return Err(WorkspaceError::Conflict(
                "the hook is revoked; create a new one".into(),
            ));
        }
        let token = HookToken::generate();
        self.deps
            .store
            .set_incoming_hook_token(&hook.id, &token.digest())
            .await?;
        let url = self.hook_url(&hook.id, &token);
        Ok((hook, url))
    }

    /// Answers one request to a hook URL.
    pub async fn receive(&self, req: HookRequest<'_>) -> SlackAnswer {
        let path = mask_hook_path(req.path);
        match self.try_receive(&req, &path).await {
            Ok(answer) => answer,
            // Storage is full or down: the post was not stored. Slack's body for a server
            // fault, but 503 with `Retry-After`, so senders know a retry can succeed (the
            // episode is logged once by the store's write health).
            Err(WorkspaceError::Store(e)) if e.is_unavailable() => SlackAnswer {
                retry_after: Some(crate::store::health::RETRY_AFTER_SECS),
                ..SlackAnswer::new(503, "rollup_error")
            },
            Err(e) => {
                tracing::error!(error = %e, path = %path, "an incoming webhook failed");
                SlackAnswer::new(500, "rollup_error")
            }
        }
    }

    async fn try_receive(
        &self,
        req: &HookRequest<'_>,
        path: &str,
    ) -> Result<SlackAnswer, WorkspaceError> {
        if self.guard.is_blocked(req.ip, req.hook) {
            return Ok(PROHIBITED);
        }
        let Some(hook) = self.authenticate(req).await? else {
            self.refuse(req, path, "unknown or revoked hook token")
                .await;
            return Ok(INVALID_TOKEN);
        };
        if !hook.allowed_ips.allows(req.ip) {
            self.refuse(req, path, "address not in the hook's allow-list")
                .await;
            return Ok(PROHIBITED);
        }
        if let Err(wait) = self.guard.admit(&hook.id, hook.rate) {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return Ok(SlackAnswer {
                status: 429,
                body: "rate_limited",
                retry_after: Some(secs.max(1)),
            });
        }
        let payload = match payload::parse(req.content_type, req.body) {
            Ok(p) => p,
            Err(e) => return Ok(SlackAnswer::new(400, e.code())),
        };
        let channel = match payload.channel.as_deref().filter(|_| !hook.locked) {
            Some(name) => match self.channel(name).await {
                Ok(c) => c,
                Err(WorkspaceError::NotFound(_)) => {
                    return Ok(SlackAnswer::new(404, "channel_not_found"))
                }
                Err(e) => return Err(e),
            },
            None => match self.channel(hook.channel_id.as_str()).await {
                Ok(c) => c,
                Err(WorkspaceError::NotFound(_)) => {
                    return Ok(SlackAnswer::new(404, "channel_not_found"))
                }
                Err(e) => return Err(e),
            },
        };
        if channel.archived {
            return Ok(SlackAnswer::new(410, "channel_is_archived"));
        }
        let (username, icon_emoji, icon_url) = if hook.locked {
            (
                hook.username.clone(),
                hook.icon_emoji.clone(),
                hook.icon_url.clone(),
            )
        } else {
            (
                payload.username.or_else(|| hook.username.clone()),
                payload.icon_emoji.or_else(|| hook.icon_emoji.clone()),
                payload.icon_url.or_else(|| hook.icon_url.clone()),
            )
        };
        let msg = NewChannelMessage {
            text: payload.text.unwrap_or_default(),
            mrkdwn: payload.mrkdwn,
            username,
            icon_emoji,
            icon_url,
            attachments: payload.attachments,
            blocks: payload.blocks,
            thread_ts: payload.thread_ts,
            posted_by: PosterKind::App,
            poster_name: hook.name.clone(),
            user_id: None,
        };
        match self.post_message(&channel, msg).await {
            Ok(_) => Ok(OK),
            Err(WorkspaceError::Archived) => Ok(SlackAnswer::new(410, "channel_is_archived")),
            Err(WorkspaceError::NotFound(_)) => Ok(SlackAnswer::new(404, "channel_not_found")),
            Err(e) => Err(e),
        }
    }

    /// The hook the URL names, if its team matches and its token is the current one of a hook
    /// that is not revoked. The digest comparison takes the same time wherever it differs.
    async fn authenticate(
        &self,
        req: &HookRequest<'_>,
    ) -> Result<Option<IncomingHook>, WorkspaceError> {
        if req.team != self.team_id().as_str() {
            return Ok(None);
        }
        let (Ok(id), Ok(token)) = (HookId::parse(req.hook), HookToken::parse(req.token)) else {
            return Ok(None);
        };
        let Some((hook, stored)) = self.deps.store.get_incoming_hook(&id).await? else {
            return Ok(None);
        };
        let matches: bool = token.digest().as_slice().ct_eq(stored.as_slice()).into();
        if !matches || hook.revoked {
            return Ok(None);
        }
        Ok(Some(hook))
    }

    /// Records an unauthorized request and counts it towards a temporary block of its address
    /// (which is recorded too when it happens).
    async fn refuse(&self, req: &HookRequest<'_>, path: &str, reason: &str) {
        let ip = req.ip;
        tracing::warn!(ip = %ip, path, reason, "refused a request to an incoming webhook");
        self.record_incident(ip, path, reason).await;
        if self.guard.record_failure(ip, req.hook) == FailureEffect::Blocked {
            let scope = match self.settings.ip_block_scope {
                super::guard::BlockScope::Hook => "from this hook",
                _ => "from every hook",
            };
            let reason = format!(
                "address blocked {scope} for {} after {} failed requests within {}",
                humantime::format_duration(self.settings.ip_block_duration),
                self.settings.ip_block_threshold,
                humantime::format_duration(self.settings.ip_block_window),
            );
            tracing::warn!(ip = %ip, "{reason}");
            self.record_incident(ip, path, &reason).await;
        }
    }

    /// Stores an incident, counted into the row of its address and reason for the current
    /// window (`KANCA_INCIDENT_WINDOW`); now and then prunes old rows and rows past the cap.
    /// A storage failure is logged, never passed on: the request is refused either way.
    pub async fn record_incident(&self, ip: IpAddr, path: &str, reason: &str) {
        let now = crate::store::from_ms(crate::store::to_ms(self.deps.clock.now()));
        let window_ms = (self.settings.incident_window.as_millis() as i64).max(1);
        let now_ms = crate::store::to_ms(now);
        let window_start = crate::store::from_ms(now_ms - now_ms.rem_euclid(window_ms));
        let incident = Incident {
            id: 0,
            at: now,
            last_at: now,
            hits: 1,
            ip: ip.to_canonical().to_string(),
            path: path.to_owned(),
            reason: reason.to_owned(),
        };
        if let Err(e) = self
            .deps
            .store
            .record_incident(&incident, window_start)
            .await
        {
            tracing::error!(error = %e, "could not record a security incident");
        }
        let n = self
            .incidents_recorded
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Often enough that the cap holds within a tenth of itself (and exactly for small caps).
        let every = u64::from(self.settings.incident_max_rows / 10).clamp(1, PRUNE_EVERY);
        if n % every == 0 {
            let cutoff = now
                - chrono::Duration::from_std(self.settings.incident_retention)
                    .unwrap_or(chrono::Duration::MAX);
            match self
                .deps
                .store
                .prune_incidents(cutoff, self.settings.incident_max_rows)
                .await
            {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "pruned old security incidents"),
                Err(e) => tracing::error!(error = %e, "could not prune security incidents"),
            }
        }
    }

    /// A page of incidents (newest first unless `page` says otherwise).
    pub async fn list_incidents(
        &self,
        page: &crate::store::PageRequest,
    ) -> Result<Vec<Incident>, WorkspaceError> {
        Ok(self.deps.store.list_incidents(page).await?)
    }
}

/// Incidents are pruned on the first one recorded and then at least every this many (per
/// node).
const PRUNE_EVERY: u64 = 100;

fn hook_not_found() -> WorkspaceError {
    WorkspaceError::NotFound("incoming webhook not found".into())
}

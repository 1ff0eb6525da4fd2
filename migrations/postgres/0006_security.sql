-- Security records (issue 14).
--
-- Incidents are aggregated: one row per address, reason and window, with a count of hits and
-- the time of the latest, instead of a row per refused request (10,000 wrong tokens made
-- 10,000 rows). Rows stored before this keep their own row: each gets a window of its own
-- (`-id`), which no new incident falls into.
ALTER TABLE ws_incident ADD COLUMN window_start BIGINT NOT NULL DEFAULT 0;
ALTER TABLE ws_incident ADD COLUMN last_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE ws_incident ADD COLUMN hits BIGINT NOT NULL DEFAULT 1;
UPDATE ws_incident SET last_at = at, window_start = -id;
CREATE UNIQUE INDEX ws_incident_repeat ON ws_incident (ip, reason, window_start);
CREATE INDEX ws_incident_by_last_at ON ws_incident (last_at);

-- Console sessions signed out before they expired: the cookie is stateless (an HMAC), so
-- signing out must be remembered server-side until the cookie would have expired anyway.
CREATE TABLE console_session_end (
    id         TEXT COLLATE "C" PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

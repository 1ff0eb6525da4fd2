-- The Slack-compatible workspace: one team, channels, their messages, incoming and outgoing
-- webhooks, and security incidents. Times are milliseconds since the epoch, as everywhere;
-- a message's `ts` is microseconds (Slack's precision) and, with its channel, its key.

-- One row: the workspace's team. The fixed key makes a first start on several nodes at once
-- agree on one team (every node inserts, one wins, all read the winner).
CREATE TABLE ws_team (
    singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
    id         TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE ws_channel (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    archived   INTEGER NOT NULL DEFAULT 0,
    -- The last `ts` given out in this channel: the next is max(now, last_ts + 1), assigned by
    -- one UPDATE, so `ts` is unique and increasing per channel (the live stream's cursor).
    last_ts    INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

CREATE TABLE ws_message (
    channel_id  TEXT NOT NULL REFERENCES ws_channel (id) ON DELETE CASCADE,
    ts          INTEGER NOT NULL,
    text        TEXT NOT NULL,
    username    TEXT,
    icon_emoji  TEXT,
    icon_url    TEXT,
    attachments TEXT,           -- JSON exactly as the sender gave it
    blocks      TEXT,           -- JSON exactly as the sender gave it
    thread_ts   INTEGER,
    posted_by   TEXT NOT NULL,  -- user | app | bot
    poster_name TEXT NOT NULL,
    PRIMARY KEY (channel_id, ts)
);

-- A thread: its replies.
CREATE INDEX ws_message_thread ON ws_message (channel_id, thread_ts) WHERE thread_ts IS NOT NULL;

CREATE TABLE ws_incoming_hook (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    channel_id   TEXT NOT NULL REFERENCES ws_channel (id) ON DELETE CASCADE,
    username     TEXT,
    icon_emoji   TEXT,
    icon_url     TEXT,
    locked       INTEGER NOT NULL DEFAULT 0,
    rate_per_sec INTEGER,
    rate_burst   INTEGER,
    allowed_ips  TEXT NOT NULL DEFAULT '[]',
    -- SHA-256 of the URL's token (hex): the token itself is shown once and never stored.
    token_digest TEXT NOT NULL,
    revoked      INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL
);

CREATE TABLE ws_outgoing_hook (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    channel_id     TEXT REFERENCES ws_channel (id) ON DELETE CASCADE,
    trigger_words  TEXT NOT NULL,   -- JSON array
    trigger_when   TEXT NOT NULL,
    callback_urls  TEXT NOT NULL,   -- JSON array
    endpoint_ids   TEXT NOT NULL,   -- JSON array, one per callback URL
    content_type   TEXT NOT NULL,
    token          TEXT NOT NULL,
    signing_secret TEXT NOT NULL,
    created_at     INTEGER NOT NULL
);

CREATE TABLE ws_incident (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     INTEGER NOT NULL,
    ip     TEXT NOT NULL,
    path   TEXT NOT NULL,
    reason TEXT NOT NULL
);

-- Slack apps, their bot users, people, and reactions (issue 19, phase 1): what Slack's Web API
-- (`/api/{method}`) needs to answer `auth.test`, `users.*`, `chat.*` and `reactions.*`.
-- The twin of migrations/postgres/0018_slack_apps.sql.

-- The workspace's people and bot users. Kanca has no accounts: a person is whoever posts under
-- a name (their id is derived from it, `outgoing::user_id_for`), and each app has one bot user.
-- A deleted app's bot user stays, marked `deleted`, so old messages still name their author.
CREATE TABLE ws_user (
    id         TEXT PRIMARY KEY,            -- U…
    name       TEXT NOT NULL,
    real_name  TEXT NOT NULL,
    is_bot     INTEGER NOT NULL DEFAULT 0,
    app_id     TEXT,                        -- A…, for a bot user
    bot_id     TEXT,                        -- B…, for a bot user
    deleted    INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

CREATE TABLE ws_slack_app (
    id                 TEXT PRIMARY KEY,    -- A…
    name               TEXT NOT NULL,
    bot_id             TEXT NOT NULL,       -- B…
    bot_user_id        TEXT NOT NULL REFERENCES ws_user (id),
    -- SHA-256 of the bot token (hex): the token is shown at creation and on a rotate, and a
    -- copy of the database hands out no working token. Unique: a token names one app.
    token_digest       TEXT NOT NULL UNIQUE,
    -- Shown on GET, like an outgoing webhook's: the app needs it to check Kanca's requests.
    signing_secret     TEXT NOT NULL,
    event_request_url  TEXT,
    event_types        TEXT NOT NULL DEFAULT '[]',   -- JSON array of Slack event names
    -- Set once the request URL has answered Slack's `url_verification` (phase 2).
    events_verified    INTEGER NOT NULL DEFAULT 0,
    slash_commands     TEXT NOT NULL DEFAULT '[]',   -- JSON array of {command, url, description, usageHint}
    interactivity_url  TEXT,
    created_at         INTEGER NOT NULL
);

-- Who posted a message, when it was a known user (people through the API, bots through the
-- Web API); NULL for incoming webhooks and outgoing-webhook replies, as in Slack.
ALTER TABLE ws_message ADD COLUMN user_id TEXT;
-- When a message was last changed by `chat.update` (microseconds, Slack's `edited.ts`).
ALTER TABLE ws_message ADD COLUMN edited_ts INTEGER;

CREATE TABLE ws_reaction (
    channel_id TEXT NOT NULL,
    ts         INTEGER NOT NULL,
    name       TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (channel_id, ts, name, user_id),
    FOREIGN KEY (channel_id, ts) REFERENCES ws_message (channel_id, ts) ON DELETE CASCADE
);

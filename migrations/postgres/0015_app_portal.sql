-- The app portal (issue 17): application-scoped tokens issued by
-- `POST /api/v1/auth/app-portal-access/{app}`. Only the SHA-256 of a token is kept; `id` is the
-- public handle the console lists and ends it by. Ending a token (logout, expire-all) moves its
-- `expires_at` to the time it ends, so the row stays as a record of who used the portal when.
CREATE TABLE app_token (
    id            TEXT COLLATE "C" PRIMARY KEY,
    app_id        TEXT COLLATE "C" NOT NULL REFERENCES application (id) ON DELETE CASCADE,
    token_hash    TEXT COLLATE "C" NOT NULL UNIQUE,
    -- JSON arrays of names.
    capabilities  TEXT NOT NULL,
    feature_flags TEXT NOT NULL DEFAULT '[]',
    session_id    TEXT,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    last_used_at  BIGINT
);
CREATE INDEX app_token_by_app ON app_token (app_id, id);

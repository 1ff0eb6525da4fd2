-- Request bins (issue 7), the twin of migrations/sqlite/0003_bins.sql.
--
-- `last_seq` numbers a bin's captures: the capture transaction bumps it (taking the bin row's
-- lock) and inserts the row with the new value, so two captures of one bin commit in the
-- order of their numbers. They are the live stream's cursor (`Last-Event-ID`), which must
-- never see a smaller number appear after a larger one.

CREATE TABLE bin (
    id            TEXT COLLATE "C" PRIMARY KEY,
    name          TEXT,
    response      TEXT NOT NULL,   -- JSON {status, headers, body, delayMs}
    max_requests  INTEGER NOT NULL,
    expires_at    BIGINT,          -- NULL: never
    last_seq      BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE bin_request (
    bin_id        TEXT COLLATE "C" NOT NULL REFERENCES bin (id) ON DELETE CASCADE,
    seq           BIGINT NOT NULL,
    method        TEXT NOT NULL,
    path          TEXT NOT NULL,
    query         TEXT NOT NULL,
    headers       TEXT NOT NULL,   -- JSON [[name, value], …] in arrival order
    body          BYTEA NOT NULL,
    remote_addr   TEXT NOT NULL,
    received_at   BIGINT NOT NULL,
    PRIMARY KEY (bin_id, seq)
);

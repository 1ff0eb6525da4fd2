-- Issue 12: storage faults and fair delivery.
-- The health check's write probe (`/api/v1/health`): one row upserted, so the check says 503
-- while writes fail.
CREATE TABLE write_probe (
    id INTEGER PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL
);
-- TRUE when the dispatcher sent the delivery back to wait for its endpoint's pace (over the
-- in-flight share), not for a retry or a throttle slot: such deliveries are brought forward
-- as soon as the endpoint answers quickly again.
ALTER TABLE delivery ADD COLUMN paced BOOLEAN NOT NULL DEFAULT FALSE;

-- Issue 12: storage faults and fair delivery.
-- The health check's write probe (`/api/v1/health`): one row written and removed, so the
-- check needs room exactly as a publish does and says 503 while writes fail.
CREATE TABLE write_probe (
    id     INTEGER PRIMARY KEY,
    filler BLOB
);
-- 1 when the dispatcher sent the delivery back to wait for its endpoint's pace (over the
-- in-flight share), not for a retry or a throttle slot: such deliveries are brought forward
-- as soon as the endpoint answers quickly again.
ALTER TABLE delivery ADD COLUMN paced INTEGER NOT NULL DEFAULT 0;
-- An endpoint's deliveries by endpoint only: with `status` in the key, every claim and every
-- recorded attempt moved the delivery's entry in this index too (two more pages written to
-- the log per delivery). Per-endpoint queries (stats, recover, recall) filter the status on
-- the rows, which are few per endpoint beside a whole table.
DROP INDEX delivery_by_endpoint;
CREATE INDEX delivery_by_endpoint ON delivery (endpoint_id);

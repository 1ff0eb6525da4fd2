-- `delivery_by_endpoint (endpoint_id)` is the first column of `delivery_by_endpoint_msg
-- (endpoint_id, msg_id)` (0013), which serves every lookup it served. Each publish wrote a page
-- of both for every delivery it queued: one B-tree fewer to update per delivery, about a
-- twentieth of what a message writes to the log at 1,000 msgs/s (BENCHMARKS.md, issue 16).
DROP INDEX IF EXISTS delivery_by_endpoint;

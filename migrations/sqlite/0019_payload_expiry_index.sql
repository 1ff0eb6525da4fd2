-- The retention sweep (`clear_expired_payloads`) looks for messages whose payload is still
-- there and has expired. Without an index that was a scan of the whole message table on every
-- sweep, holding the one writer meanwhile: 1.2–1.7 s under a 1,000,000-message backlog
-- (BENCHMARKS.md, issue 16). PostgreSQL has had this index since 0001; the partial form keeps
-- it to messages that still carry a payload, so it shrinks as payloads are cleared.
CREATE INDEX message_payload_expiry ON message (payload_expires_at) WHERE payload IS NOT NULL;

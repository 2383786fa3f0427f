-- The relay's lease on the outbox events it is delivering (see src/store/outbox.rs): a claim
-- marks its rows with a random number and an expiry (microseconds since the epoch), then
-- delivers with no database transaction open. Rows whose lease ran out (their relay died) are
-- claimed again; the log stores each event_id once.
ALTER TABLE outbox ADD COLUMN lease BIGINT, ADD COLUMN leased_until BIGINT;

-- Run after `sqlite_schema.sql` and after `sqlite.rs` has added the generated filter columns
-- (`f_*`) and `seal` to `records`, in the same transaction. Every statement is idempotent.
--
-- Filters read only the generated columns: SQLite computes them from `canonical`, the hashed
-- text, so a database writer cannot change what a filter sees without changing the text (which
-- breaks the chain and the record's seal). The plain columns of releases before 2026-12-07
-- (`order_id`, `actor`, ...) are still written, because they are NOT NULL and SQLite cannot
-- turn a column into a generated one in place, but nothing reads them; their indexes go.
DROP INDEX IF EXISTS records_order_id;
DROP INDEX IF EXISTS records_actor;
DROP INDEX IF EXISTS records_operation;
DROP INDEX IF EXISTS records_outcome;
DROP INDEX IF EXISTS records_recorded_at;
CREATE INDEX IF NOT EXISTS records_by_order_id ON records (f_order_id, seq);
CREATE INDEX IF NOT EXISTS records_by_actor ON records (f_actor, seq);
CREATE INDEX IF NOT EXISTS records_by_operation ON records (f_operation, seq);
CREATE INDEX IF NOT EXISTS records_by_outcome ON records (f_outcome, seq);
CREATE INDEX IF NOT EXISTS records_by_recorded_at ON records (f_recorded_at);
CREATE INDEX IF NOT EXISTS records_by_transaction_id ON records (f_transaction_id);
-- Records are append-only, with one exception: `setup --seal-existing` may set the seal of a
-- record stored without one (NULL) to 32 bytes, changing nothing else.
DROP TRIGGER IF EXISTS records_no_update;
CREATE TRIGGER records_no_update BEFORE UPDATE ON records
WHEN NOT (
    OLD.seal IS NULL AND NEW.seal IS NOT NULL AND length(NEW.seal) = 32
    AND NEW.seq IS OLD.seq AND NEW.event_id IS OLD.event_id
    AND NEW.transaction_id IS OLD.transaction_id AND NEW.order_id IS OLD.order_id
    AND NEW.actor IS OLD.actor AND NEW.operation IS OLD.operation
    AND NEW.outcome IS OLD.outcome AND NEW.recorded_at IS OLD.recorded_at
    AND NEW.canonical IS OLD.canonical AND NEW.hash IS OLD.hash
)
BEGIN
    SELECT RAISE(ABORT, 'transaction log records are append-only');
END;

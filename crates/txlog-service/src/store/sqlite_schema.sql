-- The transaction log's SQLite schema. Every statement is idempotent; they run in one
-- BEGIN IMMEDIATE transaction at start, so replicas starting at once are safe.
CREATE TABLE IF NOT EXISTS records (
    seq            INTEGER PRIMARY KEY,
    event_id       TEXT NOT NULL UNIQUE,
    transaction_id TEXT NOT NULL UNIQUE,
    order_id       TEXT,
    actor          TEXT,
    operation      TEXT NOT NULL,
    outcome        TEXT NOT NULL,
    recorded_at    TEXT NOT NULL,
    canonical      TEXT NOT NULL,
    hash           TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_order_id ON records (order_id, seq);
CREATE INDEX IF NOT EXISTS records_actor ON records (actor, seq);
CREATE INDEX IF NOT EXISTS records_operation ON records (operation, seq);
CREATE INDEX IF NOT EXISTS records_outcome ON records (outcome, seq);
CREATE INDEX IF NOT EXISTS records_recorded_at ON records (recorded_at);
CREATE TRIGGER IF NOT EXISTS records_no_update BEFORE UPDATE ON records
BEGIN
    SELECT RAISE(ABORT, 'transaction log records are append-only');
END;
CREATE TRIGGER IF NOT EXISTS records_no_delete BEFORE DELETE ON records
BEGIN
    SELECT RAISE(ABORT, 'transaction log records are append-only');
END;

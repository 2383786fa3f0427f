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
-- The columns derived from `canonical` (the filters' generated columns) and `seal` are added
-- by `sqlite_records.sql`'s companion code in `sqlite.rs`, for new and old files alike; the
-- filter indexes and the UPDATE trigger are in `sqlite_records.sql`.
CREATE TRIGGER IF NOT EXISTS records_no_delete BEFORE DELETE ON records
BEGIN
    SELECT RAISE(ABORT, 'transaction log records are append-only');
END;
-- The Merkle tree (SPEC section 10): stored hashes in tlog's index order, and every signed
-- checkpoint. Both append-only, like the records.
-- A run is the stored hashes one write added, from index `first` on, 32 bytes each end to end.
CREATE TABLE IF NOT EXISTS tree_runs (
    first  INTEGER PRIMARY KEY,
    hashes BLOB NOT NULL CHECK (length(hashes) > 0 AND length(hashes) % 32 = 0)
);
-- Releases before 2026-12-01 kept a row per hash in `tree_hashes`, and still do when they run
-- on this file (a rollback). This release does not write it; what it holds past the end of the
-- runs becomes runs of one, so the tree such a release extended is not computed again.
CREATE TABLE IF NOT EXISTS tree_hashes (
    idx  INTEGER PRIMARY KEY,
    hash BLOB NOT NULL CHECK (length(hash) = 32)
);
INSERT INTO tree_runs (first, hashes)
    SELECT idx, hash FROM tree_hashes
    WHERE idx >= COALESCE(
        (SELECT first + length(hashes) / 32 FROM tree_runs ORDER BY first DESC LIMIT 1), 0)
    ORDER BY idx;
CREATE TABLE IF NOT EXISTS checkpoints (
    size      INTEGER PRIMARY KEY,
    note      TEXT NOT NULL,
    signed_at TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS tree_runs_no_update BEFORE UPDATE ON tree_runs
BEGIN
    SELECT RAISE(ABORT, 'tree hashes are append-only');
END;
CREATE TRIGGER IF NOT EXISTS tree_runs_no_delete BEFORE DELETE ON tree_runs
BEGIN
    SELECT RAISE(ABORT, 'tree hashes are append-only');
END;
CREATE TRIGGER IF NOT EXISTS tree_hashes_no_update BEFORE UPDATE ON tree_hashes
BEGIN
    SELECT RAISE(ABORT, 'tree hashes are append-only');
END;
CREATE TRIGGER IF NOT EXISTS tree_hashes_no_delete BEFORE DELETE ON tree_hashes
BEGIN
    SELECT RAISE(ABORT, 'tree hashes are append-only');
END;
CREATE TRIGGER IF NOT EXISTS checkpoints_no_update BEFORE UPDATE ON checkpoints
BEGIN
    SELECT RAISE(ABORT, 'checkpoints are append-only');
END;
CREATE TRIGGER IF NOT EXISTS checkpoints_no_delete BEFORE DELETE ON checkpoints
BEGIN
    SELECT RAISE(ABORT, 'checkpoints are append-only');
END;
-- Chain heads that `GET /v1/transactions/verify` found valid: the next call starts from the
-- highest. Append-only.
CREATE TABLE IF NOT EXISTS verified_heads (
    seq         INTEGER PRIMARY KEY,
    hash        TEXT NOT NULL,
    verified_at TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS verified_heads_no_update BEFORE UPDATE ON verified_heads
BEGIN
    SELECT RAISE(ABORT, 'verified heads are append-only');
END;
CREATE TRIGGER IF NOT EXISTS verified_heads_no_delete BEFORE DELETE ON verified_heads
BEGIN
    SELECT RAISE(ABORT, 'verified heads are append-only');
END;

-- Witness cosignatures (SPEC section 12): the lines each witness returned for a checkpoint,
-- verified before they are stored. Append-only, like the checkpoints they cosign.
CREATE TABLE IF NOT EXISTS cosignatures (
    size        INTEGER NOT NULL,
    witness     TEXT NOT NULL,
    lines       TEXT NOT NULL,
    cosigned_at TEXT NOT NULL,
    PRIMARY KEY (size, witness)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS cosignatures_no_update BEFORE UPDATE ON cosignatures
BEGIN
    SELECT RAISE(ABORT, 'cosignatures are append-only');
END;
CREATE TRIGGER IF NOT EXISTS cosignatures_no_delete BEFORE DELETE ON cosignatures
BEGIN
    SELECT RAISE(ABORT, 'cosignatures are append-only');
END;

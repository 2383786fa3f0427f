-- Business transactions the transaction log refused for good (a 4xx about the event itself,
-- such as 422): set aside here, in the transaction that takes them out of the outbox, so that
-- one invalid event never blocks the others. See docs/OPERATIONS.md, "Dead letters".
CREATE TABLE outbox_dead_letters (
    id          BIGSERIAL PRIMARY KEY,
    event_id    UUID    NOT NULL UNIQUE,
    payload     TEXT    NOT NULL,
    traceparent TEXT,
    status      BIGINT  NOT NULL, -- the log's answer
    reason      TEXT    NOT NULL, -- what the log said
    created_at  BIGINT  NOT NULL, -- when the call was recorded, microseconds since the epoch
    failed_at   BIGINT  NOT NULL  -- when the log refused it
);

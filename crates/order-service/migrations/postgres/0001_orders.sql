-- Orders: indexed columns for lookups and paging, the order itself as JSON text.
CREATE TABLE orders (
    id          UUID PRIMARY KEY,
    customer_id TEXT   NOT NULL,
    status      TEXT   NOT NULL,
    version     BIGINT NOT NULL,
    created_at  BIGINT NOT NULL, -- microseconds since the Unix epoch
    doc         TEXT   NOT NULL
);
CREATE INDEX orders_by_created ON orders (created_at DESC, id DESC);
CREATE INDEX orders_by_customer ON orders (customer_id, created_at DESC, id DESC);

-- Idempotency keys, per caller; response is NULL while the first request is in flight.
CREATE TABLE idempotency_keys (
    caller       TEXT   NOT NULL,
    idem_key     TEXT   NOT NULL,
    request_hash TEXT   NOT NULL,
    response     TEXT,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (caller, idem_key)
);
CREATE INDEX idempotency_keys_by_created ON idempotency_keys (created_at);

-- Business transactions waiting for delivery to the transaction log.
CREATE TABLE outbox (
    id         BIGSERIAL PRIMARY KEY,
    event_id   UUID   NOT NULL UNIQUE,
    payload    TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);

-- The W3C trace context of the call, so that the delivery continues its trace.
ALTER TABLE outbox ADD COLUMN traceparent TEXT;

-- A claim (and each renewal of its lease) updates the lease columns of rows inserted moments
-- before. With pages left half empty the new row version fits on the same page, so PostgreSQL
-- updates in place of a new page and new entries in both indexes (a HOT update: neither lease
-- column is indexed). The rows are deleted once delivered, so the table stays small.
ALTER TABLE outbox SET (fillfactor = 50);

//! The transaction log's own Prometheus series (request metrics come from `platform`).

/// Records stored (duplicates not counted).
pub const RECORDS_APPENDED: &str = "txlog_records_appended_total";
/// Events received again and answered with their first storage.
pub const DUPLICATES: &str = "txlog_duplicates_total";
/// The highest `seq` this process has seen stored.
pub const CHAIN_HEAD_SEQ: &str = "txlog_chain_head_seq";

/// The tree size of the last checkpoint this process signed.
pub const CHECKPOINT_SIZE: &str = "txlog_checkpoint_tree_size";

/// Rounds in which the log refused to sign, by `reason` (`unsealed`, `missing`,
/// `tree_mismatch`, `shrunk`, `not_extension`, or a halt's own reason).
pub const SIGNING_REFUSED: &str = "txlog_signing_refused_total";

/// Declares the series so that they appear at 0 before the first append.
pub fn describe() {
    metrics::describe_counter!(RECORDS_APPENDED, "records appended to the chain");
    metrics::describe_counter!(DUPLICATES, "events received again (idempotent redelivery)");
    metrics::describe_gauge!(
        CHAIN_HEAD_SEQ,
        "highest seq of the chain seen by this process"
    );
    metrics::describe_gauge!(
        CHECKPOINT_SIZE,
        "tree size of the last checkpoint this process signed"
    );
    metrics::describe_counter!(
        SIGNING_REFUSED,
        "checkpoint rounds that signed nothing because the store failed a check, by reason"
    );
    metrics::counter!(RECORDS_APPENDED).increment(0);
    metrics::counter!(DUPLICATES).increment(0);
}

pub fn observe_head(seq: u64) {
    metrics::gauge!(CHAIN_HEAD_SEQ).set(seq as f64);
}

pub fn observe_checkpoint(size: u64) {
    metrics::gauge!(CHECKPOINT_SIZE).set(size as f64);
}

pub fn count_signing_refused(reason: &'static str) {
    metrics::counter!(SIGNING_REFUSED, "reason" => reason).increment(1);
}

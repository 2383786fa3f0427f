//! The transaction log's own Prometheus series (request metrics come from `platform`).

/// Records stored (duplicates not counted).
pub const RECORDS_APPENDED: &str = "txlog_records_appended_total";
/// Events received again and answered with their first storage.
pub const DUPLICATES: &str = "txlog_duplicates_total";
/// The highest `seq` this process has seen stored.
pub const CHAIN_HEAD_SEQ: &str = "txlog_chain_head_seq";

/// Appends of grouped calls (group commit): one per group, counted when the group's append
/// starts; with `http_requests_total` of `POST /v1/transactions` it gives calls per group.
pub const APPEND_GROUPS: &str = "txlog_append_groups_total";
/// Calls handed to the append task and not taken into a group yet.
pub const APPEND_CALLS_QUEUED: &str = "txlog_append_calls_queued";

/// The tree size of the last checkpoint this process signed.
pub const CHECKPOINT_SIZE: &str = "txlog_checkpoint_tree_size";

/// Chain walks of `GET /v1/transactions/verify` (incremental and full), and the records they
/// checked: concurrent calls share a walk, and an incremental one is bounded.
pub const VERIFY_WALKS: &str = "txlog_verify_walks_total";
pub const VERIFY_RECORDS_CHECKED: &str = "txlog_verify_records_checked_total";
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
        VERIFY_WALKS,
        "chain walks run by GET /v1/transactions/verify"
    );
    metrics::describe_counter!(
        VERIFY_RECORDS_CHECKED,
        "records whose hash GET /v1/transactions/verify recomputed"
    );
    metrics::counter!(VERIFY_WALKS).increment(0);
    metrics::counter!(VERIFY_RECORDS_CHECKED).increment(0);
    metrics::describe_counter!(
        SIGNING_REFUSED,
        "checkpoint rounds that signed nothing because the store failed a check, by reason"
    );
    metrics::counter!(RECORDS_APPENDED).increment(0);
    metrics::counter!(DUPLICATES).increment(0);
    metrics::describe_counter!(
        APPEND_GROUPS,
        "appends of grouped POST /v1/transactions calls (group commit)"
    );
    metrics::describe_gauge!(
        APPEND_CALLS_QUEUED,
        "append calls waiting for the append before theirs"
    );
    metrics::counter!(APPEND_GROUPS).increment(0);
    metrics::gauge!(APPEND_CALLS_QUEUED).set(0.0);
}

pub fn observe_head(seq: u64) {
    metrics::gauge!(CHAIN_HEAD_SEQ).set(seq as f64);
}

pub fn observe_checkpoint(size: u64) {
    metrics::gauge!(CHECKPOINT_SIZE).set(size as f64);
}

/// Cosignature requests to each witness, by outcome (SPEC section 12).
pub const WITNESS_COSIGNATURES: &str = "txlog_witness_cosignatures_total";
/// How long each witness has been behind: 0 while it has cosigned the newest checkpoint, else
/// the age of the oldest checkpoint it has not cosigned since the one it last did.
pub const WITNESS_LAG: &str = "txlog_witness_lag_seconds";

/// Declares a witness's series, at 0 before its first answer.
pub fn describe_witness(witness: &str) {
    metrics::describe_counter!(
        WITNESS_COSIGNATURES,
        "add-checkpoint requests to a witness, by outcome"
    );
    metrics::describe_gauge!(
        WITNESS_LAG,
        "seconds the newest checkpoint has waited for this witness's cosignature"
    );
    let witness = witness.to_owned();
    metrics::counter!(WITNESS_COSIGNATURES, "witness" => witness.clone(), "outcome" => "cosigned")
        .increment(0);
    metrics::gauge!(WITNESS_LAG, "witness" => witness).set(0.0);
}

/// Counts a round that signed nothing, by reason.
pub fn count_signing_refused(reason: &'static str) {
    metrics::counter!(SIGNING_REFUSED, "reason" => reason).increment(1);
}

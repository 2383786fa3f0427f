//! How a store call fails. Rows that are missing and versions that moved on are not errors:
//! `get` answers `None` and the compare-and-set writes answer `false`, because the handlers
//! branch on them (404, 412, another attempt).

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database failed")]
    Database(#[from] sqlx::Error),
    /// A stored document, or one about to be stored, that is not the JSON it should be.
    #[error("a stored document is not valid JSON of its type")]
    Document(#[from] serde_json::Error),
}

//! Witness cosignatures in MongoDB: the `txlog_cosignatures` collection, insert-only. `_id` is
//! `<size, 20 digits>/<witness>`, so that the `_id` index alone orders them by size.

use super::StoreError;
use mongodb::bson::doc;

use super::cosignatures::{Cosignature, Cosignatures};
use super::mongo::{aggregate, duplicate_at, to_i64, MongoStore};
use super::StoredCheckpoint;

/// Witness cosignatures: `{_id: "<size>/<witness>", size, witness, lines, cosigned_at}`.
pub const COSIGNATURES_COLLECTION: &str = "txlog_cosignatures";

fn id(size: u64, witness: &str) -> String {
    format!("{size:020}/{witness}")
}

impl MongoStore {
    fn cosignatures(&self) -> mongodb::Collection<mongodb::bson::Document> {
        self.database.collection(COSIGNATURES_COLLECTION)
    }
}

#[async_trait::async_trait]
impl Cosignatures for MongoStore {
    async fn add_cosignature(&self, cosignature: &Cosignature) -> Result<(), StoreError> {
        let document = doc! {
            "_id": id(cosignature.size, &cosignature.witness),
            "size": to_i64(cosignature.size)?,
            "witness": &cosignature.witness,
            "lines": &cosignature.lines,
            "cosigned_at": mongodb::bson::DateTime::now(),
        };
        match self.cosignatures().insert_one(document).await {
            Ok(_) => Ok(()),
            Err(e) if duplicate_at(&e).is_some() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn cosignatures_below(
        &self,
        below: u64,
        limit: u32,
    ) -> Result<Vec<Cosignature>, StoreError> {
        let pipeline = vec![
            doc! {"$match": {"_id": {"$lt": id(below, "")}}},
            doc! {"$sort": {"_id": -1}},
            doc! {"$limit": i64::from(limit)},
        ];
        aggregate(&self.cosignatures(), pipeline)
            .await?
            .iter()
            .map(|d| {
                Ok(Cosignature {
                    size: u64::try_from(d.get_i64("size")?)?,
                    witness: d.get_str("witness")?.to_owned(),
                    lines: d.get_str("lines")?.to_owned(),
                })
            })
            .collect()
    }

    async fn checkpoint_at(&self, size: u64) -> Result<Option<StoredCheckpoint>, StoreError> {
        let pipeline = vec![doc! {"$match": {"_id": to_i64(size)?}}];
        aggregate(&self.checkpoints, pipeline)
            .await?
            .first()
            .map(|d| {
                Ok(StoredCheckpoint {
                    size,
                    note: d.get_str("note")?.to_owned(),
                })
            })
            .transpose()
    }
}

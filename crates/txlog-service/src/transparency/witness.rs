//! Witnesses (SPEC section 12): after each checkpoint the log asks C2SP tlog-witness witnesses
//! to cosign it, keeps their verified cosignatures beside it, and serves the newest checkpoint
//! a quorum cosigned. A witness that already cosigned a larger tree than our newest, or that
//! refuses our consistency proof, proves that the store was rolled back or forked since: the
//! log then stops signing for good.

mod client;
mod task;

use std::sync::Arc;

pub use task::WitnessTask;
pub use txlog_verify::cosignature::{self, WitnessKey};

use crate::store::{Cosignature, Store, StoreError};

/// The witnesses that cosign checkpoints (SPEC section 12) and how many must have cosigned one
/// before `GET /v1/checkpoint` serves it. Empty: no witnesses, checkpoints served as signed.
#[derive(Debug, Clone, Default)]
pub struct WitnessConfig {
    pub witnesses: Vec<Witness>,
    pub quorum: usize,
}

/// One witness: where it serves `add-checkpoint` and its cosignature verifier key.
#[derive(Debug, Clone)]
pub struct Witness {
    pub url: reqwest::Url,
    pub key: WitnessKey,
}

/// Cosignatures read per page while looking for the newest witnessed checkpoint.
const PAGE: u32 = 256;

/// A checkpoint a quorum of witnesses cosigned: its size and the note with our signature line
/// and every stored cosignature line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witnessed {
    pub size: u64,
    pub note: String,
}

/// The newest checkpoint cosigned by at least `config.quorum` of the configured witnesses,
/// with their lines (each checked again with the witness's key as configured now, so that
/// lines of a replaced key are neither counted nor served).
pub async fn newest_witnessed(
    store: &Arc<dyn Store>,
    config: &WitnessConfig,
) -> Result<Option<Witnessed>, StoreError> {
    newest_witnessed_in_pages(store, config, PAGE).await
}

/// [`newest_witnessed`], reading `page_len` cosignatures at a time.
async fn newest_witnessed_in_pages(
    store: &Arc<dyn Store>,
    config: &WitnessConfig,
    page_len: u32,
) -> Result<Option<Witnessed>, StoreError> {
    let mut below = u64::MAX;
    let mut len = page_len.max(1);
    loop {
        let page = store.cosignatures_below(below, len).await?;
        let (Some(first), Some(last)) = (page.first(), page.last()) else {
            return Ok(None);
        };
        let (first, last) = (first.size, last.size);
        let full = page.len() == len as usize;
        if full && first == last {
            // One size filled the page and may go on: read it again with a longer page.
            len = len.saturating_mul(2);
            continue;
        }
        // A full page may end inside its last size: that size is read whole with the next page.
        for group in page.chunk_by(|a, b| a.size == b.size) {
            if full && group[0].size == last {
                break;
            }
            if let Some(found) = quorum_of(store, config, group).await? {
                return Ok(Some(found));
            }
        }
        if !full {
            return Ok(None);
        }
        below = last + 1;
        len = page_len.max(1);
    }
}

/// The checkpoint `group` (cosignatures of one size) cosigns, when enough of them verify.
async fn quorum_of(
    store: &Arc<dyn Store>,
    config: &WitnessConfig,
    group: &[Cosignature],
) -> Result<Option<Witnessed>, StoreError> {
    let Some(size) = group.first().map(|g| g.size) else {
        return Ok(None);
    };
    // Cheap first: enough configured names at all.
    let named = group
        .iter()
        .filter(|c| config.witnesses.iter().any(|w| w.key.name() == c.witness))
        .count();
    if named < config.quorum {
        return Ok(None);
    }
    let Some(checkpoint) = store.checkpoint_at(size).await? else {
        return Ok(None);
    };
    let Some(body) = cosignature::note_body(&checkpoint.note) else {
        return Ok(None);
    };
    let mut lines = String::new();
    let mut count = 0;
    for witness in &config.witnesses {
        let Some(stored) = group.iter().find(|c| c.witness == witness.key.name()) else {
            continue;
        };
        let valid: Vec<&str> = stored
            .lines
            .lines()
            .filter(|line| witness.key.verify_line(body, line).is_ok())
            .collect();
        if !valid.is_empty() {
            count += 1;
            for line in valid {
                lines.push_str(line);
                lines.push('\n');
            }
        }
    }
    if count < config.quorum {
        return Ok(None);
    }
    let mut note = checkpoint.note;
    note.push_str(&lines);
    Ok(Some(Witnessed { size, note }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transparency::{checkpoint, LogKey, TreeHead};
    use ed25519_dalek::SigningKey;

    struct Fixture {
        store: Arc<dyn Store>,
        witnesses: Vec<(SigningKey, WitnessKey)>,
        _dir: tempfile::TempDir,
    }

    impl Fixture {
        /// A store with signed checkpoints of sizes 1 to 5 and two witnesses.
        async fn new() -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("t.db").display());
            let store = crate::store::connect(&url).await.unwrap();
            let key = LogKey::parse(&LogKey::generate("o").unwrap().0).unwrap();
            for size in 1..=5 {
                let head = TreeHead {
                    origin: "o".into(),
                    size,
                    root: tlog_tiles::record_hash(&size.to_be_bytes()),
                };
                let note = checkpoint::sign(&key, &head).unwrap();
                store.add_checkpoint(size, &note).await.unwrap();
            }
            let witnesses = ["a.example", "b.example"]
                .map(|name| {
                    let secret = SigningKey::from_bytes(&rand::random());
                    let key = WitnessKey::new(name, secret.verifying_key()).unwrap();
                    (secret, key)
                })
                .into();
            Fixture {
                store,
                witnesses,
                _dir: dir,
            }
        }

        fn config(&self, quorum: usize) -> WitnessConfig {
            WitnessConfig {
                witnesses: self
                    .witnesses
                    .iter()
                    .map(|(_, key)| Witness {
                        url: "https://w.example".parse().unwrap(),
                        key: key.clone(),
                    })
                    .collect(),
                quorum,
            }
        }

        /// Stores witness `w`'s cosignature of the checkpoint of `size` under `name`.
        async fn cosign(&self, w: usize, name: &str, size: u64) {
            let note = self.store.checkpoint_at(size).await.unwrap().unwrap().note;
            let body = cosignature::note_body(&note).unwrap();
            let line = cosignature::cosign(&self.witnesses[w].0, name, body, 1_700_000_000);
            self.store
                .add_cosignature(&Cosignature {
                    size,
                    witness: name.to_owned(),
                    lines: format!("{line}\n"),
                })
                .await
                .unwrap();
        }
    }

    #[tokio::test]
    async fn the_newest_checkpoint_the_quorum_cosigned_is_served_with_their_lines() {
        let f = Fixture::new().await;
        assert_eq!(
            newest_witnessed(&f.store, &f.config(2)).await.unwrap(),
            None
        );
        for size in [2, 3] {
            f.cosign(0, "a.example", size).await;
            f.cosign(1, "b.example", size).await;
        }
        f.cosign(0, "a.example", 5).await;
        // A line under b's name that b's key did not make, and many by unknown witnesses.
        f.cosign(0, "b.example", 5).await;
        for other in 0..7 {
            f.cosign(0, &format!("other{other}.example"), 4).await;
            f.cosign(0, &format!("other{other}.example"), 5).await;
        }
        for page_len in [1, 2, 3, 5, 256] {
            let found = newest_witnessed_in_pages(&f.store, &f.config(2), page_len)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(found.size, 3, "page of {page_len}");
            let lines = cosignature::signature_lines(&found.note);
            assert_eq!(lines.len(), 3, "{}", found.note);
            assert!(lines[0].starts_with("\u{2014} o "));
            let body = cosignature::note_body(&found.note).unwrap();
            for (line, (_, key)) in lines[1..].iter().zip(&f.witnesses) {
                key.verify_line(body, line).unwrap();
            }
            let one = newest_witnessed_in_pages(&f.store, &f.config(1), page_len)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(one.size, 5, "page of {page_len}");
            assert_eq!(cosignature::signature_lines(&one.note).len(), 2);
        }
    }
}

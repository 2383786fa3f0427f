use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Mutex};

use crate::store::{OutboxEvent, OutboxStore};

type Ack = oneshot::Sender<Result<(), String>>;

/// Most events written by one statement.
const MAX_BATCH: usize = 512;
/// Statements in flight at once.
const WRITERS: usize = 2;

/// Appends outbox events for calls that change nothing (reads, refusals): callers wait for
/// durability, while the events of concurrent calls share one multi-row insert.
#[derive(Clone)]
pub struct GroupCommit {
    sender: mpsc::Sender<(OutboxEvent, Ack)>,
}

impl GroupCommit {
    pub fn spawn(store: Arc<dyn OutboxStore>) -> Self {
        let (sender, receiver) = mpsc::channel::<(OutboxEvent, Ack)>(4 * MAX_BATCH);
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..WRITERS {
            let (store, receiver) = (store.clone(), receiver.clone());
            tokio::spawn(async move {
                loop {
                    let batch = {
                        let mut receiver = receiver.lock().await;
                        let Some(first) = receiver.recv().await else {
                            break;
                        };
                        let mut batch = vec![first];
                        while batch.len() < MAX_BATCH {
                            match receiver.try_recv() {
                                Ok(job) => batch.push(job),
                                Err(_) => break,
                            }
                        }
                        batch
                    };
                    let (events, acks): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
                    let result = store
                        .append(&events)
                        .await
                        .map_err(|e| format!("{:#}", anyhow::Error::from(e)));
                    metrics::histogram!("outbox_group_commit_size").record(events.len() as f64);
                    for ack in acks {
                        let _ = ack.send(result.clone());
                    }
                }
            });
        }
        Self { sender }
    }

    /// Returns once the event is durable in the outbox.
    pub async fn append(&self, event: OutboxEvent) -> anyhow::Result<()> {
        let (ack, done) = oneshot::channel();
        self.sender
            .send((event, ack))
            .await
            .map_err(|_| anyhow::anyhow!("the outbox writer has stopped"))?;
        done.await
            .map_err(|_| anyhow::anyhow!("the outbox writer has stopped"))?
            .map_err(|e| anyhow::anyhow!("writing the outbox failed: {e}"))
    }
}

//! Connections that have not sent anything yet, oldest first: the ones closed to make room
//! when the server is full.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

/// Connections that have not sent anything yet, oldest first.
#[derive(Default)]
pub(super) struct IdleQueue {
    queue: Mutex<VecDeque<Arc<Waiting>>>,
}

pub(super) struct Waiting {
    pub(super) started: AtomicBool,
    pub(super) evicted: CancellationToken,
}

impl IdleQueue {
    pub(super) fn push(&self) -> Arc<Waiting> {
        let waiting = Arc::new(Waiting {
            started: AtomicBool::new(false),
            evicted: CancellationToken::new(),
        });
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        // Forget connections that have started (or ended) so the queue stays small.
        if queue.len() >= 1024 && queue.len().is_power_of_two() {
            queue.retain(|w| !w.started.load(Ordering::Acquire));
        }
        queue.push_back(waiting.clone());
        waiting
    }

    /// Closes the oldest still idle connection; false when there is none.
    pub(super) fn evict_oldest(&self) -> bool {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(waiting) = queue.pop_front() {
            if !waiting.started.load(Ordering::Acquire) {
                waiting.evicted.cancel();
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eviction_skips_started_connections() {
        let queue = IdleQueue::default();
        let a = queue.push();
        let b = queue.push();
        a.started.store(true, Ordering::Release);
        assert!(queue.evict_oldest());
        assert!(!a.evicted.is_cancelled());
        assert!(b.evicted.is_cancelled());
        assert!(!queue.evict_oldest());
    }
}

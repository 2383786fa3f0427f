//! Connections that have not sent anything yet, oldest first: the first ones closed to make
//! room when the server is full.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use super::addresses::Slot;

/// Connections that have not sent anything yet, oldest first.
#[derive(Default)]
pub(super) struct IdleQueue {
    queue: Mutex<VecDeque<Arc<Slot>>>,
}

fn silent(slot: &Slot) -> bool {
    !slot.started.load(Ordering::Acquire) && !slot.is_evicted()
}

impl IdleQueue {
    pub(super) fn push(&self, slot: Arc<Slot>) {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        // Forget connections that have started (or ended) so the queue stays small.
        if queue.len() >= 1024 && queue.len().is_power_of_two() {
            queue.retain(|s| silent(s));
        }
        queue.push_back(slot);
    }

    /// The oldest connection that is still silent (and not already being closed).
    pub(super) fn oldest(&self) -> Option<Arc<Slot>> {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(slot) = queue.pop_front() {
            if silent(&slot) {
                return Some(slot);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::addresses::{AddressKey, Addresses};
    use super::*;

    #[test]
    fn the_oldest_silent_connection_comes_first() {
        let addresses = Addresses::default();
        let key = AddressKey::of("192.0.2.1".parse().unwrap());
        let queue = IdleQueue::default();
        let (a, b, c) = (
            addresses.join(key),
            addresses.join(key),
            addresses.join(key),
        );
        for slot in [&a, &b, &c] {
            queue.push(slot.clone());
        }
        a.started.store(true, Ordering::Release);
        assert!(addresses.evict(&b));
        assert!(Arc::ptr_eq(&queue.oldest().unwrap(), &c));
        assert!(queue.oldest().is_none());
    }
}

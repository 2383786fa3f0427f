//! The open connections of each client address, and which one to close to make room.
//!
//! Connections are counted by the TCP peer's address (only that is known when a connection
//! is accepted); an IPv6 address counts as its /64, as one host usually holds a whole /64.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio_util::sync::CancellationToken;

use super::activity::Activity;

/// What connections are counted by: an IPv4 address, or the /64 of an IPv6 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum AddressKey {
    V4(u32),
    V6(u64),
}

impl AddressKey {
    pub(super) fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Self::V4(u32::from(v4)),
            IpAddr::V6(v6) => Self::V6((u128::from(v6) >> 64) as u64),
        }
    }
}

/// One open connection, as the server's bookkeeping sees it.
pub(super) struct Slot {
    /// In order of arrival: lower is older.
    id: u64,
    key: AddressKey,
    /// The peer has sent its first bytes.
    pub(super) started: AtomicBool,
    /// Its requests in progress, once it serves HTTP.
    activity: OnceLock<Arc<Activity>>,
    /// Cancelled to close the connection to make room. Only [`Addresses::evict`] cancels it.
    pub(super) evicted: CancellationToken,
}

impl Slot {
    /// Called once, when the connection starts serving HTTP.
    pub(super) fn serving(&self, activity: Arc<Activity>) {
        let _ = self.activity.set(activity);
    }

    pub(super) fn is_evicted(&self) -> bool {
        self.evicted.is_cancelled()
    }

    /// Whether a request is in progress on it.
    fn busy(&self) -> bool {
        self.activity.get().is_some_and(|a| a.active() > 0)
    }
}

/// The connections of one address.
#[derive(Default)]
struct Held {
    /// Connections not evicted yet.
    live: usize,
    by_age: BTreeMap<u64, Arc<Slot>>,
}

/// The open connections of every address.
#[derive(Default)]
pub(super) struct Addresses {
    table: Mutex<HashMap<AddressKey, Held>>,
    next_id: AtomicU64,
}

impl Addresses {
    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<AddressKey, Held>> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a new connection from `key`.
    pub(super) fn join(&self, key: AddressKey) -> Arc<Slot> {
        let slot = Arc::new(Slot {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            key,
            started: AtomicBool::new(false),
            activity: OnceLock::new(),
            evicted: CancellationToken::new(),
        });
        let mut table = self.table();
        let held = table.entry(key).or_default();
        held.live += 1;
        held.by_age.insert(slot.id, slot.clone());
        slot
    }

    /// Forgets a connection that has ended.
    pub(super) fn leave(&self, slot: &Slot) {
        let mut table = self.table();
        if let Some(held) = table.get_mut(&slot.key) {
            if held.by_age.remove(&slot.id).is_some() && !slot.is_evicted() {
                held.live -= 1;
            }
            if held.by_age.is_empty() {
                table.remove(&slot.key);
            }
        }
    }

    /// Asks `slot`'s connection to close; it no longer counts against its address. False
    /// when it was already asked, or has ended.
    pub(super) fn evict(&self, slot: &Slot) -> bool {
        let mut table = self.table();
        let Some(held) = table.get_mut(&slot.key) else {
            return false;
        };
        if slot.is_evicted() || !held.by_age.contains_key(&slot.id) {
            return false;
        }
        held.live -= 1;
        slot.evicted.cancel();
        true
    }

    /// Connections of `key` not asked to close.
    pub(super) fn live(&self, key: AddressKey) -> usize {
        self.table().get(&key).map_or(0, |h| h.live)
    }

    /// The oldest connection of `key` that has not sent anything yet.
    pub(super) fn oldest_silent(&self, key: AddressKey) -> Option<Arc<Slot>> {
        let table = self.table();
        let held = table.get(&key)?;
        held.by_age
            .values()
            .find(|s| !s.is_evicted() && !s.started.load(Ordering::Acquire))
            .cloned()
    }

    /// A connection to close so that a newcomer from `key` gets a slot when the server is
    /// full: one of the address that holds the most, if that address holds at least two more
    /// than `key` (so closing it is fairer than refusing the newcomer); its oldest connection
    /// with no request in progress, else its oldest.
    pub(super) fn victim_for(&self, key: AddressKey) -> Option<Arc<Slot>> {
        let table = self.table();
        let (top, held) = table.iter().max_by_key(|(_, held)| held.live)?;
        let newcomer = table.get(&key).map_or(0, |h| h.live);
        if *top == key || held.live < newcomer + 2 {
            return None;
        }
        let mut candidates = held.by_age.values().filter(|s| !s.is_evicted());
        let oldest = candidates.clone().next().cloned();
        candidates.find(|s| !s.busy()).cloned().or(oldest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> AddressKey {
        AddressKey::of(text.parse().unwrap())
    }

    #[test]
    fn ipv6_counts_by_its_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.1"), key("192.0.2.1"));
        assert_ne!(key("192.0.2.1"), key("192.0.2.2"));
    }

    #[test]
    fn evicted_and_ended_connections_stop_counting() {
        let addresses = Addresses::default();
        let a = key("192.0.2.1");
        let first = addresses.join(a);
        let second = addresses.join(a);
        assert_eq!(addresses.live(a), 2);
        assert!(addresses.evict(&first));
        assert!(!addresses.evict(&first), "once");
        assert_eq!(addresses.live(a), 1);
        addresses.leave(&first);
        assert_eq!(addresses.live(a), 1);
        addresses.leave(&second);
        assert_eq!(addresses.live(a), 0);
        assert!(!addresses.evict(&second), "ended");
        assert!(addresses.table().is_empty());
    }

    #[test]
    fn the_oldest_silent_connection_of_an_address() {
        let addresses = Addresses::default();
        let a = key("192.0.2.1");
        let spoke = addresses.join(a);
        spoke.started.store(true, Ordering::Release);
        let silent = addresses.join(a);
        let _later = addresses.join(a);
        assert_eq!(addresses.oldest_silent(a).unwrap().id, silent.id);
        assert!(addresses.oldest_silent(key("192.0.2.9")).is_none());
    }

    #[test]
    fn the_victim_is_an_idle_connection_of_the_address_that_holds_the_most() {
        let addresses = Addresses::default();
        let (big, small, new) = (key("192.0.2.1"), key("192.0.2.2"), key("192.0.2.3"));
        let busy = addresses.join(big);
        let activity = Arc::new(Activity::default());
        let _request = activity.start();
        busy.serving(activity);
        let idle = addresses.join(big);
        let _third = addresses.join(big);
        let _other = addresses.join(small);
        assert_eq!(addresses.victim_for(new).unwrap().id, idle.id);
        // The biggest holder itself, or one barely bigger, is not made room for.
        assert!(addresses.victim_for(big).is_none());
        let _s2 = addresses.join(small);
        assert!(addresses.victim_for(small).is_none());
    }
}

//! The connection slots of one server: the cap on all connections, the cap per client address,
//! and whom to close to make room for a newcomer.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::addresses::{AddressKey, Addresses, Slot};
use super::idle::IdleQueue;
use super::Limits;
use crate::client_addr::TrustedProxies;

/// How long a newcomer waits for the connection closed to make room to give its slot back.
const MAKE_ROOM_WAIT: Duration = Duration::from_millis(500);

pub(super) struct Room {
    permits: Arc<Semaphore>,
    /// Connections that have not sent anything yet, which are closed first to make room.
    idle: IdleQueue,
    addresses: Arc<Addresses>,
    per_address: Option<usize>,
    /// Proxies are not held to the cap per address: all their clients share their address.
    proxies: TrustedProxies,
}

/// Why a connection was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refused {
    /// Its address holds [`Limits::max_connections_per_address`], all of which have spoken.
    AddressFull,
    /// The server holds [`Limits::max_connections`] and none could be closed for it.
    ServerFull,
}

impl Refused {
    pub(super) fn label(self) -> &'static str {
        match self {
            Self::AddressFull => "address_full",
            Self::ServerFull => "server_full",
        }
    }
}

/// One admitted connection's slot; given back when dropped.
pub(super) struct Seat {
    slot: Arc<Slot>,
    addresses: Arc<Addresses>,
    _permit: OwnedSemaphorePermit,
}

impl Seat {
    pub(super) fn slot(&self) -> &Arc<Slot> {
        &self.slot
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        self.addresses.leave(&self.slot);
    }
}

impl Room {
    pub(super) fn new(limits: &Limits) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(limits.max_connections)),
            idle: IdleQueue::default(),
            addresses: Arc::new(Addresses::default()),
            per_address: limits.max_connections_per_address,
            proxies: limits.trusted_proxies.clone(),
        }
    }

    /// A slot for a new connection from `peer`, making room when needed:
    ///
    /// - when `peer`'s address holds its cap, its oldest connection that never said anything
    ///   is closed, or else the newcomer is refused;
    /// - when the server is full, the oldest connection that never said anything is closed;
    ///   if there is none, a connection of the address that holds the most (see
    ///   [`Addresses::victim_for`]); if that is the newcomer's own, the newcomer is refused.
    ///
    /// Called by the accept loop only, one connection at a time.
    pub(super) async fn admit(&self, peer: IpAddr) -> Result<Seat, Refused> {
        let key = AddressKey::of(peer);
        let mut closed_one = false;
        if let Some(cap) = self.per_address {
            if self.addresses.live(key) >= cap && !self.proxies.contains(peer) {
                closed_one = self
                    .addresses
                    .oldest_silent(key)
                    .is_some_and(|slot| self.close(&slot));
                if !closed_one {
                    return Err(Refused::AddressFull);
                }
            }
        }
        let permit = match self.permits.clone().try_acquire_owned().ok() {
            Some(permit) => Some(permit),
            // The connection just closed gives its slot back.
            None if closed_one => self.wait_for_room().await,
            None => self.make_room(key).await,
        }
        .ok_or(Refused::ServerFull)?;
        let slot = self.addresses.join(key);
        self.idle.push(slot.clone());
        Ok(Seat {
            slot,
            addresses: self.addresses.clone(),
            _permit: permit,
        })
    }

    /// Closes one connection for a newcomer from `key` and waits for its slot.
    async fn make_room(&self, key: AddressKey) -> Option<OwnedSemaphorePermit> {
        let victim = self
            .idle
            .oldest()
            .or_else(|| self.addresses.victim_for(key))?;
        if !self.close(&victim) {
            return None;
        }
        self.wait_for_room().await
    }

    async fn wait_for_room(&self) -> Option<OwnedSemaphorePermit> {
        tokio::time::timeout(MAKE_ROOM_WAIT, self.permits.clone().acquire_owned())
            .await
            .ok()
            .and_then(Result::ok)
    }

    fn close(&self, slot: &Slot) -> bool {
        let closed = self.addresses.evict(slot);
        if closed {
            metrics::counter!("connections_evicted_total").increment(1);
        }
        closed
    }
}

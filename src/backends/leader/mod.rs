//! [`SharedStorageBackend`]: localStorage whose read-check-writes are atomic across tabs.
//!
//! A Web Lock alone does not make localStorage safe across tabs: each renderer process caches
//! it and sees other pages' writes late, so the next lock holder can read a stale value
//! (measured in headless Chromium 156: three pages' 300 increments under one Web Lock ended at
//! 233, 198 and 216; README.md, "localStorage across tabs"). Here one tab per store name, elected with a
//! Web Lock, is the leader, and only its localStorage is ever written:
//!
//! - Every other tab reaches the records through the leader (the leader runs its own
//!   operations directly on its localStorage, as serving them would): `read` returns
//!   raw values, `cas` applies writes only if the raw values read are still there (else it
//!   answers `changed` and the caller reads and decides again), `scan` lists the store's
//!   records, `clear` removes them. Other tabs send these over a BroadcastChannel; the leader
//!   serves them one at a time, synchronously, on its own localStorage, which no other
//!   renderer writes, so what it reads is current.
//! - Handover: leader writes bump `<name>::seq` (its own direct ones once, before anything
//!   is told to another tab), and every answer carries it. Each tab
//!   tracks the highest seq it has seen and sends it with each request; a leader serves a
//!   request only once its own localStorage shows that seq, and a new leader first waits for
//!   the highest seq it has seen. So a new leader never serves from a view older than what
//!   any requester has already been told.
//! - Re-sent requests: a tab re-sends what it is still waiting for when a new leader announces
//!   itself, so a `cas` the old leader applied, but whose answer never arrived (the old leader
//!   closed first, or the new leader's answer overtook it), comes again. Its expected values
//!   are gone by then (its own write replaced them), and answering `changed` would turn a
//!   successful write into a version conflict, and the caller's retry into a second write.
//!   So a leader applying another tab's `cas` also records its token (tab and request id) in
//!   `<name>::applied` (the last 32, just before the records; see `Coordinator::apply`),
//!   and a `cas` whose values changed but whose token is there is answered as
//!   applied. The list is kept in JS (`applied.js`): ~1 KB less wasm.
//!
//! Without `navigator.locks` or `BroadcastChannel` (very old browsers) the store uses
//! localStorage directly: atomic within the tab, not across tabs.

mod coordinator;
mod wire;

use super::storage::{expired_among, live_among, removals, RawPairs, SingleTabStorageBackend};
use crate::engine::{Backend, Expiry, Slot, Write};
use crate::error::StoreError;
use crate::id::SessionId;
use coordinator::Coordinator;
use std::rc::Rc;
use wire::{Reply, Request};

/// localStorage whose read-check-writes are atomic across the tabs of an origin.
pub struct SharedStorageBackend {
    local: Rc<SingleTabStorageBackend>,
    coordinator: Option<Rc<Coordinator>>,
}

impl std::fmt::Debug for SharedStorageBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedStorageBackend")
            .field("local", &self.local)
            .field("coordinated", &self.coordinator.is_some())
            .finish()
    }
}

impl SharedStorageBackend {
    /// Opens localStorage for store `name` and joins the election of its leader tab.
    ///
    /// # Errors
    /// [`Unavailable`](StoreError::Unavailable) where localStorage does not exist (workers)
    /// or is blocked.
    pub fn open(name: &str) -> Result<Self, StoreError> {
        let local = Rc::new(SingleTabStorageBackend::open(
            super::storage::StorageKind::Local,
            name,
        )?);
        let coordinator = Coordinator::start(&local, name).ok();
        Ok(SharedStorageBackend { local, coordinator })
    }

    /// Whether this store coordinates with other tabs (Web Locks and BroadcastChannel exist).
    pub fn is_coordinated(&self) -> bool {
        self.coordinator.is_some()
    }

    /// Whether this tab is currently the leader that performs every write.
    pub fn is_leader(&self) -> bool {
        self.coordinator.as_ref().is_some_and(|c| c.leader.get())
    }

    /// Tests: while this tab leads, it applies other tabs' writes (`cas` requests) but never
    /// answers them, as a leader does whose page closes before its answers arrive. Reads are
    /// still answered. Only with the `test-hooks` feature (the conformance kit's), not API.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn mute_answers(&self) {
        if let Some(c) = &self.coordinator {
            c.mute.set(true);
        }
    }

    /// Leaves the election and the channel; if this tab led, another takes over.
    pub fn close(&self) {
        if let Some(c) = &self.coordinator {
            c.close();
        }
    }
}

impl Drop for SharedStorageBackend {
    fn drop(&mut self) {
        self.close();
    }
}

impl SharedStorageBackend {
    /// The coordinator to send an operation through; `None` when it runs directly on this
    /// tab's localStorage: uncoordinated, or this tab leads with a current view.
    ///
    /// The leader's own operations need no requests: it is the only writer, and it serves
    /// requests synchronously, so running its own read-check-writes synchronously on its
    /// localStorage is what serving them would do, without building, serving and reading
    /// back request objects: per save, 1 localStorage write and 5 reads instead of 2 and 10,
    /// and no request objects (the benchmark's save went from 0.21x to 0.44x raw
    /// `setItem`, load from 88 to 30 µs in Chromium). Their seq bump is deferred to
    /// the coordinator's next seq bump: nothing can have learned of these writes through an answer
    /// before it runs. `writes`: whether the operation may write (reads need no bump).
    fn direct(&self, writes: bool) -> Option<&Rc<Coordinator>> {
        let c = self.coordinator.as_ref()?;
        if c.leads_currently() {
            if writes {
                c.dirty.set(true);
            }
            return None;
        }
        Some(c)
    }
}

impl Backend for SharedStorageBackend {
    async fn read(&self, ids: &[&SessionId]) -> Result<Vec<Slot>, StoreError> {
        let Some(c) = self.direct(false) else {
            return self.local.read_now(ids);
        };
        let keys: Vec<String> = ids.iter().map(|id| self.local.key(id)).collect();
        let raws = values(c.call(Request::Read(keys)).await?);
        Ok(ids
            .iter()
            .zip(raws)
            .map(|(id, raw)| SingleTabStorageBackend::decode_slot(id, raw))
            .collect())
    }

    async fn transact(
        &self,
        ids: &[&SessionId],
        decide: &mut dyn FnMut(Vec<Slot>) -> Result<Vec<Write>, StoreError>,
    ) -> Result<(), StoreError> {
        let Some(c) = self.direct(true) else {
            return self.local.transact_now(ids, decide);
        };
        let keys: Vec<String> = ids.iter().map(|id| self.local.key(id)).collect();
        loop {
            let raws = values(c.call(Request::Read(keys.clone())).await?);
            let slots = ids
                .iter()
                .zip(&raws)
                .map(|(id, raw)| SingleTabStorageBackend::decode_slot(id, raw.clone()))
                .collect();
            let writes = self.local.raw_writes(decide(slots)?);
            if writes.is_empty() {
                return Ok(());
            }
            let expect: Vec<(String, Option<String>)> = keys.iter().cloned().zip(raws).collect();
            if applied(c.call(Request::Cas { expect, writes }).await?) {
                return Ok(());
            }
        }
    }

    async fn live_ids(&self, expiry: Expiry) -> Result<Vec<SessionId>, StoreError> {
        let found = match self.direct(false) {
            None => self.local.scan_raw()?,
            Some(c) => pairs(c.call(Request::Scan).await?),
        };
        Ok(live_among(self.local.readable(found), expiry))
    }

    async fn delete_expired(
        &self,
        expiry: Expiry,
        limit: Option<usize>,
    ) -> Result<Vec<(SessionId, u64)>, StoreError> {
        let Some(c) = self.direct(true) else {
            return self.local.delete_expired_now(expiry, limit);
        };
        loop {
            let found = self.local.readable(pairs(c.call(Request::Scan).await?));
            let (expect, removed) = expired_among(found, expiry, limit);
            if removed.is_empty() {
                return Ok(removed);
            }
            let writes = removals(&expect);
            if applied(c.call(Request::Cas { expect, writes }).await?) {
                return Ok(removed);
            }
        }
    }

    /// Listed from this tab's own view of localStorage, without the leader: a listing, which
    /// may lag another tab's newest rows by a moment (each is read, through the leader, when
    /// used).
    async fn reserved_ids(&self, prefix: &str) -> Result<Vec<SessionId>, StoreError> {
        self.local.reserved_now(prefix)
    }

    async fn clear(&self) -> Result<(), StoreError> {
        match self.direct(true) {
            None => self.local.clear_records(),
            Some(c) => c.call(Request::Clear).await.map(drop),
        }
    }
}

/// Whether a `cas` was applied (not `changed`).
fn applied(reply: Reply) -> bool {
    !matches!(reply, Reply::Applied(false))
}

/// The raw values of a `read` reply.
fn values(reply: Reply) -> Vec<Option<String>> {
    match reply {
        Reply::Values(values) => values,
        _ => Vec::new(),
    }
}

/// The keys and raw values of a `scan` reply.
fn pairs(reply: Reply) -> RawPairs {
    match reply {
        Reply::Pairs(pairs) => pairs,
        _ => Vec::new(),
    }
}

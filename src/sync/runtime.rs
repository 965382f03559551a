//! When a synced store's passes run (browser): soon after a local write, every `intervalMs`,
//! on the `online` event, in `sync_now`; and after a failure, exponential backoff (1 s doubling
//! to 60 s, with jitter, never before a Retry-After), except after a 401 or 403, which waits
//! for the next pass that something else starts.

use super::pass::{read_meta, status, sync_is_online, sync_online, write_meta, Pass, Stopped};
use super::{SyncError, SyncReport, SyncStatus};
use crate::backends::AnyBackend;
use crate::browser::Interval;
use crate::engine::Store;
use crate::error::{push_u64, ErrorCode, StoreError};
use crate::event::{EventKind, StoreEvent};
use crate::id::SessionId;
use js_sys::Function;
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::spawn_local;

/// How soon after a local write its push starts (ms): writes made together go in one pass.
const PUSH_DELAY_MS: u32 = 50;

/// The backoff's first and longest waits (ms).
const BACKOFF_MS: (f64, f64) = (1_000.0, 60_000.0);

/// A synced store's sync runtime: its passes and when they run.
pub(crate) struct Syncer {
    store: Weak<Store<AnyBackend>>,
    /// Who this context is (for the pass lease where there are no Web Locks).
    me: String,
    /// A pass of this context is running, and whether another was asked for meanwhile (and
    /// whether it pulls).
    running: Cell<bool>,
    again: Cell<Option<bool>>,
    /// Failures in a row, for the backoff.
    failures: Cell<u32>,
    /// A Retry-After running until then (`Date.now()` ms).
    retry_until: Cell<f64>,
    /// After a 401 or 403: no pass until something starts one.
    stalled: Cell<bool>,
    /// The store was closed: a pass running stops at its next step.
    stopped: Rc<Cell<bool>>,
    /// The next pass scheduled (a push soon after a write, a retry), the pulls' period, the
    /// `online` listener's remover.
    next: RefCell<Option<Interval>>,
    period: RefCell<Option<Interval>>,
    online: RefCell<Option<Online>>,
}

/// The `online` listener: the function that removes it, and the listener.
type Online = (Function, Closure<dyn FnMut()>);

impl Syncer {
    /// Starts syncing `store` (which has sync options): a first pass now (what was queued
    /// before this page opened goes), pulls every `intervalMs`, a pass on `online`.
    pub(crate) fn start(store: &Rc<Store<AnyBackend>>) -> Option<Rc<Syncer>> {
        let interval = store.options().get_sync()?.get_interval_ms();
        let syncer = Rc::new(Syncer {
            store: Rc::downgrade(store),
            me: SessionId::generate().map_or_else(|_| String::new(), |id| id.as_str().to_owned()),
            running: Cell::new(false),
            again: Cell::new(None),
            failures: Cell::new(0),
            retry_until: Cell::new(0.0),
            stalled: Cell::new(false),
            stopped: Rc::default(),
            next: RefCell::default(),
            period: RefCell::default(),
            online: RefCell::default(),
        });
        let weak = Rc::downgrade(&syncer);
        if let Some(ms) = interval {
            let weak = weak.clone();
            let ms = ms.min(i32::MAX as u64) as u32;
            *syncer.period.borrow_mut() = Some(Interval::new(ms, move || {
                if let Some(s) = weak.upgrade() {
                    s.background(true);
                }
            }));
        }
        let on_online = Closure::<dyn FnMut()>::new(move || {
            if let Some(s) = weak.upgrade() {
                s.stalled.set(false);
                s.background(false);
            }
        });
        let remove = sync_online(on_online.as_ref().unchecked_ref());
        *syncer.online.borrow_mut() = Some((remove, on_online));
        // A first pass now: it pulls too, unless pulls come only in sync_now.
        syncer.schedule(0, interval.is_some());
        Some(syncer)
    }

    /// Stops every timer and listener, and a pass running at its next step.
    pub(crate) fn stop(&self) {
        self.stopped.set(true);
        self.next.borrow_mut().take();
        self.period.borrow_mut().take();
        if let Some((remove, _)) = self.online.borrow_mut().take() {
            let _ = remove.call0(&JsValue::UNDEFINED);
        }
    }

    /// A local write was made: its push starts soon (when online, after a running
    /// Retry-After), and a 401's stall ends (its pass calls `headers()` again).
    pub(crate) fn written(self: &Rc<Self>, event: &StoreEvent) {
        let write = matches!(
            event.kind,
            EventKind::Created
                | EventKind::Saved
                | EventKind::Deleted
                | EventKind::Expired
                | EventKind::IdChanged
                | EventKind::TtlUpdated
                | EventKind::Cleared
        );
        if write && event.local && !event.remote {
            self.stalled.set(false);
            if self.next.borrow().is_none() {
                self.schedule(PUSH_DELAY_MS, false);
            }
        }
    }

    /// Runs a pass in `ms` (or after a running Retry-After), replacing the one scheduled.
    fn schedule(self: &Rc<Self>, ms: u32, pull: bool) {
        let wait = (self.retry_until.get() - js_sys::Date::now()).max(0.0) as u32;
        let weak = Rc::downgrade(self);
        *self.next.borrow_mut() = Some(Interval::once(ms.max(wait), move || {
            if let Some(s) = weak.upgrade() {
                s.next.borrow_mut().take();
                s.background(pull);
            }
        }));
    }

    /// A pass nobody waits for (its failure goes to `lastError` and a `syncError` event).
    fn background(self: &Rc<Self>, pull: bool) {
        if self.stalled.get() || !sync_is_online() || js_sys::Date::now() < self.retry_until.get() {
            return;
        }
        let s = self.clone();
        spawn_local(async move {
            let _ = s.pass(pull, false).await;
        });
    }

    /// `sync_now`: one pass at once, push then pull, ignoring the backoff but not a running
    /// Retry-After.
    pub(crate) async fn now(self: &Rc<Self>) -> Result<SyncReport, StoreError> {
        self.stalled.set(false);
        self.pass(true, true).await
    }

    /// What `sync_status` says.
    pub(crate) async fn status(&self) -> Result<SyncStatus, StoreError> {
        let store = self.store()?;
        status(&store).await
    }

    fn store(&self) -> Result<Rc<Store<AnyBackend>>, StoreError> {
        self.store.upgrade().ok_or(StoreError::Closed)
    }

    /// One pass, `wait`ing for another context's to end (else skipped), and what it leaves:
    /// the last pass and error kept with the queue, the backoff or the stall.
    async fn pass(self: &Rc<Self>, pull: bool, wait: bool) -> Result<SyncReport, StoreError> {
        if self.running.replace(true) && !wait {
            // One at a time here: the running one is followed by another.
            self.running.set(true);
            self.again
                .set(Some(pull || self.again.get().unwrap_or(false)));
            return Ok(SyncReport::default());
        }
        let store = self.store()?;
        let options = store
            .options()
            .get_sync()
            .cloned()
            .ok_or(StoreError::Closed)?;
        // A Retry-After still running (this context's, or one kept from before a reload).
        let meta = read_meta(&store).await;
        let kept = meta
            .as_ref()
            .map_or(0.0, |m| m.retry_until.unwrap_or(0) as f64);
        self.retry_until.set(self.retry_until.get().max(kept));
        let left = self.retry_until.get() - js_sys::Date::now();
        if left > 0.0 {
            self.running.set(false);
            if !wait {
                self.schedule(0, pull);
                return Ok(SyncReport::default());
            }
            let mut reason = String::from("the sync server asked to wait (Retry-After): retry in ");
            push_u64(&mut reason, (left / 1000.0).ceil() as u64);
            reason.push_str(" s");
            return Err(StoreError::sync_unavailable(reason));
        }
        // A push waits for another context's pass rather than being skipped: that pass may
        // have read the queue before this write.
        let out = Pass::run(
            &store,
            &options,
            &self.me,
            pull,
            wait || !pull,
            &self.stopped,
        )
        .await;
        self.running.set(false);
        let mut meta = read_meta(&store).await.unwrap_or_default();
        let result = match out {
            Ok(None) => Ok(SyncReport::default()),
            Ok(Some((report, refused))) => {
                self.failures.set(0);
                meta.last_sync_at = store.options().get_clock().now_ms().ok();
                meta.last_error = refused;
                meta.retry_until = None;
                Ok(report)
            }
            Err(Stopped {
                error,
                retry_after_ms,
            }) => {
                let now = js_sys::Date::now();
                let failure = SyncError {
                    code: error.code().as_str().to_owned(),
                    message: error.message(),
                };
                let mut event = StoreEvent::new(EventKind::SyncError, None, None);
                event.error = Some(failure.clone());
                store.announce(event);
                meta.last_error = Some(failure);
                if let Some(ms) = retry_after_ms {
                    self.retry_until.set(now + ms as f64);
                    meta.retry_until = Some((now + ms as f64) as u64);
                }
                if error.code() == ErrorCode::Unauthorized {
                    self.stalled.set(true);
                } else if error.code() == ErrorCode::Unavailable {
                    let failures = self.failures.get() + 1;
                    self.failures.set(failures);
                    let base =
                        (BACKOFF_MS.0 * 2f64.powi(failures.min(16) as i32 - 1)).min(BACKOFF_MS.1);
                    // Jitter: between half and all of it, so that tabs and devices spread out.
                    let ms = base * (0.5 + js_sys::Math::random() / 2.0);
                    self.schedule(ms as u32, pull);
                }
                Err(error)
            }
        };
        let _ = write_meta(&store, &meta).await;
        if let Some(pull) = self.again.take() {
            self.schedule(0, pull);
        }
        result
    }
}

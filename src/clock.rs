//! [`Clock`]: where a store gets the time, so that tests move time instead of sleeping.

use crate::error::StoreError;
use std::cell::Cell;
use std::rc::Rc;

/// A source of wall-clock time in milliseconds since the Unix epoch.
///
/// Every operation reads the clock once. Inject a [`ManualClock`] in tests to make sessions
/// expire without waiting.
pub trait Clock {
    /// The current time in ms since the Unix epoch.
    ///
    /// # Errors
    /// An implementation backed by user code (such as the JS `now` option) returns
    /// [`InvalidInput`](StoreError::InvalidInput) when that code gives no usable time.
    fn now_ms(&self) -> Result<u64, StoreError>;
}

/// The platform clock: `Date.now()` on wasm, `SystemTime::now()` natively.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[cfg(target_arch = "wasm32")]
    fn now_ms(&self) -> Result<u64, StoreError> {
        Ok(js_sys::Date::now() as u64)
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn now_ms(&self) -> Result<u64, StoreError> {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Ok(since.as_millis() as u64)
    }
}

/// A clock that only moves when told to. Clones share one time.
///
/// # Examples
/// ```
/// use wasm_session_store::{Clock, ManualClock};
/// let clock = ManualClock::new(1_000);
/// clock.advance(500);
/// assert_eq!(clock.now_ms().unwrap(), 1_500);
/// ```
#[derive(Clone, Debug, Default)]
pub struct ManualClock(Rc<Cell<u64>>);

impl ManualClock {
    /// A clock stopped at `now_ms`.
    pub fn new(now_ms: u64) -> Self {
        ManualClock(Rc::new(Cell::new(now_ms)))
    }

    /// Sets the time.
    pub fn set(&self, now_ms: u64) {
        self.0.set(now_ms);
    }

    /// Moves the time forward by `ms`.
    pub fn advance(&self, ms: u64) {
        self.0.set(self.0.get().saturating_add(ms));
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> Result<u64, StoreError> {
        Ok(self.0.get())
    }
}

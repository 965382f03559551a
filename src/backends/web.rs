//! What the browser backends share: the global scope (window or worker alike), IndexedDB
//! requests as futures, and browser exceptions as [`StoreError`]s.

use crate::error::StoreError;
use js_sys::{Function, Object, Promise, Reflect};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, DomException, Event, IdbRequest, IdbTransaction};

/// `globalThis[name]`, in a window, a dedicated worker or a service worker; `Err` with the
/// browser's reason when reading it throws (e.g. storage blocked by policy).
pub(crate) fn global_property(name: &str) -> Result<JsValue, StoreError> {
    Reflect::get(&js_sys::global(), &JsValue::from_str(name)).map_err(|e| {
        let mut reason = String::from(name);
        reason.push_str(" is not accessible: ");
        reason.push_str(&exception_reason(&e));
        StoreError::Unavailable {
            reason: reason.into(),
        }
    })
}

/// The name of a DOMException (or Error), such as "QuotaExceededError".
pub(crate) fn exception_name(err: &JsValue) -> String {
    if let Some(dom) = err.dyn_ref::<DomException>() {
        dom.name()
    } else if let Some(e) = err.dyn_ref::<js_sys::Error>() {
        e.name().into()
    } else {
        String::new()
    }
}

/// "Name: message" of a thrown browser value.
pub(crate) fn exception_reason(err: &JsValue) -> String {
    let (name, message) = if let Some(dom) = err.dyn_ref::<DomException>() {
        (dom.name(), dom.message())
    } else if let Some(e) = err.dyn_ref::<js_sys::Error>() {
        (e.name().into(), e.message().into())
    } else {
        (String::new(), err.as_string().unwrap_or_default())
    };
    let mut reason = name;
    if !message.is_empty() {
        if !reason.is_empty() {
            reason.push_str(": ");
        }
        reason.push_str(&message);
    }
    if reason.is_empty() {
        reason.push_str("unknown browser error");
    }
    reason
}

/// A browser exception from a storage operation as a StoreError: quota errors become
/// QUOTA_EXCEEDED, everything else UNAVAILABLE with the browser's words.
pub(crate) fn storage_error(err: &JsValue) -> StoreError {
    let reason = exception_reason(err);
    if exception_name(err) == "QuotaExceededError" {
        StoreError::QuotaExceeded {
            reason: reason.into(),
        }
    } else {
        StoreError::Unavailable {
            reason: reason.into(),
        }
    }
}

/// A promise together with the functions that settle it, for handing to event handlers.
pub(crate) struct Deferred {
    pub(crate) promise: Promise,
    pub(crate) resolve: Function,
    pub(crate) reject: Function,
}

impl Deferred {
    pub(crate) fn new() -> Self {
        let mut functions = None;
        let promise = Promise::new(&mut |resolve, reject| functions = Some((resolve, reject)));
        // The Promise constructor runs its executor synchronously, so both are set here.
        let Some((resolve, reject)) = functions else {
            unreachable!()
        };
        Deferred {
            promise,
            resolve,
            reject,
        }
    }
}

/// Resolves after `ms` milliseconds (a `setTimeout`).
///
/// On a promise rather than gloo-timers' `TimeoutFuture`, which would bring in
/// futures-channel for this one use.
pub(crate) async fn sleep(ms: u32) {
    let done = Deferred::new();
    let resolve = done.resolve;
    let _timeout = gloo_timers::callback::Timeout::new(ms, move || {
        let _ = resolve.call0(&JsValue::UNDEFINED);
    });
    let _ = JsFuture::from(done.promise).await;
}

/// Waits until every one of `reqs` (IndexedDB requests of one transaction) succeeds; `Err`
/// with the error of the first that fails. Their results are then in `req.result()`.
///
/// One pair of handlers and one promise serve the whole batch, so a thousand reads cost one
/// wake-up, not a thousand. Safe inside a transaction: the continuation runs as a microtask of
/// the last success event, while the transaction is still active.
pub(crate) async fn requests(reqs: &[IdbRequest]) -> Result<(), JsValue> {
    if reqs.is_empty() {
        return Ok(());
    }
    let settle = Deferred::new();
    let pending = Rc::new(Cell::new(reqs.len()));
    let resolve = settle.resolve.clone();
    let on_success = Closure::<dyn FnMut()>::new(move || {
        pending.set(pending.get() - 1);
        if pending.get() == 0 {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        }
    });
    let reject = settle.reject.clone();
    let on_error = Closure::<dyn FnMut(Event)>::new(move |event: Event| {
        let error = event
            .target()
            .and_then(|t| t.dyn_into::<IdbRequest>().ok())
            .and_then(|req| req.error().ok().flatten())
            .map(JsValue::from);
        let _ = reject.call1(&JsValue::UNDEFINED, &error.unwrap_or(JsValue::UNDEFINED));
    });
    for req in reqs {
        req.set_onsuccess(Some(on_success.as_ref().unchecked_ref()));
        req.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    }
    let _unset = Unset(|| {
        for req in reqs {
            req.set_onsuccess(None);
            req.set_onerror(None);
        }
    });
    JsFuture::from(settle.promise.clone()).await.map(drop)
}

/// Waits for a transaction to commit; `Err` with its error when it aborts.
pub(crate) struct Done {
    tx: IdbTransaction,
    settle: Deferred,
    _on_complete: Closure<dyn FnMut()>,
    _on_abort: Closure<dyn FnMut(Event)>,
}

impl Done {
    /// Starts listening; call right after creating the transaction.
    pub(crate) fn new(tx: &IdbTransaction) -> Self {
        let settle = Deferred::new();
        let resolve = settle.resolve.clone();
        let on_complete = Closure::<dyn FnMut()>::new(move || {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        });
        let (abort_tx, reject) = (tx.clone(), settle.reject.clone());
        let on_abort = Closure::<dyn FnMut(Event)>::new(move |_: Event| {
            let error = abort_tx.error().map(JsValue::from).unwrap_or_else(|| {
                DomException::new_with_message_and_name("the transaction was aborted", "AbortError")
                    .map(JsValue::from)
                    .unwrap_or(JsValue::UNDEFINED)
            });
            let _ = reject.call1(&JsValue::UNDEFINED, &error);
        });
        tx.set_oncomplete(Some(on_complete.as_ref().unchecked_ref()));
        tx.set_onabort(Some(on_abort.as_ref().unchecked_ref()));
        Done {
            tx: tx.clone(),
            settle,
            _on_complete: on_complete,
            _on_abort: on_abort,
        }
    }

    /// Resolves when the transaction completes.
    pub(crate) async fn wait(self) -> Result<(), JsValue> {
        JsFuture::from(self.settle.promise.clone()).await.map(drop)
    }

    /// Aborts the transaction (nothing it wrote is kept) and waits for it to end.
    pub(crate) async fn abort(self) {
        let _ = self.tx.abort();
        let _ = self.wait().await;
    }
}

impl Drop for Done {
    fn drop(&mut self) {
        self.tx.set_oncomplete(None);
        self.tx.set_onabort(None);
    }
}

/// Runs a closure when dropped.
struct Unset<F: FnMut()>(F);

impl<F: FnMut()> Drop for Unset<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// A Web Lock (`navigator.locks`) requested at creation and held until [`release`] or drop:
/// the election of one leader among the tabs and workers of an origin. When the holder's
/// context closes, the browser releases the lock and the next request is granted.
///
/// [`release`]: WebLock::release
pub(crate) struct WebLock {
    held: Rc<Cell<bool>>,
    release: Rc<RefCell<Option<Function>>>,
    abort: Option<AbortController>,
    _on_granted: Closure<dyn FnMut(JsValue) -> Promise>,
}

impl WebLock {
    /// Requests the lock `name`, calling `on_granted` when it is granted; `Err` when this
    /// context has no Web Locks.
    pub(crate) fn request(name: &str, on_granted: Box<dyn Fn()>) -> Result<WebLock, StoreError> {
        let navigator = global_property("navigator")?;
        let locks = Reflect::get(&navigator, &JsValue::from_str("locks")).unwrap_or_default();
        let request: Function = Reflect::get(&locks, &JsValue::from_str("request"))
            .ok()
            .and_then(|f| f.dyn_into().ok())
            .ok_or_else(|| StoreError::Unavailable {
                reason: "no Web Locks in this context".into(),
            })?;
        let held = Rc::new(Cell::new(false));
        let release: Rc<RefCell<Option<Function>>> = Rc::default();
        let (on_held, on_release) = (held.clone(), release.clone());
        // Granted: hold the lock until the promise returned here resolves.
        let on_granted = Closure::<dyn FnMut(JsValue) -> Promise>::new(move |_lock| {
            let hold = Deferred::new();
            on_held.set(true);
            *on_release.borrow_mut() = Some(hold.resolve.clone());
            on_granted();
            hold.promise
        });
        let abort = AbortController::new().ok();
        let options = Object::new();
        if let Some(abort) = &abort {
            let _ = Reflect::set(&options, &JsValue::from_str("signal"), &abort.signal());
        }
        let granted = request
            .call3(
                &locks,
                &JsValue::from_str(name),
                &options,
                on_granted.as_ref().unchecked_ref(),
            )
            .map_err(|e| StoreError::Unavailable {
                reason: exception_reason(&e).into(),
            })?;
        // Released or withdrawn before being granted (AbortError): both expected.
        if let Ok(granted) = granted.dyn_into::<Promise>() {
            let ignore = Closure::<dyn FnMut(JsValue)>::new(|_| {});
            let _ = granted.catch(&ignore);
            ignore.forget();
        }
        Ok(WebLock {
            held,
            release,
            abort,
            _on_granted: on_granted,
        })
    }

    /// Whether this context holds the lock now.
    pub(crate) fn is_held(&self) -> bool {
        self.held.get()
    }

    /// Lets the lock go (or withdraws the request); idempotent.
    pub(crate) fn release(&self) {
        self.held.set(false);
        if let Some(release) = self.release.borrow_mut().take() {
            let _ = release.call0(&JsValue::UNDEFINED);
        } else if let Some(abort) = &self.abort {
            abort.abort();
        }
    }
}

impl Drop for WebLock {
    fn drop(&mut self) {
        self.release();
    }
}

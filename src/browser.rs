//! What the browser backends share: the global scope (window or worker alike), promises,
//! timers, Web Locks, and browser exceptions as [`StoreError`]s.

use crate::error::{BrowserException, StoreError};
use js_sys::{Function, Object, Promise, Reflect};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, DomException};

/// `globalThis[name]`, in a window, a dedicated worker or a service worker; `Err` with the
/// browser's reason when reading it throws (e.g. storage blocked by policy).
pub(crate) fn global_property(name: &str) -> Result<JsValue, StoreError> {
    Reflect::get(&js_sys::global(), &JsValue::from_str(name)).map_err(|e| {
        let mut context = String::from(name);
        context.push_str(" is not accessible");
        unavailable_from(&context, &e)
    })
}

/// `object[key]`; undefined when reading it throws (a getter) or `object` is not an object.
pub(crate) fn field(object: &JsValue, key: &str) -> JsValue {
    Reflect::get(object, &JsValue::from_str(key)).unwrap_or_default()
}

/// The name and message of a thrown value: a DOMException, an Error, or a thrown string (its
/// message, with no name).
pub(crate) fn exception(err: &JsValue) -> BrowserException {
    let (name, message) = if let Some(dom) = err.dyn_ref::<DomException>() {
        (dom.name(), dom.message())
    } else if let Some(e) = err.dyn_ref::<js_sys::Error>() {
        (e.name().into(), e.message().into())
    } else {
        (String::new(), err.as_string().unwrap_or_default())
    };
    BrowserException { name, message }
}

/// The name of a DOMException (or Error), such as "QuotaExceededError".
pub(crate) fn exception_name(err: &JsValue) -> String {
    exception(err).name
}

/// "Name: message" of a thrown value: a DOMException, an Error, or a thrown string as it is.
pub fn exception_reason(err: &JsValue) -> String {
    reason_of(&exception(err))
}

fn reason_of(exception: &BrowserException) -> String {
    let mut reason = exception.name.clone();
    if !exception.message.is_empty() {
        if !reason.is_empty() {
            reason.push_str(": ");
        }
        reason.push_str(&exception.message);
    }
    if reason.is_empty() {
        reason.push_str("a value without a name or message was thrown");
    }
    reason
}

/// UNAVAILABLE for a browser exception: `context` (when not empty), then the exception's
/// "Name: message"; the exception is the error's cause.
pub(crate) fn unavailable_from(context: &str, err: &JsValue) -> StoreError {
    let cause = exception(err);
    let mut reason = String::from(context);
    if !reason.is_empty() {
        reason.push_str(": ");
    }
    reason.push_str(&reason_of(&cause));
    StoreError::Unavailable {
        reason: reason.into(),
        cause: Some(cause),
    }
}

/// A browser exception from a storage operation as a StoreError: quota errors become
/// QUOTA_EXCEEDED, everything else UNAVAILABLE with the browser's words; the exception is the
/// error's cause either way.
pub(crate) fn storage_error(err: &JsValue) -> StoreError {
    let cause = exception(err);
    if cause.name == "QuotaExceededError" {
        StoreError::QuotaExceeded {
            reason: reason_of(&cause).into(),
            cause: Some(cause),
        }
    } else {
        unavailable_from("", err)
    }
}

/// A promise together with the function that resolves it, for handing to event handlers.
pub(crate) struct Deferred {
    pub(crate) promise: Promise,
    pub(crate) resolve: Function,
}

impl Deferred {
    pub(crate) fn new() -> Self {
        let mut resolve = None;
        let promise = Promise::new(&mut |done, _| resolve = Some(done));
        // The Promise constructor runs its executor synchronously, so it is set here.
        let Some(resolve) = resolve else {
            unreachable!()
        };
        Deferred { promise, resolve }
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

/// A `setInterval`, cleared on drop. It is for background work (the sweeper), so where the
/// timer is an object with `unref` (Node's), it is unref'd (`timers.js`): an open store never
/// keeps a Node process alive (a script that forgets `close()` still exits).
pub(crate) struct Interval {
    handle: JsValue,
    _callback: Closure<dyn FnMut()>,
}

#[wasm_bindgen(module = "/src/timers.js")]
extern "C" {
    fn interval_start(callback: &Function, ms: u32) -> JsValue;
    fn timeout_start(callback: &Function, ms: u32) -> JsValue;
    fn interval_stop(handle: &JsValue);
}

impl Interval {
    /// Calls `callback` every `ms` milliseconds until dropped.
    pub(crate) fn new(ms: u32, callback: impl FnMut() + 'static) -> Interval {
        Self::start(ms, false, callback)
    }

    /// Calls `callback` once, in `ms` milliseconds, unless dropped first.
    pub(crate) fn once(ms: u32, callback: impl FnMut() + 'static) -> Interval {
        Self::start(ms, true, callback)
    }

    fn start(ms: u32, once: bool, callback: impl FnMut() + 'static) -> Interval {
        let callback = Closure::<dyn FnMut()>::new(callback);
        let f = callback.as_ref().unchecked_ref();
        let handle = if once {
            timeout_start(f, ms)
        } else {
            interval_start(f, ms)
        };
        Interval {
            handle,
            _callback: callback,
        }
    }
}

impl Drop for Interval {
    fn drop(&mut self) {
        interval_stop(&self.handle);
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
            .ok_or_else(|| StoreError::unavailable("no Web Locks in this context"))?;
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
            .map_err(|e| unavailable_from("", &e))?;
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

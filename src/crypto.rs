//! Encryption at rest: [`Encryption`] (the option), and the [`Cipher`] an encrypted store's
//! engine seals and opens states with.
//!
//! AES-GCM 256 through WebCrypto (`crypto.js`): the whole state is encrypted, with a fresh
//! 96-bit IV per write and additional data binding the store name, the session id and the
//! record's version (`wss1:<name>:<id>:<version>`), so a ciphertext moved to another id or
//! version does not decrypt. The rest of the record (id, version, timestamps, deadline, TTL)
//! stays readable: expiry and sweeping never need the key.
//!
//! The store keeps a key-check record under the reserved id [`CHECK_ID`] (never a valid
//! session id, so no scan, sweep or id list sees it): the state `{}` sealed with the store's
//! key. Opening with another key fails on it; every encrypted write reads it in its own
//! transaction, so a tab still holding a device key that another tab destroyed (`clear`) finds
//! out before it writes with it.

use crate::id::SessionId;
use std::cell::{Cell, RefCell};

/// The reserved id of the key-check record (`<name>::key` in Web Storage).
pub(crate) const CHECK_ID: &str = ":key";

/// The version of a key-check record a device key wrote (the app's key writes version 1):
/// a device store that cannot open the check replaces it only when a device key wrote it
/// (that key is gone), never the app's.
pub(crate) const DEVICE_CHECK: u64 = 2;

/// How many recently seen versions an encrypted store remembers (to seal a `save` for the
/// version it will write before its transaction starts).
const MEMO: usize = 64;

/// How a store encrypts the states it stores (browser only: WebCrypto).
///
/// Set with [`StoreOptions::encryption`](crate::StoreOptions::encryption) and opened with
/// [`WebStore::open`](crate::WebStore::open).
#[cfg(target_arch = "wasm32")]
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Encryption {
    /// A non-extractable AES-GCM 256-bit key made on first use and kept in IndexedDB (a
    /// memory store's in memory, for its lifetime): defence in depth, and crypto-shredding on
    /// [`clear`](crate::SessionStore::clear), which destroys it.
    Device,
    /// The app's own AES-GCM key, with `encrypt` and `decrypt` usages (e.g. derived with
    /// PBKDF2 from a passphrase that is never stored).
    Key(web_sys::CryptoKey),
}

/// The key as the engine holds it: a `CryptoKey` (undefined while a device key is not made or
/// loaded yet). Natively there is none, so no [`Cipher`] can be made.
#[cfg(target_arch = "wasm32")]
type Key = wasm_bindgen::JsValue;
#[cfg(not(target_arch = "wasm32"))]
type Key = std::convert::Infallible;

/// An encrypted store's key and what it knows about it.
pub(crate) struct Cipher {
    /// `wss1:<name>:`, the start of every additional data.
    aad: String,
    /// Where the device key is kept (`None`: the app's key). Empty: a memory store's key,
    /// kept nowhere.
    entry: Option<String>,
    key: RefCell<Key>,
    /// Bumped whenever `key` is replaced: what was sealed before is sealed with another key.
    generation: Cell<u32>,
    /// The ciphertext of a key-check record sealed with `key`.
    check: RefCell<Option<String>>,
    /// Versions recently read or written, by id.
    memo: RefCell<Vec<(SessionId, u64)>>,
}

impl Cipher {
    /// The additional data of a state sealed for `id` at `version`.
    pub(crate) fn aad(&self, id: &str, version: u64) -> String {
        let mut aad = self.aad.clone();
        aad.push_str(id);
        aad.push(':');
        crate::error::push_u64(&mut aad, version);
        aad
    }

    /// The version of the key check this key writes.
    pub(crate) fn check_version(&self) -> u64 {
        if self.entry.is_some() {
            DEVICE_CHECK
        } else {
            1
        }
    }

    /// Whether the key is yet to be read (or made).
    pub(crate) fn key_missing(&self) -> bool {
        #[cfg(target_arch = "wasm32")]
        return self.key.borrow().is_undefined();
        #[cfg(not(target_arch = "wasm32"))]
        match *self.key.borrow() {}
    }

    /// Whether this is a device key kept in IndexedDB (which another tab may destroy and
    /// remake): not the app's key, nor a memory store's.
    pub(crate) fn is_device(&self) -> bool {
        self.entry.as_deref().is_some_and(|e| !e.is_empty())
    }

    pub(crate) fn generation(&self) -> u32 {
        self.generation.get()
    }

    /// The check ciphertext known to be sealed with the key.
    pub(crate) fn check(&self) -> Option<String> {
        self.check.borrow().clone()
    }

    pub(crate) fn set_check(&self, check: Option<String>) {
        *self.check.borrow_mut() = check;
    }

    /// The last version seen of `id`.
    pub(crate) fn recall(&self, id: &SessionId) -> Option<u64> {
        let memo = self.memo.borrow();
        memo.iter().rev().find(|(i, _)| i == id).map(|(_, v)| *v)
    }

    /// Remembers `version` as the last seen of `id`.
    pub(crate) fn remember(&self, id: &SessionId, version: u64) {
        let mut memo = self.memo.borrow_mut();
        if let Some(at) = memo.iter().position(|(i, _)| i == id) {
            memo.remove(at);
        } else if memo.len() == MEMO {
            memo.remove(0);
        }
        memo.push((id.clone(), version));
    }
}

#[cfg(target_arch = "wasm32")]
mod web {
    use super::{Cipher, Encryption};
    use crate::browser::{global_property, unavailable_from};
    use crate::error::StoreError;
    use js_sys::Promise;
    use std::cell::{Cell, RefCell};
    use wasm_bindgen::prelude::wasm_bindgen;
    use wasm_bindgen::JsValue;
    use wasm_bindgen_futures::JsFuture;

    #[wasm_bindgen(module = "/src/crypto.js")]
    extern "C" {
        fn crypto_key_ok(key: &JsValue) -> bool;
        fn crypto_device_key(entry: &str, make: bool) -> Promise;
        fn crypto_device_drop(entry: &str) -> Promise;
        fn crypto_run(key: &JsValue, open: bool, aads: &str, texts: &str) -> Promise;
    }

    async fn wait(promise: Promise, what: &str) -> Result<JsValue, StoreError> {
        JsFuture::from(promise)
            .await
            .map_err(|e| unavailable_from(what, &e))
    }

    impl Cipher {
        /// The cipher of store `name` for `encryption`; a device key is kept as `entry`
        /// (`""`: in memory only), and read when first needed.
        ///
        /// # Errors
        /// INVALID_INPUT for a key that is not an AES-GCM key able to encrypt and decrypt;
        /// UNAVAILABLE without WebCrypto (not a secure context) or, for a device key kept in
        /// IndexedDB, without IndexedDB.
        pub(crate) fn new(
            name: &str,
            encryption: &Encryption,
            entry: &str,
        ) -> Result<Cipher, StoreError> {
            let subtle = global_property("crypto")
                .map(|c| crate::browser::field(&c, "subtle"))
                .unwrap_or_default();
            if subtle.is_undefined() {
                return Err(StoreError::unavailable(
                    "encryption needs WebCrypto (crypto.subtle), which browsers offer only in \
                     secure contexts: https, or http on localhost",
                ));
            }
            // A device key is read (or made) when first needed: the check at open reads it.
            let (entry, key) = match encryption {
                Encryption::Key(key) => {
                    if !crypto_key_ok(key) {
                        return Err(StoreError::invalid(
                            "encryption.key must be an AES-GCM CryptoKey with the encrypt and \
                             decrypt usages",
                        ));
                    }
                    (None, JsValue::from(key.clone()))
                }
                Encryption::Device => (Some(entry.to_owned()), JsValue::UNDEFINED),
            };
            let mut aad = String::from("wss1:");
            aad.push_str(name);
            aad.push(':');
            Ok(Cipher {
                aad,
                entry,
                key: RefCell::new(key),
                generation: Cell::new(0),
                check: RefCell::default(),
                memo: RefCell::default(),
            })
        }

        /// Seals (`open` false) each of `texts` (NUL-joined) with the additional data of the
        /// same index of `aads`, base64; or opens each (empty for one that does not
        /// decrypt). NUL-joined, in order. Sealing makes the device key when there is none.
        pub(crate) async fn crypt(
            &self,
            open: bool,
            aads: &str,
            texts: &str,
        ) -> Result<String, StoreError> {
            if self.key.borrow().is_undefined() {
                self.load(!open).await?;
            }
            let key = self.key.borrow().clone();
            let done = wait(crypto_run(&key, open, aads, texts), "WebCrypto failed").await?;
            Ok(done.as_string().unwrap_or_default())
        }

        /// Loads the device key again (another tab may have destroyed and remade it); with
        /// `make`, makes one when there is none. The app's key, and a memory store's, stay.
        pub(crate) async fn load(&self, make: bool) -> Result<(), StoreError> {
            let Some(entry) = self.entry.as_deref() else {
                return Ok(());
            };
            // A memory store's key is only ever made (when there is none), never reloaded.
            if !entry.is_empty() || (make && self.key.borrow().is_undefined()) {
                let key = wait(
                    crypto_device_key(entry, make),
                    "encryption \"device\" keeps its key in IndexedDB, which failed",
                )
                .await?;
                *self.key.borrow_mut() = key;
                self.generation.set(self.generation.get().wrapping_add(1));
                self.set_check(None);
            }
            Ok(())
        }

        /// Destroys the device key (crypto-shredding); the next write makes a new one.
        pub(crate) async fn destroy(&self) -> Result<(), StoreError> {
            let Some(entry) = self.entry.as_deref() else {
                return Ok(());
            };
            wait(
                crypto_device_drop(entry),
                "the device key could not be destroyed",
            )
            .await?;
            *self.key.borrow_mut() = JsValue::UNDEFINED;
            self.generation.set(self.generation.get().wrapping_add(1));
            self.set_check(None);
            Ok(())
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl Cipher {
    // Natively no cipher exists (`Key` is uninhabited): these are never called.
    pub(crate) async fn crypt(
        &self,
        _: bool,
        _: &str,
        _: &str,
    ) -> Result<String, crate::StoreError> {
        match *self.key.borrow() {}
    }
    pub(crate) async fn load(&self, _: bool) -> Result<(), crate::StoreError> {
        match *self.key.borrow() {}
    }
    pub(crate) async fn destroy(&self) -> Result<(), crate::StoreError> {
        match *self.key.borrow() {}
    }
}

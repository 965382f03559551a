//! Encryption at rest: [`Encryption`] (the option), and the [`Cipher`] an encrypted store's
//! engine seals and opens states with.
//!
//! AES-GCM 256 through WebCrypto (`crypto.js`): the whole state is encrypted, with a fresh
//! 96-bit IV per write and additional data binding the store name and every field of the record
//! but its deadline: `wss3:<name>:<id>:<version>:<createdAt>:<updatedAt>:<ttlMs>:<stateVersion>`
//! ([`Cipher::aad`]). A ciphertext moved to another id or version, or a record whose creation
//! time, TTL or state version was changed in storage, does not decrypt. The rest of the record
//! stays readable, so expiry and sweeping never need the key; `expiresAt` is the one field
//! left unauthenticated, because sliding expiry moves it on reads without resealing, and the
//! engine caps it on every read at `createdAt + maxLifetimeMs` (see
//! [`Expiry`](crate::Expiry)), `createdAt` being authenticated.
//!
//! The store keeps a key-check record under the reserved id [`CHECK_ID`] (never a valid
//! session id, so no scan, sweep or id list sees it): the state `{}` sealed with the store's
//! key. Opening with another key fails on it; every encrypted write reads it in its own
//! transaction and writes only when it is this key's, so a tab still holding a device key that
//! another tab destroyed (`clear`) finds out before it writes with it. The engine's `sealing`
//! module has the check's life: first writes, the previous release's format, takeovers.

use crate::error::push_u64;
use crate::id::SessionId;
use crate::record::SessionRecord;
use std::cell::{Cell, RefCell};

/// The reserved id of the key-check record (`<name>::key` in Web Storage).
pub(crate) const CHECK_ID: &str = ":key";

/// The version of a key-check record a device key wrote (the app's key writes version 1):
/// a device store that cannot open the check replaces it only when a device key wrote it
/// (that key is gone), never the app's.
pub(crate) const DEVICE_CHECK: u64 = 2;

/// How many ids' versions an encrypted store remembers (to seal a `save` for the version it
/// will write before its transaction starts); when full it starts over. About 80 KB at most.
/// (64 was too few: saves of 1,000 sessions just written missed it and paid a second
/// transaction each, 0.55x of a plaintext save against 0.8x.)
const MEMO: usize = 1024;

/// How a store encrypts the states it stores (browser only: WebCrypto).
///
/// Set with [`StoreOptions::encryption`](crate::StoreOptions::encryption) and opened with
/// [`WebStore::open`](crate::WebStore::open).
#[cfg(target_arch = "wasm32")]
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Encryption {
    /// A non-extractable AES-GCM 256-bit key made by the first write and kept in IndexedDB (a
    /// memory store's in memory, for its lifetime): defence in depth, and crypto-shredding on
    /// [`clear`](crate::SessionStore::clear), which destroys it (and other tabs drop it).
    Device,
    /// The app's own AES-GCM 256-bit key, with `encrypt` and `decrypt` usages (e.g. derived with
    /// PBKDF2 from a passphrase that is never stored).
    Key(web_sys::CryptoKey),
}

/// The key holder of `crypto.js` (the key itself stays in JS). Natively there is none, so
/// no [`Cipher`] can be made.
#[cfg(target_arch = "wasm32")]
type Holder = wasm_bindgen::JsValue;
#[cfg(not(target_arch = "wasm32"))]
type Holder = std::convert::Infallible;

/// What `Cipher::call` asks of `crypto.js`.
pub(crate) const SEAL: u32 = 0;
/// Decrypt.
pub(crate) const OPEN: u32 = 1;
/// Read the device key again.
pub(crate) const RELOAD: u32 = 2;
/// Read the device key again, making one when there is none.
pub(crate) const MAKE: u32 = 3;
/// Destroy the device key.
pub(crate) const DESTROY: u32 = 4;

/// What presealing a `save` needs of a session's last known record: the fields of its additional
/// data that the save keeps.
#[derive(Clone, Copy)]
pub(crate) struct Seen {
    pub(crate) version: u64,
    pub(crate) created_at: u64,
    pub(crate) ttl_ms: Option<u64>,
}

/// An encrypted store's key and what it knows about it.
pub(crate) struct Cipher {
    /// The store name, in every additional data.
    name: String,
    /// 0: the app's key; 1: a memory store's device key; 2: a device key in IndexedDB.
    mode: u32,
    holder: Holder,
    /// The key's generation as `crypto.js` last reported it: bumped whenever the key is read
    /// or replaced, so what was sealed before may be sealed with another key.
    generation: Cell<u32>,
    /// The ciphertext of a key-check record sealed with the key.
    check: RefCell<Option<String>>,
    /// What was last read or written of each session, sorted by id.
    memo: RefCell<Vec<(SessionId, Seen)>>,
}

impl Cipher {
    /// The additional data `record`'s state is sealed with (format 3): the store name and
    /// every field but `expiresAt`, a TTL of none as nothing between its colons (see the
    /// module docs).
    pub(crate) fn aad(&self, record: &SessionRecord) -> String {
        let mut aad = self.prefix("wss3:", record);
        for n in [
            Some(record.created_at),
            Some(record.updated_at),
            record.ttl_ms,
            Some(record.state.shape()),
        ] {
            aad.push(':');
            if let Some(n) = n {
                push_u64(&mut aad, n);
            }
        }
        aad
    }

    /// The additional data of the previous release's sealed records (format 2), which bound
    /// only the name, the id and the version: used to open them once, to reseal them.
    pub(crate) fn legacy_aad(&self, record: &SessionRecord) -> String {
        self.prefix("wss1:", record)
    }

    /// `<tag><name>:<id>:<version>`.
    fn prefix(&self, tag: &str, record: &SessionRecord) -> String {
        let mut aad = String::from(tag);
        aad.push_str(&self.name);
        aad.push(':');
        aad.push_str(record.id.as_str());
        aad.push(':');
        push_u64(&mut aad, record.version);
        aad
    }

    /// The version of the key check this key writes.
    pub(crate) fn check_version(&self) -> u64 {
        if self.mode > 0 {
            DEVICE_CHECK
        } else {
            1
        }
    }

    /// Whether this is a device key kept in IndexedDB (which another tab may destroy and
    /// remake): not the app's key, nor a memory store's.
    pub(crate) fn is_device(&self) -> bool {
        self.mode == 2
    }

    pub(crate) fn generation(&self) -> u32 {
        self.generation.get()
    }

    #[cfg(target_arch = "wasm32")]
    /// Takes in what `crypto.js` answered (`<generation>\0<results>`): the results.
    fn answer(&self, out: &str) -> String {
        let (generation, results) = out.split_once('\0').unwrap_or((out, ""));
        let generation = crate::json::uint(generation).unwrap_or(0) as u32;
        if generation != self.generation.get() {
            // Another key: the check known for the last one says nothing of it.
            self.generation.set(generation);
            self.set_check(None);
        }
        results.to_owned()
    }

    /// The check ciphertext known to be sealed with the key.
    pub(crate) fn check(&self) -> Option<String> {
        self.check.borrow().clone()
    }

    pub(crate) fn set_check(&self, check: Option<String>) {
        *self.check.borrow_mut() = check;
    }

    /// What was last seen of `id`.
    pub(crate) fn recall(&self, id: &SessionId) -> Option<Seen> {
        let memo = self.memo.borrow();
        let at = memo.binary_search_by(|(i, _)| i.cmp(id)).ok()?;
        Some(memo[at].1)
    }

    /// Remembers `record` as the last seen of its id.
    pub(crate) fn remember(&self, record: &SessionRecord) {
        let seen = Seen {
            version: record.version,
            created_at: record.created_at,
            ttl_ms: record.ttl_ms,
        };
        let mut memo = self.memo.borrow_mut();
        match memo.binary_search_by(|(i, _)| i.cmp(&record.id)) {
            Ok(at) => memo[at].1 = seen,
            Err(at) => {
                if memo.len() == MEMO {
                    memo.clear();
                    memo.push((record.id.clone(), seen));
                } else {
                    memo.insert(at, (record.id.clone(), seen));
                }
            }
        }
    }
}

#[cfg(target_arch = "wasm32")]
mod web {
    use super::{Cipher, Encryption};
    use crate::browser::unavailable_from;
    use crate::error::StoreError;
    use js_sys::Promise;
    use std::cell::{Cell, RefCell};
    use wasm_bindgen::prelude::wasm_bindgen;
    use wasm_bindgen::JsValue;
    use wasm_bindgen_futures::JsFuture;

    #[wasm_bindgen(module = "/src/crypto.js")]
    extern "C" {
        fn crypto_new(key: &JsValue, mode: u32, entry: &str, tab: &str) -> JsValue;
        fn crypto_call(holder: &JsValue, op: u32, aads: &str, texts: &str) -> Promise;
        fn crypto_forget(holder: &JsValue);
    }

    impl Cipher {
        /// The cipher of store `name` for `encryption`. A device key is kept in the keys
        /// database as `entry` (empty: in memory only), or, with `tab` (a sessionStorage key)
        /// not empty, as `entry` and the tab's name; it is read when first needed.
        ///
        /// # Errors
        /// INVALID_INPUT for a key that is not an AES-GCM 256-bit key able to encrypt and decrypt;
        /// UNAVAILABLE without WebCrypto (not a secure context).
        pub(crate) fn new(
            name: &str,
            encryption: &Encryption,
            entry: &str,
            tab: &str,
        ) -> Result<Cipher, StoreError> {
            let (key, mode) = match encryption {
                Encryption::Key(key) => (JsValue::from(key.clone()), 0),
                Encryption::Device => (JsValue::UNDEFINED, if entry.is_empty() { 1 } else { 2 }),
            };
            let holder = crypto_new(&key, mode, entry, tab);
            match holder.as_f64() {
                Some(1.0) => Err(StoreError::unavailable(
                    "encryption needs WebCrypto (crypto.subtle), which browsers offer only in \
                     secure contexts: https, or http on localhost",
                )),
                Some(_) => Err(StoreError::invalid(
                    "encryption.key must be an AES-GCM 256-bit CryptoKey with the encrypt and \
                     decrypt usages",
                )),
                None => Ok(Cipher {
                    name: name.to_owned(),
                    mode,
                    holder,
                    generation: Cell::new(0),
                    check: RefCell::default(),
                    memo: RefCell::default(),
                }),
            }
        }

        /// Drops the device key held in memory (another context cleared the store and destroyed
        /// it), and the key check known for it: the next use reads the keys database again.
        pub(crate) fn forget(&self) {
            crypto_forget(&self.holder);
            self.set_check(None);
        }

        /// One call to `crypto.js` (`op`: [`SEAL`](super::SEAL), [`OPEN`](super::OPEN),
        /// ...): the results, NUL-joined. Sealing makes the device key when there is none.
        pub(crate) async fn call(
            &self,
            op: u32,
            aads: &str,
            texts: &str,
        ) -> Result<String, StoreError> {
            let out = JsFuture::from(crypto_call(&self.holder, op, aads, texts))
                .await
                .map_err(|e| {
                    unavailable_from(
                        "WebCrypto, or the device key's IndexedDB database, failed",
                        &e,
                    )
                })?;
            Ok(self.answer(&out.as_string().unwrap_or_default()))
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl Cipher {
    // Natively no cipher exists (`Holder` is uninhabited): never called.
    pub(crate) async fn call(&self, _: u32, _: &str, _: &str) -> Result<String, crate::StoreError> {
        match self.holder {}
    }
}

//! A small async layer over IndexedDB: one database per signed-in device, a few object
//! stores of keyed values, and deleting it all at sign-out.
//!
//! The database holds the E2EE crypto store ([`CRYPTO`], sealed), the key that seals it
//! ([`KEYS`]) and the engine's stored state ([`STATE`], sealed with the same key: rooms,
//! timelines and the sync token, so a reload shows the rooms before the network answers).
//! One database for all three, so sign-out deletes them in one step.

use js_sys::{Function, Promise};
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbDatabase, IdbFactory, IdbOpenDbRequest, IdbRequest, IdbTransactionMode};

use super::panic::OrWarn;

/// Bumped when object stores are added; the upgrade creates the missing ones.
const VERSION: u32 = 2;

/// Object stores of the per-device database.
pub const STORES: &[&str] = &[CRYPTO, KEYS, STATE];
/// The sealed crypto state.
pub const CRYPTO: &str = "crypto";
/// WebCrypto keys (non-extractable `CryptoKey` objects, stored as the browser clones them).
pub const KEYS: &str = "keys";
/// The sealed stored engine state (version 2).
pub const STATE: &str = "state";

/// IndexedDB failed or is missing (private windows in some browsers, quota).
#[derive(Debug, Clone)]
pub struct IdbError(pub String);

impl std::fmt::Display for IdbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the browser's storage failed: {}", self.0)
    }
}

impl From<JsValue> for IdbError {
    fn from(value: JsValue) -> Self {
        let message = value
            .dyn_ref::<js_sys::Error>()
            .map(|e| String::from(e.message()))
            .or_else(|| value.as_string())
            .unwrap_or_else(|| format!("{value:?}"));
        Self(message)
    }
}

fn factory() -> Result<IdbFactory, IdbError> {
    web_sys::window()
        .ok_or_else(|| IdbError("no window".into()))?
        .indexed_db()?
        .ok_or_else(|| IdbError("IndexedDB is not available".into()))
}

/// Waits for a request's `success` (resolving to its result) or `error`.
async fn finish(request: &IdbRequest) -> Result<JsValue, IdbError> {
    // The promise's own resolve/reject functions are the handlers: no Rust closure to own.
    let promise = Promise::new(&mut |resolve: Function, reject: Function| {
        request.set_onsuccess(Some(&resolve));
        request.set_onerror(Some(&reject));
    });
    let outcome = JsFuture::from(promise).await;
    request.set_onsuccess(None);
    request.set_onerror(None);
    match outcome {
        Ok(_) => Ok(request.result()?),
        Err(_) => Err(request.error().ok().flatten().map_or_else(
            || IdbError("request failed".into()),
            |e| IdbError(e.message()),
        )),
    }
}

/// The database name for a device: one database per (user, device), so two accounts in one
/// browser never share keys.
pub fn database_name(user_id: &str, device_id: &str) -> String {
    format!("weft:{user_id}:{device_id}")
}

/// An open per-device database.
pub struct Database {
    db: IdbDatabase,
}

impl Database {
    /// Opens (creating or upgrading) the database `name`.
    pub async fn open(name: &str) -> Result<Self, IdbError> {
        let request: IdbOpenDbRequest = factory()?.open_with_u32(name, VERSION)?;
        // Runs inside the version-change transaction; owned here until `open` finishes.
        let on_upgrade = Closure::<dyn FnMut(web_sys::Event)>::new({
            let request = request.clone();
            move |_| {
                let Ok(result) = request.result() else { return };
                let db: IdbDatabase = result.unchecked_into();
                let existing = db.object_store_names();
                for store in STORES {
                    if !existing.contains(store) {
                        db.create_object_store(store).or_warn("create store");
                    }
                }
            }
        });
        request.set_onupgradeneeded(Some(on_upgrade.as_ref().unchecked_ref()));
        let result = finish(&request).await;
        request.set_onupgradeneeded(None);
        drop(on_upgrade);
        Ok(Self {
            db: result?.unchecked_into(),
        })
    }

    /// The value under `key` in `store`, if any.
    pub async fn get(&self, store: &str, key: &str) -> Result<Option<JsValue>, IdbError> {
        let transaction = self.db.transaction_with_str(store)?;
        let request = transaction
            .object_store(store)?
            .get(&JsValue::from_str(key))?;
        let value = finish(&request).await?;
        Ok((!value.is_undefined()).then_some(value))
    }

    /// Stores `value` under `key`, returning once the transaction is committed (durably, as
    /// far as the browser promises), so the caller may then act on it being saved.
    pub async fn put(&self, store: &str, key: &str, value: &JsValue) -> Result<(), IdbError> {
        let transaction = self
            .db
            .transaction_with_str_and_mode(store, IdbTransactionMode::Readwrite)?;
        transaction
            .object_store(store)?
            .put_with_key(value, &JsValue::from_str(key))?;
        let promise = Promise::new(&mut |resolve: Function, reject: Function| {
            transaction.set_oncomplete(Some(&resolve));
            transaction.set_onerror(Some(&reject));
            transaction.set_onabort(Some(&reject));
        });
        let outcome = JsFuture::from(promise).await;
        transaction.set_oncomplete(None);
        transaction.set_onerror(None);
        transaction.set_onabort(None);
        outcome.map(drop).map_err(|_| {
            transaction.error().map_or_else(
                || IdbError("the write was aborted".into()),
                |e| IdbError(e.message()),
            )
        })
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        // Closing lets a pending delete (sign-out in another tab) go ahead.
        self.db.close();
    }
}

/// Deletes the database `name` and everything in it. Waits while another tab still has it
/// open only as long as the browser blocks it; the delete then completes when they close.
pub async fn delete_database(name: &str) -> Result<(), IdbError> {
    let request = factory()?.delete_database(name)?;
    finish(&request).await.map(drop)
}

/// In headless Chromium (`scripts/test`), against the browser's real IndexedDB. Each test
/// uses a database of its own.
#[cfg(test)]
mod tests {
    use wasm_bindgen::JsValue;
    use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

    use super::*;

    wasm_bindgen_test_configure!(run_in_browser);

    /// A database that starts empty, whatever an earlier run left.
    async fn fresh(name: &str) -> Database {
        delete_database(name).await.unwrap();
        Database::open(name).await.unwrap()
    }

    fn text(value: Option<JsValue>) -> Option<String> {
        value.map(|v| v.as_string().expect("a string was stored"))
    }

    #[wasm_bindgen_test]
    fn a_device_has_a_database_of_its_own() {
        assert_eq!(database_name("@a:hs", "DEV"), "weft:@a:hs:DEV");
        assert_ne!(database_name("@a:hs", "DEV"), database_name("@b:hs", "DEV"));
        assert_ne!(
            database_name("@a:hs", "DEV"),
            database_name("@a:hs", "DEV2")
        );
    }

    #[wasm_bindgen_test]
    async fn values_are_kept_by_store_and_key() {
        let db = fresh("weft-test:kept").await;
        assert_eq!(text(db.get(STATE, "state").await.unwrap()), None);
        db.put(STATE, "state", &"one".into()).await.unwrap();
        db.put(CRYPTO, "state", &"other store".into())
            .await
            .unwrap();
        db.put(STATE, "state", &"two".into()).await.unwrap();
        assert_eq!(
            text(db.get(STATE, "state").await.unwrap()).as_deref(),
            Some("two")
        );
        assert_eq!(
            text(db.get(CRYPTO, "state").await.unwrap()).as_deref(),
            Some("other store")
        );
        assert_eq!(text(db.get(KEYS, "state").await.unwrap()), None);
        assert_eq!(text(db.get(STATE, "other key").await.unwrap()), None);
    }

    #[wasm_bindgen_test]
    async fn every_store_exists_and_an_unknown_one_is_an_error() {
        let db = fresh("weft-test:stores").await;
        for store in [CRYPTO, KEYS, STATE] {
            assert_eq!(text(db.get(store, "k").await.unwrap()), None, "{store}");
        }
        let Err(error) = db.get("nonexistent", "k").await else {
            panic!("an unknown store must fail");
        };
        assert!(
            error
                .to_string()
                .starts_with("the browser's storage failed: ")
        );
    }

    #[wasm_bindgen_test]
    async fn what_was_put_is_there_after_reopening() {
        let name = "weft-test:reopen";
        let db = fresh(name).await;
        db.put(KEYS, "k", &JsValue::from_f64(42.0)).await.unwrap();
        drop(db);
        let db = Database::open(name).await.unwrap();
        assert_eq!(
            db.get(KEYS, "k").await.unwrap().and_then(|v| v.as_f64()),
            Some(42.0)
        );
    }

    #[wasm_bindgen_test]
    async fn deleting_the_database_deletes_everything_in_it() {
        let name = "weft-test:delete";
        let db = fresh(name).await;
        db.put(CRYPTO, "state", &"secret".into()).await.unwrap();
        // The open connection closes when dropped, so the delete is not blocked.
        drop(db);
        delete_database(name).await.unwrap();
        let db = Database::open(name).await.unwrap();
        assert_eq!(text(db.get(CRYPTO, "state").await.unwrap()), None);
        // Deleting what does not exist is fine (sign-out of a device that never stored).
        drop(db);
        delete_database(name).await.unwrap();
        delete_database(name).await.unwrap();
    }
}

//! The device's crypto store: the engine's E2EE state, sealed, in the device's IndexedDB.
//!
//! The engine serialises its whole crypto state (vodozemac pickles of the account and the
//! Olm and Megolm sessions, the device cache, the replay table); this module seals it with
//! [`Sealer`] and writes it in one transaction, so a reload never sees half a ratchet step.
//! The engine's stored rooms (`idb::STATE`) are sealed with the same key, in the same
//! database.

use js_sys::Uint8Array;
use wasm_bindgen::JsValue;

use super::{
    idb::{self, CRYPTO, Database, IdbError, STATE},
    locks::{self, LockGuard},
    seal::Sealer,
};

/// The single record holding the sealed state.
const STATE_KEY: &str = "state";
/// The sealing key's name in the key store.
const SEAL_KEY: &str = "crypto";

/// An open crypto store, owned by this tab for as long as it lives.
pub struct CryptoStore {
    db: Database,
    sealer: Sealer,
    _lock: LockGuard,
}

/// The lock that makes one tab the owner of a device's store.
fn lock_name(user_id: &str, device_id: &str) -> String {
    format!("weft-crypto:{user_id}:{device_id}")
}

impl CryptoStore {
    /// Whether another tab owns this device's store right now.
    pub async fn in_use_elsewhere(user_id: &str, device_id: &str) -> bool {
        !locks::is_free(&lock_name(user_id, device_id)).await
    }

    /// Waits until this tab owns the device's store, then opens it.
    pub async fn open(user_id: &str, device_id: &str) -> Result<Self, IdbError> {
        let lock = locks::acquire(&lock_name(user_id, device_id)).await;
        let db = Database::open(&idb::database_name(user_id, device_id)).await?;
        let sealer = Sealer::load_or_create(&db, SEAL_KEY).await?;
        Ok(Self {
            db,
            sealer,
            _lock: lock,
        })
    }

    /// The stored state, if any. A record that cannot be unsealed is an error; the caller
    /// decides whether to start over.
    pub async fn load(&self) -> Result<Option<String>, IdbError> {
        let Some(sealed) = self.db.get(CRYPTO, STATE_KEY).await? else {
            return Ok(None);
        };
        let bytes = self.sealer.unseal(&sealed).await?;
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| IdbError("the stored state is not text".into()))
    }

    /// Seals and commits `state`; returns once the browser has committed the transaction.
    pub async fn save(&self, state: &str) -> Result<(), IdbError> {
        let sealed: Uint8Array = self.sealer.seal(state.as_bytes()).await?;
        self.db.put(CRYPTO, STATE_KEY, &JsValue::from(sealed)).await
    }

    /// The stored engine state (see [`idb::STATE`]), unsealed, if any.
    pub async fn load_state(&self) -> Result<Option<String>, IdbError> {
        let Some(sealed) = self.db.get(STATE, STATE_KEY).await? else {
            return Ok(None);
        };
        let bytes = self.sealer.unseal(&sealed).await?;
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| IdbError("the stored state is not text".into()))
    }

    /// Seals and commits the engine state: room names and the text of unencrypted rooms'
    /// messages are as private as the keys, and sealing costs little next to the write.
    pub async fn save_state(&self, state: &str) -> Result<(), IdbError> {
        let sealed: Uint8Array = self.sealer.seal(state.as_bytes()).await?;
        self.db.put(STATE, STATE_KEY, &JsValue::from(sealed)).await
    }

    /// Deletes a device's whole database (sign-out), closing this store first if open.
    pub async fn delete(
        store: Option<Self>,
        user_id: &str,
        device_id: &str,
    ) -> Result<(), IdbError> {
        drop(store);
        idb::delete_database(&idb::database_name(user_id, device_id)).await
    }
}

/// In headless Chromium (`scripts/test`): the store as a session uses it, on the browser's
/// IndexedDB, WebCrypto and Web Locks.
#[cfg(test)]
mod tests {
    use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

    use super::{CryptoStore, idb, lock_name, locks};

    wasm_bindgen_test_configure!(run_in_browser);

    const USER: &str = "@store-test:hs";

    #[wasm_bindgen_test]
    async fn both_states_are_kept_sealed_across_a_reload() {
        let device = "RELOAD";
        CryptoStore::delete(None, USER, device).await.unwrap();
        let store = CryptoStore::open(USER, device).await.unwrap();
        assert_eq!(store.load().await.unwrap(), None);
        assert_eq!(store.load_state().await.unwrap(), None);
        store.save("{\"account\":1}").await.unwrap();
        store.save_state("{\"rooms\":[]}").await.unwrap();
        store.save("{\"account\":2}").await.unwrap();
        drop(store);

        let store = CryptoStore::open(USER, device).await.unwrap();
        assert_eq!(
            store.load().await.unwrap().as_deref(),
            Some("{\"account\":2}")
        );
        assert_eq!(
            store.load_state().await.unwrap().as_deref(),
            Some("{\"rooms\":[]}")
        );
        // What the database holds is sealed, not the text.
        let db = idb::Database::open(&idb::database_name(USER, device))
            .await
            .unwrap();
        let raw = db.get(idb::CRYPTO, "state").await.unwrap().unwrap();
        assert!(raw.as_string().is_none());
        let bytes = js_sys::Uint8Array::new(&raw).to_vec();
        assert!(!bytes.windows(7).any(|w| w == b"account"));
        drop(db);
        CryptoStore::delete(Some(store), USER, device)
            .await
            .unwrap();
    }

    #[wasm_bindgen_test]
    async fn signing_out_deletes_the_devices_store() {
        let device = "SIGNOUT";
        let store = CryptoStore::open(USER, device).await.unwrap();
        store.save("keys").await.unwrap();
        CryptoStore::delete(Some(store), USER, device)
            .await
            .unwrap();
        let store = CryptoStore::open(USER, device).await.unwrap();
        assert_eq!(store.load().await.unwrap(), None);
        // Another device's store is untouched by it.
        let other = CryptoStore::open(USER, "OTHER").await.unwrap();
        other.save("theirs").await.unwrap();
        CryptoStore::delete(Some(store), USER, device)
            .await
            .unwrap();
        assert_eq!(other.load().await.unwrap().as_deref(), Some("theirs"));
        CryptoStore::delete(Some(other), USER, "OTHER")
            .await
            .unwrap();
    }

    #[wasm_bindgen_test]
    async fn an_open_store_is_owned_until_dropped() {
        let device = "LOCK";
        assert!(!CryptoStore::in_use_elsewhere(USER, device).await);
        let store = CryptoStore::open(USER, device).await.unwrap();
        assert!(CryptoStore::in_use_elsewhere(USER, device).await);
        assert!(!CryptoStore::in_use_elsewhere(USER, "OTHER-LOCK").await);
        drop(store);
        // Released: taking the lock now completes (it would wait forever otherwise).
        drop(locks::acquire(&lock_name(USER, device)).await);
        CryptoStore::delete(None, USER, device).await.unwrap();
    }
}

//! Sealing stored secrets with a key the page itself cannot read.
//!
//! The crypto store (vodozemac pickles: our identity keys, Olm and Megolm sessions) is
//! encrypted with AES-256-GCM under a WebCrypto key generated as non-extractable and kept in
//! IndexedDB as the browser stores `CryptoKey`s. Script injected into the page could still
//! use the key while the page runs, but a copy of the database (a backup of the profile, a
//! disk image) is useless without the browser's own key storage.

use js_sys::{Array, Object, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AesGcmParams, AesKeyGenParams, CryptoKey, SubtleCrypto};

use super::idb::{Database, IdbError, KEYS};

/// AES-GCM's standard nonce length.
const IV_LEN: usize = 12;
/// Binds ciphertexts to their purpose and format version.
const ADDITIONAL_DATA: &[u8] = b"weft crypto store v1";

fn crypto() -> Result<web_sys::Crypto, IdbError> {
    Ok(web_sys::window()
        .ok_or_else(|| IdbError("no window".into()))?
        .crypto()?)
}

fn subtle() -> Result<SubtleCrypto, IdbError> {
    Ok(crypto()?.subtle())
}

/// A non-extractable AES-GCM key for one purpose, stored in a database's key store.
pub struct Sealer {
    key: CryptoKey,
}

impl Sealer {
    /// The key stored under `name`, or a new one stored there.
    pub async fn load_or_create(db: &Database, name: &str) -> Result<Self, IdbError> {
        if let Some(key) = db.get(KEYS, name).await?
            && let Ok(key) = key.dyn_into::<CryptoKey>()
        {
            return Ok(Self { key });
        }
        let params = AesKeyGenParams::new("AES-GCM", 256);
        let usages = Array::of2(&"encrypt".into(), &"decrypt".into());
        let key: CryptoKey =
            JsFuture::from(subtle()?.generate_key_with_object(&params, false, &usages)?)
                .await?
                .unchecked_into();
        db.put(KEYS, name, &key).await?;
        Ok(Self { key })
    }

    fn params(iv: &[u8]) -> Object {
        let params = AesGcmParams::new_with_u8_array("AES-GCM", &Uint8Array::from(iv));
        params.set_additional_data_u8_array(&Uint8Array::from(ADDITIONAL_DATA));
        params.into()
    }

    /// Encrypts `plaintext` as `iv ‖ ciphertext+tag`, ready to store.
    pub async fn seal(&self, plaintext: &[u8]) -> Result<Uint8Array, IdbError> {
        let mut iv = [0u8; IV_LEN];
        crypto()?.get_random_values_with_u8_array(&mut iv)?;
        let ciphertext = JsFuture::from(subtle()?.encrypt_with_object_and_u8_array(
            &Self::params(&iv),
            &self.key,
            plaintext,
        )?)
        .await?;
        let ciphertext = Uint8Array::new(&ciphertext);
        let sealed = Uint8Array::new_with_length((IV_LEN as u32) + ciphertext.length());
        sealed.set(&Uint8Array::from(&iv[..]), 0);
        sealed.set(&ciphertext, IV_LEN as u32);
        Ok(sealed)
    }

    /// Decrypts what [`Self::seal`] produced; a wrong key or tampered bytes are an error.
    pub async fn unseal(&self, sealed: &JsValue) -> Result<Vec<u8>, IdbError> {
        let sealed = sealed
            .dyn_ref::<Uint8Array>()
            .ok_or_else(|| IdbError("the stored value is not sealed bytes".into()))?;
        if sealed.length() < IV_LEN as u32 {
            return Err(IdbError("the stored value is truncated".into()));
        }
        let iv = sealed.subarray(0, IV_LEN as u32).to_vec();
        let ciphertext = sealed.subarray(IV_LEN as u32, sealed.length()).to_vec();
        let plaintext = JsFuture::from(subtle()?.decrypt_with_object_and_u8_array(
            &Self::params(&iv),
            &self.key,
            &ciphertext,
        )?)
        .await
        .map_err(|_| IdbError("the stored value could not be decrypted".into()))?;
        Ok(Uint8Array::new(&plaintext).to_vec())
    }
}

/// In headless Chromium (`scripts/test`), with the browser's WebCrypto and IndexedDB.
#[cfg(test)]
mod tests {
    use js_sys::Uint8Array;
    use wasm_bindgen::JsValue;
    use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

    use super::{super::idb, IV_LEN, Sealer};

    wasm_bindgen_test_configure!(run_in_browser);

    async fn fresh(name: &str) -> idb::Database {
        idb::delete_database(name).await.unwrap();
        idb::Database::open(name).await.unwrap()
    }

    #[wasm_bindgen_test]
    async fn sealed_bytes_unseal_to_the_plaintext_and_hide_it() {
        let db = fresh("weft-test:seal").await;
        let sealer = Sealer::load_or_create(&db, "k").await.unwrap();
        let sealed = sealer.seal(b"olm pickle").await.unwrap();
        // IV, then the ciphertext and its 16-byte tag.
        assert_eq!(sealed.length() as usize, IV_LEN + b"olm pickle".len() + 16);
        assert!(!sealed.to_vec().windows(10).any(|w| w == b"olm pickle"));
        assert_eq!(sealer.unseal(&sealed.into()).await.unwrap(), b"olm pickle");
        // A fresh IV each time: the same plaintext never seals the same.
        let (a, b) = (
            sealer.seal(b"same").await.unwrap().to_vec(),
            sealer.seal(b"same").await.unwrap().to_vec(),
        );
        assert_ne!(a[..IV_LEN], b[..IV_LEN]);
        assert_eq!(
            sealer
                .unseal(&sealer.seal(b"").await.unwrap().into())
                .await
                .unwrap(),
            b""
        );
    }

    #[wasm_bindgen_test]
    async fn the_key_is_kept_in_the_database_and_used_again() {
        let name = "weft-test:seal-key";
        let db = fresh(name).await;
        let sealed = Sealer::load_or_create(&db, "k")
            .await
            .unwrap()
            .seal(b"x")
            .await
            .unwrap();
        drop(db);
        let db = idb::Database::open(name).await.unwrap();
        let again = Sealer::load_or_create(&db, "k").await.unwrap();
        assert_eq!(again.unseal(&sealed.clone().into()).await.unwrap(), b"x");
        // Another name is another key, which cannot open it.
        let other = Sealer::load_or_create(&db, "other").await.unwrap();
        assert!(other.unseal(&sealed.into()).await.is_err());
    }

    #[wasm_bindgen_test]
    async fn tampered_truncated_or_foreign_values_do_not_unseal() {
        let db = fresh("weft-test:seal-bad").await;
        let sealer = Sealer::load_or_create(&db, "k").await.unwrap();
        let sealed = sealer.seal(b"secret").await.unwrap().to_vec();
        for at in [0, IV_LEN, sealed.len() - 1] {
            let mut tampered = sealed.clone();
            tampered[at] ^= 1;
            let tampered = JsValue::from(Uint8Array::from(&tampered[..]));
            assert!(sealer.unseal(&tampered).await.is_err(), "byte {at} changed");
        }
        let short = JsValue::from(Uint8Array::from(&sealed[..IV_LEN - 1]));
        assert_eq!(
            sealer.unseal(&short).await.err().map(|e| e.0).as_deref(),
            Some("the stored value is truncated")
        );
        assert_eq!(
            sealer
                .unseal(&"plain text".into())
                .await
                .err()
                .map(|e| e.0)
                .as_deref(),
            Some("the stored value is not sealed bytes")
        );
    }
}

//! Secret storage ("SSSS", `m.secret_storage.v1.aes-hmac-sha2`): secrets such as the
//! cross-signing private keys and the backup key, encrypted with a key only the user holds
//! and kept in the server's global account data.
//!
//! Each secret is encrypted separately: HKDF-SHA256 (salt 32 zero bytes, info = the secret's
//! name) turns the storage key into an AES-256-CTR key and an HMAC-SHA256 key; the MAC
//! covers the ciphertext. The key's description (`m.secret_storage.key.<id>`) carries the
//! encryption of 32 zero bytes under the name "" so a typed key or passphrase can be checked
//! before anything is decrypted with it.

use std::collections::BTreeMap;

use aes::Aes256;
use ctr::cipher::{KeyIvInit, StreamCipher};
use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use vodozemac::{base64_decode, base64_encode};

use super::{
    random::random_bytes,
    recovery::{self, PassphraseError, PassphraseInfo, RecoveryKeyError},
};

/// The only secret-storage algorithm.
pub const ALGORITHM: &str = "m.secret_storage.v1.aes-hmac-sha2";
/// Account data naming the key new secrets are stored under.
pub const DEFAULT_KEY_EVENT_TYPE: &str = "m.secret_storage.default_key";
/// The cross-signing master private key (unpadded base64).
pub const MASTER_KEY_SECRET: &str = "m.cross_signing.master";
/// The self-signing private key.
pub const SELF_SIGNING_KEY_SECRET: &str = "m.cross_signing.self_signing";
/// The user-signing private key.
pub const USER_SIGNING_KEY_SECRET: &str = "m.cross_signing.user_signing";
/// The key-backup decryption key.
pub const BACKUP_KEY_SECRET: &str = "m.megolm_backup.v1";

type Aes256Ctr = ctr::Ctr128BE<Aes256>;
type HmacSha256 = Hmac<Sha256>;

/// Why a secret or a key could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretStorageError {
    /// A field is not base64, or has the wrong length.
    #[error("malformed secret storage data: {0}")]
    Malformed(&'static str),
    /// The MAC does not match: wrong key, or the data was changed.
    #[error("the key does not match (MAC check failed)")]
    BadMac,
    /// The description names another algorithm.
    #[error("unsupported secret storage algorithm {0}")]
    Algorithm(String),
    /// The secret is not stored under this key.
    #[error("the secret is not encrypted with key {0}")]
    NotEncryptedWithKey(String),
    /// The decrypted secret is not UTF-8 (secrets are strings).
    #[error("the decrypted secret is not text")]
    NotText,
    /// The recovery key was mistyped.
    #[error(transparent)]
    RecoveryKey(#[from] RecoveryKeyError),
    /// The passphrase settings cannot be used.
    #[error(transparent)]
    Passphrase(#[from] PassphraseError),
    /// The key description has no passphrase settings.
    #[error("this key was not made from a passphrase")]
    NoPassphrase,
}

/// A 32-byte secret-storage key.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretStorageKey([u8; 32]);

impl std::fmt::Debug for SecretStorageKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretStorageKey(..)")
    }
}

impl SecretStorageKey {
    /// A new random key.
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        random_bytes(&mut key);
        Self(key)
    }

    /// Wraps raw key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses a recovery key as typed by the user.
    pub fn from_recovery_key(text: &str) -> Result<Self, SecretStorageError> {
        Ok(Self(recovery::decode_recovery_key(text)?))
    }

    /// The recovery key to show the user (`EsTx xxxx …`).
    pub fn to_recovery_key(&self) -> String {
        recovery::encode_recovery_key(&self.0)
    }

    /// Derives the key from a passphrase with the settings in `description`.
    pub fn from_passphrase(
        passphrase: &str,
        description: &KeyDescription,
    ) -> Result<Self, SecretStorageError> {
        let info = description
            .passphrase
            .as_ref()
            .ok_or(SecretStorageError::NoPassphrase)?;
        Ok(Self(info.derive_key(passphrase)?))
    }

    /// Encrypts `secret` as the secret called `name`, with a fresh random IV.
    pub fn encrypt(&self, name: &str, secret: &str) -> EncryptedSecretData {
        let mut iv = [0u8; 16];
        random_bytes(&mut iv);
        self.encrypt_with_iv(name, secret.as_bytes(), iv)
    }

    /// Encrypts with a given IV. Bit 63 is cleared here, whatever the caller passed: some
    /// AES-CTR implementations count with 64 bits and others with 128, and a clear bit
    /// keeps the counter from ever carrying into the upper half, so both agree.
    pub fn encrypt_with_iv(
        &self,
        name: &str,
        plaintext: &[u8],
        mut iv: [u8; 16],
    ) -> EncryptedSecretData {
        iv[8] &= 0x7f;
        let keys = DerivedKeys::new(&self.0, name);
        let mut ciphertext = plaintext.to_vec();
        Aes256Ctr::new(&keys.aes.into(), &iv.into()).apply_keystream(&mut ciphertext);
        let mac = keys.mac(&ciphertext);
        EncryptedSecretData {
            iv: base64_encode(iv),
            ciphertext: base64_encode(&ciphertext),
            mac: base64_encode(mac),
        }
    }

    /// Decrypts the secret called `name`, checking its MAC first.
    pub fn decrypt(
        &self,
        name: &str,
        data: &EncryptedSecretData,
    ) -> Result<String, SecretStorageError> {
        let bytes = self.decrypt_bytes(name, data)?;
        String::from_utf8(bytes).map_err(|_| SecretStorageError::NotText)
    }

    fn decrypt_bytes(
        &self,
        name: &str,
        data: &EncryptedSecretData,
    ) -> Result<Vec<u8>, SecretStorageError> {
        let iv: [u8; 16] = decode_fixed(&data.iv, "iv")?;
        let mac: [u8; 32] = decode_fixed(&data.mac, "mac")?;
        let mut ciphertext = base64_decode(&data.ciphertext)
            .map_err(|_| SecretStorageError::Malformed("ciphertext"))?;
        let keys = DerivedKeys::new(&self.0, name);
        let mut check =
            HmacSha256::new_from_slice(&keys.mac).map_err(|_| SecretStorageError::BadMac)?;
        check.update(&ciphertext);
        check
            .verify_slice(&mac)
            .map_err(|_| SecretStorageError::BadMac)?;
        Aes256Ctr::new(&keys.aes.into(), &iv.into()).apply_keystream(&mut ciphertext);
        Ok(ciphertext)
    }

    /// Decrypts the secret called `name` from its account-data content, using the copy
    /// encrypted under `key_id` (this key's ID).
    pub fn decrypt_secret(
        &self,
        key_id: &str,
        name: &str,
        content: &SecretContent,
    ) -> Result<String, SecretStorageError> {
        let data = content
            .encrypted
            .get(key_id)
            .ok_or_else(|| SecretStorageError::NotEncryptedWithKey(key_id.to_owned()))?;
        self.decrypt(name, data)
    }
}

fn decode_fixed<const N: usize>(
    b64: &str,
    what: &'static str,
) -> Result<[u8; N], SecretStorageError> {
    base64_decode(b64)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(SecretStorageError::Malformed(what))
}

/// The per-secret AES and HMAC keys.
struct DerivedKeys {
    aes: [u8; 32],
    mac: [u8; 32],
}

impl DerivedKeys {
    fn new(key: &[u8; 32], name: &str) -> Self {
        let mut okm = [0u8; 64];
        #[allow(clippy::expect_used)]
        Hkdf::<Sha256>::new(Some(&[0u8; 32]), key)
            .expand(name.as_bytes(), &mut okm)
            .expect("64 bytes is a valid HKDF-SHA256 output length");
        let mut aes = [0u8; 32];
        let mut mac = [0u8; 32];
        aes.copy_from_slice(&okm[..32]);
        mac.copy_from_slice(&okm[32..]);
        Self { aes, mac }
    }

    fn mac(&self, ciphertext: &[u8]) -> [u8; 32] {
        #[allow(clippy::expect_used)]
        let mut mac = HmacSha256::new_from_slice(&self.mac).expect("HMAC takes any key length");
        mac.update(ciphertext);
        mac.finalize().into_bytes().into()
    }
}

/// One encrypted secret: `{iv, ciphertext, mac}`, all base64 (we write unpadded, and
/// accept the padded form Element writes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedSecretData {
    /// 16 bytes.
    pub iv: String,
    /// AES-256-CTR of the secret.
    pub ciphertext: String,
    /// HMAC-SHA256 of the ciphertext, 32 bytes.
    pub mac: String,
}

/// The account-data content of a stored secret (type = the secret's name): one encryption
/// per key it is stored under.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretContent {
    /// Key ID → the secret encrypted with that key.
    pub encrypted: BTreeMap<String, EncryptedSecretData>,
}

/// `m.secret_storage.default_key` content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultKeyContent {
    /// The ID of the default key.
    pub key: String,
}

/// `m.secret_storage.key.<key id>` content: describes a key without revealing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyDescription {
    /// [`ALGORITHM`].
    pub algorithm: String,
    /// A name for the user; Element leaves it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Present when the key comes from a passphrase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase: Option<PassphraseInfo>,
    /// IV of the key check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iv: Option<String>,
    /// MAC of the key check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
}

impl KeyDescription {
    /// The description of `key`, with a key check so that clients can tell a wrong
    /// recovery key or passphrase before using it.
    pub fn new(key: &SecretStorageKey, passphrase: Option<PassphraseInfo>) -> Self {
        let mut iv = [0u8; 16];
        random_bytes(&mut iv);
        Self::with_check_iv(key, passphrase, iv)
    }

    /// As [`KeyDescription::new`] with a chosen IV for the key check.
    pub fn with_check_iv(
        key: &SecretStorageKey,
        passphrase: Option<PassphraseInfo>,
        iv: [u8; 16],
    ) -> Self {
        let check = key.encrypt_with_iv("", &[0u8; 32], iv);
        Self {
            algorithm: ALGORITHM.to_owned(),
            name: None,
            passphrase,
            iv: Some(check.iv),
            mac: Some(check.mac),
        }
    }

    /// Checks that `key` is the key this describes.
    ///
    /// A description without `iv`/`mac` cannot be checked; the spec says to assume the key
    /// is right then (old clients wrote no check).
    pub fn check(&self, key: &SecretStorageKey) -> Result<(), SecretStorageError> {
        if self.algorithm != ALGORITHM {
            return Err(SecretStorageError::Algorithm(self.algorithm.clone()));
        }
        let (Some(iv), Some(mac)) = (&self.iv, &self.mac) else {
            return Ok(());
        };
        let iv: [u8; 16] = decode_fixed(iv, "iv")?;
        let _: [u8; 32] = decode_fixed(mac, "mac")?;
        // Decrypting the check verifies its MAC, which is what tells keys apart; the
        // plaintext is zeros for every key and says nothing more.
        let ciphertext = key.encrypt_with_iv("", &[0u8; 32], iv).ciphertext;
        let data = EncryptedSecretData {
            iv: base64_encode(iv),
            ciphertext,
            mac: mac.clone(),
        };
        key.decrypt_bytes("", &data).map(|_| ())
    }
}

/// The account-data event type of a key description.
pub fn key_event_type(key_id: &str) -> String {
    format!("m.secret_storage.key.{key_id}")
}

/// A new random key ID: 32 characters, like Element's.
pub fn new_key_id() -> String {
    let mut bytes = [0u8; 24];
    random_bytes(&mut bytes);
    // Base64 without `+` and `/`, which are awkward in an event type.
    base64_encode(bytes).replace(['+', '/'], "A")
}

#[cfg(test)]
mod tests {
    use super::*;

    // From matrix-rust-sdk's secret-storage tests: a recovery key and the description
    // Element wrote for it (padded base64, as Element writes it).
    const RECOVERY_KEY: &str = "EsTj 3yST y93F SLpB jJsz eAXc 2XzA ygD3 w69H fGaN TKBj jXEd";

    fn description(value: serde_json::Value) -> KeyDescription {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn elements_key_check_accepts_the_right_recovery_key_only() {
        let desc = description(serde_json::json!({
            "algorithm": "m.secret_storage.v1.aes-hmac-sha2",
            "iv": "xv5b6/p3ExEw++wTyfSHEg==",
            "mac": "ujBBbXahnTAMkmPUX2/0+VTfUh63pGyVRuBcDMgmJC8="
        }));
        let key = SecretStorageKey::from_recovery_key(RECOVERY_KEY).unwrap();
        desc.check(&key).unwrap();
        let other = SecretStorageKey::from_bytes([7; 32]);
        assert_eq!(desc.check(&other), Err(SecretStorageError::BadMac));
        // And our own check for that key, with the same IV, is byte-identical to Element's.
        let iv: [u8; 16] = base64_decode("xv5b6/p3ExEw++wTyfSHEg==")
            .unwrap()
            .try_into()
            .unwrap();
        let ours = KeyDescription::with_check_iv(&key, None, iv);
        assert_eq!(
            ours.mac.as_deref(),
            Some("ujBBbXahnTAMkmPUX2/0+VTfUh63pGyVRuBcDMgmJC8")
        );
    }

    #[test]
    fn elements_key_check_accepts_the_right_passphrase_only() {
        let desc = description(serde_json::json!({
            "algorithm": "m.secret_storage.v1.aes-hmac-sha2",
            "iv": "gH2iNpiETFhApvW6/FFEJQ",
            "mac": "9Lw12m5SKDipNghdQXKjgpfdj1/K7HFI2brO+UWAGoM",
            "passphrase": {"algorithm": "m.pbkdf2", "salt": "IuLnH7S85YtZmkkBJKwNUKxWF42g9O1H", "iterations": 10}
        }));
        let key = SecretStorageKey::from_passphrase("It's a secret to everybody", &desc).unwrap();
        desc.check(&key).unwrap();
        let wrong = SecretStorageKey::from_passphrase("It's a secret to nobody", &desc).unwrap();
        assert_eq!(desc.check(&wrong), Err(SecretStorageError::BadMac));
    }

    #[test]
    fn secrets_round_trip_and_are_bound_to_their_name_and_key() {
        let key = SecretStorageKey::generate();
        let data = key.encrypt(MASTER_KEY_SECRET, "bWFzdGVyIGtleQ");
        assert_eq!(
            key.decrypt(MASTER_KEY_SECRET, &data).unwrap(),
            "bWFzdGVyIGtleQ"
        );
        // Another name derives other keys: the MAC fails.
        assert_eq!(
            key.decrypt(SELF_SIGNING_KEY_SECRET, &data),
            Err(SecretStorageError::BadMac)
        );
        assert_eq!(
            SecretStorageKey::generate().decrypt(MASTER_KEY_SECRET, &data),
            Err(SecretStorageError::BadMac)
        );
        // A flipped ciphertext bit fails the MAC.
        let mut bytes = base64_decode(&data.ciphertext).unwrap();
        bytes[0] ^= 1;
        let tampered = EncryptedSecretData {
            ciphertext: base64_encode(&bytes),
            ..data.clone()
        };
        assert_eq!(
            key.decrypt(MASTER_KEY_SECRET, &tampered),
            Err(SecretStorageError::BadMac)
        );
        // Bit 63 of the IV is always clear.
        let iv = base64_decode(&data.iv).unwrap();
        assert_eq!(iv[8] & 0x80, 0);
        let forced = key.encrypt_with_iv("x", b"y", [0xff; 16]);
        assert_eq!(base64_decode(&forced.iv).unwrap()[8], 0x7f);
    }

    #[test]
    fn encryption_matches_a_fixed_vector() {
        // Key = 32 zero bytes, IV = 16 zero bytes, name "m.cross_signing.master": AES-CTR of
        // zeros is the raw keystream, so this pins HKDF (salt, info), the CTR mode and the
        // MAC's input. Computed independently with Python's `cryptography` (OpenSSL):
        //   okm = HKDF-SHA256(ikm=0^32, salt=0^32, info=name, L=64)
        //   ct  = AES-256-CTR(okm[..32], iv=0^16, 0^16); mac = HMAC-SHA256(okm[32..], ct)
        let key = SecretStorageKey::from_bytes([0; 32]);
        let data = key.encrypt_with_iv(MASTER_KEY_SECRET, &[0; 16], [0; 16]);
        assert_eq!(data.ciphertext, FIXED_CIPHERTEXT);
        assert_eq!(data.mac, FIXED_MAC);
    }
    const FIXED_CIPHERTEXT: &str = "ShWRuqtxe7VuForjBf1gjQ";
    const FIXED_MAC: &str = "h2SBR5Iu5QulyQPrA1jGVhmSwNm2hlAqKZezlMbqyZM";

    #[test]
    fn secret_content_is_looked_up_by_key_id() {
        let key = SecretStorageKey::generate();
        let mut content = SecretContent::default();
        content
            .encrypted
            .insert("KEYID".into(), key.encrypt(BACKUP_KEY_SECRET, "s3cr3t"));
        let json = serde_json::to_value(&content).unwrap();
        assert!(json["encrypted"]["KEYID"]["ciphertext"].is_string());
        let content: SecretContent = serde_json::from_value(json).unwrap();
        assert_eq!(
            key.decrypt_secret("KEYID", BACKUP_KEY_SECRET, &content)
                .unwrap(),
            "s3cr3t"
        );
        assert_eq!(
            key.decrypt_secret("OTHER", BACKUP_KEY_SECRET, &content),
            Err(SecretStorageError::NotEncryptedWithKey("OTHER".into()))
        );
    }

    #[test]
    fn descriptions_serialise_like_element_and_check_malformed_fields() {
        let key = SecretStorageKey::generate();
        let desc = KeyDescription::new(&key, None);
        let json = serde_json::to_value(&desc).unwrap();
        assert_eq!(json["algorithm"], ALGORITHM);
        assert!(json.get("passphrase").is_none() && json.get("name").is_none());
        desc.check(&key).unwrap();
        // No check values: any key passes.
        let unchecked = KeyDescription {
            iv: None,
            mac: None,
            ..desc.clone()
        };
        unchecked.check(&SecretStorageKey::generate()).unwrap();
        let short_iv = KeyDescription {
            iv: Some(base64_encode([0u8; 14])),
            ..desc.clone()
        };
        assert_eq!(
            short_iv.check(&key),
            Err(SecretStorageError::Malformed("iv"))
        );
        let short_mac = KeyDescription {
            mac: Some(base64_encode([0u8; 10])),
            ..desc.clone()
        };
        assert_eq!(
            short_mac.check(&key),
            Err(SecretStorageError::Malformed("mac"))
        );
        let other = KeyDescription {
            algorithm: "m.secret_storage.custom".into(),
            ..desc
        };
        assert!(matches!(
            other.check(&key),
            Err(SecretStorageError::Algorithm(_))
        ));
        assert_eq!(new_key_id().len(), 32);
        assert_eq!(key_event_type("abc"), "m.secret_storage.key.abc");
    }

    /// Secret storage as another client (mautrix-python's tests) wrote it: a key made from
    /// a passphrase, its recovery key, and the cross-signing master key stored under it.
    #[test]
    fn reads_another_clients_secret_storage() {
        let key1 = description(serde_json::json!({
            "algorithm": "m.secret_storage.v1.aes-hmac-sha2",
            "passphrase": {"algorithm": "m.pbkdf2", "iterations": 500000,
                           "salt": "y863BOoqOadgDp8S3FtHXikDJEalsQ7d"},
            "iv": "xxkTK0L4UzxgAFkQ6XPwsw",
            "mac": "MEhooO0ZhFJNxUhvRMSxBnJfL20wkLgle3ocY0ee/eA"
        }));
        let key1_id = "gEJqbfSEMnP5JXXcukpXEX1l0aI3MDs0";
        let recovery = "EsTE s92N EtaX s2h6 VQYF 9Kao tHYL mkyL GKMh isZb KJ4E tvoC";
        let key = SecretStorageKey::from_recovery_key(recovery).unwrap();
        key1.check(&key).unwrap();
        // The passphrase gives the same key.
        let from_passphrase =
            SecretStorageKey::from_passphrase("correct horse battery staple", &key1).unwrap();
        assert_eq!(from_passphrase, key);
        assert_eq!(key.to_recovery_key(), recovery);

        let master: SecretContent = serde_json::from_value(serde_json::json!({
            "encrypted": {key1_id: {
                "iv": "BpKP9nQJTE9jrsAssoxPqQ==",
                "ciphertext": "fNRiiiidezjerTgV+G6pUtmeF3izzj5re/mVvY0hO2kM6kYGrxLuIu2ej80=",
                "mac": "/gWGDGMyOLmbJp+aoSLh5JxCs0AdS6nAhjzpe+9G2Q0="
            }}
        }))
        .unwrap();
        let secret = key
            .decrypt_secret(key1_id, MASTER_KEY_SECRET, &master)
            .unwrap();
        // That client stores the private key as padded base64; the bytes are its vector's.
        assert_eq!(secret, "aPl/0ZIu7Pa4K7iQ0k0GUphOeh1wO56Ge3669/65W28=");
        assert_eq!(
            base64_decode(&secret).unwrap()[..4],
            [0x68, 0xF9, 0x7F, 0xD1]
        );
        assert_eq!(
            key.decrypt_secret(key1_id, SELF_SIGNING_KEY_SECRET, &master),
            Err(SecretStorageError::BadMac)
        );

        // Their second key checks out with its recovery key but cannot open the secret.
        let key2 = description(serde_json::json!({
            "algorithm": "m.secret_storage.v1.aes-hmac-sha2",
            "iv": "O0BOvTqiIAYjC+RMcyHfWw==",
            "mac": "7k6OruQlWg0UmQjxGZ0ad4Q6DdwkgnoI7G6X3IjBYtI="
        }));
        let other = SecretStorageKey::from_recovery_key(
            "EsUC xSxt XJgQ dz19 8WBZ rHdE GZo7 ybsn EFmG Y5HY MDAG GNWe",
        )
        .unwrap();
        key2.check(&other).unwrap();
        assert_eq!(key1.check(&other), Err(SecretStorageError::BadMac));
        assert_eq!(
            other.decrypt_secret(key1_id, MASTER_KEY_SECRET, &master),
            Err(SecretStorageError::BadMac)
        );
        let broken_iv = KeyDescription {
            iv: Some("O0BOvTqiIAYjC+RMcyHfWwMeowMeowMeow".into()),
            ..key2.clone()
        };
        assert_eq!(
            broken_iv.check(&other),
            Err(SecretStorageError::Malformed("iv"))
        );
        let broken_mac = KeyDescription {
            mac: Some("7k6OruQlWg0UmQjxGZ0ad4Q6DdwkgnoI7G6X3IjBYtIMeowMeowMeow".into()),
            ..key2
        };
        assert_eq!(
            broken_mac.check(&other),
            Err(SecretStorageError::Malformed("mac"))
        );
    }
}

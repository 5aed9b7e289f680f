//! Server-side key backup, `m.megolm_backup.v1.curve25519-aes-sha2`: room keys encrypted to
//! a backup public key, so any device that later learns the private key (from secret
//! storage or the recovery key) can read the history.
//!
//! The encryption is vodozemac's `pk_encryption`, which reproduces the scheme every client
//! uses, including its historic flaw: the `mac` covers an empty message, so it
//! authenticates nothing. Trust in backed-up keys therefore comes from `auth_data`'s
//! signatures, checked before uploading, never from the MAC.

use std::collections::BTreeMap;

use ruma::UserId;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use vodozemac::pk_encryption::{Message, PkDecryption, PkEncryption};
use vodozemac::{Curve25519PublicKey, Curve25519SecretKey, Ed25519PublicKey, Ed25519Signature};
use vodozemac::{base64_decode, base64_encode};

use super::canonical::{self, SignatureError};

/// The backup algorithm.
pub const ALGORITHM: &str = "m.megolm_backup.v1.curve25519-aes-sha2";
/// The algorithm of the room keys inside.
pub const MEGOLM_ALGORITHM: &str = "m.megolm.v1.aes-sha2";

/// Why backup data could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackupError {
    /// A field is not valid base64 or not a valid key.
    #[error("malformed backup data: {0}")]
    Malformed(&'static str),
    /// The backup uses another algorithm.
    #[error("unsupported backup algorithm {0}")]
    Algorithm(String),
    /// Decryption failed: wrong key, or corrupt data.
    #[error("could not decrypt the backed-up key")]
    Decrypt,
    /// The decrypted data is not a backed-up room key.
    #[error("the backed-up key is not valid JSON of the expected shape")]
    Json,
    /// The private key does not belong to the backup's public key.
    #[error("the key does not match this backup")]
    KeyMismatch,
    /// A signature on `auth_data` is missing or wrong.
    #[error(transparent)]
    Signature(#[from] SignatureError),
}

/// The backup's private key; stored in secret storage as `m.megolm_backup.v1`.
#[derive(Clone)]
pub struct BackupDecryptionKey(Curve25519SecretKey);

impl std::fmt::Debug for BackupDecryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BackupDecryptionKey({})", self.public_key().to_base64())
    }
}

impl BackupDecryptionKey {
    /// A new random key, for a new backup version.
    pub fn generate() -> Self {
        Self(Curve25519SecretKey::new())
    }

    /// From the raw 32 bytes (old backups showed these as a recovery key).
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self(Curve25519SecretKey::from_slice(bytes))
    }

    /// From the secret-storage form: unpadded base64 of the 32 bytes (padded accepted).
    pub fn from_base64(secret: &str) -> Result<Self, BackupError> {
        let bytes: [u8; 32] = base64_decode(secret.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(BackupError::Malformed("backup key"))?;
        Ok(Self::from_bytes(&bytes))
    }

    /// The secret-storage form.
    pub fn to_base64(&self) -> String {
        base64_encode(*self.0.to_bytes())
    }

    /// The public key that goes in `auth_data`.
    pub fn public_key(&self) -> Curve25519PublicKey {
        Curve25519PublicKey::from(&self.0)
    }

    /// Whether this key opens the backup described by `info` (as `GET /room_keys/version`
    /// returns it), which must be checked before trusting a key from secret storage.
    pub fn matches(&self, info: &BackupVersion) -> bool {
        info.algorithm == ALGORITHM && info.auth_data.public_key().ok() == Some(self.public_key())
    }

    /// Decrypts one backed-up session.
    pub fn decrypt(&self, data: &EncryptedSessionData) -> Result<BackedUpSessionData, BackupError> {
        let message = Message::from_base64(&data.ciphertext, &data.mac, &data.ephemeral)
            .map_err(|_| BackupError::Malformed("session_data"))?;
        let plaintext = PkDecryption::from_key(self.0.clone())
            .decrypt(&message)
            .map_err(|_| BackupError::Decrypt)?;
        serde_json::from_slice(&plaintext).map_err(|_| BackupError::Json)
    }
}

/// The backup's public key: anyone holding it can add keys to the backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupEncryptionKey(pub Curve25519PublicKey);

impl BackupEncryptionKey {
    /// Encrypts one session for the backup (a fresh ephemeral key each time).
    pub fn encrypt(&self, session: &BackedUpSessionData) -> EncryptedSessionData {
        // Serialising a struct of strings cannot fail, and the DH cannot be
        // non-contributory: the backup key was parsed as a valid Curve25519 point and the
        // ephemeral key is fresh.
        let json = serde_json::to_vec(session).unwrap_or_default();
        #[allow(clippy::expect_used)]
        let message = PkEncryption::from_key(self.0)
            .encrypt(&json)
            .expect("a fresh ephemeral key yields a contributory shared secret");
        EncryptedSessionData {
            ephemeral: message.ephemeral_key.to_base64(),
            ciphertext: base64_encode(&message.ciphertext),
            mac: base64_encode(&message.mac),
        }
    }
}

/// `auth_data` of a backup version: the public key, and signatures by the user's master
/// key and/or devices that vouch for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthData {
    /// Curve25519, unpadded base64.
    pub public_key: String,
    /// User ID → key ID → signature.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub signatures: BTreeMap<String, BTreeMap<String, String>>,
    /// Fields this client does not know, kept because signatures cover them.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl AuthData {
    /// Unsigned `auth_data` for `key`.
    pub fn new(key: Curve25519PublicKey) -> Self {
        Self {
            public_key: key.to_base64(),
            signatures: BTreeMap::new(),
            other: Map::new(),
        }
    }

    /// The backup public key.
    pub fn public_key(&self) -> Result<Curve25519PublicKey, BackupError> {
        Curve25519PublicKey::from_base64(&self.public_key)
            .map_err(|_| BackupError::Malformed("public_key"))
    }

    /// The key to encrypt sessions to.
    pub fn encryption_key(&self) -> Result<BackupEncryptionKey, BackupError> {
        self.public_key().map(BackupEncryptionKey)
    }

    fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Signs with `key_id` of `user_id` (`ed25519:<device id>` with the device's account,
    /// or `ed25519:<master public key>` with the master key).
    pub fn sign_with(
        &mut self,
        user_id: &UserId,
        key_id: &str,
        sign: impl FnOnce(&[u8]) -> Ed25519Signature,
    ) -> Result<(), BackupError> {
        let mut value = self.to_value();
        canonical::sign_json(&mut value, user_id.as_str(), key_id, sign)?;
        *self = serde_json::from_value(value).map_err(|_| BackupError::Malformed("auth_data"))?;
        Ok(())
    }

    /// Checks the signature by `user_id`'s `key_id` with `key`.
    pub fn verify(
        &self,
        user_id: &UserId,
        key_id: &str,
        key: &Ed25519PublicKey,
    ) -> Result<(), BackupError> {
        canonical::verify_json(&self.to_value(), user_id.as_str(), key_id, key)?;
        Ok(())
    }
}

/// A backup version: the body of `POST /room_keys/version` (`count`, `etag` and `version`
/// are only in responses).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupVersion {
    /// [`ALGORITHM`].
    pub algorithm: String,
    /// The key and its signatures.
    pub auth_data: AuthData,
    /// Number of keys stored (responses only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Changes whenever the stored keys change (responses only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The version (responses only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl BackupVersion {
    /// A new version's body for `auth_data`.
    pub fn new(auth_data: AuthData) -> Self {
        Self {
            algorithm: ALGORITHM.to_owned(),
            auth_data,
            count: None,
            etag: None,
            version: None,
        }
    }
}

/// `session_data` of a backed-up key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedSessionData {
    /// The ephemeral Curve25519 key.
    pub ephemeral: String,
    /// AES-256-CBC of the [`BackedUpSessionData`] JSON.
    pub ciphertext: String,
    /// The (empty-message) MAC, 8 bytes.
    pub mac: String,
}

/// One session in the backup (`KeyBackupData`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyBackupData {
    /// The first message index the key can decrypt.
    pub first_message_index: u32,
    /// How many times the key was forwarded before reaching the uploader.
    pub forwarded_count: u32,
    /// Whether the uploader trusted the device that sent the key.
    pub is_verified: bool,
    /// The encrypted key.
    pub session_data: EncryptedSessionData,
}

impl KeyBackupData {
    /// Whether this copy should replace `other`: a verified copy wins, then the one that
    /// decrypts from an earlier message, then the one forwarded fewer times (the server's
    /// rule, also the client's when merging).
    pub fn is_better_than(&self, other: &KeyBackupData) -> bool {
        (
            !self.is_verified,
            self.first_message_index,
            self.forwarded_count,
        ) < (
            !other.is_verified,
            other.first_message_index,
            other.forwarded_count,
        )
    }
}

/// The plaintext of a backed-up session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackedUpSessionData {
    /// `m.megolm.v1.aes-sha2`.
    pub algorithm: String,
    /// Curve25519 keys of the devices the key passed through.
    #[serde(default)]
    pub forwarding_curve25519_key_chain: Vec<String>,
    /// Curve25519 key of the device that created the session.
    pub sender_key: String,
    /// `{"ed25519": <key the creating device claimed>}`.
    #[serde(default)]
    pub sender_claimed_keys: BTreeMap<String, String>,
    /// The session exported at its first known index (vodozemac `ExportedSessionKey`).
    pub session_key: String,
    /// Whether the key may be shared with users who join later (MSC3061 / v1.19).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_history: Option<bool>,
    /// Fields of newer clients, kept so re-uploading loses nothing.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// The body of `PUT /room_keys/keys?version=v`: room → `{sessions: {session id → data}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeysBackupUpload {
    /// Room ID → the room's sessions.
    pub rooms: BTreeMap<ruma::OwnedRoomId, RoomKeyBackup>,
}

/// The sessions of one room in a backup upload or download.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomKeyBackup {
    /// Session ID → data.
    pub sessions: BTreeMap<String, KeyBackupData>,
}

#[cfg(test)]
mod tests {
    use ruma::{room_id, user_id};
    use serde_json::json;
    use vodozemac::Ed25519SecretKey;

    use super::*;

    // From matrix-rust-sdk's backup tests: a backup key and a session Element backed up.
    const VECTOR_KEY: &str = "Ha9cklU/9NqFo9WKdVfGzmqUL/9wlkdxfEitbSIPVXw";

    fn vector() -> KeyBackupData {
        serde_json::from_value(json!({
            "first_message_index": 0,
            "forwarded_count": 0,
            "is_verified": false,
            "session_data": {
                "ephemeral": "HlLi76oV6wxHz3PCqE/bxJi6yF1HnYz5Dq3T+d/KpRw",
                "ciphertext": concat!(
                    "MuM8E3Yc6TSAvhVGb77rQ++jE6p9dRepx63/3YPD2wACKAppkZHeFrnTH6wJ/HSyrmzo",
                    "7HfwqVl6tKNpfooSTHqUf6x1LHz+h4B/Id5ITO1WYt16AaI40LOnZqTkJZCfSPuE2oxa",
                    "lwEHnCS3biWybutcnrBFPR3LMtaeHvvkb+k3ny9l5ZpsU9G7vCm3XoeYkWfLekWXvDhb",
                    "qWrylXD0+CNUuaQJ/S527TzLd4XKctqVjjO/cCH7q+9utt9WJAfK8LGaWT/mZ3AeWjf5",
                    "kiqOpKKf5Cn4n5SSil5p/pvGYmjnURvZSEeQIzHgvunIBEPtzK/MYEPOXe/P5achNGlC",
                    "x+5N19Ftyp9TFaTFlTWCTi0mpD7ePfCNISrwpozAz9HZc0OhA8+1aSc7rhYFIeAYXFU3",
                    "26NuFIFHI5pvpSxjzPQlOA+mavIKmiRAtjlLw11IVKTxgrdT4N8lXeMr4ndCSmvIkAzF",
                    "Mo1uZA4fzjiAdQJE4/2WeXFNNpvdfoYmX8Zl9CAYjpSO5HvpwkAbk4/iLEH3hDfCVUwD",
                    "fMh05PdGLnxeRpiEFWSMSsJNp+OWAA+5JsF41BoRGrxoXXT+VKqlUDONd+O296Psu8Q+",
                    "d8/S618"
                ),
                "mac": "GtMrurhDTwo"
            }
        }))
        .unwrap()
    }

    #[test]
    fn decrypts_a_session_element_backed_up() {
        let key = BackupDecryptionKey::from_base64(VECTOR_KEY).unwrap();
        let session = key.decrypt(&vector().session_data).unwrap();
        assert_eq!(session.algorithm, MEGOLM_ALGORITHM);
        // A Megolm session export: version byte 1 then the ratchet, in base64.
        let exported = base64_decode(&session.session_key).unwrap();
        assert_eq!(exported[0], 1);
        vodozemac::megolm::ExportedSessionKey::from_base64(&session.session_key).unwrap();
        Curve25519PublicKey::from_base64(&session.sender_key).unwrap();

        // Another key cannot decrypt it (the padding check fails, since the MAC cannot).
        let other = BackupDecryptionKey::generate();
        assert!(other.decrypt(&vector().session_data).is_err());
    }

    #[test]
    fn the_public_key_is_x25519_of_the_private_key() {
        // RFC 7748 §6.1: Alice's private key and public key.
        let private: [u8; 32] = [
            0x77, 0x07, 0x6d, 0x0a, 0x73, 0x18, 0xa5, 0x7d, 0x3c, 0x16, 0xc1, 0x72, 0x51, 0xb2,
            0x66, 0x45, 0xdf, 0x4c, 0x2f, 0x87, 0xeb, 0xc0, 0x99, 0x2a, 0xb1, 0x77, 0xfb, 0xa5,
            0x1d, 0xb9, 0x2c, 0x2a,
        ];
        let public: [u8; 32] = [
            0x85, 0x20, 0xf0, 0x09, 0x89, 0x30, 0xa7, 0x54, 0x74, 0x8b, 0x7d, 0xdc, 0xb4, 0x3e,
            0xf7, 0x5a, 0x0d, 0xbf, 0x3a, 0x0d, 0x26, 0x38, 0x1a, 0xf4, 0xeb, 0xa4, 0xa9, 0x8e,
            0xaa, 0x9b, 0x4e, 0x6a,
        ];
        let key = BackupDecryptionKey::from_bytes(&private);
        assert_eq!(key.public_key().to_bytes(), public);
        assert_eq!(
            AuthData::new(key.public_key()).public_key,
            base64_encode(public)
        );
        // Its secret-storage form round-trips.
        let restored = BackupDecryptionKey::from_base64(&key.to_base64()).unwrap();
        assert_eq!(restored.public_key(), key.public_key());
        assert!(BackupDecryptionKey::from_base64("c2hvcnQ").is_err());
    }

    #[test]
    fn sessions_round_trip_through_the_backup() {
        let key = BackupDecryptionKey::generate();
        let config = vodozemac::megolm::SessionConfig::version_1();
        let group = vodozemac::megolm::GroupSession::new(config);
        let inbound = vodozemac::megolm::InboundGroupSession::new(&group.session_key(), config);
        let session = BackedUpSessionData {
            algorithm: MEGOLM_ALGORITHM.into(),
            forwarding_curve25519_key_chain: vec![],
            sender_key: Curve25519PublicKey::from(&Curve25519SecretKey::new()).to_base64(),
            sender_claimed_keys: BTreeMap::from([("ed25519".into(), "edkey".into())]),
            session_key: inbound.export_at_first_known_index().to_base64(),
            shared_history: Some(true),
            other: Map::new(),
        };
        let info = BackupVersion::new(AuthData::new(key.public_key()));
        let encrypted = info.auth_data.encryption_key().unwrap().encrypt(&session);
        assert_eq!(base64_decode(&encrypted.mac).unwrap().len(), 8);
        assert_eq!(key.decrypt(&encrypted).unwrap(), session);
        // Each encryption uses a new ephemeral key.
        let again = info.auth_data.encryption_key().unwrap().encrypt(&session);
        assert_ne!(again.ephemeral, encrypted.ephemeral);

        let mut upload = KeysBackupUpload::default();
        upload
            .rooms
            .entry(room_id!("!r:example.org").to_owned())
            .or_default()
            .sessions
            .insert(
                group.session_id(),
                KeyBackupData {
                    first_message_index: 0,
                    forwarded_count: 0,
                    is_verified: true,
                    session_data: encrypted,
                },
            );
        let json = serde_json::to_value(&upload).unwrap();
        assert_eq!(
            json["rooms"]["!r:example.org"]["sessions"][group.session_id()]["is_verified"],
            true
        );
    }

    #[test]
    fn auth_data_is_signed_and_checked() {
        let alice = user_id!("@alice:example.org");
        let key = BackupDecryptionKey::generate();
        let device = Ed25519SecretKey::new();
        let mut auth = AuthData::new(key.public_key());
        auth.sign_with(alice, "ed25519:DEVICE", |b| device.sign(b))
            .unwrap();
        auth.verify(alice, "ed25519:DEVICE", &device.public_key())
            .unwrap();
        let version = BackupVersion::new(auth.clone());
        let json = serde_json::to_value(&version).unwrap();
        assert_eq!(json["algorithm"], ALGORITHM);
        assert!(json.get("version").is_none());
        assert!(key.matches(&version));
        assert!(!BackupDecryptionKey::generate().matches(&version));

        // A substituted public key breaks the signature.
        let mut swapped = auth;
        swapped.public_key = BackupDecryptionKey::generate().public_key().to_base64();
        assert!(matches!(
            swapped.verify(alice, "ed25519:DEVICE", &device.public_key()),
            Err(BackupError::Signature(SignatureError::Invalid))
        ));
        // The server's response shape parses.
        let response: BackupVersion = serde_json::from_value(json!({
            "algorithm": ALGORITHM, "auth_data": {"public_key": "abc", "signatures": {}},
            "count": 3, "etag": "e", "version": "1"
        }))
        .unwrap();
        assert_eq!(response.version.as_deref(), Some("1"));
        assert!(response.auth_data.public_key().is_err());
    }

    #[test]
    fn the_better_copy_wins() {
        let base = vector();
        let better = |f: fn(&mut KeyBackupData)| {
            let mut copy = base.clone();
            f(&mut copy);
            copy
        };
        let verified = better(|d| d.is_verified = true);
        assert!(verified.is_better_than(&base) && !base.is_better_than(&verified));
        let later = better(|d| d.first_message_index = 5);
        assert!(base.is_better_than(&later));
        let verified_later = better(|d| {
            d.is_verified = true;
            d.first_message_index = 5;
        });
        assert!(verified_later.is_better_than(&base));
        let forwarded = better(|d| d.forwarded_count = 2);
        assert!(base.is_better_than(&forwarded));
        assert!(!base.is_better_than(&base.clone()));
    }
}

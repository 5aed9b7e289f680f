//! Cross-signing: the user's master key (MSK) vouches for a self-signing key (SSK), which
//! signs the user's own devices, and a user-signing key (USK), which signs other users'
//! master keys. Element only trusts devices reachable this way (e2ee.md §8).
//!
//! This module makes and holds the private keys, builds the signed key objects for
//! `/keys/device_signing/upload` and the signatures for `/keys/signatures/upload`, and
//! checks the chains `device ← SSK ← MSK` and `their MSK ← our USK`. Device keys and key
//! objects from the server are signed JSON from other clients, so they are handled as
//! [`Value`] where a signature is made or checked.

use std::collections::BTreeMap;

use ruma::{OwnedUserId, UserId};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use vodozemac::{Ed25519PublicKey, Ed25519SecretKey, Ed25519Signature, base64_decode};

use super::canonical::{self, SignatureError};

/// What a cross-signing key is for (`usage` in the key object).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyUsage {
    /// The identity of the user.
    Master,
    /// Signs the user's own devices.
    SelfSigning,
    /// Signs other users' master keys.
    UserSigning,
}

impl KeyUsage {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Master => "master",
            Self::SelfSigning => "self_signing",
            Self::UserSigning => "user_signing",
        }
    }

    /// The secret-storage / secret-sharing name of the private key.
    pub fn secret_name(self) -> &'static str {
        match self {
            Self::Master => super::secret_storage::MASTER_KEY_SECRET,
            Self::SelfSigning => super::secret_storage::SELF_SIGNING_KEY_SECRET,
            Self::UserSigning => super::secret_storage::USER_SIGNING_KEY_SECRET,
        }
    }
}

/// Why a cross-signing key, signature or chain was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrossSigningError {
    /// The key object is not as the spec describes (key count, ID format, usage).
    #[error("malformed cross-signing key: {0}")]
    Malformed(&'static str),
    /// The objects belong to different users.
    #[error("the keys belong to different users")]
    UserMismatch,
    /// A private key is not 32 bytes of base64.
    #[error("malformed private key")]
    BadPrivateKey,
    /// A private key does not belong to the published public key.
    #[error("the private key does not match the published public key")]
    KeyMismatch,
    /// A needed private key is not held on this device.
    #[error("the {0} private key is not available")]
    MissingPrivateKey(&'static str),
    /// A signature is missing or wrong.
    #[error(transparent)]
    Signature(#[from] SignatureError),
}

/// A cross-signing key object as uploaded and as returned by `/keys/query`
/// (`master_keys`, `self_signing_keys`, `user_signing_keys`).
///
/// Fields this client does not know are kept in `other`, because signatures cover them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossSigningKey {
    /// Whose key this is.
    pub user_id: OwnedUserId,
    /// `master`, `self_signing` or `user_signing` (strings, so unknown values survive).
    pub usage: Vec<String>,
    /// Exactly one entry, `ed25519:<public key>` → `<public key>`.
    pub keys: BTreeMap<String, String>,
    /// User ID → key ID → signature.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub signatures: BTreeMap<String, BTreeMap<String, String>>,
    /// Anything else, preserved for signing.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl CrossSigningKey {
    /// An unsigned key object for `public` with `usage`.
    pub fn new(user_id: &UserId, usage: KeyUsage, public: Ed25519PublicKey) -> Self {
        let b64 = public.to_base64();
        Self {
            user_id: user_id.to_owned(),
            usage: vec![usage.as_str().to_owned()],
            keys: BTreeMap::from([(format!("ed25519:{b64}"), b64)]),
            signatures: BTreeMap::new(),
            other: Map::new(),
        }
    }

    /// The single public key, checked: one entry whose ID is `ed25519:` + its value.
    pub fn public_key(&self) -> Result<Ed25519PublicKey, CrossSigningError> {
        let mut keys = self.keys.iter();
        let (Some((id, value)), None) = (keys.next(), keys.next()) else {
            return Err(CrossSigningError::Malformed(
                "a cross-signing key has exactly one key",
            ));
        };
        if id.strip_prefix("ed25519:") != Some(value.as_str()) {
            return Err(CrossSigningError::Malformed(
                "key ID must be ed25519:<public key>",
            ));
        }
        Ed25519PublicKey::from_base64(value)
            .map_err(|_| CrossSigningError::Malformed("not an ed25519 public key"))
    }

    /// The key ID, `ed25519:<public key>` (what signatures made with it are filed under).
    pub fn key_id(&self) -> Result<String, CrossSigningError> {
        Ok(format!("ed25519:{}", self.public_key()?.to_base64()))
    }

    /// Whether `usage` lists `which`.
    pub fn has_usage(&self, which: KeyUsage) -> bool {
        self.usage.iter().any(|u| u == which.as_str())
    }

    /// The object as signed JSON.
    pub fn to_value(&self) -> Value {
        // A struct of strings and maps always serialises.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Reads a key object from signed JSON.
    pub fn from_value(value: Value) -> Result<Self, CrossSigningError> {
        serde_json::from_value(value).map_err(|_| CrossSigningError::Malformed("not a key object"))
    }

    /// Adds a signature by `signer_user` with `key_id`, made by `sign` over the canonical
    /// JSON of this object.
    pub fn sign_with(
        &mut self,
        signer_user: &UserId,
        key_id: &str,
        sign: impl FnOnce(&[u8]) -> Ed25519Signature,
    ) -> Result<(), CrossSigningError> {
        let mut value = self.to_value();
        canonical::sign_json(&mut value, signer_user.as_str(), key_id, sign)?;
        *self = Self::from_value(value)?;
        Ok(())
    }

    /// Checks the signature by `signer_user`'s key `signer` on this object.
    pub fn verify_signed_by(
        &self,
        signer_user: &UserId,
        signer: &CrossSigningKey,
    ) -> Result<(), CrossSigningError> {
        let key = signer.public_key()?;
        canonical::verify_json(
            &self.to_value(),
            signer_user.as_str(),
            &signer.key_id()?,
            &key,
        )?;
        Ok(())
    }

    fn expect(&self, usage: KeyUsage) -> Result<(), CrossSigningError> {
        if self.has_usage(usage) {
            Ok(())
        } else {
            Err(CrossSigningError::Malformed("wrong usage"))
        }
    }
}

/// One cross-signing private key.
pub struct SigningKey(Ed25519SecretKey);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.public_key().to_base64())
    }
}

impl Clone for SigningKey {
    fn clone(&self) -> Self {
        Self(Ed25519SecretKey::from_slice(&self.0.to_bytes()))
    }
}

impl SigningKey {
    /// A new random key.
    pub fn generate() -> Self {
        Self(Ed25519SecretKey::new())
    }

    /// The public key.
    pub fn public_key(&self) -> Ed25519PublicKey {
        self.0.public_key()
    }

    /// `ed25519:<public key>`.
    pub fn key_id(&self) -> String {
        format!("ed25519:{}", self.public_key().to_base64())
    }

    /// Signs raw bytes.
    pub fn sign(&self, message: &[u8]) -> Ed25519Signature {
        self.0.sign(message)
    }

    /// The private key as unpadded base64 of the 32-byte seed: the form stored in secret
    /// storage and sent in `m.secret.send`.
    pub fn to_base64(&self) -> String {
        self.0.to_base64()
    }

    /// Reads a private key in that form (padded base64 accepted).
    pub fn from_base64(secret: &str) -> Result<Self, CrossSigningError> {
        let bytes: [u8; 32] = base64_decode(secret.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(CrossSigningError::BadPrivateKey)?;
        Ok(Self(Ed25519SecretKey::from_slice(&bytes)))
    }

    /// Reads a private key and checks it belongs to the published key object, as must be
    /// done for keys from secret storage or another device.
    pub fn from_base64_for(
        secret: &str,
        published: &CrossSigningKey,
    ) -> Result<Self, CrossSigningError> {
        let key = Self::from_base64(secret)?;
        if key.public_key() != published.public_key()? {
            return Err(CrossSigningError::KeyMismatch);
        }
        Ok(key)
    }
}

impl Serialize for SigningKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for SigningKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::from_base64(&s).map_err(serde::de::Error::custom)
    }
}

/// The cross-signing private keys this device holds. A device that bootstrapped holds all
/// three; one that got them from secret storage or another device may hold only some.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CrossSigningKeys {
    /// Master key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master: Option<SigningKey>,
    /// Self-signing key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_signing: Option<SigningKey>,
    /// User-signing key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_signing: Option<SigningKey>,
}

/// The body of `POST /keys/device_signing/upload` (the caller adds `auth` when replacing
/// keys needs user-interactive auth).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceSigningUpload {
    /// Signed by nobody yet (a device may sign it later through `/keys/signatures/upload`).
    pub master_key: CrossSigningKey,
    /// Signed by the master key.
    pub self_signing_key: CrossSigningKey,
    /// Signed by the master key.
    pub user_signing_key: CrossSigningKey,
}

impl CrossSigningKeys {
    /// Three new keys, for bootstrapping (or resetting) cross-signing.
    pub fn generate() -> Self {
        Self {
            master: Some(SigningKey::generate()),
            self_signing: Some(SigningKey::generate()),
            user_signing: Some(SigningKey::generate()),
        }
    }

    fn get(&self, usage: KeyUsage) -> Result<&SigningKey, CrossSigningError> {
        match usage {
            KeyUsage::Master => self.master.as_ref(),
            KeyUsage::SelfSigning => self.self_signing.as_ref(),
            KeyUsage::UserSigning => self.user_signing.as_ref(),
        }
        .ok_or(CrossSigningError::MissingPrivateKey(usage.as_str()))
    }

    /// The private key for `usage` as unpadded base64, if held.
    pub fn export(&self, usage: KeyUsage) -> Option<String> {
        self.get(usage).ok().map(SigningKey::to_base64)
    }

    /// Stores a private key received for `usage`, after checking it matches the published
    /// key object.
    pub fn import(
        &mut self,
        usage: KeyUsage,
        secret: &str,
        published: &CrossSigningKey,
    ) -> Result<(), CrossSigningError> {
        published.expect(usage)?;
        let key = SigningKey::from_base64_for(secret, published)?;
        match usage {
            KeyUsage::Master => self.master = Some(key),
            KeyUsage::SelfSigning => self.self_signing = Some(key),
            KeyUsage::UserSigning => self.user_signing = Some(key),
        }
        Ok(())
    }

    /// The public key object for `usage`, signed by the master key unless it is the master
    /// key itself.
    pub fn key_object(
        &self,
        user_id: &UserId,
        usage: KeyUsage,
    ) -> Result<CrossSigningKey, CrossSigningError> {
        let key = self.get(usage)?;
        let mut object = CrossSigningKey::new(user_id, usage, key.public_key());
        if usage != KeyUsage::Master {
            let master = self.get(KeyUsage::Master)?;
            object.sign_with(user_id, &master.key_id(), |b| master.sign(b))?;
        }
        Ok(object)
    }

    /// The `/keys/device_signing/upload` body for all three keys.
    pub fn upload_body(&self, user_id: &UserId) -> Result<DeviceSigningUpload, CrossSigningError> {
        Ok(DeviceSigningUpload {
            master_key: self.key_object(user_id, KeyUsage::Master)?,
            self_signing_key: self.key_object(user_id, KeyUsage::SelfSigning)?,
            user_signing_key: self.key_object(user_id, KeyUsage::UserSigning)?,
        })
    }

    /// Signs one of our devices' `device_keys` object with the self-signing key, keeping
    /// its other signatures (the device's own), for `/keys/signatures/upload`.
    pub fn sign_device(
        &self,
        user_id: &UserId,
        device_keys: &mut Value,
    ) -> Result<(), CrossSigningError> {
        if device_keys.get("user_id").and_then(Value::as_str) != Some(user_id.as_str()) {
            return Err(CrossSigningError::UserMismatch);
        }
        let ssk = self.get(KeyUsage::SelfSigning)?;
        canonical::sign_json(device_keys, user_id.as_str(), &ssk.key_id(), |b| {
            ssk.sign(b)
        })?;
        Ok(())
    }

    /// Signs another user's master key with our user-signing key, after verifying them.
    pub fn sign_user(
        &self,
        our_user_id: &UserId,
        their_master: &mut CrossSigningKey,
    ) -> Result<(), CrossSigningError> {
        their_master.expect(KeyUsage::Master)?;
        their_master.public_key()?;
        let usk = self.get(KeyUsage::UserSigning)?;
        their_master.sign_with(our_user_id, &usk.key_id(), |b| usk.sign(b))
    }
}

/// Signs our master key object with a device key (`Account::sign`), which lets other devices
/// of ours that trust this device trust the master key.
pub fn sign_master_with_device(
    master: &mut CrossSigningKey,
    user_id: &UserId,
    device_id: &ruma::DeviceId,
    sign: impl FnOnce(&[u8]) -> Ed25519Signature,
) -> Result<(), CrossSigningError> {
    master.expect(KeyUsage::Master)?;
    master.sign_with(user_id, &format!("ed25519:{device_id}"), sign)
}

/// The body of `POST /keys/signatures/upload`: user → key (device ID, or a cross-signing
/// public key) → the signed object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SignaturesUpload(pub BTreeMap<OwnedUserId, BTreeMap<String, Value>>);

impl SignaturesUpload {
    /// Adds a signed `device_keys` object, filed under its user and device ID.
    pub fn add_device(&mut self, device_keys: Value) -> Result<(), CrossSigningError> {
        let user = device_keys
            .get("user_id")
            .and_then(Value::as_str)
            .and_then(|u| UserId::parse(u).ok())
            .ok_or(CrossSigningError::Malformed(
                "device keys without a valid user_id",
            ))?;
        let device = device_keys
            .get("device_id")
            .and_then(Value::as_str)
            .ok_or(CrossSigningError::Malformed(
                "device keys without device_id",
            ))?
            .to_owned();
        self.0.entry(user).or_default().insert(device, device_keys);
        Ok(())
    }

    /// Adds a signed cross-signing key object, filed under its public key.
    pub fn add_key(&mut self, key: &CrossSigningKey) -> Result<(), CrossSigningError> {
        let public = key.public_key()?.to_base64();
        self.0
            .entry(key.user_id.clone())
            .or_default()
            .insert(public, key.to_value());
        Ok(())
    }
}

/// Checks that `ssk` is `msk`'s user's self-signing key, signed by `msk`.
pub fn verify_self_signing_key(
    msk: &CrossSigningKey,
    ssk: &CrossSigningKey,
) -> Result<(), CrossSigningError> {
    verify_subkey(msk, ssk, KeyUsage::SelfSigning)
}

/// Checks that `usk` is `msk`'s user's user-signing key, signed by `msk`.
pub fn verify_user_signing_key(
    msk: &CrossSigningKey,
    usk: &CrossSigningKey,
) -> Result<(), CrossSigningError> {
    verify_subkey(msk, usk, KeyUsage::UserSigning)
}

fn verify_subkey(
    msk: &CrossSigningKey,
    sub: &CrossSigningKey,
    usage: KeyUsage,
) -> Result<(), CrossSigningError> {
    msk.expect(KeyUsage::Master)?;
    sub.expect(usage)?;
    if msk.user_id != sub.user_id {
        return Err(CrossSigningError::UserMismatch);
    }
    sub.verify_signed_by(&msk.user_id, msk)
}

/// Checks that the device in `device_keys` is signed by its owner's self-signing key.
pub fn verify_device_signed(
    device_keys: &Value,
    ssk: &CrossSigningKey,
) -> Result<(), CrossSigningError> {
    ssk.expect(KeyUsage::SelfSigning)?;
    if device_keys.get("user_id").and_then(Value::as_str) != Some(ssk.user_id.as_str()) {
        return Err(CrossSigningError::UserMismatch);
    }
    canonical::verify_json(
        device_keys,
        ssk.user_id.as_str(),
        &ssk.key_id()?,
        &ssk.public_key()?,
    )?;
    Ok(())
}

/// The whole chain for a device: `msk` signs `ssk`, `ssk` signs the device. Whether `msk`
/// itself is trusted (ours, or signed by our USK) is the caller's question.
pub fn verify_device_chain(
    device_keys: &Value,
    ssk: &CrossSigningKey,
    msk: &CrossSigningKey,
) -> Result<(), CrossSigningError> {
    verify_self_signing_key(msk, ssk)?;
    verify_device_signed(device_keys, ssk)
}

/// Checks that another user's master key carries our signature: `our_usk` (ours, checked
/// against `our_msk`) signed `their_msk`.
pub fn verify_user_signed(
    their_msk: &CrossSigningKey,
    our_usk: &CrossSigningKey,
    our_msk: &CrossSigningKey,
) -> Result<(), CrossSigningError> {
    verify_user_signing_key(our_msk, our_usk)?;
    their_msk.expect(KeyUsage::Master)?;
    their_msk.verify_signed_by(&our_usk.user_id, our_usk)
}

#[cfg(test)]
mod tests {
    use ruma::{device_id, user_id};
    use serde_json::json;

    use super::*;

    fn device_keys(user: &UserId, device: &str, key: &Ed25519SecretKey) -> Value {
        let mut value = json!({
            "user_id": user, "device_id": device,
            "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
            "keys": {format!("ed25519:{device}"): key.public_key().to_base64()},
        });
        canonical::sign_json(
            &mut value,
            user.as_str(),
            &format!("ed25519:{device}"),
            |b| key.sign(b),
        )
        .unwrap();
        value
    }

    #[test]
    fn bootstrap_builds_an_upload_the_chain_checks() {
        let alice = user_id!("@alice:example.org");
        let keys = CrossSigningKeys::generate();
        let body = keys.upload_body(alice).unwrap();
        let json = serde_json::to_value(&body).unwrap();
        let msk_pub = keys.master.as_ref().unwrap().public_key().to_base64();
        assert_eq!(json["master_key"]["usage"], json!(["master"]));
        assert_eq!(
            json["master_key"]["keys"][format!("ed25519:{msk_pub}")],
            msk_pub
        );
        assert!(json["master_key"].get("signatures").is_none());
        assert_eq!(json["self_signing_key"]["usage"], json!(["self_signing"]));
        assert_eq!(json["user_signing_key"]["user_id"], "@alice:example.org");
        assert!(
            json["user_signing_key"]["signatures"]["@alice:example.org"]
                [format!("ed25519:{msk_pub}")]
            .is_string()
        );
        verify_self_signing_key(&body.master_key, &body.self_signing_key).unwrap();
        verify_user_signing_key(&body.master_key, &body.user_signing_key).unwrap();
        // The SSK is not a user-signing key, and another master did not sign it.
        assert!(verify_user_signing_key(&body.master_key, &body.self_signing_key).is_err());
        let other = CrossSigningKeys::generate().upload_body(alice).unwrap();
        assert!(matches!(
            verify_self_signing_key(&other.master_key, &body.self_signing_key),
            Err(CrossSigningError::Signature(SignatureError::Missing { .. }))
        ));

        // Our device, self-signed, then signed by the SSK, checks against the chain.
        let device_key = Ed25519SecretKey::new();
        let mut device = device_keys(alice, "DEVICE", &device_key);
        assert!(verify_device_chain(&device, &body.self_signing_key, &body.master_key).is_err());
        keys.sign_device(alice, &mut device).unwrap();
        verify_device_chain(&device, &body.self_signing_key, &body.master_key).unwrap();
        // The device's own signature is kept.
        canonical::verify_json(
            &device,
            alice.as_str(),
            "ed25519:DEVICE",
            &device_key.public_key(),
        )
        .unwrap();
        // A changed device fails.
        let mut changed = device.clone();
        changed["algorithms"] = json!([]);
        assert!(matches!(
            verify_device_chain(&changed, &body.self_signing_key, &body.master_key),
            Err(CrossSigningError::Signature(SignatureError::Invalid))
        ));
        // Someone else's device cannot be signed with our SSK.
        let mut bobs = device_keys(user_id!("@bob:example.org"), "BOB", &device_key);
        assert_eq!(
            keys.sign_device(alice, &mut bobs),
            Err(CrossSigningError::UserMismatch)
        );

        let mut upload = SignaturesUpload::default();
        upload.add_device(device).unwrap();
        let json = serde_json::to_value(&upload).unwrap();
        assert!(
            json["@alice:example.org"]["DEVICE"]["signatures"]["@alice:example.org"]
                [keys.self_signing.as_ref().unwrap().key_id()]
            .is_string()
        );
    }

    #[test]
    fn signing_another_users_master_key_with_our_usk() {
        let alice = user_id!("@alice:example.org");
        let bob = user_id!("@bob:example.org");
        let ours = CrossSigningKeys::generate();
        let our_body = ours.upload_body(alice).unwrap();
        let theirs = CrossSigningKeys::generate().upload_body(bob).unwrap();
        let mut bob_msk = theirs.master_key.clone();
        assert!(
            verify_user_signed(&bob_msk, &our_body.user_signing_key, &our_body.master_key).is_err()
        );
        ours.sign_user(alice, &mut bob_msk).unwrap();
        verify_user_signed(&bob_msk, &our_body.user_signing_key, &our_body.master_key).unwrap();
        // Filed under Bob's MSK public key in the upload.
        let mut upload = SignaturesUpload::default();
        upload.add_key(&bob_msk).unwrap();
        let bob_pub = bob_msk.public_key().unwrap().to_base64();
        assert_eq!(upload.0[bob][&bob_pub]["usage"], json!(["master"]));
        // Bob's own self-signing key is not a master key and cannot be user-signed.
        let mut ssk = theirs.self_signing_key.clone();
        assert!(ours.sign_user(alice, &mut ssk).is_err());
        // A USK from another identity than our MSK is refused.
        let stray = CrossSigningKeys::generate().upload_body(alice).unwrap();
        assert!(
            verify_user_signed(&bob_msk, &stray.user_signing_key, &our_body.master_key).is_err()
        );
    }

    #[test]
    fn master_key_signed_by_a_device() {
        let alice = user_id!("@alice:example.org");
        let keys = CrossSigningKeys::generate();
        let mut msk = keys.key_object(alice, KeyUsage::Master).unwrap();
        let device = Ed25519SecretKey::new();
        sign_master_with_device(&mut msk, alice, device_id!("DEV"), |b| device.sign(b)).unwrap();
        canonical::verify_json(
            &msk.to_value(),
            alice.as_str(),
            "ed25519:DEV",
            &device.public_key(),
        )
        .unwrap();
    }

    #[test]
    fn private_keys_export_and_import_as_unpadded_base64() {
        let alice = user_id!("@alice:example.org");
        let keys = CrossSigningKeys::generate();
        let body = keys.upload_body(alice).unwrap();
        let exported = keys.export(KeyUsage::SelfSigning).unwrap();
        assert_eq!(exported.len(), 43);
        assert!(!exported.ends_with('='));

        let mut restored = CrossSigningKeys::default();
        assert_eq!(
            restored.sign_device(alice, &mut json!({"user_id": "@alice:example.org"})),
            Err(CrossSigningError::MissingPrivateKey("self_signing"))
        );
        restored
            .import(
                KeyUsage::SelfSigning,
                &format!("{exported}="),
                &body.self_signing_key,
            )
            .unwrap();
        assert_eq!(
            restored.self_signing.as_ref().unwrap().public_key(),
            keys.self_signing.as_ref().unwrap().public_key()
        );
        // The wrong secret for the published key, or for the usage, is refused.
        let usk = keys.export(KeyUsage::UserSigning).unwrap();
        assert_eq!(
            restored.import(KeyUsage::SelfSigning, &usk, &body.self_signing_key),
            Err(CrossSigningError::KeyMismatch)
        );
        assert!(
            restored
                .import(KeyUsage::UserSigning, &usk, &body.self_signing_key)
                .is_err()
        );
        assert!(matches!(
            SigningKey::from_base64("c2hvcnQ"),
            Err(CrossSigningError::BadPrivateKey)
        ));

        // Persistence keeps what is held, as base64.
        let json = serde_json::to_value(&restored).unwrap();
        assert_eq!(json, json!({"self_signing": exported}));
        let back: CrossSigningKeys = serde_json::from_value(json).unwrap();
        assert!(back.master.is_none());
        assert_eq!(back.export(KeyUsage::SelfSigning), Some(exported));
    }

    #[test]
    fn malformed_key_objects_are_refused() {
        let key = |keys: Value| {
            CrossSigningKey::from_value(
                json!({"user_id": "@a:b", "usage": ["master"], "keys": keys}),
            )
            .unwrap()
        };
        let public = Ed25519SecretKey::new().public_key().to_base64();
        key(json!({format!("ed25519:{public}"): public}))
            .public_key()
            .unwrap();
        assert!(key(json!({})).public_key().is_err());
        assert!(key(json!({"ed25519:other": public})).public_key().is_err());
        assert!(
            key(json!({format!("ed25519:{public}"): public, "ed25519:x": "x"}))
                .public_key()
                .is_err()
        );
        // Unknown fields survive a round trip, so signatures over them stay valid.
        let value = json!({"user_id": "@a:b", "usage": ["master"],
                           "keys": {format!("ed25519:{public}"): public}, "future": {"x": 1}});
        assert_eq!(
            CrossSigningKey::from_value(value.clone())
                .unwrap()
                .to_value(),
            value
        );
    }

    /// `/keys/query` data from matrix-rust-sdk's test sets (made by its crypto crate): our
    /// identity `@me` has user-signed Dan's master key; Dan's device JHPUERYQUW is
    /// cross-signed, FRGNMZVOKA is not.
    #[test]
    fn chains_in_real_keys_query_data() {
        let key = |user: &str, usage: &str, public: &str, signer: &[(&str, &str, &str)]| {
            let mut signatures = Map::new();
            for (u, k, sig) in signer {
                signatures
                    .entry(*u)
                    .or_insert_with(|| json!({}))
                    .as_object_mut()
                    .unwrap()
                    .insert(format!("ed25519:{k}"), json!(sig));
            }
            CrossSigningKey::from_value(json!({
                "user_id": user, "usage": [usage],
                "keys": {format!("ed25519:{public}"): public},
                "signatures": signatures,
            }))
            .unwrap()
        };
        let me_msk_pub = "KOS8zz9SJnMOxpfPOx9LO2+abuEcnZP/lxDo5RsXao4";
        let me_usk_pub = "mvzOc2EuHoVfZTk1hX3y0hyjUs4MrfPv2V/PUFzMQJY";
        let dan_msk_pub = "ZzirLovLjBbJ9KkCl/w1+WevTSQdn0ngS4xl36bAuZo";
        let dan_ssk_pub = "FZSpCr3lGMCfjgRtlLxxHkGJ8dMw5YSYvSYaf7bJ2QA";
        let me_msk = key(
            "@me:localhost",
            "master",
            me_msk_pub,
            &[(
                "@me:localhost",
                me_msk_pub,
                "5G9+Ns28rzNd+2DvP73Y0orr8sxduRQcrJj0YB7ZygH7oeXshvGLeQn6mcNs7q7ZrMR5bYlXxopufKSWWoKpCg",
            )],
        );
        let me_usk = key(
            "@me:localhost",
            "user_signing",
            me_usk_pub,
            &[(
                "@me:localhost",
                me_msk_pub,
                "Cv56vTHAzRkvdcELleOlhECZQP0pXcikCdEZrnXbkjXQ/k0ZvVOJ1beG/SiH8xc6zh1bCIMYv96C9p8o+7VZCQ",
            )],
        );
        let dan_msk = key(
            "@dan:localhost",
            "master",
            dan_msk_pub,
            &[
                (
                    "@dan:localhost",
                    dan_msk_pub,
                    "WiSxmg/RpT8BTHcLvNS7vgKyonsRpX/K6E9EzEfLpNOxXfisPClbpuVtxEb3te/Cx/1UKaio1MJcDxqKFMVmDw",
                ),
                (
                    "@me:localhost",
                    me_usk_pub,
                    "lSa34sDcviLPgk8yECGxwdSt2074sf2R8uSmxpTuK5NBqv9dpu0NwTJkO4PLohQTvleIYZSH+uXc3mPZpFy8DQ",
                ),
            ],
        );
        let dan_ssk = key(
            "@dan:localhost",
            "self_signing",
            dan_ssk_pub,
            &[(
                "@dan:localhost",
                dan_msk_pub,
                "ZKjShHHjXbnkhAUk6P2c03FsUr4wB+3xH7llKV/7QD5wuOapgM7OucABCixivA6xiUVWPGjzZ76y6DFG6YloAA",
            )],
        );
        let device = |id: &str, curve: &str, ed: &str, sigs: Value| {
            json!({
                "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
                "device_id": id,
                "keys": {format!("curve25519:{id}"): curve, format!("ed25519:{id}"): ed},
                "signatures": {"@dan:localhost": sigs},
                "user_id": "@dan:localhost",
            })
        };
        let signed = device(
            "JHPUERYQUW",
            "PBo2nKbink/HxgzMrBftGPogsD0d47LlIMsViTpCRn4",
            "+qMutlCB/eWCbI3bIskWhjYVGrRX8hF+F48sNsmg1YE",
            json!({
                format!("ed25519:{dan_ssk_pub}"): "msmrAwToOpBmSLeWyThuV7vS7fXGB291C3KUrM+2a0L6CS6pqpK12nBZG/dLeDzVSAamyWjB3OuwhTl0kE7UCA",
                "ed25519:JHPUERYQUW": "I9mcfT2BIwbWfga1P85rdbhEDh5qc/3pLgY8jsqlzXbjl4AfHKBZUvcgQ54kKFOf/jK9pTK2Ed35cDQ1QZ44Cw",
            }),
        );
        let unsigned = device(
            "FRGNMZVOKA",
            "Hc/BC/xyQIEnScyZkEk+ilDMfOARxHMFoEcggPqqRw4",
            "xp/IW9Sh8Jw/buUYlARWD20EV2TdUG/SZ+Pa4iEtcew",
            json!({"ed25519:FRGNMZVOKA": "G6f8s4a3rXOnODPdSQTUOjJ0YtxlxwDSTPNkzbAMHEwdmnmUuFhTdEYNP/dzDDGd8kViWpMteaPqvlAKIlvlBg"}),
        );

        verify_user_signing_key(&me_msk, &me_usk).unwrap();
        verify_user_signed(&dan_msk, &me_usk, &me_msk).unwrap();
        verify_device_chain(&signed, &dan_ssk, &dan_msk).unwrap();
        assert!(matches!(
            verify_device_chain(&unsigned, &dan_ssk, &dan_msk),
            Err(CrossSigningError::Signature(SignatureError::Missing { .. }))
        ));
        // Dan's SSK is not Dan's USK, and our identity is not Dan's.
        assert!(verify_user_signing_key(&dan_msk, &dan_ssk).is_err());
        assert_eq!(
            verify_self_signing_key(&me_msk, &dan_ssk),
            Err(CrossSigningError::UserMismatch)
        );
    }
}

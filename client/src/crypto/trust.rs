//! What this device holds and knows about trust, beyond the Olm/Megolm machine: our
//! cross-signing private keys and which master key we trust as ours, the secret-storage and
//! backup account data, the key backup we upload to, and the users we verified. Stored with
//! the machine (engine `crypto_changes`); the engine's `trust` module drives it.
//!
//! Private keys never show in `Debug` (the types holding them print public keys only).

use std::collections::BTreeMap;

use ruma::{OwnedUserId, UserId};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::{backup::BackupDecryptionKey, cross_signing::CrossSigningKeys};

/// Account-data event types the trust layer keeps (secret storage, the secrets in it, the
/// backup preference).
pub fn is_trust_account_data(event_type: &str) -> bool {
    event_type.starts_with("m.secret_storage.")
        || event_type.starts_with("m.cross_signing.")
        || event_type == "m.megolm_backup.v1"
        || event_type == "m.key_backup"
}

/// Where setting up this device's cross-signing stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    /// Nothing to do (or waiting for our own keys from the server).
    #[default]
    Idle,
    /// Our new keys must go up (`/keys/device_signing/upload`).
    UploadKeys,
    /// The server wants the account password before taking our keys.
    NeedsPassword,
    /// Our device must be signed with the self-signing key we hold.
    SignDevice,
}

/// The backup we upload room keys to.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BackupSlot {
    /// The backup version on the server.
    pub version: String,
    /// Its private key (we can read it back, and we checked it matches the version).
    #[serde(with = "backup_key")]
    pub key: BackupDecryptionKey,
    /// The server refused an upload to this version (it was replaced or deleted).
    #[serde(default)]
    pub failed: bool,
}

mod backup_key {
    use super::{BackupDecryptionKey, Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(key: &BackupDecryptionKey, s: S) -> Result<S::Ok, S::Error> {
        key.to_base64().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BackupDecryptionKey, D::Error> {
        BackupDecryptionKey::from_base64(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

mod opt_backup_key {
    use super::{BackupDecryptionKey, Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(
        key: &Option<BackupDecryptionKey>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        key.as_ref()
            .map(BackupDecryptionKey::to_base64)
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<BackupDecryptionKey>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| BackupDecryptionKey::from_base64(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// The password of a fresh sign-in, for the one user-interactive auth cross-signing needs.
/// Held in memory only.
#[derive(Clone, Default)]
pub struct Password(pub String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

/// The stored trust state.
#[derive(Default, Serialize, Deserialize)]
pub struct TrustState {
    /// The cross-signing private keys we hold.
    #[serde(default)]
    pub keys: CrossSigningKeys,
    /// The master public key we trust as ours: made here, recovered, or verified with
    /// another of our devices.
    #[serde(default)]
    pub trusted_master: Option<String>,
    /// Bootstrapping or signing this device.
    #[serde(default)]
    pub step: Step,
    /// Secret storage and backup account data, by event type.
    #[serde(default)]
    pub account_data: BTreeMap<String, Value>,
    /// The backup we upload to.
    #[serde(default)]
    pub backup: Option<BackupSlot>,
    /// The key of a backup version being created (kept so a reload can finish the job).
    #[serde(default, with = "opt_backup_key")]
    pub new_backup_key: Option<BackupDecryptionKey>,
    /// Other users we verified, with the master key we verified.
    #[serde(default)]
    pub verified_users: BTreeMap<OwnedUserId, String>,
    /// The password for user-interactive auth, dropped once used.
    #[serde(skip)]
    pub password: Option<Password>,
    /// The user-interactive auth session the server opened.
    #[serde(skip)]
    pub uia_session: Option<String>,
    /// What went wrong last (shown in the security settings).
    #[serde(skip)]
    pub last_error: Option<String>,
    #[serde(skip)]
    pub dirty: bool,
}

impl std::fmt::Debug for TrustState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustState")
            .field("keys", &self.keys)
            .field("trusted_master", &self.trusted_master)
            .field("step", &self.step)
            .field("backup", &self.backup.as_ref().map(|b| &b.version))
            .finish_non_exhaustive()
    }
}

impl TrustState {
    /// Whether we verified `user` with the master key `master` (unpadded base64).
    pub fn verified_with(&self, user: &UserId, master: &str) -> bool {
        self.verified_users.get(user).is_some_and(|m| m == master)
    }
}

/// How far this device's cross-signing is (see [`SecurityState`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrossSigningStatus {
    /// Waiting for our own keys from the server, or uploading new ones.
    Bootstrapping,
    /// The server needs the account password to take our new keys: call
    /// `Engine::set_sign_in_password`.
    NeedsPassword,
    /// Another device set up cross-signing: verify this one with it, or enter the recovery
    /// key.
    NeedsVerification,
    /// Cross-signing is set up and this device is signed.
    Ready,
}

/// Whether secret storage (recovery) is set up for the account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecoveryStatus {
    /// No default secret-storage key.
    Off,
    /// The account has a recovery key.
    On,
}

/// The key backup, as this device uploads to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackupStatus {
    /// This device does not back up keys (no backup, or we don't have its key).
    Off,
    /// Keys are waiting to go up.
    Uploading,
    /// Every key we hold is backed up.
    UpToDate,
    /// The server refused our uploads: the backup was replaced or deleted elsewhere.
    Failed,
}

/// This device's security, for the settings and the banner asking to verify.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityState {
    /// Cross-signing.
    pub cross_signing: CrossSigningStatus,
    /// Recovery (secret storage).
    pub recovery: RecoveryStatus,
    /// Key backup.
    pub backup: BackupStatus,
    /// This device is signed by our self-signing key under the master key we trust.
    pub this_device_verified: bool,
    /// The last error of a trust request, in words.
    pub last_error: Option<String>,
}

//! The end-to-end encryption relay's keys: device keys, one-time and
//! fallback keys, cross-signing keys and signatures, device-list changes.

use ruma::{DeviceId, OwnedDeviceId, OwnedUserId, UserId};

use super::types::{Result, StreamPos};

/// A one-time or fallback key as uploaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OneTimeKey {
    pub key_id: String,
    pub algorithm: String,
    /// The key object as JSON text.
    pub json: String,
}

/// A key handed out by a claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimedKey {
    pub key_id: String,
    pub json: String,
}

/// How many unclaimed one-time keys a device has of one algorithm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyCount {
    pub algorithm: String,
    pub count: i64,
}

/// A device's identity keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceKeysRow {
    pub device_id: OwnedDeviceId,
    pub json: String,
}

/// One of a user's cross-signing keys (`master`, `self_signing`, `user_signing`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrossSigningKeyRow {
    pub key_type: String,
    pub json: String,
}

/// Signatures one user made on a key of another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureRow {
    pub key_id: String,
    pub signatures: String,
}

pub trait KeyStore: Send + Sync {
    /// Stores a device's identity keys (replacing older ones) and records a
    /// device-list change at `stream`.
    fn set_device_keys(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        keys_json: &str,
        stream: StreamPos,
    ) -> Result<()>;
    fn device_keys(&self, user_id: &UserId) -> Result<Vec<DeviceKeysRow>>;
    /// Adds one-time keys in the given order, after every key the device
    /// uploaded before. An ID already stored is kept when
    /// `same(stored_json, new_json)`; otherwise nothing is written and that ID is returned.
    fn add_one_time_keys(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        keys: &[OneTimeKey],
        same: &dyn Fn(&str, &str) -> bool,
    ) -> Result<Option<String>>;
    /// Replaces the fallback key of each algorithm given; a new key is unused (the
    /// same key uploaded again keeps its mark).
    fn set_fallback_keys(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        keys: &[OneTimeKey],
    ) -> Result<()>;
    /// Unclaimed one-time keys per algorithm.
    fn one_time_key_counts(&self, user_id: &UserId, device_id: &DeviceId) -> Result<Vec<KeyCount>>;
    /// Algorithms with an unused fallback key.
    fn unused_fallback_algorithms(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> Result<Vec<String>>;
    /// Claims (removes) the oldest uploaded one-time key of the algorithm, else
    /// marks the fallback key used and returns it.
    fn claim_key(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        algorithm: &str,
    ) -> Result<Option<ClaimedKey>>;
    /// Users whose device lists changed in `(after, until]`.
    fn device_list_changes(&self, after: StreamPos, until: StreamPos) -> Result<Vec<OwnedUserId>>;
    /// Records a device-list change (e.g. a device was deleted).
    fn record_device_list_change(&self, user_id: &UserId, stream: StreamPos) -> Result<()>;
    /// Stores a cross-signing key and records a device-list change at `stream`.
    fn set_cross_signing_key(
        &self,
        user_id: &UserId,
        key_type: &str,
        json: &str,
        stream: StreamPos,
    ) -> Result<()>;
    fn cross_signing_keys(&self, user_id: &UserId) -> Result<Vec<CrossSigningKeyRow>>;
    /// Stores a signature by `signer` on another user's key, visible only to the signer.
    fn add_foreign_signature(
        &self,
        target_user: &UserId,
        key_id: &str,
        signer: &UserId,
        signature_json: &str,
    ) -> Result<()>;
    /// Signatures `signer` made on `target_user`'s keys.
    fn foreign_signatures(
        &self,
        target_user: &UserId,
        signer: &UserId,
    ) -> Result<Vec<SignatureRow>>;
}

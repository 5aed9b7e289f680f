//! Devices and their access tokens (kept only as SHA-256 hashes).

use ruma::{DeviceId, OwnedDeviceId, OwnedUserId, UserId};

use super::types::Result;

/// One device of a user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRow {
    pub device_id: OwnedDeviceId,
    pub display_name: Option<String>,
    /// When it was first seen, in milliseconds since the Unix epoch.
    pub created_ts: i64,
}

/// Whose device an access token belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenOwner {
    pub user_id: OwnedUserId,
    pub device_id: OwnedDeviceId,
}

pub trait DeviceStore: Send + Sync {
    /// Creates (or replaces) a device with a new access token; the token is
    /// stored only as its SHA-256 hash.
    fn upsert_device(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        display_name: Option<&str>,
        token_hash: &[u8],
    ) -> Result<()>;
    fn device_for_token(&self, token_hash: &[u8]) -> Result<Option<TokenOwner>>;
    /// Deletes the device and everything kept for it (keys, to-device inbox,
    /// transaction IDs).
    fn delete_device(&self, user_id: &UserId, device_id: &DeviceId) -> Result<()>;
    fn delete_all_devices(&self, user_id: &UserId) -> Result<()>;
    /// Every device of the user, oldest first.
    fn devices_of(&self, user_id: &UserId) -> Result<Vec<DeviceRow>>;
    /// Renames a device; `false` if it does not exist.
    fn rename_device(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        display_name: Option<&str>,
    ) -> Result<bool>;
}

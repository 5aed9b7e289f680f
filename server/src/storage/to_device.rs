//! To-device messages waiting in each device's inbox.

use ruma::{DeviceId, OwnedDeviceId, OwnedUserId, UserId};

use super::types::{Result, StreamPos};

/// A to-device message to queue.
#[derive(Clone, Debug)]
pub struct NewToDevice {
    pub user_id: OwnedUserId,
    pub device_id: OwnedDeviceId,
    pub sender: OwnedUserId,
    pub event_type: String,
    pub content: String,
    pub stream: StreamPos,
}

/// A to-device message waiting for its device.
#[derive(Clone, Debug)]
pub struct ToDeviceRow {
    pub stream: StreamPos,
    pub sender: OwnedUserId,
    pub event_type: String,
    pub content: String,
}

pub trait ToDeviceStore: Send + Sync {
    /// Queues a message, only if the device exists and has fewer than `limit`
    /// messages waiting; `Ok(false)` when it was dropped.
    fn queue_to_device(&self, message: &NewToDevice, limit: usize) -> Result<bool>;
    /// Pending messages up to `until`, oldest first, at most `limit`.
    fn to_device_messages(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        until: StreamPos,
        limit: usize,
    ) -> Result<Vec<ToDeviceRow>>;
    /// Deletes messages the device acknowledged (stream ≤ `upto`).
    fn ack_to_device(&self, user_id: &UserId, device_id: &DeviceId, upto: StreamPos) -> Result<()>;
}

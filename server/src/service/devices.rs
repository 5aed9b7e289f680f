//! Signing devices out, password changes and deactivation: the account
//! operations that also reach device lists and rooms, so they span parts.

use std::sync::Arc;

use ruma::{DeviceId, OwnedDeviceId, UserId};

use super::{accounts::Accounts, accounts::Requester, keys::Keys, rooms::Rooms};
use crate::{
    error::Result,
    storage::{AccountStore, DeviceStore, StateStore},
};

/// Device sign-outs and account changes that reach past the accounts part:
/// the account, device and membership areas, and the accounts, keys (device
/// lists) and rooms (leaving on deactivation) parts.
pub struct Devices {
    account_store: Arc<dyn AccountStore>,
    device_store: Arc<dyn DeviceStore>,
    state: Arc<dyn StateStore>,
    accounts: Arc<Accounts>,
    keys: Arc<Keys>,
    rooms: Arc<Rooms>,
}

/// What [`Devices`] is built from.
pub struct DevicesParts {
    pub account_store: Arc<dyn AccountStore>,
    pub device_store: Arc<dyn DeviceStore>,
    pub state: Arc<dyn StateStore>,
    pub accounts: Arc<Accounts>,
    pub keys: Arc<Keys>,
    pub rooms: Arc<Rooms>,
}

impl Devices {
    pub fn new(parts: DevicesParts) -> Self {
        let DevicesParts {
            account_store,
            device_store,
            state,
            accounts,
            keys,
            rooms,
        } = parts;
        Self {
            account_store,
            device_store,
            state,
            accounts,
            keys,
            rooms,
        }
    }

    /// Ends a device's session (its token stops working); the device and its keys go.
    pub fn logout(&self, who: &Requester) -> Result<()> {
        self.delete_devices(&who.user_id, std::slice::from_ref(&who.device_id))
    }

    /// Ends every session of the user; the devices and their keys go.
    pub fn logout_all(&self, user_id: &UserId) -> Result<()> {
        self.device_store.delete_all_devices(user_id)?;
        // Others must stop encrypting for the deleted devices.
        self.keys.device_list_changed(user_id)
    }

    /// Deletes devices (their tokens stop working).
    pub fn delete_devices(&self, user_id: &UserId, devices: &[OwnedDeviceId]) -> Result<()> {
        for device in devices {
            self.device_store.delete_device(user_id, device)?;
        }
        if !devices.is_empty() {
            // Others must stop encrypting for the deleted devices.
            self.keys.device_list_changed(user_id)?;
        }
        Ok(())
    }

    /// Sets a new password; optionally signs out every other device.
    pub async fn change_password(
        &self,
        user_id: &UserId,
        keep_device: Option<&DeviceId>,
        new_password: String,
        logout_devices: bool,
    ) -> Result<()> {
        self.accounts.set_password(user_id, new_password).await?;
        if logout_devices {
            let others: Vec<OwnedDeviceId> = self
                .accounts
                .devices(user_id)?
                .into_iter()
                .map(|row| row.device_id)
                .filter(|id| Some(&**id) != keep_device)
                .collect();
            self.delete_devices(user_id, &others)?;
        }
        Ok(())
    }

    /// Deactivates the account: it leaves every room, loses its devices and
    /// can never log in again. The user ID stays reserved.
    pub async fn deactivate(&self, user_id: &UserId) -> Result<()> {
        for row in self.state.memberships_of(user_id)? {
            if matches!(row.membership.as_str(), "join" | "invite" | "knock")
                && let Err(e) = self.rooms.leave(&row.room_id, user_id).await
            {
                tracing::warn!(room_id = %row.room_id, error = %e, "could not leave on deactivation");
            }
        }
        self.account_store.deactivate_user(user_id)?;
        self.keys.device_list_changed(user_id)
    }
}

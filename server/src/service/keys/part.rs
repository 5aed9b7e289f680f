//! The keys part's state: the storage areas and handles the end-to-end
//! encryption relay needs, and nothing else. Its methods are in `keys.rs`,
//! `signing.rs` and `device_lists.rs`.

use std::sync::Arc;

use ruma::OwnedServerName;

use crate::{
    config::Config,
    service::{accounts::Accounts, notifier::Notifier},
    storage::{EventStore, KeyStore, StateStore, ToDeviceStore},
};

/// Device keys, one-time and fallback keys, cross-signing, device lists and
/// to-device messages.
pub struct Keys {
    pub(super) server_name: OwnedServerName,
    /// Undelivered to-device messages one device may have waiting.
    pub(super) to_device_queue_limit: usize,
    pub(super) keys: Arc<dyn KeyStore>,
    pub(super) to_device: Arc<dyn ToDeviceStore>,
    /// Memberships: who shares a room with whom, for device lists.
    pub(super) state: Arc<dyn StateStore>,
    /// Past memberships (device lists) and `/sendToDevice` transaction IDs.
    pub(super) events: Arc<dyn EventStore>,
    /// The user's devices, and their password for cross-signing uploads.
    pub(super) accounts: Arc<Accounts>,
    pub(super) notifier: Arc<Notifier>,
}

impl Keys {
    pub(in crate::service) fn new(
        config: &Config,
        keys: Arc<dyn KeyStore>,
        to_device: Arc<dyn ToDeviceStore>,
        state: Arc<dyn StateStore>,
        events: Arc<dyn EventStore>,
        accounts: Arc<Accounts>,
        notifier: Arc<Notifier>,
    ) -> Self {
        Self {
            server_name: config.server_name.clone(),
            to_device_queue_limit: config.to_device_queue_limit,
            keys,
            to_device,
            state,
            events,
            accounts,
            notifier,
        }
    }
}

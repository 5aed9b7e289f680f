//! The end-to-end encryption relay: device keys, one-time and fallback
//! keys, key queries and claims, and to-device messages. Cross-signing keys
//! and signatures are in [`signing`], device-list changes in [`device_lists`];
//! all three extend [`Keys`], the part of [`Services`](super::Services) kept in
//! `part.rs` so that none of them imports another that imports it back.
//!
//! The server never sees plaintext; it stores and forwards what clients
//! upload, checking that keys belong to the uploading device and, where a
//! signature is what makes a key trusted (cross-signing), that it verifies.

mod device_lists;
mod part;
mod signing;

use std::collections::{BTreeMap, BTreeSet};

use ruma::{DeviceId, OwnedDeviceId, OwnedUserId, UserId};
use serde_json::{Map, Value, value::RawValue};

pub use self::part::Keys;
use self::signing::{own_signatures_only, signed_part};
pub use self::{device_lists::DeviceListUpdates, signing::SignatureFailures};
use super::room_reader::users_sharing_rooms;
use crate::{
    error::{Error, ErrorKind, Result},
    storage::{ClaimedKey, DeviceKeysRow, NewToDevice, OneTimeKey, StreamPos, ToDeviceRow},
};

/// Claimed keys: user → device → key ID → key.
pub type ClaimedKeys =
    BTreeMap<OwnedUserId, BTreeMap<OwnedDeviceId, BTreeMap<String, Box<RawValue>>>>;

/// Most to-device messages delivered in one sync.
pub const TO_DEVICE_LIMIT: usize = 100;

/// What `/keys/upload` carries, already split into rows.
pub struct KeyUpload<'a> {
    pub device_keys: Option<&'a RawValue>,
    /// `(key_id "alg:id", key_json)`.
    pub one_time_keys: Vec<(String, String)>,
    pub fallback_keys: Vec<(String, String)>,
}

/// What `/keys/query` answers: keys by user, as the requester may see them.
#[derive(Default)]
pub struct KeyQuery {
    pub device_keys: BTreeMap<OwnedUserId, BTreeMap<OwnedDeviceId, Box<RawValue>>>,
    pub master_keys: BTreeMap<OwnedUserId, Box<RawValue>>,
    pub self_signing_keys: BTreeMap<OwnedUserId, Box<RawValue>>,
    /// Only the requester's own.
    pub user_signing_keys: BTreeMap<OwnedUserId, Box<RawValue>>,
}

/// The shape every device-keys object must have (the spec's `DeviceKeys`); the
/// object itself is stored as uploaded, since its signatures cover unknown fields too.
#[derive(serde::Deserialize)]
#[allow(dead_code)] // Fields are read by serde's checks, not by us.
struct DeviceKeysShape {
    user_id: OwnedUserId,
    device_id: OwnedDeviceId,
    algorithms: Vec<String>,
    keys: BTreeMap<String, String>,
    signatures: BTreeMap<OwnedUserId, BTreeMap<String, String>>,
}

fn algorithm_of(key_id: &str) -> Result<String> {
    match key_id.split_once(':') {
        Some((algorithm, id)) if !algorithm.is_empty() && !id.is_empty() => {
            Ok(algorithm.to_owned())
        }
        _ => Err(Error::bad_json(format!(
            "Key ID `{key_id}` is not `algorithm:id`"
        ))),
    }
}

/// Two uploads of one one-time key are the same key when they differ at most in
/// their signatures (a client may sign again when it retries an upload).
fn same_one_time_key(stored: &str, new: &str) -> bool {
    match (
        serde_json::from_str::<Value>(stored),
        serde_json::from_str::<Value>(new),
    ) {
        (Ok(stored), Ok(new)) => signed_part(&stored) == signed_part(&new),
        _ => false,
    }
}

impl Keys {
    /// `POST /keys/upload`; returns the remaining one-time key counts.
    ///
    /// Device keys must be the uploading device's (400 `M_BAD_JSON` otherwise, as
    /// Synapse answers). Their self-signature is not checked, as Synapse does not:
    /// every client checks it before trusting a device, and a server check would
    /// add nothing a malicious server could not skip.
    pub fn upload_keys(
        &self,
        user: &UserId,
        device: &DeviceId,
        upload: KeyUpload<'_>,
    ) -> Result<BTreeMap<String, u64>> {
        let device_keys = match upload.device_keys {
            Some(keys) => {
                let shape: DeviceKeysShape = serde_json::from_str(keys.get())
                    .map_err(|e| Error::bad_json(format!("device_keys: {e}")))?;
                if shape.user_id != user {
                    return Err(Error::bad_json(
                        "device_keys.user_id is not the uploading user",
                    ));
                }
                if shape.device_id != device {
                    return Err(Error::bad_json(
                        "device_keys.device_id is not the uploading device",
                    ));
                }
                let mut value: Value = serde_json::from_str(keys.get())?;
                own_signatures_only(&mut value, user);
                Some(value)
            }
            None => None,
        };
        let rows = |keys: Vec<(String, String)>| -> Result<Vec<OneTimeKey>> {
            keys.into_iter()
                .map(|(key_id, json)| {
                    algorithm_of(&key_id).map(|algorithm| OneTimeKey {
                        key_id,
                        algorithm,
                        json,
                    })
                })
                .collect()
        };
        let one_time = rows(upload.one_time_keys)?;
        let fallback = rows(upload.fallback_keys)?;
        // One-time keys first: a conflict refuses the whole upload before anything is written.
        if let Some(key_id) =
            self.keys
                .add_one_time_keys(user, device, &one_time, &same_one_time_key)?
        {
            // Synapse's answer, which clients recognise: 400 with M_UNKNOWN.
            return Err(Error::with_status(
                ErrorKind::Unknown,
                http::StatusCode::BAD_REQUEST,
                format!("One time key {key_id} already exists with different content"),
            ));
        }
        if let Some(value) = device_keys {
            self.store_device_keys(user, device, value)?;
        }
        self.keys.set_fallback_keys(user, device, &fallback)?;
        self.one_time_key_counts(user, device)
    }

    /// Stores a device's keys; only a real change is a device-list change. When the
    /// keys themselves are unchanged, signatures already accepted (the self-signing
    /// key's) are kept: clients re-upload their device keys without them.
    fn store_device_keys(&self, user: &UserId, device: &DeviceId, mut value: Value) -> Result<()> {
        let stored = self
            .keys
            .device_keys(user)?
            .into_iter()
            .find(|row| row.device_id == device)
            .and_then(|row| serde_json::from_str::<Value>(&row.json).ok());
        if let Some(stored) = stored
            && signed_part(&stored) == signed_part(&value)
        {
            if let Some(signatures) = stored.get("signatures") {
                signing::merge_signatures(&mut value, signatures);
            }
            if value == stored {
                return Ok(());
            }
        }
        let reservation = self.notifier.reserve();
        Ok(self
            .keys
            .set_device_keys(user, device, &value.to_string(), reservation.position())?)
    }

    pub fn one_time_key_counts(
        &self,
        user: &UserId,
        device: &DeviceId,
    ) -> Result<BTreeMap<String, u64>> {
        Ok(self
            .keys
            .one_time_key_counts(user, device)?
            .into_iter()
            .map(|row| (row.algorithm, row.count.max(0) as u64))
            .collect())
    }

    pub fn unused_fallback_algorithms(
        &self,
        user: &UserId,
        device: &DeviceId,
    ) -> Result<Vec<String>> {
        Ok(self.keys.unused_fallback_algorithms(user, device)?)
    }

    /// `POST /keys/query`: device keys of local users (an empty device list means
    /// all devices) with their display names, and cross-signing keys as `viewer`
    /// may see them. Remote users would need federation.
    pub fn query_keys(
        &self,
        viewer: &UserId,
        requested: &BTreeMap<OwnedUserId, Vec<OwnedDeviceId>>,
    ) -> Result<KeyQuery> {
        let mut out = KeyQuery::default();
        for (user, devices) in requested {
            if user.server_name() != self.server_name {
                continue;
            }
            let names: BTreeMap<OwnedDeviceId, Option<String>> = self
                .accounts
                .devices(user)?
                .into_iter()
                .map(|row| (row.device_id, row.display_name))
                .collect();
            let mut found = BTreeMap::new();
            for DeviceKeysRow {
                device_id: device,
                json,
            } in self.keys.device_keys(user)?
            {
                if !devices.is_empty() && !devices.contains(&device) {
                    continue;
                }
                let mut value: Value = serde_json::from_str(&json)?;
                if let (Some(Some(name)), Some(map)) = (names.get(&device), value.as_object_mut()) {
                    let mut unsigned = Map::new();
                    unsigned.insert("device_display_name".into(), Value::String(name.clone()));
                    map.insert("unsigned".into(), Value::Object(unsigned));
                }
                found.insert(device, serde_json::value::to_raw_value(&value)?);
            }
            out.device_keys.insert(user.clone(), found);
            let cross = self.cross_signing_for(user, viewer)?;
            if let Some(key) = cross.master {
                out.master_keys.insert(user.clone(), key);
            }
            if let Some(key) = cross.self_signing {
                out.self_signing_keys.insert(user.clone(), key);
            }
            if let Some(key) = cross.user_signing {
                out.user_signing_keys.insert(user.clone(), key);
            }
        }
        Ok(out)
    }

    /// `POST /keys/claim`: one key per requested device: the oldest uploaded
    /// one-time key (each handed out once), else the fallback key.
    pub fn claim_keys(
        &self,
        requested: &BTreeMap<OwnedUserId, BTreeMap<OwnedDeviceId, String>>,
    ) -> Result<ClaimedKeys> {
        let mut out = BTreeMap::new();
        for (user, devices) in requested {
            let mut per_device = BTreeMap::new();
            for (device, algorithm) in devices {
                if let Some(ClaimedKey { key_id, json }) =
                    self.keys.claim_key(user, device, algorithm)?
                {
                    per_device.insert(
                        device.clone(),
                        BTreeMap::from([(key_id, RawValue::from_string(json)?)]),
                    );
                }
            }
            if !per_device.is_empty() {
                out.insert(user.clone(), per_device);
            }
        }
        Ok(out)
    }

    /// Users sharing a room with `user` (including `user`).
    pub fn users_sharing_rooms(&self, user: &UserId) -> Result<BTreeSet<OwnedUserId>> {
        users_sharing_rooms(&*self.state, user)
    }

    /// Records that `user`'s devices or keys changed (a device was added or
    /// removed), so everyone sharing a room with them refreshes their keys.
    pub fn device_list_changed(&self, user: &UserId) -> Result<()> {
        let reservation = self.notifier.reserve();
        Ok(self
            .keys
            .record_device_list_change(user, reservation.position())?)
    }

    /// `PUT /sendToDevice/{type}/{txnId}`: queues one message per target
    /// device (`*` = all of the user's devices). Repeating a transaction does
    /// nothing. Messages for devices that do not exist are dropped (a device created
    /// later under that ID must not find them waiting), and so are messages beyond the
    /// device's queue limit, until it syncs.
    pub fn send_to_device(
        &self,
        sender: &UserId,
        sender_device: &DeviceId,
        event_type: &str,
        txn_id: &str,
        messages: Vec<(OwnedUserId, Option<OwnedDeviceId>, Box<RawValue>)>,
    ) -> Result<()> {
        let scope = format!("sendToDevice/{event_type}/{txn_id}");
        if self.events.use_txn_scope(sender, sender_device, &scope)? {
            return Ok(());
        }
        for (user, device, content) in messages {
            if user.server_name() != self.server_name {
                continue; // Needs federation.
            }
            let targets: Vec<OwnedDeviceId> = match device {
                Some(device) => vec![device],
                None => self
                    .accounts
                    .devices(&user)?
                    .into_iter()
                    .map(|row| row.device_id)
                    .collect(),
            };
            for target in targets {
                let reservation = self.notifier.reserve();
                let message = NewToDevice {
                    user_id: user.clone(),
                    device_id: target,
                    sender: sender.to_owned(),
                    event_type: event_type.to_owned(),
                    content: content.get().to_owned(),
                    stream: reservation.position(),
                };
                let queued = self
                    .to_device
                    .queue_to_device(&message, self.to_device_queue_limit)?;
                if !queued {
                    tracing::debug!(%sender, %user, "to-device message dropped: no such device or its queue is full");
                }
            }
        }
        Ok(())
    }

    /// Pending to-device messages for a device, acknowledging (deleting)
    /// those at or before `ack` first.
    pub fn to_device_for(
        &self,
        user: &UserId,
        device: &DeviceId,
        ack: Option<StreamPos>,
        until: StreamPos,
    ) -> Result<Vec<ToDeviceRow>> {
        if let Some(ack) = ack {
            self.to_device.ack_to_device(user, device, ack)?;
        }
        Ok(self
            .to_device
            .to_device_messages(user, device, until, TO_DEVICE_LIMIT + 1)?)
    }
}

/// A to-device event as sync shows it.
pub fn to_device_event(row: &ToDeviceRow) -> Result<Value> {
    Ok(serde_json::json!({
        "sender": row.sender,
        "type": row.event_type,
        "content": RawValue::from_string(row.content.clone())?,
    }))
}

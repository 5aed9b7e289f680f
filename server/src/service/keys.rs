//! The end-to-end encryption relay: device keys, one-time and fallback
//! keys, key queries and claims, device-list changes and to-device messages.
//!
//! The server never sees plaintext; it stores and forwards what clients
//! upload, checking only that keys belong to the uploading device.

use std::collections::{BTreeMap, BTreeSet};

use ruma::{DeviceId, OwnedDeviceId, OwnedUserId, UserId};
use serde_json::{Value, value::RawValue};

use super::Services;
use crate::{
    error::{Error, Result},
    storage::ToDeviceRow,
};

/// Claimed keys: user → device → key ID → key.
pub type ClaimedKeys = BTreeMap<OwnedUserId, BTreeMap<OwnedDeviceId, BTreeMap<String, Box<RawValue>>>>;

/// Most to-device messages delivered in one sync.
pub const TO_DEVICE_LIMIT: usize = 100;

/// What `/keys/upload` carries, already split into rows.
pub struct KeyUpload<'a> {
    pub device_keys: Option<&'a RawValue>,
    /// `(key_id "alg:id", key_json)`.
    pub one_time_keys: Vec<(String, String)>,
    pub fallback_keys: Vec<(String, String)>,
}

fn split_key_id(key_id: &str) -> Result<(String, String, String)> {
    match key_id.split_once(':') {
        Some((algorithm, _)) if !algorithm.is_empty() => Ok((key_id.to_owned(), algorithm.to_owned(), String::new())),
        _ => Err(Error::invalid_param(format!("Key ID `{key_id}` is not `algorithm:id`"))),
    }
}

impl Services {
    /// `POST /keys/upload`; returns the remaining one-time key counts.
    pub fn upload_keys(&self, user: &UserId, device: &DeviceId, upload: KeyUpload<'_>) -> Result<BTreeMap<String, u64>> {
        if let Some(keys) = upload.device_keys {
            #[derive(serde::Deserialize)]
            struct Owner {
                user_id: OwnedUserId,
                device_id: OwnedDeviceId,
            }
            let owner: Owner =
                serde_json::from_str(keys.get()).map_err(|e| Error::bad_json(format!("device_keys: {e}")))?;
            if owner.user_id != user || owner.device_id != device {
                return Err(Error::bad_json("device_keys must be for the uploading user and device"));
            }
            let reservation = self.notifier().reserve();
            self.storage().set_device_keys(user.as_str(), device.as_str(), keys.get(), reservation.position())?;
        }
        let rows = |keys: Vec<(String, String)>| -> Result<Vec<(String, String, String)>> {
            keys.into_iter()
                .map(|(id, json)| split_key_id(&id).map(|(id, alg, _)| (id, alg, json)))
                .collect()
        };
        self.storage().add_one_time_keys(user.as_str(), device.as_str(), &rows(upload.one_time_keys)?)?;
        self.storage().set_fallback_keys(user.as_str(), device.as_str(), &rows(upload.fallback_keys)?)?;
        self.one_time_key_counts(user, device)
    }

    pub fn one_time_key_counts(&self, user: &UserId, device: &DeviceId) -> Result<BTreeMap<String, u64>> {
        Ok(self
            .storage()
            .one_time_key_counts(user.as_str(), device.as_str())?
            .into_iter()
            .map(|(alg, n)| (alg, n.max(0) as u64))
            .collect())
    }

    pub fn unused_fallback_algorithms(&self, user: &UserId, device: &DeviceId) -> Result<Vec<String>> {
        self.storage().unused_fallback_algorithms(user.as_str(), device.as_str())
    }

    /// `POST /keys/query`: device keys of local users (an empty device list
    /// means all devices). Remote users would need federation.
    pub fn query_keys(
        &self,
        requested: &BTreeMap<OwnedUserId, Vec<OwnedDeviceId>>,
    ) -> Result<BTreeMap<OwnedUserId, BTreeMap<OwnedDeviceId, Box<RawValue>>>> {
        let mut out = BTreeMap::new();
        for (user, devices) in requested {
            if user.server_name() != self.config().server_name {
                continue;
            }
            let mut found = BTreeMap::new();
            for (device, json) in self.storage().device_keys(user.as_str())? {
                if devices.is_empty() || devices.contains(&device) {
                    found.insert(device, RawValue::from_string(json)?);
                }
            }
            out.insert(user.clone(), found);
        }
        Ok(out)
    }

    /// `POST /keys/claim`: one key per requested device, one-time first,
    /// then the fallback key.
    pub fn claim_keys(
        &self,
        requested: &BTreeMap<OwnedUserId, BTreeMap<OwnedDeviceId, String>>,
    ) -> Result<ClaimedKeys> {
        let mut out = BTreeMap::new();
        for (user, devices) in requested {
            let mut per_device = BTreeMap::new();
            for (device, algorithm) in devices {
                if let Some((key_id, json)) = self.storage().claim_key(user.as_str(), device.as_str(), algorithm)? {
                    per_device.insert(device.clone(), BTreeMap::from([(key_id, RawValue::from_string(json)?)]));
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
        let mut users = BTreeSet::from([user.to_owned()]);
        for row in self.storage().memberships_of(user.as_str())? {
            if row.membership == "join" {
                users.extend(self.storage().joined_members(row.room_id.as_str())?);
            }
        }
        Ok(users)
    }

    /// Device-list changes `user` should hear of in `(after, until]`.
    pub fn device_list_changes_for(&self, user: &UserId, after: i64, until: i64) -> Result<Vec<OwnedUserId>> {
        let changed = self.storage().device_list_changes(after, until)?;
        if changed.is_empty() {
            return Ok(changed);
        }
        let visible = self.users_sharing_rooms(user)?;
        Ok(changed.into_iter().filter(|u| visible.contains(u)).collect())
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
        if self.storage().use_txn_scope(sender.as_str(), sender_device.as_str(), &scope)? {
            return Ok(());
        }
        for (user, device, content) in messages {
            if user.server_name() != self.config().server_name {
                continue; // Needs federation.
            }
            let targets: Vec<OwnedDeviceId> = match device {
                Some(device) => vec![device],
                None => self.devices(&user)?.into_iter().map(|(id, _, _)| id).collect(),
            };
            for target in targets {
                let reservation = self.notifier().reserve();
                let queued = self.storage().queue_to_device(
                    user.as_str(),
                    target.as_str(),
                    sender.as_str(),
                    event_type,
                    content.get(),
                    reservation.position(),
                    self.config().to_device_queue_limit,
                )?;
                if !queued {
                    tracing::debug!(%sender, %user, "to-device message dropped: no such device or its queue is full");
                }
            }
        }
        Ok(())
    }

    /// Pending to-device messages for a device, acknowledging (deleting)
    /// those at or before `ack` first.
    pub fn to_device_for(&self, user: &UserId, device: &DeviceId, ack: Option<i64>, until: i64) -> Result<Vec<ToDeviceRow>> {
        if let Some(ack) = ack {
            self.storage().ack_to_device(user.as_str(), device.as_str(), ack)?;
        }
        self.storage().to_device_messages(user.as_str(), device.as_str(), until, TO_DEVICE_LIMIT + 1)
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

/// The cross-signing keys a user may see of another user.
#[derive(Default)]
pub struct CrossSigning {
    pub master: Option<Box<RawValue>>,
    pub self_signing: Option<Box<RawValue>>,
    pub user_signing: Option<Box<RawValue>>,
}

fn merge_signatures(target: &mut Value, signatures: &Value) {
    if let (Some(into), Some(from)) = (target.get_mut("signatures"), signatures.as_object()) {
        for (signer, sigs) in from {
            let entry = &mut into[signer];
            if !entry.is_object() {
                *entry = serde_json::json!({});
            }
            if let (Some(entry), Some(sigs)) = (entry.as_object_mut(), sigs.as_object()) {
                entry.extend(sigs.clone());
            }
        }
    } else if let Some(obj) = target.as_object_mut() {
        obj.insert("signatures".into(), signatures.clone());
    }
}

/// The public key part of a cross-signing key (its key ID is `ed25519:<key>`).
fn key_ids(json: &Value) -> Vec<String> {
    json.get("keys").and_then(Value::as_object).map(|k| k.keys().cloned().collect()).unwrap_or_default()
}

impl Services {
    /// `POST /keys/device_signing/upload`. Setting keys the first time needs
    /// no re-authentication; replacing any existing one (master, self-signing or
    /// user-signing) does: whoever holds them can vouch for devices.
    pub async fn upload_cross_signing(
        &self,
        user: &UserId,
        auth: Option<&ruma::api::client::uiaa::AuthData>,
        keys: [(&str, Option<&RawValue>); 3],
    ) -> Result<()> {
        let existing = self.storage().cross_signing_keys(user.as_str())?;
        let replaces = keys.iter().any(|(key_type, new)| {
            let Some(new) = new else { return false };
            let Some((_, old)) = existing.iter().find(|(t, _)| t == key_type) else { return false };
            serde_json::from_str::<Value>(old).ok().map(|v| key_ids(&v))
                != serde_json::from_str::<Value>(new.get()).ok().map(|v| key_ids(&v))
        });
        if replaces {
            self.require_password(user, auth).await?;
        }
        for (key_type, json) in keys {
            let Some(json) = json else { continue };
            let value: Value = serde_json::from_str(json.get()).map_err(|e| Error::bad_json(format!("{key_type}: {e}")))?;
            if value.get("user_id").and_then(Value::as_str) != Some(user.as_str()) {
                return Err(Error::bad_json(format!("{key_type} must be for the uploading user")));
            }
            if key_ids(&value).len() != 1 {
                return Err(Error::bad_json(format!("{key_type} must hold exactly one key")));
            }
            let reservation = self.notifier().reserve();
            self.storage().set_cross_signing_key(user.as_str(), key_type, json.get(), reservation.position())?;
        }
        Ok(())
    }

    /// `POST /keys/signatures/upload`: signatures on one's own devices and
    /// keys become part of them; signatures on others' master keys are kept
    /// for the signer only. Returns failures by user and key ID.
    pub fn upload_signatures(
        &self,
        signer: &UserId,
        signed: Vec<(OwnedUserId, String, Box<RawValue>)>,
    ) -> Result<BTreeMap<OwnedUserId, BTreeMap<String, String>>> {
        let mut failures: BTreeMap<OwnedUserId, BTreeMap<String, String>> = BTreeMap::new();
        for (user, key_id, object) in signed {
            let object: Value = serde_json::from_str(object.get())?;
            let Some(signatures) = object.get("signatures").cloned() else {
                failures.entry(user).or_default().insert(key_id, "No signatures".into());
                continue;
            };
            let outcome = if user == signer {
                self.merge_own_signature(&user, &key_id, &signatures)
            } else {
                let is_master = self
                    .storage()
                    .cross_signing_keys(user.as_str())?
                    .into_iter()
                    .any(|(t, j)| t == "master" && serde_json::from_str::<Value>(&j).is_ok_and(|v| key_ids(&v).iter().any(|k| k.ends_with(&key_id))));
                if is_master {
                    self.storage().add_foreign_signature(user.as_str(), &key_id, signer.as_str(), &signatures.to_string())?;
                    let reservation = self.notifier().reserve();
                    self.storage().record_device_list_change(user.as_str(), reservation.position())?;
                    Ok(())
                } else {
                    Err("Only another user's master key can be signed".to_owned())
                }
            };
            if let Err(reason) = outcome {
                failures.entry(user).or_default().insert(key_id, reason);
            }
        }
        Ok(failures)
    }

    fn merge_own_signature(&self, user: &UserId, key_id: &str, signatures: &Value) -> std::result::Result<(), String> {
        let fail = |e: Error| e.to_string();
        let devices = self.storage().device_keys(user.as_str()).map_err(fail)?;
        if let Some((device, json)) = devices.into_iter().find(|(d, _)| d.as_str() == key_id) {
            let mut value: Value = serde_json::from_str(&json).map_err(|e| e.to_string())?;
            merge_signatures(&mut value, signatures);
            let reservation = self.notifier().reserve();
            return self
                .storage()
                .set_device_keys(user.as_str(), device.as_str(), &value.to_string(), reservation.position())
                .map_err(fail);
        }
        for (key_type, json) in self.storage().cross_signing_keys(user.as_str()).map_err(fail)? {
            let mut value: Value = serde_json::from_str(&json).map_err(|e| e.to_string())?;
            if key_ids(&value).iter().any(|k| k.ends_with(key_id)) {
                merge_signatures(&mut value, signatures);
                let reservation = self.notifier().reserve();
                return self
                    .storage()
                    .set_cross_signing_key(user.as_str(), &key_type, &value.to_string(), reservation.position())
                    .map_err(fail);
            }
        }
        Err(format!("No key {key_id} of {user}"))
    }

    /// Cross-signing keys of `user` as `viewer` may see them.
    pub fn cross_signing_for(&self, user: &UserId, viewer: &UserId) -> Result<CrossSigning> {
        let mut out = CrossSigning::default();
        for (key_type, json) in self.storage().cross_signing_keys(user.as_str())? {
            let mut value: Value = serde_json::from_str(&json)?;
            if key_type == "master" && user != viewer {
                for (_, sigs) in self.storage().foreign_signatures(user.as_str(), viewer.as_str())? {
                    merge_signatures(&mut value, &serde_json::from_str(&sigs)?);
                }
            }
            let raw = serde_json::value::to_raw_value(&value)?;
            match key_type.as_str() {
                "master" => out.master = Some(raw),
                "self_signing" => out.self_signing = Some(raw),
                "user_signing" if user == viewer => out.user_signing = Some(raw),
                _ => {}
            }
        }
        Ok(out)
    }
}

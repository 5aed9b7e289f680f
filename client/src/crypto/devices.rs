//! Other users' (and our own other) devices as `/keys/query` reports them: validated device
//! keys, each device's ed25519 key pinned by device ID, and whether the owner's
//! self-signing key (itself signed by their master key) signs the device — the "cross-signed
//! by its owner" that decides whether a device gets room keys (e2ee.md §3, §5 step 5).

use std::collections::BTreeMap;

use ruma::{OwnedDeviceId, OwnedUserId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use vodozemac::{Curve25519PublicKey, Ed25519PublicKey};

use super::canonical::verify_json;

/// The Olm and Megolm algorithms a device must support to take part.
pub(crate) const OLM_ALGORITHM: &str = "m.olm.v1.curve25519-aes-sha2";
pub(crate) const MEGOLM_ALGORITHM: &str = "m.megolm.v1.aes-sha2";

/// One device of a user, from a validated device-keys object.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Device {
    /// Its owner.
    pub user_id: OwnedUserId,
    /// Its ID.
    pub device_id: OwnedDeviceId,
    /// Its ed25519 signing key (unpadded base64), pinned for this device ID.
    pub ed25519: String,
    /// Its curve25519 identity key (unpadded base64), the Olm channel's address.
    pub curve25519: String,
    /// `unsigned.device_display_name`.
    pub display_name: Option<String>,
    /// Signed by the owner's self-signing key, which is signed by their master key.
    pub cross_signed: bool,
    /// The signed device-keys object, kept to check it again when cross-signing keys change.
    pub(crate) keys: Value,
}

/// The shape of a device-keys object (the signed JSON is kept as a `Value` beside it).
#[derive(Deserialize)]
struct DeviceKeysShape {
    user_id: OwnedUserId,
    device_id: OwnedDeviceId,
    #[serde(default)]
    algorithms: Vec<String>,
    keys: BTreeMap<String, String>,
    #[serde(default)]
    unsigned: Option<UnsignedShape>,
}

#[derive(Deserialize)]
struct UnsignedShape {
    device_display_name: Option<String>,
}

/// Why a device-keys object was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    /// Not a device-keys object.
    #[error("malformed device keys")]
    Malformed,
    /// `user_id`/`device_id` differ from where the object was listed.
    #[error("device keys listed under another user or device")]
    Mismatch,
    /// The device's own signature is missing or wrong.
    #[error("device keys are not self-signed")]
    BadSignature,
    /// The ed25519 key differs from the one pinned for this device ID.
    #[error("the device's signing key changed")]
    KeyChanged,
}

impl Device {
    /// Validates a device-keys object listed under `user_id`/`device_id`: the IDs match,
    /// both identity keys are present and the device signed the object itself.
    pub fn from_keys(user_id: &UserId, device_id: &str, keys: &Value) -> Result<Self, DeviceError> {
        let shape: DeviceKeysShape =
            serde_json::from_value(keys.clone()).map_err(|_| DeviceError::Malformed)?;
        if shape.user_id != user_id || shape.device_id.as_str() != device_id {
            return Err(DeviceError::Mismatch);
        }
        let ed25519 = shape
            .keys
            .get(&format!("ed25519:{device_id}"))
            .ok_or(DeviceError::Malformed)?;
        let curve25519 = shape
            .keys
            .get(&format!("curve25519:{device_id}"))
            .ok_or(DeviceError::Malformed)?;
        let signing_key =
            Ed25519PublicKey::from_base64(ed25519).map_err(|_| DeviceError::Malformed)?;
        Curve25519PublicKey::from_base64(curve25519).map_err(|_| DeviceError::Malformed)?;
        if !shape.algorithms.iter().any(|a| a == OLM_ALGORITHM) {
            return Err(DeviceError::Malformed);
        }
        verify_json(
            keys,
            user_id.as_str(),
            &format!("ed25519:{device_id}"),
            &signing_key,
        )
        .map_err(|_| DeviceError::BadSignature)?;
        Ok(Self {
            user_id: shape.user_id,
            device_id: shape.device_id,
            ed25519: ed25519.clone(),
            curve25519: curve25519.clone(),
            display_name: shape.unsigned.and_then(|u| u.device_display_name),
            cross_signed: false,
            keys: keys.clone(),
        })
    }

    pub(crate) fn ed25519_key(&self) -> Option<Ed25519PublicKey> {
        Ed25519PublicKey::from_base64(&self.ed25519).ok()
    }
}

/// What we know of one user's devices and cross-signing keys.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct UserDevices {
    /// Devices by ID.
    pub devices: BTreeMap<OwnedDeviceId, Device>,
    /// The master key object, if the user has cross-signing.
    pub(crate) master: Option<Value>,
    /// The self-signing key object, kept only if the master key signs it.
    pub(crate) self_signing: Option<Value>,
    /// The master key changed since we first saw one (the UI should warn: e2ee.md §8).
    #[serde(default)]
    pub master_key_changed: bool,
}

/// A cross-signing key object's single ed25519 key, if it has the usage and owner we want.
fn cross_signing_key(
    key: &Value,
    user_id: &UserId,
    usage: &str,
) -> Option<(String, Ed25519PublicKey)> {
    if key.get("user_id")?.as_str()? != user_id.as_str() {
        return None;
    }
    if !key
        .get("usage")?
        .as_array()?
        .iter()
        .any(|u| u.as_str() == Some(usage))
    {
        return None;
    }
    let keys = key.get("keys")?.as_object()?;
    let mut keys = keys.iter();
    let (id, public) = keys.next()?;
    // Exactly one key, named after itself.
    if keys.next().is_some() || id.strip_prefix("ed25519:")? != public.as_str()? {
        return None;
    }
    Some((
        id.clone(),
        Ed25519PublicKey::from_base64(public.as_str()?).ok()?,
    ))
}

impl UserDevices {
    /// Takes the cross-signing keys `/keys/query` returned; the self-signing key is kept only
    /// if the master key signed it. Re-derives every device's `cross_signed`.
    pub(crate) fn set_cross_signing(
        &mut self,
        user_id: &UserId,
        master: Option<Value>,
        self_signing: Option<Value>,
    ) {
        let master = master.filter(|m| cross_signing_key(m, user_id, "master").is_some());
        let self_signing = match (&master, self_signing) {
            (Some(master), Some(ssk)) => {
                let (master_id, master_key) =
                    cross_signing_key(master, user_id, "master").expect("checked");
                let signed = cross_signing_key(&ssk, user_id, "self_signing").is_some()
                    && verify_json(&ssk, user_id.as_str(), &master_id, &master_key).is_ok();
                signed.then_some(ssk)
            }
            _ => None,
        };
        let key = |m: &Option<Value>| {
            m.as_ref()
                .and_then(|m| cross_signing_key(m, user_id, "master"))
                .map(|(id, _)| id)
        };
        if self.master.is_some() && key(&self.master) != key(&master) {
            self.master_key_changed = true;
        }
        self.master = master;
        self.self_signing = self_signing;
        self.recheck(user_id);
    }

    /// Re-derives `cross_signed` for every device from the self-signing key.
    pub(crate) fn recheck(&mut self, user_id: &UserId) {
        let ssk = self
            .self_signing
            .as_ref()
            .and_then(|ssk| cross_signing_key(ssk, user_id, "self_signing"));
        for device in self.devices.values_mut() {
            device.cross_signed = ssk.as_ref().is_some_and(|(id, key)| {
                verify_json(&device.keys, user_id.as_str(), id, key).is_ok()
            });
        }
    }

    /// Replaces the device list with a validated `/keys/query` answer. A device whose ed25519
    /// key changed under the same ID keeps the pinned key (the new object is refused).
    pub(crate) fn set_devices(&mut self, user_id: &UserId, listed: &BTreeMap<String, Value>) {
        let mut devices = BTreeMap::new();
        for (device_id, keys) in listed {
            let Ok(device) = Device::from_keys(user_id, device_id, keys) else {
                continue;
            };
            match self.devices.get(&device.device_id) {
                Some(old) if old.ed25519 != device.ed25519 => {
                    devices.insert(old.device_id.clone(), old.clone());
                }
                _ => {
                    devices.insert(device.device_id.clone(), device);
                }
            }
        }
        self.devices = devices;
        self.recheck(user_id);
    }

    /// The device whose Olm identity key is `curve25519`.
    pub(crate) fn by_curve_key(&self, curve25519: &str) -> Option<&Device> {
        self.devices.values().find(|d| d.curve25519 == curve25519)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use vodozemac::{Ed25519Keypair, olm::Account};

    use super::*;
    use crate::crypto::canonical::sign_json;

    fn device_keys(account: &Account, user: &str, device: &str) -> Value {
        let keys = account.identity_keys();
        let mut value = json!({"user_id": user, "device_id": device,
            "algorithms": [OLM_ALGORITHM, MEGOLM_ALGORITHM],
            "keys": {format!("ed25519:{device}"): keys.ed25519.to_base64(),
                     format!("curve25519:{device}"): keys.curve25519.to_base64()}});
        sign_json(&mut value, user, &format!("ed25519:{device}"), |m| {
            account.sign(m)
        })
        .unwrap();
        value
    }

    fn key_object(user: &str, usage: &str, key: &Ed25519Keypair) -> Value {
        let public = key.public_key().to_base64();
        json!({"user_id": user, "usage": [usage], "keys": {format!("ed25519:{public}"): public}})
    }

    #[test]
    fn devices_must_be_self_signed_and_listed_where_they_belong() {
        let user: &UserId = "@a:hs".try_into().unwrap();
        let account = Account::new();
        let keys = device_keys(&account, "@a:hs", "D1");
        assert!(Device::from_keys(user, "D1", &keys).is_ok());
        assert_eq!(
            Device::from_keys(user, "D2", &keys),
            Err(DeviceError::Mismatch)
        );
        let mut forged = keys.clone();
        forged["device_id"] = json!("D1");
        forged["keys"]["curve25519:D1"] = json!(Account::new().curve25519_key().to_base64());
        assert_eq!(
            Device::from_keys(user, "D1", &forged),
            Err(DeviceError::BadSignature)
        );

        // A new key for a known device ID is not taken.
        let mut devices = UserDevices::default();
        devices.set_devices(user, &BTreeMap::from([("D1".to_owned(), keys.clone())]));
        let other = device_keys(&Account::new(), "@a:hs", "D1");
        devices.set_devices(user, &BTreeMap::from([("D1".to_owned(), other)]));
        assert_eq!(
            devices.devices.values().next().unwrap().ed25519,
            account.ed25519_key().to_base64()
        );
    }

    #[test]
    fn cross_signed_needs_the_chain_from_the_master_key() {
        let user: &UserId = "@a:hs".try_into().unwrap();
        let account = Account::new();
        let (msk, ssk) = (Ed25519Keypair::new(), Ed25519Keypair::new());
        let master = key_object("@a:hs", "master", &msk);
        let mut self_signing = key_object("@a:hs", "self_signing", &ssk);
        let msk_id = format!("ed25519:{}", msk.public_key().to_base64());
        let ssk_id = format!("ed25519:{}", ssk.public_key().to_base64());
        let mut keys = device_keys(&account, "@a:hs", "D1");
        sign_json(&mut keys, "@a:hs", &ssk_id, |m| ssk.sign(m)).unwrap();

        let mut devices = UserDevices::default();
        devices.set_devices(user, &BTreeMap::from([("D1".to_owned(), keys)]));
        // The SSK is not signed by the master key yet: nothing is cross-signed.
        devices.set_cross_signing(user, Some(master.clone()), Some(self_signing.clone()));
        assert!(!devices.devices.values().next().unwrap().cross_signed);
        sign_json(&mut self_signing, "@a:hs", &msk_id, |m| msk.sign(m)).unwrap();
        devices.set_cross_signing(user, Some(master), Some(self_signing.clone()));
        assert!(devices.devices.values().next().unwrap().cross_signed);
        assert!(!devices.master_key_changed);

        // A new master key: the old chain no longer holds, and the change is noted.
        let other = Ed25519Keypair::new();
        devices.set_cross_signing(
            user,
            Some(key_object("@a:hs", "master", &other)),
            Some(self_signing),
        );
        assert!(!devices.devices.values().next().unwrap().cross_signed);
        assert!(devices.master_key_changed);
    }
}

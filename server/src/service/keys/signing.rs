//! Cross-signing: the master, self-signing and user-signing keys, and the
//! signatures users upload on their devices and on each other's master keys.
//!
//! Every signature is checked here before it is stored: a client trusts a device
//! because a chain of signatures reaches it, so a server that stored a bad one
//! would hand clients a broken (or forged-looking) chain.

use std::collections::BTreeMap;

use base64::Engine as _;
use ruma::{
    CanonicalJsonValue, OwnedUserId, UserId,
    signatures::{
        SigningKeyAlgorithm, to_canonical_json_string_for_signing, verify_canonical_json_bytes,
    },
};
use serde_json::{Value, value::RawValue};

use super::part::Keys;
use crate::{
    error::{Error, ErrorKind, Result},
    storage::{DeviceKeysRow, SignatureRow},
};

/// `value` without its `signatures` and `unsigned`: the part a signature covers.
pub(super) fn signed_part(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| k.as_str() != "signatures" && k.as_str() != "unsigned")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Keeps only `owner`'s signatures and drops `unsigned`: signatures by other users
/// reach a key only through `/keys/signatures/upload`, where they are checked.
pub(super) fn own_signatures_only(value: &mut Value, owner: &UserId) {
    if let Some(map) = value.as_object_mut() {
        map.remove("unsigned");
        if let Some(Value::Object(signatures)) = map.get_mut("signatures") {
            signatures.retain(|signer, _| signer == owner.as_str());
        }
    }
}

/// Why signatures were refused, by user and key ID: `(errcode, message)`.
pub type SignatureFailures = BTreeMap<OwnedUserId, BTreeMap<String, (ErrorKind, String)>>;

/// The cross-signing keys a user may see of another user.
#[derive(Default)]
pub struct CrossSigning {
    pub master: Option<Box<RawValue>>,
    pub self_signing: Option<Box<RawValue>>,
    pub user_signing: Option<Box<RawValue>>,
}

/// Base64 as keys and signatures use it: unpadded standard, padded accepted.
const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// Adds `signatures` (signer → key ID → signature) to those of `target`.
pub(super) fn merge_signatures(target: &mut Value, signatures: &Value) {
    let (Some(target), Some(from)) = (target.as_object_mut(), signatures.as_object()) else {
        return;
    };
    let into = target
        .entry("signatures")
        .or_insert_with(|| Value::Object(Default::default()));
    if !into.is_object() {
        *into = Value::Object(Default::default());
    }
    let Some(into) = into.as_object_mut() else {
        return;
    };
    for (signer, sigs) in from {
        let entry = into
            .entry(signer.clone())
            .or_insert_with(|| Value::Object(Default::default()));
        if !entry.is_object() {
            *entry = Value::Object(Default::default());
        }
        if let (Some(entry), Some(sigs)) = (entry.as_object_mut(), sigs.as_object()) {
            entry.extend(sigs.clone());
        }
    }
}

/// Checks `object`'s signature by `signer` under `key_id` ("ed25519:…") with the
/// base64 ed25519 `public_key`.
fn verify(
    object: &Value,
    signer: &UserId,
    key_id: &str,
    public_key: &str,
) -> std::result::Result<(), String> {
    let signature = object
        .get("signatures")
        .and_then(|s| s.get(signer.as_str()))
        .and_then(|s| s.get(key_id))
        .and_then(Value::as_str)
        .ok_or_else(|| format!("No signature by {signer} with {key_id}"))?;
    let signature = BASE64
        .decode(signature)
        .map_err(|_| "Malformed signature".to_owned())?;
    let public_key = BASE64
        .decode(public_key)
        .map_err(|_| "Malformed public key".to_owned())?;
    let canonical = match CanonicalJsonValue::try_from(object.clone()) {
        Ok(CanonicalJsonValue::Object(object)) => to_canonical_json_string_for_signing(&object)
            .map_err(|_| "Not canonical JSON".to_owned())?,
        _ => return Err("Not canonical JSON".to_owned()),
    };
    verify_canonical_json_bytes(
        &SigningKeyAlgorithm::Ed25519,
        &public_key,
        &signature,
        canonical.as_bytes(),
    )
    .map_err(|_| format!("Invalid signature by {signer} with {key_id}"))
}

/// The one public key of a cross-signing key object (base64).
fn public_key_of(key: &Value) -> Option<String> {
    let keys = key.get("keys")?.as_object()?;
    if keys.len() != 1 {
        return None;
    }
    let (id, value) = keys.iter().next()?;
    let public = id.strip_prefix("ed25519:")?;
    (value.as_str() == Some(public) && BASE64.decode(public).is_ok_and(|b| b.len() == 32))
        .then(|| public.to_owned())
}

/// Parses an uploaded cross-signing key: the user's, of this usage, one ed25519 key.
fn parse_cross_signing_key(json: &RawValue, user: &UserId, usage: &str) -> Result<(Value, String)> {
    let mut value: Value = serde_json::from_str(json.get())
        .map_err(|e| Error::bad_json(format!("{usage} key: {e}")))?;
    let invalid = || Error::invalid_param(format!("Invalid {usage} key"));
    if value.get("user_id").and_then(Value::as_str) != Some(user.as_str()) {
        return Err(invalid());
    }
    let usages = value
        .get("usage")
        .and_then(Value::as_array)
        .ok_or_else(invalid)?;
    if !usages.iter().any(|u| u.as_str() == Some(usage)) {
        return Err(invalid());
    }
    let public = public_key_of(&value).ok_or_else(invalid)?;
    own_signatures_only(&mut value, user);
    Ok((value, public))
}

fn stored_json(json: &str) -> Result<Value> {
    Ok(serde_json::from_str(json)?)
}

impl Keys {
    /// The user's stored cross-signing keys by type (`master`, `self_signing`, `user_signing`).
    fn cross_signing_keys(&self, user: &UserId) -> Result<BTreeMap<String, Value>> {
        self.keys
            .cross_signing_keys(user)?
            .into_iter()
            .map(|row| Ok((row.key_type, stored_json(&row.json)?)))
            .collect()
    }

    /// `POST /keys/device_signing/upload`.
    ///
    /// The self-signing and user-signing keys must be signed by the master key (the
    /// new one, else the stored one): 400 `M_INVALID_SIGNATURE` otherwise. No key may
    /// equal one of the user's device IDs (clients could not tell them apart).
    /// Uploading keys identical to the stored ones changes nothing. Setting them up
    /// the first time needs no re-authentication (MSC3967); once a master key exists,
    /// any change needs the password, as on Synapse: whoever holds these keys vouches
    /// for devices, so a stolen access token must not be enough to replace them.
    pub async fn upload_cross_signing(
        &self,
        user: &UserId,
        auth: Option<&ruma::api::client::uiaa::AuthData>,
        master: Option<&RawValue>,
        self_signing: Option<&RawValue>,
        user_signing: Option<&RawValue>,
    ) -> Result<()> {
        let master = master
            .map(|k| parse_cross_signing_key(k, user, "master"))
            .transpose()?;
        let self_signing = self_signing
            .map(|k| parse_cross_signing_key(k, user, "self_signing"))
            .transpose()?;
        let user_signing = user_signing
            .map(|k| parse_cross_signing_key(k, user, "user_signing"))
            .transpose()?;
        let stored = self.cross_signing_keys(user)?;

        let master_public = match (&master, stored.get("master")) {
            (Some((_, public)), _) => public.clone(),
            (None, Some(stored)) => public_key_of(stored)
                .ok_or_else(|| Error::internal("stored master key is invalid"))?,
            (None, None) if self_signing.is_none() && user_signing.is_none() => return Ok(()),
            (None, None) => {
                return Err(Error::new(
                    ErrorKind::MissingParam,
                    "No master key available",
                ));
            }
        };
        for (key, usage) in [
            (&self_signing, "self_signing"),
            (&user_signing, "user_signing"),
        ] {
            if let Some((value, _)) = key {
                verify(
                    value,
                    user,
                    &format!("ed25519:{master_public}"),
                    &master_public,
                )
                .map_err(|_| {
                    Error::new(
                        ErrorKind::InvalidSignature,
                        format!("The {usage} key is not signed by the master key"),
                    )
                })?;
            }
        }
        let devices: Vec<_> = self
            .accounts
            .devices(user)?
            .into_iter()
            .map(|row| row.device_id)
            .collect();
        let uploads = [
            ("master", master),
            ("self_signing", self_signing),
            ("user_signing", user_signing),
        ];
        for (usage, key) in &uploads {
            if let Some((_, public)) = key
                && devices.iter().any(|d| d.as_str() == public)
            {
                return Err(Error::invalid_param(format!(
                    "The {usage} key is one of your device IDs"
                )));
            }
        }

        let changed: Vec<(&str, Value)> = uploads
            .into_iter()
            .filter_map(|(usage, key)| key.map(|(value, _)| (usage, value)))
            .filter(|(usage, value)| {
                stored
                    .get(*usage)
                    .is_none_or(|old| signed_part(old) != signed_part(value))
            })
            .collect();
        if changed.is_empty() {
            return Ok(());
        }
        if stored.contains_key("master") {
            self.accounts.require_password(user, auth).await?;
        }
        for (usage, value) in changed {
            let reservation = self.notifier.reserve();
            self.keys.set_cross_signing_key(
                user,
                usage,
                &value.to_string(),
                reservation.position(),
            )?;
        }
        Ok(())
    }

    /// `POST /keys/signatures/upload`. Accepted: the user's devices signed by their
    /// self-signing key, their master key signed by their devices, and another local
    /// user's master key signed by their user-signing key. Each object must be the
    /// stored key with the new signature; every signature is verified, and only valid
    /// ones are stored. Failures are reported per user and key ID.
    pub fn upload_signatures(
        &self,
        signer: &UserId,
        signed: Vec<(OwnedUserId, String, Box<RawValue>)>,
    ) -> Result<SignatureFailures> {
        let mut failures = SignatureFailures::new();
        for (user, key_id, object) in signed {
            let outcome = match serde_json::from_str::<Value>(object.get()) {
                Err(e) => Err((ErrorKind::BadJson, e.to_string())),
                Ok(object)
                    if object
                        .get("signatures")
                        .and_then(Value::as_object)
                        .is_none() =>
                {
                    Err((ErrorKind::InvalidSignature, "No signatures".to_owned()))
                }
                Ok(object) if user == signer => self.own_signature(signer, &key_id, &object)?,
                Ok(object) => self.signature_on_other(signer, &user, &key_id, &object)?,
            };
            if let Err(failure) = outcome {
                failures.entry(user).or_default().insert(key_id, failure);
            }
        }
        Ok(failures)
    }

    /// A signature on one of the signer's own keys. The outer `Result` is a fault of
    /// ours, the inner one the client's failure.
    fn own_signature(
        &self,
        user: &UserId,
        key_id: &str,
        object: &Value,
    ) -> Result<std::result::Result<(), (ErrorKind, String)>> {
        let invalid = |message: &str| Ok(Err((ErrorKind::InvalidSignature, message.to_owned())));
        let cross = self.cross_signing_keys(user)?;
        let theirs = object
            .get("signatures")
            .and_then(|s| s.get(user.as_str()))
            .and_then(Value::as_object);

        // The master key, signed by one of the user's devices.
        if let Some(master) = cross.get("master")
            && public_key_of(master).as_deref() == Some(key_id)
        {
            if signed_part(master) != signed_part(object) {
                return invalid("The signed object is not the stored master key");
            }
            let devices: BTreeMap<String, Value> = self
                .keys
                .device_keys(user)?
                .into_iter()
                .map(|row| Ok((row.device_id.to_string(), stored_json(&row.json)?)))
                .collect::<Result<_>>()?;
            let known = master.get("signatures").and_then(|s| s.get(user.as_str()));
            let mut new = serde_json::Map::new();
            for (signature_key_id, signature) in theirs.into_iter().flatten() {
                if known.and_then(|k| k.get(signature_key_id)) == Some(signature) {
                    continue; // Already stored (e.g. the master key's own signature).
                }
                let device_key = signature_key_id
                    .strip_prefix("ed25519:")
                    .and_then(|device| devices.get(device))
                    .and_then(|keys| keys.get("keys")?.get(signature_key_id)?.as_str());
                let Some(device_key) = device_key else {
                    return invalid(&format!("{signature_key_id} is not a device of {user}"));
                };
                if let Err(message) = verify(object, user, signature_key_id, device_key) {
                    return invalid(&message);
                }
                new.insert(signature_key_id.clone(), signature.clone());
            }
            if !new.is_empty() {
                let mut master = master.clone();
                merge_signatures(&mut master, &serde_json::json!({ user.as_str(): new }));
                let reservation = self.notifier.reserve();
                self.keys.set_cross_signing_key(
                    user,
                    "master",
                    &master.to_string(),
                    reservation.position(),
                )?;
            }
            return Ok(Ok(()));
        }

        // A device, signed by the self-signing key.
        let device = self
            .keys
            .device_keys(user)?
            .into_iter()
            .find(|row| row.device_id.as_str() == key_id);
        let Some(DeviceKeysRow {
            device_id: device,
            json: stored,
        }) = device
        else {
            return Ok(Err((
                ErrorKind::NotFound,
                format!("No key {key_id} of {user}"),
            )));
        };
        let Some(self_signing) = cross.get("self_signing").and_then(public_key_of) else {
            return Ok(Err((ErrorKind::NotFound, "No self-signing key".to_owned())));
        };
        let mut stored = stored_json(&stored)?;
        if signed_part(&stored) != signed_part(object) {
            return invalid("The signed object is not the stored device");
        }
        let signature_key_id = format!("ed25519:{self_signing}");
        if let Err(message) = verify(object, user, &signature_key_id, &self_signing) {
            return invalid(&message);
        }
        let signature = theirs
            .and_then(|t| t.get(&signature_key_id))
            .cloned()
            .unwrap_or_default();
        merge_signatures(
            &mut stored,
            &serde_json::json!({ user.as_str(): { signature_key_id: signature } }),
        );
        let reservation = self.notifier.reserve();
        self.keys
            .set_device_keys(user, &device, &stored.to_string(), reservation.position())?;
        Ok(Ok(()))
    }

    /// `signer`'s user-signing key's signature on `user`'s master key. It is kept apart
    /// and shown to the signer only: whom one verified is nobody else's business.
    fn signature_on_other(
        &self,
        signer: &UserId,
        user: &UserId,
        key_id: &str,
        object: &Value,
    ) -> Result<std::result::Result<(), (ErrorKind, String)>> {
        let Some(user_signing) = self
            .cross_signing_keys(signer)?
            .get("user_signing")
            .and_then(public_key_of)
        else {
            return Ok(Err((ErrorKind::NotFound, "No user-signing key".to_owned())));
        };
        let master = if user.server_name() == self.server_name {
            self.cross_signing_keys(user)?.remove("master")
        } else {
            None
        };
        let Some(master) = master.filter(|m| public_key_of(m).as_deref() == Some(key_id)) else {
            return Ok(Err((
                ErrorKind::NotFound,
                format!("{key_id} is not the master key of {user}"),
            )));
        };
        if signed_part(&master) != signed_part(object) {
            return Ok(Err((
                ErrorKind::InvalidSignature,
                "The signed object is not the stored master key".to_owned(),
            )));
        }
        let signature_key_id = format!("ed25519:{user_signing}");
        if let Err(message) = verify(object, signer, &signature_key_id, &user_signing) {
            return Ok(Err((ErrorKind::InvalidSignature, message)));
        }
        let signature = &object["signatures"][signer.as_str()][&signature_key_id];
        let signatures = serde_json::json!({ signer.as_str(): { signature_key_id: signature } });
        self.keys
            .add_foreign_signature(user, key_id, signer, &signatures.to_string())?;
        // The signer's other devices must fetch the key again to see the signature.
        self.device_list_changed(user)?;
        Ok(Ok(()))
    }

    /// Cross-signing keys of `user` as `viewer` may see them: the user-signing key
    /// only to its owner, and of other users' signatures on a master key only the
    /// viewer's own.
    pub fn cross_signing_for(&self, user: &UserId, viewer: &UserId) -> Result<CrossSigning> {
        let mut out = CrossSigning::default();
        for (key_type, mut value) in self.cross_signing_keys(user)? {
            if key_type == "master"
                && user != viewer
                && let Some(public) = public_key_of(&value)
            {
                for SignatureRow {
                    key_id,
                    signatures: sigs,
                } in self.keys.foreign_signatures(user, viewer)?
                {
                    // Signatures on an earlier master key no longer apply.
                    if key_id == public {
                        merge_signatures(&mut value, &stored_json(&sigs)?);
                    }
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

//! End-to-end encryption relay: keys and to-device messages.

use std::collections::BTreeMap;

use axum::extract::State;
use ruma::{
    UInt,
    api::client::{
        keys::{
            claim_keys, get_key_changes, get_keys, upload_keys, upload_signatures,
            upload_signing_keys,
        },
        to_device::send_event_to_device,
    },
    encryption::OneTimeKey,
    serde::Raw,
    to_device::DeviceIdOrAllDevices,
};

use super::ruma_wrapper::{Ruma, RumaResponse};
use crate::{
    error::Result,
    service::{Services, keys::KeyUpload, sync::SyncToken},
};

/// # `POST /_matrix/client/v3/keys/upload`
pub async fn upload(
    State(services): State<Services>,
    req: Ruma<upload_keys::v3::Request>,
) -> Result<RumaResponse<upload_keys::v3::Response>> {
    let who = req.requester()?;
    let body = &req.body;
    let rows = |keys: &BTreeMap<ruma::OwnedOneTimeKeyId, Raw<OneTimeKey>>| {
        keys.iter()
            .map(|(id, key)| (id.to_string(), key.json().get().to_owned()))
            .collect()
    };
    let upload = KeyUpload {
        device_keys: body.device_keys.as_ref().map(|k| k.json()),
        one_time_keys: rows(&body.one_time_keys),
        fallback_keys: rows(&body.fallback_keys),
    };
    let counts = services
        .keys
        .upload_keys(&who.user_id, &who.device_id, upload)?;
    let counts = counts
        .into_iter()
        .map(|(alg, n)| (alg.as_str().into(), UInt::new_saturating(n)))
        .collect();
    Ok(upload_keys::v3::Response::new(counts).into())
}

/// # `POST /_matrix/client/v3/keys/query`
pub async fn query(
    State(services): State<Services>,
    req: Ruma<get_keys::v3::Request>,
) -> Result<RumaResponse<get_keys::v3::Response>> {
    let who = req.requester()?;
    let found = services
        .keys
        .query_keys(&who.user_id, &req.body.device_keys)?;
    let mut response = get_keys::v3::Response::new();
    response.device_keys = found
        .device_keys
        .into_iter()
        .map(|(user, devices)| {
            (
                user,
                devices
                    .into_iter()
                    .map(|(d, json)| (d, Raw::from_json(json)))
                    .collect(),
            )
        })
        .collect();
    let raw = |keys: BTreeMap<_, Box<serde_json::value::RawValue>>| {
        keys.into_iter()
            .map(|(u, k)| (u, Raw::from_json(k)))
            .collect()
    };
    response.master_keys = raw(found.master_keys);
    response.self_signing_keys = raw(found.self_signing_keys);
    response.user_signing_keys = raw(found.user_signing_keys);
    Ok(response.into())
}

/// # `POST /_matrix/client/v3/keys/claim`
pub async fn claim(
    State(services): State<Services>,
    req: Ruma<claim_keys::v3::Request>,
) -> Result<RumaResponse<claim_keys::v3::Response>> {
    req.requester()?;
    let requested = req
        .body
        .one_time_keys
        .iter()
        .map(|(user, devices)| {
            (
                user.clone(),
                devices
                    .iter()
                    .map(|(d, alg)| (d.clone(), alg.to_string()))
                    .collect(),
            )
        })
        .collect();
    let mut keys = BTreeMap::new();
    for (user, devices) in services.keys.claim_keys(&requested)? {
        let devices = devices
            .into_iter()
            .map(|(device, keys)| {
                let keys = keys
                    .into_iter()
                    .filter_map(|(id, json)| Some((id.try_into().ok()?, Raw::from_json(json))))
                    .collect();
                (device, keys)
            })
            .collect();
        keys.insert(user, devices);
    }
    Ok(claim_keys::v3::Response::new(keys).into())
}

/// # `GET /_matrix/client/v3/keys/changes`
pub async fn changes(
    State(services): State<Services>,
    req: Ruma<get_key_changes::v3::Request>,
) -> Result<RumaResponse<get_key_changes::v3::Response>> {
    let who = req.requester()?;
    let from = req.body.from.parse::<SyncToken>()?.0;
    let to = req.body.to.parse::<SyncToken>()?.0;
    let updates = services.keys.device_list_updates(&who.user_id, from, to)?;
    Ok(get_key_changes::v3::Response::new(updates.changed, updates.left).into())
}

/// # `PUT /_matrix/client/v3/sendToDevice/{eventType}/{txnId}`
pub async fn send_to_device(
    State(services): State<Services>,
    req: Ruma<send_event_to_device::v3::Request>,
) -> Result<RumaResponse<send_event_to_device::v3::Response>> {
    let who = req.requester()?;
    let body = &req.body;
    let mut messages = Vec::new();
    for (user, devices) in &body.messages {
        for (target, content) in devices {
            let device = match target {
                DeviceIdOrAllDevices::DeviceId(d) => Some(d.clone()),
                _ => None,
            };
            messages.push((user.clone(), device, content.json().to_owned()));
        }
    }
    services.keys.send_to_device(
        &who.user_id,
        &who.device_id,
        &body.event_type.to_string(),
        body.txn_id.as_str(),
        messages,
    )?;
    Ok(send_event_to_device::v3::Response::new().into())
}

/// # `POST /_matrix/client/v3/keys/device_signing/upload`
pub async fn upload_signing_keys(
    State(services): State<Services>,
    req: Ruma<upload_signing_keys::v3::Request>,
) -> Result<RumaResponse<upload_signing_keys::v3::Response>> {
    let who = req.requester()?;
    let b = &req.body;
    services
        .keys
        .upload_cross_signing(
            &who.user_id,
            b.auth.as_ref(),
            b.master_key.as_ref().map(|k| k.json()),
            b.self_signing_key.as_ref().map(|k| k.json()),
            b.user_signing_key.as_ref().map(|k| k.json()),
        )
        .await?;
    Ok(upload_signing_keys::v3::Response::new().into())
}

/// # `POST /_matrix/client/v3/keys/signatures/upload`
pub async fn upload_signatures(
    State(services): State<Services>,
    req: Ruma<upload_signatures::v3::Request>,
) -> Result<RumaResponse<upload_signatures::v3::Response>> {
    let who = req.requester()?;
    let mut signed = Vec::new();
    for (user, keys) in &req.body.signed_keys {
        for (key_id, object) in keys {
            signed.push((user.clone(), key_id.to_string(), object.to_owned()));
        }
    }
    let failures = services.keys.upload_signatures(&who.user_id, signed)?;
    let mut response = upload_signatures::v3::Response::new();
    for (user, keys) in failures {
        let entry = response.failures.entry(user).or_default();
        for (key_id, (kind, reason)) in keys {
            let failure = serde_json::from_value(
                serde_json::json!({"errcode": kind.code(), "error": reason}),
            )?;
            entry.insert(key_id, failure);
        }
    }
    Ok(response.into())
}

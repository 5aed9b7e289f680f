//! A tiny in-memory homeserver for the crypto tests: key upload, query and claim, to-device
//! queues, room sends and `/members`. It cross-signs uploaded devices of users that have a
//! cross-signing identity here (as their own client would after bootstrapping).

use std::collections::BTreeMap;

use serde_json::{Value, json};
use vodozemac::Ed25519Keypair;

use crate::{HttpRequest, Session, crypto::canonical::sign_json};

struct Identity {
    master: Ed25519Keypair,
    self_signing: Ed25519Keypair,
}

/// The fake server.
#[derive(Default)]
pub(crate) struct FakeServer {
    device_keys: BTreeMap<String, BTreeMap<String, Value>>,
    one_time_keys: BTreeMap<(String, String), Vec<(String, Value)>>,
    fallback_keys: BTreeMap<(String, String), (String, Value)>,
    identities: BTreeMap<String, Identity>,
    /// Devices not to cross-sign although their user has an identity.
    pub unsigned_devices: Vec<(String, String)>,
    to_device: BTreeMap<(String, String), Vec<Value>>,
    /// Room events sent, in order, as sync would show them (plus `room_id` and `txn_id`).
    pub room_events: Vec<Value>,
    /// Answer room sends with this status instead (once), to test failures.
    pub fail_next_send: Option<u16>,
    /// `/members` answers by room.
    pub members: BTreeMap<String, Vec<Value>>,
    /// Requests seen, by path, for assertions.
    pub paths: Vec<String>,
}

fn key_object(user: &str, usage: &str, key: &Ed25519Keypair) -> Value {
    let public = key.public_key().to_base64();
    json!({"user_id": user, "usage": [usage], "keys": {format!("ed25519:{public}"): public}})
}

impl FakeServer {
    /// Gives `user` cross-signing keys; their devices get signed as they upload.
    pub fn cross_sign(&mut self, user: &str) {
        self.identities.insert(user.to_owned(), Identity { master: Ed25519Keypair::new(), self_signing: Ed25519Keypair::new() });
    }

    fn cross_signing_keys(&self, user: &str) -> Option<(Value, Value)> {
        let identity = self.identities.get(user)?;
        let master = key_object(user, "master", &identity.master);
        let mut ssk = key_object(user, "self_signing", &identity.self_signing);
        let master_id = format!("ed25519:{}", identity.master.public_key().to_base64());
        sign_json(&mut ssk, user, &master_id, |m| identity.master.sign(m)).unwrap();
        Some((master, ssk))
    }

    /// Takes the to-device events queued for a device (as a sync would).
    pub fn take_to_device(&mut self, session: &Session) -> Vec<Box<serde_json::value::RawValue>> {
        self.to_device
            .remove(&(session.user_id.to_string(), session.device_id.to_string()))
            .unwrap_or_default()
            .into_iter()
            .map(|event| serde_json::value::to_raw_value(&event).unwrap())
            .collect()
    }

    /// Answers a request sent by `session` with a status and a JSON body.
    pub fn handle(&mut self, session: &Session, request: &HttpRequest) -> (u16, Vec<u8>) {
        let path = request.uri().path().to_owned();
        self.paths.push(path.clone());
        let body: Value = serde_json::from_slice(request.body()).unwrap_or(Value::Null);
        let user = session.user_id.to_string();
        let device = session.device_id.to_string();
        let reply = |value: Value| (200, serde_json::to_vec(&value).unwrap());
        if path.ends_with("/keys/upload") {
            if let Some(keys) = body.get("device_keys") {
                let mut keys = keys.clone();
                if let Some(identity) = self.identities.get(&user)
                    && !self.unsigned_devices.contains(&(user.clone(), device.clone()))
                {
                    let id = format!("ed25519:{}", identity.self_signing.public_key().to_base64());
                    sign_json(&mut keys, &user, &id, |m| identity.self_signing.sign(m)).unwrap();
                }
                self.device_keys.entry(user.clone()).or_default().insert(device.clone(), keys);
            }
            let otks = self.one_time_keys.entry((user.clone(), device.clone())).or_default();
            for (id, key) in body.get("one_time_keys").and_then(Value::as_object).into_iter().flatten() {
                otks.push((id.clone(), key.clone()));
            }
            if let Some((id, key)) = body.get("fallback_keys").and_then(Value::as_object).and_then(|f| f.iter().next()) {
                self.fallback_keys.insert((user.clone(), device.clone()), (id.clone(), key.clone()));
            }
            return reply(json!({"one_time_key_counts": {"signed_curve25519": otks.len()}}));
        }
        if path.ends_with("/keys/query") {
            let mut device_keys = serde_json::Map::new();
            let mut master_keys = serde_json::Map::new();
            let mut self_signing_keys = serde_json::Map::new();
            for user in body["device_keys"].as_object().unwrap().keys() {
                let devices = self.device_keys.get(user).cloned().unwrap_or_default();
                device_keys.insert(user.clone(), json!(devices));
                if let Some((master, ssk)) = self.cross_signing_keys(user) {
                    master_keys.insert(user.clone(), master);
                    self_signing_keys.insert(user.clone(), ssk);
                }
            }
            return reply(json!({"device_keys": device_keys, "master_keys": master_keys, "self_signing_keys": self_signing_keys}));
        }
        if path.ends_with("/keys/changes") {
            return reply(json!({"changed": [], "left": []}));
        }
        if path.ends_with("/keys/claim") {
            let mut answer = serde_json::Map::new();
            for (user, devices) in body["one_time_keys"].as_object().unwrap() {
                let mut by_device = serde_json::Map::new();
                for device in devices.as_object().unwrap().keys() {
                    let key = (user.clone(), device.clone());
                    let claimed = match self.one_time_keys.get_mut(&key).filter(|k| !k.is_empty()) {
                        Some(keys) => Some(keys.remove(0)),
                        None => self.fallback_keys.get(&key).cloned(),
                    };
                    if let Some((id, value)) = claimed {
                        by_device.insert(device.clone(), json!({id: value}));
                    }
                }
                answer.insert(user.clone(), Value::Object(by_device));
            }
            return reply(json!({"one_time_keys": answer}));
        }
        if let Some(rest) = path.split("/sendToDevice/").nth(1) {
            let event_type = rest.split('/').next().unwrap().to_owned();
            for (user, devices) in body["messages"].as_object().unwrap() {
                for (device, content) in devices.as_object().unwrap() {
                    self.to_device
                        .entry((user.clone(), device.clone()))
                        .or_default()
                        .push(json!({"sender": session.user_id, "type": event_type, "content": content}));
                }
            }
            return reply(json!({}));
        }
        if path.ends_with("/members") {
            let room = path.split("/rooms/").nth(1).unwrap().split('/').next().unwrap().to_owned();
            let room = room.replace("%21", "!").replace("%3A", ":");
            return reply(json!({"chunk": self.members.get(&room).cloned().unwrap_or_default()}));
        }
        if let Some(rest) = path.split("/rooms/").nth(1)
            && rest.contains("/send/")
        {
            if let Some(status) = self.fail_next_send.take() {
                return (status, br#"{"errcode":"M_UNKNOWN","error":"try later"}"#.to_vec());
            }
            let parts: Vec<&str> = rest.split('/').collect();
            let room = parts[0].replace("%21", "!").replace("%3A", ":");
            let event_id = format!("$ev{}", self.room_events.len());
            self.room_events.push(json!({"room_id": room, "type": parts[2], "content": body, "event_id": event_id,
                "sender": session.user_id, "origin_server_ts": 100 + self.room_events.len(), "txn_id": parts[3]}));
            return reply(json!({"event_id": event_id}));
        }
        (404, br#"{"errcode":"M_UNRECOGNIZED","error":"unknown"}"#.to_vec())
    }
}

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
    /// Cross-signing keys users uploaded: master, self-signing, user-signing.
    uploaded: BTreeMap<String, [Value; 3]>,
    /// Account passwords for user-interactive auth; a user listed here must authenticate
    /// even for a first cross-signing upload (as servers without MSC3967 do).
    pub passwords: BTreeMap<String, String>,
    /// Global account data by user and type.
    pub account_data: BTreeMap<String, BTreeMap<String, Value>>,
    /// Key backup versions (`auth_data` with `algorithm`), the last current, and their keys.
    pub backup_versions: Vec<Value>,
    /// Backed-up keys of the current version: room → session → data.
    pub backup_keys: BTreeMap<String, BTreeMap<String, Value>>,
}

fn key_object(user: &str, usage: &str, key: &Ed25519Keypair) -> Value {
    let public = key.public_key().to_base64();
    json!({"user_id": user, "usage": [usage], "keys": {format!("ed25519:{public}"): public}})
}

impl FakeServer {
    /// Gives `user` cross-signing keys; their devices get signed as they upload.
    pub fn cross_sign(&mut self, user: &str) {
        self.identities.insert(
            user.to_owned(),
            Identity {
                master: Ed25519Keypair::new(),
                self_signing: Ed25519Keypair::new(),
            },
        );
    }

    fn cross_signing_keys(&self, user: &str) -> Option<(Value, Value)> {
        if let Some([master, ssk, _]) = self.uploaded.get(user) {
            return Some((master.clone(), ssk.clone()));
        }
        let identity = self.identities.get(user)?;
        let master = key_object(user, "master", &identity.master);
        let mut ssk = key_object(user, "self_signing", &identity.self_signing);
        let master_id = format!("ed25519:{}", identity.master.public_key().to_base64());
        sign_json(&mut ssk, user, &master_id, |m| identity.master.sign(m)).unwrap();
        Some((master, ssk))
    }

    /// The to-device events queued for a device, to reorder them as a network may.
    #[cfg(test)]
    pub fn queued_to_device(&mut self, session: &Session) -> &mut Vec<Value> {
        self.to_device
            .entry((session.user_id.to_string(), session.device_id.to_string()))
            .or_default()
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

    /// The account data a sync would show `user` (all of it).
    pub fn account_data_events(&self, user: &str) -> Vec<Value> {
        self.account_data
            .get(user)
            .into_iter()
            .flatten()
            .map(|(event_type, content)| json!({"type": event_type, "content": content}))
            .collect()
    }

    /// The stored device keys of one device.
    pub fn device(&self, user: &str, device: &str) -> Option<&Value> {
        self.device_keys.get(user)?.get(device)
    }

    /// The uploaded master key of `user`.
    pub fn master_key(&self, user: &str) -> Option<&Value> {
        self.uploaded.get(user).map(|keys| &keys[0])
    }

    fn merge_signatures(target: &mut Value, signed: &Value) {
        for (signer, sigs) in signed["signatures"].as_object().into_iter().flatten() {
            for (key_id, sig) in sigs.as_object().into_iter().flatten() {
                target["signatures"][signer][key_id] = sig.clone();
            }
        }
    }

    fn handle_trust(
        &mut self,
        session: &Session,
        request: &HttpRequest,
        path: &str,
        body: &Value,
    ) -> Option<(u16, Vec<u8>)> {
        let user = session.user_id.to_string();
        let reply = |value: Value| Some((200, serde_json::to_vec(&value).unwrap()));
        let fail = |status: u16, errcode: &str| {
            Some((
                status,
                serde_json::to_vec(&json!({"errcode": errcode, "error": "no"})).unwrap(),
            ))
        };
        let query = request.uri().query().unwrap_or_default().to_owned();
        if path.ends_with("/keys/device_signing/upload") {
            let replacing = self
                .uploaded
                .get(&user)
                .is_some_and(|k| k[0]["keys"] != body["master_key"]["keys"]);
            let needs_auth = replacing || self.passwords.contains_key(&user);
            if needs_auth {
                let auth = &body["auth"];
                let right = auth["type"] == "m.login.password"
                    && auth["session"] == "uia-1"
                    && auth["identifier"]["user"]
                        .as_str()
                        .is_some_and(|u| u == user)
                    && self
                        .passwords
                        .get(&user)
                        .is_some_and(|p| auth["password"] == p.as_str());
                if !right {
                    let mut challenge = json!({"session": "uia-1", "flows": [{"stages": ["m.login.password"]}], "params": {}});
                    if !auth.is_null() {
                        challenge["errcode"] = json!("M_FORBIDDEN");
                    }
                    return Some((401, serde_json::to_vec(&challenge).unwrap()));
                }
            }
            self.uploaded.insert(
                user,
                [
                    body["master_key"].clone(),
                    body["self_signing_key"].clone(),
                    body["user_signing_key"].clone(),
                ],
            );
            return reply(json!({}));
        }
        if path.ends_with("/keys/signatures/upload") {
            let mut failures = serde_json::Map::new();
            for (target_user, keys) in body.as_object().unwrap() {
                for (key_id, signed) in keys.as_object().unwrap() {
                    if let Some(device) = self
                        .device_keys
                        .get_mut(target_user)
                        .and_then(|d| d.get_mut(key_id))
                    {
                        Self::merge_signatures(device, signed);
                    } else if let Some(keys) = self.uploaded.get_mut(target_user)
                        && keys[0]["keys"]
                            .as_object()
                            .unwrap()
                            .values()
                            .any(|k| k == key_id)
                    {
                        Self::merge_signatures(&mut keys[0], signed);
                    } else {
                        failures.insert(
                            format!("{target_user}/{key_id}"),
                            json!({"errcode": "M_NOT_FOUND"}),
                        );
                    }
                }
            }
            return reply(json!({"failures": failures}));
        }
        if let Some(rest) = path.split("/account_data/").nth(1)
            && path.contains("/user/")
        {
            self.account_data
                .entry(user)
                .or_default()
                .insert(rest.to_owned(), body.clone());
            return reply(json!({}));
        }
        if path.ends_with("/room_keys/version") {
            if request.method() == http::Method::POST {
                let mut version = body.clone();
                version["version"] = json!((self.backup_versions.len() + 1).to_string());
                self.backup_versions.push(version.clone());
                self.backup_keys.clear();
                return reply(json!({"version": version["version"]}));
            }
            return match self.backup_versions.last() {
                Some(version) => {
                    let mut version = version.clone();
                    version["count"] =
                        json!(self.backup_keys.values().map(|s| s.len()).sum::<usize>());
                    version["etag"] = json!("1");
                    reply(version)
                }
                None => fail(404, "M_NOT_FOUND"),
            };
        }
        if path.ends_with("/room_keys/keys") {
            let current = self
                .backup_versions
                .last()
                .map(|v| v["version"].as_str().unwrap().to_owned());
            if current.is_none_or(|c| query != format!("version={c}")) {
                return fail(403, "M_WRONG_ROOM_KEYS_VERSION");
            }
            if request.method() == http::Method::GET {
                let rooms: serde_json::Map<String, Value> = self
                    .backup_keys
                    .iter()
                    .map(|(room, sessions)| (room.clone(), json!({"sessions": sessions})))
                    .collect();
                return reply(json!({"rooms": rooms}));
            }
            for (room, sessions) in body["rooms"].as_object().unwrap() {
                for (session, data) in sessions["sessions"].as_object().unwrap() {
                    self.backup_keys
                        .entry(room.clone())
                        .or_default()
                        .insert(session.clone(), data.clone());
                }
            }
            return reply(json!({"etag": "2", "count": 1}));
        }
        None
    }

    /// Answers a request sent by `session` with a status and a JSON body.
    pub fn handle(&mut self, session: &Session, request: &HttpRequest) -> (u16, Vec<u8>) {
        let path = request.uri().path().to_owned();
        self.paths.push(path.clone());
        let body: Value = serde_json::from_slice(request.body()).unwrap_or(Value::Null);
        if let Some(answer) = self.handle_trust(session, request, &path, &body) {
            return answer;
        }
        let user = session.user_id.to_string();
        let device = session.device_id.to_string();
        let reply = |value: Value| (200, serde_json::to_vec(&value).unwrap());
        if path.ends_with("/keys/upload") {
            if let Some(keys) = body.get("device_keys") {
                let mut keys = keys.clone();
                if let Some(identity) = self.identities.get(&user)
                    && !self
                        .unsigned_devices
                        .contains(&(user.clone(), device.clone()))
                {
                    let id = format!("ed25519:{}", identity.self_signing.public_key().to_base64());
                    sign_json(&mut keys, &user, &id, |m| identity.self_signing.sign(m)).unwrap();
                }
                self.device_keys
                    .entry(user.clone())
                    .or_default()
                    .insert(device.clone(), keys);
            }
            let otks = self
                .one_time_keys
                .entry((user.clone(), device.clone()))
                .or_default();
            for (id, key) in body
                .get("one_time_keys")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                otks.push((id.clone(), key.clone()));
            }
            if let Some((id, key)) = body
                .get("fallback_keys")
                .and_then(Value::as_object)
                .and_then(|f| f.iter().next())
            {
                self.fallback_keys
                    .insert((user.clone(), device.clone()), (id.clone(), key.clone()));
            }
            return reply(json!({"one_time_key_counts": {"signed_curve25519": otks.len()}}));
        }
        if path.ends_with("/keys/query") {
            let mut device_keys = serde_json::Map::new();
            let mut master_keys = serde_json::Map::new();
            let mut self_signing_keys = serde_json::Map::new();
            let mut user_signing_keys = serde_json::Map::new();
            if let Some(keys) = self.uploaded.get(&user) {
                user_signing_keys.insert(user.clone(), keys[2].clone());
            }
            for user in body["device_keys"].as_object().unwrap().keys() {
                let devices = self.device_keys.get(user).cloned().unwrap_or_default();
                device_keys.insert(user.clone(), json!(devices));
                if let Some((master, ssk)) = self.cross_signing_keys(user) {
                    master_keys.insert(user.clone(), master);
                    self_signing_keys.insert(user.clone(), ssk);
                }
            }
            return reply(
                json!({"device_keys": device_keys, "master_keys": master_keys, "self_signing_keys": self_signing_keys,
                                "user_signing_keys": user_signing_keys}),
            );
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
            let room = path
                .split("/rooms/")
                .nth(1)
                .unwrap()
                .split('/')
                .next()
                .unwrap()
                .to_owned();
            let room = room.replace("%21", "!").replace("%3A", ":");
            return reply(json!({"chunk": self.members.get(&room).cloned().unwrap_or_default()}));
        }
        if let Some(rest) = path.split("/rooms/").nth(1)
            && rest.contains("/send/")
        {
            if let Some(status) = self.fail_next_send.take() {
                return (
                    status,
                    br#"{"errcode":"M_UNKNOWN","error":"try later"}"#.to_vec(),
                );
            }
            let parts: Vec<&str> = rest.split('/').collect();
            let room = parts[0].replace("%21", "!").replace("%3A", ":");
            let event_id = format!("$ev{}", self.room_events.len());
            self.room_events.push(json!({"room_id": room, "type": parts[2], "content": body, "event_id": event_id,
                "sender": session.user_id, "origin_server_ts": 100 + self.room_events.len(), "txn_id": parts[3]}));
            return reply(json!({"event_id": event_id}));
        }
        (
            404,
            br#"{"errcode":"M_UNRECOGNIZED","error":"unknown"}"#.to_vec(),
        )
    }
}

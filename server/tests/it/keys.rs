use reqwest::Method;
use serde_json::{Value, json};
use vodozemac::{Ed25519Keypair, olm::Account};
use weft_client::crypto::canonical::sign_json;

use crate::harness::{TestServer, enc};

pub async fn login_device(s: &TestServer, user: &str) -> (String, String) {
    let body = json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user}, "password": "secret-password"});
    let (_, res) = s
        .call(Method::POST, "/_matrix/client/v3/login", None, Some(body))
        .await;
    (
        res["access_token"].as_str().unwrap().to_owned(),
        res["device_id"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn keys_upload_query_claim_and_sync_counts() {
    let s = TestServer::start().await;
    s.register("alice").await;
    s.register("bob").await;
    let (alice, alice_dev) = login_device(&s, "alice").await;
    let (bob, bob_dev) = login_device(&s, "bob").await;
    let room = s
        .create_room(&alice, json!({"preset": "public_chat"}))
        .await;
    assert_eq!(
        s.call(
            Method::POST,
            &format!("/_matrix/client/v3/rooms/{}/join", enc(&room)),
            Some(&bob),
            Some(json!({}))
        )
        .await
        .0,
        200
    );
    let bob_since = s.sync(&bob, None, 0).await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();

    let device_keys = json!({
        "user_id": "@alice:localhost", "device_id": alice_dev,
        "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
        "keys": {format!("curve25519:{alice_dev}"): "curvekey", format!("ed25519:{alice_dev}"): "edkey"},
        "signatures": {"@alice:localhost": {format!("ed25519:{alice_dev}"): "sig"}}
    });
    let upload = json!({
        "device_keys": device_keys,
        "one_time_keys": {
            "signed_curve25519:AAAA": {"key": "otk1", "signatures": {}},
            "signed_curve25519:AAAB": {"key": "otk2", "signatures": {}}
        },
        "fallback_keys": {"signed_curve25519:FFFF": {"key": "fb", "fallback": true, "signatures": {}}}
    });
    let (status, counts) = s
        .call(
            Method::POST,
            "/_matrix/client/v3/keys/upload",
            Some(&alice),
            Some(upload),
        )
        .await;
    assert_eq!(status, 200, "{counts}");
    assert_eq!(counts["one_time_key_counts"]["signed_curve25519"], 2);

    // Keys for someone else's device are refused.
    let forged = json!({"device_keys": {"user_id": "@bob:localhost", "device_id": bob_dev, "algorithms": [], "keys": {}, "signatures": {}}});
    let (status, _) = s
        .call(
            Method::POST,
            "/_matrix/client/v3/keys/upload",
            Some(&alice),
            Some(forged),
        )
        .await;
    assert_eq!(status, 400);

    // Bob hears that alice's devices changed, and can query them.
    let sync = s.sync(&bob, Some(&bob_since), 5_000).await;
    assert_eq!(
        sync["device_lists"]["changed"],
        json!(["@alice:localhost"]),
        "{sync}"
    );
    let (status, query) = s
        .call(
            Method::POST,
            "/_matrix/client/v3/keys/query",
            Some(&bob),
            Some(json!({"device_keys": {"@alice:localhost": []}})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        query["device_keys"]["@alice:localhost"][&alice_dev]["keys"]
            [format!("ed25519:{alice_dev}")],
        "edkey"
    );

    // Claims take one-time keys, then the fallback key.
    let claim =
        json!({"one_time_keys": {"@alice:localhost": {alice_dev.clone(): "signed_curve25519"}}});
    let mut claimed = Vec::new();
    for _ in 0..3 {
        let (status, res) = s
            .call(
                Method::POST,
                "/_matrix/client/v3/keys/claim",
                Some(&bob),
                Some(claim.clone()),
            )
            .await;
        assert_eq!(status, 200, "{res}");
        let keys = res["one_time_keys"]["@alice:localhost"][&alice_dev]
            .as_object()
            .unwrap()
            .clone();
        claimed.push(
            keys.values().next().unwrap()["key"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(claimed, vec!["otk1", "otk2", "fb"]);

    let alice_sync = s.sync(&alice, None, 0).await;
    assert!(
        alice_sync["device_one_time_keys_count"]
            .get("signed_curve25519")
            .is_none_or(|n| n == 0)
    );
    assert_eq!(alice_sync["device_unused_fallback_key_types"], json!([]));
}

#[tokio::test]
async fn to_device_messages_are_delivered_once_and_acknowledged() {
    let s = TestServer::start().await;
    s.register("alice").await;
    s.register("bob").await;
    let (alice, _) = login_device(&s, "alice").await;
    let (bob, bob_dev) = login_device(&s, "bob").await;
    let first = s.sync(&bob, None, 0).await;
    let since = first["next_batch"].as_str().unwrap().to_owned();

    let path = "/_matrix/client/v3/sendToDevice/m.room.encrypted/txn1";
    let body = json!({"messages": {"@bob:localhost": {bob_dev.clone(): {"ciphertext": "secret"}}}});
    assert_eq!(
        s.call(Method::PUT, path, Some(&alice), Some(body.clone()))
            .await
            .0,
        200
    );
    // The same transaction again queues nothing.
    assert_eq!(
        s.call(Method::PUT, path, Some(&alice), Some(body)).await.0,
        200
    );

    let sync = s.sync(&bob, Some(&since), 5_000).await;
    let events = sync["to_device"]["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{sync}");
    assert_eq!(events[0]["sender"], "@alice:localhost");
    assert_eq!(events[0]["type"], "m.room.encrypted");
    assert_eq!(events[0]["content"]["ciphertext"], "secret");
    let next = sync["next_batch"].as_str().unwrap().to_owned();

    // Repeating the old token redelivers (not acknowledged yet) ...
    let again = s.sync(&bob, Some(&since), 0).await;
    assert_eq!(again["to_device"]["events"].as_array().unwrap().len(), 1);
    // ... the new token acknowledges them.
    let after = s.sync(&bob, Some(&next), 0).await;
    assert!(
        after["to_device"]["events"]
            .as_array()
            .is_none_or(|e| e.is_empty()),
        "{after}"
    );

    // `*` reaches every device of the user.
    let (bob2, _) = login_device(&s, "bob").await;
    let all = json!({"messages": {"@bob:localhost": {"*": {"hello": "all"}}}});
    assert_eq!(
        s.call(
            Method::PUT,
            "/_matrix/client/v3/sendToDevice/m.custom/txn2",
            Some(&alice),
            Some(all)
        )
        .await
        .0,
        200
    );
    for token in [&bob, &bob2] {
        let sync = s.sync(token, None, 0).await;
        let events = sync["to_device"]["events"].as_array().unwrap();
        assert!(
            events.iter().any(|e| e["content"]["hello"] == "all"),
            "{sync}"
        );
    }
}

// --- Real keys: a vodozemac account per device, cross-signing keys as ed25519 key pairs. ---

/// A logged-in device with its Olm account.
pub struct Device {
    pub user: String,
    pub id: String,
    pub token: String,
    pub account: Account,
}

impl Device {
    pub async fn login(s: &TestServer, name: &str) -> Self {
        let (token, id) = login_device(s, name).await;
        Self {
            user: format!("@{name}:localhost"),
            id,
            token,
            account: Account::new(),
        }
    }

    /// The device's keys, self-signed.
    pub fn device_keys(&self) -> Value {
        let mut keys = json!({
            "user_id": self.user, "device_id": self.id,
            "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
            "keys": {
                format!("curve25519:{}", self.id): self.account.curve25519_key().to_base64(),
                format!("ed25519:{}", self.id): self.account.ed25519_key().to_base64(),
            },
        });
        sign_json(
            &mut keys,
            &self.user,
            &format!("ed25519:{}", self.id),
            |m| self.account.sign(m),
        )
        .unwrap();
        keys
    }

    /// Signs `value` with this device's key.
    pub fn sign(&self, value: &mut Value) {
        sign_json(value, &self.user, &format!("ed25519:{}", self.id), |m| {
            self.account.sign(m)
        })
        .unwrap();
    }

    pub async fn post(&self, s: &TestServer, path: &str, body: Value) -> (u16, Value) {
        s.call(
            Method::POST,
            &format!("/_matrix/client/v3{path}"),
            Some(&self.token),
            Some(body),
        )
        .await
    }
}

/// A user's three cross-signing key pairs.
pub struct CrossSigning {
    pub user: String,
    pub master: Ed25519Keypair,
    pub self_signing: Ed25519Keypair,
    pub user_signing: Ed25519Keypair,
}

pub fn public(key: &Ed25519Keypair) -> String {
    key.public_key().to_base64()
}

/// Signs `value` as `user` with a cross-signing key (key ID `ed25519:<public key>`).
pub fn sign_with(value: &mut Value, user: &str, key: &Ed25519Keypair) {
    sign_json(value, user, &format!("ed25519:{}", public(key)), |m| {
        key.sign(m)
    })
    .unwrap();
}

impl CrossSigning {
    pub fn new(user: &str) -> Self {
        Self {
            user: user.to_owned(),
            master: Ed25519Keypair::new(),
            self_signing: Ed25519Keypair::new(),
            user_signing: Ed25519Keypair::new(),
        }
    }

    fn object(&self, usage: &str, key: &Ed25519Keypair) -> Value {
        json!({"user_id": self.user, "usage": [usage], "keys": {format!("ed25519:{}", public(key)): public(key)}})
    }

    pub fn master_key(&self) -> Value {
        let mut key = self.object("master", &self.master);
        sign_with(&mut key, &self.user, &self.master);
        key
    }

    pub fn self_signing_key(&self) -> Value {
        let mut key = self.object("self_signing", &self.self_signing);
        sign_with(&mut key, &self.user, &self.master);
        key
    }

    pub fn user_signing_key(&self) -> Value {
        let mut key = self.object("user_signing", &self.user_signing);
        sign_with(&mut key, &self.user, &self.master);
        key
    }

    pub fn upload_body(&self) -> Value {
        json!({
            "master_key": self.master_key(),
            "self_signing_key": self.self_signing_key(),
            "user_signing_key": self.user_signing_key(),
        })
    }
}

fn password_auth(user: &str, session: &str) -> Value {
    json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user},
           "password": "secret-password", "session": session})
}

fn otk(key: &str) -> Value {
    json!({"key": key, "signatures": {}})
}

async fn claim_one(
    s: &TestServer,
    token: &str,
    user: &str,
    device: &str,
) -> Option<(String, Value)> {
    let claim = json!({"one_time_keys": {user: {device: "signed_curve25519"}}});
    let (status, res) = s
        .call(
            Method::POST,
            "/_matrix/client/v3/keys/claim",
            Some(token),
            Some(claim),
        )
        .await;
    assert_eq!(status, 200, "{res}");
    let keys = res["one_time_keys"][user][device].as_object()?;
    keys.iter()
        .next()
        .map(|(id, key)| (id.clone(), key.clone()))
}

#[tokio::test]
async fn claims_hand_out_the_oldest_uploaded_key_once_then_the_fallback_key() {
    let s = TestServer::start().await;
    s.register("alice").await;
    s.register("bob").await;
    let alice = Device::login(&s, "alice").await;
    let bob = Device::login(&s, "bob").await;
    // Uploaded first, but its ID sorts last: age, not ID, decides.
    let first = json!({"one_time_keys": {"signed_curve25519:zzzz": otk("first")}});
    assert_eq!(alice.post(&s, "/keys/upload", first).await.0, 200);
    let later = json!({"one_time_keys": {"signed_curve25519:AAAA": otk("second"), "signed_curve25519:AAAB": otk("third")}});
    let (status, counts) = alice.post(&s, "/keys/upload", later).await;
    assert_eq!(status, 200, "{counts}");
    assert_eq!(counts["one_time_key_counts"]["signed_curve25519"], 3);
    let (_, key) = claim_one(&s, &bob.token, &alice.user, &alice.id)
        .await
        .unwrap();
    assert_eq!(key["key"], "first");

    // The other two, claimed at the same time, go to one claimant each.
    let (a, b) = tokio::join!(
        claim_one(&s, &bob.token, &alice.user, &alice.id),
        claim_one(&s, &bob.token, &alice.user, &alice.id)
    );
    let mut got = vec![a.unwrap().1["key"].clone(), b.unwrap().1["key"].clone()];
    got.sort_by_key(|k| k.to_string());
    assert_eq!(got, vec![json!("second"), json!("third")]);
    assert!(
        claim_one(&s, &bob.token, &alice.user, &alice.id)
            .await
            .is_none(),
        "no keys left, no fallback yet"
    );

    // Then the fallback key, again and again, marked used.
    let fallback = json!({"fallback_keys": {"signed_curve25519:FB1": {"key": "fb", "fallback": true, "signatures": {}}}});
    assert_eq!(
        alice.post(&s, "/keys/upload", fallback.clone()).await.0,
        200
    );
    let sync = s.sync(&alice.token, None, 0).await;
    assert_eq!(
        sync["device_unused_fallback_key_types"],
        json!(["signed_curve25519"])
    );
    for _ in 0..2 {
        let (id, key) = claim_one(&s, &bob.token, &alice.user, &alice.id)
            .await
            .unwrap();
        assert_eq!(
            (id.as_str(), &key["key"]),
            ("signed_curve25519:FB1", &json!("fb"))
        );
    }
    let sync = s.sync(&alice.token, None, 0).await;
    assert_eq!(
        sync["device_unused_fallback_key_types"],
        json!([]),
        "a used fallback key is no longer offered as unused"
    );
    // Uploading the same fallback key again does not make it unused; a new one is.
    assert_eq!(alice.post(&s, "/keys/upload", fallback).await.0, 200);
    assert_eq!(
        s.sync(&alice.token, None, 0).await["device_unused_fallback_key_types"],
        json!([])
    );
    let fresh = json!({"fallback_keys": {"signed_curve25519:FB2": {"key": "fb2", "fallback": true, "signatures": {}}}});
    assert_eq!(alice.post(&s, "/keys/upload", fresh).await.0, 200);
    assert_eq!(
        s.sync(&alice.token, None, 0).await["device_unused_fallback_key_types"],
        json!(["signed_curve25519"])
    );
}

#[tokio::test]
async fn a_one_time_key_id_cannot_change_its_key() {
    let s = TestServer::start().await;
    s.register("alice").await;
    let alice = Device::login(&s, "alice").await;
    let upload = json!({"one_time_keys": {"signed_curve25519:AAAA": otk("k1")}});
    assert_eq!(alice.post(&s, "/keys/upload", upload.clone()).await.0, 200);
    // The same key again (a retried upload), even signed afresh, is fine.
    assert_eq!(alice.post(&s, "/keys/upload", upload).await.0, 200);
    let resigned = json!({"one_time_keys": {"signed_curve25519:AAAA": {"key": "k1", "signatures": {"@alice:localhost": {"ed25519:X": "s"}}}}});
    assert_eq!(alice.post(&s, "/keys/upload", resigned).await.0, 200);
    // Another key under that ID is refused, and nothing of that upload is kept.
    let changed = json!({"one_time_keys": {"signed_curve25519:AAAA": otk("k2"), "signed_curve25519:BBBB": otk("k3")}});
    let (status, body) = alice.post(&s, "/keys/upload", changed).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errcode"], "M_UNKNOWN", "Synapse's answer: {body}");
    let (_, counts) = alice.post(&s, "/keys/upload", json!({})).await;
    assert_eq!(
        counts["one_time_key_counts"]["signed_curve25519"], 1,
        "{counts}"
    );
}

#[tokio::test]
async fn device_keys_belong_to_the_uploading_device_and_show_its_name() {
    let s = TestServer::start().await;
    s.register("alice").await;
    s.register("bob").await;
    let alice = Device::login(&s, "alice").await;
    let alice2 = Device::login(&s, "alice").await;
    let bob = Device::login(&s, "bob").await;
    // Alice's keys for her other device, or under another user, are refused.
    let (status, body) = alice
        .post(
            &s,
            "/keys/upload",
            json!({"device_keys": alice2.device_keys()}),
        )
        .await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (400, Some("M_BAD_JSON")),
        "{body}"
    );
    let (status, _) = alice
        .post(
            &s,
            "/keys/upload",
            json!({"device_keys": bob.device_keys()}),
        )
        .await;
    assert_eq!(status, 400);
    // Not a device-keys object at all.
    let (status, _) = alice
        .post(
            &s,
            "/keys/upload",
            json!({"device_keys": {"user_id": alice.user, "device_id": alice.id}}),
        )
        .await;
    assert_eq!(status, 400);

    assert_eq!(
        alice
            .post(
                &s,
                "/keys/upload",
                json!({"device_keys": alice.device_keys()})
            )
            .await
            .0,
        200
    );
    let rename = format!("/_matrix/client/v3/devices/{}", alice.id);
    assert_eq!(
        s.call(
            Method::PUT,
            &rename,
            Some(&alice.token),
            Some(json!({"display_name": "Alice's laptop"}))
        )
        .await
        .0,
        200
    );
    let (status, query) = bob
        .post(
            &s,
            "/keys/query",
            json!({"device_keys": {"@alice:localhost": []}}),
        )
        .await;
    assert_eq!(status, 200);
    let keys = &query["device_keys"]["@alice:localhost"][&alice.id];
    assert_eq!(
        keys["unsigned"]["device_display_name"], "Alice's laptop",
        "{query}"
    );
    assert_eq!(
        keys["keys"][format!("ed25519:{}", alice.id)],
        alice.account.ed25519_key().to_base64()
    );
    // What the server added is outside the signature: the keys still verify.
    let signed = keys.clone();
    weft_client::crypto::canonical::verify_json(
        &signed,
        &alice.user,
        &format!("ed25519:{}", alice.id),
        &alice.account.ed25519_key(),
    )
    .unwrap();
}

async fn upload_cross_signing(s: &TestServer, device: &Device, body: Value) -> (u16, Value) {
    device.post(s, "/keys/device_signing/upload", body).await
}

#[tokio::test]
async fn cross_signing_keys_must_be_signed_by_the_master_key() {
    let s = TestServer::start().await;
    s.register("alice").await;
    let alice = Device::login(&s, "alice").await;
    let cross = CrossSigning::new(&alice.user);

    // Self-signing and user-signing keys without a master key to check them against.
    let (status, body) = upload_cross_signing(
        &s,
        &alice,
        json!({"self_signing_key": cross.self_signing_key()}),
    )
    .await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (400, Some("M_MISSING_PARAM")),
        "{body}"
    );
    // Signed by some other key.
    let mut forged = cross.self_signing_key();
    forged["signatures"] = json!({});
    sign_with(&mut forged, &alice.user, &Ed25519Keypair::new());
    let body = json!({"master_key": cross.master_key(), "self_signing_key": forged, "user_signing_key": cross.user_signing_key()});
    let (status, res) = upload_cross_signing(&s, &alice, body).await;
    assert_eq!(
        (status, res["errcode"].as_str()),
        (400, Some("M_INVALID_SIGNATURE")),
        "{res}"
    );
    // A signature that claims the master key but is not its.
    let mut tampered = cross.user_signing_key();
    tampered["usage"] = json!(["user_signing", "extra"]);
    let body = json!({"master_key": cross.master_key(), "user_signing_key": tampered});
    let (status, res) = upload_cross_signing(&s, &alice, body).await;
    assert_eq!(
        (status, res["errcode"].as_str()),
        (400, Some("M_INVALID_SIGNATURE")),
        "{res}"
    );
    // A key of the wrong usage.
    let body = json!({"master_key": cross.self_signing_key()});
    assert_eq!(upload_cross_signing(&s, &alice, body).await.0, 400);
    // Nothing of the refused uploads was stored.
    let (_, query) = alice
        .post(
            &s,
            "/keys/query",
            json!({"device_keys": {"@alice:localhost": []}}),
        )
        .await;
    assert!(
        query
            .get("master_keys")
            .is_none_or(|m| m.get("@alice:localhost").is_none()),
        "{query}"
    );

    let (status, res) = upload_cross_signing(&s, &alice, cross.upload_body()).await;
    assert_eq!(status, 200, "{res}");
}

#[tokio::test]
async fn cross_signing_keys_cannot_be_device_ids() {
    let s = TestServer::start().await;
    s.register("alice").await;
    let cross = CrossSigning::new("@alice:localhost");
    let login = json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "alice"},
                       "password": "secret-password", "device_id": public(&cross.master)});
    let (status, res) = s
        .call(Method::POST, "/_matrix/client/v3/login", None, Some(login))
        .await;
    assert_eq!(status, 200, "{res}");
    let token = res["access_token"].as_str().unwrap();
    let (status, body) = s
        .call(
            Method::POST,
            "/_matrix/client/v3/keys/device_signing/upload",
            Some(token),
            Some(cross.upload_body()),
        )
        .await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (400, Some("M_INVALID_PARAM")),
        "{body}"
    );
}

#[tokio::test]
async fn replacing_cross_signing_keys_needs_the_password() {
    let s = TestServer::start().await;
    s.register("alice").await;
    let alice = Device::login(&s, "alice").await;
    let cross = CrossSigning::new(&alice.user);
    let (status, res) = upload_cross_signing(&s, &alice, cross.upload_body()).await;
    assert_eq!(status, 200, "first upload needs no password: {res}");
    let (status, res) = upload_cross_signing(&s, &alice, cross.upload_body()).await;
    assert_eq!(status, 200, "the same keys again need none: {res}");

    // A new self-signing key under the same master key: that changes who vouches for devices.
    let mut other = CrossSigning::new(&alice.user);
    other.master = cross.master.clone();
    let (status, res) = upload_cross_signing(
        &s,
        &alice,
        json!({"self_signing_key": other.self_signing_key()}),
    )
    .await;
    assert_eq!(status, 401, "{res}");

    // A new identity altogether: password, then stored.
    let reset = CrossSigning::new(&alice.user);
    let (status, challenge) = upload_cross_signing(&s, &alice, reset.upload_body()).await;
    assert_eq!(status, 401, "{challenge}");
    let mut body = reset.upload_body();
    body["auth"] = password_auth("alice", challenge["session"].as_str().unwrap());
    let (status, res) = upload_cross_signing(&s, &alice, body).await;
    assert_eq!(status, 200, "{res}");
    let (_, query) = alice
        .post(
            &s,
            "/keys/query",
            json!({"device_keys": {"@alice:localhost": []}}),
        )
        .await;
    let master = &query["master_keys"]["@alice:localhost"]["keys"];
    assert_eq!(
        master[format!("ed25519:{}", public(&reset.master))],
        public(&reset.master),
        "{query}"
    );
}

async fn sign_upload(s: &TestServer, device: &Device, body: Value) -> Value {
    let (status, res) = device.post(s, "/keys/signatures/upload", body).await;
    assert_eq!(status, 200, "{res}");
    res["failures"].clone()
}

fn no_failures(failures: &Value) -> bool {
    failures.as_object().is_none_or(|f| f.is_empty())
}

#[tokio::test]
async fn uploaded_signatures_are_verified_one_by_one() {
    let s = TestServer::start().await;
    for name in ["alice", "bob", "carol"] {
        s.register(name).await;
    }
    let alice = Device::login(&s, "alice").await;
    let alice2 = Device::login(&s, "alice").await;
    let bob = Device::login(&s, "bob").await;
    let carol = Device::login(&s, "carol").await;
    for device in [&alice, &alice2, &bob] {
        assert_eq!(
            device
                .post(
                    &s,
                    "/keys/upload",
                    json!({"device_keys": device.device_keys()})
                )
                .await
                .0,
            200
        );
    }
    let room = s
        .create_room(&alice.token, json!({"preset": "public_chat"}))
        .await;
    let join = format!("/_matrix/client/v3/rooms/{}/join", enc(&room));
    assert_eq!(
        s.call(Method::POST, &join, Some(&bob.token), Some(json!({})))
            .await
            .0,
        200
    );
    let alice_cross = CrossSigning::new(&alice.user);
    let bob_cross = CrossSigning::new(&bob.user);
    assert_eq!(
        upload_cross_signing(&s, &alice, alice_cross.upload_body())
            .await
            .0,
        200
    );
    assert_eq!(
        upload_cross_signing(&s, &bob, bob_cross.upload_body())
            .await
            .0,
        200
    );
    let bob_since = s.sync(&bob.token, None, 0).await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();

    // Alice's self-signing key signs her first device (valid) and her second (forged).
    let ssk_id = format!("ed25519:{}", public(&alice_cross.self_signing));
    let mut first = alice.device_keys();
    sign_with(&mut first, &alice.user, &alice_cross.self_signing);
    let mut second = alice2.device_keys();
    let forger = Ed25519Keypair::new();
    let forged_sig = forger
        .sign(&weft_client::crypto::canonical::signing_bytes(&second).unwrap())
        .to_base64();
    second["signatures"][&alice.user][&ssk_id] = json!(forged_sig);
    // Her master key, signed by her first device.
    let mut master = alice_cross.master_key();
    alice.sign(&mut master);
    let failures = sign_upload(
        &s,
        &alice,
        json!({alice.user.clone(): {
            alice.id.clone(): first, alice2.id.clone(): second, "NOSUCHDEVICE": alice.device_keys(),
            public(&alice_cross.master): master,
        }}),
    )
    .await;
    assert_eq!(
        failures[&alice.user][&alice2.id]["errcode"], "M_INVALID_SIGNATURE",
        "{failures}"
    );
    assert_eq!(
        failures[&alice.user]["NOSUCHDEVICE"]["errcode"], "M_NOT_FOUND",
        "{failures}"
    );
    assert!(failures[&alice.user].get(&alice.id).is_none(), "{failures}");
    assert!(
        failures[&alice.user]
            .get(public(&alice_cross.master))
            .is_none(),
        "{failures}"
    );

    // Bob signs alice's master key with his user-signing key; carol, without one, cannot.
    let mut alice_master = alice_cross.master_key();
    sign_with(&mut alice_master, &bob.user, &bob_cross.user_signing);
    let failures = sign_upload(
        &s,
        &bob,
        json!({alice.user.clone(): {public(&alice_cross.master): alice_master.clone()}}),
    )
    .await;
    assert!(no_failures(&failures), "{failures}");
    let mut forged = alice_cross.master_key();
    sign_with(&mut forged, &carol.user, &Ed25519Keypair::new());
    let failures = sign_upload(
        &s,
        &carol,
        json!({alice.user.clone(): {public(&alice_cross.master): forged}}),
    )
    .await;
    assert_eq!(
        failures[&alice.user][public(&alice_cross.master)]["errcode"],
        "M_NOT_FOUND",
        "{failures}"
    );
    // A master key that is not alice's.
    let failures = sign_upload(
        &s,
        &bob,
        json!({alice.user.clone(): {public(&bob_cross.master): alice_master}}),
    )
    .await;
    assert_eq!(
        failures[&alice.user][public(&bob_cross.master)]["errcode"],
        "M_NOT_FOUND",
        "{failures}"
    );

    // Bob hears that alice's keys changed.
    let sync = s.sync(&bob.token, Some(&bob_since), 5_000).await;
    assert!(
        sync["device_lists"]["changed"]
            .as_array()
            .unwrap()
            .contains(&json!(alice.user)),
        "{sync}"
    );

    let query = json!({"device_keys": {"@alice:localhost": []}});
    let (_, as_bob) = bob.post(&s, "/keys/query", query.clone()).await;
    let devices = &as_bob["device_keys"][&alice.user];
    assert!(
        devices[&alice.id]["signatures"][&alice.user]
            .get(&ssk_id)
            .is_some(),
        "{as_bob}"
    );
    assert!(
        devices[&alice2.id]["signatures"][&alice.user]
            .get(&ssk_id)
            .is_none(),
        "forged signature stored: {as_bob}"
    );
    let alice_device_sig = &as_bob["master_keys"][&alice.user]["signatures"][&alice.user]
        [format!("ed25519:{}", alice.id)];
    assert!(alice_device_sig.is_string(), "{as_bob}");
    let bob_usk = format!("ed25519:{}", public(&bob_cross.user_signing));
    assert!(
        as_bob["master_keys"][&alice.user]["signatures"][&bob.user]
            .get(&bob_usk)
            .is_some(),
        "{as_bob}"
    );
    assert!(as_bob["self_signing_keys"][&alice.user].is_object());
    assert!(
        as_bob
            .get("user_signing_keys")
            .is_none_or(|k| k.get(&alice.user).is_none()),
        "user-signing keys are private"
    );

    // Only bob sees his signature on alice's key.
    for viewer in [&alice, &carol] {
        let (_, res) = viewer.post(&s, "/keys/query", query.clone()).await;
        assert!(
            res["master_keys"][&alice.user]["signatures"]
                .get(&bob.user)
                .is_none(),
            "{res}"
        );
    }
    let (_, as_alice) = alice.post(&s, "/keys/query", query).await;
    assert!(as_alice["user_signing_keys"][&alice.user].is_object());

    // Re-uploading her device keys (as clients do) keeps the self-signing key's signature.
    assert_eq!(
        alice
            .post(
                &s,
                "/keys/upload",
                json!({"device_keys": alice.device_keys()})
            )
            .await
            .0,
        200
    );
    let (_, res) = bob
        .post(
            &s,
            "/keys/query",
            json!({"device_keys": {"@alice:localhost": [alice.id.clone()]}}),
        )
        .await;
    assert!(
        res["device_keys"][&alice.user][&alice.id]["signatures"][&alice.user]
            .get(&ssk_id)
            .is_some(),
        "{res}"
    );
}

async fn changes(s: &TestServer, token: &str, from: &str, to: &str) -> Value {
    let path = format!("/_matrix/client/v3/keys/changes?from={from}&to={to}");
    let (status, res) = s.call(Method::GET, &path, Some(token), None).await;
    assert_eq!(status, 200, "{res}");
    res
}

/// `device_lists.<which>` of a sync, or `<which>` of a `/keys/changes` answer.
fn lists(sync: &Value, which: &str) -> Vec<String> {
    sync.get("device_lists")
        .unwrap_or(sync)
        .get(which)
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|u| u.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn logging_out_removes_the_devices_keys_and_tells_others() {
    let s = TestServer::start().await;
    s.register("alice").await;
    s.register("bob").await;
    let alice = Device::login(&s, "alice").await;
    let phone = Device::login(&s, "alice").await;
    let bob = Device::login(&s, "bob").await;
    let room = s
        .create_room(&alice.token, json!({"preset": "public_chat"}))
        .await;
    let join = format!("/_matrix/client/v3/rooms/{}/join", enc(&room));
    assert_eq!(
        s.call(Method::POST, &join, Some(&bob.token), Some(json!({})))
            .await
            .0,
        200
    );
    let upload = json!({"device_keys": phone.device_keys(), "one_time_keys": {"signed_curve25519:AAAA": otk("k")},
                        "fallback_keys": {"signed_curve25519:FB": {"key": "fb", "fallback": true, "signatures": {}}}});
    assert_eq!(phone.post(&s, "/keys/upload", upload).await.0, 200);
    let since = s.sync(&bob.token, None, 0).await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();

    assert_eq!(phone.post(&s, "/logout", json!({})).await.0, 200);
    let sync = s.sync(&bob.token, Some(&since), 5_000).await;
    assert_eq!(lists(&sync, "changed"), vec![alice.user.clone()], "{sync}");
    let next = sync["next_batch"].as_str().unwrap().to_owned();
    assert_eq!(
        lists(&changes(&s, &bob.token, &since, &next).await, "changed"),
        vec![alice.user.clone()]
    );
    let (_, query) = bob
        .post(
            &s,
            "/keys/query",
            json!({"device_keys": {"@alice:localhost": []}}),
        )
        .await;
    assert!(
        query["device_keys"]["@alice:localhost"]
            .get(&phone.id)
            .is_none(),
        "{query}"
    );
    assert!(
        claim_one(&s, &bob.token, &alice.user, &phone.id)
            .await
            .is_none(),
        "no one-time or fallback key is left"
    );

    // Logging out everywhere too.
    assert_eq!(alice.post(&s, "/logout/all", json!({})).await.0, 200);
    let sync = s.sync(&bob.token, Some(&next), 5_000).await;
    assert_eq!(lists(&sync, "changed"), vec![alice.user.clone()], "{sync}");
}

#[tokio::test]
async fn sharing_a_room_starts_and_ends_device_tracking() {
    let s = TestServer::start().await;
    for name in ["alice", "bob", "carol"] {
        s.register(name).await;
    }
    let alice = Device::login(&s, "alice").await;
    let bob = Device::login(&s, "bob").await;
    let carol = Device::login(&s, "carol").await;
    let room = s
        .create_room(&alice.token, json!({"preset": "public_chat"}))
        .await;
    let other = s
        .create_room(&carol.token, json!({"preset": "public_chat"}))
        .await;
    let alice_since = s.sync(&alice.token, None, 0).await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    let bob_since = s.sync(&bob.token, None, 0).await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();

    // Bob joins: each now tracks the other, though neither changed a key.
    let join = |room: &str| format!("/_matrix/client/v3/rooms/{}/join", enc(room));
    assert_eq!(
        s.call(
            Method::POST,
            &join(&room),
            Some(&bob.token),
            Some(json!({}))
        )
        .await
        .0,
        200
    );
    let alice_sync = s.sync(&alice.token, Some(&alice_since), 5_000).await;
    assert_eq!(
        lists(&alice_sync, "changed"),
        vec![bob.user.clone()],
        "{alice_sync}"
    );
    let bob_sync = s.sync(&bob.token, Some(&bob_since), 5_000).await;
    assert_eq!(
        lists(&bob_sync, "changed"),
        vec![alice.user.clone()],
        "{bob_sync}"
    );
    let alice_next = alice_sync["next_batch"].as_str().unwrap().to_owned();
    let bob_next = bob_sync["next_batch"].as_str().unwrap().to_owned();

    // A profile change is a member event, but not news about devices.
    let name = format!("/_matrix/client/v3/profile/{}/displayname", enc(&bob.user));
    assert_eq!(
        s.call(
            Method::PUT,
            &name,
            Some(&bob.token),
            Some(json!({"displayname": "Bobby"}))
        )
        .await
        .0,
        200
    );
    // Nor is an invite carol declines: she was never in a room with alice.
    let invite = format!("/_matrix/client/v3/rooms/{}/invite", enc(&room));
    assert_eq!(
        s.call(
            Method::POST,
            &invite,
            Some(&alice.token),
            Some(json!({"user_id": carol.user}))
        )
        .await
        .0,
        200
    );
    let decline = format!("/_matrix/client/v3/rooms/{}/leave", enc(&room));
    assert_eq!(
        s.call(Method::POST, &decline, Some(&carol.token), Some(json!({})))
            .await
            .0,
        200
    );
    let alice_sync = s.sync(&alice.token, Some(&alice_next), 0).await;
    assert!(lists(&alice_sync, "changed").is_empty(), "{alice_sync}");
    assert!(lists(&alice_sync, "left").is_empty(), "{alice_sync}");
    // Cross-signing keys are a change.
    assert_eq!(
        upload_cross_signing(&s, &bob, CrossSigning::new(&bob.user).upload_body())
            .await
            .0,
        200
    );
    let alice_sync = s.sync(&alice.token, Some(&alice_next), 5_000).await;
    assert_eq!(
        lists(&alice_sync, "changed"),
        vec![bob.user.clone()],
        "{alice_sync}"
    );
    let alice_next = alice_sync["next_batch"].as_str().unwrap().to_owned();

    // Bob also shares a room with carol; leaving alice's room ends only alice's tracking.
    assert_eq!(
        s.call(
            Method::POST,
            &join(&other),
            Some(&bob.token),
            Some(json!({}))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        s.call(
            Method::POST,
            &join(&other),
            Some(&alice.token),
            Some(json!({}))
        )
        .await
        .0,
        200
    );
    let bob_sync = s.sync(&bob.token, Some(&bob_next), 0).await;
    assert!(
        lists(&bob_sync, "changed").contains(&carol.user),
        "bob now tracks carol: {bob_sync}"
    );
    let bob_next = bob_sync["next_batch"].as_str().unwrap().to_owned();
    let leave = format!("/_matrix/client/v3/rooms/{}/leave", enc(&room));
    assert_eq!(
        s.call(Method::POST, &leave, Some(&bob.token), Some(json!({})))
            .await
            .0,
        200
    );
    let alice_sync = s.sync(&alice.token, Some(&alice_next), 5_000).await;
    assert!(
        lists(&alice_sync, "left").is_empty(),
        "alice and bob still share carol's room: {alice_sync}"
    );
    let leave_other = format!("/_matrix/client/v3/rooms/{}/leave", enc(&other));
    assert_eq!(
        s.call(
            Method::POST,
            &leave_other,
            Some(&bob.token),
            Some(json!({}))
        )
        .await
        .0,
        200
    );

    let alice_sync = s.sync(&alice.token, Some(&alice_next), 0).await;
    assert_eq!(
        lists(&alice_sync, "left"),
        vec![bob.user.clone()],
        "{alice_sync}"
    );
    assert!(
        !lists(&alice_sync, "changed").contains(&bob.user),
        "{alice_sync}"
    );
    let bob_sync = s.sync(&bob.token, Some(&bob_next), 0).await;
    let mut left = lists(&bob_sync, "left");
    left.sort();
    assert_eq!(
        left,
        vec![alice.user.clone(), carol.user.clone()],
        "{bob_sync}"
    );
    // /keys/changes says the same.
    let to = alice_sync["next_batch"].as_str().unwrap();
    assert_eq!(
        lists(&changes(&s, &alice.token, &alice_next, to).await, "left"),
        vec![bob.user.clone()]
    );
}

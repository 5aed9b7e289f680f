use reqwest::Method;
use serde_json::json;

use crate::harness::{TestServer, enc};

async fn login_device(s: &TestServer, user: &str) -> (String, String) {
    let body = json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user}, "password": "secret-password"});
    let (_, res) = s.call(Method::POST, "/_matrix/client/v3/login", None, Some(body)).await;
    (res["access_token"].as_str().unwrap().to_owned(), res["device_id"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn keys_upload_query_claim_and_sync_counts() {
    let s = TestServer::start().await;
    s.register("alice").await;
    s.register("bob").await;
    let (alice, alice_dev) = login_device(&s, "alice").await;
    let (bob, bob_dev) = login_device(&s, "bob").await;
    let room = s.create_room(&alice, json!({"preset": "public_chat"})).await;
    assert_eq!(s.call(Method::POST, &format!("/_matrix/client/v3/rooms/{}/join", enc(&room)), Some(&bob), Some(json!({}))).await.0, 200);
    let bob_since = s.sync(&bob, None, 0).await["next_batch"].as_str().unwrap().to_owned();

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
    let (status, counts) = s.call(Method::POST, "/_matrix/client/v3/keys/upload", Some(&alice), Some(upload)).await;
    assert_eq!(status, 200, "{counts}");
    assert_eq!(counts["one_time_key_counts"]["signed_curve25519"], 2);

    // Keys for someone else's device are refused.
    let forged = json!({"device_keys": {"user_id": "@bob:localhost", "device_id": bob_dev, "algorithms": [], "keys": {}, "signatures": {}}});
    let (status, _) = s.call(Method::POST, "/_matrix/client/v3/keys/upload", Some(&alice), Some(forged)).await;
    assert_eq!(status, 400);

    // Bob hears that alice's devices changed, and can query them.
    let sync = s.sync(&bob, Some(&bob_since), 5_000).await;
    assert_eq!(sync["device_lists"]["changed"], json!(["@alice:localhost"]), "{sync}");
    let (status, query) = s.call(Method::POST, "/_matrix/client/v3/keys/query", Some(&bob), Some(json!({"device_keys": {"@alice:localhost": []}}))).await;
    assert_eq!(status, 200);
    assert_eq!(query["device_keys"]["@alice:localhost"][&alice_dev]["keys"][format!("ed25519:{alice_dev}")], "edkey");

    // Claims take one-time keys, then the fallback key.
    let claim = json!({"one_time_keys": {"@alice:localhost": {alice_dev.clone(): "signed_curve25519"}}});
    let mut claimed = Vec::new();
    for _ in 0..3 {
        let (status, res) = s.call(Method::POST, "/_matrix/client/v3/keys/claim", Some(&bob), Some(claim.clone())).await;
        assert_eq!(status, 200, "{res}");
        let keys = res["one_time_keys"]["@alice:localhost"][&alice_dev].as_object().unwrap().clone();
        claimed.push(keys.values().next().unwrap()["key"].as_str().unwrap().to_owned());
    }
    assert_eq!(claimed, vec!["otk1", "otk2", "fb"]);

    let alice_sync = s.sync(&alice, None, 0).await;
    assert!(alice_sync["device_one_time_keys_count"].get("signed_curve25519").is_none_or(|n| n == 0));
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
    assert_eq!(s.call(Method::PUT, path, Some(&alice), Some(body.clone())).await.0, 200);
    // The same transaction again queues nothing.
    assert_eq!(s.call(Method::PUT, path, Some(&alice), Some(body)).await.0, 200);

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
    assert!(after["to_device"]["events"].as_array().is_none_or(|e| e.is_empty()), "{after}");

    // `*` reaches every device of the user.
    let (bob2, _) = login_device(&s, "bob").await;
    let all = json!({"messages": {"@bob:localhost": {"*": {"hello": "all"}}}});
    assert_eq!(s.call(Method::PUT, "/_matrix/client/v3/sendToDevice/m.custom/txn2", Some(&alice), Some(all)).await.0, 200);
    for token in [&bob, &bob2] {
        let sync = s.sync(token, None, 0).await;
        let events = sync["to_device"]["events"].as_array().unwrap();
        assert!(events.iter().any(|e| e["content"]["hello"] == "all"), "{sync}");
    }
}

fn cross_key(user: &str, usage: &str, key: &str) -> serde_json::Value {
    json!({"user_id": user, "usage": [usage], "keys": {format!("ed25519:{key}"): key}, "signatures": {}})
}

#[tokio::test]
async fn cross_signing_keys_and_signatures() {
    let s = TestServer::start().await;
    s.register("alice").await;
    s.register("bob").await;
    let (alice, alice_dev) = login_device(&s, "alice").await;
    let (bob, _) = login_device(&s, "bob").await;
    let device_keys = json!({"device_keys": {"user_id": "@alice:localhost", "device_id": alice_dev, "algorithms": [], "keys": {format!("ed25519:{alice_dev}"): "dev"}, "signatures": {}}});
    assert_eq!(s.call(Method::POST, "/_matrix/client/v3/keys/upload", Some(&alice), Some(device_keys)).await.0, 200);

    let upload = json!({
        "master_key": cross_key("@alice:localhost", "master", "MASTER"),
        "self_signing_key": cross_key("@alice:localhost", "self_signing", "SELF"),
        "user_signing_key": cross_key("@alice:localhost", "user_signing", "USER"),
    });
    let (status, body) = s.call(Method::POST, "/_matrix/client/v3/keys/device_signing/upload", Some(&alice), Some(upload)).await;
    assert_eq!(status, 200, "first upload needs no password: {body}");
    // Replacing the master key does.
    let replace = json!({"master_key": cross_key("@alice:localhost", "master", "OTHER")});
    let (status, body) = s.call(Method::POST, "/_matrix/client/v3/keys/device_signing/upload", Some(&alice), Some(replace)).await;
    assert_eq!(status, 401, "{body}");

    // Alice signs her device with her self-signing key; bob signs her master key.
    let own = json!({"@alice:localhost": {alice_dev.clone(): {"signatures": {"@alice:localhost": {"ed25519:SELF": "sig-by-self"}}}}});
    let (status, res) = s.call(Method::POST, "/_matrix/client/v3/keys/signatures/upload", Some(&alice), Some(own)).await;
    assert_eq!(status, 200, "{res}");
    assert!(res["failures"].as_object().is_none_or(|f| f.is_empty()), "{res}");
    let theirs = json!({"@alice:localhost": {"MASTER": {"signatures": {"@bob:localhost": {"ed25519:BOBUSER": "sig-by-bob"}}}}});
    let (status, res) = s.call(Method::POST, "/_matrix/client/v3/keys/signatures/upload", Some(&bob), Some(theirs)).await;
    assert_eq!(status, 200, "{res}");

    let query = json!({"device_keys": {"@alice:localhost": []}});
    let (_, as_bob) = s.call(Method::POST, "/_matrix/client/v3/keys/query", Some(&bob), Some(query.clone())).await;
    assert_eq!(as_bob["master_keys"]["@alice:localhost"]["keys"]["ed25519:MASTER"], "MASTER");
    assert_eq!(as_bob["master_keys"]["@alice:localhost"]["signatures"]["@bob:localhost"]["ed25519:BOBUSER"], "sig-by-bob");
    assert!(as_bob["self_signing_keys"]["@alice:localhost"].is_object());
    assert!(as_bob["user_signing_keys"].get("@alice:localhost").is_none(), "user-signing keys are private");
    assert_eq!(as_bob["device_keys"]["@alice:localhost"][&alice_dev]["signatures"]["@alice:localhost"]["ed25519:SELF"], "sig-by-self");

    let (_, as_alice) = s.call(Method::POST, "/_matrix/client/v3/keys/query", Some(&alice), Some(query)).await;
    assert!(as_alice["user_signing_keys"]["@alice:localhost"].is_object());
    assert!(as_alice["master_keys"]["@alice:localhost"]["signatures"].get("@bob:localhost").is_none(), "bob's signature is his");
}

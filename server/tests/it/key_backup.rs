//! Server-side key backups: versions, keys with the replacement rule, counts and etags.

use reqwest::Method;
use serde_json::{Value, json};
use vodozemac::Ed25519Keypair;

use crate::{
    harness::{TestServer, enc},
    keys::Device,
};

const ALGORITHM: &str = "m.megolm_backup.v1.curve25519-aes-sha2";

async fn call(
    s: &TestServer,
    device: &Device,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    s.call(
        method,
        &format!("/_matrix/client/v3/room_keys{path}"),
        Some(&device.token),
        body,
    )
    .await
}

/// A version's body: a (random) backup public key, signed by the user's device.
fn version_body(device: &Device) -> Value {
    let mut auth_data = json!({"public_key": Ed25519Keypair::new().public_key().to_base64()});
    device.sign(&mut auth_data);
    json!({"algorithm": ALGORITHM, "auth_data": auth_data})
}

fn key(first_message_index: u32, forwarded_count: u32, is_verified: bool, tag: &str) -> Value {
    json!({
        "first_message_index": first_message_index, "forwarded_count": forwarded_count, "is_verified": is_verified,
        "session_data": {"ephemeral": "ZXBo", "ciphertext": tag, "mac": "bWFj"}
    })
}

#[tokio::test]
async fn backup_versions_are_created_read_updated_and_deleted() {
    let s = TestServer::start().await;
    s.register("alice").await;
    s.register("bob").await;
    let alice = Device::login(&s, "alice").await;
    let bob = Device::login(&s, "bob").await;

    let (status, res) = call(&s, &alice, Method::GET, "/version", None).await;
    assert_eq!(
        (status, res["errcode"].as_str()),
        (404, Some("M_NOT_FOUND")),
        "{res}"
    );
    let body = version_body(&alice);
    let (status, res) = call(&s, &alice, Method::POST, "/version", Some(body.clone())).await;
    assert_eq!(status, 200, "{res}");
    let v1 = res["version"].as_str().unwrap().to_owned();
    let (status, info) = call(&s, &alice, Method::GET, "/version", None).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(
        (&info["version"], &info["algorithm"], &info["auth_data"]),
        (&json!(v1), &json!(ALGORITHM), &body["auth_data"])
    );
    assert_eq!(info["count"], 0);
    assert!(info["etag"].is_string(), "{info}");
    // Backups are per user.
    assert_eq!(call(&s, &bob, Method::GET, "/version", None).await.0, 404);
    assert_eq!(
        call(&s, &bob, Method::GET, &format!("/version/{v1}"), None)
            .await
            .0,
        404
    );

    // An update may change auth_data, never the algorithm.
    let mut other = body.clone();
    other["algorithm"] = json!("org.example.other");
    let (status, res) = call(
        &s,
        &alice,
        Method::PUT,
        &format!("/version/{v1}"),
        Some(other),
    )
    .await;
    assert_eq!(
        (status, res["errcode"].as_str()),
        (400, Some("M_INVALID_PARAM")),
        "{res}"
    );
    let new_body = version_body(&alice);
    assert_eq!(
        call(
            &s,
            &alice,
            Method::PUT,
            &format!("/version/{v1}"),
            Some(new_body.clone())
        )
        .await
        .0,
        200
    );
    let (_, info) = call(&s, &alice, Method::GET, &format!("/version/{v1}"), None).await;
    assert_eq!(info["auth_data"], new_body["auth_data"]);
    assert_eq!(
        call(&s, &alice, Method::PUT, "/version/99", Some(new_body))
            .await
            .0,
        404
    );

    // A second version becomes the current one; only it takes keys.
    let (_, res) = call(
        &s,
        &alice,
        Method::POST,
        "/version",
        Some(version_body(&alice)),
    )
    .await;
    let v2 = res["version"].as_str().unwrap().to_owned();
    assert_ne!(v1, v2);
    assert_eq!(
        call(&s, &alice, Method::GET, "/version", None).await.1["version"],
        json!(v2)
    );
    let path = format!("/keys/{}/session1?version={v1}", enc("!room:localhost"));
    let (status, res) = call(&s, &alice, Method::PUT, &path, Some(key(0, 0, false, "a"))).await;
    assert_eq!(status, 403, "{res}");
    assert_eq!(res["errcode"], "M_WRONG_ROOM_KEYS_VERSION");
    assert_eq!(res["current_version"], json!(v2));
    let (status, _) = call(
        &s,
        &alice,
        Method::PUT,
        &format!("/keys/{}/s?version=99", enc("!room:localhost")),
        Some(key(0, 0, false, "a")),
    )
    .await;
    assert_eq!(status, 404, "an unknown version is not found");

    // Deleting the current version makes the previous one current again.
    assert_eq!(
        call(&s, &alice, Method::DELETE, &format!("/version/{v2}"), None)
            .await
            .0,
        200
    );
    assert_eq!(
        call(&s, &alice, Method::GET, &format!("/version/{v2}"), None)
            .await
            .0,
        404
    );
    assert_eq!(
        call(&s, &alice, Method::DELETE, &format!("/version/{v2}"), None)
            .await
            .0,
        404
    );
    assert_eq!(
        call(&s, &alice, Method::GET, "/version", None).await.1["version"],
        json!(v1)
    );
    // Version numbers are never reused.
    let (_, res) = call(
        &s,
        &alice,
        Method::POST,
        "/version",
        Some(version_body(&alice)),
    )
    .await;
    assert_ne!(res["version"], json!(v2));
}

#[tokio::test]
async fn backed_up_keys_keep_the_better_copy_and_move_the_etag() {
    let s = TestServer::start().await;
    s.register("alice").await;
    let alice = Device::login(&s, "alice").await;
    let (_, res) = call(
        &s,
        &alice,
        Method::POST,
        "/version",
        Some(version_body(&alice)),
    )
    .await;
    let v = res["version"].as_str().unwrap().to_owned();
    let room = "!room:localhost";
    let session = |id: &str| format!("/keys/{}/{id}?version={v}", enc(room));

    let (status, res) = call(
        &s,
        &alice,
        Method::PUT,
        &session("s1"),
        Some(key(5, 1, false, "first")),
    )
    .await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(res["count"], 1);
    let etag = res["etag"].clone();
    let stored = |tag: &'static str| {
        let s = &s;
        let alice = &alice;
        let path = session("s1");
        async move {
            let (status, res) = call(s, alice, Method::GET, &path, None).await;
            assert_eq!(status, 200, "{res}");
            assert_eq!(res["session_data"]["ciphertext"], tag, "{res}");
        }
    };

    // Worse copies change nothing, not even the etag.
    for worse in [
        key(6, 0, false, "later index"),
        key(5, 2, false, "more forwards"),
        key(5, 1, false, "same"),
    ] {
        let (_, res) = call(&s, &alice, Method::PUT, &session("s1"), Some(worse)).await;
        assert_eq!((&res["count"], &res["etag"]), (&json!(1), &etag), "{res}");
    }
    stored("first").await;
    // A lower first index wins, then fewer forwards, and a verified key beats any unverified one.
    let mut etags = vec![etag];
    for (better, tag) in [
        (key(3, 9, false, "earlier"), "earlier"),
        (key(3, 0, false, "fewer"), "fewer"),
        (key(50, 50, true, "verified"), "verified"),
    ] {
        let (_, res) = call(&s, &alice, Method::PUT, &session("s1"), Some(better)).await;
        assert!(
            !etags.contains(&res["etag"]),
            "the etag moves with every change: {res}"
        );
        etags.push(res["etag"].clone());
        stored(tag).await;
    }
    let (_, res) = call(
        &s,
        &alice,
        Method::PUT,
        &session("s1"),
        Some(key(0, 0, false, "unverified")),
    )
    .await;
    assert_eq!(&res["etag"], etags.last().unwrap());
    stored("verified").await;

    // Bulk uploads; reads by room and all at once; count and etag in the version.
    let bulk = json!({"rooms": {
        room: {"sessions": {"s2": key(0, 0, false, "two")}},
        "!other:localhost": {"sessions": {"s3": key(0, 0, false, "three")}},
    }});
    let (status, res) = call(
        &s,
        &alice,
        Method::PUT,
        &format!("/keys?version={v}"),
        Some(bulk),
    )
    .await;
    assert_eq!((status, &res["count"]), (200, &json!(3)), "{res}");
    let (_, info) = call(&s, &alice, Method::GET, "/version", None).await;
    assert_eq!(
        (&info["count"], &info["etag"]),
        (&json!(3), &res["etag"]),
        "{info}"
    );
    let (_, all) = call(&s, &alice, Method::GET, &format!("/keys?version={v}"), None).await;
    assert_eq!(
        all["rooms"][room]["sessions"]["s1"]["session_data"]["ciphertext"], "verified",
        "{all}"
    );
    assert_eq!(
        all["rooms"]["!other:localhost"]["sessions"]["s3"]["first_message_index"], 0,
        "{all}"
    );
    let (_, one_room) = call(
        &s,
        &alice,
        Method::GET,
        &format!("/keys/{}?version={v}", enc(room)),
        None,
    )
    .await;
    assert_eq!(
        one_room["sessions"].as_object().unwrap().len(),
        2,
        "{one_room}"
    );
    let (status, _) = call(&s, &alice, Method::GET, &session("nope"), None).await;
    assert_eq!(status, 404);
    let (_, empty) = call(
        &s,
        &alice,
        Method::GET,
        &format!("/keys/{}?version={v}", enc("!empty:localhost")),
        None,
    )
    .await;
    assert_eq!(empty["sessions"], json!({}));

    // Deletes: one session, one room, everything.
    let before = info["etag"].clone();
    let (_, res) = call(&s, &alice, Method::DELETE, &session("s1"), None).await;
    assert_eq!(res["count"], 2, "{res}");
    assert_ne!(res["etag"], before);
    let (_, res) = call(
        &s,
        &alice,
        Method::DELETE,
        &format!("/keys/{}?version={v}", enc(room)),
        None,
    )
    .await;
    assert_eq!(res["count"], 1, "{res}");
    let (_, res) = call(
        &s,
        &alice,
        Method::DELETE,
        &format!("/keys?version={v}"),
        None,
    )
    .await;
    assert_eq!(res["count"], 0, "{res}");
    let (_, all) = call(&s, &alice, Method::GET, &format!("/keys?version={v}"), None).await;
    assert_eq!(all["rooms"], json!({}), "{all}");
}

#[tokio::test]
async fn backup_writes_are_bounded() {
    let s = TestServer::start().await;
    s.register("alice").await;
    let alice = Device::login(&s, "alice").await;
    let (_, res) = call(
        &s,
        &alice,
        Method::POST,
        "/version",
        Some(version_body(&alice)),
    )
    .await;
    let v = res["version"].as_str().unwrap().to_owned();

    let huge = key(0, 0, false, &"A".repeat(20 * 1024));
    let (status, res) = call(
        &s,
        &alice,
        Method::PUT,
        &format!("/keys/{}/s?version={v}", enc("!r:localhost")),
        Some(huge),
    )
    .await;
    assert_eq!(
        (status, res["errcode"].as_str()),
        (413, Some("M_TOO_LARGE")),
        "{res}"
    );
    let sessions: serde_json::Map<String, Value> = (0..1001)
        .map(|i| (format!("s{i}"), key(0, 0, false, "x")))
        .collect();
    let many = json!({"rooms": {"!r:localhost": {"sessions": sessions}}});
    let (status, res) = call(
        &s,
        &alice,
        Method::PUT,
        &format!("/keys?version={v}"),
        Some(many),
    )
    .await;
    assert_eq!(
        (status, res["errcode"].as_str()),
        (413, Some("M_TOO_LARGE")),
        "{res}"
    );
    let (status, res) = call(
        &s,
        &alice,
        Method::PUT,
        &format!("/keys/{}/s?version={v}", enc("!r:localhost")),
        Some(json!({"first_message_index": 0})),
    )
    .await;
    assert_eq!(
        (status, res["errcode"].as_str()),
        (400, Some("M_BAD_JSON")),
        "{res}"
    );
    // Nothing of it was stored.
    assert_eq!(
        call(&s, &alice, Method::GET, "/version", None).await.1["count"],
        0
    );
}

#[tokio::test]
async fn backup_writes_are_rate_limited() {
    let s = TestServer::start_rate_limited().await;
    s.register("alice").await;
    let alice = Device::login(&s, "alice").await;
    let (_, res) = call(
        &s,
        &alice,
        Method::POST,
        "/version",
        Some(version_body(&alice)),
    )
    .await;
    let v = res["version"].as_str().unwrap().to_owned();
    let path = format!("/keys/{}/s?version={v}", enc("!r:localhost"));
    let mut limited = false;
    for i in 0..100 {
        let (status, res) = call(&s, &alice, Method::PUT, &path, Some(key(i, 0, false, "x"))).await;
        if status == 429 {
            assert_eq!(res["errcode"], "M_LIMIT_EXCEEDED");
            limited = true;
            break;
        }
        assert_eq!(status, 200, "{res}");
    }
    assert!(limited, "a hundred writes in a burst are too many");
    // Reads are not limited.
    assert_eq!(call(&s, &alice, Method::GET, "/version", None).await.0, 200);
}

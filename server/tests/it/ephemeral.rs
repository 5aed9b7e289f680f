use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::harness::{TestServer, enc};

async fn two_in_a_room(s: &TestServer) -> (String, String, String) {
    let alice = s.register("alice").await;
    let bob = s.register("bob").await;
    let room = s
        .create_room(&alice, json!({"preset": "public_chat"}))
        .await;
    let (status, _) = s
        .call(
            Method::POST,
            &format!("/_matrix/client/v3/rooms/{}/join", enc(&room)),
            Some(&bob),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200);
    (alice, bob, room)
}

#[tokio::test]
async fn typing_reaches_the_other_member_and_expires() {
    let s = TestServer::start().await;
    let (alice, bob, room) = two_in_a_room(&s).await;
    let since = s.sync(&bob, None, 0).await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();

    let path = format!(
        "/_matrix/client/v3/rooms/{}/typing/%40alice%3Alocalhost",
        enc(&room)
    );
    let (status, _) = s
        .call(
            Method::PUT,
            &path,
            Some(&alice),
            Some(json!({"typing": true, "timeout": 600})),
        )
        .await;
    assert_eq!(status, 200);
    let sync = s.sync(&bob, Some(&since), 5_000).await;
    let ephemeral = &sync["rooms"]["join"][&room]["ephemeral"]["events"];
    assert_eq!(ephemeral[0]["type"], "m.typing", "{sync}");
    assert_eq!(
        ephemeral[0]["content"]["user_ids"],
        json!(["@alice:localhost"])
    );
    let since = sync["next_batch"].as_str().unwrap().to_owned();

    // The notice expires by itself, and the (long-polling) sync hears of it.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let sync = s.sync(&bob, Some(&since), 5_000).await;
    let ephemeral = &sync["rooms"]["join"][&room]["ephemeral"]["events"];
    assert_eq!(ephemeral[0]["content"]["user_ids"], json!([]), "{sync}");

    // Nobody types for someone else.
    let (status, _) = s
        .call(
            Method::PUT,
            &path,
            Some(&bob),
            Some(json!({"typing": true, "timeout": 1000})),
        )
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn receipts_and_read_markers() {
    let s = TestServer::start().await;
    let (alice, bob, room) = two_in_a_room(&s).await;
    let (_, sent) = s.send_text(&alice, &room, "t1", "read me").await;
    let event_id = sent["event_id"].as_str().unwrap().to_owned();
    let since = s.sync(&alice, None, 0).await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();

    let receipt = format!(
        "/_matrix/client/v3/rooms/{}/receipt/m.read/{}",
        enc(&room),
        enc(&event_id)
    );
    let (status, _) = s
        .call(Method::POST, &receipt, Some(&bob), Some(json!({})))
        .await;
    assert_eq!(status, 200);
    let private = format!(
        "/_matrix/client/v3/rooms/{}/receipt/m.read.private/{}",
        enc(&room),
        enc(&event_id)
    );
    let (status, _) = s
        .call(Method::POST, &private, Some(&bob), Some(json!({})))
        .await;
    assert_eq!(status, 200);

    let sync = s.sync(&alice, Some(&since), 5_000).await;
    let receipts = sync["rooms"]["join"][&room]["ephemeral"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "m.receipt")
        .cloned()
        .unwrap();
    assert!(
        receipts["content"][&event_id]["m.read"]["@bob:localhost"]["ts"].is_u64(),
        "{receipts}"
    );
    assert!(
        receipts["content"][&event_id]
            .get("m.read.private")
            .is_none(),
        "private receipts stay private"
    );

    let bob_sync = s.sync(&bob, None, 0).await;
    let mine = bob_sync["rooms"]["join"][&room]["ephemeral"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "m.receipt")
        .cloned()
        .unwrap();
    assert!(mine["content"][&event_id]["m.read.private"]["@bob:localhost"].is_object());

    let markers = format!("/_matrix/client/v3/rooms/{}/read_markers", enc(&room));
    let (status, _) = s
        .call(
            Method::POST,
            &markers,
            Some(&bob),
            Some(json!({"m.fully_read": event_id})),
        )
        .await;
    assert_eq!(status, 200);
    let fully_read = format!(
        "/_matrix/client/v3/user/%40bob%3Alocalhost/rooms/{}/account_data/m.fully_read",
        enc(&room)
    );
    let (status, body) = s.call(Method::GET, &fully_read, Some(&bob), None).await;
    assert_eq!((status, &body["event_id"]), (200, &json!(event_id)));

    let bogus = format!(
        "/_matrix/client/v3/rooms/{}/receipt/m.read/%24nope",
        enc(&room)
    );
    let (status, _) = s
        .call(Method::POST, &bogus, Some(&bob), Some(json!({})))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn presence_is_shared_with_room_mates() {
    let s = TestServer::start().await;
    let (alice, bob, _room) = two_in_a_room(&s).await;
    let since = s.sync(&bob, None, 0).await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = "/_matrix/client/v3/presence/%40alice%3Alocalhost/status";
    let (status, _) = s
        .call(
            Method::PUT,
            path,
            Some(&alice),
            Some(json!({"presence": "unavailable", "status_msg": "lunch"})),
        )
        .await;
    assert_eq!(status, 200);
    let sync = s.sync(&bob, Some(&since), 5_000).await;
    let events = sync["presence"]["events"].as_array().unwrap();
    let alice_p = events
        .iter()
        .find(|e| e["sender"] == "@alice:localhost")
        .unwrap();
    assert_eq!(alice_p["content"]["presence"], "unavailable");
    assert_eq!(alice_p["content"]["status_msg"], "lunch");
    let (status, got) = s.call(Method::GET, path, Some(&bob), None).await;
    assert_eq!((status, &got["presence"]), (200, &json!("unavailable")));

    let stranger = s.register("stranger").await;
    assert_eq!(
        s.call(Method::GET, path, Some(&stranger), None).await.0,
        403
    );
    assert_eq!(
        s.call(
            Method::PUT,
            path,
            Some(&bob),
            Some(json!({"presence": "online"}))
        )
        .await
        .0,
        403
    );
}

#[tokio::test]
async fn unread_counts_follow_push_rules_receipts_and_own_messages() {
    let s = TestServer::start().await;
    let (alice, bob, room) = two_in_a_room(&s).await;
    let counts = |sync: &serde_json::Value| {
        let u = &sync["rooms"]["join"][&room]["unread_notifications"];
        (
            u["notification_count"].as_u64().unwrap(),
            u["highlight_count"].as_u64().unwrap(),
        )
    };
    assert_eq!(counts(&s.sync(&bob, None, 0).await), (0, 0));

    s.send_text(&alice, &room, "u1", "hello").await;
    // An intentional mention highlights.
    let mention = format!(
        "/_matrix/client/v3/rooms/{}/send/m.room.message/u2",
        enc(&room)
    );
    let content = json!({"msgtype": "m.text", "body": "bob: look", "m.mentions": {"user_ids": ["@bob:localhost"]}});
    let (status, _) = s
        .call(Method::PUT, &mention, Some(&alice), Some(content))
        .await;
    assert_eq!(status, 200);
    let (_, last) = s.send_text(&alice, &room, "u3", "third").await;
    let sync = s.sync(&bob, None, 0).await;
    assert_eq!(counts(&sync), (3, 1), "{sync}");
    let since = sync["next_batch"].as_str().unwrap().to_owned();

    // The same counts incrementally, once a new event arrives.
    s.send_text(&alice, &room, "u4", "fourth").await;
    let sync = s.sync(&bob, Some(&since), 5_000).await;
    assert_eq!(counts(&sync), (4, 1), "{sync}");
    let since = sync["next_batch"].as_str().unwrap().to_owned();

    // Reading up to the third message leaves one unread.
    let receipt = format!(
        "/_matrix/client/v3/rooms/{}/receipt/m.read/{}",
        enc(&room),
        enc(last["event_id"].as_str().unwrap())
    );
    let (status, _) = s
        .call(Method::POST, &receipt, Some(&bob), Some(json!({})))
        .await;
    assert_eq!(status, 200);
    let sync = s.sync(&bob, Some(&since), 5_000).await;
    assert_eq!(counts(&sync), (1, 0), "{sync}");

    // Bob's own message counts as reading everything before it.
    s.send_text(&bob, &room, "b1", "reply").await;
    assert_eq!(counts(&s.sync(&bob, None, 0).await), (0, 0));

    // The sender's own messages never count for the sender.
    assert_eq!(counts(&s.sync(&alice, None, 0).await), (1, 0));
}

/// The legacy mention rules: a message naming bob (display name or user name) or "@room"
/// highlights when it carries no `m.mentions`; with `m.mentions` only those count. Turning
/// a rule off is kept when the rules are read again.
#[tokio::test]
async fn legacy_mentions_highlight_without_m_mentions() {
    let s = TestServer::start().await;
    let (alice, bob, room) = two_in_a_room(&s).await;
    let path = "/_matrix/client/v3/profile/@bob:localhost/displayname";
    let (status, _) = s
        .call(
            Method::PUT,
            path,
            Some(&bob),
            Some(json!({"displayname": "Robert"})),
        )
        .await;
    assert_eq!(status, 200);
    // Bob's own rename counts as reading everything before it.
    let highlights = |sync: &serde_json::Value| {
        let u = &sync["rooms"]["join"][&room]["unread_notifications"];
        (
            u["notification_count"].as_u64().unwrap(),
            u["highlight_count"].as_u64().unwrap(),
        )
    };
    let send = |txn: &'static str, content: serde_json::Value| {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/send/m.room.message/{txn}",
            enc(&room)
        );
        let (s, alice) = (&s, alice.clone());
        async move {
            let (status, body) = s
                .call(Method::PUT, &path, Some(&alice), Some(content))
                .await;
            assert_eq!(status, 200, "{body}");
        }
    };
    send(
        "l1",
        json!({"msgtype": "m.text", "body": "hey Robert, look"}),
    )
    .await;
    send("l2", json!({"msgtype": "m.text", "body": "is bob around?"})).await;
    send("l3", json!({"msgtype": "m.text", "body": "@room wake up"})).await;
    // An intentional-mentions sender that mentions no one: the name alone does not count.
    send(
        "l4",
        json!({"msgtype": "m.text", "body": "Robert again", "m.mentions": {}}),
    )
    .await;
    send("l5", json!({"msgtype": "m.text", "body": "nothing here"})).await;
    let sync = s.sync(&bob, None, 0).await;
    assert_eq!(highlights(&sync), (5, 3), "{sync}");

    // The rules are listed, and switching one off sticks.
    let (status, rules) = s
        .call(
            Method::GET,
            "/_matrix/client/v3/pushrules/",
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = rules["global"]["override"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rule_id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&".m.rule.contains_display_name"), "{rules}");
    assert!(ids.contains(&".m.rule.roomnotif"), "{rules}");
    assert_eq!(
        rules["global"]["content"][0]["rule_id"], ".m.rule.contains_user_name",
        "{rules}"
    );
    let path = "/_matrix/client/v3/pushrules/global/override/.m.rule.contains_display_name/enabled";
    let (status, _) = s
        .call(
            Method::PUT,
            path,
            Some(&bob),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, enabled) = s.call(Method::GET, path, Some(&bob), None).await;
    assert_eq!(enabled["enabled"], false);
    // Read up to here by sending, then one more naming him: no longer a highlight.
    s.send_text(&bob, &room, "b1", "ok").await;
    send("l6", json!({"msgtype": "m.text", "body": "Robert?"})).await;
    let sync = s.sync(&bob, None, 0).await;
    assert_eq!(highlights(&sync), (1, 0), "{sync}");
}

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::harness::{TestServer, enc, timeline_bodies};

#[tokio::test]
async fn create_invite_join_send_and_sync() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let bob = s.register("bob").await;

    let room = s
        .create_room(&alice, json!({"name": "Lobby", "preset": "private_chat"}))
        .await;
    let bob_initial = s.sync(&bob, None, 0).await;
    assert!(bob_initial["rooms"]["invite"].get(&room).is_none());
    let bob_since = bob_initial["next_batch"].as_str().unwrap().to_owned();

    // Bob cannot join an invite-only room uninvited, nor send into it.
    let join_path = format!("/_matrix/client/v3/rooms/{}/join", enc(&room));
    let (status, body) = s
        .call(Method::POST, &join_path, Some(&bob), Some(json!({})))
        .await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (403, Some("M_FORBIDDEN")),
        "{body}"
    );
    let (status, _) = s.send_text(&bob, &room, "t0", "sneaky").await;
    assert_eq!(status, 403);

    let invite_path = format!("/_matrix/client/v3/rooms/{}/invite", enc(&room));
    let (status, body) = s
        .call(
            Method::POST,
            &invite_path,
            Some(&alice),
            Some(json!({"user_id": "@bob:localhost"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // Bob's long-poll reports the invite with the room's name and the inviter.
    let sync = s.sync(&bob, Some(&bob_since), 5_000).await;
    let invite_state = sync["rooms"]["invite"][&room]["invite_state"]["events"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        invite_state
            .iter()
            .any(|e| e["type"] == "m.room.name" && e["content"]["name"] == "Lobby")
    );
    assert!(invite_state.iter().any(|e| e["type"] == "m.room.member"
        && e["state_key"] == "@bob:localhost"
        && e["sender"] == "@alice:localhost"
        && e["content"]["membership"] == "invite"));
    let bob_since = sync["next_batch"].as_str().unwrap().to_owned();

    let (status, body) = s
        .call(Method::POST, &join_path, Some(&bob), Some(json!({})))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["room_id"], room);

    // Newly joined: the room arrives with its state.
    let sync = s.sync(&bob, Some(&bob_since), 5_000).await;
    let joined = &sync["rooms"]["join"][&room];
    let none = vec![];
    let state_and_timeline: Vec<_> = joined["state"]["events"]
        .as_array()
        .unwrap_or(&none)
        .iter()
        .chain(joined["timeline"]["events"].as_array().unwrap_or(&none))
        .cloned()
        .collect();
    assert!(
        state_and_timeline
            .iter()
            .any(|e| e["type"] == "m.room.create")
    );
    assert!(
        state_and_timeline
            .iter()
            .any(|e| e["type"] == "m.room.name")
    );
    let bob_since = sync["next_batch"].as_str().unwrap().to_owned();

    // A waiting long-poll wakes promptly when alice sends.
    let waiter = {
        let (http, url, bob) = (
            s.http.clone(),
            s.url(&format!(
                "/_matrix/client/v3/sync?timeout=20000&since={bob_since}"
            )),
            bob.clone(),
        );
        tokio::spawn(async move {
            let started = Instant::now();
            let res: serde_json::Value = http
                .get(url)
                .bearer_auth(bob)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (res, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, sent) = s.send_text(&alice, &room, "txn1", "hello").await;
    assert_eq!(status, 200, "{sent}");
    let event_id = sent["event_id"].as_str().unwrap().to_owned();
    let (res, waited) = waiter.await.unwrap();
    assert!(
        waited < Duration::from_secs(10),
        "long-poll did not wake: {waited:?}"
    );
    assert_eq!(timeline_bodies(&res, &room), vec!["hello"]);
    let event = &res["rooms"]["join"][&room]["timeline"]["events"][0];
    assert_eq!(event["event_id"], event_id);
    assert_eq!(event["sender"], "@alice:localhost");
    assert!(event.get("room_id").is_none(), "sync events omit room_id");
    // The transaction ID is echoed only to the sending device.
    assert!(event["unsigned"].get("transaction_id").is_none());

    let alice_sync = s.sync(&alice, None, 0).await;
    let mine = alice_sync["rooms"]["join"][&room]["timeline"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_id"] == event_id)
        .cloned()
        .unwrap();
    assert_eq!(mine["unsigned"]["transaction_id"], "txn1");

    // Event IDs are reference hashes: `$` + 43 URL-safe base64 characters.
    assert_eq!(event_id.len(), 44);
    assert!(
        event_id[1..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
}

#[tokio::test]
async fn repeated_transaction_returns_the_same_event() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let room = s.create_room(&alice, json!({})).await;
    let (_, first) = s.send_text(&alice, &room, "same", "once").await;
    let (_, second) = s.send_text(&alice, &room, "same", "once").await;
    assert_eq!(first["event_id"], second["event_id"]);
    let sync = s.sync(&alice, None, 0).await;
    assert_eq!(timeline_bodies(&sync, &room), vec!["once"]);
}

#[tokio::test]
async fn empty_long_poll_times_out_with_a_token() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let first = s.sync(&alice, None, 0).await;
    let since = first["next_batch"].as_str().unwrap();
    let started = Instant::now();
    let again = s.sync(&alice, Some(since), 300).await;
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert_eq!(again["next_batch"], first["next_batch"]);
    assert!(
        again["rooms"]["join"]
            .as_object()
            .is_none_or(|m| m.is_empty())
    );

    let (status, body) = s
        .call(
            Method::GET,
            "/_matrix/client/v3/sync?since=garbage",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (400, Some("M_INVALID_PARAM"))
    );
}

#[tokio::test]
async fn incremental_sync_delivers_every_event_once_in_order_under_concurrent_senders() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let room = s
        .create_room(&alice, json!({"preset": "public_chat"}))
        .await;
    let mut senders = Vec::new();
    for name in ["s1", "s2", "s3"] {
        let token = s.register(name).await;
        let path = format!("/_matrix/client/v3/rooms/{}/join", enc(&room));
        let (status, _) = s
            .call(Method::POST, &path, Some(&token), Some(json!({})))
            .await;
        assert_eq!(status, 200);
        senders.push((name, token));
    }
    let mut since = s.sync(&alice, None, 0).await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();

    const PER_SENDER: usize = 30;
    let mut tasks = Vec::new();
    for (name, token) in senders {
        let (http, base, room) = (s.http.clone(), s.base.clone(), room.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..PER_SENDER {
                let url = format!(
                    "{base}/_matrix/client/v3/rooms/{}/send/m.room.message/t{i}",
                    enc(&room)
                );
                let res = http
                    .put(url)
                    .bearer_auth(&token)
                    .json(&json!({"msgtype": "m.text", "body": format!("{name}-{i}")}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 200);
            }
        }));
    }

    let mut seen: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < 3 * PER_SENDER && Instant::now() < deadline {
        let res = s.sync(&alice, Some(&since), 5_000).await;
        // A limited timeline would mean a gap this test has to fetch; the
        // default limit is small, so ask again with a large one if so.
        assert_ne!(
            res["rooms"]["join"][&room]["timeline"]["limited"], true,
            "gap in incremental sync"
        );
        seen.extend(timeline_bodies(&res, &room));
        since = res["next_batch"].as_str().unwrap().to_owned();
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        seen.len(),
        3 * PER_SENDER,
        "missing or duplicated events: {seen:?}"
    );
    for name in ["s1", "s2", "s3"] {
        let mine: Vec<_> = seen
            .iter()
            .filter(|b| b.starts_with(&format!("{name}-")))
            .cloned()
            .collect();
        let expected: Vec<_> = (0..PER_SENDER).map(|i| format!("{name}-{i}")).collect();
        assert_eq!(mine, expected, "per-sender order");
    }
}

#[tokio::test]
async fn oversized_events_and_bodies_are_refused_whole() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let room = s.create_room(&alice, json!({})).await;
    // Over the 64 KiB PDU limit once signed.
    let (status, body) = s.send_text(&alice, &room, "big", &"x".repeat(70_000)).await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (413, Some("M_TOO_LARGE")),
        "{body}"
    );
    // Over the request body limit.
    let (status, body) = s
        .send_text(&alice, &room, "huge", &"x".repeat(2_000_000))
        .await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (413, Some("M_TOO_LARGE")),
        "{body}"
    );
    // Nothing half-stored: the room still takes ordinary messages, and the
    // refused ones never show up.
    let (status, _) = s.send_text(&alice, &room, "ok", "fine").await;
    assert_eq!(status, 200);
    let sync = s.sync(&alice, None, 0).await;
    assert_eq!(timeline_bodies(&sync, &room), vec!["fine"]);
}

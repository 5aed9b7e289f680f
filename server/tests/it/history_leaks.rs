//! Attacks on history visibility: `/sync` and `/messages` must show a user
//! exactly what the room's `m.room.history_visibility` lets them see, up to
//! their read horizon (their leave, if they left).

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{TestServer, enc};

/// Every `m.room.message` body anywhere in a sync response's room entry
/// (joined or left), timeline and state alike.
fn bodies_in(sync: &Value, section: &str, room: &str) -> Vec<String> {
    let entry = &sync["rooms"][section][room];
    let mut out = Vec::new();
    for part in ["timeline", "state"] {
        for e in entry[part]["events"].as_array().into_iter().flatten() {
            if let Some(body) = e["content"]["body"].as_str() {
                out.push(body.to_owned());
            }
        }
    }
    out
}

async fn sync_filtered(s: &TestServer, token: &str, since: Option<&str>, filter: &Value) -> Value {
    let mut path = format!(
        "/_matrix/client/v3/sync?timeout=0&filter={}",
        enc(&filter.to_string())
    );
    if let Some(since) = since {
        path.push_str(&format!("&since={since}"));
    }
    let (status, res) = s.call(Method::GET, &path, Some(token), None).await;
    assert_eq!(status, 200, "{res}");
    res
}

fn include_leave() -> Value {
    json!({ "room": { "include_leave": true } })
}

async fn set_visibility(s: &TestServer, token: &str, room: &str, visibility: &str) {
    let path = format!(
        "/_matrix/client/v3/rooms/{}/state/m.room.history_visibility/",
        enc(room)
    );
    let (status, body) = s
        .call(
            Method::PUT,
            &path,
            Some(token),
            Some(json!({ "history_visibility": visibility })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn join(s: &TestServer, token: &str, room: &str) {
    let path = format!("/_matrix/client/v3/rooms/{}/join", enc(room));
    let (status, body) = s
        .call(Method::POST, &path, Some(token), Some(json!({})))
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn leave(s: &TestServer, token: &str, room: &str) {
    let path = format!("/_matrix/client/v3/rooms/{}/leave", enc(room));
    let (status, body) = s
        .call(Method::POST, &path, Some(token), Some(json!({})))
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn invite(s: &TestServer, token: &str, room: &str, user: &str) {
    let path = format!("/_matrix/client/v3/rooms/{}/invite", enc(room));
    let (status, body) = s
        .call(
            Method::POST,
            &path,
            Some(token),
            Some(json!({ "user_id": user })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// A public room whose history only members at the time may read, with a
/// secret sent before eve arrives.
async fn joined_only_room(s: &TestServer, alice: &str) -> String {
    let room = s
        .create_room(alice, json!({ "preset": "public_chat" }))
        .await;
    set_visibility(s, alice, &room, "joined").await;
    s.send_text(alice, &room, "secret", "secret before eve")
        .await;
    room
}

#[tokio::test]
async fn joining_a_joined_visibility_room_does_not_reveal_earlier_history_in_initial_sync() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let eve = s.register("eve").await;
    let room = joined_only_room(&s, &alice).await;
    join(&s, &eve, &room).await;
    s.send_text(&alice, &room, "after", "after eve joined")
        .await;

    let sync = s.sync(&eve, None, 0).await;
    assert_eq!(bodies_in(&sync, "join", &room), vec!["after eve joined"]);
    // The timeline has no holes: it starts at her join, and what came
    // before (the room's creation, visible as it was `shared` then) is
    // history to page back to.
    let entry = &sync["rooms"]["join"][&room];
    assert_eq!(
        entry["timeline"]["events"][0]["state_key"], "@eve:localhost",
        "{entry}"
    );
    assert_eq!(entry["timeline"]["limited"], true);
    let prev_batch = entry["timeline"]["prev_batch"].as_str().unwrap();
    let path = format!(
        "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=100&from={prev_batch}",
        enc(&room)
    );
    let (status, page) = s.call(Method::GET, &path, Some(&eve), None).await;
    assert_eq!(status, 200, "{page}");
    let chunk = page["chunk"].as_array().unwrap();
    assert_eq!(chunk.last().unwrap()["type"], "m.room.create");
    assert!(
        chunk
            .iter()
            .all(|e| e["content"]["body"] != "secret before eve"),
        "{page}"
    );
}

#[tokio::test]
async fn state_changed_while_history_was_hidden_still_reaches_a_new_member() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let eve = s.register("eve").await;
    let room = joined_only_room(&s, &alice).await;
    // Encryption and a new name arrive while eve cannot see the history.
    for (kind, content) in [
        (
            "m.room.encryption",
            json!({ "algorithm": "m.megolm.v1.aes-sha2" }),
        ),
        ("m.room.name", json!({ "name": "Renamed in private" })),
    ] {
        let path = format!("/_matrix/client/v3/rooms/{}/state/{kind}/", enc(&room));
        assert_eq!(
            s.call(Method::PUT, &path, Some(&alice), Some(content))
                .await
                .0,
            200
        );
    }
    let before = s.sync(&eve, None, 0).await;
    let since = before["next_batch"].as_str().unwrap().to_owned();
    join(&s, &eve, &room).await;

    for sync in [
        s.sync(&eve, None, 0).await,
        s.sync(&eve, Some(&since), 0).await,
    ] {
        let entry = &sync["rooms"]["join"][&room];
        let mut all: Vec<Value> = entry["state"]["events"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        all.extend(
            entry["timeline"]["events"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        );
        assert!(
            all.iter().any(|e| e["type"] == "m.room.encryption"),
            "{entry}"
        );
        assert!(all.iter().any(|e| e["type"] == "m.room.name" && e["content"]["name"] == "Renamed in private"), "{entry}");
        assert!(all.iter().any(|e| e["type"] == "m.room.history_visibility"
            && e["content"]["history_visibility"] == "joined"));
        assert!(!bodies_in(&sync, "join", &room).contains(&"secret before eve".to_owned()));
    }
}

#[tokio::test]
async fn forgetting_a_room_does_not_widen_what_messages_shows() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let eve = s.register("eve").await;
    let room = s
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    join(&s, &eve, &room).await;
    s.send_text(&alice, &room, "t1", "while eve was in").await;
    leave(&s, &eve, &room).await;
    let (status, _) = s
        .call(
            Method::POST,
            &format!("/_matrix/client/v3/rooms/{}/forget", enc(&room)),
            Some(&eve),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200);
    s.send_text(&alice, &room, "t2", "after eve left").await;
    let member = format!(
        "/_matrix/client/v3/rooms/{}/state/m.room.member/{}",
        enc(&room),
        enc("@alice:localhost")
    );
    let renamed = json!({ "membership": "join", "displayname": "Alice after eve left" });
    assert_eq!(
        s.call(Method::PUT, &member, Some(&alice), Some(renamed))
            .await
            .0,
        200
    );

    let messages = format!(
        "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=50",
        enc(&room)
    );
    let (status, page) = s.call(Method::GET, &messages, Some(&eve), None).await;
    assert_eq!(status, 200, "{page}");
    let chunk = page["chunk"].as_array().unwrap();
    assert!(
        chunk
            .iter()
            .all(|e| e["content"]["body"] != "after eve left"),
        "{page}"
    );
    assert!(
        chunk
            .iter()
            .any(|e| e["content"]["body"] == "while eve was in"),
        "{page}"
    );
    for e in page["state"].as_array().into_iter().flatten() {
        assert_ne!(e["content"]["displayname"], "Alice after eve left", "{e}");
    }
}

#[tokio::test]
async fn a_former_member_declining_a_new_invite_learns_nothing_of_the_room_since() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let eve = s.register("eve").await;
    let room = s
        .create_room(&alice, json!({ "preset": "private_chat" }))
        .await;
    invite(&s, &alice, &room, "@eve:localhost").await;
    join(&s, &eve, &room).await;
    leave(&s, &eve, &room).await;
    let topic = format!(
        "/_matrix/client/v3/rooms/{}/state/m.room.topic/",
        enc(&room)
    );
    assert_eq!(
        s.call(
            Method::PUT,
            &topic,
            Some(&alice),
            Some(json!({ "topic": "secret plans" }))
        )
        .await
        .0,
        200
    );
    s.send_text(&alice, &room, "t1", "said after eve left")
        .await;
    invite(&s, &alice, &room, "@eve:localhost").await;
    leave(&s, &eve, &room).await;

    let filter = json!({ "room": { "include_leave": true, "timeline": { "limit": 1 } } });
    let sync = sync_filtered(&s, &eve, None, &filter).await;
    let entry = &sync["rooms"]["leave"][&room];
    assert!(!entry.to_string().contains("secret plans"), "{entry}");
    assert!(
        !entry.to_string().contains("said after eve left"),
        "{entry}"
    );
}

#[tokio::test]
async fn joining_a_joined_visibility_room_does_not_reveal_earlier_history_in_incremental_sync() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let eve = s.register("eve").await;
    let room = joined_only_room(&s, &alice).await;
    let before = s.sync(&eve, None, 0).await;
    let since = before["next_batch"].as_str().unwrap().to_owned();
    join(&s, &eve, &room).await;
    s.send_text(&alice, &room, "after", "after eve joined")
        .await;

    let sync = s.sync(&eve, Some(&since), 0).await;
    assert_eq!(bodies_in(&sync, "join", &room), vec!["after eve joined"]);
    let timeline = sync["rooms"]["join"][&room]["timeline"]["events"]
        .as_array()
        .unwrap();
    assert!(
        timeline
            .iter()
            .any(|e| e["type"] == "m.room.member" && e["state_key"] == "@eve:localhost")
    );
}

#[tokio::test]
async fn include_leave_does_not_reveal_history_from_before_a_left_kicked_or_banned_user_joined() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let mut users = Vec::new();
    for name in ["eve", "kate", "bert"] {
        users.push((name, s.register(name).await));
    }
    let room = joined_only_room(&s, &alice).await;
    for (_, token) in &users {
        join(&s, token, &room).await;
    }
    s.send_text(&alice, &room, "while", "while they were in")
        .await;
    leave(&s, &users[0].1, &room).await;
    let kick = format!("/_matrix/client/v3/rooms/{}/kick", enc(&room));
    let (status, _) = s
        .call(
            Method::POST,
            &kick,
            Some(&alice),
            Some(json!({ "user_id": "@kate:localhost" })),
        )
        .await;
    assert_eq!(status, 200);
    let ban = format!("/_matrix/client/v3/rooms/{}/ban", enc(&room));
    let (status, _) = s
        .call(
            Method::POST,
            &ban,
            Some(&alice),
            Some(json!({ "user_id": "@bert:localhost" })),
        )
        .await;
    assert_eq!(status, 200);
    s.send_text(&alice, &room, "later", "after they were gone")
        .await;

    for (name, token) in &users {
        let sync = sync_filtered(&s, token, None, &include_leave()).await;
        assert_eq!(
            bodies_in(&sync, "leave", &room),
            vec!["while they were in"],
            "{name}"
        );
        let timeline = sync["rooms"]["leave"][&room]["timeline"]["events"]
            .as_array()
            .unwrap();
        let last = timeline.last().unwrap();
        assert_eq!(
            last["state_key"],
            format!("@{name}:localhost"),
            "{name}'s own leave ends the timeline"
        );
    }
}

#[tokio::test]
async fn a_declined_invite_does_not_reveal_the_rooms_history() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let eve = s.register("eve").await;
    // A private chat, default visibility (`shared`): members may read it all,
    // but eve never joins.
    let room = s
        .create_room(&alice, json!({ "preset": "private_chat" }))
        .await;
    s.send_text(&alice, &room, "secret", "private before the invite")
        .await;
    invite(&s, &alice, &room, "@eve:localhost").await;
    s.send_text(&alice, &room, "secret2", "private after the invite")
        .await;
    leave(&s, &eve, &room).await;

    for since in [None, Some("s0")] {
        let sync = sync_filtered(&s, &eve, since, &include_leave()).await;
        assert_eq!(
            bodies_in(&sync, "leave", &room),
            Vec::<String>::new(),
            "since {since:?}: {sync}"
        );
        let timeline = sync["rooms"]["leave"][&room]["timeline"]["events"]
            .as_array()
            .unwrap();
        assert!(
            timeline.iter().all(|e| e["state_key"] == "@eve:localhost"),
            "since {since:?}: only eve's own membership events, got {timeline:?}"
        );
        let state = sync["rooms"]["leave"][&room]["state"]["events"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            state.iter().all(|e| e["state_key"] == "@eve:localhost"),
            "{state:?}"
        );
    }
}

#[tokio::test]
async fn knocking_and_withdrawing_does_not_reveal_a_knock_room() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let eve = s.register("eve").await;
    let room = s
        .create_room(&alice, json!({ "preset": "private_chat" }))
        .await;
    let rules = format!(
        "/_matrix/client/v3/rooms/{}/state/m.room.join_rules/",
        enc(&room)
    );
    let (status, _) = s
        .call(
            Method::PUT,
            &rules,
            Some(&alice),
            Some(json!({ "join_rule": "knock" })),
        )
        .await;
    assert_eq!(status, 200);
    for i in 0..5 {
        s.send_text(
            &alice,
            &room,
            &format!("t{i}"),
            &format!("members only {i}"),
        )
        .await;
    }

    let knock = format!(
        "/_matrix/client/v3/rooms/{}/state/m.room.member/{}",
        enc(&room),
        enc("@eve:localhost")
    );
    let (status, body) = s
        .call(
            Method::PUT,
            &knock,
            Some(&eve),
            Some(json!({ "membership": "knock" })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    leave(&s, &eve, &room).await;

    let sync = sync_filtered(&s, &eve, None, &include_leave()).await;
    assert_eq!(
        bodies_in(&sync, "leave", &room),
        Vec::<String>::new(),
        "{sync}"
    );
    let timeline = sync["rooms"]["leave"][&room]["timeline"]["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        timeline.iter().all(|e| e["state_key"] == "@eve:localhost"),
        "{timeline:?}"
    );

    let messages = format!(
        "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=100",
        enc(&room)
    );
    let (status, page) = s.call(Method::GET, &messages, Some(&eve), None).await;
    let leaked: Vec<&Value> = page["chunk"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["type"] == "m.room.message")
        .collect();
    assert!(status == 403 || leaked.is_empty(), "{status} {page}");
}

#[tokio::test]
async fn messages_after_leaving_shows_members_as_they_were_at_the_leave() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let eve = s.register("eve").await;
    let room = s
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    join(&s, &eve, &room).await;
    s.send_text(&alice, &room, "t1", "hello eve").await;
    leave(&s, &eve, &room).await;
    // After eve left, alice changes her room profile: eve must not learn it.
    let member = format!(
        "/_matrix/client/v3/rooms/{}/state/m.room.member/{}",
        enc(&room),
        enc("@alice:localhost")
    );
    let (status, _) = s
        .call(
            Method::PUT,
            &member,
            Some(&alice),
            Some(json!({ "membership": "join", "displayname": "Alice after eve left" })),
        )
        .await;
    assert_eq!(status, 200);

    let messages = format!(
        "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=10&filter={}",
        enc(&room),
        enc(&json!({ "lazy_load_members": true }).to_string())
    );
    let (status, page) = s.call(Method::GET, &messages, Some(&eve), None).await;
    assert_eq!(status, 200, "{page}");
    let state = page["state"].as_array().cloned().unwrap_or_default();
    assert!(
        state.iter().any(|e| e["state_key"] == "@alice:localhost"),
        "alice's member event is sent: {state:?}"
    );
    for e in &state {
        assert_ne!(
            e["content"]["displayname"], "Alice after eve left",
            "a member event from after eve left: {e}"
        );
    }
}

#[tokio::test]
async fn receipts_do_not_name_events_a_new_member_cannot_see() {
    let s = TestServer::start().await;
    let alice = s.register("alice").await;
    let bob = s.register("bob").await;
    let eve = s.register("eve").await;
    let room = s
        .create_room(&alice, json!({ "preset": "public_chat" }))
        .await;
    join(&s, &bob, &room).await;
    set_visibility(&s, &alice, &room, "joined").await;
    let (_, sent) = s
        .send_text(&alice, &room, "secret", "secret before eve")
        .await;
    let secret = sent["event_id"].as_str().unwrap().to_owned();
    let receipt = format!(
        "/_matrix/client/v3/rooms/{}/receipt/m.read/{}",
        enc(&room),
        enc(&secret)
    );
    assert_eq!(
        s.call(Method::POST, &receipt, Some(&bob), Some(json!({})))
            .await
            .0,
        200
    );
    join(&s, &eve, &room).await;

    let sync = s.sync(&eve, None, 0).await;
    let entry = &sync["rooms"]["join"][&room];
    assert!(entry.is_object(), "{sync}");
    assert!(
        !entry["ephemeral"].to_string().contains(&secret),
        "{}",
        entry["ephemeral"]
    );

    // Receipts on what eve may see still reach her.
    let (_, sent) = s
        .send_text(&alice, &room, "after", "after eve joined")
        .await;
    let after = sent["event_id"].as_str().unwrap().to_owned();
    let receipt = format!(
        "/_matrix/client/v3/rooms/{}/receipt/m.read/{}",
        enc(&room),
        enc(&after)
    );
    assert_eq!(
        s.call(Method::POST, &receipt, Some(&bob), Some(json!({})))
            .await
            .0,
        200
    );
    let sync = s.sync(&eve, None, 0).await;
    assert!(
        sync["rooms"]["join"][&room]["ephemeral"]
            .to_string()
            .contains(&after)
    );
}

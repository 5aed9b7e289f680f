//! Tests of the room list as the engine builds it: each row's preview, picture and time,
//! and the order of the rows (most recently active first, as Element orders them).

use ruma::{MilliSecondsSinceUnixEpoch, OwnedRoomId, UInt, owned_room_id};
use serde_json::{Value, json};

use super::{Draft, Engine, RoomEntry};

fn ts(ms: u32) -> MilliSecondsSinceUnixEpoch {
    MilliSecondsSinceUnixEpoch(UInt::from(ms))
}

fn sync(engine: &mut Engine, body: Value) {
    let bytes = serde_json::to_vec(&body).unwrap();
    engine
        .handle_sync_response(
            http::Response::builder()
                .status(200)
                .body(&bytes[..])
                .unwrap(),
        )
        .unwrap();
}

/// One sync with `events` in the timeline of `room`.
fn timeline(engine: &mut Engine, room: &str, events: Vec<Value>) {
    sync(
        engine,
        json!({"next_batch": "s", "rooms": {"join": {room: {"timeline": {"events": events}}}}}),
    );
}

fn member(id: &str, user: &str, membership: &str, name: &str, at: u64) -> Value {
    json!({"type": "m.room.member", "event_id": id, "sender": user, "state_key": user, "origin_server_ts": at,
           "content": {"membership": membership, "displayname": name}})
}

fn text(id: &str, sender: &str, body: &str, at: u64) -> Value {
    json!({"type": "m.room.message", "event_id": id, "sender": sender, "origin_server_ts": at,
           "content": {"msgtype": "m.text", "body": body}})
}

fn reaction(id: &str, target: &str, at: u64) -> Value {
    json!({"type": "m.reaction", "event_id": id, "sender": "@alice:hs", "origin_server_ts": at,
           "content": {"m.relates_to": {"rel_type": "m.annotation", "event_id": target, "key": "👍"}}})
}

fn edit(id: &str, target: &str, body: &str, at: u64) -> Value {
    json!({"type": "m.room.message", "event_id": id, "sender": "@alice:hs", "origin_server_ts": at,
           "content": {"msgtype": "m.text", "body": format!("* {body}"),
                       "m.new_content": {"msgtype": "m.text", "body": body},
                       "m.relates_to": {"rel_type": "m.replace", "event_id": target}}})
}

fn call(id: &str, kind: &str, sender: &str, at: u64, mut content: Value) -> Value {
    content["call_id"] = json!(id);
    content["version"] = json!("1");
    content["party_id"] = json!("p");
    json!({"type": format!("m.call.{kind}"), "event_id": format!("${id}-{kind}"), "sender": sender,
           "origin_server_ts": at, "content": content})
}

/// Bob (us) and Alice in "Lobby", where Alice said something at 5.
fn lobby() -> Engine {
    let mut engine = Engine::new(super::tests::session());
    sync(
        &mut engine,
        json!({"next_batch": "s1", "rooms": {"join": {"!lobby:hs": {
            "state": {"events": [
                {"type": "m.room.name", "event_id": "$n", "sender": "@alice:hs", "state_key": "",
                 "origin_server_ts": 1, "content": {"name": "Lobby"}},
                member("$ma", "@alice:hs", "join", "Alice", 1),
            ]},
            "timeline": {"events": [member("$mb", "@bob:hs", "join", "Bob", 2), text("$1", "@alice:hs", "see you\nat   5", 5)]},
        }}}}),
    );
    engine
}

fn row(engine: &Engine, room: &str) -> RoomEntry {
    engine
        .room_entry(&OwnedRoomId::try_from(room).unwrap())
        .unwrap()
}

fn preview(engine: &Engine, room: &str) -> String {
    row(engine, room).preview.unwrap_or_default()
}

#[test]
fn the_preview_is_the_newest_message_in_one_line() {
    let mut engine = lobby();
    assert_eq!(preview(&engine, "!lobby:hs"), "Alice: see you at 5");
    assert_eq!(row(&engine, "!lobby:hs").last_active, Some(ts(5)));

    // Room changes, reactions, edits of older messages and receipts do not replace it.
    timeline(
        &mut engine,
        "!lobby:hs",
        vec![
            {
                json!({"type": "m.room.topic", "event_id": "$t", "sender": "@alice:hs", "state_key": "",
                "origin_server_ts": 6, "content": {"topic": "Plans"}})
            },
            member("$mc", "@carol:hs", "join", "Carol", 7),
            reaction("$r", "$1", 8),
        ],
    );
    assert_eq!(preview(&engine, "!lobby:hs"), "Alice: see you at 5");

    // Ours reads "You: …" from the moment it is sent.
    let _ = engine
        .send_message(
            &owned_room_id!("!lobby:hs"),
            Draft {
                text: "hi".into(),
                ..Draft::default()
            },
            "t1".into(),
            ts(20),
        )
        .unwrap();
    assert_eq!(preview(&engine, "!lobby:hs"), "You: hi");
    let mut echo = text("$hi", "@bob:hs", "hi", 21);
    echo["unsigned"] = json!({"transaction_id": "t1"});
    timeline(&mut engine, "!lobby:hs", vec![echo]);
    assert_eq!(preview(&engine, "!lobby:hs"), "You: hi");

    timeline(
        &mut engine,
        "!lobby:hs",
        vec![{
            json!({"type": "m.room.message", "event_id": "$img", "sender": "@alice:hs", "origin_server_ts": 30,
               "content": {"msgtype": "m.image", "body": "cat.png", "url": "mxc://hs/cat"}})
        }],
    );
    assert_eq!(preview(&engine, "!lobby:hs"), "Alice sent an image");

    // An edited message shows its newest text; a deleted one says so.
    timeline(
        &mut engine,
        "!lobby:hs",
        vec![
            text("$typo", "@alice:hs", "helo", 40),
            edit("$e", "$typo", "hello", 41),
        ],
    );
    assert_eq!(preview(&engine, "!lobby:hs"), "Alice: hello");
    timeline(
        &mut engine,
        "!lobby:hs",
        vec![{
            json!({"type": "m.room.redaction", "event_id": "$x", "sender": "@alice:hs", "origin_server_ts": 42,
               "redacts": "$typo", "content": {"redacts": "$typo"}})
        }],
    );
    assert_eq!(preview(&engine, "!lobby:hs"), "Message deleted");

    timeline(
        &mut engine,
        "!lobby:hs",
        vec![{
            json!({"type": "m.room.message", "event_id": "$me", "sender": "@alice:hs", "origin_server_ts": 50,
               "content": {"msgtype": "m.emote", "body": "waves"}})
        }],
    );
    assert_eq!(preview(&engine, "!lobby:hs"), "* Alice waves");

    timeline(
        &mut engine,
        "!lobby:hs",
        vec![{
            json!({"type": "m.room.encrypted", "event_id": "$enc", "sender": "@alice:hs", "origin_server_ts": 60,
               "content": {"algorithm": "m.megolm.v1.aes-sha2", "session_id": "nope"}})
        }],
    );
    assert_eq!(preview(&engine, "!lobby:hs"), "Alice: Unable to decrypt");

    // A call reads as its line in the history, in the call's own words.
    let offer =
        json!({"lifetime": 60000, "offer": {"type": "offer", "sdp": "v=0\r\nm=audio 9\r\n"}});
    timeline(
        &mut engine,
        "!lobby:hs",
        vec![
            call("c", "invite", "@alice:hs", 100_000, offer),
            call(
                "c",
                "answer",
                "@bob:hs",
                101_000,
                json!({"answer": {"type": "answer", "sdp": "x"}}),
            ),
            call("c", "hangup", "@bob:hs", 293_000, json!({})),
        ],
    );
    assert_eq!(preview(&engine, "!lobby:hs"), "Call ended · 3:12");

    // Our files read as "You sent …".
    timeline(
        &mut engine,
        "!lobby:hs",
        vec![{
            json!({"type": "m.room.message", "event_id": "$f", "sender": "@bob:hs", "origin_server_ts": 300_000,
               "content": {"msgtype": "m.file", "body": "q3.pdf", "url": "mxc://hs/q3"}})
        }],
    );
    assert_eq!(preview(&engine, "!lobby:hs"), "You sent a file");
}

#[test]
fn a_new_room_has_no_preview_until_someone_writes() {
    let mut engine = Engine::new(super::tests::session());
    sync(
        &mut engine,
        json!({"next_batch": "s1", "rooms": {"join": {"!new:hs": {"timeline": {"events": [
            {"type": "m.room.create", "event_id": "$c", "sender": "@bob:hs", "state_key": "", "origin_server_ts": 1,
             "content": {"room_version": "11"}},
            member("$mb", "@bob:hs", "join", "Bob", 2),
        ]}}}}}),
    );
    assert_eq!(row(&engine, "!new:hs").preview, None);
    assert_eq!(row(&engine, "!new:hs").last_active, Some(ts(2)));
}

#[test]
fn a_direct_chat_shows_the_other_person() {
    let mut engine = Engine::new(super::tests::session());
    sync(
        &mut engine,
        json!({"next_batch": "s1",
        "account_data": {"events": [{"type": "m.direct", "content": {"@alice:hs": ["!dm:hs"]}}]},
        "rooms": {"join": {"!dm:hs": {
            "summary": {"m.heroes": ["@alice:hs"]},
            "state": {"events": [{"type": "m.room.member", "event_id": "$ma", "sender": "@alice:hs",
                "state_key": "@alice:hs", "origin_server_ts": 1,
                "content": {"membership": "join", "displayname": "Alice", "avatar_url": "mxc://hs/alicepic"}}]},
            "timeline": {"events": [text("$1", "@alice:hs", "hello", 5)]},
        }}}}),
    );
    let dm = row(&engine, "!dm:hs");
    assert_eq!(dm.name, "Alice");
    assert_eq!(
        dm.direct_with.as_ref().map(|u| u.as_str()),
        Some("@alice:hs")
    );
    assert_eq!(dm.avatar, crate::Mxc::parse("mxc://hs/alicepic"));
    // Her messages go without her name (the row is named after her); ours keep "You".
    assert_eq!(dm.preview.as_deref(), Some("hello"));
    timeline(&mut engine, "!dm:hs", vec![text("$2", "@bob:hs", "hi", 6)]);
    assert_eq!(preview(&engine, "!dm:hs"), "You: hi");

    // A room's own picture wins over the person's.
    timeline(
        &mut engine,
        "!dm:hs",
        vec![{
            json!({"type": "m.room.avatar", "event_id": "$av", "sender": "@alice:hs", "state_key": "",
               "origin_server_ts": 7, "content": {"url": "mxc://hs/roompic"}})
        }],
    );
    assert_eq!(
        row(&engine, "!dm:hs").avatar,
        crate::Mxc::parse("mxc://hs/roompic")
    );
    // Elsewhere a person's messages carry their name, and there is no person's picture.
    let lobby = lobby();
    assert_eq!(row(&lobby, "!lobby:hs").avatar, None);
    assert_eq!(row(&lobby, "!lobby:hs").direct_with, None);
}

fn order(engine: &Engine) -> Vec<String> {
    engine
        .room_order()
        .into_iter()
        .map(|room| room.to_string())
        .collect()
}

#[test]
fn rooms_move_up_for_messages_not_for_noise() {
    let mut engine = Engine::new(super::tests::session());
    sync(
        &mut engine,
        json!({"next_batch": "s1", "rooms": {"join": {
            "!a:hs": {"timeline": {"events": [member("$ma", "@alice:hs", "join", "Alice", 1), text("$a", "@alice:hs", "a", 10)]}},
            "!b:hs": {"timeline": {"events": [text("$b", "@alice:hs", "b", 20)]}},
            "!c:hs": {"timeline": {"events": [text("$c", "@alice:hs", "c", 15)]}},
        }}}),
    );
    assert_eq!(order(&engine), ["!b:hs", "!c:hs", "!a:hs"]);
    let _ = engine.take_changes();

    // What the timeline does not show as news leaves the order alone: a reaction, an edit,
    // a deletion, a receipt, someone's new display name, someone else joining.
    timeline(
        &mut engine,
        "!a:hs",
        vec![reaction("$r", "$a", 100), edit("$e", "$a", "a!", 101)],
    );
    timeline(
        &mut engine,
        "!a:hs",
        vec![{
            json!({"type": "m.room.redaction", "event_id": "$x", "sender": "@alice:hs", "origin_server_ts": 102,
               "redacts": "$r", "content": {"redacts": "$r"}})
        }],
    );
    sync(
        &mut engine,
        json!({"next_batch": "s", "rooms": {"join": {"!a:hs": {"ephemeral": {"events": [
        {"type": "m.receipt", "content": {"$a": {"m.read": {"@alice:hs": {"ts": 103}}}}}]}}}}}),
    );
    timeline(
        &mut engine,
        "!a:hs",
        vec![member("$rename", "@alice:hs", "join", "Alice B", 104)],
    );
    timeline(
        &mut engine,
        "!a:hs",
        vec![member("$carol", "@carol:hs", "join", "Carol", 105)],
    );
    assert_eq!(order(&engine), ["!b:hs", "!c:hs", "!a:hs"]);
    assert!(!engine.take_changes().room_list, "nothing moved");

    // A message received moves its room to the top...
    timeline(
        &mut engine,
        "!c:hs",
        vec![text("$c2", "@alice:hs", "c2", 30)],
    );
    assert_eq!(order(&engine), ["!c:hs", "!b:hs", "!a:hs"]);
    assert!(engine.take_changes().room_list);
    // ...and so does a call.
    let offer =
        json!({"lifetime": 60000, "offer": {"type": "offer", "sdp": "v=0\r\nm=audio 9\r\n"}});
    timeline(
        &mut engine,
        "!a:hs",
        vec![call("k", "invite", "@alice:hs", 40, offer)],
    );
    assert_eq!(order(&engine), ["!a:hs", "!c:hs", "!b:hs"]);

    // Sending moves it at once, before the server has it.
    let _ = engine
        .send_message(
            &owned_room_id!("!b:hs"),
            Draft {
                text: "mine".into(),
                ..Draft::default()
            },
            "t".into(),
            ts(50),
        )
        .unwrap();
    assert_eq!(order(&engine)[0], "!b:hs");

    // An invite accepted comes in at the top, and stays there when its first sync brings
    // our join (stamped a moment earlier by the server's clock).
    sync(
        &mut engine,
        json!({"next_batch": "s", "rooms": {"invite": {"!new:hs": {"invite_state": {"events": [
        {"type": "m.room.name", "sender": "@alice:hs", "state_key": "", "content": {"name": "New"}}]}}}}}),
    );
    let body = serde_json::to_vec(&json!({"room_id": "!new:hs"})).unwrap();
    engine
        .handle_join_response(
            http::Response::builder()
                .status(200)
                .body(&body[..])
                .unwrap(),
            ts(60),
        )
        .unwrap();
    assert_eq!(order(&engine)[0], "!new:hs");
    timeline(
        &mut engine,
        "!new:hs",
        vec![member("$join", "@bob:hs", "join", "Bob", 58)],
    );
    assert_eq!(order(&engine)[0], "!new:hs");
    // Our own join counts where no placeholder was: joined from another device.
    timeline(
        &mut engine,
        "!other:hs",
        vec![member("$join2", "@bob:hs", "join", "Bob", 70)],
    );
    assert_eq!(order(&engine)[0], "!other:hs");
}

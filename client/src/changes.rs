//! What the engine's mutations changed, for views that update only what they show.
//!
//! Every mutation that changes what a view shows (a sync, a local echo, a send result, a
//! page of history, a redaction, a reaction, marking a room read) records it here; the
//! caller takes the record with [`crate::Engine::take_changes`] after each call and updates
//! only the views of the rooms named, only the parts flagged, and only the timeline items
//! listed.

use std::collections::BTreeMap;

use ruma::OwnedRoomId;

/// Everything that changed since the last [`crate::Engine::take_changes`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Changes {
    /// Rooms with something new, by room. A room that appeared is listed with every flag
    /// set and [`ItemDiff::Reset`].
    pub rooms: BTreeMap<OwnedRoomId, RoomChanges>,
    /// Rooms that are gone (left, kicked).
    pub removed: Vec<OwnedRoomId>,
    /// The room list's order or membership changed (activity, a room joined or left).
    pub room_list: bool,
}

impl Changes {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.rooms.is_empty() && self.removed.is_empty() && !self.room_list
    }
}

/// What changed in one room.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RoomChanges {
    /// The timeline, item by item, in the order it happened.
    pub timeline: Vec<ItemDiff>,
    /// Someone's read receipt moved.
    pub receipts: bool,
    /// Who is typing.
    pub typing: bool,
    /// The unread counts.
    pub unread: bool,
    /// Name, topic, avatar, members, power levels, encryption, or whether the timeline is
    /// loaded or reached the room's start.
    pub state: bool,
}

impl RoomChanges {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.timeline.is_empty() && !self.receipts && !self.typing && !self.unread && !self.state
    }

    /// Whether items were added, removed or moved (not only changed in place): the order of
    /// keys must be read again.
    pub fn order_changed(&self) -> bool {
        self.timeline
            .iter()
            .any(|diff| !matches!(diff, ItemDiff::Update(_)))
    }

    /// Everything, for a room that is new to the caller.
    pub fn all() -> Self {
        Self {
            timeline: vec![ItemDiff::Reset],
            receipts: true,
            typing: true,
            unread: true,
            state: true,
        }
    }
}

/// One change of a timeline. Items are named by [`crate::TimelineItem::key`], which a
/// local echo keeps when its remote echo arrives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ItemDiff {
    /// A new item at the end (a new event, or a local echo).
    PushBack(String),
    /// Older items at the front (back-pagination), oldest first.
    PushFront(Vec<String>),
    /// An item's content changed: an edit, a reaction, a redaction, its send state, its
    /// decryption, a call's later events.
    Update(String),
    /// A local echo became the server's event: its content changed, its key did not, and it
    /// now stands before any local echoes still pending.
    Confirmed(String),
    /// An item went away (an event that turned out to be a relation once decrypted, a
    /// failed local echo whose event was already received).
    Remove(String),
    /// The whole timeline started over (a gap in sync, or a new room).
    Reset,
}

#[cfg(test)]
mod tests {
    use ruma::{MilliSecondsSinceUnixEpoch, OwnedRoomId, UInt, owned_room_id};
    use serde_json::{Value, json};

    use super::*;
    use crate::{Draft, Engine};

    fn room(name: &str) -> OwnedRoomId {
        OwnedRoomId::try_from(format!("!{name}:hs")).unwrap()
    }

    fn text(id: &str, sender: &str, body: &str, at: u64) -> Value {
        json!({"type": "m.room.message", "event_id": id, "sender": sender, "origin_server_ts": at,
               "content": {"msgtype": "m.text", "body": body}})
    }

    fn sync(engine: &mut Engine, rooms: Value) {
        let bytes =
            serde_json::to_vec(&json!({"next_batch": "s", "rooms": {"join": rooms}})).unwrap();
        engine
            .handle_sync_response(
                http::Response::builder()
                    .status(200)
                    .body(&bytes[..])
                    .unwrap(),
            )
            .unwrap();
    }

    fn response(body: Value) -> Vec<u8> {
        serde_json::to_vec(&body).unwrap()
    }

    /// Bob in rooms A and B, each with one message from Alice; the changes so far taken.
    fn engine() -> Engine {
        let mut engine = Engine::new(crate::engine::tests::session());
        sync(
            &mut engine,
            json!({
                "!a:hs": {"timeline": {"events": [text("$a1", "@alice:hs", "one", 1)], "prev_batch": "p1"}},
                "!b:hs": {"timeline": {"events": [text("$b1", "@alice:hs", "one", 1)], "prev_batch": "p1"}},
            }),
        );
        let first = engine.take_changes();
        assert_eq!(first.rooms.len(), 2, "new rooms are reported whole");
        assert_eq!(first.rooms[&room("a")].timeline[0], ItemDiff::Reset);
        assert!(first.room_list);
        assert!(engine.take_changes().is_empty(), "taken means taken");
        engine
    }

    fn diffs(changes: &Changes, name: &str) -> Vec<ItemDiff> {
        changes
            .rooms
            .get(&room(name))
            .map(|c| c.timeline.clone())
            .unwrap_or_default()
    }

    #[test]
    fn a_typing_notice_reports_only_that_rooms_typing() {
        let mut engine = engine();
        sync(
            &mut engine,
            json!({"!a:hs": {"ephemeral": {"events": [
            {"type": "m.typing", "content": {"user_ids": ["@alice:hs"]}}]}}}),
        );
        let changes = engine.take_changes();
        assert_eq!(changes.rooms.len(), 1);
        let a = &changes.rooms[&room("a")];
        assert!(
            a.typing && !a.receipts && !a.unread && !a.state && a.timeline.is_empty(),
            "{a:?}"
        );
        assert!(!changes.room_list);
        // The same typing list again is no change.
        sync(
            &mut engine,
            json!({"!a:hs": {"ephemeral": {"events": [
            {"type": "m.typing", "content": {"user_ids": ["@alice:hs"]}}]}}}),
        );
        assert!(engine.take_changes().is_empty());
    }

    #[test]
    fn a_new_message_is_one_insert_and_moves_the_room_up() {
        let mut engine = engine();
        sync(
            &mut engine,
            json!({"!b:hs": {
                "timeline": {"events": [text("$b2", "@alice:hs", "two", 5)]},
                "unread_notifications": {"notification_count": 1, "highlight_count": 0},
                "ephemeral": {"events": [{"type": "m.receipt", "content": {"$b1": {"m.read": {"@alice:hs": {"ts": 4}}}}}]},
            }}),
        );
        let changes = engine.take_changes();
        assert_eq!(changes.rooms.keys().collect::<Vec<_>>(), [&room("b")]);
        assert_eq!(diffs(&changes, "b"), [ItemDiff::PushBack("$b2".into())]);
        let b = &changes.rooms[&room("b")];
        assert!(b.unread && b.receipts && !b.typing && !b.state);
        assert!(changes.room_list, "b is now the most recent room");
        assert_eq!(engine.room_order(), [room("b"), room("a")]);
        assert_eq!(engine.total_unread(), 1);
        let shown = engine.room(&room("b")).unwrap();
        assert_eq!(
            shown.item_by_key("$b2", engine.user_id()).unwrap().body,
            "two"
        );
        assert_eq!(
            shown.receipts_by_key(engine.user_id())["$b1"],
            ["@alice:hs".to_owned()]
        );
    }

    #[test]
    fn edits_reactions_and_redactions_update_their_target() {
        let mut engine = engine();
        sync(
            &mut engine,
            json!({"!a:hs": {"timeline": {"events": [
                {"type": "m.room.message", "event_id": "$e", "sender": "@alice:hs", "origin_server_ts": 2,
                 "content": {"msgtype": "m.text", "body": "* uno", "m.new_content": {"msgtype": "m.text", "body": "uno"},
                             "m.relates_to": {"rel_type": "m.replace", "event_id": "$a1"}}},
            ]}}}),
        );
        assert_eq!(
            diffs(&engine.take_changes(), "a"),
            [ItemDiff::Update("$a1".into())]
        );
        let _ = engine
            .react(
                &room("a"),
                "$a1".try_into().unwrap(),
                "👍".into(),
                "t1".into(),
            )
            .unwrap();
        assert_eq!(
            diffs(&engine.take_changes(), "a"),
            [ItemDiff::Update("$a1".into())]
        );
        assert_eq!(
            engine.own_reaction(&room("a"), &"$a1".try_into().unwrap(), "👍"),
            Some(None),
            "being sent"
        );
        let sent = response(json!({"event_id": "$r"}));
        engine
            .handle_reaction_response(
                &room("a"),
                &"t1".into(),
                Some(
                    http::Response::builder()
                        .status(200)
                        .body(&sent[..])
                        .unwrap(),
                ),
            )
            .unwrap();
        assert_eq!(
            diffs(&engine.take_changes(), "a"),
            [ItemDiff::Update("$a1".into())]
        );
        assert_eq!(
            engine.own_reaction(&room("a"), &"$a1".try_into().unwrap(), "👍"),
            Some(Some("$r".try_into().unwrap()))
        );
        // Taking the reaction back changes the message it was on.
        engine
            .redact(&room("a"), "$r".try_into().unwrap(), "t2".into())
            .unwrap();
        assert_eq!(
            diffs(&engine.take_changes(), "a"),
            [ItemDiff::Update("$a1".into())]
        );
        assert_eq!(
            engine.own_reaction(&room("a"), &"$a1".try_into().unwrap(), "👍"),
            None
        );
        sync(
            &mut engine,
            json!({"!a:hs": {"timeline": {"events": [
                {"type": "m.room.redaction", "event_id": "$x", "sender": "@alice:hs", "origin_server_ts": 3, "content": {"redacts": "$a1"}},
            ]}}}),
        );
        let changes = engine.take_changes();
        assert_eq!(diffs(&changes, "a"), [ItemDiff::Update("$a1".into())]);
        assert!(!changes.rooms.contains_key(&room("b")));
        assert_eq!(
            engine
                .room(&room("a"))
                .unwrap()
                .item_by_key("$a1", engine.user_id())
                .unwrap()
                .body,
            "Message deleted"
        );
    }

    #[test]
    fn a_remote_echo_keeps_its_local_echos_key() {
        let mut engine = engine();
        let ts = MilliSecondsSinceUnixEpoch(UInt::from(9u32));
        let draft = |text: &str| Draft {
            text: text.into(),
            ..Draft::default()
        };
        let _ = engine
            .send_message(&room("a"), draft("hi"), "t1".into(), ts)
            .unwrap();
        assert_eq!(
            diffs(&engine.take_changes(), "a"),
            [ItemDiff::PushBack("txn:t1".into())]
        );
        let sent = response(json!({"event_id": "$h"}));
        engine
            .handle_send_response(
                &room("a"),
                &"t1".into(),
                http::Response::builder()
                    .status(200)
                    .body(&sent[..])
                    .unwrap(),
            )
            .unwrap();
        assert_eq!(
            diffs(&engine.take_changes(), "a"),
            [ItemDiff::Update("txn:t1".into())]
        );
        // This server omits `transaction_id`: the event ID from the send response matches.
        sync(
            &mut engine,
            json!({"!a:hs": {"timeline": {"events": [text("$h", "@bob:hs", "hi", 10)]}}}),
        );
        assert_eq!(
            diffs(&engine.take_changes(), "a"),
            [ItemDiff::Confirmed("txn:t1".into())]
        );
        let room_a = engine.room(&room("a")).unwrap();
        assert_eq!(room_a.timeline().keys(), ["$a1", "txn:t1"]);
        assert_eq!(
            room_a
                .item_by_key("txn:t1", engine.user_id())
                .unwrap()
                .event_id
                .unwrap()
                .as_str(),
            "$h"
        );

        // One that does echo it, before the send response.
        let _ = engine
            .send_message(&room("a"), draft("again"), "t2".into(), ts)
            .unwrap();
        engine.take_changes();
        let mut echo = text("$g", "@bob:hs", "again", 11);
        echo["unsigned"] = json!({"transaction_id": "t2"});
        sync(
            &mut engine,
            json!({"!a:hs": {"timeline": {"events": [echo]}}}),
        );
        assert_eq!(
            diffs(&engine.take_changes(), "a"),
            [ItemDiff::Confirmed("txn:t2".into())]
        );
    }

    #[test]
    fn back_pagination_inserts_at_the_front_and_mark_read_clears_unread() {
        let mut engine = engine();
        let page = response(json!({"start": "p1", "end": "p2", "chunk": [
            text("$a1", "@alice:hs", "one", 1), text("$a0", "@alice:hs", "zero", 0), text("$a-1", "@alice:hs", "minus", 0)]}));
        let from = engine.back_page_request(&room("a")).unwrap().from;
        engine
            .handle_back_page(
                &room("a"),
                &from,
                http::Response::builder()
                    .status(200)
                    .body(&page[..])
                    .unwrap(),
            )
            .unwrap();
        let changes = engine.take_changes();
        assert_eq!(
            diffs(&changes, "a"),
            [ItemDiff::PushFront(vec!["$a-1".into(), "$a0".into()])]
        );
        assert!(!changes.room_list, "older history does not move the room");
        assert_eq!(
            engine.room(&room("a")).unwrap().timeline().keys(),
            ["$a-1", "$a0", "$a1"]
        );

        sync(
            &mut engine,
            json!({"!a:hs": {"unread_notifications": {"notification_count": 2, "highlight_count": 1}}}),
        );
        assert!(engine.take_changes().rooms[&room("a")].unread);
        assert!(engine.read_receipt_request(&room("a")).is_some());
        let a = engine.take_changes().rooms[&room("a")].clone();
        assert!(a.unread && a.timeline.is_empty());
        assert!(engine.read_receipt_request(&room("a")).is_none());
        assert!(engine.take_changes().is_empty(), "nothing new to read");
    }

    #[test]
    fn rooms_that_go_away_are_reported() {
        let mut engine = engine();
        let bytes =
            serde_json::to_vec(&json!({"next_batch": "s", "rooms": {"leave": {"!b:hs": {}}}}))
                .unwrap();
        engine
            .handle_sync_response(
                http::Response::builder()
                    .status(200)
                    .body(&bytes[..])
                    .unwrap(),
            )
            .unwrap();
        let changes = engine.take_changes();
        assert_eq!(changes.removed, [room("b")]);
        assert!(changes.room_list);
        let _ = owned_room_id!("!a:hs");
    }
}

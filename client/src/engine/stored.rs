//! The engine's stored state: what a reload needs to show the rooms before the network
//! answers, kept as Matrix protocol data.
//!
//! The snapshot is in effect a synthetic `/sync` response: `next_batch`, `m.direct`, and per
//! joined room its current state events, the newest whole sync batches of its timeline as
//! received (ciphertext for encrypted rooms, so the store holds no decrypted text; the
//! crypto store, restored first, decrypts them again), the window's `prev_batch`, everyone's
//! read receipts as an `m.receipt` event, unread counts and the summary; invites with their
//! stripped state. Restoring parses it with [`SyncResponse`] and applies it through the
//! normal sync path, so the room rules have one code path and the format evolves with the
//! spec's. What is not ours to restore is skipped: to-device and crypto account data (the
//! crypto store keeps those), call signals (no ringing for old invites), in-room
//! verification. The engine stays "not synced" until a real sync arrives.
//!
//! Writing and reading snapshots is reached through the [`super::CryptoDriver`], so in the
//! browser that code sits in the lazily loaded crypto chunk (always loaded before an engine
//! exists) rather than in the first page load; what rooms note as syncs arrive stays here.

use std::collections::BTreeMap;

use ruma::{EventId, OwnedRoomId, OwnedUserId, RoomId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::Engine;
use crate::{
    event::parse_json,
    room::record::STORED_EVENTS,
    sync::{RawEvent, SyncResponse},
};

/// The snapshot format; anything else is discarded.
pub const STORED_VERSION: u32 = 1;
/// Rooms stored with a full window, most recently active first. Every other room is
/// stored too (the next sync continues from the stored token, so a room left out would
/// never come back whole: an incremental sync sends an unchanged room nothing, and a
/// changed one no `m.room.encryption`), but with only its newest sync batch.
const STORED_ROOMS: usize = 300;

/// Why a stored snapshot was not restored (the caller discards it and syncs from scratch).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoredError {
    /// Not JSON of the snapshot's shape.
    #[error("the stored state is unreadable ({0})")]
    Corrupt(String),
    /// Written by another version of the format.
    #[error("the stored state has version {0}, not {STORED_VERSION}")]
    Version(u32),
    /// Written for another account.
    #[error("the stored state belongs to another account")]
    OtherUser,
}

/// What the engine keeps of sync data that rooms do not hold.
#[derive(Clone, Debug, Default)]
pub(crate) struct EngineRecord {
    /// Stripped state of the invites, as received.
    invites: BTreeMap<OwnedRoomId, Vec<RawEvent>>,
}

impl EngineRecord {
    pub(crate) fn note_invite(&mut self, room_id: &RoomId, invite_state: &[RawEvent]) {
        self.invites
            .insert(room_id.to_owned(), invite_state.to_vec());
    }

    /// Forgets the stripped state of invites that are gone.
    pub(crate) fn retain_invites(&mut self, mut keep: impl FnMut(&RoomId) -> bool) {
        self.invites.retain(|room_id, _| keep(room_id));
    }
}

#[derive(Serialize)]
struct SnapshotOut<'a> {
    version: u32,
    user_id: &'a UserId,
    sync: SyncOut<'a>,
}

#[derive(Serialize)]
struct SyncOut<'a> {
    next_batch: &'a str,
    account_data: EventsOut<'a>,
    rooms: RoomsOut<'a>,
}

#[derive(Serialize)]
struct EventsOut<'a> {
    events: Vec<&'a RawValue>,
}

#[derive(Serialize)]
struct RoomsOut<'a> {
    join: BTreeMap<&'a RoomId, JoinedOut<'a>>,
    invite: BTreeMap<&'a RoomId, InvitedOut<'a>>,
}

#[derive(Serialize)]
struct InvitedOut<'a> {
    invite_state: EventsOut<'a>,
}

#[derive(Serialize)]
struct JoinedOut<'a> {
    summary: SummaryOut<'a>,
    state: EventsOut<'a>,
    timeline: TimelineOut<'a>,
    ephemeral: OwnedEventsOut,
    unread_notifications: UnreadOut,
}

#[derive(Serialize)]
struct SummaryOut<'a> {
    #[serde(rename = "m.heroes")]
    heroes: &'a [OwnedUserId],
    #[serde(
        rename = "m.joined_member_count",
        skip_serializing_if = "Option::is_none"
    )]
    joined_member_count: Option<u64>,
}

#[derive(Serialize)]
struct TimelineOut<'a> {
    events: Vec<&'a RawValue>,
    limited: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    prev_batch: Option<&'a str>,
}

#[derive(Serialize)]
struct OwnedEventsOut {
    events: Vec<RawEvent>,
}

#[derive(Serialize)]
struct UnreadOut {
    notification_count: u64,
    highlight_count: u64,
}

/// `m.receipt` content: event → receipt type → user → receipt.
type ReceiptOut<'a> = BTreeMap<&'a EventId, BTreeMap<&'static str, BTreeMap<&'a UserId, Empty>>>;

#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
struct ReceiptEvent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    content: ReceiptOut<'a>,
}

#[derive(Deserialize)]
struct SnapshotIn {
    version: u32,
}

#[derive(Deserialize)]
struct SnapshotBody {
    user_id: OwnedUserId,
    sync: SyncResponse,
}

impl Engine {
    /// The state to store, or `None` before the first sync (nothing worth keeping yet).
    /// Bounded: the [`STORED_ROOMS`] most recently active rooms with the newest whole sync
    /// batches up to [`STORED_EVENTS`] events, the others with their newest batch. Every
    /// room keeps all the state it has: with lazy-loaded members a server does not send a
    /// member event again to a device it already sent it to, so one left out would show as
    /// a bare user ID for good.
    pub fn stored_state(&self) -> Option<String> {
        self.driver.stored_state(self)
    }

    pub(super) fn stored_state_impl(&self) -> Option<String> {
        let next_batch = self.next_batch.as_deref()?;
        let own = self.user_id();
        let direct = serde_json::value::to_raw_value(&DirectEvent {
            kind: "m.direct",
            content: &self.direct,
        })
        .ok();
        let mut rooms: Vec<_> = self
            .rooms
            .values()
            .filter(|room| room.is_loaded())
            .collect();
        rooms.sort_by_key(|room| std::cmp::Reverse(room.last_activity()));
        let join = rooms
            .into_iter()
            .enumerate()
            .map(|(rank, room)| {
                let record = room.record();
                let (prev_batch, events) = record.window(if rank < STORED_ROOMS {
                    STORED_EVENTS
                } else {
                    0
                });
                let state = record.state.values().map(AsRef::as_ref).collect();
                let mut receipts = ReceiptOut::new();
                for (user, event_id) in room.receipts() {
                    receipts
                        .entry(event_id)
                        .or_default()
                        .entry("m.read")
                        .or_default()
                        .insert(user, Empty {});
                }
                let receipt = serde_json::value::to_raw_value(&ReceiptEvent {
                    kind: "m.receipt",
                    content: receipts,
                });
                let unread = room.unread();
                let joined = JoinedOut {
                    summary: SummaryOut {
                        heroes: room.heroes(),
                        joined_member_count: room.joined_members(),
                    },
                    state: EventsOut { events: state },
                    timeline: TimelineOut {
                        events,
                        limited: false,
                        prev_batch,
                    },
                    ephemeral: OwnedEventsOut {
                        events: receipt.into_iter().collect(),
                    },
                    unread_notifications: UnreadOut {
                        notification_count: unread.notification_count,
                        highlight_count: unread.highlight_count,
                    },
                };
                (room.room_id().as_ref(), joined)
            })
            .collect();
        let invite = self
            .invites
            .keys()
            .filter_map(|room_id| {
                let events = self.record.invites.get(room_id)?;
                Some((
                    room_id.as_ref(),
                    InvitedOut {
                        invite_state: EventsOut {
                            events: events.iter().map(AsRef::as_ref).collect(),
                        },
                    },
                ))
            })
            .collect();
        let snapshot = SnapshotOut {
            version: STORED_VERSION,
            user_id: own,
            sync: SyncOut {
                next_batch,
                account_data: EventsOut {
                    events: direct.as_deref().into_iter().collect(),
                },
                rooms: RoomsOut { join, invite },
            },
        };
        serde_json::to_string(&snapshot).ok()
    }

    /// Restores a snapshot from [`Self::stored_state`] into a new engine (its crypto state
    /// restored first, so encrypted events decrypt). Its rooms show at once; the next
    /// `/sync` continues from the stored token, and [`Self::has_synced`] stays false until a
    /// real sync arrives. An error leaves the engine as it was.
    pub fn restore_state(&mut self, stored: &str) -> Result<(), StoredError> {
        let driver = self.driver;
        driver.restore_state(self, stored)
    }

    pub(super) fn restore_state_impl(&mut self, stored: &str) -> Result<(), StoredError> {
        let header: SnapshotIn =
            parse_json(stored).map_err(|e| StoredError::Corrupt(e.to_string()))?;
        if header.version != STORED_VERSION {
            return Err(StoredError::Version(header.version));
        }
        let body: SnapshotBody =
            parse_json(stored).map_err(|e| StoredError::Corrupt(e.to_string()))?;
        if body.user_id != *self.user_id() {
            return Err(StoredError::OtherUser);
        }
        self.apply_stored(body.sync);
        Ok(())
    }
}

#[derive(Serialize)]
struct DirectEvent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    content: &'a crate::content::DirectContent,
}

#[cfg(test)]
mod tests {
    use ruma::{owned_room_id, room_id};
    use serde_json::{Value, json};

    use super::*;
    use crate::{ItemKind, Session, engine::crypto::tests as e2ee, engine::tests::session};

    fn apply_status(engine: &mut Engine, status: u16, body: &Value) -> Result<(), crate::ApiError> {
        let bytes = serde_json::to_vec(body).unwrap();
        engine.handle_sync_response(
            http::Response::builder()
                .status(status)
                .body(&bytes[..])
                .unwrap(),
        )
    }

    fn apply(engine: &mut Engine, body: Value) {
        apply_status(engine, 200, &body).unwrap();
    }

    fn member(user: &str, name: &str, at: u64) -> Value {
        json!({"type": "m.room.member", "event_id": format!("$m-{user}-{at}"), "sender": user, "state_key": user,
               "origin_server_ts": at, "content": {"membership": "join", "displayname": name}})
    }

    fn message(event_id: &str, sender: &str, body: &str, at: u64) -> Value {
        json!({"type": "m.room.message", "event_id": event_id, "sender": sender,
               "origin_server_ts": at, "content": {"msgtype": "m.text", "body": body}})
    }

    /// Two rooms (one renamed in its timeline, one a DM named after its members), receipts,
    /// unread counts, `m.direct` and an invite.
    fn initial() -> Value {
        json!({"next_batch": "s1",
        "account_data": {"events": [{"type": "m.direct", "content": {"@alice:hs": ["!dm:hs"]}}]},
        "rooms": {
            "join": {
                "!lobby:hs": {
                    "summary": {"m.joined_member_count": 3},
                    "state": {"events": [
                        {"type": "m.room.create", "event_id": "$c", "sender": "@alice:hs", "state_key": "",
                         "origin_server_ts": 1, "content": {"room_version": "11"}},
                        {"type": "m.room.name", "event_id": "$n0", "sender": "@alice:hs", "state_key": "",
                         "origin_server_ts": 2, "content": {"name": "Old name"}},
                        member("@alice:hs", "Alice", 2),
                        member("@bob:hs", "Bob", 2),
                    ]},
                    "timeline": {"events": [
                        {"type": "m.room.name", "event_id": "$n1", "sender": "@alice:hs", "state_key": "",
                         "origin_server_ts": 3, "content": {"name": "Lobby"},
                         "unsigned": {"prev_content": {"name": "Old name"}}},
                        message("$l1", "@alice:hs", "hello", 4),
                        member("@carol:hs", "Carol", 5),
                        message("$l2", "@carol:hs", "hi all", 6),
                    ], "limited": true, "prev_batch": "p-lobby"},
                    "ephemeral": {"events": [{"type": "m.receipt", "content": {
                        "$l1": {"m.read": {"@alice:hs": {"ts": 1}}},
                        "$l2": {"m.read": {"@carol:hs": {"ts": 1}}}}}]},
                    "unread_notifications": {"notification_count": 2, "highlight_count": 1},
                },
                "!dm:hs": {
                    "summary": {"m.heroes": ["@alice:hs"], "m.joined_member_count": 2},
                    "state": {"events": [member("@alice:hs", "Alice", 1), member("@bob:hs", "Bob", 1)]},
                    "timeline": {"events": [message("$d1", "@alice:hs", "psst", 9)], "prev_batch": "p-dm"},
                },
            },
            "invite": {"!party:hs": {"invite_state": {"events": [
                {"type": "m.room.name", "sender": "@dave:hs", "state_key": "", "content": {"name": "Party"}},
                {"type": "m.room.member", "sender": "@dave:hs", "state_key": "@bob:hs", "content": {"membership": "invite"}},
            ]}}},
        }})
    }

    fn bodies(engine: &Engine, room_id: &RoomId) -> Vec<String> {
        engine
            .room(room_id)
            .unwrap()
            .items(engine.user_id())
            .into_iter()
            .map(|item| item.body)
            .collect()
    }

    fn restored(stored: &str) -> Engine {
        let mut engine = Engine::new(session());
        engine.restore_state(stored).unwrap();
        engine
    }

    #[test]
    fn a_restored_engine_shows_the_same_rooms_before_any_sync() {
        let mut engine = Engine::new(session());
        assert_eq!(
            engine.stored_state(),
            None,
            "nothing to store before the first sync"
        );
        apply(&mut engine, initial());
        let stored = engine.stored_state().unwrap();
        let back = restored(&stored);

        assert_eq!(back.room_list(), engine.room_list());
        let names: Vec<_> = back
            .room_list()
            .into_iter()
            .map(|r| (r.name, r.unread, r.highlights, r.is_direct))
            .collect();
        assert_eq!(
            names,
            [
                ("Alice".to_owned(), 0, 0, true),
                ("Lobby".to_owned(), 2, 1, false)
            ]
        );
        for room in [room_id!("!lobby:hs"), room_id!("!dm:hs")] {
            assert_eq!(
                back.room(room).unwrap().items(back.user_id()),
                engine.room(room).unwrap().items(engine.user_id())
            );
        }
        assert_eq!(
            bodies(&back, room_id!("!lobby:hs")),
            [
                "Alice changed the room name to Lobby",
                "hello",
                "Carol joined the room",
                "hi all"
            ]
        );
        let lobby = back.room(room_id!("!lobby:hs")).unwrap();
        assert_eq!(
            lobby.items(back.user_id())[1]
                .read_by
                .iter()
                .map(|u| u.as_str())
                .collect::<Vec<_>>(),
            ["@alice:hs"]
        );
        assert_eq!(
            lobby.prev_batch(),
            Some("p-lobby"),
            "back-pagination continues where the window starts"
        );
        assert_eq!(back.invites(), engine.invites());
        assert_eq!(back.invites()[0].name, "Party");

        // Not synced yet: the room view must not say a room is gone, no receipt goes out,
        // and the first request continues from the stored token without long-polling.
        assert!(!back.has_synced());
        let mut back = back;
        assert!(
            back.read_receipt_request(&owned_room_id!("!lobby:hs"))
                .is_none()
        );
        let query = back
            .sync_request()
            .unwrap()
            .uri()
            .query()
            .unwrap()
            .to_owned();
        assert!(
            query.contains("since=s1") && query.contains("timeout=0"),
            "{query}"
        );
        // The stored state holds what was received, and storing again gives the same.
        assert_eq!(back.stored_state().unwrap(), stored);
    }

    #[test]
    fn an_incremental_sync_applies_on_top_of_the_restored_rooms() {
        let mut engine = Engine::new(session());
        apply(&mut engine, initial());
        let mut back = restored(&engine.stored_state().unwrap());
        apply(
            &mut back,
            json!({"next_batch": "s2", "rooms": {"join": {"!lobby:hs": {
                "timeline": {"events": [message("$l2", "@carol:hs", "hi all", 6), message("$l3", "@alice:hs", "welcome", 10)]},
                "unread_notifications": {"notification_count": 3, "highlight_count": 1},
            }}}}),
        );
        assert!(back.has_synced());
        assert_eq!(
            bodies(&back, room_id!("!lobby:hs"))[1..],
            ["hello", "Carol joined the room", "hi all", "welcome"]
        );
        assert_eq!(
            back.room_list()[0].name,
            "Lobby",
            "the newest activity is first"
        );
        assert_eq!(back.room_list()[0].unread, 3);
        assert!(
            back.sync_request()
                .unwrap()
                .uri()
                .query()
                .unwrap()
                .contains("since=s2")
        );
        // And the next snapshot carries it.
        let again = restored(&back.stored_state().unwrap());
        assert_eq!(
            bodies(&again, room_id!("!lobby:hs")).last().unwrap(),
            "welcome"
        );
    }

    #[test]
    fn a_limited_sync_after_a_restore_leaves_no_stale_gap() {
        let mut engine = Engine::new(session());
        apply(&mut engine, initial());
        let mut back = restored(&engine.stored_state().unwrap());
        apply(
            &mut back,
            json!({"next_batch": "s7", "rooms": {"join": {"!lobby:hs": {
                "timeline": {"events": [message("$l9", "@alice:hs", "much later", 90)], "limited": true, "prev_batch": "p-gap"},
            }}}}),
        );
        assert_eq!(bodies(&back, room_id!("!lobby:hs")), ["much later"]);
        assert_eq!(
            back.room(room_id!("!lobby:hs")).unwrap().prev_batch(),
            Some("p-gap")
        );
        assert_eq!(
            back.room_name(room_id!("!lobby:hs")).as_deref(),
            Some("Lobby"),
            "state survives the gap"
        );
    }

    #[test]
    fn an_old_corrupt_or_foreign_snapshot_is_refused_and_changes_nothing() {
        let mut engine = Engine::new(session());
        apply(&mut engine, initial());
        let stored = engine.stored_state().unwrap();
        let mut fresh = Engine::new(session());
        let old = stored.replacen(&format!("\"version\":{STORED_VERSION}"), "\"version\":0", 1);
        assert_eq!(fresh.restore_state(&old), Err(StoredError::Version(0)));
        assert!(matches!(
            fresh.restore_state("{\"version\":1,"),
            Err(StoredError::Corrupt(_))
        ));
        assert!(matches!(
            fresh.restore_state("[]"),
            Err(StoredError::Corrupt(_))
        ));
        assert!(matches!(
            fresh.restore_state(&stored[..stored.len() / 2]),
            Err(StoredError::Corrupt(_))
        ));
        let mut carol = Engine::new(Session {
            user_id: "@carol:hs".try_into().unwrap(),
            ..session()
        });
        assert_eq!(carol.restore_state(&stored), Err(StoredError::OtherUser));
        assert!(fresh.room_list().is_empty() && carol.room_list().is_empty());
        assert!(
            !fresh
                .sync_request()
                .unwrap()
                .uri()
                .query()
                .unwrap()
                .contains("since")
        );
    }

    #[test]
    fn a_refused_token_falls_back_to_an_initial_sync_that_replaces_the_stored_rooms() {
        let mut engine = Engine::new(session());
        apply(&mut engine, initial());
        let mut back = restored(&engine.stored_state().unwrap());
        let refused = json!({"errcode": "M_INVALID_PARAM", "error": "Invalid since token"});
        assert_eq!(apply_status(&mut back, 400, &refused), Ok(()));
        assert!(
            !back
                .sync_request()
                .unwrap()
                .uri()
                .query()
                .unwrap()
                .contains("since"),
            "an initial sync next"
        );
        assert_eq!(
            back.room_list().len(),
            2,
            "the stored rooms show until it answers"
        );
        apply(
            &mut back,
            json!({"next_batch": "t1", "rooms": {"join": {"!dm:hs": {
            "state": {"events": [member("@alice:hs", "Alice", 1), member("@bob:hs", "Bob", 1)]},
            "timeline": {"events": [message("$d1", "@alice:hs", "psst", 9)]}}}}}),
        );
        let rooms: Vec<_> = back
            .room_list()
            .into_iter()
            .map(|r| (r.name, r.is_direct))
            .collect();
        assert_eq!(
            rooms,
            [("Alice".to_owned(), false)],
            "the stored rooms, invites and m.direct are gone"
        );
        assert!(back.invites().is_empty());
        // Once live, an error is an error again.
        assert!(apply_status(&mut back, 400, &refused).is_err());
        assert!(
            back.sync_request()
                .unwrap()
                .uri()
                .query()
                .unwrap()
                .contains("since=t1")
        );
    }

    #[test]
    fn old_call_invites_do_not_ring_after_a_restore() {
        let mut engine = Engine::new(session());
        apply(&mut engine, initial());
        apply(
            &mut engine,
            json!({"next_batch": "s2", "rooms": {"join": {"!dm:hs": {"timeline": {"events": [
            {"type": "m.call.invite", "event_id": "$call", "sender": "@alice:hs", "origin_server_ts": 20,
             "content": {"call_id": "c1", "party_id": "A", "version": "1", "lifetime": 60000,
                         "offer": {"type": "offer", "sdp": "v=0"}}}]}}}}}),
        );
        assert!(engine.call_waiting());
        let back = restored(&engine.stored_state().unwrap());
        assert!(!back.call_waiting() && !back.has_call_signals());
        assert!(
            bodies(&back, room_id!("!dm:hs")).contains(&"Incoming call".to_owned()),
            "still shown in the history"
        );
    }

    #[test]
    fn the_snapshot_is_bounded_to_whole_recent_batches_and_keeps_every_member() {
        let mut engine = Engine::new(session());
        apply(&mut engine, initial());
        let mut state = Vec::new();
        for n in 0..200 {
            state.push(member(&format!("@u{n}:hs"), "U", 1));
        }
        apply(
            &mut engine,
            json!({"next_batch": "s2", "rooms": {"join": {"!lobby:hs": {"state": {"events": state}}}}}),
        );
        for batch in 0..6u64 {
            let events: Vec<Value> = (0..12u64)
                .map(|n| {
                    message(
                        &format!("$b{batch}-{n}"),
                        "@u199:hs",
                        "x",
                        100 + batch * 20 + n,
                    )
                })
                .collect();
            apply(
                &mut engine,
                json!({"next_batch": format!("s{}", batch + 3), "rooms": {"join": {"!lobby:hs": {
                "timeline": {"events": events, "prev_batch": format!("p{batch}")}}}}}),
            );
        }
        let back = restored(&engine.stored_state().unwrap());
        let lobby = back.room(room_id!("!lobby:hs")).unwrap();
        // Four whole batches of 12 fit in 50 events: the window starts at batch 2.
        assert_eq!(lobby.timeline().len(), 48);
        assert_eq!(
            lobby.items(back.user_id())[0]
                .event_id
                .as_ref()
                .unwrap()
                .as_str(),
            "$b2-0"
        );
        assert_eq!(lobby.prev_batch(), Some("p2"));
        // A lazy-loading server would not send any of the 203 member events again.
        assert!(lobby.member(ruma::user_id!("@u0:hs")).is_some());
        assert_eq!(lobby.members().len(), 203);
        assert_eq!(
            back.room_name(room_id!("!lobby:hs")).as_deref(),
            Some("Lobby")
        );
    }

    #[test]
    fn rooms_beyond_the_cap_keep_their_state_and_newest_batch() {
        let mut engine = Engine::new(session());
        apply(&mut engine, initial());
        // Newer than the rooms of `initial`, and !r0 the oldest of them: with `initial`'s
        // two, !r0 is the third room beyond the cap.
        let mut join = serde_json::Map::new();
        for n in 0..=STORED_ROOMS {
            join.insert(format!("!r{n}:hs"), json!({
                "state": {"events": [
                    {"type": "m.room.create", "event_id": format!("$c{n}"), "sender": "@alice:hs", "state_key": "",
                     "origin_server_ts": 0, "content": {"room_version": "11"}},
                    {"type": "m.room.encryption", "event_id": format!("$e{n}"), "sender": "@alice:hs", "state_key": "",
                     "origin_server_ts": 0, "content": {"algorithm": "m.megolm.v1.aes-sha2"}},
                    member("@bob:hs", "Bob", 0),
                ]},
                "timeline": {"events": [message(&format!("$old{n}"), "@alice:hs", "old", 1000 + n as u64)], "prev_batch": "p-old"},
            }));
        }
        apply(
            &mut engine,
            json!({"next_batch": "s2", "rooms": {"join": join}}),
        );
        for n in 0..=STORED_ROOMS {
            let events: Vec<Value> = (0..3u64)
                .map(|m| message(&format!("$r{n}-{m}"), "@alice:hs", "x", 1000 + n as u64))
                .collect();
            apply(
                &mut engine,
                json!({"next_batch": format!("t{n}"), "rooms": {"join": {
                format!("!r{n}:hs"): {"timeline": {"events": events, "prev_batch": format!("q{n}")}}}}}),
            );
        }
        let back = restored(&engine.stored_state().unwrap());
        assert_eq!(
            back.room_order().len(),
            STORED_ROOMS + 3,
            "no room is left out"
        );
        let last = back.room(room_id!("!r0:hs")).unwrap();
        assert!(last.is_encrypted(), "its state came along");
        // Only the newest batch, starting where that batch started.
        assert_eq!(last.timeline().len(), 3);
        assert_eq!(last.prev_batch(), Some("q0"));
        let recent = back.room(room_id!("!r1:hs")).unwrap();
        assert_eq!(
            recent.timeline().len(),
            4,
            "a recent room keeps its whole window"
        );
        assert_eq!(recent.prev_batch(), Some("p-old"));
    }

    #[test]
    fn an_encrypted_room_is_stored_as_ciphertext_and_decrypts_again() {
        let mut server = crate::crypto::fake_server::FakeServer::default();
        let (mut alice, mut bob) = e2ee::setup(&mut server);
        e2ee::say(&mut alice, "a secret for bob", "t1");
        e2ee::drive(&mut server, &mut [&mut alice]);
        let events = e2ee::sent(&server, 0);
        e2ee::sync(&mut server, &mut bob, "s2", vec![], events, true);
        assert_eq!(e2ee::item(&bob, "$ev0").body, "a secret for bob");

        let stored = bob.stored_state().unwrap();
        assert!(
            !stored.contains("a secret"),
            "no decrypted text in the state store"
        );
        assert!(stored.contains("m.megolm.v1.aes-sha2") && stored.contains("\"$ev0\""));
        let crypto = bob.crypto_changes().unwrap();
        let mut back = Engine::with_crypto(e2ee::session("@bob:hs", "BOB"), Some(&crypto)).unwrap();
        back.restore_state(&stored).unwrap();
        let item = e2ee::item(&back, "$ev0");
        assert_eq!(
            (item.kind, item.body.as_str(), item.encrypted),
            (ItemKind::Message, "a secret for bob", true)
        );
        assert!(back.room(&e2ee::room()).unwrap().is_encrypted());
    }
}

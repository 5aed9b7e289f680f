//! The engine's side of end-to-end encryption: the send queue of encrypted rooms, the
//! requests the crypto machine and that queue need ([`Engine::outgoing_requests`],
//! [`Engine::mark_request_sent`]), sync's crypto parts, and storing the crypto state
//! ([`Engine::crypto_changes`], [`Engine::with_crypto`]).
//!
//! An event for an encrypted room is queued: the engine loads the room's full member list,
//! has the machine share the room key with their devices, encrypts the event once, and hands
//! out its `PUT /rooms/{roomId}/send/m.room.encrypted/{txnId}`. A retry sends the same
//! ciphertext under the same transaction ID.

use std::collections::{BTreeMap, BTreeSet};

use ruma::{MilliSecondsSinceUnixEpoch, OwnedRoomId, OwnedTransactionId, RoomId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Engine;
use crate::{
    ApiError, HttpRequest, HttpResponse, Session,
    crypto::{
        EncryptError, KeyShare, Machine, OutgoingRequest, RequestId, SyncChanges, trust::TrustState,
    },
    event::parse_json,
    people, requests,
    timeline::SendState,
};

/// Version of the stored crypto state ([`Engine::crypto_changes`]).
const STORE_VERSION: u32 = 1;

/// What a send action gives the caller.
#[derive(Debug)]
#[must_use]
// Boxing the request would cost every caller an indirection for no gain: the value lives
// only until the caller matches on it.
#[allow(clippy::large_enum_variant)]
pub enum Outgoing {
    /// Send this request now and hand its response to the action's response handler.
    Now(HttpRequest),
    /// The event is queued for an encrypted room: its request comes out of
    /// [`Engine::outgoing_requests`] once the room key is shared, and its response goes to
    /// [`Engine::mark_request_sent`].
    Queued,
}

impl Outgoing {
    /// The request to send now, if any.
    pub fn now(self) -> Option<HttpRequest> {
        match self {
            Self::Now(request) => Some(request),
            Self::Queued => None,
        }
    }
}

/// What a queued event is, for its response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SendKind {
    /// A message with a local echo (text, media, edit, reply).
    Message,
    /// A reaction shown at once.
    Reaction,
    /// A call event: no echo.
    Call,
    /// An in-room verification event: no echo; its event ID goes to the verification.
    Verification,
}

#[derive(Debug)]
struct QueuedSend {
    room_id: OwnedRoomId,
    txn_id: OwnedTransactionId,
    event_type: String,
    content: Value,
    kind: SendKind,
    now: u64,
    /// The `m.room.encrypted` content, made once so a retry sends the same ciphertext.
    encrypted: Option<Value>,
    in_flight: bool,
    failed: bool,
}

#[derive(Debug)]
enum Pending {
    Members(OwnedRoomId),
    Send(OwnedTransactionId),
}

/// The engine's queue for encrypted rooms.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    sends: Vec<QueuedSend>,
    in_flight: BTreeMap<RequestId, Pending>,
    /// Requests ready to hand out (`/keys/changes` after a restore).
    ready: Vec<OutgoingRequest>,
    /// Rooms whose full member list we loaded.
    members_loaded: BTreeSet<OwnedRoomId>,
    counter: u64,
}

/// The stored crypto state.
#[derive(Serialize)]
struct StoredRef<'a> {
    version: u32,
    sync_token: Option<&'a str>,
    machine: &'a Machine,
    trust: &'a TrustState,
}

#[derive(Deserialize)]
struct StoredVersion {
    version: u32,
}

#[derive(Deserialize)]
struct Stored {
    sync_token: Option<String>,
    machine: Machine,
    #[serde(default)]
    trust: TrustState,
}

impl Engine {
    /// Restores an engine with its stored crypto state (from [`Self::crypto_changes`]), or a
    /// new device identity when there is none. A store that does not read, is of another
    /// version or belongs to another device is an error: the caller decides (sign out).
    pub fn with_crypto(session: Session, stored: Option<&str>) -> Result<Self, ApiError> {
        Self::with_crypto_driver(session, &super::FullCrypto, stored)
    }

    /// [`Self::with_crypto`] with the crypto code reached through `driver`.
    pub fn with_crypto_driver(
        session: Session,
        driver: &'static dyn super::CryptoDriver,
        stored: Option<&str>,
    ) -> Result<Self, ApiError> {
        let mut engine = Self::with_driver(session, driver);
        if let Some(stored) = stored {
            driver.restore(&mut engine, stored)?;
        }
        Ok(engine)
    }

    pub(super) fn restore_impl(&mut self, stored: &str) -> Result<(), ApiError> {
        let engine = self;
        let bad = |why: String| ApiError::CryptoStore(why);
        let version: StoredVersion = parse_json(stored).map_err(|e| bad(e.to_string()))?;
        if version.version != STORE_VERSION {
            return Err(bad(format!(
                "version {} is not {STORE_VERSION}",
                version.version
            )));
        }
        let stored: Stored = parse_json(stored).map_err(|e| bad(e.to_string()))?;
        if stored.machine.user_id() != engine.session.user_id
            || stored.machine.device_id() != engine.session.device_id
        {
            return Err(bad("it belongs to another device".into()));
        }
        engine.crypto = stored.machine;
        engine.trust = stored.trust;
        engine.crypto.restored(stored.sync_token);
        Ok(())
    }

    /// The whole crypto state as JSON if it changed since the last call: store it (encrypted)
    /// before the next `/sync` and before any request from [`Self::outgoing_requests`] goes
    /// out, and pass it to [`Self::with_crypto`] at the next start.
    pub fn crypto_changes(&mut self) -> Option<String> {
        self.driver.crypto_changes(self)
    }

    pub(super) fn crypto_changes_impl(&mut self) -> Option<String> {
        let trust_dirty = std::mem::take(&mut self.trust.dirty);
        if !self.crypto.take_dirty() && !trust_dirty {
            return None;
        }
        let stored = StoredRef {
            version: STORE_VERSION,
            sync_token: self.next_batch.as_deref(),
            machine: &self.crypto,
            trust: &self.trust,
        };
        serde_json::to_string(&stored).ok()
    }

    /// The crypto machine (device lists, trust).
    pub fn crypto(&self) -> &Machine {
        &self.crypto
    }

    /// Tells the engine the time; encryption needs it (key rotation, unwedging at most
    /// hourly). Send actions that take `now` call it too.
    pub fn set_now(&mut self, now: MilliSecondsSinceUnixEpoch) {
        self.crypto.set_now(now.get().into());
    }

    /// After a sync's rooms are applied: track the members of encrypted rooms, retry the
    /// events whose keys arrived, and after a restore ask which device lists changed.
    pub(super) fn after_sync_crypto(&mut self, changes: &SyncChanges, next_batch: &str) {
        // Rooms we left take their queued events and loaded member lists with them.
        let rooms = &self.rooms;
        self.queue
            .sends
            .retain(|send| rooms.contains_key(&send.room_id));
        self.queue
            .members_loaded
            .retain(|room_id| rooms.contains_key(room_id));
        for room in self.rooms.values().filter(|room| room.is_encrypted()) {
            let members = room.key_recipients();
            self.crypto
                .update_tracked_users(members.iter().map(|u| u.as_ref()));
        }
        let mut sessions: BTreeMap<&RoomId, BTreeSet<String>> = BTreeMap::new();
        for (room_id, session_id) in changes.room_keys.iter().chain(&changes.withheld) {
            sessions
                .entry(room_id)
                .or_default()
                .insert(session_id.clone());
        }
        for (room_id, sessions) in sessions {
            if let Some(room) = self.rooms.get_mut(room_id) {
                room.retry_decryption(
                    &sessions,
                    &mut super::Decryptor {
                        driver: self.driver,
                        machine: &mut self.crypto,
                    },
                );
            }
        }
        if let Some(request) = self.crypto.changes_since_restore(&self.session, next_batch) {
            self.queue.ready.push(request);
        }
        self.route_to_device();
    }

    /// Queues an event for an encrypted room.
    pub(super) fn queue_encrypted(
        &mut self,
        room_id: &RoomId,
        txn_id: OwnedTransactionId,
        event_type: &str,
        content: Value,
        kind: SendKind,
    ) -> Outgoing {
        if kind == SendKind::Message
            && let Some(room) = self.rooms.get_mut(room_id)
        {
            room.timeline_mut().mark_local_encrypted(&txn_id);
        }
        self.queue.sends.push(QueuedSend {
            room_id: room_id.to_owned(),
            txn_id,
            event_type: event_type.to_owned(),
            content,
            kind,
            now: self.crypto.now(),
            encrypted: None,
            in_flight: false,
            failed: false,
        });
        Outgoing::Queued
    }

    /// Whether `txn_id` is queued for an encrypted room.
    pub(super) fn is_queued(&self, txn_id: &OwnedTransactionId) -> bool {
        self.queue.sends.iter().any(|send| send.txn_id == *txn_id)
    }

    /// Queues a failed encrypted event again, with its ciphertext and transaction ID.
    pub(super) fn retry_queued(&mut self, txn_id: &OwnedTransactionId) -> bool {
        let Some(send) = self
            .queue
            .sends
            .iter_mut()
            .find(|send| send.txn_id == *txn_id)
        else {
            return false;
        };
        send.failed = false;
        send.in_flight = false;
        true
    }

    fn next_request_id(&mut self, kind: &str) -> RequestId {
        self.queue.counter += 1;
        RequestId(format!("{kind}-{}", self.queue.counter))
    }

    /// Everything that must be sent now: key uploads, device-list queries, one-time key
    /// claims, to-device messages (room keys, withheld notices), member lists of encrypted
    /// rooms we send to, and encrypted room events. Each is handed out once until marked
    /// with [`Self::mark_request_sent`]. Store [`Self::crypto_changes`] before sending them.
    pub fn outgoing_requests(&mut self) -> Vec<OutgoingRequest> {
        self.driver.outgoing_requests(self)
    }

    pub(super) fn outgoing_requests_impl(&mut self) -> Vec<OutgoingRequest> {
        let mut out = std::mem::take(&mut self.queue.ready);
        let rooms: BTreeSet<OwnedRoomId> = self
            .queue
            .sends
            .iter()
            .filter(|send| send.encrypted.is_none() && !send.failed)
            .map(|send| send.room_id.clone())
            .collect();
        for room_id in rooms {
            self.prepare_room(&room_id, &mut out);
        }
        self.trust_outgoing(&mut out);
        out.extend(self.crypto.outgoing_requests(&self.session));
        self.fail_unshared();
        // One send in flight per room, in queue order: the server orders a room's events
        // as they arrive, and the receiver reads them in that order (a verification's
        // `done` must not overtake its `mac`, nor a message the one before it).
        // Only each room's first send that has not failed may go.
        let mut first = BTreeSet::new();
        let ready: Vec<usize> = (0..self.queue.sends.len())
            .filter(|&i| {
                let send = &self.queue.sends[i];
                !send.failed
                    && first.insert(send.room_id.clone())
                    && send.encrypted.is_some()
                    && !send.in_flight
            })
            .collect();
        for i in ready {
            let send = &self.queue.sends[i];
            let request = requests::send_request(
                &self.session,
                &send.room_id,
                "m.room.encrypted",
                &send.txn_id,
                send.encrypted.as_ref().expect("filtered"),
            );
            let txn_id = send.txn_id.clone();
            if let Ok(request) = request {
                let id = RequestId(format!("send-{txn_id}"));
                self.queue.sends[i].in_flight = true;
                self.queue
                    .in_flight
                    .insert(id.clone(), Pending::Send(txn_id));
                out.push(OutgoingRequest { id, request });
            }
        }
        out
    }

    /// Loads the member list, shares the key and encrypts the room's queued events.
    fn prepare_room(&mut self, room_id: &RoomId, out: &mut Vec<OutgoingRequest>) {
        let Some(room) = self.rooms.get(room_id) else {
            return;
        };
        if !self.queue.members_loaded.contains(room_id) {
            let asked = self
                .queue
                .in_flight
                .values()
                .any(|p| matches!(p, Pending::Members(r) if r == room_id));
            if !asked && let Ok(request) = people::members_request(&self.session, room_id) {
                let id = self.next_request_id("members");
                self.queue
                    .in_flight
                    .insert(id.clone(), Pending::Members(room_id.to_owned()));
                out.push(OutgoingRequest { id, request });
            }
            return;
        }
        let (recipients, settings) = (room.key_recipients(), room.key_settings());
        // A used-up key is rotated by the second round.
        for _ in 0..2 {
            let now = self
                .queue
                .sends
                .iter()
                .find(|s| s.room_id == room_id && s.encrypted.is_none())
                .map_or(self.crypto.now(), |s| s.now.max(self.crypto.now()));
            if self
                .crypto
                .share_room_key(room_id, &recipients, &settings, now)
                != KeyShare::Ready
            {
                return;
            }
            let mut used_up = false;
            for send in self
                .queue
                .sends
                .iter_mut()
                .filter(|s| s.room_id == room_id && s.encrypted.is_none() && !s.failed)
            {
                match self
                    .crypto
                    .encrypt_room_event(room_id, &send.event_type, &send.content)
                {
                    Ok(encrypted) => send.encrypted = Some(encrypted),
                    Err(EncryptError::NotShared) => {
                        used_up = true;
                        break;
                    }
                }
            }
            if !used_up {
                return;
            }
        }
    }

    /// Events of rooms whose key could not be shared fail (they can be retried).
    fn fail_unshared(&mut self) {
        for room_id in self.crypto.take_share_failures() {
            let failed: Vec<(OwnedTransactionId, SendKind)> = self
                .queue
                .sends
                .iter_mut()
                .filter(|s| s.room_id == room_id && s.encrypted.is_none())
                .map(|s| {
                    s.failed = true;
                    (s.txn_id.clone(), s.kind)
                })
                .collect();
            for (txn_id, kind) in failed {
                self.send_failed(&room_id, &txn_id, kind);
            }
        }
    }

    fn send_failed(&mut self, room_id: &RoomId, txn_id: &OwnedTransactionId, kind: SendKind) {
        let Some(room) = self.rooms.get_mut(room_id) else {
            return;
        };
        match kind {
            SendKind::Message => room
                .timeline_mut()
                .set_send_state(txn_id, SendState::Failed),
            SendKind::Reaction => {
                room.timeline_mut().reaction_failed(txn_id);
                self.queue.sends.retain(|s| s.txn_id != *txn_id);
            }
            SendKind::Call => self.queue.sends.retain(|s| s.txn_id != *txn_id),
            SendKind::Verification => {
                self.queue.sends.retain(|s| s.txn_id != *txn_id);
                self.verification_sent(txn_id, None);
            }
        }
    }

    /// Takes the response to a request from [`Self::outgoing_requests`]; `None` when it got
    /// none (a network error): it is handed out again, a PUT with the same transaction ID
    /// and body. For an encrypted room event this does what the send response handlers do
    /// for plain ones (the item is sent, or failed and can be retried).
    pub fn mark_request_sent(
        &mut self,
        id: &RequestId,
        response: Option<HttpResponse<'_>>,
    ) -> Result<(), ApiError> {
        self.driver.mark_request_sent(self, id, response)
    }

    pub(super) fn mark_request_sent_impl(
        &mut self,
        id: &RequestId,
        response: Option<HttpResponse<'_>>,
    ) -> Result<(), ApiError> {
        let parsed = response.as_ref().map(|r| {
            http::Response::builder()
                .status(r.status())
                .body(*r.body())
                .expect("same parts")
        });
        if self.crypto.mark_request_sent(id, parsed)? {
            self.fail_unshared();
            return Ok(());
        }
        if let Some(result) = self.trust_mark(
            id,
            response.as_ref().map(|r| {
                http::Response::builder()
                    .status(r.status())
                    .body(*r.body())
                    .expect("same parts")
            }),
        ) {
            return result;
        }
        let Some(pending) = self.queue.in_flight.remove(id) else {
            return Err(ApiError::InvalidRequest(format!("unknown request {id}")));
        };
        match pending {
            Pending::Members(room_id) => {
                let Some(response) = response else {
                    return Ok(());
                };
                // Even a refused list counts as loaded: we share with whom we know rather
                // than ask forever.
                self.queue.members_loaded.insert(room_id.clone());
                self.handle_members_response(&room_id, response)
            }
            Pending::Send(txn_id) => {
                let Some(index) = self.queue.sends.iter().position(|s| s.txn_id == txn_id) else {
                    return Ok(());
                };
                let Some(response) = response else {
                    self.queue.sends[index].in_flight = false;
                    return Ok(());
                };
                let (room_id, kind) = (
                    self.queue.sends[index].room_id.clone(),
                    self.queue.sends[index].kind,
                );
                let result = requests::parse_send(response);
                match &result {
                    Ok(event_id) => {
                        self.queue.sends.remove(index);
                        if let Some(room) = self.rooms.get_mut(&room_id) {
                            match kind {
                                SendKind::Message => {
                                    room.timeline_mut().mark_sent(&txn_id, event_id.clone())
                                }
                                SendKind::Reaction => {
                                    room.timeline_mut().reaction_sent(&txn_id, event_id.clone())
                                }
                                SendKind::Call => {}
                                SendKind::Verification => {}
                            }
                        }
                        if kind == SendKind::Verification {
                            self.verification_sent(&txn_id, Some(event_id.clone()));
                        }
                    }
                    Err(_) => {
                        self.queue.sends[index].failed = true;
                        self.queue.sends[index].in_flight = false;
                        self.send_failed(&room_id, &txn_id, kind);
                    }
                }
                result.map(drop)
            }
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use ruma::{OwnedEventId, UInt, owned_room_id};
    use serde_json::json;

    use super::*;
    use crate::{
        Draft, ItemKind, TimelineItem,
        crypto::{UtdReason, WithheldCode, fake_server::FakeServer},
    };

    pub(in crate::engine) fn session(user: &str, device: &str) -> Session {
        Session {
            homeserver: "http://hs".into(),
            user_id: user.try_into().unwrap(),
            device_id: device.into(),
            access_token: format!("tok-{device}"),
        }
    }

    pub(in crate::engine) fn room() -> OwnedRoomId {
        owned_room_id!("!r:hs")
    }

    fn ts(ms: u64) -> MilliSecondsSinceUnixEpoch {
        MilliSecondsSinceUnixEpoch(UInt::new(ms).unwrap())
    }

    fn member(user: &str) -> Value {
        json!({"type": "m.room.member", "event_id": format!("$m{user}"), "sender": user, "state_key": user,
               "origin_server_ts": 1, "content": {"membership": "join"}})
    }

    pub(in crate::engine) fn room_state() -> Vec<Value> {
        vec![
            json!({"type": "m.room.create", "event_id": "$c", "sender": "@alice:hs", "state_key": "",
                   "origin_server_ts": 1, "content": {"room_version": "11"}}),
            member("@alice:hs"),
            member("@bob:hs"),
            json!({"type": "m.room.encryption", "event_id": "$enc", "sender": "@alice:hs", "state_key": "",
                   "origin_server_ts": 2, "content": {"algorithm": "m.megolm.v1.aes-sha2"}}),
        ]
    }

    /// Sends each engine's requests to the server until nobody has any.
    pub(in crate::engine) fn drive(server: &mut FakeServer, engines: &mut [&mut Engine]) {
        for _ in 0..30 {
            let mut any = false;
            for engine in engines.iter_mut() {
                for request in engine.outgoing_requests() {
                    any = true;
                    let (status, body) = server.handle(engine.session(), &request.request);
                    let response = http::Response::builder()
                        .status(status)
                        .body(&body[..])
                        .unwrap();
                    let _ = engine.mark_request_sent(&request.id, Some(response));
                }
            }
            if !any {
                return;
            }
        }
        panic!("requests never settle");
    }

    /// A sync with the device's to-device events and some room events.
    pub(in crate::engine) fn sync(
        server: &mut FakeServer,
        engine: &mut Engine,
        batch: &str,
        state: Vec<Value>,
        timeline: Vec<Value>,
        to_device: bool,
    ) {
        let to_device = if to_device {
            server.take_to_device(engine.session())
        } else {
            Vec::new()
        };
        let body = json!({"next_batch": batch, "to_device": {"events": to_device},
            "rooms": {"join": {"!r:hs": {"state": {"events": state}, "timeline": {"events": timeline}}}}});
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

    pub(in crate::engine) fn setup(server: &mut FakeServer) -> (Engine, Engine) {
        server.cross_sign("@alice:hs");
        server.cross_sign("@bob:hs");
        server
            .members
            .insert("!r:hs".into(), vec![member("@alice:hs"), member("@bob:hs")]);
        let mut alice = Engine::new(session("@alice:hs", "ALICE"));
        let mut bob = Engine::new(session("@bob:hs", "BOB"));
        drive(server, &mut [&mut alice, &mut bob]);
        sync(server, &mut alice, "s1", room_state(), vec![], true);
        sync(server, &mut bob, "s1", room_state(), vec![], true);
        drive(server, &mut [&mut alice, &mut bob]);
        (alice, bob)
    }

    pub(in crate::engine) fn say(engine: &mut Engine, text: &str, txn: &str) {
        let draft = Draft {
            text: text.into(),
            ..Draft::default()
        };
        assert!(matches!(
            engine
                .send_message(&room(), draft, txn.into(), ts(50))
                .unwrap(),
            Outgoing::Queued
        ));
    }

    pub(in crate::engine) fn items(engine: &Engine) -> Vec<TimelineItem> {
        engine.room(&room()).unwrap().items(engine.user_id())
    }

    pub(in crate::engine) fn item(engine: &Engine, event_id: &str) -> TimelineItem {
        let event_id: OwnedEventId = event_id.try_into().unwrap();
        items(engine)
            .into_iter()
            .find(|i| i.event_id.as_ref() == Some(&event_id))
            .unwrap()
    }

    pub(in crate::engine) fn sent(server: &FakeServer, from: usize) -> Vec<Value> {
        server.room_events[from..].to_vec()
    }

    #[test]
    fn messages_go_out_encrypted_and_decrypt_on_the_other_side() {
        let mut server = FakeServer::default();
        let (mut alice, mut bob) = setup(&mut server);
        say(&mut alice, "hello **bob**", "t1");
        let reply = Draft {
            text: "and more".into(),
            reply_to: Some("$m@bob:hs".try_into().unwrap()),
            edit_of: None,
        };
        assert!(matches!(
            alice
                .send_message(&room(), reply, "t2".into(), ts(51))
                .unwrap(),
            Outgoing::Queued
        ));
        drive(&mut server, &mut [&mut alice]);
        assert!(
            server.paths.iter().any(|p| p.ends_with("/members")),
            "the full member list is loaded"
        );
        let events = sent(&server, 0);
        assert_eq!(events.len(), 2);
        for event in &events {
            assert_eq!(event["type"], "m.room.encrypted");
            assert!(
                !event.to_string().contains("hello") && !event.to_string().contains("and more")
            );
        }
        assert_eq!(
            events[1]["content"]["m.relates_to"]["m.in_reply_to"]["event_id"], "$m@bob:hs",
            "relation in the clear"
        );
        // Alice's echo is confirmed by the send response.
        let echo = items(&alice)
            .into_iter()
            .find(|i| i.txn_id.as_deref().map(|t| t.as_str()) == Some("t1"))
            .unwrap();
        assert_eq!(echo.send_state, SendState::Sent);

        // Bob gets the key (to-device first) and the events in the same sync.
        sync(&mut server, &mut bob, "s2", vec![], events.clone(), true);
        let hello = item(&bob, "$ev0");
        assert_eq!(
            (hello.kind, hello.body.as_str()),
            (ItemKind::Message, "hello **bob**")
        );
        assert_eq!(hello.html.as_deref(), Some("hello <strong>bob</strong>"));
        assert!(hello.encrypted && hello.sender_cross_signed);
        assert_eq!(
            item(&bob, "$ev1").reply_to.as_ref().map(|e| e.as_str()),
            Some("$m@bob:hs")
        );
        // Alice's own remote echo decrypts with her inbound copy.
        sync(&mut server, &mut alice, "s2", vec![], events, true);
        assert_eq!(item(&alice, "$ev0").body, "hello **bob**");
        assert_eq!(
            items(&alice)
                .iter()
                .filter(|i| i.body == "hello **bob**")
                .count(),
            1,
            "the echo was replaced"
        );
    }

    #[test]
    fn a_late_key_decrypts_the_waiting_event_in_place() {
        let mut server = FakeServer::default();
        let (mut alice, mut bob) = setup(&mut server);
        say(&mut alice, "first", "t1");
        drive(&mut server, &mut [&mut alice]);
        let events = sent(&server, 0);
        let later = json!({"type": "m.room.message", "event_id": "$plain", "sender": "@bob:hs", "origin_server_ts": 500,
                           "content": {"msgtype": "m.text", "body": "after"}});
        sync(
            &mut server,
            &mut bob,
            "s2",
            vec![],
            vec![events[0].clone(), later],
            false,
        );
        let waiting = item(&bob, "$ev0");
        assert_eq!(waiting.kind, ItemKind::Encrypted);
        assert_eq!(waiting.utd, Some(UtdReason::WaitingForKey));
        let position = |engine: &Engine| {
            items(engine)
                .iter()
                .position(|i| i.event_id.as_ref().is_some_and(|e| e == "$ev0"))
                .unwrap()
        };
        let before = position(&bob);
        sync(&mut server, &mut bob, "s3", vec![], vec![], true);
        let decrypted = item(&bob, "$ev0");
        assert_eq!(
            (decrypted.kind, decrypted.body.as_str(), decrypted.utd),
            (ItemKind::Message, "first", None)
        );
        assert_eq!(position(&bob), before, "in place, before the later message");
    }

    #[test]
    fn an_unverified_device_is_told_the_key_is_withheld() {
        let mut server = FakeServer::default();
        server
            .unsigned_devices
            .push(("@bob:hs".into(), "BOB".into()));
        let (mut alice, mut bob) = setup(&mut server);
        say(&mut alice, "secret", "t1");
        drive(&mut server, &mut [&mut alice]);
        let events = sent(&server, 0);
        sync(&mut server, &mut bob, "s2", vec![], events.clone(), false);
        assert_eq!(item(&bob, "$ev0").utd, Some(UtdReason::WaitingForKey));
        sync(&mut server, &mut bob, "s3", vec![], vec![], true);
        let withheld = item(&bob, "$ev0");
        assert_eq!(
            withheld.utd,
            Some(UtdReason::Withheld(WithheldCode::Unverified))
        );
        assert_eq!(
            withheld.body,
            "The sender didn't share the key with this device"
        );
    }

    #[test]
    fn a_failed_send_is_retried_with_the_same_ciphertext_and_transaction() {
        let mut server = FakeServer::default();
        let (mut alice, _bob) = setup(&mut server);
        say(&mut alice, "again", "t1");
        // The first attempt gets no response at all, the second an error.
        let mut attempts: Vec<(String, Vec<u8>)> = Vec::new();
        for round in 0..10 {
            for request in alice.outgoing_requests() {
                if request
                    .request
                    .uri()
                    .path()
                    .contains("/send/m.room.encrypted/")
                {
                    attempts.push((
                        request.request.uri().path().to_owned(),
                        request.request.body().clone(),
                    ));
                    if attempts.len() == 1 {
                        alice.mark_request_sent(&request.id, None).unwrap();
                        continue;
                    }
                    if attempts.len() == 2 {
                        server.fail_next_send = Some(500);
                    }
                }
                let (status, body) = server.handle(alice.session(), &request.request);
                let response = http::Response::builder()
                    .status(status)
                    .body(&body[..])
                    .unwrap();
                let _ = alice.mark_request_sent(&request.id, Some(response));
            }
            if attempts.len() == 2 {
                break;
            }
            assert!(round < 9);
        }
        let echo = |engine: &Engine| {
            items(engine)
                .into_iter()
                .find(|i| i.txn_id.as_deref().map(|t| t.as_str()) == Some("t1"))
                .unwrap()
        };
        assert_eq!(echo(&alice).send_state, SendState::Failed);
        assert!(matches!(
            alice.retry_send(&room(), &"t1".into()).unwrap(),
            Outgoing::Queued
        ));
        assert_eq!(echo(&alice).send_state, SendState::Pending);
        drive(&mut server, &mut [&mut alice]);
        assert_eq!(echo(&alice).send_state, SendState::Sent);
        let last = server.room_events.last().unwrap();
        assert_eq!(last["txn_id"], "t1");
        assert_eq!(
            serde_json::to_vec(&last["content"]).unwrap().len(),
            attempts[0].1.len()
        );
        assert_eq!(attempts[0], attempts[1]);
        assert_eq!(
            last["content"],
            serde_json::from_slice::<Value>(&attempts[0].1).unwrap()
        );
    }

    #[test]
    fn a_rooms_encrypted_sends_go_out_one_at_a_time_in_order() {
        let mut server = FakeServer::default();
        let (mut alice, _bob) = setup(&mut server);
        for (text, txn) in [("one", "o1"), ("two", "o2"), ("three", "o3")] {
            say(&mut alice, text, txn);
        }
        let mut order = Vec::new();
        for _ in 0..20 {
            let requests = alice.outgoing_requests();
            let sends: Vec<_> = requests
                .iter()
                .filter(|r| r.request.uri().path().contains("/send/m.room.encrypted/"))
                .collect();
            assert!(
                sends.len() <= 1,
                "one send at a time in a room, not {}",
                sends.len()
            );
            order.extend(sends.iter().map(|r| {
                r.request
                    .uri()
                    .path()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_owned()
            }));
            for request in requests {
                let (status, body) = server.handle(alice.session(), &request.request);
                let response = http::Response::builder()
                    .status(status)
                    .body(&body[..])
                    .unwrap();
                let _ = alice.mark_request_sent(&request.id, Some(response));
            }
        }
        assert_eq!(order, ["o1", "o2", "o3"]);
    }

    #[test]
    fn the_sign_out_hang_up_goes_out_at_once_with_the_shared_key() {
        let mut server = FakeServer::default();
        let (mut alice, mut bob) = setup(&mut server);
        let hangup =
            json!({"call_id": "c1", "party_id": "p", "version": "1", "reason": "user_hangup"});
        // No key shared yet: nothing can go out at once, and nothing in the clear.
        assert!(
            alice
                .last_call_event_request(&room(), "m.call.hangup", &hangup, &"h0".into())
                .is_err()
        );
        say(&mut alice, "hello", "t1");
        drive(&mut server, &mut [&mut alice]);
        let events = sent(&server, 0);
        sync(&mut server, &mut bob, "s2", vec![], events, true);
        let request = alice
            .last_call_event_request(&room(), "m.call.hangup", &hangup, &"h1".into())
            .unwrap();
        assert!(
            request.uri().path().contains("/send/m.room.encrypted/h1"),
            "{}",
            request.uri()
        );
        let content: Value = serde_json::from_slice(request.body()).unwrap();
        let event = json!({"type": "m.room.encrypted", "sender": "@alice:hs", "event_id": "$hangup",
                           "origin_server_ts": 5, "content": content});
        sync(&mut server, &mut bob, "s3", vec![], vec![event], false);
        let signals = bob.take_call_signals();
        assert_eq!(
            signals.last().map(|s| s.event_type.as_str()),
            Some("m.call.hangup")
        );
    }

    #[test]
    fn encrypted_reactions_and_call_events_come_back_decrypted() {
        let mut server = FakeServer::default();
        let (mut alice, mut bob) = setup(&mut server);
        say(&mut alice, "react to me", "t1");
        drive(&mut server, &mut [&mut alice]);
        let events = sent(&server, 0);
        sync(&mut server, &mut bob, "s2", vec![], events, true);
        assert!(matches!(
            bob.react(
                &room(),
                "$ev0".try_into().unwrap(),
                "👍".into(),
                "r1".into()
            )
            .unwrap(),
            Outgoing::Queued
        ));
        let invite = json!({"call_id": "c1", "party_id": "p", "version": "1", "lifetime": 60000,
                            "offer": {"type": "offer", "sdp": "v=0"}});
        assert!(matches!(
            bob.call_event_request(&room(), "m.call.invite", &invite, &"c-1".into())
                .unwrap(),
            Outgoing::Queued
        ));
        drive(&mut server, &mut [&mut bob]);
        let events = sent(&server, 1);
        assert!(events.iter().all(|e| e["type"] == "m.room.encrypted"));
        assert_eq!(
            events[0]["content"]["m.relates_to"]["rel_type"],
            "m.annotation"
        );
        sync(&mut server, &mut alice, "s2", vec![], events, true);
        let target = item(&alice, "$ev0");
        assert_eq!(target.reactions.len(), 1);
        assert_eq!(target.reactions[0].key, "👍");
        let signals = alice.take_call_signals();
        assert_eq!(signals.len(), 1);
        assert_eq!(signals[0].event_type, "m.call.invite");
    }

    #[test]
    fn the_stored_state_restores_and_still_decrypts() {
        let mut server = FakeServer::default();
        let (mut alice, mut bob) = setup(&mut server);
        say(&mut alice, "before the restart", "t1");
        drive(&mut server, &mut [&mut alice]);
        // Alice reads her message once: its index is in the replay table that is stored.
        let events = sent(&server, 0);
        sync(&mut server, &mut alice, "s1b", vec![], events, true);
        let stored = alice.crypto_changes().expect("changed");
        assert!(alice.crypto_changes().is_none(), "nothing new since");
        assert!(!stored.contains("before the restart"));

        let mut restored =
            Engine::with_crypto(session("@alice:hs", "ALICE"), Some(&stored)).unwrap();
        // Bob writes; the restored Alice reads him and her own message from before.
        let events = sent(&server, 0);
        sync(&mut server, &mut bob, "s2", vec![], events, true);
        say(&mut bob, "welcome back", "b1");
        drive(&mut server, &mut [&mut bob]);
        let events = sent(&server, 0);
        sync(&mut server, &mut restored, "s9", room_state(), events, true);
        assert_eq!(item(&restored, "$ev0").body, "before the restart");
        assert_eq!(item(&restored, "$ev1").body, "welcome back");
        // The replay table came back too: the same ciphertext under another event ID is refused.
        let mut replayed = server.room_events[0].clone();
        replayed["event_id"] = json!("$replayed");
        sync(
            &mut server,
            &mut restored,
            "s10",
            vec![],
            vec![replayed],
            false,
        );
        assert_eq!(item(&restored, "$replayed").utd, Some(UtdReason::Invalid));
        // It asks which device lists changed while it was away.
        let requests = restored.outgoing_requests();
        let changes = requests
            .iter()
            .find(|r| r.request.uri().path().ends_with("/keys/changes"))
            .unwrap();
        let query = changes.request.uri().query().unwrap();
        assert!(
            query.contains("from=s1b") && query.contains("to=s9"),
            "{query}"
        );
        // And it sends under the same identity: no new device keys.
        assert!(
            !requests
                .iter()
                .any(|r| r.request.uri().path().ends_with("/keys/upload"))
        );
    }

    #[test]
    fn the_room_settings_decide_rotation_and_recipients() {
        let mut server = FakeServer::default();
        let (mut alice, _bob) = setup(&mut server);
        let invite = json!({"type": "m.room.member", "event_id": "$ic", "sender": "@alice:hs", "state_key": "@carol:hs",
                            "origin_server_ts": 3, "content": {"membership": "invite"}});
        sync(&mut server, &mut alice, "s2", vec![], vec![invite], false);
        let recipients = |engine: &Engine| engine.room(&room()).unwrap().key_recipients();
        assert!(
            recipients(&alice).contains(ruma::user_id!("@carol:hs")),
            "invited members get the key"
        );
        let settings = vec![
            json!({"type": "m.room.history_visibility", "event_id": "$hv", "sender": "@alice:hs", "state_key": "",
                   "origin_server_ts": 4, "content": {"history_visibility": "joined"}}),
            // A later m.room.encryption cannot change the settings.
            json!({"type": "m.room.encryption", "event_id": "$enc2", "sender": "@alice:hs", "state_key": "",
                   "origin_server_ts": 5, "content": {"algorithm": "m.megolm.v1.aes-sha2", "rotation_period_msgs": 1000}}),
        ];
        sync(&mut server, &mut alice, "s3", vec![], settings, false);
        assert!(
            !recipients(&alice).contains(ruma::user_id!("@carol:hs")),
            "not while history is for joined members"
        );
        assert_eq!(
            alice
                .room(&room())
                .unwrap()
                .key_settings()
                .rotation_period_msgs,
            100
        );

        // A room that rotates every two messages.
        let mut server = FakeServer::default();
        server.cross_sign("@alice:hs");
        server
            .members
            .insert("!r:hs".into(), vec![member("@alice:hs")]);
        let mut alice = Engine::new(session("@alice:hs", "ALICE"));
        let mut state = room_state();
        state[3]["content"]["rotation_period_msgs"] = json!(2);
        sync(&mut server, &mut alice, "s1", state, vec![], false);
        for n in 0..3 {
            say(&mut alice, "x", &format!("t{n}"));
            drive(&mut server, &mut [&mut alice]);
        }
        let sessions: Vec<Value> = server
            .room_events
            .iter()
            .map(|e| e["content"]["session_id"].clone())
            .collect();
        assert_eq!(sessions[0], sessions[1]);
        assert_ne!(sessions[1], sessions[2]);
    }

    #[test]
    fn a_limited_sync_with_a_departure_replaces_the_room_key() {
        let mut server = FakeServer::default();
        let (mut alice, _bob) = setup(&mut server);
        let session_ids = |server: &FakeServer| -> Vec<Value> {
            server
                .room_events
                .iter()
                .map(|e| e["content"]["session_id"].clone())
                .collect()
        };
        say(&mut alice, "one", "t1");
        drive(&mut server, &mut [&mut alice]);
        // An ordinary sync with a join changes nothing.
        let joined = json!({"type": "m.room.member", "event_id": "$jc", "sender": "@carol:hs", "state_key": "@carol:hs",
                            "origin_server_ts": 3, "content": {"membership": "join"}});
        let body = json!({"next_batch": "s2", "rooms": {"join": {"!r:hs": {"timeline": {"events": [joined], "limited": true}}}}});
        let bytes = serde_json::to_vec(&body).unwrap();
        alice
            .handle_sync_response(
                http::Response::builder()
                    .status(200)
                    .body(&bytes[..])
                    .unwrap(),
            )
            .unwrap();
        say(&mut alice, "two", "t2");
        drive(&mut server, &mut [&mut alice]);
        let left = json!({"type": "m.room.member", "event_id": "$lc", "sender": "@carol:hs", "state_key": "@carol:hs",
                          "origin_server_ts": 4, "content": {"membership": "leave"}});
        let rejoined = json!({"type": "m.room.member", "event_id": "$jc2", "sender": "@carol:hs", "state_key": "@carol:hs",
                              "origin_server_ts": 5, "content": {"membership": "join"}});
        let body = json!({"next_batch": "s3", "rooms": {"join": {"!r:hs": {
            "state": {"events": [left]}, "timeline": {"events": [rejoined], "limited": true}}}}});
        let bytes = serde_json::to_vec(&body).unwrap();
        alice
            .handle_sync_response(
                http::Response::builder()
                    .status(200)
                    .body(&bytes[..])
                    .unwrap(),
            )
            .unwrap();
        say(&mut alice, "three", "t3");
        drive(&mut server, &mut [&mut alice]);
        let ids = session_ids(&server);
        assert_eq!(ids[0], ids[1]);
        assert_ne!(ids[1], ids[2]);
    }

    #[test]
    fn a_corrupt_or_foreign_store_is_an_error() {
        let alice = session("@alice:hs", "ALICE");
        assert!(matches!(
            Engine::with_crypto(alice.clone(), Some("{not json")),
            Err(ApiError::CryptoStore(_))
        ));
        assert!(matches!(
            Engine::with_crypto(alice.clone(), Some(r#"{"version": 99, "machine": {}}"#)),
            Err(ApiError::CryptoStore(_))
        ));
        assert!(matches!(
            Engine::with_crypto(
                alice.clone(),
                Some(r#"{"version": 1, "machine": {"x": 1}}"#)
            ),
            Err(ApiError::CryptoStore(_))
        ));
        let mut other = Engine::new(session("@alice:hs", "OTHER"));
        let stored = other.crypto_changes().unwrap();
        assert!(matches!(
            Engine::with_crypto(alice.clone(), Some(&stored)),
            Err(ApiError::CryptoStore(_))
        ));
        assert!(Engine::with_crypto(alice, None).is_ok());
    }
}

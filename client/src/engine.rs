//! The signed-in client state machine: applies syncs and turns UI actions into requests.
//!
//! The caller does the I/O: it sends the requests the engine builds and hands the responses
//! back. The engine never reads a clock or generates IDs; timestamps and transaction IDs come
//! from the caller.

use std::{collections::BTreeMap, time::Duration};

use ruma::{
    MilliSecondsSinceUnixEpoch, OwnedRoomId, OwnedTransactionId, OwnedUserId, RoomId, UserId,
};

use crate::{
    ApiError, Changes, HttpRequest, HttpResponse, Room, Session,
    call::CallSignal,
    content::DirectContent,
    crypto::{Machine, ToDeviceEvent},
    event::Event,
    invite::{Invite, InviteEntry},
    requests,
    sync::SyncResponse,
};

mod crypto;
mod driver;
mod messages;
#[cfg(test)]
mod room_list;
mod rooms;
pub(crate) mod stored;
mod trust;
mod verification;

pub use crate::crypto::{OutgoingRequest, RequestId};
pub use crate::crypto::{
    sas::{CancelCode, Phase as VerificationPhase, SasEmoji},
    trust::{BackupStatus, CrossSigningStatus, RecoveryStatus, SecurityState},
};
pub use crypto::Outgoing;
pub(crate) use driver::Decryptor;
pub use driver::{CryptoDriver, FullCrypto, VerificationAction};
pub use messages::BackPage;
pub use messages::{Draft, TYPING_TIMEOUT};
pub use stored::{STORED_VERSION, StoredError};
pub use trust::TrustError;
pub use verification::VerificationView;

/// Call events kept for a call manager that is not running (see [`Engine::call_waiting`]).
const MAX_CALL_SIGNALS: usize = 256;

/// How long the server may hold an incremental `/sync` open.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(30);

/// A room in the room list.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct RoomEntry {
    /// The room.
    pub room_id: OwnedRoomId,
    /// Its display name.
    pub name: String,
    /// False while we wait for the first sync of a room we just joined or created.
    pub loaded: bool,
    /// Unread messages that notify.
    pub unread: u64,
    /// Unread messages that mention us.
    pub highlights: u64,
    /// A direct chat (listed in our `m.direct`).
    pub is_direct: bool,
    /// Who a direct chat is with (from `m.direct`).
    pub direct_with: Option<OwnedUserId>,
    /// Its picture: `m.room.avatar`, else, in a direct chat, the other person's.
    pub avatar: Option<crate::Mxc>,
    /// The newest message in one line ("alice: see you at 5", "You sent an image"), if
    /// any (see [`crate::preview`]).
    pub preview: Option<String>,
    /// When the room was last active (what orders the list), for
    /// [`crate::preview::list_time`].
    pub last_active: Option<MilliSecondsSinceUnixEpoch>,
}

/// The client engine for one signed-in session.
#[derive(Debug)]
pub struct Engine {
    session: Session,
    next_batch: Option<String>,
    rooms: BTreeMap<OwnedRoomId, Room>,
    invites: BTreeMap<OwnedRoomId, Invite>,
    /// Counts applied syncs, so invites can be listed newest first without a clock.
    syncs: u64,
    /// Our `m.direct` account data: who each DM is with.
    direct: DirectContent,
    /// Invites to a direct chat we asked to join, by inviter: a sync can show us in the room
    /// (and drop the invite) before the join response comes back.
    direct_joins: BTreeMap<OwnedRoomId, OwnedUserId>,
    /// Contents of messages not yet acknowledged, for retries.
    outbox: BTreeMap<OwnedTransactionId, crate::messaging::MessageOut>,
    /// Call events from sync not yet taken by the call manager (the newest few hundred).
    calls: Vec<CallSignal>,
    /// End-to-end encryption: our device's keys and sessions.
    crypto: Machine,
    /// The code that works on `crypto` (see [`driver`]).
    driver: &'static dyn CryptoDriver,
    /// To-device events the crypto machine did not consume (verification, secrets).
    to_device: Vec<ToDeviceEvent>,
    /// The send queue and requests of encrypted rooms.
    queue: crypto::Queue,
    /// Cross-signing keys, recovery and backup (stored with the crypto state).
    trust: crate::crypto::trust::TrustState,
    /// The trust layer's requests in flight.
    trust_flight: trust::TrustFlight,
    /// Verifications and secret requests under way.
    verifications: verification::Verifications,
    /// A real sync has been applied (not only a stored snapshot).
    live: bool,
    /// The server refused the stored sync token: the initial sync replaces the stored rooms.
    replace_stored: bool,
    /// Sync data kept for the stored snapshot (see [`stored`]).
    record: stored::EngineRecord,
    /// The rooms [`Self::take_changes`] last reported, to report those that went away.
    reported_rooms: std::collections::BTreeSet<OwnedRoomId>,
}

impl Engine {
    /// Starts with no rooms and a new device identity (Olm account); the first
    /// [`Self::sync_request`] is an initial sync.
    pub fn new(session: Session) -> Self {
        Self::with_driver(session, &FullCrypto)
    }

    /// [`Self::new`] with the crypto code reached through `driver` (the web app loads it
    /// lazily and hands it over).
    pub fn with_driver(session: Session, driver: &'static dyn CryptoDriver) -> Self {
        Self {
            crypto: driver.new_machine(&session),
            driver,
            to_device: Vec::new(),
            queue: crypto::Queue::default(),
            trust: Default::default(),
            trust_flight: Default::default(),
            verifications: Default::default(),
            session,
            next_batch: None,
            rooms: BTreeMap::new(),
            invites: BTreeMap::new(),
            syncs: 0,
            direct: DirectContent::new(),
            direct_joins: BTreeMap::new(),
            outbox: BTreeMap::new(),
            calls: Vec::new(),
            live: false,
            replace_stored: false,
            record: stored::EngineRecord::default(),
            reported_rooms: std::collections::BTreeSet::new(),
        }
    }

    /// What changed for views since the last call (see [`crate::changes`]).
    pub fn take_changes(&mut self) -> Changes {
        let mut changes = Changes::default();
        for (room_id, room) in &mut self.rooms {
            let (room_changes, moved) = room.take_changes();
            changes.room_list |= moved;
            if !room_changes.is_empty() {
                changes.rooms.insert(room_id.clone(), room_changes);
            }
        }
        if self.reported_rooms.len() != self.rooms.len()
            || !self.rooms.keys().eq(self.reported_rooms.iter())
        {
            changes.removed = self
                .reported_rooms
                .iter()
                .filter(|id| !self.rooms.contains_key(*id))
                .cloned()
                .collect();
            changes.room_list = true;
            self.reported_rooms = self.rooms.keys().cloned().collect();
        }
        changes
    }

    /// Joined rooms, most recently active first, without building their entries.
    pub fn room_order(&self) -> Vec<OwnedRoomId> {
        let mut rooms: Vec<_> = self.rooms.values().collect();
        rooms.sort_by_key(|room| std::cmp::Reverse(room.last_activity()));
        rooms
            .into_iter()
            .map(|room| room.room_id().clone())
            .collect()
    }

    /// One room's entry in the room list.
    pub fn room_entry(&self, room_id: &RoomId) -> Option<RoomEntry> {
        self.rooms.get(room_id).map(|room| self.entry(room))
    }

    /// Each joined room's unread count, unsorted and unnamed (for notifications).
    pub fn unread_counts(&self) -> Vec<(OwnedRoomId, u64)> {
        self.rooms
            .iter()
            .map(|(id, room)| (id.clone(), room.unread().notification_count))
            .collect()
    }

    /// Unread messages over all joined rooms (for the page title).
    pub fn total_unread(&self) -> u64 {
        self.rooms
            .values()
            .map(|room| room.unread().notification_count)
            .sum()
    }

    /// Whether we reacted to `target` with `key`, and with which event once it is sent
    /// (`Some(None)` while ours is still being sent).
    pub fn own_reaction(
        &self,
        room_id: &RoomId,
        target: &ruma::OwnedEventId,
        key: &str,
    ) -> Option<Option<ruma::OwnedEventId>> {
        self.rooms
            .get(room_id)?
            .timeline()
            .own_reaction(target, key, self.user_id())
    }

    /// The session the engine makes requests with.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The signed-in user.
    pub fn user_id(&self) -> &UserId {
        &self.session.user_id
    }

    /// Whether at least one sync has been applied (rooms restored from storage alone do not
    /// count: until the server answered, a room missing here may just not be stored).
    pub fn has_synced(&self) -> bool {
        self.live
    }

    /// The next `/sync` request: initial (no long-poll) first, then incremental. After a
    /// restore from storage the first one continues from the stored token, without
    /// long-polling, so the catch-up answers at once.
    pub fn sync_request(&self) -> Result<HttpRequest, ApiError> {
        let timeout = if self.live {
            SYNC_TIMEOUT
        } else {
            Duration::ZERO
        };
        requests::sync_request(&self.session, self.next_batch.as_deref(), timeout)
    }

    /// Parses and applies a `/sync` response.
    ///
    /// When the server refuses the sync token restored from storage (a 400, as weft and
    /// Synapse answer a token they cannot read), the engine falls back to an initial sync
    /// whose rooms replace the stored ones, and this returns `Ok`: the caller syncs again.
    pub fn handle_sync_response(&mut self, response: HttpResponse<'_>) -> Result<(), ApiError> {
        let sync = match SyncResponse::from_http(response) {
            Err(ApiError::Server { status: 400, .. })
                if !self.live && self.next_batch.is_some() =>
            {
                self.next_batch = None;
                self.replace_stored = true;
                return Ok(());
            }
            sync => sync?,
        };
        self.apply_sync(sync);
        Ok(())
    }

    /// Applies a parsed `/sync` response. To-device events go to the crypto machine first,
    /// so room keys they carry are there when the timelines are decrypted.
    pub fn apply_sync(&mut self, sync: SyncResponse) {
        if std::mem::take(&mut self.replace_stored) {
            self.rooms.clear();
            self.invites.clear();
            self.direct.clear();
        }
        self.apply_sync_as(sync, true);
        self.live = true;
    }

    /// A stored snapshot (see [`stored`]): the same path as a sync, without what belongs to
    /// the moment it happened (crypto, call signals, verification requests).
    fn apply_stored(&mut self, sync: SyncResponse) {
        self.apply_sync_as(sync, false);
    }

    fn apply_sync_as(&mut self, sync: SyncResponse, live: bool) {
        self.syncs += 1;
        let driver = self.driver;
        let crypto_changes = if live {
            driver.receive_sync(self, &sync)
        } else {
            Default::default()
        };
        self.to_device.extend(crypto_changes.events.iter().cloned());
        for (kind, content) in sync
            .account_data
            .events
            .iter()
            .filter_map(|raw| Event::parse_ephemeral(raw))
        {
            if kind == "m.direct"
                && let Ok(direct) = crate::event::parse_json::<DirectContent>(content.get())
            {
                self.direct = direct;
            } else if live {
                driver.account_data(self, &kind, &content);
            }
        }
        // Call events of a stored snapshot are old: nobody should ring for them.
        let mut stored_calls = Vec::new();
        let calls = if live {
            &mut self.calls
        } else {
            &mut stored_calls
        };
        // Leave first, then join, then invite: within one batch a room can be left and
        // re-joined or re-invited, and the later membership must win.
        for room_id in sync.rooms.leave.keys() {
            self.rooms.remove(room_id);
            self.invites.remove(room_id);
        }
        for (room_id, update) in &sync.rooms.join {
            self.invites.remove(room_id);
            self.rooms
                .entry(room_id.clone())
                .or_insert_with(|| Room::new(room_id.clone()))
                .apply_sync(
                    update,
                    &self.session.user_id,
                    calls,
                    &mut Decryptor {
                        driver,
                        machine: &mut self.crypto,
                    },
                );
        }
        for (room_id, update) in &sync.rooms.invite {
            // A sync computed before our join may still list the invite.
            if self.rooms.contains_key(room_id) {
                continue;
            }
            self.record
                .note_invite(room_id, &update.invite_state.events);
            let mut invite = Invite::from_stripped_state(&self.session.user_id, update);
            invite.order = self
                .invites
                .get(room_id)
                .map_or(self.syncs, |old| old.order);
            self.invites.insert(room_id.clone(), invite);
        }
        // Invites we joined, declined or lost: their stripped state is not kept for good.
        let invites = &self.invites;
        self.record
            .retain_invites(|room_id| invites.contains_key(room_id));
        // Without a call manager running nobody takes these; keep only the newest.
        if self.calls.len() > MAX_CALL_SIGNALS {
            self.calls.drain(..self.calls.len() - MAX_CALL_SIGNALS);
        }
        if live {
            driver.after_sync(self, &crypto_changes, &sync.next_batch, &sync.rooms.join);
        }
        self.next_batch = Some(sync.next_batch);
    }

    /// To-device events for other parts of the client (verification, secret sharing).
    pub fn take_to_device_events(&mut self) -> Vec<ToDeviceEvent> {
        std::mem::take(&mut self.to_device)
    }

    /// Whether sync brought an invite that may ring: the browser loads the call manager.
    pub fn call_waiting(&self) -> bool {
        self.calls.iter().any(CallSignal::may_ring)
    }

    /// Whether call events are waiting for the call manager.
    pub fn has_call_signals(&self) -> bool {
        !self.calls.is_empty()
    }

    /// Hands the call events received so far to the call manager.
    pub fn take_call_signals(&mut self) -> Vec<CallSignal> {
        std::mem::take(&mut self.calls)
    }

    /// `PUT /rooms/{roomId}/send/{type}/{txnId}` for a call event (`m.call.*`): sent at
    /// once, without local echo or outbox; the call machine decides about retries. In an
    /// encrypted room it is queued for encryption ([`Outgoing::Queued`]) and the engine
    /// sends it (retrying network errors) through [`Self::outgoing_requests`].
    pub fn call_event_request(
        &mut self,
        room_id: &RoomId,
        event_type: &str,
        content: &serde_json::Value,
        txn_id: &OwnedTransactionId,
    ) -> Result<Outgoing, ApiError> {
        if self.is_encrypted(room_id) {
            if self.is_queued(txn_id) {
                return Ok(Outgoing::Queued);
            }
            return Ok(self.queue_encrypted(
                room_id,
                txn_id.clone(),
                event_type,
                content.clone(),
                crypto::SendKind::Call,
            ));
        }
        requests::send_request(&self.session, room_id, event_type, txn_id, content)
            .map(Outgoing::Now)
    }

    /// A call event to send right now, without the queue: the hang-up sent while signing
    /// out, when there is no time to share a key. In an encrypted room it is encrypted with
    /// the room key already shared with the call's peer; with none it cannot go out
    /// (`Err`), never in the clear.
    pub fn last_call_event_request(
        &mut self,
        room_id: &RoomId,
        event_type: &str,
        content: &serde_json::Value,
        txn_id: &OwnedTransactionId,
    ) -> Result<HttpRequest, ApiError> {
        if !self.is_encrypted(room_id) {
            return requests::send_request(&self.session, room_id, event_type, txn_id, content);
        }
        let driver = self.driver;
        let encrypted = driver
            .encrypt_now(self, room_id, event_type, content)
            .ok_or_else(|| ApiError::InvalidRequest("no room key is shared yet".into()))?;
        requests::send_request(
            &self.session,
            room_id,
            "m.room.encrypted",
            txn_id,
            &encrypted,
        )
    }

    /// Joined rooms, most recently active first.
    pub fn room_list(&self) -> Vec<RoomEntry> {
        let mut rooms: Vec<_> = self.rooms.values().collect();
        rooms.sort_by_key(|room| std::cmp::Reverse(room.last_activity()));
        rooms.into_iter().map(|room| self.entry(room)).collect()
    }

    fn entry(&self, room: &Room) -> RoomEntry {
        let own = self.user_id();
        let direct_with = self.direct_partner(room.room_id());
        let avatar = room
            .avatar()
            .cloned()
            .or_else(|| room.member_avatar(direct_with.as_deref()?));
        RoomEntry {
            room_id: room.room_id().clone(),
            name: room.display_name(own),
            loaded: room.is_loaded(),
            unread: room.unread().notification_count,
            highlights: room.unread().highlight_count,
            is_direct: self.is_direct(room.room_id()),
            preview: room
                .latest_message(own)
                .map(|item| crate::preview::line(&item, own, direct_with.is_some())),
            direct_with,
            avatar,
            last_active: room.last_activity(),
        }
    }

    /// The person our `m.direct` says a direct chat is with.
    fn direct_partner(&self, room_id: &RoomId) -> Option<OwnedUserId> {
        self.direct
            .iter()
            .find(|(_, rooms)| rooms.iter().any(|r| r == room_id))
            .map(|(user, _)| user.clone())
    }

    /// Pending invites, newest first.
    pub fn invites(&self) -> Vec<InviteEntry> {
        let mut invites: Vec<_> = self.invites.iter().collect();
        invites.sort_by_key(|(_, invite)| std::cmp::Reverse(invite.order));
        invites
            .into_iter()
            .map(|(room_id, invite)| invite.entry(room_id))
            .collect()
    }

    /// A joined room.
    pub fn room(&self, room_id: &RoomId) -> Option<&Room> {
        self.rooms.get(room_id)
    }

    /// A joined room's display name.
    pub fn room_name(&self, room_id: &RoomId) -> Option<String> {
        self.room(room_id)
            .map(|room| room.display_name(self.user_id()))
    }

    /// Handles the create response; the room is listed at once, before sync delivers it.
    pub fn handle_create_room_response(
        &mut self,
        name: &str,
        response: HttpResponse<'_>,
        now: MilliSecondsSinceUnixEpoch,
    ) -> Result<OwnedRoomId, ApiError> {
        let room_id = requests::parse_create_room(response)?;
        let hint = Some(name.to_owned()).filter(|name| !name.is_empty());
        self.rooms
            .entry(room_id.clone())
            .or_insert_with(|| Room::placeholder(room_id.clone(), hint, now));
        Ok(room_id)
    }

    /// Request to join a room by ID (e.g. one we are invited to) or by alias.
    pub fn join_request(&mut self, room_id_or_alias: &str) -> Result<HttpRequest, ApiError> {
        let request = requests::join_request(&self.session, room_id_or_alias)?;
        let direct = RoomId::parse(room_id_or_alias).ok().and_then(|room_id| {
            let inviter = self.invites.get(&room_id)?.direct_inviter()?;
            Some((room_id, inviter))
        });
        if let Some((room_id, inviter)) = direct {
            self.direct_joins.insert(room_id, inviter);
        }
        Ok(request)
    }

    /// Handles the join response: the invite becomes a joined room right away, so the UI can
    /// switch to it without waiting for the next sync. Accepting an invite to a direct chat
    /// also returns the `m.direct` update that lists it under the inviter (as Element does),
    /// to send next.
    pub fn handle_join_response(
        &mut self,
        response: HttpResponse<'_>,
        now: MilliSecondsSinceUnixEpoch,
    ) -> Result<(OwnedRoomId, Option<HttpRequest>), ApiError> {
        let room_id = requests::parse_join(response)?;
        let hint = self
            .invites
            .remove(&room_id)
            .map(|invite| invite.display_name(&room_id));
        self.rooms
            .entry(room_id.clone())
            .or_insert_with(|| Room::placeholder(room_id.clone(), hint, now));
        let direct = match self.direct_joins.remove(&room_id) {
            Some(inviter) => Some(self.add_direct(inviter, room_id.clone())?),
            None => None,
        };
        Ok((room_id, direct))
    }

    /// Request to invite `user_id` into `room_id`.
    pub fn invite_request(
        &self,
        room_id: &RoomId,
        user_id: OwnedUserId,
    ) -> Result<HttpRequest, ApiError> {
        requests::invite_request(&self.session, room_id, user_id)
    }

    /// Checks an invite response.
    pub fn handle_invite_response(&self, response: HttpResponse<'_>) -> Result<(), ApiError> {
        requests::parse_invite(response)
    }

    /// Request to end the session on the server.
    pub fn logout_request(&self) -> Result<HttpRequest, ApiError> {
        requests::logout_request(&self.session)
    }

    /// Whether `room_id` is a direct chat.
    pub fn is_direct(&self, room_id: &RoomId) -> bool {
        self.direct
            .values()
            .any(|rooms| rooms.iter().any(|r| r == room_id))
    }

    fn room_mut(&mut self, room_id: &RoomId) -> Result<&mut Room, ApiError> {
        self.rooms
            .get_mut(room_id)
            .ok_or_else(|| ApiError::InvalidRequest(format!("not joined to {room_id}")))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use ruma::{UInt, owned_room_id, user_id};
    use serde_json::json;

    use super::*;
    use crate::{ItemKind, SendState};

    /// Bob's session on a test homeserver, shared by the engine's test modules.
    pub(crate) fn session() -> Session {
        Session {
            homeserver: "http://hs".to_owned(),
            user_id: "@bob:hs".try_into().unwrap(),
            device_id: "DEV".into(),
            access_token: "tok".to_owned(),
        }
    }

    fn ts(ms: u32) -> MilliSecondsSinceUnixEpoch {
        MilliSecondsSinceUnixEpoch(UInt::from(ms))
    }

    fn apply(engine: &mut Engine, body: serde_json::Value) {
        let bytes = serde_json::to_vec(&body).unwrap();
        let response = http::Response::builder()
            .status(200)
            .body(&bytes[..])
            .unwrap();
        engine.handle_sync_response(response).unwrap();
    }

    fn ok(body: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&body).unwrap()
    }

    fn response(bytes: &[u8]) -> http::Response<&[u8]> {
        http::Response::builder().status(200).body(bytes).unwrap()
    }

    fn member(
        event_id: &str,
        user: &str,
        membership: &str,
        name: Option<&str>,
        at: u64,
    ) -> serde_json::Value {
        let mut content = json!({"membership": membership});
        if let Some(name) = name {
            content["displayname"] = json!(name);
        }
        json!({"type": "m.room.member", "event_id": event_id, "sender": user, "state_key": user,
               "origin_server_ts": at, "content": content})
    }

    fn message(event_id: &str, sender: &str, body: &str, at: u64) -> serde_json::Value {
        json!({"type": "m.room.message", "event_id": event_id, "sender": sender,
               "origin_server_ts": at, "content": {"msgtype": "m.text", "body": body}})
    }

    fn lobby_initial_sync() -> serde_json::Value {
        json!({
            "next_batch": "s1",
            "rooms": {"join": {"!lobby:hs": {
                "state": {"events": [
                    {"type": "m.room.create", "event_id": "$c", "sender": "@alice:hs", "state_key": "",
                     "origin_server_ts": 1, "content": {"room_version": "11"}},
                    member("$ma", "@alice:hs", "join", Some("Alice"), 2),
                ]},
                "timeline": {"events": [
                    {"type": "m.room.name", "event_id": "$n", "sender": "@alice:hs", "state_key": "",
                     "origin_server_ts": 3, "content": {"name": "Lobby"}},
                    member("$mb", "@bob:hs", "join", Some("Bob"), 4),
                    message("$m1", "@alice:hs", "hello", 5),
                    {"type": "m.room.encrypted", "event_id": "$e", "sender": "@alice:hs",
                     "origin_server_ts": 6, "content": {"algorithm": "m.megolm.v1.aes-sha2"}},
                    {"type": "m.room.power_levels", "event_id": "$p", "sender": "@alice:hs",
                     "state_key": "", "origin_server_ts": 7, "content": {}},
                    {"this is": "not an event"},
                ], "limited": false, "prev_batch": "p0"},
            }}}
        })
    }

    fn bodies(engine: &Engine, room_id: &RoomId) -> Vec<String> {
        engine
            .room(room_id)
            .unwrap()
            .timeline()
            .items()
            .into_iter()
            .map(|item| item.body.clone())
            .collect()
    }

    #[test]
    fn applies_initial_sync() {
        let mut engine = Engine::new(session());
        assert!(!engine.has_synced());
        apply(&mut engine, lobby_initial_sync());
        assert!(engine.has_synced());

        let room_id = owned_room_id!("!lobby:hs");
        assert_eq!(engine.room_name(&room_id).as_deref(), Some("Lobby"));
        assert_eq!(
            bodies(&engine, &room_id),
            [
                "Alice changed the room name to Lobby",
                "Bob joined the room",
                "hello",
                "This message could not be decrypted"
            ]
        );
        let room = engine.room(&room_id).unwrap();
        let hello = room.timeline().items().into_iter().nth(2).unwrap();
        assert_eq!(hello.sender_name, "Alice");
        assert_eq!(hello.kind, ItemKind::Message);
        assert_eq!(
            room.timeline().items().into_iter().nth(3).unwrap().kind,
            ItemKind::Encrypted
        );
        assert!(room.is_loaded());
    }

    #[test]
    fn a_verification_request_reads_as_a_line_not_its_fallback() {
        let mut engine = Engine::new(session());
        apply(&mut engine, lobby_initial_sync());
        apply(
            &mut engine,
            json!({"next_batch": "s2", "rooms": {"join": {"!lobby:hs": {"timeline": {"events": [
                {"type": "m.room.message", "event_id": "$v", "sender": "@bob:hs", "origin_server_ts": 8,
                 "content": {"msgtype": "m.key.verification.request", "to": "@alice:hs", "from_device": "BOB",
                             "methods": ["m.sas.v1"], "body": "@bob:hs is requesting to verify your key, but your client does not support in-chat key verification."}},
            ]}}}}}),
        );
        let room_id = owned_room_id!("!lobby:hs");
        let item = engine
            .room(&room_id)
            .unwrap()
            .timeline()
            .items()
            .into_iter()
            .last()
            .unwrap();
        assert_eq!(
            (item.kind, item.body.as_str()),
            (ItemKind::State, "Bob asked Alice to verify")
        );
    }

    #[test]
    fn incremental_sync_appends_and_dedups() {
        let mut engine = Engine::new(session());
        apply(&mut engine, lobby_initial_sync());
        let request = engine.sync_request().unwrap();
        assert!(request.uri().query().unwrap().contains("since=s1"));
        assert!(request.uri().query().unwrap().contains("timeout=30000"));

        apply(
            &mut engine,
            json!({"next_batch": "s2", "rooms": {"join": {"!lobby:hs": {
                "timeline": {"events": [message("$m1", "@alice:hs", "hello", 5), message("$m2", "@alice:hs", "again", 8)]}
            }}}}),
        );
        let room_id = owned_room_id!("!lobby:hs");
        let list = bodies(&engine, &room_id);
        assert_eq!(list.iter().filter(|body| *body == "hello").count(), 1);
        assert_eq!(list.last().unwrap(), "again");
        assert!(
            engine
                .sync_request()
                .unwrap()
                .uri()
                .query()
                .unwrap()
                .contains("since=s2")
        );
    }

    #[test]
    fn names_rooms_by_alias_then_members_then_id() {
        let mut engine = Engine::new(session());
        apply(
            &mut engine,
            json!({"next_batch": "s1", "rooms": {"join": {
                "!alias:hs": {"state": {"events": [
                    {"type": "m.room.canonical_alias", "event_id": "$a", "sender": "@alice:hs", "state_key": "",
                     "origin_server_ts": 1, "content": {"alias": "#general:hs"}}]}},
                "!dm:hs": {"state": {"events": [
                    member("$1", "@bob:hs", "join", Some("Bob"), 1),
                    member("$2", "@carol:hs", "join", Some("Carol"), 1),
                    member("$3", "@dave:hs", "join", None, 1)]}},
                "!heroes:hs": {"summary": {"m.heroes": ["@erin:hs"]}},
                "!empty:hs": {},
            }}}),
        );
        assert_eq!(
            engine.room_name(&owned_room_id!("!alias:hs")).unwrap(),
            "#general:hs"
        );
        assert_eq!(
            engine.room_name(&owned_room_id!("!dm:hs")).unwrap(),
            "Carol and dave"
        );
        assert_eq!(
            engine.room_name(&owned_room_id!("!heroes:hs")).unwrap(),
            "erin"
        );
        assert_eq!(
            engine.room_name(&owned_room_id!("!empty:hs")).unwrap(),
            "!empty:hs"
        );
    }

    fn invite_sync() -> serde_json::Value {
        json!({"next_batch": "s1", "rooms": {"invite": {"!lobby:hs": {"invite_state": {"events": [
            {"type": "m.room.name", "sender": "@alice:hs", "state_key": "", "content": {"name": "Lobby"}},
            {"type": "m.room.member", "sender": "@alice:hs", "state_key": "@alice:hs",
             "content": {"membership": "join", "displayname": "Alice"}},
            {"type": "m.room.member", "sender": "@alice:hs", "state_key": "@bob:hs",
             "content": {"membership": "invite"}},
        ]}}}}})
    }

    #[test]
    fn invite_then_join_moves_room_out_of_invites() {
        let mut engine = Engine::new(session());
        apply(&mut engine, invite_sync());
        let invites = engine.invites();
        assert_eq!(invites.len(), 1);
        assert_eq!(invites[0].name, "Lobby");
        assert_eq!(
            invites[0].inviter.as_deref().map(UserId::as_str),
            Some("@alice:hs")
        );
        assert_eq!(invites[0].inviter_name.as_deref(), Some("Alice"));
        assert!(engine.room_list().is_empty());

        // The join response alone makes the room selectable, still loading.
        let body = ok(json!({"room_id": "!lobby:hs"}));
        let (room_id, direct) = engine
            .handle_join_response(response(&body), ts(10))
            .unwrap();
        assert!(
            direct.is_none(),
            "not a direct chat: m.direct stays as it is"
        );
        assert!(engine.invites().is_empty());
        let list = engine.room_list();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].name, "Lobby");
        assert!(!list[0].loaded);

        // A stale sync still listing the invite must not bring it back.
        apply(&mut engine, invite_sync());
        assert!(engine.invites().is_empty());

        apply(&mut engine, lobby_initial_sync());
        assert!(engine.room(&room_id).unwrap().is_loaded());
        assert!(engine.invites().is_empty());
    }

    fn dm_invite_sync(is_direct: serde_json::Value) -> serde_json::Value {
        json!({"next_batch": "s1", "rooms": {"invite": {"!dm:hs": {"invite_state": {"events": [
            {"type": "m.room.member", "sender": "@alice:hs", "state_key": "@alice:hs",
             "content": {"membership": "join", "displayname": "Alice"}},
            {"type": "m.room.member", "sender": "@alice:hs", "state_key": "@bob:hs",
             "content": {"membership": "invite", "is_direct": is_direct}},
        ]}}}}})
    }

    #[test]
    fn accepting_a_direct_invite_lists_it_in_m_direct_under_the_inviter() {
        let mut engine = Engine::new(session());
        apply(&mut engine, dm_invite_sync(json!(true)));
        assert!(engine.invites()[0].is_direct);
        engine.join_request("!dm:hs").unwrap();
        // The sync that shows us in the room can come before the join response.
        apply(
            &mut engine,
            json!({"next_batch": "s2", "rooms": {"join": {"!dm:hs": {"timeline": {"events": [
                {"type": "m.room.member", "sender": "@bob:hs", "state_key": "@bob:hs",
                 "event_id": "$j", "origin_server_ts": 5, "content": {"membership": "join"}}]}}}}}),
        );
        assert!(engine.invites().is_empty());
        let body = ok(json!({"room_id": "!dm:hs"}));
        let (room_id, direct) = engine
            .handle_join_response(response(&body), ts(10))
            .unwrap();
        let request = direct.expect("an m.direct update");
        assert_eq!(request.method(), http::Method::PUT);
        assert!(
            request
                .uri()
                .path()
                .ends_with("/user/@bob:hs/account_data/m.direct"),
            "{}",
            request.uri()
        );
        let sent: serde_json::Value = serde_json::from_slice(request.body()).unwrap();
        assert_eq!(sent, json!({"@alice:hs": ["!dm:hs"]}));
        assert!(engine.is_direct(&room_id));
        assert_eq!(
            engine.direct_room_with(user_id!("@alice:hs")),
            Some(room_id)
        );
    }

    #[test]
    fn a_malformed_is_direct_loses_only_the_flag() {
        let mut engine = Engine::new(session());
        apply(&mut engine, dm_invite_sync(json!("yes")));
        let invites = engine.invites();
        assert_eq!(invites.len(), 1, "the invite is still listed");
        assert!(!invites[0].is_direct);
        assert_eq!(invites[0].inviter_name.as_deref(), Some("Alice"));
        engine.join_request("!dm:hs").unwrap();
        let body = ok(json!({"room_id": "!dm:hs"}));
        let (_, direct) = engine
            .handle_join_response(response(&body), ts(10))
            .unwrap();
        assert!(direct.is_none());
    }

    #[test]
    fn joined_section_removes_invite() {
        let mut engine = Engine::new(session());
        apply(&mut engine, invite_sync());
        apply(&mut engine, lobby_initial_sync());
        assert!(engine.invites().is_empty());
        assert_eq!(engine.room_list()[0].name, "Lobby");
    }

    #[test]
    fn local_echo_is_replaced_by_remote_echo() {
        let mut engine = Engine::new(session());
        apply(&mut engine, lobby_initial_sync());
        let room_id = owned_room_id!("!lobby:hs");
        let txn: OwnedTransactionId = "txn1".into();
        let request = engine
            .send_message(
                &room_id,
                Draft {
                    text: "hi there".into(),
                    ..Draft::default()
                },
                txn.clone(),
                ts(100),
            )
            .unwrap()
            .now()
            .unwrap();
        assert!(request.uri().path().ends_with("/send/m.room.message/txn1"));
        let last = engine
            .room(&room_id)
            .unwrap()
            .timeline()
            .items()
            .into_iter()
            .last()
            .unwrap()
            .clone();
        assert_eq!(last.send_state, SendState::Pending);
        assert_eq!(last.sender_name, "Bob");

        let mut echo = message("$echo", "@bob:hs", "hi there", 101);
        echo["unsigned"] = json!({"transaction_id": "txn1"});
        apply(
            &mut engine,
            json!({"next_batch": "s2", "rooms": {"join": {"!lobby:hs": {"timeline": {"events": [echo]}}}}}),
        );

        let items: Vec<_> = engine
            .room(&room_id)
            .unwrap()
            .timeline()
            .items()
            .into_iter()
            .collect();
        assert_eq!(
            items.iter().filter(|item| item.body == "hi there").count(),
            1
        );
        let last = items.last().unwrap();
        assert_eq!(last.send_state, SendState::Sent);
        assert_eq!(
            last.event_id.as_deref().map(|id| id.as_str()),
            Some("$echo")
        );

        // The send response arriving afterwards changes nothing.
        let body = ok(json!({"event_id": "$echo"}));
        engine
            .handle_send_response(&room_id, &txn, response(&body))
            .unwrap();
        assert_eq!(engine.room(&room_id).unwrap().timeline().len(), items.len());
    }

    #[test]
    fn failed_send_can_be_retried_with_same_txn_id() {
        let mut engine = Engine::new(session());
        apply(&mut engine, lobby_initial_sync());
        let room_id = owned_room_id!("!lobby:hs");
        let txn: OwnedTransactionId = "txn2".into();
        let _ = engine
            .send_message(
                &room_id,
                Draft {
                    text: "oops".into(),
                    ..Draft::default()
                },
                txn.clone(),
                ts(100),
            )
            .unwrap();
        let error = br#"{"errcode":"M_UNKNOWN","error":"boom"}"#;
        let failed = http::Response::builder()
            .status(500)
            .body(&error[..])
            .unwrap();
        assert!(engine.handle_send_response(&room_id, &txn, failed).is_err());
        let state = |engine: &Engine| {
            engine
                .room(&room_id)
                .unwrap()
                .timeline()
                .items()
                .into_iter()
                .last()
                .unwrap()
                .send_state
        };
        assert_eq!(state(&engine), SendState::Failed);

        let retry = engine.retry_send(&room_id, &txn).unwrap().now().unwrap();
        assert!(retry.uri().path().ends_with("/txn2"));
        assert_eq!(state(&engine), SendState::Pending);
    }

    #[test]
    fn rooms_are_sorted_by_latest_activity() {
        let mut engine = Engine::new(session());
        apply(
            &mut engine,
            json!({"next_batch": "s1", "rooms": {"join": {
                "!a:hs": {"timeline": {"events": [message("$a", "@x:hs", "a", 10)]}},
                "!b:hs": {"timeline": {"events": [message("$b", "@x:hs", "b", 20)]}},
                "!c:hs": {"timeline": {"events": [message("$c", "@x:hs", "c", 15)]}},
            }}}),
        );
        let order = |engine: &Engine| {
            engine
                .room_list()
                .into_iter()
                .map(|room| room.room_id.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(order(&engine), ["!b:hs", "!c:hs", "!a:hs"]);

        apply(
            &mut engine,
            json!({"next_batch": "s2", "rooms": {"join": {
                "!a:hs": {"timeline": {"events": [message("$a2", "@x:hs", "a2", 30)]}},
            }}}),
        );
        assert_eq!(order(&engine), ["!a:hs", "!b:hs", "!c:hs"]);

        let _ = engine
            .send_message(
                &owned_room_id!("!c:hs"),
                Draft {
                    text: "mine".into(),
                    ..Draft::default()
                },
                "t".into(),
                ts(40),
            )
            .unwrap();
        assert_eq!(order(&engine)[0], "!c:hs");
    }

    #[test]
    fn membership_changes_read_as_sentences() {
        let mut engine = Engine::new(session());
        let mut rename = member("$r", "@alice:hs", "join", Some("Alice B"), 3);
        rename["unsigned"] =
            json!({"prev_content": {"membership": "join", "displayname": "Alice"}});
        apply(
            &mut engine,
            json!({"next_batch": "s1", "rooms": {"join": {"!r:hs": {"timeline": {"events": [
                member("$j", "@alice:hs", "join", Some("Alice"), 1),
                {"type": "m.room.member", "event_id": "$i", "sender": "@alice:hs", "state_key": "@carol:hs",
                 "origin_server_ts": 2, "content": {"membership": "invite"}},
                rename,
                member("$l", "@carol:hs", "leave", None, 4),
                {"type": "m.room.topic", "event_id": "$t", "sender": "@alice:hs", "state_key": "",
                 "origin_server_ts": 5, "content": {"topic": "Plans"}},
                {"type": "m.room.message", "event_id": "$x", "sender": "@alice:hs",
                 "origin_server_ts": 6, "content": {}},
            ]}}}}}),
        );
        assert_eq!(
            bodies(&engine, &owned_room_id!("!r:hs")),
            [
                "Alice joined the room",
                "Alice invited carol",
                "Alice changed their display name to Alice B",
                "carol rejected the invitation",
                "Alice B changed the topic to Plans",
                "Message deleted",
            ]
        );
    }

    #[test]
    fn leave_section_removes_room() {
        let mut engine = Engine::new(session());
        apply(&mut engine, lobby_initial_sync());
        apply(
            &mut engine,
            json!({"next_batch": "s2", "rooms": {"leave": {"!lobby:hs": {}}}}),
        );
        assert!(engine.room_list().is_empty());
    }

    #[test]
    fn media_messages_and_avatars_come_through_sync_and_local_echo() {
        let mut engine = Engine::new(session());
        apply(&mut engine, lobby_initial_sync());
        let lobby = ruma::room_id!("!lobby:hs");
        apply(
            &mut engine,
            json!({"next_batch": "s2", "rooms": {"join": {"!lobby:hs": {"timeline": {"events": [
                {"type": "m.room.avatar", "event_id": "$av", "sender": "@alice:hs", "state_key": "",
                 "origin_server_ts": 8, "content": {"url": "mxc://hs/roompic"}},
                {"type": "m.room.member", "event_id": "$mb2", "sender": "@bob:hs", "state_key": "@bob:hs",
                 "origin_server_ts": 9, "content": {"membership": "join", "displayname": "Bob", "avatar_url": "mxc://hs/bobpic"}},
                {"type": "m.room.message", "event_id": "$img", "sender": "@bob:hs", "origin_server_ts": 10,
                 "content": {"msgtype": "m.image", "body": "cat.png", "url": "mxc://hs/cat",
                             "info": {"mimetype": "image/png", "w": 10, "h": 20}}},
            ]}}}}}),
        );
        let room = engine.room(lobby).unwrap();
        assert_eq!(
            room.avatar(),
            crate::Mxc::parse("mxc://hs/roompic").as_ref()
        );
        let items = room.items(engine.user_id());
        let image = items
            .iter()
            .find(|i| i.event_id.as_deref().map(|e| e.as_str()) == Some("$img"))
            .unwrap();
        let media = image.media.as_ref().unwrap();
        assert_eq!(
            (media.kind, media.width, media.height),
            (crate::MediaKind::Image, Some(10), Some(20))
        );
        assert_eq!(image.sender_avatar, crate::Mxc::parse("mxc://hs/bobpic"));

        // An edit changes the caption; a redaction takes the file away.
        apply(
            &mut engine,
            json!({"next_batch": "s3", "rooms": {"join": {"!lobby:hs": {"timeline": {"events": [
                {"type": "m.room.message", "event_id": "$edit", "sender": "@bob:hs", "origin_server_ts": 12,
                 "content": {"msgtype": "m.image", "body": "* a cat", "m.new_content": {"msgtype": "m.image", "body": "a cat"},
                             "m.relates_to": {"rel_type": "m.replace", "event_id": "$img"}}},
            ]}}}}}),
        );
        let caption = |engine: &Engine| {
            let items = engine.room(lobby).unwrap().items(engine.user_id());
            let image = items
                .into_iter()
                .find(|i| i.event_id.as_deref().map(|e| e.as_str()) == Some("$img"))
                .unwrap();
            image.media.map(|m| m.caption)
        };
        assert_eq!(caption(&engine), Some(Some("a cat".to_owned())));
        apply(
            &mut engine,
            json!({"next_batch": "s4", "rooms": {"join": {"!lobby:hs": {"timeline": {"events": [
                {"type": "m.room.redaction", "event_id": "$red", "sender": "@alice:hs", "origin_server_ts": 13,
                 "redacts": "$img", "content": {"redacts": "$img"}},
            ]}}}}}),
        );
        assert_eq!(caption(&engine), None, "a deleted image is not shown");

        let draft = crate::MediaDraft {
            kind: crate::MediaKind::File,
            url: crate::Mxc::parse("mxc://hs/doc").unwrap(),
            encryption: None,
            filename: "q3.pdf".into(),
            caption: Some("the report".into()),
            mimetype: "application/pdf".into(),
            size: 1234,
            width: None,
            height: None,
            duration_ms: None,
            thumbnail: None,
            blurhash: None,
        };
        let txn = OwnedTransactionId::from("t-media");
        let request = engine
            .send_media(
                lobby,
                &draft,
                txn.clone(),
                MilliSecondsSinceUnixEpoch(11u32.into()),
            )
            .unwrap()
            .now()
            .unwrap();
        let sent: serde_json::Value = serde_json::from_slice(request.body()).unwrap();
        assert_eq!(
            sent,
            json!({"msgtype": "m.file", "body": "the report", "filename": "q3.pdf", "url": "mxc://hs/doc",
                   "info": {"mimetype": "application/pdf", "size": 1234}, "m.mentions": {}})
        );
        let items = engine.room(lobby).unwrap().items(engine.user_id());
        let echo = items.last().unwrap();
        assert_eq!(echo.send_state, SendState::Pending);
        assert_eq!(
            echo.media.as_ref().unwrap().caption.as_deref(),
            Some("the report")
        );
        // A failed send can be retried with the same content.
        engine.mark_send_failed(lobby, &txn);
        let retry = engine.retry_send(lobby, &txn).unwrap().now().unwrap();
        assert_eq!(retry.body(), request.body());
    }

    #[test]
    fn calls_show_as_one_line_each_in_the_history() {
        let mut engine = Engine::new(session());
        apply(&mut engine, lobby_initial_sync());
        let lobby = ruma::room_id!("!lobby:hs");
        let call = |id: &str, kind: &str, sender: &str, at: u64, content: serde_json::Value| {
            let mut content = content;
            content["call_id"] = json!(id);
            content["version"] = json!("1");
            content["party_id"] = json!("p");
            json!({"type": format!("m.call.{kind}"), "event_id": format!("${id}-{kind}-{at}"), "sender": sender,
                   "origin_server_ts": at, "content": content})
        };
        let video_offer = json!({"lifetime": 60000, "offer": {"type": "offer", "sdp": "v=0\r\nm=audio 9\r\nm=video 9\r\n"}});
        let voice_offer =
            json!({"lifetime": 60000, "offer": {"type": "offer", "sdp": "v=0\r\nm=audio 9\r\n"}});
        apply(
            &mut engine,
            json!({"next_batch": "s2", "rooms": {"join": {"!lobby:hs": {"timeline": {"events": [
                // Answered, 3:12 long. The hangup arrives first, as back-pagination may do.
                call("a", "hangup", "@bob:hs", 212_000, json!({})),
                call("a", "invite", "@bob:hs", 10_000, video_offer),
                call("a", "answer", "@alice:hs", 20_000, json!({"answer": {"type": "answer", "sdp": "x"}})),
                // We (bob) rang, nobody answered.
                call("b", "invite", "@bob:hs", 300_000, voice_offer.clone()),
                call("b", "hangup", "@bob:hs", 360_000, json!({"reason": "invite_timeout"})),
                // Alice rang us, nobody answered.
                call("c", "invite", "@alice:hs", 400_000, voice_offer.clone()),
                call("c", "hangup", "@alice:hs", 460_000, json!({"reason": "invite_timeout"})),
                // Alice declined our call; we declined hers.
                call("d", "invite", "@bob:hs", 500_000, voice_offer.clone()),
                call("d", "reject", "@alice:hs", 505_000, json!({})),
                call("f", "invite", "@alice:hs", 550_000, voice_offer.clone()),
                call("f", "reject", "@bob:hs", 555_000, json!({})),
                // A third party cannot speak for the invitee; a reject after the answer is
                // ignored.
                call("h", "invite", "@alice:hs", 700_000, json!({"lifetime": 60000, "invitee": "@bob:hs",
                    "offer": {"type": "offer", "sdp": "v=0\r\nm=audio 9\r\n"}})),
                call("h", "reject", "@carol:hs", 701_000, json!({})),
                call("h", "answer", "@bob:hs", 702_000, json!({"answer": {"type": "answer", "sdp": "x"}})),
                call("h", "reject", "@bob:hs", 703_000, json!({})),
                call("h", "hangup", "@carol:hs", 704_000, json!({})),
                call("h", "hangup", "@alice:hs", 707_000, json!({})),
                // Still ringing, either way.
                call("e", "invite", "@bob:hs", 600_000, voice_offer.clone()),
                call("g", "invite", "@alice:hs", 650_000, voice_offer),
            ]}}}}}),
        );
        let calls: Vec<String> = engine
            .room(lobby)
            .unwrap()
            .items(engine.user_id())
            .into_iter()
            .filter(|item| item.call_id.is_some())
            .map(|item| item.body)
            .collect();
        assert_eq!(
            calls,
            [
                "Video call ended · 3:12",
                "No answer",
                "Missed call",
                "Call declined",
                "You declined the call",
                "Call ended · 0:05",
                "Calling…",
                "Incoming call",
            ]
        );
        // Only the invites are lines; the other call events are not items.
        let all = engine.room(lobby).unwrap().items(engine.user_id());
        assert!(
            all.iter()
                .all(|item| item.call_id.is_some() || !item.body.is_empty())
        );
        assert_eq!(
            all.iter()
                .filter(|item| item.kind == ItemKind::State && item.call_id.is_some())
                .count(),
            8
        );
    }

    #[test]
    fn call_events_wait_for_the_call_manager() {
        let mut engine = Engine::new(session());
        apply(&mut engine, lobby_initial_sync());
        let lobby = ruma::room_id!("!lobby:hs");
        // Alice and bob are the only members: a call would be with alice.
        assert_eq!(
            engine
                .room(lobby)
                .unwrap()
                .call_peer(engine.user_id())
                .as_deref()
                .map(|u| u.as_str()),
            Some("@alice:hs")
        );
        assert!(!engine.call_waiting());
        let invite = |id: &str, age: u64| {
            json!({"type": "m.call.invite", "event_id": format!("${id}"), "sender": "@alice:hs",
                   "origin_server_ts": 100, "unsigned": {"age": age},
                   "content": {"call_id": id, "party_id": "A", "version": "1", "lifetime": 60000,
                               "offer": {"type": "offer", "sdp": "v=0"}}})
        };
        let sync = |batch: &str, events: serde_json::Value| json!({"next_batch": batch, "rooms": {"join": {"!lobby:hs": {"timeline": {"events": events}}}}});
        // An invite whose lifetime ran out before it reached us does not wake the calls.
        apply(&mut engine, sync("s2", json!([invite("old", 58_000)])));
        assert!(!engine.call_waiting());
        assert_eq!(engine.take_call_signals().len(), 1);
        apply(
            &mut engine,
            sync(
                "s3",
                json!([invite("new", 500), message("$m9", "@alice:hs", "hi", 101)]),
            ),
        );
        assert!(engine.call_waiting());
        // A repeated event is not handed over twice; messages are never.
        apply(&mut engine, sync("s4", json!([invite("new", 900)])));
        let signals = engine.take_call_signals();
        assert_eq!(signals.len(), 1);
        assert_eq!(
            (signals[0].event_type.as_str(), signals[0].age_ms),
            ("m.call.invite", Some(500))
        );
        assert!(engine.take_call_signals().is_empty());
        assert!(!engine.call_waiting());
        // Nobody takes them: only the newest are kept.
        for n in 0..(MAX_CALL_SIGNALS + 10) {
            apply(
                &mut engine,
                sync(&format!("t{n}"), json!([invite(&format!("c{n}"), 1)])),
            );
        }
        assert_eq!(engine.take_call_signals().len(), MAX_CALL_SIGNALS);
        // A third member: no 1:1 calls here any more.
        apply(
            &mut engine,
            sync("s5", json!([member("$mc", "@carol:hs", "join", None, 200)])),
        );
        assert_eq!(
            engine.room(lobby).unwrap().call_peer(engine.user_id()),
            None
        );
        // The server's count wins over the members lazy loading happened to send.
        let counted = |batch: &str, count: u64| json!({"next_batch": batch, "rooms": {"join": {"!lobby:hs": {"summary": {"m.joined_member_count": count}}}}});
        apply(&mut engine, counted("s6", 2));
        assert!(
            engine
                .room(lobby)
                .unwrap()
                .call_peer(engine.user_id())
                .is_some()
        );
        apply(&mut engine, counted("s7", 9));
        assert_eq!(
            engine.room(lobby).unwrap().call_peer(engine.user_id()),
            None
        );
        // Encrypted rooms have calls too: their events are encrypted.
        apply(&mut engine, counted("s8", 2));
        apply(
            &mut engine,
            sync(
                "s9",
                json!([{"type": "m.room.encryption", "event_id": "$enc", "sender": "@alice:hs",
            "state_key": "", "origin_server_ts": 300, "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]),
            ),
        );
        assert!(
            engine
                .room(lobby)
                .unwrap()
                .call_peer(engine.user_id())
                .is_some()
        );
        assert!(engine.room(lobby).unwrap().is_encrypted());
    }
}

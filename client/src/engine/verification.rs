//! SAS verification routed through the engine, and secret sharing between our devices.
//!
//! Own devices verify over to-device messages; other users in their direct chat, where the
//! request is an `m.room.message` (msgtype `m.key.verification.request`) and the later
//! messages relate to it — encrypted like any event when the room is. Each flow is a
//! [`Verification`] (`crypto/sas.rs`); this module feeds it incoming events (to-device
//! events from the machine, timeline events plain or decrypted) and sends what it returns.
//!
//! When a flow is done: our other device is signed with our self-signing key, another
//! user's master key with our user-signing key, and the signatures uploaded. A device that
//! verified with one of ours and lacks the cross-signing keys asks it for them
//! (`m.secret.request`); the answer (`m.secret.send`) must come over Olm from a device of
//! ours that is verified, and is used as the recovery key's secrets are.

use std::collections::{BTreeMap, BTreeSet};

use ruma::{
    OwnedDeviceId, OwnedEventId, OwnedRoomId, OwnedTransactionId, OwnedUserId, RoomId, UserId,
};
use serde_json::{Value, json};
use vodozemac::Ed25519PublicKey;

use super::{
    Engine,
    crypto::SendKind,
    trust::{TrustError, TrustRequest},
};
use crate::{
    ApiError, HttpResponse,
    crypto::{
        ToDeviceEvent,
        cross_signing::{KeyUsage, SignaturesUpload},
        sas::{self, Flow, OwnKeys, PeerKeys, Phase, SasEmoji, Verification, event_type},
        secret_storage::BACKUP_KEY_SECRET,
    },
    endpoint::{self, json as json_body},
    event::{Event, EventKind},
    requests::{self, target},
    sync::JoinedRoom,
};

/// To-device contents by user and device, as `/sendToDevice` takes them.
type ToDeviceMessages = BTreeMap<OwnedUserId, BTreeMap<OwnedDeviceId, Value>>;

/// The secrets a device of ours asks for after being verified.
const WANTED_SECRETS: [&str; 4] = [
    "m.cross_signing.master",
    "m.cross_signing.self_signing",
    "m.cross_signing.user_signing",
    BACKUP_KEY_SECRET,
];

/// One verification, for the UI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationView {
    /// Pass to the verification actions.
    pub id: String,
    /// The other user (ourselves for another device of ours).
    pub other_user: OwnedUserId,
    /// The other device, once known.
    pub other_device: Option<OwnedDeviceId>,
    /// The direct chat of an in-room verification.
    pub room_id: Option<OwnedRoomId>,
    /// Where it stands ([`Phase::Requested`] until the other side answers or, for theirs,
    /// until our user accepts; [`Phase::ShowSas`] shows `emoji`).
    pub phase: Phase,
    /// The seven emoji with their names, once the keys are exchanged.
    pub emoji: Option<[SasEmoji; 7]>,
    /// The three numbers (when the other side shows no emoji).
    pub decimals: Option<(u16, u16, u16)>,
    /// Whether we asked.
    pub we_started: bool,
}

#[derive(Debug)]
struct Entry {
    /// Stable ID for the UI (our in-room request's transaction ID until its event ID is
    /// known, else the flow ID).
    id: String,
    room_id: Option<OwnedRoomId>,
    peer: OwnedUserId,
    flow: Option<Verification>,
    we_started: bool,
    finished_handled: bool,
}

/// Verifications and secret requests under way (not stored: a reload drops them).
#[derive(Debug, Default)]
pub(crate) struct Verifications {
    entries: Vec<Entry>,
    /// Our devices verified in this run (their ed25519 key): trusted for secrets even before
    /// our signature on them comes back from `/keys/query`.
    verified_devices: BTreeMap<OwnedDeviceId, String>,
    /// Our `m.secret.request`s: request ID → secret name.
    secret_requests: BTreeMap<String, String>,
    /// To-device requests from a device we don't know yet, until its keys are fetched: the
    /// flow checks the MAC against the keys it starts with.
    held: Vec<(OwnedUserId, Value)>,
    /// Secret requests from a device of ours whose verification with us has not finished
    /// (its `done` can come after them): answered once it finishes, dropped if it fails.
    held_secret_requests: Vec<ToDeviceEvent>,
    counter: u64,
}

impl Engine {
    fn own_keys(&self) -> Option<OwnKeys> {
        let own = &self.session.user_id;
        let published = self
            .crypto
            .master_key(own)
            .and_then(|m| m.public_key().ok());
        let master_key = published.filter(|k| Some(k.to_base64()) == self.trust.trusted_master);
        Some(OwnKeys {
            user_id: own.clone(),
            device_id: self.session.device_id.clone(),
            device_key: Ed25519PublicKey::from_base64(&self.crypto.ed25519_key()).ok()?,
            master_key,
        })
    }

    fn peer_keys(&self, user: &UserId) -> PeerKeys {
        let devices = self
            .crypto
            .devices(user)
            .map(|d| {
                d.devices
                    .values()
                    .filter_map(|dev| Some((dev.device_id.clone(), dev.ed25519_key()?)))
                    .collect()
            })
            .unwrap_or_default();
        PeerKeys {
            user_id: user.to_owned(),
            devices,
            master_key: self
                .crypto
                .master_key(user)
                .and_then(|m| m.public_key().ok()),
        }
    }

    fn next_flow_id(&mut self) -> String {
        self.verifications.counter += 1;
        let prefix: String = self
            .crypto
            .curve25519_key()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(6)
            .collect();
        format!(
            "weft{prefix}{}{}",
            self.crypto.now(),
            self.verifications.counter
        )
    }

    /// The verifications under way (and finished ones until dismissed with
    /// [`Self::cancel_verification`]).
    pub fn verifications(&self) -> Vec<VerificationView> {
        self.driver.verifications(self)
    }

    pub(super) fn verifications_impl(&self) -> Vec<VerificationView> {
        self.verifications
            .entries
            .iter()
            .map(|entry| {
                let flow = entry.flow.as_ref();
                VerificationView {
                    id: entry.id.clone(),
                    other_user: entry.peer.clone(),
                    other_device: flow.and_then(|f| f.their_device_id().map(ToOwned::to_owned)),
                    room_id: entry.room_id.clone(),
                    phase: flow
                        .map_or(Phase::Requested { we_requested: true }, Verification::phase),
                    emoji: flow.and_then(Verification::emoji),
                    decimals: flow.and_then(Verification::decimals),
                    we_started: entry.we_started,
                }
            })
            .collect()
    }

    /// Asks `user` to verify: our other devices over to-device messages when `user` is us,
    /// else in our direct chat with them (encrypted if it is). Returns the verification's ID.
    pub fn start_verification(&mut self, user: &UserId) -> Result<String, TrustError> {
        self.driver
            .verification(self, super::VerificationAction::Start(user))
    }

    pub(super) fn start_verification_impl(&mut self, user: &UserId) -> Result<String, TrustError> {
        let own = self.own_keys().ok_or(TrustError::NotVerified)?;
        let now = self.crypto.now();
        if *user == self.session.user_id {
            let id = self.next_flow_id();
            let (flow, out) =
                Verification::request_to_device(own, self.peer_keys(user), id.clone(), now);
            self.verifications.entries.push(Entry {
                id: id.clone(),
                room_id: None,
                peer: user.to_owned(),
                flow: Some(flow),
                we_started: true,
                finished_handled: false,
            });
            self.dispatch(None, user, out);
            return Ok(id);
        }
        let room_id = self
            .direct
            .get(user)
            .and_then(|rooms| {
                rooms
                    .iter()
                    .rev()
                    .find(|r| self.rooms.contains_key(*r))
                    .cloned()
            })
            .ok_or(TrustError::NoDirectChat)?;
        let content = sas::in_room_request_content(&own, user);
        let txn_id = self.next_flow_id();
        self.verifications.entries.push(Entry {
            id: txn_id.clone(),
            room_id: Some(room_id.clone()),
            peer: user.to_owned(),
            flow: None,
            we_started: true,
            finished_handled: false,
        });
        self.send_room_event(&room_id, &txn_id, event_type::ROOM_MESSAGE, content);
        Ok(txn_id)
    }

    /// Our user accepts the other side's request (sends `ready`), or starts the emoji
    /// comparison when both are ready.
    pub fn accept_verification(&mut self, id: &str) -> Result<(), TrustError> {
        self.driver
            .verification(self, super::VerificationAction::Accept(id))
            .map(drop)
    }

    pub(super) fn accept_verification_impl(&mut self, id: &str) -> Result<(), TrustError> {
        self.with_flow(id, |flow| match flow.phase() {
            Phase::Ready => flow.start_sas(),
            _ => flow.accept(),
        })
    }

    /// Our user says the emoji match.
    pub fn confirm_verification(&mut self, id: &str) -> Result<(), TrustError> {
        self.driver
            .verification(self, super::VerificationAction::Confirm(id))
            .map(drop)
    }

    pub(super) fn confirm_verification_impl(&mut self, id: &str) -> Result<(), TrustError> {
        self.with_flow(id, Verification::confirm)
    }

    /// Our user says the emoji differ (cancels with `m.mismatched_sas`).
    pub fn mismatch_verification(&mut self, id: &str) -> Result<(), TrustError> {
        self.driver
            .verification(self, super::VerificationAction::Mismatch(id))
            .map(drop)
    }

    pub(super) fn mismatch_verification_impl(&mut self, id: &str) -> Result<(), TrustError> {
        self.with_flow(id, Verification::mismatch)
    }

    /// Cancels (or declines) a verification; a finished one is dismissed.
    pub fn cancel_verification(&mut self, id: &str) -> Result<(), TrustError> {
        self.driver
            .verification(self, super::VerificationAction::Cancel(id))
            .map(drop)
    }

    pub(super) fn cancel_verification_impl(&mut self, id: &str) -> Result<(), TrustError> {
        let index = self
            .verifications
            .entries
            .iter()
            .position(|e| e.id == id)
            .ok_or(TrustError::UnknownVerification)?;
        let finished = self.verifications.entries[index]
            .flow
            .as_ref()
            .is_none_or(|f| matches!(f.phase(), Phase::Done | Phase::Cancelled { .. }));
        if finished {
            self.verifications.entries.remove(index);
            return Ok(());
        }
        self.with_flow(id, Verification::cancel)
    }

    fn with_flow(
        &mut self,
        id: &str,
        act: impl FnOnce(&mut Verification) -> Vec<sas::Outgoing>,
    ) -> Result<(), TrustError> {
        let entry = self
            .verifications
            .entries
            .iter_mut()
            .find(|e| e.id == id)
            .ok_or(TrustError::UnknownVerification)?;
        let flow = entry.flow.as_mut().ok_or(TrustError::UnknownVerification)?;
        let out = act(flow);
        let (room_id, peer) = (entry.room_id.clone(), entry.peer.clone());
        self.dispatch(room_id.as_deref(), &peer, out);
        self.after_flow_change();
        Ok(())
    }

    /// Sends a flow's messages: to-device, or as events in its room.
    fn dispatch(&mut self, room_id: Option<&RoomId>, peer: &UserId, out: Vec<sas::Outgoing>) {
        // One request per run of the same type, in the flow's order (`mac` before `done`).
        let mut by_type: Vec<(&str, ToDeviceMessages)> = Vec::new();
        for message in out {
            match (&message.to_device, room_id) {
                (Some(device), _) => {
                    if by_type
                        .last()
                        .is_none_or(|(kind, _)| *kind != message.event_type)
                    {
                        by_type.push((message.event_type, BTreeMap::new()));
                    }
                    let (_, messages) = by_type.last_mut().expect("pushed above");
                    messages
                        .entry(peer.to_owned())
                        .or_default()
                        .insert(device.clone(), message.content);
                }
                (None, Some(room_id)) => {
                    let txn_id = self.next_flow_id();
                    self.send_room_event(room_id, &txn_id, message.event_type, message.content);
                }
                (None, None) => {}
            }
        }
        for (event_type, messages) in by_type {
            self.crypto.send_to_device(event_type, messages);
        }
    }

    /// Sends a verification event in a room: queued and encrypted in an encrypted room,
    /// else straight away.
    fn send_room_event(
        &mut self,
        room_id: &RoomId,
        txn_id: &str,
        event_type: &str,
        content: Value,
    ) {
        let encrypted = self.rooms.get(room_id).is_some_and(|r| r.is_encrypted());
        let txn: OwnedTransactionId = txn_id.into();
        if encrypted {
            let _ = self.queue_encrypted(room_id, txn, event_type, content, SendKind::Verification);
        } else {
            let request =
                requests::send_request(&self.session, room_id, event_type, &txn, &content);
            self.trust_flight_push(TrustRequest::Verification(txn_id.to_owned()), request);
        }
    }

    fn trust_flight_push(
        &mut self,
        what: TrustRequest,
        request: Result<crate::HttpRequest, ApiError>,
    ) {
        if let Ok(request) = request {
            self.trust_flight.ready.push((what, request));
        }
    }

    /// An in-room verification event was sent: our request's event ID starts its flow.
    pub(super) fn verification_event_sent(
        &mut self,
        txn_id: &str,
        response: HttpResponse<'_>,
    ) -> Result<(), ApiError> {
        let event_id = requests::parse_send(response);
        let waiting = self
            .verifications
            .entries
            .iter()
            .position(|e| e.id == txn_id && e.flow.is_none());
        match (event_id, waiting) {
            (Ok(event_id), Some(index)) => {
                self.start_in_room_flow(index, event_id);
                Ok(())
            }
            (Err(error), Some(index)) => {
                self.verifications.entries.remove(index);
                Err(error)
            }
            (result, None) => result.map(drop),
        }
    }

    /// The response of a queued (encrypted) verification event.
    pub(super) fn verification_sent(
        &mut self,
        txn_id: &OwnedTransactionId,
        event_id: Option<OwnedEventId>,
    ) {
        let Some(index) = self
            .verifications
            .entries
            .iter()
            .position(|e| e.id == txn_id.as_str() && e.flow.is_none())
        else {
            return;
        };
        match event_id {
            Some(event_id) => self.start_in_room_flow(index, event_id),
            None => {
                self.verifications.entries.remove(index);
            }
        }
    }

    fn start_in_room_flow(&mut self, index: usize, event_id: OwnedEventId) {
        let peer = self.verifications.entries[index].peer.clone();
        let Some(own) = self.own_keys() else { return };
        let flow = Verification::requested_in_room(
            own,
            self.peer_keys(&peer),
            event_id,
            self.crypto.now(),
        );
        self.verifications.entries[index].flow = Some(flow);
    }

    /// Verification and secret to-device events from the last sync.
    pub(super) fn route_to_device(&mut self) {
        let events = std::mem::take(&mut self.to_device);
        let mut rest = Vec::new();
        for event in events {
            if event.event_type.starts_with("m.key.verification.") {
                self.receive_verification(None, &event.sender, &event.event_type, &event.content);
                // A flow this finished trusts its device now: its secret requests may come
                // in the same batch.
                self.after_flow_change();
            } else if event.event_type == "m.secret.request" {
                self.receive_secret_request(&event);
            } else if event.event_type == "m.secret.send" {
                self.receive_secret(&event);
            } else {
                rest.push(event);
            }
        }
        self.to_device = rest;
        self.after_flow_change();
    }

    /// Verification events in the timelines of the last sync: plain ones, and encrypted ones
    /// in direct chats (or rooms of two) or rooms with a flow under way, decrypted again here
    /// (the timeline decrypted them already; limiting this to direct chats keeps the cost
    /// down, and verification requests only come in those).
    pub(super) fn route_room_events(&mut self, join: &BTreeMap<OwnedRoomId, JoinedRoom>) {
        for (room_id, update) in join {
            let active = self
                .verifications
                .entries
                .iter()
                .any(|e| e.room_id.as_ref() == Some(room_id));
            // A room of two is a direct chat even when `m.direct` doesn't say so (the
            // other side's client may not have marked it).
            let direct = self.is_direct(room_id)
                || self
                    .rooms
                    .get(room_id)
                    .is_some_and(|r| r.key_recipients().len() <= 2);
            for event in update
                .timeline
                .events
                .iter()
                .filter_map(|raw| Event::parse(raw))
            {
                let (Some(event_id), Some(ts)) = (&event.event_id, event.origin_server_ts) else {
                    continue;
                };
                let (kind, content) = if event.kind == EventKind::Encrypted {
                    if !active && !direct {
                        continue;
                    }
                    match self.crypto.decrypt_room_event(
                        room_id,
                        &event.sender,
                        event_id,
                        ts.get().into(),
                        event.content.get(),
                    ) {
                        Ok(decrypted) => (decrypted.event_type, decrypted.content),
                        Err(_) => continue,
                    }
                } else if event.kind.as_str().starts_with("m.key.verification.")
                    || (event.kind == EventKind::Message
                        && event.content.get().contains(event_type::REQUEST))
                {
                    match crate::event::parse_json::<Value>(event.content.get()) {
                        Ok(content) => (event.kind.as_str().to_owned(), content),
                        Err(_) => continue,
                    }
                } else {
                    continue;
                };
                if kind == event_type::ROOM_MESSAGE {
                    if content.get("msgtype").and_then(Value::as_str) == Some(event_type::REQUEST)
                        && event.sender != self.session.user_id
                    {
                        self.receive_verification(
                            Some((room_id, event_id, ts.get().into())),
                            &event.sender,
                            event_type::REQUEST,
                            &content,
                        );
                    }
                } else if kind.starts_with("m.key.verification.") {
                    self.receive_verification(
                        Some((room_id, event_id, 0)),
                        &event.sender,
                        &kind,
                        &content,
                    );
                }
            }
        }
        self.after_flow_change();
    }

    fn receive_verification(
        &mut self,
        room: Option<(&OwnedRoomId, &OwnedEventId, u64)>,
        sender: &UserId,
        kind: &str,
        content: &Value,
    ) {
        let now = self.crypto.now();
        if kind == event_type::REQUEST {
            let Some(own) = self.own_keys() else { return };
            let (flow_id, sent_ms, room_id) = match room {
                Some((room_id, event_id, ts)) => (
                    Flow::InRoom {
                        request_event_id: event_id.clone(),
                    },
                    ts,
                    Some(room_id.clone()),
                ),
                None => {
                    let Some(txn) = content.get("transaction_id").and_then(Value::as_str) else {
                        return;
                    };
                    let ts = content
                        .get("timestamp")
                        .and_then(Value::as_u64)
                        .unwrap_or(now);
                    (
                        Flow::ToDevice {
                            transaction_id: txn.to_owned(),
                        },
                        ts,
                        None,
                    )
                }
            };
            if room.is_none() {
                let Some(from) = content.get("from_device").and_then(Value::as_str) else {
                    return;
                };
                if sender == self.session.user_id && from == self.session.device_id.as_str() {
                    return;
                }
                if self.crypto.device(sender, from.into()).is_none() {
                    // A device that just appeared (its device-list change may come in the
                    // same sync): fetch its keys first.
                    if !self.crypto.is_outdated(sender) {
                        self.crypto.refresh_user(sender);
                    }
                    self.verifications
                        .held
                        .push((sender.to_owned(), content.clone()));
                    return;
                }
            }
            let id = flow_id.id().to_owned();
            if self
                .verifications
                .entries
                .iter()
                .any(|e| e.flow.as_ref().is_some_and(|f| f.flow().id() == id))
            {
                return;
            }
            let peer = self.peer_keys(sender);
            if let Ok(flow) = Verification::from_request(own, peer, flow_id, content, sent_ms, now)
            {
                self.verifications.entries.push(Entry {
                    id,
                    room_id,
                    peer: sender.to_owned(),
                    flow: Some(flow),
                    we_started: false,
                    finished_handled: false,
                });
            }
            return;
        }
        let Some(flow_id) = Flow::id_of(content).map(ToOwned::to_owned) else {
            return;
        };
        let Some(index) = self
            .verifications
            .entries
            .iter()
            .position(|e| e.flow.as_ref().is_some_and(|f| f.flow().id() == flow_id))
        else {
            return;
        };
        let entry = &mut self.verifications.entries[index];
        let Some(flow) = entry.flow.as_mut() else {
            return;
        };
        let out = flow.receive(sender, kind, content);
        // We asked: start comparing as soon as they are ready.
        let mut out = out;
        if entry.we_started && flow.phase() == Phase::Ready {
            out.extend(flow.start_sas());
        }
        let (room_id, peer) = (entry.room_id.clone(), entry.peer.clone());
        self.dispatch(room_id.as_deref(), &peer, out);
    }

    /// Times flows out (called with every request round).
    pub(super) fn verification_tick(&mut self) {
        for (sender, content) in std::mem::take(&mut self.verifications.held) {
            let from = content
                .get("from_device")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if self.crypto.device(&sender, from.into()).is_some() {
                self.receive_verification(None, &sender, event_type::REQUEST, &content);
            } else if self.crypto.is_outdated(&sender) {
                self.verifications.held.push((sender, content));
            }
            // Else the keys came and the device is not among them: dropped.
        }
        let now = self.crypto.now();
        let mut all = Vec::new();
        for entry in &mut self.verifications.entries {
            if let Some(flow) = entry.flow.as_mut() {
                let out = flow.check_timeout(now);
                if !out.is_empty() {
                    all.push((entry.room_id.clone(), entry.peer.clone(), out));
                }
            }
        }
        for (room_id, peer, out) in all {
            self.dispatch(room_id.as_deref(), &peer, out);
        }
    }

    /// Acts on flows that just finished: signs what they verified.
    fn after_flow_change(&mut self) {
        let own = self.session.user_id.clone();
        let mut done = Vec::new();
        for entry in &mut self.verifications.entries {
            if entry.finished_handled {
                continue;
            }
            if let Some(verified) = entry.flow.as_ref().and_then(Verification::verified) {
                entry.finished_handled = true;
                done.push((entry.peer.clone(), verified.clone()));
            }
        }
        for (peer, verified) in done {
            let mut upload = SignaturesUpload::default();
            if peer == own {
                if let Some((device_id, key)) = &verified.device {
                    self.verifications
                        .verified_devices
                        .insert(device_id.clone(), key.to_base64());
                    if let Some(device) = self.crypto.device(&own, device_id)
                        && device.ed25519 == key.to_base64()
                    {
                        let mut keys = device.keys.clone();
                        if let Value::Object(map) = &mut keys {
                            map.remove("unsigned");
                        }
                        if self.trust.keys.sign_device(&own, &mut keys).is_ok() {
                            let _ = upload.add_device(keys);
                        }
                    }
                }
                // Their MAC proved our master key: this device now trusts it.
                let published = self
                    .crypto
                    .master_key(&own)
                    .and_then(|m| m.public_key().ok());
                if let Some(master) = verified.master_key
                    && published == Some(master)
                    && self.trust.trusted_master.is_none()
                {
                    self.trust.trusted_master = Some(master.to_base64());
                    self.trust.dirty = true;
                }
                let lacking = self.trust.keys.master.is_none()
                    || self.trust.keys.self_signing.is_none()
                    || self.trust.backup.is_none();
                if lacking && let Some((device_id, _)) = &verified.device {
                    self.request_secrets(device_id);
                }
            } else if let Some(master) = verified.master_key {
                self.trust
                    .verified_users
                    .insert(peer.clone(), master.to_base64());
                self.trust.dirty = true;
                if let Some(mut their) = self.crypto.master_key(&peer)
                    && their.public_key().ok() == Some(master)
                    && self.trust.keys.sign_user(&own, &mut their).is_ok()
                {
                    // Upload only our new signature.
                    their.signatures.retain(|user, _| *user == own.as_str());
                    let _ = upload.add_key(&their);
                }
            }
            if !upload.0.is_empty() {
                let request = json_body(&upload).and_then(|body| {
                    endpoint::request::<ruma::api::client::keys::upload_signatures::v3::Request>(
                        target(&self.session),
                        &[],
                        &[],
                        body,
                    )
                });
                self.trust_flight_push(TrustRequest::VerifiedSignatures, request);
                self.crypto.refresh_user(&peer);
            }
        }
        // Secret requests that waited for their flow: answered now if it verified the
        // device, held again while it runs, dropped otherwise.
        for event in std::mem::take(&mut self.verifications.held_secret_requests) {
            self.receive_secret_request(&event);
        }
    }

    /// Asks a verified device of ours for the cross-signing keys and the backup key.
    fn request_secrets(&mut self, device_id: &OwnedDeviceId) {
        let own = self.session.user_id.clone();
        for name in WANTED_SECRETS {
            let request_id = self.next_flow_id();
            self.verifications
                .secret_requests
                .insert(request_id.clone(), name.to_owned());
            let content = json!({"name": name, "action": "request", "requesting_device_id": self.session.device_id,
                                 "request_id": request_id});
            let messages =
                BTreeMap::from([(own.clone(), BTreeMap::from([(device_id.clone(), content)]))]);
            self.crypto.send_to_device("m.secret.request", messages);
        }
    }

    /// Whether `device` of ours may receive or send our secrets: verified in this run, or
    /// cross-signed under the master key we trust.
    fn trusted_own_device(&self, device_id: &ruma::DeviceId, ed25519: &str) -> bool {
        if self
            .verifications
            .verified_devices
            .get(device_id)
            .is_some_and(|k| k == ed25519)
        {
            return true;
        }
        let own = &self.session.user_id;
        let published = self
            .crypto
            .master_key(own)
            .and_then(|m| m.public_key().ok())
            .map(|k| k.to_base64());
        published.is_some()
            && published == self.trust.trusted_master
            && self
                .crypto
                .device(own, device_id)
                .is_some_and(|d| d.cross_signed && d.ed25519 == ed25519)
    }

    fn receive_secret_request(&mut self, event: &ToDeviceEvent) {
        let own = self.session.user_id.clone();
        let field = |name: &str| event.content.get(name).and_then(Value::as_str);
        let (Some(name), Some("request"), Some(device_id), Some(request_id)) = (
            field("name"),
            field("action"),
            field("requesting_device_id"),
            field("request_id"),
        ) else {
            return;
        };
        if event.sender != own || device_id == self.session.device_id.as_str() {
            return;
        }
        let device_id: OwnedDeviceId = device_id.into();
        let Some(device) = self.crypto.device(&own, &device_id).cloned() else {
            return;
        };
        if !self.trusted_own_device(&device_id, &device.ed25519) {
            let verifying = self.verifications.entries.iter().any(|e| {
                e.peer == own
                    && e.flow.as_ref().is_some_and(|f| {
                        f.their_device_id() == Some(&*device_id)
                            && !matches!(f.phase(), Phase::Done | Phase::Cancelled { .. })
                    })
            });
            if verifying && self.verifications.held_secret_requests.len() < WANTED_SECRETS.len() * 4
            {
                self.verifications.held_secret_requests.push(event.clone());
            }
            return;
        }
        let secret = match name {
            "m.cross_signing.master" => self.trust.keys.export(KeyUsage::Master),
            "m.cross_signing.self_signing" => self.trust.keys.export(KeyUsage::SelfSigning),
            "m.cross_signing.user_signing" => self.trust.keys.export(KeyUsage::UserSigning),
            BACKUP_KEY_SECRET => self.trust.backup.as_ref().map(|b| b.key.to_base64()),
            _ => None,
        };
        let Some(secret) = secret else { return };
        self.crypto.send_encrypted_to_device(
            &own,
            &device_id,
            "m.secret.send",
            json!({"request_id": request_id, "secret": secret}),
        );
    }

    fn receive_secret(&mut self, event: &ToDeviceEvent) {
        let own = self.session.user_id.clone();
        // Only over Olm, from a verified device of ours.
        let Some(sender_key) = &event.sender_key else {
            return;
        };
        if event.sender != own {
            return;
        }
        let Some(device) = self.crypto.device_by_curve_key(&own, sender_key).cloned() else {
            return;
        };
        if !self.trusted_own_device(&device.device_id, &device.ed25519) {
            return;
        }
        let field = |name: &str| event.content.get(name).and_then(Value::as_str);
        let (Some(request_id), Some(secret)) = (field("request_id"), field("secret")) else {
            return;
        };
        let Some(name) = self.verifications.secret_requests.remove(request_id) else {
            return;
        };
        if name == BACKUP_KEY_SECRET {
            if let Ok(key) = crate::crypto::backup::BackupDecryptionKey::from_base64(secret) {
                self.request_backup_info(key);
            }
            return;
        }
        let names: BTreeSet<&str> = WANTED_SECRETS.into_iter().collect();
        let Some(name) = names.get(name.as_str()).copied() else {
            return;
        };
        if let Err(error) = self.take_secrets(BTreeMap::from([(name, secret.to_owned())])) {
            self.trust.last_error = Some(error.to_string());
        }
    }
}

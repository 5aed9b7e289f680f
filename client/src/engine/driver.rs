//! The crypto half of the engine behind one trait object, so a browser can load its code
//! lazily.
//!
//! Olm and Megolm (vodozemac), the crypto machine, cross-signing, recovery, key backup and
//! verification are most of the engine's code. Every path from the engine into them goes
//! through a [`CryptoDriver`], and the only implementation, [`FullCrypto`], is named once:
//! by whoever builds the engine. The web app names it inside a lazily loaded wasm chunk,
//! so none of that code weighs on the page's first load; host code and tests use
//! [`Engine::new`], which names it directly.

use ruma::{OwnedEventId, RoomId, UserId};
use serde_json::value::RawValue;

use super::{Engine, TrustError, VerificationView};
use crate::{
    ApiError, HttpResponse, Session,
    crypto::{
        Decrypted, Machine, OutgoingRequest, RequestId, SyncChanges, UtdReason,
        trust::SecurityState,
    },
    room::RoomDecryptor,
    sync::{JoinedRoom, SyncResponse},
};

/// What a user does with a verification.
#[derive(Clone, Copy, Debug)]
pub enum VerificationAction<'a> {
    /// Ask `user` (in our direct chat, or our other devices for ourselves) to verify.
    Start(&'a UserId),
    /// Accept a request (or start comparing emoji once both are ready).
    Accept(&'a str),
    /// The emoji match.
    Confirm(&'a str),
    /// The emoji don't match.
    Mismatch(&'a str),
    /// Stop it.
    Cancel(&'a str),
}

/// Every way the engine reaches its crypto code. Methods take the engine (or the machine)
/// they work on; see [`FullCrypto`].
pub trait CryptoDriver: Sync + std::fmt::Debug {
    /// A new device identity (Olm account).
    fn new_machine(&self, session: &Session) -> Machine;
    /// Restores the stored crypto state into `engine`.
    fn restore(&self, engine: &mut Engine, stored: &str) -> Result<(), ApiError>;
    /// The crypto state to store, if it changed.
    fn crypto_changes(&self, engine: &mut Engine) -> Option<String>;
    /// A sync's to-device events, device lists and key counts, before its rooms.
    fn receive_sync(&self, engine: &mut Engine, sync: &SyncResponse) -> SyncChanges;
    /// Global account data that is not `m.direct` (secret storage, cross-signing secrets).
    fn account_data(&self, engine: &mut Engine, event_type: &str, content: &RawValue);
    /// After a sync's rooms: tracking, retries of waiting events, verification events.
    fn after_sync(
        &self,
        engine: &mut Engine,
        changes: &SyncChanges,
        next_batch: &str,
        joined: &std::collections::BTreeMap<ruma::OwnedRoomId, JoinedRoom>,
    );
    /// Decrypts one room event.
    fn decrypt(
        &self,
        machine: &mut Machine,
        room_id: &RoomId,
        sender: &UserId,
        event_id: &OwnedEventId,
        origin_server_ts: u64,
        content: &str,
    ) -> Result<Decrypted, UtdReason>;
    /// Encrypts with the room key already shared, if there is one still usable.
    fn encrypt_now(
        &self,
        engine: &mut Engine,
        room_id: &RoomId,
        event_type: &str,
        content: &serde_json::Value,
    ) -> Option<serde_json::Value>;
    /// Forgets a room's outbound key, so the next event shares a new one.
    fn discard_room_key(&self, machine: &mut Machine, room_id: &RoomId);
    /// See [`Engine::outgoing_requests`].
    fn outgoing_requests(&self, engine: &mut Engine) -> Vec<OutgoingRequest>;
    /// See [`Engine::mark_request_sent`].
    fn mark_request_sent(
        &self,
        engine: &mut Engine,
        id: &RequestId,
        response: Option<HttpResponse<'_>>,
    ) -> Result<(), ApiError>;
    /// See [`Engine::security`].
    fn security(&self, engine: &Engine) -> SecurityState;
    /// See [`Engine::set_up_recovery`].
    fn set_up_recovery(&self, engine: &mut Engine) -> Result<String, TrustError>;
    /// See [`Engine::recover`].
    fn recover(&self, engine: &mut Engine, recovery_key: &str) -> Result<(), TrustError>;
    /// See [`Engine::is_user_verified`].
    fn is_user_verified(&self, engine: &Engine, user: &UserId) -> bool;
    /// See [`Engine::verifications`].
    fn verifications(&self, engine: &Engine) -> Vec<VerificationView>;
    /// A user's action on a verification; [`VerificationAction::Start`] returns its ID.
    fn verification(
        &self,
        engine: &mut Engine,
        action: VerificationAction<'_>,
    ) -> Result<String, TrustError>;
    /// See [`Engine::stored_state`] (here so its serialisation loads with the chunk).
    fn stored_state(&self, engine: &Engine) -> Option<String>;
    /// See [`Engine::restore_state`].
    fn restore_state(&self, engine: &mut Engine, stored: &str) -> Result<(), super::StoredError>;
}

/// The engine's crypto: vodozemac, the machine, trust and verification (and, as code the
/// first page load does not need either, writing and reading the stored state).
#[derive(Clone, Copy, Debug, Default)]
pub struct FullCrypto;

impl CryptoDriver for FullCrypto {
    fn new_machine(&self, session: &Session) -> Machine {
        Machine::new(session.user_id.clone(), session.device_id.clone())
    }

    fn restore(&self, engine: &mut Engine, stored: &str) -> Result<(), ApiError> {
        engine.restore_impl(stored)
    }

    fn crypto_changes(&self, engine: &mut Engine) -> Option<String> {
        engine.crypto_changes_impl()
    }

    fn receive_sync(&self, engine: &mut Engine, sync: &SyncResponse) -> SyncChanges {
        engine.crypto.receive_sync(
            &sync.to_device.events,
            &sync.device_lists.changed,
            &sync.device_lists.left,
            sync.device_one_time_keys_count.as_ref(),
            sync.device_unused_fallback_key_types.as_deref(),
        )
    }

    fn account_data(&self, engine: &mut Engine, event_type: &str, content: &RawValue) {
        engine.trust_account_data(event_type, content);
    }

    fn after_sync(
        &self,
        engine: &mut Engine,
        changes: &SyncChanges,
        next_batch: &str,
        joined: &std::collections::BTreeMap<ruma::OwnedRoomId, JoinedRoom>,
    ) {
        engine.after_sync_crypto(changes, next_batch);
        engine.route_room_events(joined);
    }

    fn decrypt(
        &self,
        machine: &mut Machine,
        room_id: &RoomId,
        sender: &UserId,
        event_id: &OwnedEventId,
        origin_server_ts: u64,
        content: &str,
    ) -> Result<Decrypted, UtdReason> {
        machine.decrypt_room_event(room_id, sender, event_id, origin_server_ts, content)
    }

    fn discard_room_key(&self, machine: &mut Machine, room_id: &RoomId) {
        machine.discard_room_key(room_id);
    }

    fn encrypt_now(
        &self,
        engine: &mut Engine,
        room_id: &RoomId,
        event_type: &str,
        content: &serde_json::Value,
    ) -> Option<serde_json::Value> {
        engine
            .crypto
            .encrypt_room_event(room_id, event_type, content)
            .ok()
    }

    fn outgoing_requests(&self, engine: &mut Engine) -> Vec<OutgoingRequest> {
        engine.outgoing_requests_impl()
    }

    fn mark_request_sent(
        &self,
        engine: &mut Engine,
        id: &RequestId,
        response: Option<HttpResponse<'_>>,
    ) -> Result<(), ApiError> {
        engine.mark_request_sent_impl(id, response)
    }

    fn security(&self, engine: &Engine) -> SecurityState {
        engine.security_impl()
    }

    fn set_up_recovery(&self, engine: &mut Engine) -> Result<String, TrustError> {
        engine.set_up_recovery_impl()
    }

    fn recover(&self, engine: &mut Engine, recovery_key: &str) -> Result<(), TrustError> {
        engine.recover_impl(recovery_key)
    }

    fn is_user_verified(&self, engine: &Engine, user: &UserId) -> bool {
        engine.is_user_verified_impl(user)
    }

    fn verifications(&self, engine: &Engine) -> Vec<VerificationView> {
        engine.verifications_impl()
    }

    fn verification(
        &self,
        engine: &mut Engine,
        action: VerificationAction<'_>,
    ) -> Result<String, TrustError> {
        match action {
            VerificationAction::Start(user) => engine.start_verification_impl(user),
            VerificationAction::Accept(id) => {
                engine.accept_verification_impl(id).map(|()| id.to_owned())
            }
            VerificationAction::Confirm(id) => {
                engine.confirm_verification_impl(id).map(|()| id.to_owned())
            }
            VerificationAction::Mismatch(id) => engine
                .mismatch_verification_impl(id)
                .map(|()| id.to_owned()),
            VerificationAction::Cancel(id) => {
                engine.cancel_verification_impl(id).map(|()| id.to_owned())
            }
        }
    }

    fn stored_state(&self, engine: &Engine) -> Option<String> {
        engine.stored_state_impl()
    }

    fn restore_state(&self, engine: &mut Engine, stored: &str) -> Result<(), super::StoredError> {
        engine.restore_state_impl(stored)
    }
}

/// Decrypts a room's events through the driver (what a [`crate::Room`] is handed).
pub(crate) struct Decryptor<'a> {
    pub driver: &'a dyn CryptoDriver,
    pub machine: &'a mut Machine,
}

impl RoomDecryptor for Decryptor<'_> {
    fn decrypt(
        &mut self,
        room_id: &RoomId,
        sender: &UserId,
        event_id: &OwnedEventId,
        origin_server_ts: u64,
        content: &str,
    ) -> Result<Decrypted, UtdReason> {
        self.driver.decrypt(
            self.machine,
            room_id,
            sender,
            event_id,
            origin_server_ts,
            content,
        )
    }

    fn discard_room_key(&mut self, room_id: &RoomId) {
        self.driver.discard_room_key(self.machine, room_id);
    }
}

//! The machine's side of trust (a child module of `machine`, so it sees the machine's
//! fields): the cross-signing keys `/keys/query` reported, plain and Olm-encrypted to-device
//! messages for verification and secret sharing, and room keys going to and coming from the
//! server-side backup. The decisions (when to bootstrap, what to trust) are the engine's
//! (`engine/trust.rs`).

use std::collections::{BTreeMap, BTreeSet};

use ruma::{OwnedDeviceId, OwnedRoomId, OwnedUserId, RoomId, UserId};
use serde_json::Value;
use vodozemac::megolm::{self, ExportedSessionKey, InboundGroupSession};

use super::{Inbound, Machine, Purpose, ToDevice, contains_device, insert_device};
use crate::crypto::{
    backup::{BackedUpSessionData, MEGOLM_ALGORITHM},
    cross_signing::{CrossSigningKey, verify_user_signing_key},
    devices::Device,
};

/// An Olm-encrypted to-device event waiting for a session with its device.
pub(crate) struct PendingOlm {
    user: OwnedUserId,
    device: OwnedDeviceId,
    event_type: String,
    content: Value,
}

/// One room key to back up.
#[derive(Debug, Clone)]
pub struct BackupSession {
    /// Its room.
    pub room_id: OwnedRoomId,
    /// Its session ID.
    pub session_id: String,
    /// The plaintext to encrypt for the backup.
    pub data: BackedUpSessionData,
    /// The first message index it decrypts.
    pub first_message_index: u32,
    /// Whether the device that shared it is cross-signed by its owner.
    pub is_verified: bool,
}

impl Machine {
    /// Whether our device keys are on the server.
    pub fn keys_published(&self) -> bool {
        self.keys_published
    }

    /// Whether `user`'s device list is waiting for a `/keys/query`.
    pub fn is_outdated(&self, user: &UserId) -> bool {
        self.outdated.contains_key(user)
    }

    /// Whether we have an answer for our own user's keys that is not outdated (after our
    /// device keys went up): only then can "no master key" be believed.
    pub fn own_identity_known(&self) -> bool {
        self.keys_published
            && self.users.contains_key(&self.user_id)
            && !self.is_outdated(&self.user_id)
    }

    /// Fetches `user`'s devices and cross-signing keys again (after we changed them).
    pub fn refresh_user(&mut self, user: &UserId) {
        if self.tracked.contains(user) {
            self.generation += 1;
            self.outdated.insert(user.to_owned(), self.generation);
            self.dirty = true;
        }
    }

    /// `user`'s master key as `/keys/query` reported it.
    pub fn master_key(&self, user: &UserId) -> Option<CrossSigningKey> {
        let value = self.users.get(user)?.master.clone()?;
        CrossSigningKey::from_value(value).ok()
    }

    /// `user`'s self-signing key, if their master key signs it.
    pub fn self_signing_key(&self, user: &UserId) -> Option<CrossSigningKey> {
        let value = self.users.get(user)?.self_signing.clone()?;
        CrossSigningKey::from_value(value).ok()
    }

    /// Our user-signing key as published, if our published master key signs it.
    pub fn own_user_signing_key(&self) -> Option<CrossSigningKey> {
        let usk = CrossSigningKey::from_value(self.own_user_signing.clone()?).ok()?;
        let master = self.master_key(&self.user_id)?;
        verify_user_signing_key(&master, &usk).ok()?;
        Some(usk)
    }

    /// One of `user`'s devices.
    pub fn device(&self, user: &UserId, device: &ruma::DeviceId) -> Option<&Device> {
        self.users.get(user)?.devices.get(device)
    }

    /// The device of `user` whose curve25519 key is `key`.
    pub fn device_by_curve_key(&self, user: &UserId, key: &str) -> Option<&Device> {
        self.users.get(user)?.by_curve_key(key)
    }

    /// Queues unencrypted to-device messages (verification flows, secret requests).
    pub fn send_to_device(
        &mut self,
        event_type: &str,
        messages: BTreeMap<OwnedUserId, BTreeMap<OwnedDeviceId, Value>>,
    ) {
        if messages.is_empty() {
            return;
        }
        let id = self.next_id("todevice");
        let txn_id = id.0.clone();
        self.queue.push(ToDevice {
            id,
            event_type: event_type.to_owned(),
            txn_id,
            messages,
            purpose: Purpose::Other,
        });
    }

    /// Queues an Olm-encrypted to-device event for one device (`m.secret.send`); a session
    /// is set up first if there is none. Dropped if the device cannot get one.
    pub fn send_encrypted_to_device(
        &mut self,
        user: &UserId,
        device: &OwnedDeviceId,
        event_type: &str,
        content: Value,
    ) {
        self.olm_pending.push(PendingOlm {
            user: user.to_owned(),
            device: device.clone(),
            event_type: event_type.to_owned(),
            content,
        });
        self.flush_olm_pending();
    }

    /// Sends the pending Olm events whose sessions exist; asks for one-time keys for the rest.
    pub(super) fn flush_olm_pending(&mut self) {
        if self.olm_pending.is_empty() {
            return;
        }
        let claiming: BTreeSet<(OwnedUserId, OwnedDeviceId)> = self
            .in_flight
            .values()
            .filter_map(|r| match r {
                super::InFlight::Claim { devices } => Some(devices),
                _ => None,
            })
            .flat_map(|d| {
                d.iter()
                    .flat_map(|(u, ds)| ds.iter().map(|d| (u.clone(), d.clone())))
            })
            .collect();
        for pending in std::mem::take(&mut self.olm_pending) {
            let Some(device) = self.device(&pending.user, &pending.device).cloned() else {
                continue;
            };
            if self.has_session(&device.curve25519) {
                if let Some(content) =
                    self.olm_encrypt(&device, &pending.event_type, pending.content)
                {
                    let messages = BTreeMap::from([(
                        pending.user,
                        BTreeMap::from([(pending.device, content)]),
                    )]);
                    let id = self.next_id("olm");
                    let txn_id = id.0.clone();
                    self.queue.push(ToDevice {
                        id,
                        event_type: "m.room.encrypted".into(),
                        txn_id,
                        messages,
                        purpose: Purpose::Other,
                    });
                }
            } else if contains_device(&self.no_olm, &pending.user, &pending.device) {
                // No one-time key: it cannot be reached.
            } else {
                if !claiming.contains(&(pending.user.clone(), pending.device.clone())) {
                    insert_device(&mut self.claim_wanted, &pending.user, &pending.device);
                }
                self.olm_pending.push(pending);
            }
        }
        self.dirty = true;
    }

    /// Up to `limit` room keys not yet in the current backup version.
    pub fn sessions_to_back_up(&self, limit: usize) -> Vec<BackupSession> {
        let mut out = Vec::new();
        for (room_id, sessions) in &self.inbound {
            for (session_id, inbound) in sessions {
                if inbound.backed_up {
                    continue;
                }
                if out.len() == limit {
                    return out;
                }
                let first_message_index = inbound.session.first_known_index();
                let is_verified = !inbound.untrusted
                    && self
                        .users
                        .get(&inbound.sender)
                        .and_then(|u| u.by_curve_key(&inbound.sender_key))
                        .is_some_and(|d| d.ed25519 == inbound.ed25519 && d.cross_signed);
                out.push(BackupSession {
                    room_id: room_id.clone(),
                    session_id: session_id.clone(),
                    data: BackedUpSessionData {
                        algorithm: MEGOLM_ALGORITHM.to_owned(),
                        forwarding_curve25519_key_chain: Vec::new(),
                        sender_key: inbound.sender_key.clone(),
                        sender_claimed_keys: BTreeMap::from([(
                            "ed25519".to_owned(),
                            inbound.ed25519.clone(),
                        )]),
                        session_key: inbound.session.export_at_first_known_index().to_base64(),
                        shared_history: None,
                        other: serde_json::Map::new(),
                    },
                    first_message_index,
                    is_verified,
                });
            }
        }
        out
    }

    /// Marks room keys as being in the current backup version.
    pub fn mark_backed_up(&mut self, sessions: &[(OwnedRoomId, String)]) {
        for (room_id, session_id) in sessions {
            if let Some(inbound) = self
                .inbound
                .get_mut(room_id)
                .and_then(|s| s.get_mut(session_id))
            {
                inbound.backed_up = true;
            }
        }
        self.dirty = true;
    }

    /// A new backup version: every key must go up again.
    pub fn reset_backed_up(&mut self) {
        for inbound in self.inbound.values_mut().flat_map(|s| s.values_mut()) {
            inbound.backed_up = false;
        }
        self.dirty = true;
    }

    /// Imports a room key from the backup, unless we hold one reaching as far back. It is
    /// marked untrusted (only claimed by the backup) and as backed up already. Returns
    /// whether it was taken.
    pub fn import_backed_up(
        &mut self,
        room_id: &RoomId,
        session_id: &str,
        data: &BackedUpSessionData,
    ) -> bool {
        if data.algorithm != MEGOLM_ALGORITHM {
            return false;
        }
        let Ok(key) = ExportedSessionKey::from_base64(&data.session_key) else {
            return false;
        };
        let session = InboundGroupSession::import(&key, megolm::SessionConfig::version_1());
        if session.session_id() != session_id {
            return false;
        }
        let Some(ed25519) = data.sender_claimed_keys.get("ed25519").cloned() else {
            return false;
        };
        let room = self.inbound.entry(room_id.to_owned()).or_default();
        if room
            .get(session_id)
            .is_some_and(|old| old.session.first_known_index() <= session.first_known_index())
        {
            return false;
        }
        // The sender we can name is the owner of the device with that curve key, if known.
        let sender = self
            .users
            .iter()
            .find(|(_, u)| {
                u.by_curve_key(&data.sender_key)
                    .is_some_and(|d| d.ed25519 == ed25519)
            })
            .map_or_else(|| self.user_id.clone(), |(user, _)| user.clone());
        room.insert(
            session_id.to_owned(),
            Inbound {
                session,
                sender,
                sender_key: data.sender_key.clone(),
                ed25519,
                backed_up: true,
                untrusted: true,
            },
        );
        if let Some(withheld) = self.withheld.get_mut(room_id) {
            withheld.remove(session_id);
        }
        self.dirty = true;
        true
    }

    /// Signs `message` with our device key (for `auth_data` and master-key signatures).
    pub fn sign_bytes(&self, message: &[u8]) -> vodozemac::Ed25519Signature {
        self.account.sign(message)
    }
}

#[cfg(test)]
mod tests {
    use ruma::{owned_device_id, owned_room_id, owned_user_id};

    use super::*;

    #[test]
    fn a_backed_up_key_round_trips_and_is_not_taken_twice() {
        let mut alice = Machine::new(owned_user_id!("@alice:hs"), owned_device_id!("A"));
        let room = owned_room_id!("!r:hs");
        alice.new_outbound(&room, &Default::default(), 0);
        let sessions = alice.sessions_to_back_up(10);
        assert_eq!(sessions.len(), 1);
        alice.mark_backed_up(&[(room.clone(), sessions[0].session_id.clone())]);
        assert!(alice.sessions_to_back_up(10).is_empty());
        alice.reset_backed_up();
        assert_eq!(alice.sessions_to_back_up(10).len(), 1);

        let mut other = Machine::new(owned_user_id!("@alice:hs"), owned_device_id!("B"));
        assert!(other.import_backed_up(&room, &sessions[0].session_id, &sessions[0].data));
        assert!(
            !other.import_backed_up(&room, &sessions[0].session_id, &sessions[0].data),
            "not a better copy"
        );
        assert!(
            !other.import_backed_up(&room, "other-id", &sessions[0].data),
            "the session ID must match"
        );
        assert!(
            other.sessions_to_back_up(10).is_empty(),
            "imported keys are in the backup already"
        );
    }
}

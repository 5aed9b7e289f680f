//! Typing notifications (in memory, with expiry) and read receipts.
//!
//! Both take stream positions like events do, so a change wakes waiting
//! syncs and is reported exactly once. [`Ephemeral`] is a part of
//! [`Services`](super::Services): it holds the typing sets, the receipt area
//! of storage, a [`RoomReader`], the notifier and the account data part (the
//! `m.fully_read` marker is room account data).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use ruma::{EventId, OwnedRoomId, OwnedUserId, RoomId, UserId};
use serde_json::{Value, json};

use super::{account_data::AccountData, clock::now, notifier::Notifier, room_reader::RoomReader};
use crate::{
    error::{Error, Result},
    storage::{ReceiptRow, ReceiptStore, StreamPos},
};

/// Longest a typing notice lasts without being renewed.
const MAX_TYPING: Duration = Duration::from_secs(120);

/// Who is typing where.
struct Typing {
    rooms: Mutex<HashMap<OwnedRoomId, RoomTyping>>,
    notifier: Arc<Notifier>,
}

#[derive(Default)]
struct RoomTyping {
    users: HashMap<OwnedUserId, Instant>,
    /// Stream position of the last change.
    position: StreamPos,
}

impl Typing {
    /// Applies `change`; if it reports a change, the room's typing set gets
    /// a new stream position (published once the lock is released).
    fn update(
        &self,
        room_id: &RoomId,
        change: impl FnOnce(&mut HashMap<OwnedUserId, Instant>) -> bool,
    ) {
        let reservation = self.notifier.reserve();
        let mut rooms = self.lock();
        let room = rooms.entry(room_id.to_owned()).or_default();
        if change(&mut room.users) {
            room.position = reservation.position();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<OwnedRoomId, RoomTyping>> {
        self.rooms.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Typing notifications and read receipts.
pub struct Ephemeral {
    typing: Arc<Typing>,
    receipts: Arc<dyn ReceiptStore>,
    rooms: RoomReader,
    notifier: Arc<Notifier>,
    account_data: Arc<AccountData>,
}

impl Ephemeral {
    pub(super) fn new(
        receipts: Arc<dyn ReceiptStore>,
        rooms: RoomReader,
        notifier: Arc<Notifier>,
        account_data: Arc<AccountData>,
    ) -> Self {
        Self {
            typing: Arc::new(Typing {
                rooms: Mutex::default(),
                notifier: notifier.clone(),
            }),
            receipts,
            rooms,
            notifier,
            account_data,
        }
    }

    /// `PUT /rooms/{roomId}/typing/{userId}`.
    pub fn set_typing(
        &self,
        room_id: &RoomId,
        user: &UserId,
        timeout: Option<Duration>,
    ) -> Result<()> {
        if !self.rooms.is_joined(room_id, user)? {
            return Err(Error::forbidden("You are not in this room"));
        }
        let expires = timeout.map(|t| Instant::now() + t.min(MAX_TYPING));
        self.typing.update(room_id, |users| match expires {
            Some(at) => users.insert(user.to_owned(), at).is_none(),
            None => users.remove(user).is_some(),
        });
        if let (Some(at), Some(timeout)) = (expires, timeout) {
            let typing = self.typing.clone();
            let (room_id, user) = (room_id.to_owned(), user.to_owned());
            tokio::spawn(async move {
                tokio::time::sleep(timeout.min(MAX_TYPING)).await;
                // Only expire this notice, not a newer one from the same user.
                typing.update(&room_id, |users| {
                    if users.get(&user) == Some(&at) {
                        users.remove(&user);
                        true
                    } else {
                        false
                    }
                });
            });
        }
        Ok(())
    }

    /// The room's `m.typing` event if it changed in `(after, until]`.
    pub fn typing_event(
        &self,
        room_id: &RoomId,
        after: Option<StreamPos>,
        until: StreamPos,
    ) -> Option<Value> {
        let rooms = self.typing.lock();
        let room = rooms.get(room_id)?;
        let changed = room.position <= until && after.is_none_or(|a| room.position > a);
        let now = Instant::now();
        let users: Vec<&OwnedUserId> = room
            .users
            .iter()
            .filter(|(_, at)| **at > now)
            .map(|(u, _)| u)
            .collect();
        if !changed || (after.is_none() && users.is_empty()) {
            return None;
        }
        Some(json!({ "type": "m.typing", "content": { "user_ids": users } }))
    }

    /// `POST /rooms/{roomId}/receipt/{type}/{eventId}` (and read markers).
    pub fn set_receipt(
        &self,
        room_id: &RoomId,
        user: &UserId,
        receipt_type: &str,
        event_id: &EventId,
        thread_id: Option<String>,
    ) -> Result<()> {
        if !matches!(receipt_type, "m.read" | "m.read.private") {
            return Err(Error::invalid_param(format!(
                "Unknown receipt type {receipt_type}"
            )));
        }
        if !self.rooms.is_joined(room_id, user)? {
            return Err(Error::forbidden("You are not in this room"));
        }
        let event = self.rooms.event(event_id)?;
        if event.is_none_or(|e| e.room_id != room_id) {
            return Err(Error::not_found("No such event in this room"));
        }
        let reservation = self.notifier.reserve();
        Ok(self.receipts.set_receipt(&ReceiptRow {
            room_id: room_id.to_owned(),
            user_id: user.to_owned(),
            receipt_type: receipt_type.to_owned(),
            thread_id,
            event_id: event_id.to_owned(),
            ts: i64::from(now().0),
            stream: reservation.position(),
        })?)
    }

    /// The room's `m.receipt` event for receipts changed in `(after, until]`;
    /// private receipts only for their owner.
    ///
    /// `visible` says whether the viewer may see the event a receipt names:
    /// a new member of a `joined` room learns nothing of the hidden past
    /// through who read which event when.
    pub fn receipt_event(
        &self,
        room_id: &RoomId,
        viewer: &UserId,
        after: Option<StreamPos>,
        until: StreamPos,
        mut visible: impl FnMut(&EventId) -> Result<bool>,
    ) -> Result<Option<Value>> {
        let mut content = serde_json::Map::new();
        for r in self.receipts.receipt_changes(room_id, after, until)? {
            if r.receipt_type == "m.read.private" && r.user_id != viewer {
                continue;
            }
            if !visible(&r.event_id)? {
                continue;
            }
            let mut receipt = json!({ "ts": r.ts });
            if let Some(thread) = &r.thread_id {
                receipt["thread_id"] = json!(thread);
            }
            let by_event = content
                .entry(r.event_id.to_string())
                .or_insert_with(|| json!({}));
            by_event[&r.receipt_type][r.user_id.as_str()] = receipt;
        }
        Ok((!content.is_empty()).then(|| json!({ "type": "m.receipt", "content": content })))
    }

    /// The `m.fully_read` marker, kept as room account data.
    pub fn set_fully_read(
        &self,
        room_id: &RoomId,
        user: &UserId,
        event_id: &EventId,
    ) -> Result<()> {
        if !self.rooms.is_joined(room_id, user)? {
            return Err(Error::forbidden("You are not in this room"));
        }
        let content = json!({ "event_id": event_id }).to_string();
        self.account_data
            .write_account_data(user, Some(room_id), "m.fully_read", &content)
    }
}

//! Current room state kept in memory for event creation.
//!
//! Every append needs the room's current state (to pick auth events and run
//! the auth rules) and a few of those events parsed. Reading and parsing
//! them from SQLite per append cost a quarter of the send path. The cache
//! lives inside the event lock: appends are its only writer, so it cannot
//! go stale while the lock is held.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use ruma::{EventId, OwnedEventId, OwnedRoomId, RoomId};

use super::pdu::Pdu;
use crate::{
    error::Result,
    storage::{EventStore, StateStore},
};

/// Rooms kept; past this the cache starts over (cheap to refill).
const MAX_ROOMS: usize = 1_024;

/// The state map plus the parsed events the auth rules asked for.
pub struct CachedRoom {
    pub state: HashMap<(String, String), OwnedEventId>,
    // A mutex only so `&CachedRoom` may cross an await; the event lock
    // already makes access exclusive.
    pdus: Mutex<HashMap<OwnedEventId, Arc<Pdu>>>,
}

impl CachedRoom {
    /// A parsed event, from the cache or storage.
    pub fn pdu(&self, id: &EventId, events: &dyn EventStore) -> Option<Arc<Pdu>> {
        let mut pdus = self.pdus.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(pdu) = pdus.get(id) {
            return Some(pdu.clone());
        }
        let pdu = Arc::new(Pdu::from_stored(&events.event(id).ok()??).ok()?);
        pdus.insert(id.to_owned(), pdu.clone());
        Some(pdu)
    }
}

/// Guarded by the event lock.
#[derive(Default)]
pub struct RoomStates {
    rooms: HashMap<OwnedRoomId, CachedRoom>,
}

impl RoomStates {
    /// The room's current state, loaded on first use.
    pub fn room(&mut self, room_id: &RoomId, state: &dyn StateStore) -> Result<&CachedRoom> {
        if !self.rooms.contains_key(room_id) {
            if self.rooms.len() >= MAX_ROOMS {
                self.rooms.clear();
            }
            let state = state
                .current_state(room_id)?
                .into_iter()
                .map(|e| ((e.event_type, e.state_key), e.event_id))
                .collect();
            self.rooms.insert(
                room_id.to_owned(),
                CachedRoom {
                    state,
                    pdus: Mutex::default(),
                },
            );
        }
        Ok(&self.rooms[room_id])
    }

    /// Records a state event that was just appended.
    pub fn state_changed(
        &mut self,
        room_id: &RoomId,
        kind: String,
        state_key: String,
        event_id: OwnedEventId,
        pdu: Pdu,
    ) {
        let Some(room) = self.rooms.get_mut(room_id) else {
            return;
        };
        let pdus = room.pdus.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = room.state.insert((kind, state_key), event_id.clone()) {
            pdus.remove(&old);
        }
        pdus.insert(event_id, Arc::new(pdu));
    }
}

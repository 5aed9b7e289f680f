//! Room state as it was at a stream position, read from the state and event
//! areas alone, so every part that needs past state (sync, history, device
//! lists) can use it without reaching the whole [`Services`](super::Services).

use ruma::{RoomId, UserId};

use crate::{
    error::Result,
    storage::{EventStore, StateStore, StoredEvent, StreamPos},
};

/// The state event for `(type, key)` as it was at stream position `at`,
/// walking back through the events each state event replaced.
pub fn state_event_at(
    state: &dyn StateStore,
    events: &dyn EventStore,
    room_id: &RoomId,
    event_type: &str,
    state_key: &str,
    at: StreamPos,
) -> Result<Option<StoredEvent>> {
    let mut current = state.current_state_event(room_id, event_type, state_key)?;
    while let Some(event) = &current {
        if event.stream <= at {
            break;
        }
        current = match &event.replaces_state {
            Some(prev) => events.event(prev)?,
            None => None,
        };
    }
    Ok(current)
}

/// Whether the user's membership was `join` at stream position `at`.
pub fn was_joined_at(
    state: &dyn StateStore,
    events: &dyn EventStore,
    user: &UserId,
    room_id: &RoomId,
    at: Option<StreamPos>,
) -> Result<bool> {
    let Some(at) = at else { return Ok(false) };
    let event = state_event_at(state, events, room_id, "m.room.member", user.as_str(), at)?;
    Ok(match event {
        Some(e) => membership_of(&e)? == "join",
        None => false,
    })
}

fn membership_of(event: &StoredEvent) -> Result<String> {
    #[derive(serde::Deserialize)]
    struct Member {
        content: Content,
    }
    #[derive(serde::Deserialize)]
    struct Content {
        membership: String,
    }
    Ok(serde_json::from_str::<Member>(&event.pdu_json)?
        .content
        .membership)
}

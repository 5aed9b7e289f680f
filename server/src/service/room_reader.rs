//! Reading rooms from the state and event areas alone: membership, power
//! levels, state contents and state as it was at a stream position. Parts
//! that read rooms but do not write them (the directory, device lists, sync)
//! use these instead of reaching the whole [`Services`](super::Services).

use std::{collections::BTreeSet, sync::Arc};

use ruma::{EventId, OwnedUserId, RoomId, UserId, events::room::member::MembershipState};
use serde_json::{Value, json};

use super::pdu::Pdu;
use crate::{
    error::Result,
    storage::{EventStore, StateStore, StoredEvent, StreamPos},
};

/// A read-only handle on rooms, for parts that only look at them.
pub struct RoomReader {
    state: Arc<dyn StateStore>,
    events: Arc<dyn EventStore>,
}

impl RoomReader {
    pub fn new(state: Arc<dyn StateStore>, events: Arc<dyn EventStore>) -> Self {
        Self { state, events }
    }

    /// Whether this server knows the room.
    pub fn exists(&self, room_id: &RoomId) -> Result<bool> {
        Ok(self.events.room_version(room_id)?.is_some())
    }

    /// An event by ID, in whichever room it is.
    pub fn event(&self, event_id: &EventId) -> Result<Option<StoredEvent>> {
        Ok(self.events.event(event_id)?)
    }

    /// The room's joined members.
    pub fn joined_members(&self, room_id: &RoomId) -> Result<Vec<OwnedUserId>> {
        Ok(self.state.joined_members(room_id)?)
    }

    pub fn is_joined(&self, room_id: &RoomId, user: &UserId) -> Result<bool> {
        is_joined(&*self.state, room_id, user)
    }

    /// The room's current power levels content (`{}` without one).
    pub fn power_levels(&self, room_id: &RoomId) -> Result<Value> {
        power_levels(&*self.state, room_id)
    }

    /// The content of the room's current `(event_type, "")` state event.
    pub fn state_content(&self, room_id: &RoomId, event_type: &str) -> Result<Option<Value>> {
        match self.state.current_state_event(room_id, event_type, "")? {
            Some(e) => Ok(Some(Pdu::from_stored(&e)?.content_as()?)),
            None => Ok(None),
        }
    }
}

/// Users sharing a room with `user` (including `user`), from the memberships alone.
pub fn users_sharing_rooms(state: &dyn StateStore, user: &UserId) -> Result<BTreeSet<OwnedUserId>> {
    let mut users = BTreeSet::from([user.to_owned()]);
    for row in state.memberships_of(user)? {
        if row.membership == MembershipState::Join {
            users.extend(state.joined_members(&row.room_id)?);
        }
    }
    Ok(users)
}

/// The profile fields of a member event.
#[derive(Default, serde::Deserialize)]
pub struct MemberProfile {
    pub displayname: Option<String>,
    pub avatar_url: Option<String>,
}

/// A member's display name and avatar as this room knows them.
pub fn member_profile(
    state: &dyn StateStore,
    room_id: &RoomId,
    user_id: &UserId,
) -> Result<MemberProfile> {
    match state.current_state_event(room_id, "m.room.member", user_id.as_str())? {
        Some(event) => Pdu::from_stored(&event)?.content_as(),
        None => Ok(MemberProfile::default()),
    }
}

/// Whether `user` is joined to the room now.
pub fn is_joined(state: &dyn StateStore, room_id: &RoomId, user: &UserId) -> Result<bool> {
    Ok(state.joined_members(room_id)?.iter().any(|m| m == user))
}

/// The room's current power levels content (`{}` without one).
pub fn power_levels(state: &dyn StateStore, room_id: &RoomId) -> Result<Value> {
    match state.current_state_event(room_id, "m.room.power_levels", "")? {
        Some(event) => Pdu::from_stored(&event)?.content_as(),
        None => Ok(json!({})),
    }
}

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

/// A top-level level from power levels content, with the spec's default.
pub(crate) fn level(power: &Value, key: &str, default: i64) -> i64 {
    power.get(key).and_then(Value::as_i64).unwrap_or(default)
}

/// A user's power level from power levels content.
pub(crate) fn user_level(power: &Value, user: &UserId) -> i64 {
    power
        .get("users")
        .and_then(|u| u.get(user.as_str()))
        .and_then(Value::as_i64)
        .unwrap_or_else(|| level(power, "users_default", 0))
}

/// The level needed to send a state event of this type.
pub(crate) fn state_level(power: &Value, event_type: &str) -> i64 {
    power
        .get("events")
        .and_then(|e| e.get(event_type))
        .and_then(Value::as_i64)
        .unwrap_or_else(|| level(power, "state_default", 50))
}

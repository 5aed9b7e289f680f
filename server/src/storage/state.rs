//! Current room state and memberships, as appends left them.

use ruma::{
    OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, UserId, events::room::member::MembershipState,
};

use super::{
    events::StoredEvent,
    types::{Result, StreamPos},
};

/// One entry of a room's current state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateEntry {
    pub event_type: String,
    pub state_key: String,
    pub event_id: OwnedEventId,
}

/// A user's membership in a room and the stream position where it last changed.
#[derive(Clone, Debug)]
pub struct MembershipRow {
    pub room_id: OwnedRoomId,
    pub membership: MembershipState,
    pub stream: StreamPos,
    pub event_id: OwnedEventId,
}

/// An `m.room.member` change: whose, and to what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberChange {
    pub user_id: OwnedUserId,
    pub membership: MembershipState,
}

pub trait StateStore: Send + Sync {
    /// Every entry of the room's current state.
    fn current_state(&self, room_id: &RoomId) -> Result<Vec<StateEntry>>;
    fn current_state_event(
        &self,
        room_id: &RoomId,
        event_type: &str,
        state_key: &str,
    ) -> Result<Option<StoredEvent>>;
    /// Every room the user has a membership in (any kind).
    fn memberships_of(&self, user_id: &UserId) -> Result<Vec<MembershipRow>>;
    /// Joined members of a room.
    fn joined_members(&self, room_id: &RoomId) -> Result<Vec<OwnedUserId>>;
    /// Hides a left room from the user's syncs and membership lists.
    fn forget_room(&self, room_id: &RoomId, user_id: &UserId) -> Result<()>;
    /// `m.room.member` changes of a room in `(after, until]`, oldest first.
    fn member_changes(
        &self,
        room_id: &RoomId,
        after: StreamPos,
        until: StreamPos,
    ) -> Result<Vec<MemberChange>>;
}

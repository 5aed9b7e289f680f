//! Rooms and their events: appends, reads by stream range, relations,
//! transaction IDs.

use ruma::{
    DeviceId, EventId, OwnedDeviceId, OwnedEventId, OwnedRoomId, OwnedTransactionId, OwnedUserId,
    RoomId, RoomVersionId, UserId, events::room::member::MembershipState,
};

use super::types::{Result, StreamPos};

/// An event as stored: its PDU JSON plus the bookkeeping sync needs.
#[derive(Clone, Debug)]
pub struct StoredEvent {
    /// Position in the server-wide stream (strictly increasing).
    pub stream: StreamPos,
    pub event_id: OwnedEventId,
    pub room_id: OwnedRoomId,
    /// The PDU in canonical JSON, without `event_id` (room versions ≥ 3).
    pub pdu_json: String,
    /// The device that sent it and its transaction ID, to echo back to that device only.
    pub txn: Option<TxnOrigin>,
    /// For state events, the state event this one replaced.
    pub replaces_state: Option<OwnedEventId>,
    /// The redaction event that redacted this one, if any.
    pub redacted_by: Option<OwnedEventId>,
}

/// The device that sent an event and the transaction ID it used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnOrigin {
    pub user_id: OwnedUserId,
    pub device_id: OwnedDeviceId,
    pub txn_id: OwnedTransactionId,
}

/// An event ready to append.
#[derive(Clone, Debug)]
pub struct NewEvent {
    /// Its stream position, reserved from the notifier.
    pub stream: StreamPos,
    pub event_id: OwnedEventId,
    pub room_id: OwnedRoomId,
    pub event_type: String,
    pub state_key: Option<String>,
    pub sender: OwnedUserId,
    pub depth: i64,
    pub pdu_json: String,
    pub txn: Option<TxnOrigin>,
    /// Idempotency key of the sending request (scope: device + endpoint path).
    pub txn_scope: Option<String>,
    /// For `m.room.member` events: the target's new membership.
    pub membership: Option<MembershipState>,
    /// For `m.room.redaction` events: the (authorised) event it redacts.
    pub redacts: Option<OwnedEventId>,
    /// For events with `m.relates_to`: the parent event and the relation type.
    pub relation: Option<(OwnedEventId, String)>,
}

/// The latest event of a room and its depth.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomHead {
    pub event_id: OwnedEventId,
    pub depth: i64,
}

/// Which events relating to a parent to read.
#[derive(Clone, Copy, Debug)]
pub struct RelationsQuery<'a> {
    pub parent: &'a EventId,
    /// Only this relation type (`m.annotation`, `m.thread`, ...).
    pub rel_type: Option<&'a str>,
    /// Only this event type.
    pub event_type: Option<&'a str>,
    /// Strictly after this position...
    pub after: StreamPos,
    /// ...and up to this one.
    pub until: StreamPos,
    pub limit: usize,
    /// Newest first.
    pub backwards: bool,
}

pub trait EventStore: Send + Sync {
    fn create_room(
        &self,
        room_id: &RoomId,
        version: &RoomVersionId,
        creator: &UserId,
    ) -> Result<bool>;
    fn room_version(&self, room_id: &RoomId) -> Result<Option<RoomVersionId>>;
    /// The latest event of the room (the single forward extremity while the
    /// server does not federate).
    fn room_head(&self, room_id: &RoomId) -> Result<Option<RoomHead>>;
    /// Appends the event at its reserved stream position; updates current
    /// state, memberships and the room head in one transaction. The commit
    /// is written but not yet flushed: call [`EventStore::flush`] before
    /// treating it as durable (so many appends can share one flush).
    fn append_event(&self, event: &NewEvent) -> Result<()>;
    /// Makes every write committed so far durable (fsync).
    fn flush(&self) -> Result<()>;
    fn event(&self, event_id: &EventId) -> Result<Option<StoredEvent>>;
    /// Events of a room with `after < stream <= until`, newest first, at most `limit`.
    fn room_events_desc(
        &self,
        room_id: &RoomId,
        after: StreamPos,
        until: StreamPos,
        limit: usize,
    ) -> Result<Vec<StoredEvent>>;
    /// Events of a room with `after < stream <= until`, oldest first, at most `limit`.
    fn room_events_asc(
        &self,
        room_id: &RoomId,
        after: StreamPos,
        until: StreamPos,
        limit: usize,
    ) -> Result<Vec<StoredEvent>>;
    /// Events relating to a parent, as the query asks.
    fn relations(&self, query: &RelationsQuery<'_>) -> Result<Vec<StoredEvent>>;
    /// The event previously sent with this transaction scope by this device, if any.
    fn txn_event(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        txn_scope: &str,
    ) -> Result<Option<OwnedEventId>>;
    /// Whether a transaction scope was used by the device; marks it used.
    fn use_txn_scope(&self, user_id: &UserId, device_id: &DeviceId, scope: &str) -> Result<bool>;
    /// The highest stream position written so far, by any area.
    fn max_stream(&self) -> Result<StreamPos>;
}

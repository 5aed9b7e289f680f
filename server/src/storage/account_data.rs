//! Account data (global and per room) and stored filters.

use ruma::{OwnedRoomId, RoomId, UserId};

use super::types::{Result, StreamPos};

/// A piece of account data (global when `room_id` is `None`).
#[derive(Clone, Debug)]
pub struct AccountDataRow {
    pub room_id: Option<OwnedRoomId>,
    pub event_type: String,
    /// The content as JSON text.
    pub content: String,
    pub stream: StreamPos,
}

pub trait AccountDataStore: Send + Sync {
    /// Stores account data at a reserved stream position (replacing the old value).
    fn set_account_data(
        &self,
        user_id: &UserId,
        room_id: Option<&RoomId>,
        event_type: &str,
        content: &str,
        stream: StreamPos,
    ) -> Result<()>;
    fn account_data(
        &self,
        user_id: &UserId,
        room_id: Option<&RoomId>,
        event_type: &str,
    ) -> Result<Option<String>>;
    /// Account data changed in `(after, until]` (all of it when `after` is `None`).
    fn account_data_changes(
        &self,
        user_id: &UserId,
        after: Option<StreamPos>,
        until: StreamPos,
    ) -> Result<Vec<AccountDataRow>>;
    /// Stores a filter and returns its ID.
    fn create_filter(&self, user_id: &UserId, filter_json: &str) -> Result<String>;
    fn filter(&self, user_id: &UserId, filter_id: &str) -> Result<Option<String>>;
}

//! Read receipts.

use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, UserId};

use super::types::{Result, StreamPos};

/// A read receipt.
#[derive(Clone, Debug)]
pub struct ReceiptRow {
    pub room_id: OwnedRoomId,
    pub user_id: OwnedUserId,
    pub receipt_type: String,
    pub thread_id: Option<String>,
    pub event_id: OwnedEventId,
    pub ts: i64,
    pub stream: StreamPos,
}

pub trait ReceiptStore: Send + Sync {
    /// Stores a receipt (one per room, user, type and thread) at a reserved position.
    fn set_receipt(&self, receipt: &ReceiptRow) -> Result<()>;
    /// Receipts in a room changed in `(after, until]` (all when `after` is `None`).
    fn receipt_changes(
        &self,
        room_id: &RoomId,
        after: Option<StreamPos>,
        until: StreamPos,
    ) -> Result<Vec<ReceiptRow>>;
    /// Stream position of the newest event the user's unthreaded (or
    /// main-thread) read receipts, public or private, point at.
    fn read_up_to(&self, room_id: &RoomId, user_id: &UserId) -> Result<Option<StreamPos>>;
}

//! Users' presence.

use ruma::{OwnedUserId, UserId, presence::PresenceState};

use super::types::{Result, StreamPos};

/// A user's stored presence.
#[derive(Clone, Debug)]
pub struct PresenceRow {
    pub state: PresenceState,
    pub status_msg: Option<String>,
    pub last_active_ts: i64,
}

pub trait PresenceStore: Send + Sync {
    /// Stores a user's presence at `stream`.
    fn set_presence(
        &self,
        user_id: &UserId,
        presence: &PresenceRow,
        stream: StreamPos,
    ) -> Result<()>;
    fn presence(&self, user_id: &UserId) -> Result<Option<PresenceRow>>;
    /// Users whose presence changed in `(after, until]`.
    fn presence_changes(&self, after: StreamPos, until: StreamPos) -> Result<Vec<OwnedUserId>>;
}

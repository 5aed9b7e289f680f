//! Server-side key backups: versions per user and the session keys of each.

use ruma::{OwnedRoomId, RoomId, UserId};

use super::types::Result;

/// A live key-backup version.
#[derive(Clone, Debug)]
pub struct BackupVersionRow {
    pub version: i64,
    pub algorithm: String,
    /// The `auth_data` object as uploaded.
    pub auth_data: String,
    /// Moves whenever the version's keys change.
    pub etag: i64,
    /// Keys stored in the version.
    pub count: i64,
}

/// One backed-up Megolm session key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupKeyRow {
    pub room_id: OwnedRoomId,
    pub session_id: String,
    pub first_message_index: i64,
    pub forwarded_count: i64,
    pub is_verified: bool,
    /// The encrypted `session_data` object as uploaded.
    pub session_data: String,
}

/// A version's key count and etag after a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackupCounts {
    pub count: i64,
    pub etag: i64,
}

/// What became of a backup write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackupWrite {
    /// Written: the version's count and etag afterwards.
    Done(BackupCounts),
    /// The version exists but is not the newest (which is given).
    NotCurrent { current: i64 },
    /// No such live version.
    UnknownVersion,
}

pub trait KeyBackupStore: Send + Sync {
    /// Creates a backup version (one above every version the user ever had) and returns it.
    fn create_backup_version(
        &self,
        user_id: &UserId,
        algorithm: &str,
        auth_data: &str,
    ) -> Result<i64>;
    /// A backup version that was not deleted; `None` asks for the newest.
    fn backup_version(
        &self,
        user_id: &UserId,
        version: Option<i64>,
    ) -> Result<Option<BackupVersionRow>>;
    /// Replaces a live version's `auth_data`; `false` if there is no such version.
    fn update_backup_auth_data(
        &self,
        user_id: &UserId,
        version: i64,
        auth_data: &str,
    ) -> Result<bool>;
    /// Deletes a version and its keys; `false` if there is no such version.
    fn delete_backup_version(&self, user_id: &UserId, version: i64) -> Result<bool>;
    /// Stores keys in the newest version, which must be `version`. A key already stored
    /// for its session is replaced only when `better(new, stored)`; the etag moves when
    /// anything changed. All in one transaction, so the version cannot change midway.
    fn put_backup_keys(
        &self,
        user_id: &UserId,
        version: i64,
        keys: &[BackupKeyRow],
        better: &dyn Fn(&BackupKeyRow, &BackupKeyRow) -> bool,
    ) -> Result<BackupWrite>;
    /// Keys of a live version, all or of one room or one session.
    fn backup_keys(
        &self,
        user_id: &UserId,
        version: i64,
        room_id: Option<&RoomId>,
        session_id: Option<&str>,
    ) -> Result<Vec<BackupKeyRow>>;
    /// Deletes keys of a live version (all, one room's or one session's); `None` if there
    /// is no such version, else its counts afterwards.
    fn delete_backup_keys(
        &self,
        user_id: &UserId,
        version: i64,
        room_id: Option<&RoomId>,
        session_id: Option<&str>,
    ) -> Result<Option<BackupCounts>>;
}

//! Room aliases, the published-room directory and the user directory.

use ruma::{OwnedRoomAliasId, OwnedRoomId, OwnedUserId, RoomAliasId, RoomId, UserId};

use super::types::Result;

/// Where an alias points and who made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AliasRow {
    pub room_id: OwnedRoomId,
    pub creator: OwnedUserId,
}

/// A user as the user directory shows them.
#[derive(Clone, Debug)]
pub struct UserProfileRow {
    pub user_id: OwnedUserId,
    pub displayname: Option<String>,
    pub avatar_url: Option<String>,
}

pub trait DirectoryStore: Send + Sync {
    /// Creates an alias; `false` if it is taken.
    fn create_alias(&self, alias: &RoomAliasId, room_id: &RoomId, creator: &UserId)
    -> Result<bool>;
    fn alias(&self, alias: &RoomAliasId) -> Result<Option<AliasRow>>;
    fn delete_alias(&self, alias: &RoomAliasId) -> Result<()>;
    /// The room's aliases, sorted.
    fn aliases_of_room(&self, room_id: &RoomId) -> Result<Vec<OwnedRoomAliasId>>;
    fn set_room_published(&self, room_id: &RoomId, published: bool) -> Result<()>;
    fn room_published(&self, room_id: &RoomId) -> Result<bool>;
    fn published_rooms(&self) -> Result<Vec<OwnedRoomId>>;
    /// Active local users whose ID or display name contains `term` (lower-case).
    fn search_users(&self, term: &str, limit: usize) -> Result<Vec<UserProfileRow>>;
}

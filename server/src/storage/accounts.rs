//! Accounts: the users table (password hash, profile, deactivation).

use ruma::{OwnedUserId, UserId};

use super::types::Result;

/// An account row.
#[derive(Clone, Debug)]
pub struct UserRow {
    pub user_id: OwnedUserId,
    pub password_hash: Option<String>,
    pub displayname: Option<String>,
    pub avatar_url: Option<String>,
    pub admin: bool,
    pub deactivated: bool,
}

/// The profile fields kept in the users table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProfileField {
    DisplayName,
    AvatarUrl,
}

pub trait AccountStore: Send + Sync {
    /// Creates the user; `false` if the ID is taken.
    fn create_user(&self, user: &UserRow) -> Result<bool>;
    fn user(&self, user_id: &UserId) -> Result<Option<UserRow>>;
    fn set_password_hash(&self, user_id: &UserId, hash: &str) -> Result<()>;
    /// Marks the account deactivated: no password, no devices.
    fn deactivate_user(&self, user_id: &UserId) -> Result<()>;
    /// Sets (`Some`) or clears (`None`) a profile field.
    fn set_profile_field(
        &self,
        user_id: &UserId,
        field: ProfileField,
        value: Option<&str>,
    ) -> Result<()>;
}

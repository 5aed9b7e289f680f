//! Persistence behind traits, one per area, so a PostgreSQL backend can join
//! SQLite later and each service can hold only the areas it needs.
//!
//! The storage layer knows rows, not Matrix rules: the service layer decides
//! what to write; storage writes it atomically. No backend type (rusqlite's
//! rows or errors) crosses these traits: parameters are ruma's typed IDs and
//! [`StreamPos`], results are the named rows of each area and
//! [`StorageError`].

pub mod account_data;
pub mod accounts;
pub mod devices;
pub mod directory;
pub mod events;
pub mod key_backup;
pub mod keys;
pub mod media;
pub mod meta;
pub mod presence;
pub mod receipts;
pub mod sqlite;
pub mod state;
pub mod to_device;

pub use account_data::{AccountDataRow, AccountDataStore};
pub use accounts::{AccountStore, ProfileField, UserRow};
pub use devices::{DeviceRow, DeviceStore, TokenOwner};
pub use directory::{AliasRow, DirectoryStore, UserProfileRow};
pub use events::{EventStore, NewEvent, RelationsQuery, RoomHead, StoredEvent, TxnOrigin};
pub use key_backup::{BackupCounts, BackupKeyRow, BackupVersionRow, BackupWrite, KeyBackupStore};
pub use keys::{
    ClaimedKey, CrossSigningKeyRow, DeviceKeysRow, KeyCount, KeyStore, OneTimeKey, SignatureRow,
};
pub use media::{FilledMedia, MediaRow, MediaStore, ThumbnailRow};
pub use meta::MetaStore;
pub use presence::{PresenceRow, PresenceStore};
pub use receipts::{ReceiptRow, ReceiptStore};
pub use state::{MemberChange, MembershipRow, StateEntry, StateStore};
pub use to_device::{NewToDevice, ToDeviceRow, ToDeviceStore};

/// A position in the server-wide stream: every change a sync reports (an
/// event, account data, a receipt, a device-list change, ...) has one, and
/// positions only grow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamPos(pub i64);

impl StreamPos {
    /// Before anything was written.
    pub const ZERO: Self = Self(0);
}

/// `n` positions later.
impl std::ops::Add<i64> for StreamPos {
    type Output = Self;

    fn add(self, n: i64) -> Self {
        Self(self.0 + n)
    }
}

/// `n` positions earlier.
impl std::ops::Sub<i64> for StreamPos {
    type Output = Self;

    fn sub(self, n: i64) -> Self {
        Self(self.0 - n)
    }
}

impl std::fmt::Display for StreamPos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// What a storage call can fail with. The service layer maps every one to
/// an internal error: none of them is the client's doing.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database refused or failed the operation.
    #[error("database: {0}")]
    Backend(Box<dyn std::error::Error + Send + Sync>),
    /// A stored value does not parse as what it should be (an ID, a version).
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    /// The database was written by a newer version of weft.
    #[error("{0}")]
    Schema(String),
    /// The database's files could not be reached (flushing the log).
    #[error("{0}")]
    Io(String),
}

/// The result of every storage call.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// What the homeserver needs from a database: every area.
pub trait Storage:
    MetaStore
    + AccountStore
    + DeviceStore
    + EventStore
    + StateStore
    + AccountDataStore
    + DirectoryStore
    + KeyStore
    + ToDeviceStore
    + KeyBackupStore
    + PresenceStore
    + ReceiptStore
    + MediaStore
    + Send
    + Sync
    + 'static
{
}

impl<T> Storage for T where
    T: MetaStore
        + AccountStore
        + DeviceStore
        + EventStore
        + StateStore
        + AccountDataStore
        + DirectoryStore
        + KeyStore
        + ToDeviceStore
        + KeyBackupStore
        + PresenceStore
        + ReceiptStore
        + MediaStore
        + Send
        + Sync
        + 'static
{
}

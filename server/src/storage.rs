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
pub mod types;

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
pub use types::{Result, StorageError, StreamPos};

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

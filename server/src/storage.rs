//! Persistence behind a trait, so a PostgreSQL backend can join SQLite later.
//!
//! The storage layer knows rows, not Matrix rules: the service layer decides
//! what to write; storage writes it atomically and hands out stream positions.

pub mod sqlite;

use ruma::{OwnedDeviceId, OwnedEventId, OwnedRoomId, OwnedUserId, RoomVersionId};

use crate::error::Result;

/// An event as stored: its PDU JSON plus the bookkeeping sync needs.
#[derive(Clone, Debug)]
pub struct StoredEvent {
    /// Position in the server-wide event stream (strictly increasing).
    pub stream: i64,
    pub event_id: OwnedEventId,
    pub room_id: OwnedRoomId,
    /// The PDU in canonical JSON, without `event_id` (room versions ≥ 3).
    pub pdu_json: String,
    /// The device that sent it and its transaction ID, to echo back to that device only.
    pub txn: Option<(OwnedUserId, OwnedDeviceId, String)>,
    /// For state events, the state event this one replaced.
    pub replaces_state: Option<OwnedEventId>,
    /// The redaction event that redacted this one, if any.
    pub redacted_by: Option<OwnedEventId>,
}

/// An event ready to append.
#[derive(Clone, Debug)]
pub struct NewEvent {
    /// Its stream position, reserved from the notifier.
    pub stream: i64,
    pub event_id: OwnedEventId,
    pub room_id: OwnedRoomId,
    pub event_type: String,
    pub state_key: Option<String>,
    pub sender: OwnedUserId,
    pub depth: i64,
    pub pdu_json: String,
    pub txn: Option<(OwnedUserId, OwnedDeviceId, String)>,
    /// Idempotency key of the sending request (scope: device + endpoint path).
    pub txn_scope: Option<String>,
    /// For `m.room.member` events: the target's new membership.
    pub membership: Option<String>,
    /// For `m.room.redaction` events: the (authorised) event it redacts.
    pub redacts: Option<OwnedEventId>,
    /// For events with `m.relates_to`: the parent event and the relation type.
    pub relation: Option<(OwnedEventId, String)>,
}

/// A user's membership in a room and the stream position where it last changed.
#[derive(Clone, Debug)]
pub struct MembershipRow {
    pub room_id: OwnedRoomId,
    pub membership: String,
    pub stream: i64,
    pub event_id: OwnedEventId,
}

/// A piece of account data (global when `room_id` is `None`).
#[derive(Clone, Debug)]
pub struct AccountDataRow {
    pub room_id: Option<OwnedRoomId>,
    pub event_type: String,
    /// The content as JSON text.
    pub content: String,
    pub stream: i64,
}

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

/// What the homeserver needs from a database.
pub trait Storage: Send + Sync + 'static {
    // --- server metadata ---
    fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Sets the value only if the key is absent; returns the value now stored.
    fn meta_get_or_insert(&self, key: &str, value: &[u8]) -> Result<Vec<u8>>;

    // --- accounts, devices, tokens ---
    /// Creates the user; `false` if the ID is taken.
    fn create_user(&self, user: &UserRow) -> Result<bool>;
    fn user(&self, user_id: &str) -> Result<Option<UserRow>>;
    /// Creates (or replaces) a device with a new access token; the token is
    /// stored only as its SHA-256 hash.
    fn upsert_device(
        &self,
        user_id: &str,
        device_id: &str,
        display_name: Option<&str>,
        token_hash: &[u8],
    ) -> Result<()>;
    fn device_for_token(&self, token_hash: &[u8]) -> Result<Option<(OwnedUserId, OwnedDeviceId)>>;
    fn delete_device(&self, user_id: &str, device_id: &str) -> Result<()>;
    fn delete_all_devices(&self, user_id: &str) -> Result<()>;
    /// `(device_id, display_name, created_ts)` of every device of the user.
    fn devices_of(&self, user_id: &str) -> Result<Vec<(OwnedDeviceId, Option<String>, i64)>>;
    /// Renames a device; `false` if it does not exist.
    fn rename_device(
        &self,
        user_id: &str,
        device_id: &str,
        display_name: Option<&str>,
    ) -> Result<bool>;
    fn set_password_hash(&self, user_id: &str, hash: &str) -> Result<()>;
    /// Marks the account deactivated: no password, no devices.
    fn deactivate_user(&self, user_id: &str) -> Result<()>;

    // --- rooms and events ---
    fn create_room(&self, room_id: &str, version: &RoomVersionId, creator: &str) -> Result<bool>;
    fn room_version(&self, room_id: &str) -> Result<Option<RoomVersionId>>;
    /// The latest event of the room and its depth (the single forward extremity
    /// while the server does not federate).
    fn room_head(&self, room_id: &str) -> Result<Option<(OwnedEventId, i64)>>;
    /// Sets (`Some`) or clears (`None`) a profile field: `displayname` or `avatar_url`.
    fn set_profile_field(
        &self,
        user_id: &str,
        field: ProfileField,
        value: Option<&str>,
    ) -> Result<()>;

    /// Appends the event at its reserved stream position; updates current
    /// state, memberships and the room head in one transaction. The commit
    /// is written but not yet flushed: call [`Storage::flush`] before
    /// treating it as durable (so many appends can share one flush).
    fn append_event(&self, event: &NewEvent) -> Result<()>;
    /// Makes every write committed so far durable (fsync).
    fn flush(&self) -> Result<()>;
    fn event(&self, event_id: &str) -> Result<Option<StoredEvent>>;
    /// Current state: `(type, state_key, event_id)` for every entry.
    fn current_state(&self, room_id: &str) -> Result<Vec<(String, String, OwnedEventId)>>;
    fn current_state_event(
        &self,
        room_id: &str,
        event_type: &str,
        state_key: &str,
    ) -> Result<Option<StoredEvent>>;
    /// Events of a room with `after < stream <= until`, newest first, at most `limit`.
    fn room_events_desc(
        &self,
        room_id: &str,
        after: i64,
        until: i64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>>;
    /// Events of a room with `after < stream <= until`, oldest first, at most `limit`.
    fn room_events_asc(
        &self,
        room_id: &str,
        after: i64,
        until: i64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>>;
    /// Hides a left room from the user's syncs and membership lists.
    fn forget_room(&self, room_id: &str, user_id: &str) -> Result<()>;
    /// Events relating to `parent` (optionally of one relation type and event
    /// type) with `after < stream <= until`, newest first when `backwards`.
    #[allow(clippy::too_many_arguments)]
    fn relations(
        &self,
        parent: &str,
        rel_type: Option<&str>,
        event_type: Option<&str>,
        after: i64,
        until: i64,
        limit: usize,
        backwards: bool,
    ) -> Result<Vec<StoredEvent>>;
    /// Every room the user has a membership in (any kind).
    fn memberships_of(&self, user_id: &str) -> Result<Vec<MembershipRow>>;
    /// Joined members of a room.
    fn joined_members(&self, room_id: &str) -> Result<Vec<OwnedUserId>>;
    /// The event previously sent with this transaction ID by this device, if any.
    fn txn_event(
        &self,
        user_id: &str,
        device_id: &str,
        txn_scope: &str,
    ) -> Result<Option<OwnedEventId>>;
    /// The highest stream position written so far (events and account data).
    fn max_stream(&self) -> Result<i64>;

    // --- account data and filters ---
    /// Stores account data at a reserved stream position (replacing the old value).
    fn set_account_data(
        &self,
        user_id: &str,
        room_id: Option<&str>,
        event_type: &str,
        content: &str,
        stream: i64,
    ) -> Result<()>;
    fn account_data(
        &self,
        user_id: &str,
        room_id: Option<&str>,
        event_type: &str,
    ) -> Result<Option<String>>;
    /// Account data changed in `(after, until]` (all of it when `after` is `None`).
    fn account_data_changes(
        &self,
        user_id: &str,
        after: Option<i64>,
        until: i64,
    ) -> Result<Vec<AccountDataRow>>;
    /// Stores a filter and returns its ID.
    fn create_filter(&self, user_id: &str, filter_json: &str) -> Result<String>;
    fn filter(&self, user_id: &str, filter_id: &str) -> Result<Option<String>>;

    // --- aliases and the room directory ---
    /// Creates an alias; `false` if it is taken.
    fn create_alias(&self, alias: &str, room_id: &str, creator: &str) -> Result<bool>;
    /// `(room_id, creator)` of an alias.
    fn alias(&self, alias: &str) -> Result<Option<(OwnedRoomId, OwnedUserId)>>;
    fn delete_alias(&self, alias: &str) -> Result<()>;
    fn aliases_of_room(&self, room_id: &str) -> Result<Vec<String>>;
    fn set_room_published(&self, room_id: &str, published: bool) -> Result<()>;
    fn room_published(&self, room_id: &str) -> Result<bool>;
    fn published_rooms(&self) -> Result<Vec<OwnedRoomId>>;
    /// Local users whose ID or display name contains `term` (lower-case).
    fn search_users(&self, term: &str, limit: usize) -> Result<Vec<UserRow>>;

    // --- end-to-end encryption relay ---
    /// Stores a device's identity keys (replacing older ones) and records a
    /// device-list change at `stream`.
    fn set_device_keys(
        &self,
        user_id: &str,
        device_id: &str,
        keys_json: &str,
        stream: i64,
    ) -> Result<()>;
    /// Device keys of a user: `(device_id, keys_json)`.
    fn device_keys(&self, user_id: &str) -> Result<Vec<(OwnedDeviceId, String)>>;
    /// Adds one-time keys (`(key_id, algorithm, key_json)`) in the given order, after
    /// every key the device uploaded before. An ID already stored is kept when
    /// `same(stored_json, new_json)`; otherwise nothing is written and that ID is returned.
    fn add_one_time_keys(
        &self,
        user_id: &str,
        device_id: &str,
        keys: &[(String, String, String)],
        same: &dyn Fn(&str, &str) -> bool,
    ) -> Result<Option<String>>;
    /// Replaces the fallback key of each algorithm given; a new key is unused (the
    /// same key uploaded again keeps its mark).
    fn set_fallback_keys(
        &self,
        user_id: &str,
        device_id: &str,
        keys: &[(String, String, String)],
    ) -> Result<()>;
    /// Unclaimed one-time keys per algorithm.
    fn one_time_key_counts(&self, user_id: &str, device_id: &str) -> Result<Vec<(String, i64)>>;
    /// Algorithms with an unused fallback key.
    fn unused_fallback_algorithms(&self, user_id: &str, device_id: &str) -> Result<Vec<String>>;
    /// Claims (removes) the oldest uploaded one-time key of the algorithm, else
    /// marks the fallback key used and returns it: `(key_id, key_json)`.
    fn claim_key(
        &self,
        user_id: &str,
        device_id: &str,
        algorithm: &str,
    ) -> Result<Option<(String, String)>>;
    /// Users whose device lists changed in `(after, until]`.
    fn device_list_changes(&self, after: i64, until: i64) -> Result<Vec<OwnedUserId>>;
    /// Records a device-list change (e.g. a device was deleted).
    fn record_device_list_change(&self, user_id: &str, stream: i64) -> Result<()>;
    /// Stores a cross-signing key (`master`, `self_signing`, `user_signing`)
    /// and records a device-list change at `stream`.
    fn set_cross_signing_key(
        &self,
        user_id: &str,
        key_type: &str,
        json: &str,
        stream: i64,
    ) -> Result<()>;
    /// `(key_type, json)` of the user's cross-signing keys.
    fn cross_signing_keys(&self, user_id: &str) -> Result<Vec<(String, String)>>;
    /// Stores a signature by `signer` on another user's key, visible only to the signer.
    fn add_foreign_signature(
        &self,
        target_user: &str,
        key_id: &str,
        signer: &str,
        signature_json: &str,
    ) -> Result<()>;
    /// Signatures `signer` made on `target_user`'s keys: `(key_id, signatures_json)`.
    fn foreign_signatures(&self, target_user: &str, signer: &str) -> Result<Vec<(String, String)>>;
    /// `m.room.member` changes of a room in `(after, until]`, oldest first:
    /// `(state_key user, membership)`.
    fn member_changes(
        &self,
        room_id: &str,
        after: i64,
        until: i64,
    ) -> Result<Vec<(OwnedUserId, String)>>;
    /// Queues a to-device message at `stream`, only if the device exists and has fewer
    /// than `limit` messages waiting; `Ok(false)` when it was dropped.
    #[allow(clippy::too_many_arguments)]
    fn queue_to_device(
        &self,
        user_id: &str,
        device_id: &str,
        sender: &str,
        event_type: &str,
        content: &str,
        stream: i64,
        limit: usize,
    ) -> Result<bool>;
    /// Pending messages up to `until`, oldest first, at most `limit`.
    fn to_device_messages(
        &self,
        user_id: &str,
        device_id: &str,
        until: i64,
        limit: usize,
    ) -> Result<Vec<ToDeviceRow>>;
    /// Deletes messages the device acknowledged (stream ≤ `upto`).
    fn ack_to_device(&self, user_id: &str, device_id: &str, upto: i64) -> Result<()>;
    /// Whether a transaction scope was used by the device; marks it used.
    fn use_txn_scope(&self, user_id: &str, device_id: &str, scope: &str) -> Result<bool>;

    // --- server-side key backups ---
    /// Creates a backup version (one above every version the user ever had) and returns it.
    fn create_backup_version(&self, user_id: &str, algorithm: &str, auth_data: &str)
    -> Result<i64>;
    /// A backup version that was not deleted; `None` asks for the newest.
    fn backup_version(
        &self,
        user_id: &str,
        version: Option<i64>,
    ) -> Result<Option<BackupVersionRow>>;
    /// Replaces a live version's `auth_data`; `false` if there is no such version.
    fn update_backup_auth_data(&self, user_id: &str, version: i64, auth_data: &str)
    -> Result<bool>;
    /// Deletes a version and its keys; `false` if there is no such version.
    fn delete_backup_version(&self, user_id: &str, version: i64) -> Result<bool>;
    /// Stores keys in the newest version, which must be `version`. A key already stored
    /// for its session is replaced only when `better(new, stored)`; the etag moves when
    /// anything changed. All in one transaction, so the version cannot change midway.
    fn put_backup_keys(
        &self,
        user_id: &str,
        version: i64,
        keys: &[BackupKeyRow],
        better: &dyn Fn(&BackupKeyRow, &BackupKeyRow) -> bool,
    ) -> Result<BackupWrite>;
    /// Keys of a live version, all or of one room or one session.
    fn backup_keys(
        &self,
        user_id: &str,
        version: i64,
        room_id: Option<&str>,
        session_id: Option<&str>,
    ) -> Result<Vec<BackupKeyRow>>;
    /// Deletes keys of a live version (all, one room's or one session's); `None` if there
    /// is no such version, else its `(count, etag)` afterwards.
    fn delete_backup_keys(
        &self,
        user_id: &str,
        version: i64,
        room_id: Option<&str>,
        session_id: Option<&str>,
    ) -> Result<Option<(i64, i64)>>;

    // --- presence ---
    /// Stores a user's presence at `stream`.
    fn set_presence(
        &self,
        user_id: &str,
        state: &str,
        status_msg: Option<&str>,
        last_active_ts: i64,
        stream: i64,
    ) -> Result<()>;
    fn presence(&self, user_id: &str) -> Result<Option<PresenceRow>>;
    /// Users whose presence changed in `(after, until]`.
    fn presence_changes(&self, after: i64, until: i64) -> Result<Vec<OwnedUserId>>;

    // --- receipts ---
    /// Stores a receipt (one per room, user, type and thread) at a reserved position.
    fn set_receipt(&self, receipt: &ReceiptRow) -> Result<()>;
    /// Receipts in a room changed in `(after, until]` (all when `after` is `None`).
    fn receipt_changes(
        &self,
        room_id: &str,
        after: Option<i64>,
        until: i64,
    ) -> Result<Vec<ReceiptRow>>;
    // --- media ---
    /// Records a new media ID (pending when `sha256` is `None`).
    fn create_media(&self, media: &MediaRow) -> Result<()>;
    /// Gives a pending media ID its content; `false` if it was not pending.
    fn fill_media(
        &self,
        media_id: &str,
        content_type: &str,
        filename: Option<&str>,
        size: i64,
        sha256: &str,
    ) -> Result<bool>;
    fn media(&self, media_id: &str) -> Result<Option<MediaRow>>;
    /// How many unexpired pending media IDs the user holds.
    fn pending_media(&self, uploader: &str, now: i64) -> Result<i64>;
    fn thumbnail(
        &self,
        media_id: &str,
        width: u32,
        height: u32,
        method: &str,
    ) -> Result<Option<ThumbnailRow>>;
    fn add_thumbnail(&self, thumbnail: &ThumbnailRow) -> Result<()>;

    /// Stream position of the newest event the user's unthreaded (or
    /// main-thread) read receipts, public or private, point at.
    fn read_up_to(&self, room_id: &str, user_id: &str) -> Result<Option<i64>>;
}

/// A media item of the content repository (files live beside the database,
/// named by their SHA-256).
#[derive(Clone, Debug)]
pub struct MediaRow {
    pub media_id: String,
    pub uploader: OwnedUserId,
    pub content_type: Option<String>,
    pub filename: Option<String>,
    pub size: Option<i64>,
    /// Hex SHA-256 of the content; `None` while an async upload is pending.
    pub sha256: Option<String>,
    pub created_ts: i64,
    /// When a pending ID stops accepting its upload.
    pub expires_ts: Option<i64>,
}

/// A generated thumbnail of a media item.
#[derive(Clone, Debug)]
pub struct ThumbnailRow {
    pub media_id: String,
    pub width: u32,
    pub height: u32,
    pub method: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
}

/// A read receipt.
#[derive(Clone, Debug)]
pub struct ReceiptRow {
    pub room_id: OwnedRoomId,
    pub user_id: OwnedUserId,
    pub receipt_type: String,
    pub thread_id: Option<String>,
    pub event_id: OwnedEventId,
    pub ts: i64,
    pub stream: i64,
}

/// A to-device message waiting for its device.
#[derive(Clone, Debug)]
pub struct ToDeviceRow {
    pub stream: i64,
    pub sender: OwnedUserId,
    pub event_type: String,
    pub content: String,
}

/// A user's stored presence.
#[derive(Clone, Debug)]
pub struct PresenceRow {
    pub state: String,
    pub status_msg: Option<String>,
    pub last_active_ts: i64,
}

/// The profile fields kept in the users table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProfileField {
    DisplayName,
    AvatarUrl,
}

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

/// What became of a backup write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackupWrite {
    /// Written: the version's `(count, etag)` afterwards.
    Done { count: i64, etag: i64 },
    /// The version exists but is not the newest (which is given).
    NotCurrent { current: i64 },
    /// No such live version.
    UnknownVersion,
}

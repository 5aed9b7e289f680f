//! Server-side key backups (`/room_keys`): versions with the algorithm and
//! `auth_data` clients use to check them, and the encrypted Megolm session keys
//! stored in each.
//!
//! The server cannot read the keys; it keeps, per session, the copy most useful
//! for decryption, counts them and moves an etag whenever they change, so clients
//! know when to download again. Only the newest version takes writes: a client
//! still writing to an old one learns of the new one from the 403.
//!
//! [`KeyBackup`] is a part of [`Services`](super::Services) holding only the
//! [`KeyBackupStore`] of storage.

use std::sync::Arc;

use ruma::{OwnedRoomId, RoomId, UserId};
use serde_json::value::RawValue;

use crate::{
    error::{Error, Result},
    storage::{BackupCounts, BackupKeyRow, BackupVersionRow, BackupWrite, KeyBackupStore},
};

/// Largest `session_data` of one key, in bytes of JSON. A Megolm session export
/// encrypts to well under 2 KiB, even with a long forwarding chain.
pub const MAX_SESSION_DATA: usize = 16 * 1024;
/// Most keys one request may store. Clients upload in batches of a few hundred.
pub const MAX_KEYS_PER_REQUEST: usize = 1000;
/// Largest `auth_data` of a version (a public key and a few signatures).
pub const MAX_AUTH_DATA: usize = 16 * 1024;

/// A backup version as `GET /room_keys/version` shows it.
pub struct BackupInfo {
    pub version: String,
    /// `{"algorithm", "auth_data"}`.
    pub algorithm: Box<RawValue>,
    pub count: u64,
    pub etag: String,
}

/// The body of a version create or update.
#[derive(serde::Deserialize)]
struct VersionBody {
    algorithm: String,
    auth_data: Box<RawValue>,
    /// Optional in updates; must then name the version being updated.
    version: Option<String>,
}

/// One uploaded key (the spec's `KeyBackupData`).
#[derive(serde::Deserialize)]
struct KeyBackupData {
    first_message_index: u32,
    forwarded_count: u32,
    is_verified: bool,
    session_data: Box<RawValue>,
}

fn unknown_version() -> Error {
    Error::not_found("Unknown backup version")
}

/// Versions are positive integers; anything else names no version.
fn parse_version(version: &str) -> Result<i64> {
    version
        .parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(unknown_version)
}

fn parse_version_body(body: &RawValue) -> Result<VersionBody> {
    let body: VersionBody =
        serde_json::from_str(body.get()).map_err(|e| Error::bad_json(e.to_string()))?;
    if !body.auth_data.get().trim_start().starts_with('{') {
        return Err(Error::bad_json("auth_data must be an object"));
    }
    if body.auth_data.get().len() > MAX_AUTH_DATA {
        return Err(Error::new(
            crate::error::ErrorKind::TooLarge,
            "auth_data is too large",
        ));
    }
    Ok(body)
}

/// Whether `new` is the better copy of a session's key than `old`: a verified key
/// beats an unverified one; then the one that decrypts more (lower first message
/// index); then the one forwarded fewer times.
fn better(new: &BackupKeyRow, old: &BackupKeyRow) -> bool {
    (
        !new.is_verified,
        new.first_message_index,
        new.forwarded_count,
    ) < (
        !old.is_verified,
        old.first_message_index,
        old.forwarded_count,
    )
}

impl BackupInfo {
    fn from_row(row: BackupVersionRow) -> Result<Self> {
        let algorithm = format!(
            "{{\"algorithm\":{},\"auth_data\":{}}}",
            serde_json::to_string(&row.algorithm)?,
            row.auth_data
        );
        Ok(Self {
            version: row.version.to_string(),
            algorithm: RawValue::from_string(algorithm)?,
            count: row.count.max(0) as u64,
            etag: row.etag.to_string(),
        })
    }
}

/// Server-side key backups.
pub struct KeyBackup {
    storage: Arc<dyn KeyBackupStore>,
}

impl KeyBackup {
    pub(super) fn new(storage: Arc<dyn KeyBackupStore>) -> Self {
        Self { storage }
    }

    fn storage(&self) -> &dyn KeyBackupStore {
        &*self.storage
    }

    /// `POST /room_keys/version`: a new version, which becomes the current one.
    pub fn create_backup(&self, user: &UserId, algorithm: &RawValue) -> Result<String> {
        let body = parse_version_body(algorithm)?;
        let version =
            self.storage()
                .create_backup_version(user, &body.algorithm, body.auth_data.get())?;
        Ok(version.to_string())
    }

    /// `GET /room_keys/version[/{version}]`: the given version, or the current one.
    pub fn backup_info(&self, user: &UserId, version: Option<&str>) -> Result<BackupInfo> {
        let version = version.map(parse_version).transpose()?;
        let row = self.storage().backup_version(user, version)?;
        BackupInfo::from_row(row.ok_or_else(|| Error::not_found("No backup version"))?)
    }

    /// `PUT /room_keys/version/{version}`: only `auth_data` may change.
    pub fn update_backup(&self, user: &UserId, version: &str, algorithm: &RawValue) -> Result<()> {
        let number = parse_version(version)?;
        let body = parse_version_body(algorithm)?;
        if body.version.as_deref().is_some_and(|v| v != version) {
            return Err(Error::invalid_param(
                "The version in the body is not the one in the path",
            ));
        }
        let stored = self
            .storage()
            .backup_version(user, Some(number))?
            .ok_or_else(unknown_version)?;
        if stored.algorithm != body.algorithm {
            return Err(Error::invalid_param(
                "The algorithm of a backup version cannot change",
            ));
        }
        if !self
            .storage()
            .update_backup_auth_data(user, number, body.auth_data.get())?
        {
            return Err(unknown_version());
        }
        Ok(())
    }

    /// `DELETE /room_keys/version/{version}`: the version and its keys.
    pub fn delete_backup(&self, user: &UserId, version: &str) -> Result<()> {
        if self
            .storage()
            .delete_backup_version(user, parse_version(version)?)?
        {
            Ok(())
        } else {
            Err(unknown_version())
        }
    }

    /// `PUT /room_keys/keys[/{roomId}[/{sessionId}]]`: stores keys in the current
    /// version, each only if better than the stored copy. Returns `(count, etag)`.
    pub fn put_backup_keys(
        &self,
        user: &UserId,
        version: &str,
        keys: Vec<(OwnedRoomId, String, &RawValue)>,
    ) -> Result<(u64, String)> {
        let number = parse_version(version)?;
        if keys.len() > MAX_KEYS_PER_REQUEST {
            return Err(Error::new(
                crate::error::ErrorKind::TooLarge,
                format!("At most {MAX_KEYS_PER_REQUEST} keys per request"),
            ));
        }
        let rows = keys
            .into_iter()
            .map(|(room_id, session_id, json)| {
                let data: KeyBackupData = serde_json::from_str(json.get())
                    .map_err(|e| Error::bad_json(format!("{room_id} {session_id}: {e}")))?;
                if !data.session_data.get().trim_start().starts_with('{') {
                    return Err(Error::bad_json("session_data must be an object"));
                }
                if data.session_data.get().len() > MAX_SESSION_DATA {
                    return Err(Error::new(
                        crate::error::ErrorKind::TooLarge,
                        "session_data is too large",
                    ));
                }
                Ok(BackupKeyRow {
                    room_id,
                    session_id,
                    first_message_index: data.first_message_index.into(),
                    forwarded_count: data.forwarded_count.into(),
                    is_verified: data.is_verified,
                    session_data: data.session_data.get().to_owned(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        match self
            .storage()
            .put_backup_keys(user, number, &rows, &better)?
        {
            BackupWrite::Done(BackupCounts { count, etag }) => {
                Ok((count.max(0) as u64, etag.to_string()))
            }
            BackupWrite::NotCurrent { current } => Err(Error::WrongRoomKeysVersion {
                current_version: current.to_string(),
            }),
            BackupWrite::UnknownVersion => Err(unknown_version()),
        }
    }

    /// `GET /room_keys/keys[/{roomId}[/{sessionId}]]`: the stored keys.
    pub fn backup_keys(
        &self,
        user: &UserId,
        version: &str,
        room: Option<&RoomId>,
        session: Option<&str>,
    ) -> Result<Vec<BackupKeyRow>> {
        let number = parse_version(version)?;
        if self.storage().backup_version(user, Some(number))?.is_none() {
            return Err(unknown_version());
        }
        Ok(self.storage().backup_keys(user, number, room, session)?)
    }

    /// `DELETE /room_keys/keys[/{roomId}[/{sessionId}]]`. Returns `(count, etag)`.
    pub fn delete_backup_keys(
        &self,
        user: &UserId,
        version: &str,
        room: Option<&RoomId>,
        session: Option<&str>,
    ) -> Result<(u64, String)> {
        let number = parse_version(version)?;
        let BackupCounts { count, etag } = self
            .storage()
            .delete_backup_keys(user, number, room, session)?
            .ok_or_else(unknown_version)?;
        Ok((count.max(0) as u64, etag.to_string()))
    }
}

/// A stored key as `KeyBackupData` JSON.
pub fn key_backup_data(row: &BackupKeyRow) -> Result<Box<RawValue>> {
    let value = serde_json::json!({
        "first_message_index": row.first_message_index,
        "forwarded_count": row.forwarded_count,
        "is_verified": row.is_verified,
        "session_data": RawValue::from_string(row.session_data.clone())?,
    });
    Ok(serde_json::value::to_raw_value(&value)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(is_verified: bool, first_message_index: i64, forwarded_count: i64) -> BackupKeyRow {
        BackupKeyRow {
            room_id: ruma::owned_room_id!("!r:x"),
            session_id: "s".into(),
            first_message_index,
            forwarded_count,
            is_verified,
            session_data: "{}".into(),
        }
    }

    #[test]
    fn the_replacement_rule_orders_verification_then_index_then_forwards() {
        assert!(better(&key(true, 9, 9), &key(false, 0, 0)));
        assert!(!better(&key(false, 0, 0), &key(true, 9, 9)));
        assert!(better(&key(false, 1, 9), &key(false, 2, 0)));
        assert!(better(&key(false, 1, 0), &key(false, 1, 1)));
        assert!(
            !better(&key(false, 1, 1), &key(false, 1, 1)),
            "an equal key keeps the stored one"
        );
    }
}

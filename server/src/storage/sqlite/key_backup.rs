//! [`KeyBackupStore`] on SQLite: `backup_versions` (deleted versions stay as
//! tombstones, so numbers are never reused) and `backup_keys`.

use ruma::{RoomId, UserId};
use rusqlite::{Connection, OptionalExtension, params};

use super::{CachedStatements, SqliteStorage, parse_id};
use crate::storage::{
    BackupCounts, BackupKeyRow, BackupVersionRow, BackupWrite, KeyBackupStore, Result,
};

/// The number of keys in a backup version and its etag.
fn backup_count_etag(
    conn: &Connection,
    user_id: &str,
    version: i64,
) -> rusqlite::Result<BackupCounts> {
    conn.query_row_cached(
        "SELECT (SELECT COUNT(*) FROM backup_keys WHERE user_id = ?1 AND version = ?2), etag
         FROM backup_versions WHERE user_id = ?1 AND version = ?2",
        params![user_id, version],
        |r| {
            Ok(BackupCounts {
                count: r.get(0)?,
                etag: r.get(1)?,
            })
        },
    )
}

impl KeyBackupStore for SqliteStorage {
    fn create_backup_version(
        &self,
        user_id: &UserId,
        algorithm: &str,
        auth_data: &str,
    ) -> Result<i64> {
        let user_id = user_id.as_str();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let version: i64 = tx.query_row_cached(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM backup_versions WHERE user_id = ?1",
            [user_id],
            |r| r.get(0),
        )?;
        tx.execute_cached(
            "INSERT INTO backup_versions (user_id, version, algorithm, auth_data) VALUES (?1, ?2, ?3, ?4)",
            params![user_id, version, algorithm, auth_data],
        )?;
        tx.commit()?;
        Ok(version)
    }

    fn backup_version(
        &self,
        user_id: &UserId,
        version: Option<i64>,
    ) -> Result<Option<BackupVersionRow>> {
        let user_id = user_id.as_str();
        let conn = self.read();
        let row = |r: &rusqlite::Row<'_>| {
            Ok(BackupVersionRow {
                version: r.get(0)?,
                algorithm: r.get(1)?,
                auth_data: r.get(2)?,
                etag: r.get(3)?,
                count: r.get(4)?,
            })
        };
        let columns = "version, algorithm, auth_data, etag,
             (SELECT COUNT(*) FROM backup_keys k WHERE k.user_id = v.user_id AND k.version = v.version)";
        let found = match version {
            Some(version) => conn
                .query_row_cached(
                    &format!("SELECT {columns} FROM backup_versions v WHERE user_id = ?1 AND version = ?2 AND deleted = 0"),
                    params![user_id, version],
                    row,
                )
                .optional()?,
            None => conn
                .query_row_cached(
                    &format!(
                        "SELECT {columns} FROM backup_versions v WHERE user_id = ?1 AND deleted = 0
                         ORDER BY version DESC LIMIT 1"
                    ),
                    [user_id],
                    row,
                )
                .optional()?,
        };
        Ok(found)
    }

    fn update_backup_auth_data(
        &self,
        user_id: &UserId,
        version: i64,
        auth_data: &str,
    ) -> Result<bool> {
        let user_id = user_id.as_str();
        let n = self.conn().execute_cached(
            "UPDATE backup_versions SET auth_data = ?3 WHERE user_id = ?1 AND version = ?2 AND deleted = 0",
            params![user_id, version, auth_data],
        )?;
        Ok(n == 1)
    }

    fn delete_backup_version(&self, user_id: &UserId, version: i64) -> Result<bool> {
        let user_id = user_id.as_str();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let n = tx.execute_cached(
            "UPDATE backup_versions SET deleted = 1 WHERE user_id = ?1 AND version = ?2 AND deleted = 0",
            params![user_id, version],
        )?;
        tx.execute_cached(
            "DELETE FROM backup_keys WHERE user_id = ?1 AND version = ?2",
            params![user_id, version],
        )?;
        tx.commit()?;
        Ok(n == 1)
    }

    fn put_backup_keys(
        &self,
        user_id: &UserId,
        version: i64,
        keys: &[BackupKeyRow],
        better: &dyn Fn(&BackupKeyRow, &BackupKeyRow) -> bool,
    ) -> Result<BackupWrite> {
        let user_id = user_id.as_str();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let current: Option<i64> = tx.query_row_cached(
            "SELECT MAX(version) FROM backup_versions WHERE user_id = ?1 AND deleted = 0",
            [user_id],
            |r| r.get(0),
        )?;
        match current {
            Some(current) if current == version => {}
            Some(current) => {
                let exists = tx
                    .query_row_cached(
                        "SELECT 1 FROM backup_versions WHERE user_id = ?1 AND version = ?2 AND deleted = 0",
                        params![user_id, version],
                        |_| Ok(()),
                    )
                    .optional()?
                    .is_some();
                return Ok(if exists {
                    BackupWrite::NotCurrent { current }
                } else {
                    BackupWrite::UnknownVersion
                });
            }
            None => return Ok(BackupWrite::UnknownVersion),
        }
        let mut changed = false;
        for key in keys {
            let stored = tx
                .query_row_cached(
                    "SELECT first_message_index, forwarded_count, is_verified, session_data FROM backup_keys
                     WHERE user_id = ?1 AND version = ?2 AND room_id = ?3 AND session_id = ?4",
                    params![user_id, version, key.room_id.as_str(), key.session_id],
                    |r| {
                        Ok(BackupKeyRow {
                            room_id: key.room_id.clone(),
                            session_id: key.session_id.clone(),
                            first_message_index: r.get(0)?,
                            forwarded_count: r.get(1)?,
                            is_verified: r.get(2)?,
                            session_data: r.get(3)?,
                        })
                    },
                )
                .optional()?;
            if stored.as_ref().is_some_and(|stored| !better(key, stored)) {
                continue;
            }
            tx.execute_cached(
                "INSERT INTO backup_keys
                   (user_id, version, room_id, session_id, first_message_index, forwarded_count, is_verified, session_data)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (user_id, version, room_id, session_id) DO UPDATE SET
                   first_message_index = excluded.first_message_index, forwarded_count = excluded.forwarded_count,
                   is_verified = excluded.is_verified, session_data = excluded.session_data",
                params![
                    user_id,
                    version,
                    key.room_id.as_str(),
                    key.session_id,
                    key.first_message_index,
                    key.forwarded_count,
                    key.is_verified,
                    key.session_data
                ],
            )?;
            changed = true;
        }
        if changed {
            tx.execute_cached(
                "UPDATE backup_versions SET etag = etag + 1 WHERE user_id = ?1 AND version = ?2",
                params![user_id, version],
            )?;
        }
        let counts = backup_count_etag(&tx, user_id, version)?;
        tx.commit()?;
        Ok(BackupWrite::Done(counts))
    }

    fn backup_keys(
        &self,
        user_id: &UserId,
        version: i64,
        room_id: Option<&RoomId>,
        session_id: Option<&str>,
    ) -> Result<Vec<BackupKeyRow>> {
        let user_id = user_id.as_str();
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT room_id, session_id, first_message_index, forwarded_count, is_verified, session_data FROM backup_keys
             WHERE user_id = ?1 AND version = ?2 AND (?3 IS NULL OR room_id = ?3) AND (?4 IS NULL OR session_id = ?4)
               AND EXISTS (SELECT 1 FROM backup_versions v WHERE v.user_id = ?1 AND v.version = ?2 AND v.deleted = 0)",
        )?;
        let rows = stmt
            .query_map(
                params![user_id, version, room_id.map(RoomId::as_str), session_id],
                |r| {
                    Ok(BackupKeyRow {
                        room_id: parse_id(r.get(0)?)?,
                        session_id: r.get(1)?,
                        first_message_index: r.get(2)?,
                        forwarded_count: r.get(3)?,
                        is_verified: r.get(4)?,
                        session_data: r.get(5)?,
                    })
                },
            )?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn delete_backup_keys(
        &self,
        user_id: &UserId,
        version: i64,
        room_id: Option<&RoomId>,
        session_id: Option<&str>,
    ) -> Result<Option<BackupCounts>> {
        let user_id = user_id.as_str();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let live = tx
            .query_row_cached(
                "SELECT 1 FROM backup_versions WHERE user_id = ?1 AND version = ?2 AND deleted = 0",
                params![user_id, version],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if !live {
            return Ok(None);
        }
        let n = tx.execute_cached(
            "DELETE FROM backup_keys WHERE user_id = ?1 AND version = ?2
               AND (?3 IS NULL OR room_id = ?3) AND (?4 IS NULL OR session_id = ?4)",
            params![user_id, version, room_id.map(RoomId::as_str), session_id],
        )?;
        if n > 0 {
            tx.execute_cached(
                "UPDATE backup_versions SET etag = etag + 1 WHERE user_id = ?1 AND version = ?2",
                params![user_id, version],
            )?;
        }
        let counts = backup_count_etag(&tx, user_id, version)?;
        tx.commit()?;
        Ok(Some(counts))
    }
}

//! SQLite implementation of [`Storage`]: one file in the data folder, WAL
//! journal, one writer connection behind a mutex.
//!
//! Writes are serialised by the mutex, so stream positions are committed in
//! order and a reader never sees position N+1 without N.

use std::{path::Path, sync::Mutex};

use ruma::{OwnedDeviceId, OwnedEventId, OwnedRoomId, OwnedUserId, RoomVersionId};
use rusqlite::{Connection, OptionalExtension, params};

use super::{
    AccountDataRow, BackupKeyRow, BackupVersionRow, BackupWrite, MediaRow, MembershipRow, NewEvent,
    PresenceRow, ProfileField, ReceiptRow, Storage, StoredEvent, ThumbnailRow, ToDeviceRow,
    UserRow,
};
use crate::error::{Error, Result};

/// Schema migrations, oldest first: `user_version` counts those applied, so
/// file `000N_*.sql` takes a database from version N-1 to N. Never edit one
/// that has shipped; add the next number.
const MIGRATIONS: [&str; 13] = [
    include_str!("sqlite/migrations/0001_core.sql"),
    include_str!("sqlite/migrations/0002_account_data_filters.sql"),
    include_str!("sqlite/migrations/0003_receipts.sql"),
    include_str!("sqlite/migrations/0004_redactions.sql"),
    include_str!("sqlite/migrations/0005_deactivation.sql"),
    include_str!("sqlite/migrations/0006_e2ee_relay.sql"),
    include_str!("sqlite/migrations/0007_cross_signing.sql"),
    include_str!("sqlite/migrations/0008_aliases_directory.sql"),
    include_str!("sqlite/migrations/0009_presence.sql"),
    include_str!("sqlite/migrations/0010_relations.sql"),
    include_str!("sqlite/migrations/0011_media.sql"),
    include_str!("sqlite/migrations/0012_thumbnails.sql"),
    include_str!("sqlite/migrations/0013_key_backup_otk_order.sql"),
];
const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// SQLite-backed storage: one writer connection, and a few read-only
/// connections so syncs and reads run beside writes (WAL allows that).
pub struct SqliteStorage {
    conn: Mutex<Connection>,
    /// The write-ahead log, flushed by [`Storage::flush`].
    wal: Option<std::path::PathBuf>,
    readers: Vec<Mutex<Connection>>,
    next_reader: std::sync::atomic::AtomicUsize,
}

/// Read connections per database (the machine has few cores; more would
/// only add memory).
const READERS: usize = 3;
/// Room for every statement this file prepares, so none is parsed twice.
const STATEMENT_CACHE: usize = 128;

/// Runs statements through the connection's prepared-statement cache:
/// parsing SQL costs more than running most of these queries.
trait CachedStatements {
    fn query_row_cached<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>;
    fn execute_cached<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;
}

impl CachedStatements for Connection {
    fn query_row_cached<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    {
        self.prepare_cached(sql)?.query_row(params, f)
    }

    fn execute_cached<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }
}

impl SqliteStorage {
    /// Opens (creating if needed) the database file and brings its schema up
    /// to date in one transaction, so a failed start leaves nothing half-made.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)?;
        let mut storage = Self::init(conn)?;
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        storage.wal = Some(wal.into());
        for _ in 0..READERS {
            let reader = Connection::open(path)?;
            reader.pragma_update(None, "query_only", true)?;
            reader.busy_timeout(std::time::Duration::from_secs(5))?;
            reader.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
            storage.readers.push(Mutex::new(reader));
        }
        Ok(storage)
    }

    fn init(mut conn: Connection) -> Result<Self> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: a commit is on disk before the client hears "sent", so not
        // even a power cut loses an acknowledged event. (NORMAL would survive
        // a crashed process but not a crashed machine.) Group commit is the
        // way to win back throughput, not weaker durability.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Keep the WAL from growing without bound under steady writes.
        conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(Error::Internal(format!(
                "the database has schema version {version}, newer than this weft ({SCHEMA_VERSION}); \
                 upgrade weft or use another data_dir"
            )));
        }
        // Each migration commits with its version number, so an interrupted
        // upgrade resumes where it stopped.
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = conn.transaction()?;
            tx.execute_batch(migration)?;
            tx.pragma_update(None, "user_version", index as i64 + 1)?;
            tx.commit()?;
        }
        Ok(Self {
            conn: Mutex::new(conn),
            wal: None,
            readers: Vec::new(),
            next_reader: Default::default(),
        })
    }

    /// A read-only connection: a free one if any, else the next in turn.
    fn read(&self) -> std::sync::MutexGuard<'_, Connection> {
        if self.readers.is_empty() {
            return self.conn();
        }
        for reader in &self.readers {
            if let Ok(guard) = reader.try_lock() {
                return guard;
            }
        }
        let i = self
            .next_reader
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            % self.readers.len();
        self.readers[i]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a half-applied
        // transaction (SQLite rolls it back), so poisoning is safe to ignore.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn parse_id<T: TryFrom<String>>(s: String) -> rusqlite::Result<T> {
    T::try_from(s).map_err(|_| rusqlite::Error::InvalidQuery)
}

/// The number of keys in a backup version and its etag.
fn backup_count_etag(
    conn: &Connection,
    user_id: &str,
    version: i64,
) -> rusqlite::Result<(i64, i64)> {
    conn.query_row_cached(
        "SELECT (SELECT COUNT(*) FROM backup_keys WHERE user_id = ?1 AND version = ?2), etag
         FROM backup_versions WHERE user_id = ?1 AND version = ?2",
        params![user_id, version],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// Tables holding per-device data, emptied when a device goes.
const PER_DEVICE_TABLES: [&str; 6] = [
    "devices",
    "txn_ids",
    "device_keys",
    "one_time_keys",
    "fallback_keys",
    "to_device",
];

const EVENT_COLUMNS: &str = "stream, event_id, room_id, pdu_json, txn_user, txn_device, txn_id, replaces_state, redacted_by";

fn event_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredEvent> {
    let txn_user: Option<String> = row.get(4)?;
    let txn_device: Option<String> = row.get(5)?;
    let txn_id: Option<String> = row.get(6)?;
    let txn = match (txn_user, txn_device, txn_id) {
        (Some(u), Some(d), Some(t)) => Some((parse_id(u)?, OwnedDeviceId::from(d), t)),
        _ => None,
    };
    let replaces: Option<String> = row.get(7)?;
    let redacted_by: Option<String> = row.get(8)?;
    Ok(StoredEvent {
        stream: row.get(0)?,
        event_id: parse_id(row.get(1)?)?,
        room_id: parse_id(row.get(2)?)?,
        pdu_json: row.get(3)?,
        txn,
        replaces_state: replaces.map(parse_id).transpose()?,
        redacted_by: redacted_by.map(parse_id).transpose()?,
    })
}

impl Storage for SqliteStorage {
    fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .read()
            .query_row_cached("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    fn meta_get_or_insert(&self, key: &str, value: &[u8]) -> Result<Vec<u8>> {
        let conn = self.conn();
        conn.execute_cached(
            "INSERT OR IGNORE INTO meta (key, value) VALUES (?1, ?2)",
            params![key, value],
        )?;
        Ok(conn.query_row_cached("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))?)
    }

    fn create_user(&self, user: &UserRow) -> Result<bool> {
        let n = self.conn().execute_cached(
            "INSERT OR IGNORE INTO users (user_id, password_hash, displayname, avatar_url, admin, created_ts)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                user.user_id.as_str(),
                user.password_hash,
                user.displayname,
                user.avatar_url,
                user.admin,
                now_ms()
            ],
        )?;
        Ok(n == 1)
    }

    fn user(&self, user_id: &str) -> Result<Option<UserRow>> {
        Ok(self
            .read()
            .query_row_cached(
                "SELECT user_id, password_hash, displayname, admin, avatar_url, deactivated FROM users WHERE user_id = ?1",
                [user_id],
                |r| {
                    Ok(UserRow {
                        user_id: parse_id(r.get(0)?)?,
                        password_hash: r.get(1)?,
                        displayname: r.get(2)?,
                        admin: r.get(3)?,
                        avatar_url: r.get(4)?,
                        deactivated: r.get(5)?,
                    })
                },
            )
            .optional()?)
    }

    fn upsert_device(
        &self,
        user_id: &str,
        device_id: &str,
        display_name: Option<&str>,
        token_hash: &[u8],
    ) -> Result<()> {
        self.conn().execute_cached(
            "INSERT INTO devices (user_id, device_id, display_name, token_hash, created_ts)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (user_id, device_id) DO UPDATE SET
               token_hash = excluded.token_hash,
               display_name = COALESCE(excluded.display_name, devices.display_name)",
            params![user_id, device_id, display_name, token_hash, now_ms()],
        )?;
        Ok(())
    }

    fn device_for_token(&self, token_hash: &[u8]) -> Result<Option<(OwnedUserId, OwnedDeviceId)>> {
        Ok(self
            .read()
            .query_row_cached(
                "SELECT user_id, device_id FROM devices WHERE token_hash = ?1",
                [token_hash],
                |r| {
                    Ok((
                        parse_id(r.get(0)?)?,
                        OwnedDeviceId::from(r.get::<_, String>(1)?),
                    ))
                },
            )
            .optional()?)
    }

    fn delete_device(&self, user_id: &str, device_id: &str) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for table in PER_DEVICE_TABLES {
            tx.execute_cached(
                &format!("DELETE FROM {table} WHERE user_id = ?1 AND device_id = ?2"),
                [user_id, device_id],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn delete_all_devices(&self, user_id: &str) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for table in PER_DEVICE_TABLES {
            tx.execute_cached(
                &format!("DELETE FROM {table} WHERE user_id = ?1"),
                [user_id],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn devices_of(&self, user_id: &str) -> Result<Vec<(OwnedDeviceId, Option<String>, i64)>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT device_id, display_name, created_ts FROM devices WHERE user_id = ?1 ORDER BY created_ts",
        )?;
        let rows = stmt
            .query_map([user_id], |r| {
                Ok((
                    OwnedDeviceId::from(r.get::<_, String>(0)?),
                    r.get(1)?,
                    r.get(2)?,
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn rename_device(
        &self,
        user_id: &str,
        device_id: &str,
        display_name: Option<&str>,
    ) -> Result<bool> {
        let n = self.conn().execute_cached(
            "UPDATE devices SET display_name = ?3 WHERE user_id = ?1 AND device_id = ?2",
            params![user_id, device_id, display_name],
        )?;
        Ok(n == 1)
    }

    fn set_password_hash(&self, user_id: &str, hash: &str) -> Result<()> {
        self.conn().execute_cached(
            "UPDATE users SET password_hash = ?2 WHERE user_id = ?1",
            params![user_id, hash],
        )?;
        Ok(())
    }

    fn deactivate_user(&self, user_id: &str) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute_cached(
            "UPDATE users SET deactivated = 1, password_hash = NULL WHERE user_id = ?1",
            [user_id],
        )?;
        for table in PER_DEVICE_TABLES {
            tx.execute_cached(
                &format!("DELETE FROM {table} WHERE user_id = ?1"),
                [user_id],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn create_room(&self, room_id: &str, version: &RoomVersionId, creator: &str) -> Result<bool> {
        let n = self.conn().execute_cached(
            "INSERT OR IGNORE INTO rooms (room_id, room_version, creator) VALUES (?1, ?2, ?3)",
            params![room_id, version.as_str(), creator],
        )?;
        Ok(n == 1)
    }

    fn room_version(&self, room_id: &str) -> Result<Option<RoomVersionId>> {
        let v: Option<String> = self
            .read()
            .query_row_cached(
                "SELECT room_version FROM rooms WHERE room_id = ?1",
                [room_id],
                |r| r.get(0),
            )
            .optional()?;
        v.map(|v| RoomVersionId::try_from(v).map_err(Error::internal))
            .transpose()
    }

    fn room_head(&self, room_id: &str) -> Result<Option<(OwnedEventId, i64)>> {
        let row: Option<(Option<String>, i64)> = self
            .read()
            .query_row_cached(
                "SELECT head_event_id, head_depth FROM rooms WHERE room_id = ?1",
                [room_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match row {
            Some((Some(id), depth)) => Ok(Some((
                OwnedEventId::try_from(id).map_err(Error::internal)?,
                depth,
            ))),
            _ => Ok(None),
        }
    }

    fn set_profile_field(
        &self,
        user_id: &str,
        field: ProfileField,
        value: Option<&str>,
    ) -> Result<()> {
        let sql = match field {
            ProfileField::DisplayName => "UPDATE users SET displayname = ?2 WHERE user_id = ?1",
            ProfileField::AvatarUrl => "UPDATE users SET avatar_url = ?2 WHERE user_id = ?1",
        };
        self.conn().execute_cached(sql, params![user_id, value])?;
        Ok(())
    }

    fn append_event(&self, e: &NewEvent) -> Result<()> {
        let mut conn = self.conn();
        // Group commit: this transaction is written to the WAL without its
        // own fsync; the caller waits for `flush`, which one thread runs for
        // many appends at once. Every other write keeps synchronous=FULL.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let result = append_in(&mut conn, e);
        conn.pragma_update(None, "synchronous", "FULL")?;
        result
    }

    fn flush(&self) -> Result<()> {
        let Some(wal) = &self.wal else { return Ok(()) };
        match std::fs::File::open(wal) {
            Ok(file) => file
                .sync_data()
                .map_err(|e| Error::Internal(format!("fsync {}: {e}", wal.display()))),
            // No WAL yet means nothing was written through it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::Internal(format!("open {}: {e}", wal.display()))),
        }
    }
    fn event(&self, event_id: &str) -> Result<Option<StoredEvent>> {
        Ok(self
            .read()
            .query_row_cached(
                &format!("SELECT {EVENT_COLUMNS} FROM events WHERE event_id = ?1"),
                [event_id],
                event_from_row,
            )
            .optional()?)
    }

    fn current_state(&self, room_id: &str) -> Result<Vec<(String, String, OwnedEventId)>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT event_type, state_key, event_id FROM current_state WHERE room_id = ?1",
        )?;
        let rows = stmt
            .query_map([room_id], |r| {
                Ok((r.get(0)?, r.get(1)?, parse_id(r.get(2)?)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn current_state_event(
        &self,
        room_id: &str,
        event_type: &str,
        state_key: &str,
    ) -> Result<Option<StoredEvent>> {
        Ok(self
            .read()
            .query_row_cached(
                &format!(
                    "SELECT {} FROM current_state c JOIN events e ON e.event_id = c.event_id
                     WHERE c.room_id = ?1 AND c.event_type = ?2 AND c.state_key = ?3",
                    EVENT_COLUMNS
                        .split(", ")
                        .map(|c| format!("e.{c}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                params![room_id, event_type, state_key],
                event_from_row,
            )
            .optional()?)
    }

    fn room_events_desc(
        &self,
        room_id: &str,
        after: i64,
        until: i64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM events
             WHERE room_id = ?1 AND stream > ?2 AND stream <= ?3
             ORDER BY stream DESC LIMIT ?4"
        ))?;
        let rows = stmt
            .query_map(params![room_id, after, until, limit as i64], event_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn room_events_asc(
        &self,
        room_id: &str,
        after: i64,
        until: i64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM events
             WHERE room_id = ?1 AND stream > ?2 AND stream <= ?3
             ORDER BY stream ASC LIMIT ?4"
        ))?;
        let rows = stmt
            .query_map(params![room_id, after, until, limit as i64], event_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn relations(
        &self,
        parent: &str,
        rel_type: Option<&str>,
        event_type: Option<&str>,
        after: i64,
        until: i64,
        limit: usize,
        backwards: bool,
    ) -> Result<Vec<StoredEvent>> {
        let columns = EVENT_COLUMNS
            .split(", ")
            .map(|c| format!("e.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let order = if backwards { "DESC" } else { "ASC" };
        let conn = self.read();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {columns} FROM relations r JOIN events e ON e.event_id = r.event_id
             WHERE r.relates_to = ?1 AND (?2 IS NULL OR r.rel_type = ?2) AND (?3 IS NULL OR r.event_type = ?3)
               AND r.stream > ?4 AND r.stream <= ?5
             ORDER BY r.stream {order} LIMIT ?6"
        ))?;
        let rows = stmt
            .query_map(
                params![parent, rel_type, event_type, after, until, limit as i64],
                event_from_row,
            )?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn forget_room(&self, room_id: &str, user_id: &str) -> Result<()> {
        // The member event stays in the room's history; only the user's
        // membership row (what their syncs are built from) goes.
        self.conn().execute_cached(
            "DELETE FROM memberships WHERE room_id = ?1 AND user_id = ?2 AND membership IN ('leave', 'ban')",
            params![room_id, user_id],
        )?;
        Ok(())
    }

    fn memberships_of(&self, user_id: &str) -> Result<Vec<MembershipRow>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT room_id, membership, stream, event_id FROM memberships WHERE user_id = ?1",
        )?;
        let rows = stmt
            .query_map([user_id], |r| {
                Ok(MembershipRow {
                    room_id: parse_id(r.get(0)?)?,
                    membership: r.get(1)?,
                    stream: r.get(2)?,
                    event_id: parse_id(r.get(3)?)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn joined_members(&self, room_id: &str) -> Result<Vec<OwnedUserId>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT user_id FROM memberships WHERE room_id = ?1 AND membership = 'join'",
        )?;
        let rows = stmt
            .query_map([room_id], |r| parse_id(r.get(0)?))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn txn_event(
        &self,
        user_id: &str,
        device_id: &str,
        txn_scope: &str,
    ) -> Result<Option<OwnedEventId>> {
        let id: Option<String> = self
            .read()
            .query_row_cached(
                "SELECT event_id FROM txn_ids WHERE user_id = ?1 AND device_id = ?2 AND scope = ?3",
                [user_id, device_id, txn_scope],
                |r| r.get(0),
            )
            .optional()?;
        id.map(|id| OwnedEventId::try_from(id).map_err(Error::internal))
            .transpose()
    }

    fn max_stream(&self) -> Result<i64> {
        Ok(self.read().query_row_cached(
            "SELECT MAX((SELECT COALESCE(MAX(stream), 0) FROM events),
                        (SELECT COALESCE(MAX(stream), 0) FROM account_data),
                        (SELECT COALESCE(MAX(stream), 0) FROM receipts),
                        (SELECT COALESCE(MAX(stream), 0) FROM device_list_changes),
                        (SELECT COALESCE(MAX(stream), 0) FROM to_device),
                        (SELECT COALESCE(MAX(stream), 0) FROM presence))",
            [],
            |r| r.get(0),
        )?)
    }

    fn set_account_data(
        &self,
        user_id: &str,
        room_id: Option<&str>,
        event_type: &str,
        content: &str,
        stream: i64,
    ) -> Result<()> {
        self.conn().execute_cached(
            "INSERT INTO account_data (user_id, room_id, event_type, content, stream)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (user_id, room_id, event_type) DO UPDATE SET
               content = excluded.content, stream = excluded.stream",
            params![user_id, room_id.unwrap_or(""), event_type, content, stream],
        )?;
        Ok(())
    }

    fn account_data(
        &self,
        user_id: &str,
        room_id: Option<&str>,
        event_type: &str,
    ) -> Result<Option<String>> {
        Ok(self
            .read()
            .query_row_cached(
                "SELECT content FROM account_data WHERE user_id = ?1 AND room_id = ?2 AND event_type = ?3",
                params![user_id, room_id.unwrap_or(""), event_type],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn account_data_changes(
        &self,
        user_id: &str,
        after: Option<i64>,
        until: i64,
    ) -> Result<Vec<AccountDataRow>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT room_id, event_type, content, stream FROM account_data
             WHERE user_id = ?1 AND stream > ?2 AND stream <= ?3 ORDER BY stream",
        )?;
        let rows = stmt
            .query_map(params![user_id, after.unwrap_or(-1), until], |r| {
                let room: String = r.get(0)?;
                Ok(AccountDataRow {
                    room_id: if room.is_empty() {
                        None
                    } else {
                        Some(parse_id(room)?)
                    },
                    event_type: r.get(1)?,
                    content: r.get(2)?,
                    stream: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn create_filter(&self, user_id: &str, filter_json: &str) -> Result<String> {
        let conn = self.conn();
        conn.execute_cached(
            "INSERT INTO filters (user_id, filter_json) VALUES (?1, ?2)",
            params![user_id, filter_json],
        )?;
        Ok(conn.last_insert_rowid().to_string())
    }

    fn filter(&self, user_id: &str, filter_id: &str) -> Result<Option<String>> {
        let Ok(id) = filter_id.parse::<i64>() else {
            return Ok(None);
        };
        Ok(self
            .read()
            .query_row_cached(
                "SELECT filter_json FROM filters WHERE filter_id = ?1 AND user_id = ?2",
                params![id, user_id],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn set_receipt(&self, r: &ReceiptRow) -> Result<()> {
        self.conn().execute_cached(
            "INSERT INTO receipts (room_id, user_id, receipt_type, thread_id, event_id, ts, stream)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (room_id, user_id, receipt_type, thread_id) DO UPDATE SET
               event_id = excluded.event_id, ts = excluded.ts, stream = excluded.stream",
            params![
                r.room_id.as_str(),
                r.user_id.as_str(),
                r.receipt_type,
                r.thread_id.as_deref().unwrap_or(""),
                r.event_id.as_str(),
                r.ts,
                r.stream
            ],
        )?;
        Ok(())
    }

    fn receipt_changes(
        &self,
        room_id: &str,
        after: Option<i64>,
        until: i64,
    ) -> Result<Vec<ReceiptRow>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT room_id, user_id, receipt_type, thread_id, event_id, ts, stream FROM receipts
             WHERE room_id = ?1 AND stream > ?2 AND stream <= ?3 ORDER BY stream",
        )?;
        let rows = stmt
            .query_map(params![room_id, after.unwrap_or(-1), until], |r| {
                let thread: String = r.get(3)?;
                Ok(ReceiptRow {
                    room_id: parse_id(r.get(0)?)?,
                    user_id: parse_id(r.get(1)?)?,
                    receipt_type: r.get(2)?,
                    thread_id: (!thread.is_empty()).then_some(thread),
                    event_id: parse_id(r.get(4)?)?,
                    ts: r.get(5)?,
                    stream: r.get(6)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn create_media(&self, media: &MediaRow) -> Result<()> {
        self.conn().execute_cached(
            "INSERT INTO media (media_id, uploader, content_type, filename, size, sha256, created_ts, expires_ts)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                media.media_id,
                media.uploader.as_str(),
                media.content_type,
                media.filename,
                media.size,
                media.sha256,
                media.created_ts,
                media.expires_ts
            ],
        )?;
        Ok(())
    }

    fn fill_media(
        &self,
        media_id: &str,
        content_type: &str,
        filename: Option<&str>,
        size: i64,
        sha256: &str,
    ) -> Result<bool> {
        let n = self.conn().execute_cached(
            "UPDATE media SET content_type = ?2, filename = ?3, size = ?4, sha256 = ?5, expires_ts = NULL
             WHERE media_id = ?1 AND sha256 IS NULL",
            params![media_id, content_type, filename, size, sha256],
        )?;
        Ok(n == 1)
    }

    fn media(&self, media_id: &str) -> Result<Option<MediaRow>> {
        Ok(self
            .read()
            .query_row_cached(
                "SELECT media_id, uploader, content_type, filename, size, sha256, created_ts, expires_ts
                 FROM media WHERE media_id = ?1",
                [media_id],
                |r| {
                    Ok(MediaRow {
                        media_id: r.get(0)?,
                        uploader: parse_id(r.get(1)?)?,
                        content_type: r.get(2)?,
                        filename: r.get(3)?,
                        size: r.get(4)?,
                        sha256: r.get(5)?,
                        created_ts: r.get(6)?,
                        expires_ts: r.get(7)?,
                    })
                },
            )
            .optional()?)
    }

    fn pending_media(&self, uploader: &str, now: i64) -> Result<i64> {
        Ok(self.read().query_row_cached(
            "SELECT COUNT(*) FROM media WHERE uploader = ?1 AND sha256 IS NULL AND expires_ts > ?2",
            params![uploader, now],
            |r| r.get(0),
        )?)
    }

    fn thumbnail(
        &self,
        media_id: &str,
        width: u32,
        height: u32,
        method: &str,
    ) -> Result<Option<ThumbnailRow>> {
        Ok(self
            .read()
            .query_row_cached(
                "SELECT content_type, size, sha256 FROM media_thumbnails
                 WHERE media_id = ?1 AND width = ?2 AND height = ?3 AND method = ?4",
                params![media_id, width, height, method],
                |r| {
                    Ok(ThumbnailRow {
                        media_id: media_id.to_owned(),
                        width,
                        height,
                        method: method.to_owned(),
                        content_type: r.get(0)?,
                        size: r.get(1)?,
                        sha256: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    fn add_thumbnail(&self, t: &ThumbnailRow) -> Result<()> {
        self.conn().execute_cached(
            "INSERT OR REPLACE INTO media_thumbnails (media_id, width, height, method, content_type, size, sha256)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![t.media_id, t.width, t.height, t.method, t.content_type, t.size, t.sha256],
        )?;
        Ok(())
    }

    fn read_up_to(&self, room_id: &str, user_id: &str) -> Result<Option<i64>> {
        Ok(self.read().query_row_cached(
            "SELECT MAX(e.stream) FROM receipts r JOIN events e ON e.event_id = r.event_id
             WHERE r.room_id = ?1 AND r.user_id = ?2
               AND r.receipt_type IN ('m.read', 'm.read.private') AND r.thread_id IN ('', 'main')",
            params![room_id, user_id],
            |r| r.get(0),
        )?)
    }

    fn set_device_keys(
        &self,
        user_id: &str,
        device_id: &str,
        keys_json: &str,
        stream: i64,
    ) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute_cached(
            "INSERT INTO device_keys (user_id, device_id, keys_json) VALUES (?1, ?2, ?3)
             ON CONFLICT (user_id, device_id) DO UPDATE SET keys_json = excluded.keys_json",
            params![user_id, device_id, keys_json],
        )?;
        tx.execute_cached(
            "INSERT INTO device_list_changes (user_id, stream) VALUES (?1, ?2)",
            params![user_id, stream],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn device_keys(&self, user_id: &str) -> Result<Vec<(OwnedDeviceId, String)>> {
        let conn = self.read();
        let mut stmt =
            conn.prepare_cached("SELECT device_id, keys_json FROM device_keys WHERE user_id = ?1")?;
        let rows = stmt
            .query_map([user_id], |r| {
                Ok((OwnedDeviceId::from(r.get::<_, String>(0)?), r.get(1)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn add_one_time_keys(
        &self,
        user_id: &str,
        device_id: &str,
        keys: &[(String, String, String)],
        same: &dyn Fn(&str, &str) -> bool,
    ) -> Result<Option<String>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut seq: i64 = tx.query_row_cached(
            "SELECT COALESCE(MAX(upload_seq), 0) FROM one_time_keys WHERE user_id = ?1 AND device_id = ?2",
            [user_id, device_id],
            |r| r.get(0),
        )?;
        for (key_id, algorithm, json) in keys {
            let stored: Option<String> = tx
                .query_row_cached(
                    "SELECT key_json FROM one_time_keys WHERE user_id = ?1 AND device_id = ?2 AND key_id = ?3",
                    [user_id, device_id, key_id],
                    |r| r.get(0),
                )
                .optional()?;
            match stored {
                // Dropping the transaction rolls back the keys added before this one.
                Some(stored) if !same(&stored, json) => return Ok(Some(key_id.clone())),
                Some(_) => {}
                None => {
                    seq += 1;
                    tx.execute_cached(
                        "INSERT INTO one_time_keys (user_id, device_id, key_id, algorithm, key_json, upload_seq)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![user_id, device_id, key_id, algorithm, json, seq],
                    )?;
                }
            }
        }
        tx.commit()?;
        Ok(None)
    }

    fn set_fallback_keys(
        &self,
        user_id: &str,
        device_id: &str,
        keys: &[(String, String, String)],
    ) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for (key_id, algorithm, json) in keys {
            tx.execute_cached(
                "INSERT INTO fallback_keys (user_id, device_id, algorithm, key_id, key_json, used)
                 VALUES (?1, ?2, ?3, ?4, ?5, 0)
                 ON CONFLICT (user_id, device_id, algorithm) DO UPDATE SET
                   used = CASE WHEN fallback_keys.key_id = excluded.key_id AND fallback_keys.key_json = excluded.key_json
                               THEN fallback_keys.used ELSE 0 END,
                   key_id = excluded.key_id, key_json = excluded.key_json",
                params![user_id, device_id, algorithm, key_id, json],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn one_time_key_counts(&self, user_id: &str, device_id: &str) -> Result<Vec<(String, i64)>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT algorithm, COUNT(*) FROM one_time_keys WHERE user_id = ?1 AND device_id = ?2 GROUP BY algorithm",
        )?;
        let rows = stmt
            .query_map([user_id, device_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn unused_fallback_algorithms(&self, user_id: &str, device_id: &str) -> Result<Vec<String>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT algorithm FROM fallback_keys WHERE user_id = ?1 AND device_id = ?2 AND used = 0",
        )?;
        let rows = stmt
            .query_map([user_id, device_id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn claim_key(
        &self,
        user_id: &str,
        device_id: &str,
        algorithm: &str,
    ) -> Result<Option<(String, String)>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let one_time: Option<(String, String)> = tx
            .query_row_cached(
                "SELECT key_id, key_json FROM one_time_keys
                 WHERE user_id = ?1 AND device_id = ?2 AND algorithm = ?3 ORDER BY upload_seq LIMIT 1",
                params![user_id, device_id, algorithm],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let claimed = match one_time {
            Some((key_id, json)) => {
                tx.execute_cached(
                    "DELETE FROM one_time_keys WHERE user_id = ?1 AND device_id = ?2 AND key_id = ?3",
                    params![user_id, device_id, key_id],
                )?;
                Some((key_id, json))
            }
            None => {
                let fallback: Option<(String, String)> = tx
                    .query_row_cached(
                        "SELECT key_id, key_json FROM fallback_keys
                         WHERE user_id = ?1 AND device_id = ?2 AND algorithm = ?3",
                        params![user_id, device_id, algorithm],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                if fallback.is_some() {
                    tx.execute_cached(
                        "UPDATE fallback_keys SET used = 1 WHERE user_id = ?1 AND device_id = ?2 AND algorithm = ?3",
                        params![user_id, device_id, algorithm],
                    )?;
                }
                fallback
            }
        };
        tx.commit()?;
        Ok(claimed)
    }

    fn device_list_changes(&self, after: i64, until: i64) -> Result<Vec<OwnedUserId>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT DISTINCT user_id FROM device_list_changes WHERE stream > ?1 AND stream <= ?2",
        )?;
        let rows = stmt
            .query_map([after, until], |r| parse_id(r.get(0)?))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn record_device_list_change(&self, user_id: &str, stream: i64) -> Result<()> {
        self.conn().execute_cached(
            "INSERT INTO device_list_changes (user_id, stream) VALUES (?1, ?2)",
            params![user_id, stream],
        )?;
        Ok(())
    }

    fn member_changes(
        &self,
        room_id: &str,
        after: i64,
        until: i64,
    ) -> Result<Vec<(OwnedUserId, String)>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT state_key, json_extract(pdu_json, '$.content.membership') FROM events
             WHERE room_id = ?1 AND stream > ?2 AND stream <= ?3 AND event_type = 'm.room.member'
             ORDER BY stream",
        )?;
        let rows = stmt
            .query_map(params![room_id, after, until], |r| {
                Ok((
                    parse_id(r.get(0)?)?,
                    r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn queue_to_device(
        &self,
        user_id: &str,
        device_id: &str,
        sender: &str,
        event_type: &str,
        content: &str,
        stream: i64,
        limit: usize,
    ) -> Result<bool> {
        // One statement on the one writer connection: the checks and the insert cannot
        // interleave with another sender's.
        let inserted = self.conn().execute_cached(
            "INSERT INTO to_device (user_id, device_id, stream, sender, event_type, content)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6
             WHERE EXISTS (SELECT 1 FROM devices WHERE user_id = ?1 AND device_id = ?2)
               AND (SELECT COUNT(*) FROM to_device WHERE user_id = ?1 AND device_id = ?2) < ?7",
            params![
                user_id,
                device_id,
                stream,
                sender,
                event_type,
                content,
                limit as i64
            ],
        )?;
        Ok(inserted == 1)
    }

    fn to_device_messages(
        &self,
        user_id: &str,
        device_id: &str,
        until: i64,
        limit: usize,
    ) -> Result<Vec<ToDeviceRow>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT stream, sender, event_type, content FROM to_device
             WHERE user_id = ?1 AND device_id = ?2 AND stream <= ?3 ORDER BY stream LIMIT ?4",
        )?;
        let rows = stmt
            .query_map(params![user_id, device_id, until, limit as i64], |r| {
                Ok(ToDeviceRow {
                    stream: r.get(0)?,
                    sender: parse_id(r.get(1)?)?,
                    event_type: r.get(2)?,
                    content: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn ack_to_device(&self, user_id: &str, device_id: &str, upto: i64) -> Result<()> {
        self.conn().execute_cached(
            "DELETE FROM to_device WHERE user_id = ?1 AND device_id = ?2 AND stream <= ?3",
            params![user_id, device_id, upto],
        )?;
        Ok(())
    }

    fn use_txn_scope(&self, user_id: &str, device_id: &str, scope: &str) -> Result<bool> {
        let n = self.conn().execute_cached(
            "INSERT OR IGNORE INTO txn_ids (user_id, device_id, scope, event_id) VALUES (?1, ?2, ?3, '')",
            params![user_id, device_id, scope],
        )?;
        Ok(n == 0)
    }

    fn set_cross_signing_key(
        &self,
        user_id: &str,
        key_type: &str,
        json: &str,
        stream: i64,
    ) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute_cached(
            "INSERT INTO cross_signing_keys (user_id, key_type, json) VALUES (?1, ?2, ?3)
             ON CONFLICT (user_id, key_type) DO UPDATE SET json = excluded.json",
            params![user_id, key_type, json],
        )?;
        tx.execute_cached(
            "INSERT INTO device_list_changes (user_id, stream) VALUES (?1, ?2)",
            params![user_id, stream],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn cross_signing_keys(&self, user_id: &str) -> Result<Vec<(String, String)>> {
        let conn = self.read();
        let mut stmt = conn
            .prepare_cached("SELECT key_type, json FROM cross_signing_keys WHERE user_id = ?1")?;
        let rows = stmt
            .query_map([user_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn add_foreign_signature(
        &self,
        target_user: &str,
        key_id: &str,
        signer: &str,
        signature_json: &str,
    ) -> Result<()> {
        self.conn().execute_cached(
            "INSERT INTO foreign_signatures (target_user, key_id, signer, signatures) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (target_user, key_id, signer) DO UPDATE SET signatures = excluded.signatures",
            params![target_user, key_id, signer, signature_json],
        )?;
        Ok(())
    }

    fn foreign_signatures(&self, target_user: &str, signer: &str) -> Result<Vec<(String, String)>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT key_id, signatures FROM foreign_signatures WHERE target_user = ?1 AND signer = ?2",
        )?;
        let rows = stmt
            .query_map([target_user, signer], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn create_backup_version(
        &self,
        user_id: &str,
        algorithm: &str,
        auth_data: &str,
    ) -> Result<i64> {
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
        user_id: &str,
        version: Option<i64>,
    ) -> Result<Option<BackupVersionRow>> {
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
        user_id: &str,
        version: i64,
        auth_data: &str,
    ) -> Result<bool> {
        let n = self.conn().execute_cached(
            "UPDATE backup_versions SET auth_data = ?3 WHERE user_id = ?1 AND version = ?2 AND deleted = 0",
            params![user_id, version, auth_data],
        )?;
        Ok(n == 1)
    }

    fn delete_backup_version(&self, user_id: &str, version: i64) -> Result<bool> {
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
        user_id: &str,
        version: i64,
        keys: &[BackupKeyRow],
        better: &dyn Fn(&BackupKeyRow, &BackupKeyRow) -> bool,
    ) -> Result<BackupWrite> {
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
        let (count, etag) = backup_count_etag(&tx, user_id, version)?;
        tx.commit()?;
        Ok(BackupWrite::Done { count, etag })
    }

    fn backup_keys(
        &self,
        user_id: &str,
        version: i64,
        room_id: Option<&str>,
        session_id: Option<&str>,
    ) -> Result<Vec<BackupKeyRow>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT room_id, session_id, first_message_index, forwarded_count, is_verified, session_data FROM backup_keys
             WHERE user_id = ?1 AND version = ?2 AND (?3 IS NULL OR room_id = ?3) AND (?4 IS NULL OR session_id = ?4)
               AND EXISTS (SELECT 1 FROM backup_versions v WHERE v.user_id = ?1 AND v.version = ?2 AND v.deleted = 0)",
        )?;
        let rows = stmt
            .query_map(params![user_id, version, room_id, session_id], |r| {
                Ok(BackupKeyRow {
                    room_id: parse_id(r.get(0)?)?,
                    session_id: r.get(1)?,
                    first_message_index: r.get(2)?,
                    forwarded_count: r.get(3)?,
                    is_verified: r.get(4)?,
                    session_data: r.get(5)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn delete_backup_keys(
        &self,
        user_id: &str,
        version: i64,
        room_id: Option<&str>,
        session_id: Option<&str>,
    ) -> Result<Option<(i64, i64)>> {
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
            params![user_id, version, room_id, session_id],
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

    fn create_alias(&self, alias: &str, room_id: &str, creator: &str) -> Result<bool> {
        let n = self.conn().execute_cached(
            "INSERT OR IGNORE INTO aliases (alias, room_id, creator) VALUES (?1, ?2, ?3)",
            params![alias, room_id, creator],
        )?;
        Ok(n == 1)
    }

    fn alias(&self, alias: &str) -> Result<Option<(OwnedRoomId, OwnedUserId)>> {
        Ok(self
            .read()
            .query_row_cached(
                "SELECT room_id, creator FROM aliases WHERE alias = ?1",
                [alias],
                |r| Ok((parse_id(r.get(0)?)?, parse_id(r.get(1)?)?)),
            )
            .optional()?)
    }

    fn delete_alias(&self, alias: &str) -> Result<()> {
        self.conn()
            .execute_cached("DELETE FROM aliases WHERE alias = ?1", [alias])?;
        Ok(())
    }

    fn aliases_of_room(&self, room_id: &str) -> Result<Vec<String>> {
        let conn = self.read();
        let mut stmt =
            conn.prepare_cached("SELECT alias FROM aliases WHERE room_id = ?1 ORDER BY alias")?;
        let rows = stmt
            .query_map([room_id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn set_room_published(&self, room_id: &str, published: bool) -> Result<()> {
        self.conn().execute_cached(
            "UPDATE rooms SET published = ?2 WHERE room_id = ?1",
            params![room_id, published],
        )?;
        Ok(())
    }

    fn room_published(&self, room_id: &str) -> Result<bool> {
        Ok(self
            .read()
            .query_row_cached(
                "SELECT published FROM rooms WHERE room_id = ?1",
                [room_id],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(false))
    }

    fn published_rooms(&self) -> Result<Vec<OwnedRoomId>> {
        let conn = self.read();
        let mut stmt =
            conn.prepare_cached("SELECT room_id FROM rooms WHERE published = 1 ORDER BY room_id")?;
        let rows = stmt
            .query_map([], |r| parse_id(r.get(0)?))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn search_users(&self, term: &str, limit: usize) -> Result<Vec<UserRow>> {
        let pattern = format!(
            "%{}%",
            term.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT user_id, displayname, avatar_url FROM users
             WHERE deactivated = 0 AND (lower(user_id) LIKE ?1 ESCAPE '\\' OR lower(COALESCE(displayname, '')) LIKE ?1 ESCAPE '\\')
             ORDER BY user_id LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![pattern, limit as i64], |r| {
                Ok(UserRow {
                    user_id: parse_id(r.get(0)?)?,
                    password_hash: None,
                    displayname: r.get(1)?,
                    avatar_url: r.get(2)?,
                    admin: false,
                    deactivated: false,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn set_presence(
        &self,
        user_id: &str,
        state: &str,
        status_msg: Option<&str>,
        last_active_ts: i64,
        stream: i64,
    ) -> Result<()> {
        self.conn().execute_cached(
            "INSERT INTO presence (user_id, state, status_msg, last_active_ts, stream) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (user_id) DO UPDATE SET state = excluded.state, status_msg = excluded.status_msg,
               last_active_ts = excluded.last_active_ts, stream = excluded.stream",
            params![user_id, state, status_msg, last_active_ts, stream],
        )?;
        Ok(())
    }

    fn presence(&self, user_id: &str) -> Result<Option<PresenceRow>> {
        Ok(self
            .read()
            .query_row_cached(
                "SELECT state, status_msg, last_active_ts FROM presence WHERE user_id = ?1",
                [user_id],
                |r| {
                    Ok(PresenceRow {
                        state: r.get(0)?,
                        status_msg: r.get(1)?,
                        last_active_ts: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    fn presence_changes(&self, after: i64, until: i64) -> Result<Vec<OwnedUserId>> {
        let conn = self.read();
        let mut stmt =
            conn.prepare_cached("SELECT user_id FROM presence WHERE stream > ?1 AND stream <= ?2")?;
        let rows = stmt
            .query_map([after, until], |r| parse_id(r.get(0)?))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }
}

/// The append transaction itself.
fn append_in(conn: &mut Connection, e: &NewEvent) -> Result<()> {
    let tx = conn.transaction()?;
    let replaces: Option<String> = match &e.state_key {
        Some(key) => tx
            .query_row_cached(
                "SELECT event_id FROM current_state
                 WHERE room_id = ?1 AND event_type = ?2 AND state_key = ?3",
                params![e.room_id.as_str(), e.event_type, key],
                |r| r.get(0),
            )
            .optional()?,
        None => None,
    };
    let (txn_user, txn_device, txn_id) = match &e.txn {
        Some((u, d, t)) => (Some(u.as_str()), Some(d.as_str()), Some(t.as_str())),
        None => (None, None, None),
    };
    tx.execute_cached(
        "INSERT INTO events (stream, event_id, room_id, event_type, state_key, sender, depth, pdu_json,
                             txn_user, txn_device, txn_id, replaces_state)
         VALUES (?12, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            e.event_id.as_str(),
            e.room_id.as_str(),
            e.event_type,
            e.state_key,
            e.sender.as_str(),
            e.depth,
            e.pdu_json,
            txn_user,
            txn_device,
            txn_id,
            replaces,
            e.stream,
        ],
    )?;
    let stream = e.stream;
    if let Some(key) = &e.state_key {
        tx.execute_cached(
            "INSERT INTO current_state (room_id, event_type, state_key, event_id)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (room_id, event_type, state_key) DO UPDATE SET event_id = excluded.event_id",
            params![e.room_id.as_str(), e.event_type, key, e.event_id.as_str()],
        )?;
        if let Some(membership) = &e.membership {
            tx.execute_cached(
                "INSERT INTO memberships (room_id, user_id, membership, event_id, stream)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (room_id, user_id) DO UPDATE SET
                   membership = excluded.membership, event_id = excluded.event_id,
                   stream = excluded.stream",
                params![
                    e.room_id.as_str(),
                    key,
                    membership,
                    e.event_id.as_str(),
                    stream
                ],
            )?;
        }
    }
    if let (Some((user, device, _)), Some(scope)) = (&e.txn, &e.txn_scope) {
        tx.execute_cached(
            "INSERT INTO txn_ids (user_id, device_id, scope, event_id) VALUES (?1, ?2, ?3, ?4)",
            params![user.as_str(), device.as_str(), scope, e.event_id.as_str()],
        )?;
    }
    if let Some((parent, rel_type)) = &e.relation {
        tx.execute_cached(
            "INSERT OR IGNORE INTO relations (event_id, relates_to, rel_type, event_type, stream)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                e.event_id.as_str(),
                parent.as_str(),
                rel_type,
                e.event_type,
                e.stream
            ],
        )?;
    }
    if let Some(target) = &e.redacts {
        // First redaction wins; the content itself is redacted on read.
        tx.execute_cached(
            "UPDATE events SET redacted_by = ?1 WHERE event_id = ?2 AND room_id = ?3 AND redacted_by IS NULL",
            params![e.event_id.as_str(), target.as_str(), e.room_id.as_str()],
        )?;
    }
    tx.execute_cached(
        "UPDATE rooms SET head_event_id = ?2, head_depth = ?3 WHERE room_id = ?1",
        params![e.room_id.as_str(), e.event_id.as_str(), e.depth],
    )?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database left at `version` by an older weft: the first `version`
    /// migrations applied, each committed with its number, as `init` does.
    fn old_database(path: &Path, version: usize) {
        let mut conn = Connection::open(path).unwrap();
        for (index, migration) in MIGRATIONS.iter().enumerate().take(version) {
            let tx = conn.transaction().unwrap();
            tx.execute_batch(migration).unwrap();
            tx.pragma_update(None, "user_version", index as i64 + 1)
                .unwrap();
            tx.commit().unwrap();
        }
        if version >= 1 {
            conn.execute(
                "INSERT INTO users (user_id, password_hash, created_ts) VALUES ('@a:x', 'h', 1)",
                [],
            )
            .unwrap();
        }
        if version >= 6 {
            // Uploaded newest-first by rowid order: `b` before `a`.
            for key_id in ["b", "a"] {
                conn.execute(
                    "INSERT INTO one_time_keys (user_id, device_id, key_id, algorithm, key_json)
                     VALUES ('@a:x', 'D', ?1, 'signed_curve25519', '{}')",
                    [key_id],
                )
                .unwrap();
            }
        }
    }

    fn schema(conn: &Connection) -> Vec<(String, Option<String>)> {
        let mut stmt = conn
            .prepare("SELECT name, sql FROM sqlite_master ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn a_database_at_any_older_version_migrates_to_the_current_schema() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = SqliteStorage::open(&dir.path().join("fresh.db")).unwrap();
        let fresh_schema = schema(&fresh.conn());
        for version in 0..=MIGRATIONS.len() {
            let path = dir.path().join(format!("v{version}.db"));
            old_database(&path, version);
            let storage = SqliteStorage::open(&path).unwrap();
            let conn = storage.conn();
            let now: i64 = conn
                .pragma_query_value(None, "user_version", |r| r.get(0))
                .unwrap();
            assert_eq!(now, SCHEMA_VERSION, "from version {version}");
            assert_eq!(schema(&conn), fresh_schema, "from version {version}");
            drop(conn);
            if version >= 1 {
                let user = storage.user("@a:x").unwrap().expect("user kept");
                assert!(!user.deactivated);
                assert_eq!(user.password_hash.as_deref(), Some("h"));
            }
            if version >= 6 && version < 13 {
                // 0013 numbers the keys already stored in their upload order.
                let claimed = storage.claim_key("@a:x", "D", "signed_curve25519").unwrap();
                assert_eq!(claimed.map(|(id, _)| id).as_deref(), Some("b"));
            }
        }
    }

    #[test]
    fn a_database_newer_than_this_weft_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.db");
        old_database(&path, MIGRATIONS.len());
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let err = SqliteStorage::open(&path).err().expect("refused");
        assert!(err.to_string().contains("newer than this weft"), "{err}");
    }
}

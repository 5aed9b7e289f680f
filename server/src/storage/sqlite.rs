//! SQLite implementation of the storage traits: one file in the data
//! folder, WAL journal, one writer connection behind a mutex plus a few
//! read-only connections. Each area's impl is in `sqlite/<area>.rs`; the
//! schema is `sqlite/migrations/`.
//!
//! Writes are serialised by the mutex, so stream positions are committed in
//! order and a reader never sees position N+1 without N.

mod account_data;
mod accounts;
mod devices;
mod directory;
mod events;
mod key_backup;
mod keys;
mod media;
mod meta;
mod presence;
mod receipts;
mod state;
mod to_device;

use std::{path::Path, sync::Mutex};

use rusqlite::{
    Connection, ToSql,
    types::{FromSql, FromSqlResult, ToSqlOutput, ValueRef},
};

use super::{Result, StorageError, StreamPos};

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
    /// The write-ahead log, flushed by [`EventStore::flush`](super::EventStore::flush).
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
            return Err(StorageError::Schema(format!(
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

impl From<rusqlite::Error> for StorageError {
    fn from(err: rusqlite::Error) -> Self {
        Self::Backend(Box::new(err))
    }
}

impl ToSql for StreamPos {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        self.0.to_sql()
    }
}

impl FromSql for StreamPos {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        i64::column_result(value).map(Self)
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Parses a stored ID (or any value kept as text) into its type; a value
/// that does not parse fails the row.
fn parse_id<T>(s: String) -> rusqlite::Result<T>
where
    T: TryFrom<String>,
    T::Error: std::error::Error + Send + Sync + 'static,
{
    T::try_from(s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// Collects the rows of a query (each mapped by `f`).
fn collect<T>(
    rows: rusqlite::MappedRows<'_, impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>>,
) -> Result<Vec<T>> {
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{AccountStore, KeyStore};

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
                let user = storage
                    .user(ruma::user_id!("@a:x"))
                    .unwrap()
                    .expect("user kept");
                assert!(!user.deactivated);
                assert_eq!(user.password_hash.as_deref(), Some("h"));
            }
            if (6..13).contains(&version) {
                // 0013 numbers the keys already stored in their upload order.
                let claimed = storage
                    .claim_key(
                        ruma::user_id!("@a:x"),
                        ruma::device_id!("D"),
                        "signed_curve25519",
                    )
                    .unwrap();
                assert_eq!(claimed.map(|key| key.key_id).as_deref(), Some("b"));
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

//! [`MetaStore`] on SQLite: the `meta` table.

use rusqlite::{OptionalExtension, params};

use super::{CachedStatements, SqliteStorage};
use crate::storage::{MetaStore, Result};

impl MetaStore for SqliteStorage {
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
}

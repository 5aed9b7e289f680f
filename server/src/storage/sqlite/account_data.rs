//! [`AccountDataStore`] on SQLite: the `account_data` and `filters` tables.
//! Global account data is kept under the room ID `''`.

use ruma::{RoomId, UserId};
use rusqlite::{OptionalExtension, params};

use super::{CachedStatements, SqliteStorage, collect, parse_id};
use crate::storage::{AccountDataRow, AccountDataStore, Result, StreamPos};

impl AccountDataStore for SqliteStorage {
    fn set_account_data(
        &self,
        user_id: &UserId,
        room_id: Option<&RoomId>,
        event_type: &str,
        content: &str,
        stream: StreamPos,
    ) -> Result<()> {
        self.conn().execute_cached(
            "INSERT INTO account_data (user_id, room_id, event_type, content, stream)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (user_id, room_id, event_type) DO UPDATE SET
               content = excluded.content, stream = excluded.stream",
            params![
                user_id.as_str(),
                room_id.map_or("", RoomId::as_str),
                event_type,
                content,
                stream
            ],
        )?;
        Ok(())
    }

    fn account_data(
        &self,
        user_id: &UserId,
        room_id: Option<&RoomId>,
        event_type: &str,
    ) -> Result<Option<String>> {
        Ok(self
            .read()
            .query_row_cached(
                "SELECT content FROM account_data WHERE user_id = ?1 AND room_id = ?2 AND event_type = ?3",
                params![user_id.as_str(), room_id.map_or("", RoomId::as_str), event_type],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn account_data_changes(
        &self,
        user_id: &UserId,
        after: Option<StreamPos>,
        until: StreamPos,
    ) -> Result<Vec<AccountDataRow>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT room_id, event_type, content, stream FROM account_data
             WHERE user_id = ?1 AND stream > ?2 AND stream <= ?3 ORDER BY stream",
        )?;
        collect(stmt.query_map(
            params![user_id.as_str(), after.unwrap_or(StreamPos(-1)), until],
            |r| {
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
            },
        )?)
    }

    fn create_filter(&self, user_id: &UserId, filter_json: &str) -> Result<String> {
        let conn = self.conn();
        conn.execute_cached(
            "INSERT INTO filters (user_id, filter_json) VALUES (?1, ?2)",
            params![user_id.as_str(), filter_json],
        )?;
        Ok(conn.last_insert_rowid().to_string())
    }

    fn filter(&self, user_id: &UserId, filter_id: &str) -> Result<Option<String>> {
        let Ok(id) = filter_id.parse::<i64>() else {
            return Ok(None);
        };
        Ok(self
            .read()
            .query_row_cached(
                "SELECT filter_json FROM filters WHERE filter_id = ?1 AND user_id = ?2",
                params![id, user_id.as_str()],
                |r| r.get(0),
            )
            .optional()?)
    }
}

//! [`DirectoryStore`] on SQLite: the `aliases` table, `rooms.published`,
//! and the user directory's search over `users`.

use ruma::{OwnedRoomAliasId, OwnedRoomId, RoomAliasId, RoomId, UserId};
use rusqlite::{OptionalExtension, params};

use super::{CachedStatements, SqliteStorage, collect, parse_id};
use crate::storage::{AliasRow, DirectoryStore, Result, UserProfileRow};

impl DirectoryStore for SqliteStorage {
    fn create_alias(
        &self,
        alias: &RoomAliasId,
        room_id: &RoomId,
        creator: &UserId,
    ) -> Result<bool> {
        let n = self.conn().execute_cached(
            "INSERT OR IGNORE INTO aliases (alias, room_id, creator) VALUES (?1, ?2, ?3)",
            params![alias.as_str(), room_id.as_str(), creator.as_str()],
        )?;
        Ok(n == 1)
    }

    fn alias(&self, alias: &RoomAliasId) -> Result<Option<AliasRow>> {
        Ok(self
            .read()
            .query_row_cached(
                "SELECT room_id, creator FROM aliases WHERE alias = ?1",
                [alias.as_str()],
                |r| {
                    Ok(AliasRow {
                        room_id: parse_id(r.get(0)?)?,
                        creator: parse_id(r.get(1)?)?,
                    })
                },
            )
            .optional()?)
    }

    fn delete_alias(&self, alias: &RoomAliasId) -> Result<()> {
        self.conn()
            .execute_cached("DELETE FROM aliases WHERE alias = ?1", [alias.as_str()])?;
        Ok(())
    }

    fn aliases_of_room(&self, room_id: &RoomId) -> Result<Vec<OwnedRoomAliasId>> {
        let conn = self.read();
        let mut stmt =
            conn.prepare_cached("SELECT alias FROM aliases WHERE room_id = ?1 ORDER BY alias")?;
        collect(stmt.query_map([room_id.as_str()], |r| parse_id(r.get(0)?))?)
    }

    fn set_room_published(&self, room_id: &RoomId, published: bool) -> Result<()> {
        self.conn().execute_cached(
            "UPDATE rooms SET published = ?2 WHERE room_id = ?1",
            params![room_id.as_str(), published],
        )?;
        Ok(())
    }

    fn room_published(&self, room_id: &RoomId) -> Result<bool> {
        Ok(self
            .read()
            .query_row_cached(
                "SELECT published FROM rooms WHERE room_id = ?1",
                [room_id.as_str()],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(false))
    }

    fn published_rooms(&self) -> Result<Vec<OwnedRoomId>> {
        let conn = self.read();
        let mut stmt =
            conn.prepare_cached("SELECT room_id FROM rooms WHERE published = 1 ORDER BY room_id")?;
        collect(stmt.query_map([], |r| parse_id(r.get(0)?))?)
    }

    fn search_users(&self, term: &str, limit: usize) -> Result<Vec<UserProfileRow>> {
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
        collect(stmt.query_map(params![pattern, limit as i64], |r| {
            Ok(UserProfileRow {
                user_id: parse_id(r.get(0)?)?,
                displayname: r.get(1)?,
                avatar_url: r.get(2)?,
            })
        })?)
    }
}

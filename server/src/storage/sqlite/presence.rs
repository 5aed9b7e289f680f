//! [`PresenceStore`] on SQLite: the `presence` table.

use ruma::{OwnedUserId, UserId, presence::PresenceState};
use rusqlite::{OptionalExtension, params};

use super::{CachedStatements, SqliteStorage, collect, parse_id};
use crate::storage::{PresenceRow, PresenceStore, Result, StreamPos};

impl PresenceStore for SqliteStorage {
    fn set_presence(&self, user_id: &UserId, p: &PresenceRow, stream: StreamPos) -> Result<()> {
        self.conn().execute_cached(
            "INSERT INTO presence (user_id, state, status_msg, last_active_ts, stream) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (user_id) DO UPDATE SET state = excluded.state, status_msg = excluded.status_msg,
               last_active_ts = excluded.last_active_ts, stream = excluded.stream",
            params![
                user_id.as_str(),
                p.state.as_str(),
                p.status_msg,
                p.last_active_ts,
                stream
            ],
        )?;
        Ok(())
    }

    fn presence(&self, user_id: &UserId) -> Result<Option<PresenceRow>> {
        Ok(self
            .read()
            .query_row_cached(
                "SELECT state, status_msg, last_active_ts FROM presence WHERE user_id = ?1",
                [user_id.as_str()],
                |r| {
                    Ok(PresenceRow {
                        state: PresenceState::from(r.get::<_, String>(0)?),
                        status_msg: r.get(1)?,
                        last_active_ts: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    fn presence_changes(&self, after: StreamPos, until: StreamPos) -> Result<Vec<OwnedUserId>> {
        let conn = self.read();
        let mut stmt =
            conn.prepare_cached("SELECT user_id FROM presence WHERE stream > ?1 AND stream <= ?2")?;
        collect(stmt.query_map([after, until], |r| parse_id(r.get(0)?))?)
    }
}

//! [`StateStore`] on SQLite: the `current_state` and `memberships` tables.

use ruma::{RoomId, UserId, events::room::member::MembershipState};
use rusqlite::{OptionalExtension, params};

use super::{
    CachedStatements, SqliteStorage, collect,
    events::{event_columns_of_e, event_from_row},
    parse_id,
};
use crate::storage::{
    MemberChange, MembershipRow, Result, StateEntry, StateStore, StoredEvent, StreamPos,
};

impl StateStore for SqliteStorage {
    fn current_state(&self, room_id: &RoomId) -> Result<Vec<StateEntry>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT event_type, state_key, event_id FROM current_state WHERE room_id = ?1",
        )?;
        collect(stmt.query_map([room_id.as_str()], |r| {
            Ok(StateEntry {
                event_type: r.get(0)?,
                state_key: r.get(1)?,
                event_id: parse_id(r.get(2)?)?,
            })
        })?)
    }

    fn current_state_event(
        &self,
        room_id: &RoomId,
        event_type: &str,
        state_key: &str,
    ) -> Result<Option<StoredEvent>> {
        Ok(self
            .read()
            .query_row_cached(
                &format!(
                    "SELECT {} FROM current_state c JOIN events e ON e.event_id = c.event_id
                     WHERE c.room_id = ?1 AND c.event_type = ?2 AND c.state_key = ?3",
                    event_columns_of_e()
                ),
                params![room_id.as_str(), event_type, state_key],
                event_from_row,
            )
            .optional()?)
    }

    fn memberships_of(&self, user_id: &UserId) -> Result<Vec<MembershipRow>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT room_id, membership, stream, event_id FROM memberships WHERE user_id = ?1",
        )?;
        collect(stmt.query_map([user_id.as_str()], |r| {
            Ok(MembershipRow {
                room_id: parse_id(r.get(0)?)?,
                membership: MembershipState::from(r.get::<_, String>(1)?),
                stream: r.get(2)?,
                event_id: parse_id(r.get(3)?)?,
            })
        })?)
    }

    fn joined_members(&self, room_id: &RoomId) -> Result<Vec<ruma::OwnedUserId>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT user_id FROM memberships WHERE room_id = ?1 AND membership = 'join'",
        )?;
        collect(stmt.query_map([room_id.as_str()], |r| parse_id(r.get(0)?))?)
    }

    fn forget_room(&self, room_id: &RoomId, user_id: &UserId) -> Result<()> {
        // The member event stays in the room's history; only the user's
        // membership row (what their syncs are built from) goes.
        self.conn().execute_cached(
            "DELETE FROM memberships WHERE room_id = ?1 AND user_id = ?2 AND membership IN ('leave', 'ban')",
            params![room_id.as_str(), user_id.as_str()],
        )?;
        Ok(())
    }

    fn member_changes(
        &self,
        room_id: &RoomId,
        after: StreamPos,
        until: StreamPos,
    ) -> Result<Vec<MemberChange>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT state_key, json_extract(pdu_json, '$.content.membership') FROM events
             WHERE room_id = ?1 AND stream > ?2 AND stream <= ?3 AND event_type = 'm.room.member'
             ORDER BY stream",
        )?;
        collect(
            stmt.query_map(params![room_id.as_str(), after, until], |r| {
                Ok(MemberChange {
                    user_id: parse_id(r.get(0)?)?,
                    membership: MembershipState::from(
                        r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                    ),
                })
            })?,
        )
    }
}

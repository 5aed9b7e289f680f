//! [`ReceiptStore`] on SQLite: the `receipts` table (thread `''` is
//! unthreaded).

use ruma::{RoomId, UserId};
use rusqlite::params;

use super::{CachedStatements, SqliteStorage, collect, parse_id};
use crate::storage::{ReceiptRow, ReceiptStore, Result, StreamPos};

impl ReceiptStore for SqliteStorage {
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
        room_id: &RoomId,
        after: Option<StreamPos>,
        until: StreamPos,
    ) -> Result<Vec<ReceiptRow>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT room_id, user_id, receipt_type, thread_id, event_id, ts, stream FROM receipts
             WHERE room_id = ?1 AND stream > ?2 AND stream <= ?3 ORDER BY stream",
        )?;
        collect(stmt.query_map(
            params![room_id.as_str(), after.unwrap_or(StreamPos(-1)), until],
            |r| {
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
            },
        )?)
    }

    fn read_up_to(&self, room_id: &RoomId, user_id: &UserId) -> Result<Option<StreamPos>> {
        Ok(self.read().query_row_cached(
            "SELECT MAX(e.stream) FROM receipts r JOIN events e ON e.event_id = r.event_id
             WHERE r.room_id = ?1 AND r.user_id = ?2
               AND r.receipt_type IN ('m.read', 'm.read.private') AND r.thread_id IN ('', 'main')",
            params![room_id.as_str(), user_id.as_str()],
            |r| r.get(0),
        )?)
    }
}

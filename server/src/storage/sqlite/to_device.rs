//! [`ToDeviceStore`] on SQLite: the `to_device` inbox table.

use ruma::{DeviceId, UserId};
use rusqlite::params;

use super::{CachedStatements, SqliteStorage, collect, parse_id};
use crate::storage::{NewToDevice, Result, StreamPos, ToDeviceRow, ToDeviceStore};

impl ToDeviceStore for SqliteStorage {
    fn queue_to_device(&self, m: &NewToDevice, limit: usize) -> Result<bool> {
        // One statement on the one writer connection: the checks and the insert cannot
        // interleave with another sender's.
        let inserted = self.conn().execute_cached(
            "INSERT INTO to_device (user_id, device_id, stream, sender, event_type, content)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6
             WHERE EXISTS (SELECT 1 FROM devices WHERE user_id = ?1 AND device_id = ?2)
               AND (SELECT COUNT(*) FROM to_device WHERE user_id = ?1 AND device_id = ?2) < ?7",
            params![
                m.user_id.as_str(),
                m.device_id.as_str(),
                m.stream,
                m.sender.as_str(),
                m.event_type,
                m.content,
                limit as i64
            ],
        )?;
        Ok(inserted == 1)
    }

    fn to_device_messages(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        until: StreamPos,
        limit: usize,
    ) -> Result<Vec<ToDeviceRow>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT stream, sender, event_type, content FROM to_device
             WHERE user_id = ?1 AND device_id = ?2 AND stream <= ?3 ORDER BY stream LIMIT ?4",
        )?;
        collect(stmt.query_map(
            params![user_id.as_str(), device_id.as_str(), until, limit as i64],
            |r| {
                Ok(ToDeviceRow {
                    stream: r.get(0)?,
                    sender: parse_id(r.get(1)?)?,
                    event_type: r.get(2)?,
                    content: r.get(3)?,
                })
            },
        )?)
    }

    fn ack_to_device(&self, user_id: &UserId, device_id: &DeviceId, upto: StreamPos) -> Result<()> {
        self.conn().execute_cached(
            "DELETE FROM to_device WHERE user_id = ?1 AND device_id = ?2 AND stream <= ?3",
            params![user_id.as_str(), device_id.as_str(), upto],
        )?;
        Ok(())
    }
}

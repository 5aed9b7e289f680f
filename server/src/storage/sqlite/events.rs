//! [`EventStore`] on SQLite: rooms, events, relations, transaction IDs, and
//! the append transaction that keeps current state and memberships.

use ruma::{DeviceId, EventId, OwnedDeviceId, OwnedEventId, RoomId, RoomVersionId, UserId};
use rusqlite::{Connection, OptionalExtension, params};

use super::{CachedStatements, SqliteStorage, collect, parse_id};
use crate::storage::{
    EventStore, NewEvent, RelationsQuery, Result, RoomHead, StorageError, StoredEvent, StreamPos,
    TxnOrigin,
};

pub(super) const EVENT_COLUMNS: &str = "stream, event_id, room_id, pdu_json, txn_user, txn_device, txn_id, replaces_state, redacted_by";

/// [`EVENT_COLUMNS`] of the events table joined as `e`.
pub(super) fn event_columns_of_e() -> String {
    EVENT_COLUMNS
        .split(", ")
        .map(|c| format!("e.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn event_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredEvent> {
    let txn_user: Option<String> = row.get(4)?;
    let txn_device: Option<String> = row.get(5)?;
    let txn_id: Option<String> = row.get(6)?;
    let txn = match (txn_user, txn_device, txn_id) {
        (Some(u), Some(d), Some(t)) => Some(TxnOrigin {
            user_id: parse_id(u)?,
            device_id: OwnedDeviceId::from(d),
            txn_id: t.into(),
        }),
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

impl EventStore for SqliteStorage {
    fn create_room(
        &self,
        room_id: &RoomId,
        version: &RoomVersionId,
        creator: &UserId,
    ) -> Result<bool> {
        let n = self.conn().execute_cached(
            "INSERT OR IGNORE INTO rooms (room_id, room_version, creator) VALUES (?1, ?2, ?3)",
            params![room_id.as_str(), version.as_str(), creator.as_str()],
        )?;
        Ok(n == 1)
    }

    fn room_version(&self, room_id: &RoomId) -> Result<Option<RoomVersionId>> {
        let v: Option<String> = self
            .read()
            .query_row_cached(
                "SELECT room_version FROM rooms WHERE room_id = ?1",
                [room_id.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        v.map(|v| RoomVersionId::try_from(v).map_err(|e| StorageError::Corrupt(e.to_string())))
            .transpose()
    }

    fn room_head(&self, room_id: &RoomId) -> Result<Option<RoomHead>> {
        let row: Option<(Option<String>, i64)> = self
            .read()
            .query_row_cached(
                "SELECT head_event_id, head_depth FROM rooms WHERE room_id = ?1",
                [room_id.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match row {
            Some((Some(id), depth)) => Ok(Some(RoomHead {
                event_id: OwnedEventId::try_from(id)
                    .map_err(|e| StorageError::Corrupt(e.to_string()))?,
                depth,
            })),
            _ => Ok(None),
        }
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
                .map_err(|e| StorageError::Io(format!("fsync {}: {e}", wal.display()))),
            // No WAL yet means nothing was written through it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StorageError::Io(format!("open {}: {e}", wal.display()))),
        }
    }

    fn event(&self, event_id: &EventId) -> Result<Option<StoredEvent>> {
        Ok(self
            .read()
            .query_row_cached(
                &format!("SELECT {EVENT_COLUMNS} FROM events WHERE event_id = ?1"),
                [event_id.as_str()],
                event_from_row,
            )
            .optional()?)
    }

    fn room_events_desc(
        &self,
        room_id: &RoomId,
        after: StreamPos,
        until: StreamPos,
        limit: usize,
    ) -> Result<Vec<StoredEvent>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM events
             WHERE room_id = ?1 AND stream > ?2 AND stream <= ?3
             ORDER BY stream DESC LIMIT ?4"
        ))?;
        collect(stmt.query_map(
            params![room_id.as_str(), after, until, limit as i64],
            event_from_row,
        )?)
    }

    fn room_events_asc(
        &self,
        room_id: &RoomId,
        after: StreamPos,
        until: StreamPos,
        limit: usize,
    ) -> Result<Vec<StoredEvent>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM events
             WHERE room_id = ?1 AND stream > ?2 AND stream <= ?3
             ORDER BY stream ASC LIMIT ?4"
        ))?;
        collect(stmt.query_map(
            params![room_id.as_str(), after, until, limit as i64],
            event_from_row,
        )?)
    }

    fn relations(&self, q: &RelationsQuery<'_>) -> Result<Vec<StoredEvent>> {
        let columns = event_columns_of_e();
        let order = if q.backwards { "DESC" } else { "ASC" };
        let conn = self.read();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {columns} FROM relations r JOIN events e ON e.event_id = r.event_id
             WHERE r.relates_to = ?1 AND (?2 IS NULL OR r.rel_type = ?2) AND (?3 IS NULL OR r.event_type = ?3)
               AND r.stream > ?4 AND r.stream <= ?5
             ORDER BY r.stream {order} LIMIT ?6"
        ))?;
        collect(stmt.query_map(
            params![
                q.parent.as_str(),
                q.rel_type,
                q.event_type,
                q.after,
                q.until,
                q.limit as i64
            ],
            event_from_row,
        )?)
    }

    fn txn_event(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        txn_scope: &str,
    ) -> Result<Option<OwnedEventId>> {
        let id: Option<String> = self
            .read()
            .query_row_cached(
                "SELECT event_id FROM txn_ids WHERE user_id = ?1 AND device_id = ?2 AND scope = ?3",
                [user_id.as_str(), device_id.as_str(), txn_scope],
                |r| r.get(0),
            )
            .optional()?;
        id.map(|id| OwnedEventId::try_from(id).map_err(|e| StorageError::Corrupt(e.to_string())))
            .transpose()
    }

    fn use_txn_scope(&self, user_id: &UserId, device_id: &DeviceId, scope: &str) -> Result<bool> {
        let n = self.conn().execute_cached(
            "INSERT OR IGNORE INTO txn_ids (user_id, device_id, scope, event_id) VALUES (?1, ?2, ?3, '')",
            params![user_id.as_str(), device_id.as_str(), scope],
        )?;
        Ok(n == 0)
    }

    fn max_stream(&self) -> Result<StreamPos> {
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
        Some(t) => (
            Some(t.user_id.as_str()),
            Some(t.device_id.as_str()),
            Some(t.txn_id.as_str()),
        ),
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
                    membership.as_str(),
                    e.event_id.as_str(),
                    e.stream
                ],
            )?;
        }
    }
    if let (Some(txn), Some(scope)) = (&e.txn, &e.txn_scope) {
        tx.execute_cached(
            "INSERT INTO txn_ids (user_id, device_id, scope, event_id) VALUES (?1, ?2, ?3, ?4)",
            params![
                txn.user_id.as_str(),
                txn.device_id.as_str(),
                scope,
                e.event_id.as_str()
            ],
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

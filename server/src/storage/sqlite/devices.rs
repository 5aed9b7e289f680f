//! [`DeviceStore`] on SQLite: the `devices` table, and every per-device
//! table emptied when a device goes.

use ruma::{DeviceId, OwnedDeviceId, UserId};
use rusqlite::{OptionalExtension, params};

use super::{CachedStatements, SqliteStorage, collect, now_ms, parse_id};
use crate::storage::{DeviceRow, DeviceStore, Result, TokenOwner};

/// Tables holding per-device data, emptied when a device goes.
pub(super) const PER_DEVICE_TABLES: [&str; 6] = [
    "devices",
    "txn_ids",
    "device_keys",
    "one_time_keys",
    "fallback_keys",
    "to_device",
];

impl DeviceStore for SqliteStorage {
    fn upsert_device(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        display_name: Option<&str>,
        token_hash: &[u8],
    ) -> Result<()> {
        self.conn().execute_cached(
            "INSERT INTO devices (user_id, device_id, display_name, token_hash, created_ts)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (user_id, device_id) DO UPDATE SET
               token_hash = excluded.token_hash,
               display_name = COALESCE(excluded.display_name, devices.display_name)",
            params![
                user_id.as_str(),
                device_id.as_str(),
                display_name,
                token_hash,
                now_ms()
            ],
        )?;
        Ok(())
    }

    fn device_for_token(&self, token_hash: &[u8]) -> Result<Option<TokenOwner>> {
        Ok(self
            .read()
            .query_row_cached(
                "SELECT user_id, device_id FROM devices WHERE token_hash = ?1",
                [token_hash],
                |r| {
                    Ok(TokenOwner {
                        user_id: parse_id(r.get(0)?)?,
                        device_id: OwnedDeviceId::from(r.get::<_, String>(1)?),
                    })
                },
            )
            .optional()?)
    }

    fn delete_device(&self, user_id: &UserId, device_id: &DeviceId) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for table in PER_DEVICE_TABLES {
            tx.execute_cached(
                &format!("DELETE FROM {table} WHERE user_id = ?1 AND device_id = ?2"),
                [user_id.as_str(), device_id.as_str()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn delete_all_devices(&self, user_id: &UserId) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for table in PER_DEVICE_TABLES {
            tx.execute_cached(
                &format!("DELETE FROM {table} WHERE user_id = ?1"),
                [user_id.as_str()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn devices_of(&self, user_id: &UserId) -> Result<Vec<DeviceRow>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT device_id, display_name, created_ts FROM devices WHERE user_id = ?1 ORDER BY created_ts",
        )?;
        collect(stmt.query_map([user_id.as_str()], |r| {
            Ok(DeviceRow {
                device_id: OwnedDeviceId::from(r.get::<_, String>(0)?),
                display_name: r.get(1)?,
                created_ts: r.get(2)?,
            })
        })?)
    }

    fn rename_device(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        display_name: Option<&str>,
    ) -> Result<bool> {
        let n = self.conn().execute_cached(
            "UPDATE devices SET display_name = ?3 WHERE user_id = ?1 AND device_id = ?2",
            params![user_id.as_str(), device_id.as_str(), display_name],
        )?;
        Ok(n == 1)
    }
}

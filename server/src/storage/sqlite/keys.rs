//! [`KeyStore`] on SQLite: device, one-time, fallback and cross-signing
//! keys, foreign signatures and device-list changes.

use ruma::{DeviceId, OwnedDeviceId, OwnedUserId, UserId};
use rusqlite::{OptionalExtension, params};

use super::{CachedStatements, SqliteStorage, collect, parse_id};
use crate::storage::{
    ClaimedKey, CrossSigningKeyRow, DeviceKeysRow, KeyCount, KeyStore, OneTimeKey, Result,
    SignatureRow, StreamPos,
};

impl KeyStore for SqliteStorage {
    fn set_device_keys(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        keys_json: &str,
        stream: StreamPos,
    ) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute_cached(
            "INSERT INTO device_keys (user_id, device_id, keys_json) VALUES (?1, ?2, ?3)
             ON CONFLICT (user_id, device_id) DO UPDATE SET keys_json = excluded.keys_json",
            params![user_id.as_str(), device_id.as_str(), keys_json],
        )?;
        add_device_list_change(&tx, user_id, stream)?;
        tx.commit()?;
        Ok(())
    }

    fn device_keys(&self, user_id: &UserId) -> Result<Vec<DeviceKeysRow>> {
        let conn = self.read();
        let mut stmt =
            conn.prepare_cached("SELECT device_id, keys_json FROM device_keys WHERE user_id = ?1")?;
        collect(stmt.query_map([user_id.as_str()], |r| {
            Ok(DeviceKeysRow {
                device_id: OwnedDeviceId::from(r.get::<_, String>(0)?),
                json: r.get(1)?,
            })
        })?)
    }

    fn add_one_time_keys(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        keys: &[OneTimeKey],
        same: &dyn Fn(&str, &str) -> bool,
    ) -> Result<Option<String>> {
        let (user_id, device_id) = (user_id.as_str(), device_id.as_str());
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut seq: i64 = tx.query_row_cached(
            "SELECT COALESCE(MAX(upload_seq), 0) FROM one_time_keys WHERE user_id = ?1 AND device_id = ?2",
            [user_id, device_id],
            |r| r.get(0),
        )?;
        for key in keys {
            let stored: Option<String> = tx
                .query_row_cached(
                    "SELECT key_json FROM one_time_keys WHERE user_id = ?1 AND device_id = ?2 AND key_id = ?3",
                    [user_id, device_id, &key.key_id],
                    |r| r.get(0),
                )
                .optional()?;
            match stored {
                // Dropping the transaction rolls back the keys added before this one.
                Some(stored) if !same(&stored, &key.json) => return Ok(Some(key.key_id.clone())),
                Some(_) => {}
                None => {
                    seq += 1;
                    tx.execute_cached(
                        "INSERT INTO one_time_keys (user_id, device_id, key_id, algorithm, key_json, upload_seq)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![user_id, device_id, key.key_id, key.algorithm, key.json, seq],
                    )?;
                }
            }
        }
        tx.commit()?;
        Ok(None)
    }

    fn set_fallback_keys(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        keys: &[OneTimeKey],
    ) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for key in keys {
            tx.execute_cached(
                "INSERT INTO fallback_keys (user_id, device_id, algorithm, key_id, key_json, used)
                 VALUES (?1, ?2, ?3, ?4, ?5, 0)
                 ON CONFLICT (user_id, device_id, algorithm) DO UPDATE SET
                   used = CASE WHEN fallback_keys.key_id = excluded.key_id AND fallback_keys.key_json = excluded.key_json
                               THEN fallback_keys.used ELSE 0 END,
                   key_id = excluded.key_id, key_json = excluded.key_json",
                params![
                    user_id.as_str(),
                    device_id.as_str(),
                    key.algorithm,
                    key.key_id,
                    key.json
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn one_time_key_counts(&self, user_id: &UserId, device_id: &DeviceId) -> Result<Vec<KeyCount>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT algorithm, COUNT(*) FROM one_time_keys WHERE user_id = ?1 AND device_id = ?2 GROUP BY algorithm",
        )?;
        collect(stmt.query_map([user_id.as_str(), device_id.as_str()], |r| {
            Ok(KeyCount {
                algorithm: r.get(0)?,
                count: r.get(1)?,
            })
        })?)
    }

    fn unused_fallback_algorithms(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> Result<Vec<String>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT algorithm FROM fallback_keys WHERE user_id = ?1 AND device_id = ?2 AND used = 0",
        )?;
        collect(stmt.query_map([user_id.as_str(), device_id.as_str()], |r| r.get(0))?)
    }

    fn claim_key(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
        algorithm: &str,
    ) -> Result<Option<ClaimedKey>> {
        let (user_id, device_id) = (user_id.as_str(), device_id.as_str());
        let row = |r: &rusqlite::Row<'_>| {
            Ok(ClaimedKey {
                key_id: r.get(0)?,
                json: r.get(1)?,
            })
        };
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let one_time = tx
            .query_row_cached(
                "SELECT key_id, key_json FROM one_time_keys
                 WHERE user_id = ?1 AND device_id = ?2 AND algorithm = ?3 ORDER BY upload_seq LIMIT 1",
                params![user_id, device_id, algorithm],
                row,
            )
            .optional()?;
        let claimed = match one_time {
            Some(key) => {
                tx.execute_cached(
                    "DELETE FROM one_time_keys WHERE user_id = ?1 AND device_id = ?2 AND key_id = ?3",
                    params![user_id, device_id, key.key_id],
                )?;
                Some(key)
            }
            None => {
                let fallback = tx
                    .query_row_cached(
                        "SELECT key_id, key_json FROM fallback_keys
                         WHERE user_id = ?1 AND device_id = ?2 AND algorithm = ?3",
                        params![user_id, device_id, algorithm],
                        row,
                    )
                    .optional()?;
                if fallback.is_some() {
                    tx.execute_cached(
                        "UPDATE fallback_keys SET used = 1 WHERE user_id = ?1 AND device_id = ?2 AND algorithm = ?3",
                        params![user_id, device_id, algorithm],
                    )?;
                }
                fallback
            }
        };
        tx.commit()?;
        Ok(claimed)
    }

    fn device_list_changes(&self, after: StreamPos, until: StreamPos) -> Result<Vec<OwnedUserId>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT DISTINCT user_id FROM device_list_changes WHERE stream > ?1 AND stream <= ?2",
        )?;
        collect(stmt.query_map([after, until], |r| parse_id(r.get(0)?))?)
    }

    fn record_device_list_change(&self, user_id: &UserId, stream: StreamPos) -> Result<()> {
        add_device_list_change(&self.conn(), user_id, stream)?;
        Ok(())
    }

    fn set_cross_signing_key(
        &self,
        user_id: &UserId,
        key_type: &str,
        json: &str,
        stream: StreamPos,
    ) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute_cached(
            "INSERT INTO cross_signing_keys (user_id, key_type, json) VALUES (?1, ?2, ?3)
             ON CONFLICT (user_id, key_type) DO UPDATE SET json = excluded.json",
            params![user_id.as_str(), key_type, json],
        )?;
        add_device_list_change(&tx, user_id, stream)?;
        tx.commit()?;
        Ok(())
    }

    fn cross_signing_keys(&self, user_id: &UserId) -> Result<Vec<CrossSigningKeyRow>> {
        let conn = self.read();
        let mut stmt = conn
            .prepare_cached("SELECT key_type, json FROM cross_signing_keys WHERE user_id = ?1")?;
        collect(stmt.query_map([user_id.as_str()], |r| {
            Ok(CrossSigningKeyRow {
                key_type: r.get(0)?,
                json: r.get(1)?,
            })
        })?)
    }

    fn add_foreign_signature(
        &self,
        target_user: &UserId,
        key_id: &str,
        signer: &UserId,
        signature_json: &str,
    ) -> Result<()> {
        self.conn().execute_cached(
            "INSERT INTO foreign_signatures (target_user, key_id, signer, signatures) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (target_user, key_id, signer) DO UPDATE SET signatures = excluded.signatures",
            params![target_user.as_str(), key_id, signer.as_str(), signature_json],
        )?;
        Ok(())
    }

    fn foreign_signatures(
        &self,
        target_user: &UserId,
        signer: &UserId,
    ) -> Result<Vec<SignatureRow>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT key_id, signatures FROM foreign_signatures WHERE target_user = ?1 AND signer = ?2",
        )?;
        collect(
            stmt.query_map([target_user.as_str(), signer.as_str()], |r| {
                Ok(SignatureRow {
                    key_id: r.get(0)?,
                    signatures: r.get(1)?,
                })
            })?,
        )
    }
}

/// Notes that `user_id`'s devices or keys changed at `stream`, for `/sync`'s and
/// `/keys/changes`' device lists.
fn add_device_list_change(
    conn: &rusqlite::Connection,
    user_id: &UserId,
    stream: StreamPos,
) -> rusqlite::Result<usize> {
    conn.execute_cached(
        "INSERT INTO device_list_changes (user_id, stream) VALUES (?1, ?2)",
        params![user_id.as_str(), stream],
    )
}

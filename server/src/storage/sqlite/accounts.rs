//! [`AccountStore`] on SQLite: the `users` table.

use ruma::UserId;
use rusqlite::{OptionalExtension, params};

use super::{CachedStatements, SqliteStorage, devices::PER_DEVICE_TABLES, now_ms, parse_id};
use crate::storage::{AccountStore, ProfileField, Result, UserRow};

impl AccountStore for SqliteStorage {
    fn create_user(&self, user: &UserRow) -> Result<bool> {
        let n = self.conn().execute_cached(
            "INSERT OR IGNORE INTO users (user_id, password_hash, displayname, avatar_url, admin, created_ts)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                user.user_id.as_str(),
                user.password_hash,
                user.displayname,
                user.avatar_url,
                user.admin,
                now_ms()
            ],
        )?;
        Ok(n == 1)
    }

    fn user(&self, user_id: &UserId) -> Result<Option<UserRow>> {
        Ok(self
            .read()
            .query_row_cached(
                "SELECT user_id, password_hash, displayname, admin, avatar_url, deactivated FROM users WHERE user_id = ?1",
                [user_id.as_str()],
                |r| {
                    Ok(UserRow {
                        user_id: parse_id(r.get(0)?)?,
                        password_hash: r.get(1)?,
                        displayname: r.get(2)?,
                        admin: r.get(3)?,
                        avatar_url: r.get(4)?,
                        deactivated: r.get(5)?,
                    })
                },
            )
            .optional()?)
    }

    fn set_password_hash(&self, user_id: &UserId, hash: &str) -> Result<()> {
        self.conn().execute_cached(
            "UPDATE users SET password_hash = ?2 WHERE user_id = ?1",
            params![user_id.as_str(), hash],
        )?;
        Ok(())
    }

    fn deactivate_user(&self, user_id: &UserId) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute_cached(
            "UPDATE users SET deactivated = 1, password_hash = NULL WHERE user_id = ?1",
            [user_id.as_str()],
        )?;
        for table in PER_DEVICE_TABLES {
            tx.execute_cached(
                &format!("DELETE FROM {table} WHERE user_id = ?1"),
                [user_id.as_str()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn set_profile_field(
        &self,
        user_id: &UserId,
        field: ProfileField,
        value: Option<&str>,
    ) -> Result<()> {
        let sql = match field {
            ProfileField::DisplayName => "UPDATE users SET displayname = ?2 WHERE user_id = ?1",
            ProfileField::AvatarUrl => "UPDATE users SET avatar_url = ?2 WHERE user_id = ?1",
        };
        self.conn()
            .execute_cached(sql, params![user_id.as_str(), value])?;
        Ok(())
    }
}

//! [`MediaStore`] on SQLite: the `media` and `media_thumbnails` tables.

use ruma::UserId;
use rusqlite::{OptionalExtension, params};

use super::{CachedStatements, SqliteStorage, parse_id};
use crate::storage::{FilledMedia, MediaRow, MediaStore, Result, ThumbnailRow};

impl MediaStore for SqliteStorage {
    fn create_media(&self, media: &MediaRow) -> Result<()> {
        self.conn().execute_cached(
            "INSERT INTO media (media_id, uploader, content_type, filename, size, sha256, created_ts, expires_ts)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                media.media_id,
                media.uploader.as_str(),
                media.content_type,
                media.filename,
                media.size,
                media.sha256,
                media.created_ts,
                media.expires_ts
            ],
        )?;
        Ok(())
    }

    fn fill_media(&self, media_id: &str, c: &FilledMedia<'_>) -> Result<bool> {
        let n = self.conn().execute_cached(
            "UPDATE media SET content_type = ?2, filename = ?3, size = ?4, sha256 = ?5, expires_ts = NULL
             WHERE media_id = ?1 AND sha256 IS NULL",
            params![media_id, c.content_type, c.filename, c.size, c.sha256],
        )?;
        Ok(n == 1)
    }

    fn media(&self, media_id: &str) -> Result<Option<MediaRow>> {
        Ok(self
            .read()
            .query_row_cached(
                "SELECT media_id, uploader, content_type, filename, size, sha256, created_ts, expires_ts
                 FROM media WHERE media_id = ?1",
                [media_id],
                |r| {
                    Ok(MediaRow {
                        media_id: r.get(0)?,
                        uploader: parse_id(r.get(1)?)?,
                        content_type: r.get(2)?,
                        filename: r.get(3)?,
                        size: r.get(4)?,
                        sha256: r.get(5)?,
                        created_ts: r.get(6)?,
                        expires_ts: r.get(7)?,
                    })
                },
            )
            .optional()?)
    }

    fn pending_media(&self, uploader: &UserId, now: i64) -> Result<i64> {
        Ok(self.read().query_row_cached(
            "SELECT COUNT(*) FROM media WHERE uploader = ?1 AND sha256 IS NULL AND expires_ts > ?2",
            params![uploader.as_str(), now],
            |r| r.get(0),
        )?)
    }

    fn thumbnail(
        &self,
        media_id: &str,
        width: u32,
        height: u32,
        method: &str,
    ) -> Result<Option<ThumbnailRow>> {
        Ok(self
            .read()
            .query_row_cached(
                "SELECT content_type, size, sha256 FROM media_thumbnails
                 WHERE media_id = ?1 AND width = ?2 AND height = ?3 AND method = ?4",
                params![media_id, width, height, method],
                |r| {
                    Ok(ThumbnailRow {
                        media_id: media_id.to_owned(),
                        width,
                        height,
                        method: method.to_owned(),
                        content_type: r.get(0)?,
                        size: r.get(1)?,
                        sha256: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    fn add_thumbnail(&self, t: &ThumbnailRow) -> Result<()> {
        self.conn().execute_cached(
            "INSERT OR REPLACE INTO media_thumbnails (media_id, width, height, method, content_type, size, sha256)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![t.media_id, t.width, t.height, t.method, t.content_type, t.size, t.sha256],
        )?;
        Ok(())
    }
}

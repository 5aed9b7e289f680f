//! The content repository's metadata (files live beside the database, named
//! by their SHA-256) and generated thumbnails.

use ruma::{OwnedUserId, UserId};

use super::types::Result;

/// A media item.
#[derive(Clone, Debug)]
pub struct MediaRow {
    pub media_id: String,
    pub uploader: OwnedUserId,
    pub content_type: Option<String>,
    pub filename: Option<String>,
    pub size: Option<i64>,
    /// Hex SHA-256 of the content; `None` while an async upload is pending.
    pub sha256: Option<String>,
    pub created_ts: i64,
    /// When a pending ID stops accepting its upload.
    pub expires_ts: Option<i64>,
}

/// The content given to a pending media ID.
#[derive(Clone, Copy, Debug)]
pub struct FilledMedia<'a> {
    pub content_type: &'a str,
    pub filename: Option<&'a str>,
    pub size: i64,
    pub sha256: &'a str,
}

/// A generated thumbnail of a media item.
#[derive(Clone, Debug)]
pub struct ThumbnailRow {
    pub media_id: String,
    pub width: u32,
    pub height: u32,
    pub method: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
}

pub trait MediaStore: Send + Sync {
    /// Records a new media ID (pending when `sha256` is `None`).
    fn create_media(&self, media: &MediaRow) -> Result<()>;
    /// Gives a pending media ID its content; `false` if it was not pending.
    fn fill_media(&self, media_id: &str, content: &FilledMedia<'_>) -> Result<bool>;
    fn media(&self, media_id: &str) -> Result<Option<MediaRow>>;
    /// How many unexpired pending media IDs the user holds.
    fn pending_media(&self, uploader: &UserId, now: i64) -> Result<i64>;
    fn thumbnail(
        &self,
        media_id: &str,
        width: u32,
        height: u32,
        method: &str,
    ) -> Result<Option<ThumbnailRow>>;
    fn add_thumbnail(&self, thumbnail: &ThumbnailRow) -> Result<()>;
}

//! The content repository: uploads streamed to disk, content-addressed files under
//! `<data_dir>/media`, metadata in storage, and safe serving rules.
//!
//! An upload is written to a temporary file while it is hashed, so memory stays flat
//! whatever its size; it is fsynced and renamed to its SHA-256 name before the metadata row
//! is committed, so an acknowledged upload survives a crash. Identical files share one copy.
//!
//! [`Media`] is a part of [`Services`](super::Services) with its own state: the folder,
//! the limits, the decode permits of [`thumbnail`](super::thumbnail), and only the
//! [`MediaStore`] of storage.

use std::{path::PathBuf, sync::Arc};

use axum::body::Body;
use http_body_util::BodyExt;
use rand::distr::{Alphanumeric, SampleString};
use ruma::OwnedServerName;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::{accounts::Requester, clock::now_ms};
use crate::{
    config::Config,
    error::{Error, ErrorKind, Result},
    storage::{FilledMedia, MediaRow, MediaStore},
};

/// Images decoded at the same time for thumbnails; more requests wait their
/// turn. One: a second would double the worst case (two 32-megapixel images
/// are ~250 MiB decoded).
pub const CONCURRENT_DECODES: usize = 1;

/// How long a created (async) media ID waits for its upload.
const PENDING_TTL_MS: i64 = 24 * 60 * 60 * 1000;
/// Pending media IDs one user may hold at once.
const MAX_PENDING: i64 = 20;

/// Content types a browser may show inline (the spec's list); everything else is served as
/// an attachment.
const INLINE_TYPES: [&str; 26] = [
    "text/css",
    "text/plain",
    "text/csv",
    "application/json",
    "application/ld+json",
    "image/jpeg",
    "image/gif",
    "image/png",
    "image/apng",
    "image/webp",
    "image/avif",
    "video/mp4",
    "video/webm",
    "video/ogg",
    "video/quicktime",
    "audio/mp4",
    "audio/webm",
    "audio/aac",
    "audio/mpeg",
    "audio/ogg",
    "audio/wave",
    "audio/wav",
    "audio/x-wav",
    "audio/x-pn-wav",
    "audio/flac",
    "audio/x-flac",
];

/// A stored file ready to serve.
#[derive(Debug)]
pub struct MediaFile {
    pub path: PathBuf,
    pub size: u64,
    pub content_type: String,
    pub filename: Option<String>,
    pub sha256: String,
}

impl MediaFile {
    /// Whether browsers may render it inline.
    pub fn inline_safe(&self) -> bool {
        let essence = self
            .content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        INLINE_TYPES.contains(&essence.as_str())
    }
}

fn new_media_id() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 24)
}

/// Media IDs we generate are alphanumeric; anything else cannot name one of our files.
pub fn valid_media_id(media_id: &str) -> bool {
    !media_id.is_empty()
        && media_id.len() <= 255
        && media_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The content repository.
pub struct Media {
    storage: Arc<dyn MediaStore>,
    /// `<data_dir>/media`.
    dir: PathBuf,
    server_name: OwnedServerName,
    max_upload_size: u64,
    /// Bounds how many images are decoded for thumbnails at once (memory, not CPU).
    pub(super) decodes: tokio::sync::Semaphore,
}

impl Media {
    pub(super) fn new(config: &Config, storage: Arc<dyn MediaStore>) -> Self {
        Self {
            storage,
            dir: config.data_dir.join("media"),
            server_name: config.server_name.clone(),
            max_upload_size: config.max_upload_size,
            decodes: tokio::sync::Semaphore::new(CONCURRENT_DECODES),
        }
    }

    pub(super) fn storage(&self) -> &dyn MediaStore {
        &*self.storage
    }

    fn media_dir(&self) -> PathBuf {
        self.dir.clone()
    }

    pub(crate) fn content_file(&self, sha256: &str) -> PathBuf {
        self.media_dir()
            .join(&sha256[..2])
            .join(&sha256[2..4])
            .join(sha256)
    }

    /// `mxc://` URI of one of our media IDs.
    pub fn mxc(&self, media_id: &str) -> String {
        format!("mxc://{}/{media_id}", self.server_name)
    }

    /// `POST /_matrix/media/v3/upload`.
    pub async fn upload(
        &self,
        who: &Requester,
        content_type: Option<&str>,
        filename: Option<&str>,
        body: Body,
    ) -> Result<String> {
        let (sha256, size) = self.receive(body).await?;
        let media_id = new_media_id();
        self.storage().create_media(&MediaRow {
            media_id: media_id.clone(),
            uploader: who.user_id.clone(),
            content_type: Some(normalise_type(content_type)),
            filename: filename.map(ToOwned::to_owned),
            size: Some(size as i64),
            sha256: Some(sha256),
            created_ts: now_ms(),
            expires_ts: None,
        })?;
        Ok(self.mxc(&media_id))
    }

    /// `POST /_matrix/media/v1/create`: a media ID to upload to later.
    pub fn create_pending(&self, who: &Requester) -> Result<(String, i64)> {
        let now = now_ms();
        if self.storage().pending_media(&who.user_id, now)? >= MAX_PENDING {
            return Err(Error::RateLimited {
                retry_after_ms: 60_000,
            });
        }
        let media_id = new_media_id();
        let expires = now + PENDING_TTL_MS;
        self.storage().create_media(&MediaRow {
            media_id: media_id.clone(),
            uploader: who.user_id.clone(),
            content_type: None,
            filename: None,
            size: None,
            sha256: None,
            created_ts: now,
            expires_ts: Some(expires),
        })?;
        Ok((self.mxc(&media_id), expires))
    }

    /// `PUT /_matrix/media/v3/upload/{serverName}/{mediaId}`: the content of a created ID.
    pub async fn upload_pending(
        &self,
        who: &Requester,
        server_name: &str,
        media_id: &str,
        content_type: Option<&str>,
        filename: Option<&str>,
        body: Body,
    ) -> Result<()> {
        let row = self.local_media_row(server_name, media_id)?;
        if row.uploader != who.user_id {
            return Err(Error::forbidden(
                "Only the creator of this media ID may upload to it",
            ));
        }
        if row.sha256.is_some() {
            return Err(Error::new(
                ErrorKind::CannotOverwriteMedia,
                "This media already has content",
            ));
        }
        if row.expires_ts.is_some_and(|expires| expires < now_ms()) {
            return Err(Error::not_found("This media ID has expired"));
        }
        let (sha256, size) = self.receive(body).await?;
        let content_type = normalise_type(content_type);
        let filled = self.storage().fill_media(
            media_id,
            &FilledMedia {
                content_type: &content_type,
                filename,
                size: size as i64,
                sha256: &sha256,
            },
        )?;
        if !filled {
            return Err(Error::new(
                ErrorKind::CannotOverwriteMedia,
                "This media already has content",
            ));
        }
        Ok(())
    }

    /// The file behind one of our media IDs.
    pub fn media_file(&self, server_name: &str, media_id: &str) -> Result<MediaFile> {
        let row = self.local_media_row(server_name, media_id)?;
        let Some(sha256) = row.sha256 else {
            return Err(Error::new(
                ErrorKind::NotYetUploaded,
                "The content of this media has not been uploaded yet",
            ));
        };
        Ok(MediaFile {
            path: self.content_file(&sha256),
            size: row.size.unwrap_or(0).max(0) as u64,
            content_type: row
                .content_type
                .unwrap_or_else(|| "application/octet-stream".to_owned()),
            filename: row.filename,
            sha256,
        })
    }

    fn local_media_row(&self, server_name: &str, media_id: &str) -> Result<MediaRow> {
        // Without federation, media of other servers cannot be fetched.
        if server_name != self.server_name.as_str() || !valid_media_id(media_id) {
            return Err(Error::not_found("No such media"));
        }
        self.storage()
            .media(media_id)?
            .ok_or_else(|| Error::not_found("No such media"))
    }

    /// Streams a request body to a temporary file, hashing it; refuses it once it passes the
    /// upload limit. Returns the hex SHA-256 and the size, with the file in place.
    async fn receive(&self, body: Body) -> Result<(String, u64)> {
        self.receive_limited(body, self.max_upload_size).await
    }

    async fn receive_limited(&self, mut body: Body, limit: u64) -> Result<(String, u64)> {
        let tmp_dir = self.media_dir().join("tmp");
        tokio::fs::create_dir_all(&tmp_dir)
            .await
            .map_err(io_error)?;
        let tmp = tmp_dir.join(new_media_id());
        let result = async {
            let mut file = tokio::fs::File::create(&tmp).await.map_err(io_error)?;
            let mut hasher = Sha256::new();
            let mut size: u64 = 0;
            while let Some(frame) = body.frame().await {
                let frame = frame
                    .map_err(|e| Error::bad_json(format!("The upload was interrupted: {e}")))?;
                let Ok(chunk) = frame.into_data() else {
                    continue;
                };
                size += chunk.len() as u64;
                if size > limit {
                    return Err(Error::new(
                        ErrorKind::TooLarge,
                        format!("Files may be at most {} bytes", limit),
                    ));
                }
                hasher.update(&chunk);
                file.write_all(&chunk).await.map_err(io_error)?;
            }
            file.sync_all().await.map_err(io_error)?;
            let sha256 = hex(&hasher.finalize());
            let path = self.content_file(&sha256);
            let dir = path
                .parent()
                .expect("content paths have a parent")
                .to_owned();
            tokio::fs::create_dir_all(&dir).await.map_err(io_error)?;
            tokio::fs::rename(&tmp, &path).await.map_err(io_error)?;
            // The rename is durable once its directory is.
            tokio::fs::File::open(&dir)
                .await
                .map_err(io_error)?
                .sync_all()
                .await
                .map_err(io_error)?;
            Ok((sha256, size))
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result
    }

    /// Stores generated content (a thumbnail) under its SHA-256; returns the hash.
    pub(crate) async fn store_bytes(&self, bytes: Vec<u8>) -> Result<String> {
        let size = bytes.len();
        let body = Body::from(bytes);
        let (sha256, stored) = self.receive_limited(body, u64::MAX).await?;
        debug_assert_eq!(stored as usize, size);
        Ok(sha256)
    }

    /// The largest upload, for `/media/config`.
    pub fn max_upload_size(&self) -> u64 {
        self.max_upload_size
    }
}

fn normalise_type(content_type: Option<&str>) -> String {
    content_type
        .map(str::trim)
        .filter(|t| {
            !t.is_empty()
                && t.len() <= 255
                && t.contains('/')
                && t.is_ascii()
                && !t.contains(['\r', '\n'])
        })
        .unwrap_or("application/octet-stream")
        .to_owned()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn io_error(error: std::io::Error) -> Error {
    Error::internal(format!("media storage: {error}"))
}

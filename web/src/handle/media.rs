//! Media: uploads (probe the file, upload a thumbnail and then the file with progress, send
//! the message; cancel and retry) and fetching media for display as blob URLs. In an
//! encrypted room files and thumbnails are encrypted in the browser before upload, and
//! encrypted media is decrypted after download (`platform::file_crypto`).

use std::{collections::HashMap, rc::Rc};

use leptos::{prelude::*, task::spawn_local};
use ruma::{OwnedRoomId, RoomId};
use weft_client::{
    ApiError, Media, MediaDraft, MediaKind, Mxc,
    crypto::attachment::EncryptionInfo,
    media::{self, ThumbnailDraft},
};

use super::{ClientHandle, as_borrowed};
use crate::platform::{
    clock,
    file_crypto::{self, FetchFailure},
    files::{LocalFile, ObjectUrl},
    net,
    probe::{self, Facts},
    upload::Upload,
};

/// Blob URLs kept for media no longer on screen, so scrolling back or re-rendering an item
/// does not download again: at most this many bytes; beyond, the least recently used are
/// revoked once nothing shows them.
const CACHE_BYTES: u64 = 48 * 1024 * 1024;
/// Larger files (whole videos, say) are not cached: they would pin too much memory.
const CACHED_MAX_BYTES: u64 = 8 * 1024 * 1024;

/// One upload as the composer shows it.
#[derive(Clone)]
pub struct UploadEntry {
    pub id: u64,
    /// The room it is for; `None` for our own avatar.
    pub room_id: Option<OwnedRoomId>,
    pub filename: String,
    /// Percent sent. Reference-counted rather than arena signals: uploads start from event
    /// handlers whose reactive owner (e.g. the file preview) is gone moments later.
    pub progress: ArcRwSignal<u8>,
    /// Why it failed; it can then be retried.
    pub error: ArcRwSignal<Option<String>>,
}

/// What an upload is for.
#[derive(Clone)]
pub enum Purpose {
    /// A message in the entry's room, with this caption.
    Message(Option<String>),
    /// The picture of the entry's room, or ours when it has no room.
    Avatar,
}

/// An upload's file and, while it runs, the request (dropping it aborts).
struct Job {
    file: LocalFile,
    purpose: Purpose,
    running: Option<Upload>,
}

#[derive(Default)]
pub(super) struct MediaState {
    next_id: u64,
    jobs: HashMap<u64, Job>,
    cache: Vec<(String, Rc<ObjectUrl>)>,
}

/// Which bytes of a media file to show.
#[derive(Clone)]
pub enum Fetch {
    /// A server-made thumbnail that fits the box.
    Thumbnail(Mxc, u32, u32),
    /// The whole file, because someone asked (play, download, full view).
    Full(Mxc),
    /// The whole file in place of a thumbnail the server could not make; refused when
    /// larger than [`PREVIEW_MAX_BYTES`], so a sender cannot make every viewer download
    /// something huge by merely posting it.
    Preview(Mxc),
    /// An encrypted file (or thumbnail), whole: downloaded, checked against its hash and
    /// decrypted here; shown typed `mimetype`. The server can't make thumbnails of it.
    Decrypted {
        mxc: Mxc,
        keys: EncryptionInfo,
        mimetype: Option<String>,
        /// Like [`Fetch::Preview`]: refused above [`PREVIEW_MAX_BYTES`].
        preview: bool,
    },
}

impl Fetch {
    /// The whole file of `media` (play, download, full view).
    pub fn full(media: &Media) -> Self {
        match &media.source_file {
            Some(keys) => Self::Decrypted {
                mxc: media.source.clone(),
                keys: keys.clone(),
                mimetype: media.mimetype.clone(),
                preview: false,
            },
            None => Self::Full(media.source.clone()),
        }
    }

    /// What shows `media` in a box of `width` × `height`: a thumbnail (the server's, or for
    /// encrypted media the sender's `thumbnail_file`), and what to try if it fails: the
    /// file itself, size-limited.
    pub fn preview(media: &Media, width: u32, height: u32) -> (Self, Option<Self>) {
        let whole = match &media.source_file {
            Some(keys) => Self::Decrypted {
                mxc: media.source.clone(),
                keys: keys.clone(),
                mimetype: media.mimetype.clone(),
                preview: true,
            },
            None => Self::Preview(media.source.clone()),
        };
        if media.source_file.is_none() {
            return (
                Self::Thumbnail(media.source.clone(), width, height),
                Some(whole),
            );
        }
        // The server can't thumbnail ciphertext: the sender's thumbnail, else the file.
        match Self::poster(media, width, height) {
            Some(thumbnail) => (thumbnail, Some(whole)),
            None => (whole, None),
        }
    }

    /// The sender's thumbnail of `media` (a video's poster), if it has one.
    pub fn poster(media: &Media, width: u32, height: u32) -> Option<Self> {
        let thumbnail = media.thumbnail.clone()?;
        Some(match (&media.source_file, &media.thumbnail_file) {
            (_, Some(keys)) => Self::Decrypted {
                mxc: thumbnail,
                keys: keys.clone(),
                mimetype: None,
                preview: true,
            },
            // Encrypted media never names a thumbnail in the clear (see `Media`).
            (Some(_), None) => return None,
            (None, None) => Self::Thumbnail(thumbnail, width, height),
        })
    }
}

/// The largest file fetched without anyone asking for it.
pub const PREVIEW_MAX_BYTES: u64 = 20 * 1024 * 1024;

enum Failure {
    Cancelled,
    Failed(String),
}

impl Failure {
    /// An error as the upload row shows it.
    fn of(error: impl ToString) -> Self {
        Self::Failed(error.to_string())
    }
}

impl UploadEntry {
    /// A progress callback that moves this entry's bar.
    fn show_progress(&self) -> impl FnMut(f64) + 'static {
        let progress = self.progress.clone();
        move |fraction| progress.set((fraction * 100.0).floor().clamp(0.0, 100.0) as u8)
    }
}

impl ClientHandle {
    /// Why `file` can't be sent, said before uploading (over the server's size limit).
    pub fn file_problem(&self, file: &LocalFile) -> Option<String> {
        media::too_large(file.name(), file.size(), self.upload_limit.get_untracked())
    }

    /// Uploads and sends `file` in `room_id`, with `caption` as its text.
    pub fn send_file(&self, room_id: OwnedRoomId, file: LocalFile, caption: Option<String>) {
        self.start_upload(Some(room_id), file, Purpose::Message(caption));
    }

    /// Uploads `file` and makes it the picture of `room_id`, or ours for `None`: the same
    /// path as attachments, so it shows progress and can be retried.
    pub fn set_avatar(&self, room_id: Option<OwnedRoomId>, file: LocalFile) {
        self.start_upload(room_id, file, Purpose::Avatar);
    }

    fn start_upload(&self, room_id: Option<OwnedRoomId>, file: LocalFile, purpose: Purpose) {
        let entry = UploadEntry {
            id: 0,
            room_id,
            filename: file.name().to_owned(),
            progress: ArcRwSignal::new(0),
            error: ArcRwSignal::new(None),
        };
        let Some(id) = self.media.try_update_value(|state| {
            state.next_id += 1;
            state.jobs.insert(
                state.next_id,
                Job {
                    file,
                    purpose,
                    running: None,
                },
            );
            state.next_id
        }) else {
            return;
        };
        self.uploads
            .update(|uploads| uploads.push(UploadEntry { id, ..entry }));
        self.run_upload(id);
    }

    /// Uploads for `room_id` (or our avatar, for `None`), oldest first.
    pub fn uploads(&self, room_id: Option<&RoomId>) -> Vec<UploadEntry> {
        self.uploads.with(|uploads| {
            uploads
                .iter()
                .filter(|u| u.room_id.as_deref() == room_id)
                .cloned()
                .collect()
        })
    }

    /// Stops an upload (or dismisses a failed one).
    pub fn cancel_upload(&self, id: u64) {
        self.media
            .update_value(|state| drop(state.jobs.remove(&id)));
        self.uploads
            .update(|uploads| uploads.retain(|u| u.id != id));
    }

    /// Starts a failed upload again.
    pub fn retry_upload(&self, id: u64) {
        self.run_upload(id);
    }

    fn entry(&self, id: u64) -> Option<UploadEntry> {
        self.uploads
            .with_untracked(|uploads| uploads.iter().find(|u| u.id == id).cloned())
    }

    fn run_upload(&self, id: u64) {
        let handle = *self;
        let Some(entry) = self.entry(id) else { return };
        let Some((file, purpose)) = self.media.with_value(|state| {
            state
                .jobs
                .get(&id)
                .map(|job| (job.file.clone(), job.purpose.clone()))
        }) else {
            return;
        };
        entry.error.set(None);
        entry.progress.set(0);
        spawn_local(async move {
            let result = match purpose {
                Purpose::Message(caption) => {
                    handle.upload_and_send(id, &entry, file, caption).await
                }
                Purpose::Avatar => handle.upload_avatar(id, &entry, file).await,
            };
            match result {
                Ok(()) | Err(Failure::Cancelled) => {}
                Err(Failure::Failed(message)) => {
                    if handle.entry(id).is_some() {
                        entry.error.set(Some(message));
                    }
                }
            }
        });
    }

    async fn upload_and_send(
        &self,
        id: u64,
        entry: &UploadEntry,
        file: LocalFile,
        caption: Option<String>,
    ) -> Result<(), Failure> {
        let mimetype = file.mimetype();
        let mut kind = MediaKind::for_mimetype(&mimetype);
        let facts = match probe::probe(&file, kind).await {
            Some(facts) => facts,
            None => {
                // The browser cannot read it as what its name says: send it as a file.
                kind = MediaKind::File;
                Facts::default()
            }
        };
        let mut thumbnail = None;
        if let Some(thumb) = &facts.thumbnail {
            let worth = kind != MediaKind::Image
                || media::thumbnail_worth_uploading(&mimetype, file.size(), thumb.file.size());
            if worth {
                let (url, encryption) = self
                    .upload(id, entry.room_id.as_deref(), &thumb.file, |_| {})
                    .await?;
                thumbnail = Some(ThumbnailDraft {
                    url,
                    encryption,
                    mimetype: thumb.file.mimetype(),
                    size: thumb.file.size(),
                    width: thumb.width,
                    height: thumb.height,
                });
            }
        }
        let (url, encryption) = self
            .upload(id, entry.room_id.as_deref(), &file, entry.show_progress())
            .await?;
        let draft = MediaDraft {
            kind,
            url,
            encryption,
            filename: file.name().to_owned(),
            caption,
            mimetype: if mimetype.is_empty() {
                "application/octet-stream".into()
            } else {
                mimetype
            },
            size: file.size(),
            width: facts.width,
            height: facts.height,
            duration_ms: facts.duration_ms,
            thumbnail,
            blurhash: facts.blurhash,
        };
        let txn_id = clock::new_txn_id();
        let Some(room_id) = entry.room_id.clone() else {
            return Ok(());
        };
        // From here the message has a local echo with its own "Retry"; if it cannot even be
        // queued (we left the room), the upload row says so instead of vanishing.
        let request = self
            .update_engine(|engine| {
                engine.send_media(&room_id, &draft, txn_id.clone(), clock::now())
            })
            .map_err(Failure::of)?
            .map_err(Failure::of)?;
        self.cancel_upload(id);
        match request {
            weft_client::engine::Outgoing::Now(request) => {
                self.spawn_send(room_id, txn_id, request)
            }
            weft_client::engine::Outgoing::Queued => self.pump_crypto(),
        }
        Ok(())
    }

    async fn upload_avatar(
        &self,
        id: u64,
        entry: &UploadEntry,
        file: LocalFile,
    ) -> Result<(), Failure> {
        if MediaKind::for_mimetype(&file.mimetype()) != MediaKind::Image {
            return Err(Failure::Failed(
                "Pick a PNG, JPEG, GIF or WebP image".into(),
            ));
        }
        let (url, _) = self.upload(id, None, &file, entry.show_progress()).await?;
        let request = self
            .with_engine(|engine| match &entry.room_id {
                Some(room_id) => engine.set_room_avatar_request(room_id, &url),
                None => engine.avatar_request(&url),
            })
            .map_err(Failure::of)?
            .map_err(Failure::of)?;
        let response = self.send(request).await.map_err(Failure::of)?;
        weft_client::messaging::parse_empty(as_borrowed(&response)).map_err(Failure::of)?;
        self.cancel_upload(id);
        Ok(())
    }

    /// Uploads one file of job `id`; the job keeps the request so that cancelling aborts it.
    /// A file for a message to an encrypted `room` is encrypted first (each file with its
    /// own key) and its keys returned with the location.
    async fn upload(
        &self,
        id: u64,
        room: Option<&RoomId>,
        file: &LocalFile,
        on_progress: impl FnMut(f64) + 'static,
    ) -> Result<(Mxc, Option<EncryptionInfo>), Failure> {
        let encrypt = room.is_some_and(|room| {
            self.with_engine(|engine| engine.files_need_encryption(room))
                .unwrap_or(true)
        });
        let (file, keys) = if encrypt {
            let (ciphertext, keys) = file_crypto::encrypt(file)
                .await
                .map_err(|_| Failure::Failed("The browser could not encrypt the file".into()))?;
            (ciphertext, Some(keys))
        } else {
            (file.clone(), None)
        };
        let request = self
            .with_engine(|engine| match room {
                Some(room) => engine.message_upload_request(
                    room,
                    &file.mimetype(),
                    file.name(),
                    keys.is_some(),
                ),
                None => media::upload_request(engine.session(), &file.mimetype(), file.name()),
            })
            .map_err(Failure::of)?
            .map_err(Failure::of)?;
        let upload = Upload::start(&request, &file, on_progress)
            .map_err(|_| Failure::Failed("The browser refused to send the file".into()))?;
        let outcome = upload.outcome();
        let started = self.media.try_update_value(|state| {
            state
                .jobs
                .get_mut(&id)
                .map(|job| job.running = Some(upload))
                .is_some()
        });
        if started != Some(true) {
            return Err(Failure::Cancelled);
        }
        let response = outcome.await;
        let still_wanted = self.media.try_update_value(|state| {
            state
                .jobs
                .get_mut(&id)
                .map(|job| job.running = None)
                .is_some()
        });
        if still_wanted != Some(true) {
            return Err(Failure::Cancelled);
        }
        let homeserver = self
            .with_engine(|engine| engine.session().homeserver.clone())
            .unwrap_or_default();
        let response = response.map_err(|_| {
            Failure::Failed(format!("The upload failed: could not reach {homeserver}"))
        })?;
        let url = media::parse_upload(as_borrowed(&response)).map_err(|error| {
            Failure::Failed(match error {
                ApiError::Server { message, .. } if !message.is_empty() => {
                    format!("The upload failed: {message}")
                }
                other => format!("The upload failed: {other}"),
            })
        })?;
        Ok((url, keys))
    }

    /// A blob URL for media, downloaded with the access token (or from the cache).
    pub async fn media(&self, fetch: Fetch) -> Result<Rc<ObjectUrl>, String> {
        let request = self
            .with_engine(|engine| match &fetch {
                Fetch::Thumbnail(mxc, w, h) => {
                    media::thumbnail_request(engine.session(), mxc, *w, *h)
                }
                Fetch::Full(mxc) | Fetch::Preview(mxc) | Fetch::Decrypted { mxc, .. } => {
                    media::download_request(engine.session(), mxc)
                }
            })
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let mut key = request.uri().to_string();
        if let Fetch::Decrypted { keys, .. } = &fetch {
            // Cached per key as well as location: another event naming the same upload with
            // other keys must not be shown what this one decrypted.
            key = format!("{key}#{}:{}:{:?}", keys.key.k, keys.iv, keys.hashes);
        }
        let cached = self.media.try_update_value(|state| {
            let at = state.cache.iter().position(|(k, _)| *k == key)?;
            let hit = state.cache.remove(at);
            state.cache.push(hit.clone());
            Some(hit.1)
        });
        if let Some(Some(url)) = cached {
            return Ok(url);
        }
        let limit = matches!(
            fetch,
            Fetch::Preview(_) | Fetch::Decrypted { preview: true, .. }
        )
        .then_some(PREVIEW_MAX_BYTES);
        let url = match &fetch {
            Fetch::Decrypted { keys, mimetype, .. } => {
                file_crypto::fetch_decrypted(request, keys, mimetype.as_deref(), limit).await
            }
            _ => net::fetch_object_url(request, limit)
                .await
                .map_err(FetchFailure::Status),
        };
        let url = Rc::new(url.map_err(|failure| match failure {
            FetchFailure::Undecryptable => "This file could not be decrypted".to_owned(),
            FetchFailure::Status(0) => "Could not load this file".to_owned(),
            FetchFailure::Status(413) => "Too large to preview".to_owned(),
            FetchFailure::Status(404) => "This file is no longer available".to_owned(),
            FetchFailure::Status(status) => format!("Could not load this file (HTTP {status})"),
        })?);
        if url.size() > CACHED_MAX_BYTES {
            return Ok(url);
        }
        self.media.update_value(|state| {
            // Two items showing the same picture may have fetched it at once.
            if state.cache.iter().any(|(k, _)| *k == key) {
                return;
            }
            state.cache.push((key, url.clone()));
            while state.cache.iter().map(|(_, u)| u.size()).sum::<u64>() > CACHE_BYTES {
                state.cache.remove(0);
            }
        });
        Ok(url)
    }

    /// Asks the server for its upload limit, to refuse large files before uploading.
    pub(super) fn fetch_upload_limit(&self) {
        let handle = *self;
        spawn_local(async move {
            let Ok(Ok(request)) =
                handle.with_engine(|engine| media::config_request(engine.session()))
            else {
                return;
            };
            if let Ok(response) = handle.send(request).await
                && let Ok(limit) = media::parse_config(as_borrowed(&response))
            {
                handle.upload_limit.set(limit);
            }
        });
    }

    /// Drops every upload and cached blob URL (on sign-out).
    pub(super) fn clear_media(&self) {
        // Upload IDs keep counting: a task of the old session still probing a file must
        // never find a new job under its ID.
        self.media.update_value(|state| {
            state.jobs.clear();
            state.cache.clear();
        });
        self.uploads.set(Vec::new());
        self.upload_limit.set(None);
    }
}

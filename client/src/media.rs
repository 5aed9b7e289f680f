//! Media messages and the content repository.
//!
//! What an `m.image`, `m.video`, `m.audio` or `m.file` event carries ([`Media`]), what we
//! send after an upload ([`MediaDraft`]), the requests that upload and fetch the bytes (all
//! downloads use the authenticated `/_matrix/client/v1/media` endpoints, so the browser layer
//! fetches with the access token — no service worker), and the words the UI shows for sizes,
//! durations and limits.
//!
//! In an encrypted room the file (and its thumbnail) is encrypted before upload and the
//! event carries `file` / `info.thumbnail_file` (an [`EncryptedFile`]) instead of `url` /
//! `info.thumbnail_url`; [`Media`] and [`MediaDraft`] keep the keys beside the location.

use std::{
    fmt,
    hash::{Hash, Hasher},
};

use ruma::{
    ServerName,
    api::client::{
        authenticated_media::{get_content, get_content_thumbnail, get_media_config},
        media::create_content,
    },
};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::{
    ApiError, HttpRequest, HttpResponse, Session,
    crypto::attachment::{EncryptedFile, EncryptionInfo},
    endpoint::{self, parse},
    requests::target,
};

/// An `mxc://server/id` content URI, validated: the server name by the spec's grammar, the
/// media ID to `A-Z a-z 0-9 _ -` (anything else could walk a path).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Mxc {
    pub server_name: String,
    pub media_id: String,
}

impl Mxc {
    /// Parses `mxc://server/id`; `None` for anything else.
    pub fn parse(uri: &str) -> Option<Self> {
        let (server_name, media_id) = uri.strip_prefix("mxc://")?.split_once('/')?;
        let id_ok = !media_id.is_empty()
            && media_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        (id_ok && <&ServerName>::try_from(server_name).is_ok()).then(|| Self {
            server_name: server_name.to_owned(),
            media_id: media_id.to_owned(),
        })
    }
}

impl fmt::Display for Mxc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mxc://{}/{}", self.server_name, self.media_id)
    }
}

/// How a media message is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MediaKind {
    Image,
    Video,
    Audio,
    File,
}

impl MediaKind {
    /// The kind for a `msgtype`, if it is a media one.
    pub fn from_msgtype(msgtype: &str) -> Option<Self> {
        Some(match msgtype {
            "m.image" => Self::Image,
            "m.video" => Self::Video,
            "m.audio" => Self::Audio,
            "m.file" => Self::File,
            _ => return None,
        })
    }

    pub fn msgtype(self) -> &'static str {
        match self {
            Self::Image => "m.image",
            Self::Video => "m.video",
            Self::Audio => "m.audio",
            Self::File => "m.file",
        }
    }

    /// How to send a file of type `mimetype`: browsers show these image, video and audio
    /// types themselves; everything else (SVG included, which can carry script) is a file.
    pub fn for_mimetype(mimetype: &str) -> Self {
        let mimetype = mimetype.split(';').next().unwrap_or_default().trim();
        match mimetype {
            "image/png" | "image/jpeg" | "image/gif" | "image/webp" | "image/avif" => Self::Image,
            "video/mp4" | "video/webm" | "video/ogg" | "video/quicktime" => Self::Video,
            "audio/mpeg" | "audio/mp4" | "audio/x-m4a" | "audio/m4a" | "audio/aac"
            | "audio/ogg" | "audio/webm" | "audio/wav" | "audio/x-wav" | "audio/wave"
            | "audio/flac" | "audio/opus" => Self::Audio,
            _ => Self::File,
        }
    }
}

/// The media of a received (or locally echoed) message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Media {
    pub kind: MediaKind,
    pub source: Mxc,
    /// How to decrypt `source`, for a file sent to an encrypted room (`content.file`): the
    /// download is then ciphertext, and no server thumbnail of it exists.
    pub source_file: Option<EncryptionInfo>,
    /// The file's name (the event's `body` unless a `filename` says otherwise).
    pub filename: String,
    /// Text sent with the file (MSC2530: `body` when it differs from `filename`).
    pub caption: Option<String>,
    pub mimetype: Option<String>,
    pub size: Option<u64>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<u64>,
    pub thumbnail: Option<Mxc>,
    /// How to decrypt `thumbnail` (`info.thumbnail_file`).
    pub thumbnail_file: Option<EncryptionInfo>,
    pub blurhash: Option<String>,
}

// By hand because `EncryptionInfo` has no `Hash` (timeline items are hashed): the keys are
// left out, which keeps equal values hashing equal.
impl Hash for Media {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let Self {
            kind,
            source,
            source_file: _,
            filename,
            caption,
            mimetype,
            size,
            width,
            height,
            duration_ms,
            thumbnail,
            thumbnail_file: _,
            blurhash,
        } = self;
        (kind, source, filename, caption, mimetype, size).hash(state);
        (width, height, duration_ms, thumbnail, blurhash).hash(state);
    }
}

impl Media {
    /// Whether the file is encrypted (so the server can't make thumbnails of it).
    pub fn is_encrypted(&self) -> bool {
        self.source_file.is_some()
    }
}

/// An encrypted file's location and keys, if `raw` is a well-formed `EncryptedFile`.
fn encrypted_file(raw: &RawValue) -> Option<(Mxc, EncryptionInfo)> {
    let file: EncryptedFile = crate::event::parse_json(raw.get()).ok()?;
    Some((Mxc::parse(file.url.as_str())?, file.info))
}

/// `info` of a media message. Parsed apart from the event (see [`Media::from_content`]) so
/// that a sender's odd `info` costs only the details, never the message.
#[derive(Debug, Default, Deserialize)]
struct InfoIn {
    mimetype: Option<String>,
    size: Option<u64>,
    w: Option<u32>,
    h: Option<u32>,
    duration: Option<u64>,
    thumbnail_url: Option<String>,
    /// Raw, so that a thumbnail we can't decrypt costs only the thumbnail.
    thumbnail_file: Option<Box<RawValue>>,
    #[serde(rename = "xyz.amorgan.blurhash")]
    blurhash: Option<String>,
}

impl Media {
    /// The media of an `m.room.message`, if it is a media message with a valid `url`, or
    /// (encrypted) a well-formed `file`, which wins when both are present.
    pub(crate) fn from_content(
        msgtype: Option<&str>,
        body: &str,
        url: Option<&str>,
        file: Option<&RawValue>,
        filename: Option<&str>,
        info: Option<&RawValue>,
    ) -> Option<Self> {
        let kind = MediaKind::from_msgtype(msgtype?)?;
        let (source, source_file) = match file.and_then(encrypted_file) {
            Some((mxc, keys)) => (mxc, Some(keys)),
            None => (Mxc::parse(url?)?, None),
        };
        let info: InfoIn = info
            .and_then(|raw| crate::event::parse_json(raw.get()).ok())
            .unwrap_or_default();
        let (filename, caption) = match filename {
            Some(name) if !name.is_empty() && name != body => (
                name.to_owned(),
                Some(body.to_owned()).filter(|b| !b.is_empty()),
            ),
            _ => (body.to_owned(), None),
        };
        let (thumbnail, thumbnail_file) =
            match info.thumbnail_file.as_deref().and_then(encrypted_file) {
                Some((mxc, keys)) => (Some(mxc), Some(keys)),
                // An encrypted file's thumbnail must be encrypted too: a plaintext one beside it
                // would be a server-readable copy no honest client makes.
                None if source_file.is_some() => (None, None),
                None => (info.thumbnail_url.as_deref().and_then(Mxc::parse), None),
            };
        Some(Self {
            kind,
            source,
            source_file,
            filename,
            caption,
            mimetype: info.mimetype,
            size: info.size,
            width: info.w.filter(|w| *w > 0),
            height: info.h.filter(|h| *h > 0),
            duration_ms: info.duration,
            thumbnail,
            thumbnail_file,
            blurhash: info.blurhash.filter(|hash| hash.len() <= 200),
        })
    }
}

/// An uploaded thumbnail, for `info.thumbnail_url` (or `info.thumbnail_file`) and
/// `info.thumbnail_info`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThumbnailDraft {
    pub url: Mxc,
    /// The keys, when `url` holds the thumbnail encrypted.
    pub encryption: Option<EncryptionInfo>,
    /// The thumbnail's own type and size (of the plaintext, not the upload).
    pub mimetype: String,
    pub size: u64,
    pub width: u32,
    pub height: u32,
}

/// A media message to send once its file is uploaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaDraft {
    pub kind: MediaKind,
    pub url: Mxc,
    /// The keys, when `url` holds the file encrypted (for an encrypted room); `mimetype`
    /// and `size` stay those of the plaintext.
    pub encryption: Option<EncryptionInfo>,
    pub filename: String,
    pub caption: Option<String>,
    pub mimetype: String,
    pub size: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<u64>,
    pub thumbnail: Option<ThumbnailDraft>,
    pub blurhash: Option<String>,
}

impl MediaDraft {
    /// How the local echo shows it.
    pub(crate) fn to_media(&self) -> Media {
        Media {
            kind: self.kind,
            source: self.url.clone(),
            source_file: self.encryption.clone(),
            filename: self.filename.clone(),
            caption: self.caption.clone(),
            mimetype: Some(self.mimetype.clone()),
            size: Some(self.size),
            width: self.width,
            height: self.height,
            duration_ms: self.duration_ms,
            thumbnail: self.thumbnail.as_ref().map(|t| t.url.clone()),
            thumbnail_file: self.thumbnail.as_ref().and_then(|t| t.encryption.clone()),
            blurhash: self.blurhash.clone(),
        }
    }

    /// `content.file`, for an encrypted file (which then has no `url`).
    pub(crate) fn file(&self) -> Option<EncryptedFile> {
        Some(
            self.encryption
                .clone()?
                .into_file(self.url.to_string().into()),
        )
    }

    /// `content.url`, for a file in the clear.
    pub(crate) fn plain_url(&self) -> Option<String> {
        self.encryption.is_none().then(|| self.url.to_string())
    }

    /// The `info` object of the event.
    pub(crate) fn info(&self) -> InfoOut {
        InfoOut {
            mimetype: self.mimetype.clone(),
            size: self.size,
            w: self.width,
            h: self.height,
            duration: self.duration_ms,
            thumbnail_url: self
                .thumbnail
                .as_ref()
                .filter(|t| t.encryption.is_none())
                .map(|t| t.url.to_string()),
            thumbnail_file: self
                .thumbnail
                .as_ref()
                .and_then(|t| Some(t.encryption.clone()?.into_file(t.url.to_string().into()))),
            thumbnail_info: self.thumbnail.as_ref().map(|t| ThumbnailInfoOut {
                mimetype: t.mimetype.clone(),
                size: t.size,
                w: t.width,
                h: t.height,
            }),
            blurhash: self.blurhash.clone(),
        }
    }
}

/// `info` of a media message we send.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct InfoOut {
    mimetype: String,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    w: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    h: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thumbnail_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thumbnail_file: Option<EncryptedFile>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thumbnail_info: Option<ThumbnailInfoOut>,
    #[serde(
        rename = "xyz.amorgan.blurhash",
        skip_serializing_if = "Option::is_none"
    )]
    blurhash: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
struct ThumbnailInfoOut {
    mimetype: String,
    size: u64,
    w: u32,
    h: u32,
}

/// `POST /_matrix/media/v3/upload?filename=…`. The body is left empty: the browser layer
/// streams the file itself (with progress) rather than copying it into memory here.
pub fn upload_request(
    session: &Session,
    mimetype: &str,
    filename: &str,
) -> Result<HttpRequest, ApiError> {
    upload_request_with(session, mimetype, &[("filename", filename)])
}

/// The upload of an encrypted file's ciphertext: `application/octet-stream` and no file
/// name, so the server learns neither (as Element does).
pub fn encrypted_upload_request(session: &Session) -> Result<HttpRequest, ApiError> {
    upload_request_with(session, "application/octet-stream", &[])
}

fn upload_request_with(
    session: &Session,
    mimetype: &str,
    query: &[(&str, &str)],
) -> Result<HttpRequest, ApiError> {
    let url = endpoint::url::<create_content::v3::Request>(&session.homeserver, &[], query)?;
    let mimetype = if mimetype.is_empty() {
        "application/octet-stream"
    } else {
        mimetype
    };
    http::Request::builder()
        .method(http::Method::POST)
        .uri(url)
        .header(http::header::CONTENT_TYPE, mimetype)
        .header(
            http::header::AUTHORIZATION,
            format!("Bearer {}", session.access_token),
        )
        .body(Vec::new())
        .map_err(|error| ApiError::InvalidRequest(error.to_string()))
}

#[derive(Deserialize)]
struct UploadResponse {
    content_uri: String,
}

/// The content URI of an upload.
pub fn parse_upload(response: HttpResponse<'_>) -> Result<Mxc, ApiError> {
    let body: UploadResponse = parse(response)?;
    Mxc::parse(&body.content_uri)
        .ok_or_else(|| ApiError::Malformed(format!("not a content URI: {}", body.content_uri)))
}

/// The whole file (authenticated download).
pub fn download_request(session: &Session, mxc: &Mxc) -> Result<HttpRequest, ApiError> {
    endpoint::request::<get_content::v1::Request>(
        target(session),
        &[&mxc.server_name, &mxc.media_id],
        &[],
        None,
    )
}

/// A thumbnail that fits `width` × `height` (scaled, never cropped).
pub fn thumbnail_request(
    session: &Session,
    mxc: &Mxc,
    width: u32,
    height: u32,
) -> Result<HttpRequest, ApiError> {
    endpoint::request::<get_content_thumbnail::v1::Request>(
        target(session),
        &[&mxc.server_name, &mxc.media_id],
        &[
            ("width", &width.to_string()),
            ("height", &height.to_string()),
            ("method", "scale"),
            ("animated", "true"),
        ],
        None,
    )
}

/// `GET /_matrix/client/v1/media/config`.
pub fn config_request(session: &Session) -> Result<HttpRequest, ApiError> {
    endpoint::request::<get_media_config::v1::Request>(target(session), &[], &[], None)
}

#[derive(Deserialize)]
struct ConfigResponse {
    #[serde(rename = "m.upload.size")]
    upload_size: Option<u64>,
}

/// The largest upload the server accepts, if it says.
pub fn parse_config(response: HttpResponse<'_>) -> Result<Option<u64>, ApiError> {
    parse::<ConfigResponse>(response).map(|config| config.upload_size)
}

/// A size in words: "812 bytes", "4.2 KB", "5 MB" (powers of 1024, as Element shows them).
/// Integer arithmetic only: float formatting would cost the browser bundle ~10 KB.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    // u64 only (u128 division and formatting would add ~2 KB to the bundle), arranged so
    // nothing overflows: `divisor` stays at most 1024^4.
    let mut unit = 0;
    let mut divisor: u64 = 1024;
    // Rounded to tenths, a value just under the next unit reads as that unit ("1 MB"):
    // bytes * 20 >= divisor * 20479.
    while bytes >= (divisor * 20479).div_ceil(20) && unit < UNITS.len() - 1 {
        divisor *= 1024;
        unit += 1;
    }
    // (bytes * 10 + divisor / 2) / divisor, split so bytes * 10 cannot overflow.
    let tenths = bytes / divisor * 10 + (bytes % divisor * 10 + divisor / 2) / divisor;
    let (whole, fraction) = (tenths / 10, tenths % 10);
    if fraction == 0 {
        format!("{whole} {}", UNITS[unit])
    } else {
        format!("{whole}.{fraction} {}", UNITS[unit])
    }
}

/// A duration as a player shows it: "0:05", "3:12", "1:02:03".
pub fn format_duration(ms: u64) -> String {
    let seconds = ms / 1000;
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// Why a file can't be sent, said before any byte is uploaded.
pub fn too_large(filename: &str, size: u64, limit: Option<u64>) -> Option<String> {
    let limit = limit.filter(|limit| size > *limit)?;
    Some(format!(
        "“{filename}” is {}; this server accepts files up to {}.",
        format_size(size),
        format_size(limit)
    ))
}

/// The size of a thumbnail of a `width` × `height` image that fits 800 × 600 (Element's
/// size), keeping the aspect ratio; `None` when the image already fits.
pub fn thumbnail_size(width: u32, height: u32) -> Option<(u32, u32)> {
    const MAX: (f64, f64) = (800.0, 600.0);
    if width == 0 || height == 0 || (width <= 800 && height <= 600) {
        return None;
    }
    let scale = (MAX.0 / f64::from(width)).min(MAX.1 / f64::from(height));
    let scaled = |side: u32| ((f64::from(side) * scale).round() as u32).max(1);
    Some((scaled(width), scaled(height)))
}

/// Whether a thumbnail is worth uploading next to its image (Element's rule): not for small
/// images, nor when it saves little; always for types not every client can show.
pub fn thumbnail_worth_uploading(mimetype: &str, original: u64, thumbnail: u64) -> bool {
    if matches!(mimetype, "image/webp" | "image/avif") {
        return true;
    }
    if original <= 32 * 1024 {
        return false;
    }
    let saving = original.saturating_sub(thumbnail);
    saving > 64 * 1024 || saving * 10 > original
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).unwrap()
    }

    #[test]
    fn content_uris_are_validated() {
        let mxc = Mxc::parse("mxc://example.org:8448/AbC_12-x").unwrap();
        assert_eq!(
            (mxc.server_name.as_str(), mxc.media_id.as_str()),
            ("example.org:8448", "AbC_12-x")
        );
        assert_eq!(mxc.to_string(), "mxc://example.org:8448/AbC_12-x");
        for bad in [
            "mxc://example.org/../etc",
            "mxc://example.org/",
            "http://example.org/abc",
            "mxc://exa mple/abc",
            "mxc://example.org/a/b",
        ] {
            assert_eq!(Mxc::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn media_messages_read_info_and_captions() {
        let info = raw(r#"{"mimetype":"image/png","size":1234,"w":640,"h":480,
            "thumbnail_url":"mxc://hs/thumb","xyz.amorgan.blurhash":"LEHV6nWB2yk8pyo0adR*.7kCMdnj"}"#);
        let media = Media::from_content(
            Some("m.image"),
            "cat.png",
            Some("mxc://hs/abc"),
            None,
            None,
            Some(&info),
        )
        .unwrap();
        assert_eq!(media.kind, MediaKind::Image);
        assert_eq!(media.filename, "cat.png");
        assert_eq!(media.caption, None);
        assert_eq!(
            (media.width, media.height, media.size),
            (Some(640), Some(480), Some(1234))
        );
        assert_eq!(media.thumbnail, Mxc::parse("mxc://hs/thumb"));
        assert!(media.blurhash.is_some());

        let captioned = Media::from_content(
            Some("m.file"),
            "the report",
            Some("mxc://hs/abc"),
            None,
            Some("q3.pdf"),
            None,
        )
        .unwrap();
        assert_eq!(
            (captioned.filename.as_str(), captioned.caption.as_deref()),
            ("q3.pdf", Some("the report"))
        );
        let same = Media::from_content(
            Some("m.file"),
            "q3.pdf",
            Some("mxc://hs/abc"),
            None,
            Some("q3.pdf"),
            None,
        )
        .unwrap();
        assert_eq!(same.caption, None);
    }

    #[test]
    fn odd_media_messages_degrade_instead_of_failing() {
        // A string where a number belongs costs the details, not the message.
        let info = raw(r#"{"mimetype":"video/mp4","size":"big","duration":5000}"#);
        let media = Media::from_content(
            Some("m.video"),
            "clip.mp4",
            Some("mxc://hs/v"),
            None,
            None,
            Some(&info),
        )
        .unwrap();
        assert_eq!((media.size, media.duration_ms), (None, None));
        assert_eq!(
            Media::from_content(
                Some("m.image"),
                "x",
                Some("https://evil/x.png"),
                None,
                None,
                None
            ),
            None
        );
        assert_eq!(
            Media::from_content(Some("m.image"), "x", None, None, None, None),
            None
        );
        assert_eq!(
            Media::from_content(Some("m.text"), "x", Some("mxc://hs/a"), None, None, None),
            None
        );
    }

    #[test]
    fn drafts_become_spec_info() {
        let draft = MediaDraft {
            kind: MediaKind::Image,
            url: Mxc::parse("mxc://hs/full").unwrap(),
            encryption: None,
            filename: "big.png".into(),
            caption: None,
            mimetype: "image/png".into(),
            size: 5_000_000,
            width: Some(4000),
            height: Some(3000),
            duration_ms: None,
            thumbnail: Some(ThumbnailDraft {
                url: Mxc::parse("mxc://hs/thumb").unwrap(),
                encryption: None,
                mimetype: "image/png".into(),
                size: 90_000,
                width: 800,
                height: 600,
            }),
            blurhash: Some("LEHV6nWB2yk8pyo0adR*.7kCMdnj".into()),
        };
        let info = serde_json::to_value(draft.info()).unwrap();
        assert_eq!(
            info,
            serde_json::json!({"mimetype": "image/png", "size": 5_000_000, "w": 4000, "h": 3000,
                "thumbnail_url": "mxc://hs/thumb",
                "thumbnail_info": {"mimetype": "image/png", "size": 90_000, "w": 800, "h": 600},
                "xyz.amorgan.blurhash": "LEHV6nWB2yk8pyo0adR*.7kCMdnj"})
        );
    }

    /// `file` (and `info.thumbnail_file`) as Element sends them: an `EncryptedFile`.
    fn element_file(url: &str, k: &str) -> String {
        format!(
            r#"{{"url":"{url}","v":"v2","iv":"w+sE15fzSc0AAAAAAAAAAA",
            "key":{{"alg":"A256CTR","ext":true,"k":"{k}","key_ops":["encrypt","decrypt"],"kty":"oct"}},
            "hashes":{{"sha256":"fdSLu/YkRx3Wyh3KQabP3rd6+SFiKg5lsJZQHtkSAYA"}}}}"#
        )
    }

    #[test]
    fn encrypted_media_keeps_its_keys() {
        let file = raw(&element_file(
            "mxc://example.org/FHyPlCeYUSFFxlgbQYZmoEoe",
            "aWF6-32KGYaC3A_FEUCk1Bt0JA37zP0wrStgmdCaW-0",
        ));
        let info = raw(&format!(
            r#"{{"mimetype":"image/jpeg","size":31037,"w":394,"h":398,"xyz.amorgan.blurhash":"LEHV6nWB2yk8pyo0adR*.7kCMdnj",
            "thumbnail_info":{{"mimetype":"image/jpeg","size":1000,"w":100,"h":100}},"thumbnail_file":{}}}"#,
            element_file(
                "mxc://example.org/thumb",
                "c2VjcmV0LXRodW1ibmFpbC1rZXktMzItYnl0ZXMhIQ"
            )
        ));
        let media = Media::from_content(
            Some("m.image"),
            "cat.jpg",
            None,
            Some(&file),
            None,
            Some(&info),
        )
        .unwrap();
        assert!(media.is_encrypted());
        assert_eq!(
            media.source,
            Mxc::parse("mxc://example.org/FHyPlCeYUSFFxlgbQYZmoEoe").unwrap()
        );
        let keys = media.source_file.as_ref().unwrap();
        assert_eq!(keys.key.k, "aWF6-32KGYaC3A_FEUCk1Bt0JA37zP0wrStgmdCaW-0");
        assert_eq!(keys.iv_bytes().unwrap()[8..], [0; 8]);
        assert!(keys.key_bytes().is_ok() && keys.sha256().is_ok());
        assert_eq!(media.thumbnail, Mxc::parse("mxc://example.org/thumb"));
        assert_eq!(
            media.thumbnail_file.as_ref().unwrap().key.k,
            "c2VjcmV0LXRodW1ibmFpbC1rZXktMzItYnl0ZXMhIQ"
        );
        assert_eq!(
            (media.width, media.size, media.mimetype.as_deref()),
            (Some(394), Some(31037), Some("image/jpeg"))
        );
        assert!(media.blurhash.is_some());

        // A plaintext thumbnail beside an encrypted file is not used; a broken
        // `thumbnail_file` costs only the thumbnail.
        for info in [
            r#"{"thumbnail_url":"mxc://hs/plain"}"#,
            r#"{"thumbnail_file":{"url":"mxc://hs/t"},"size":5}"#,
        ] {
            let media = Media::from_content(
                Some("m.image"),
                "x",
                None,
                Some(&file),
                None,
                Some(&raw(info)),
            )
            .unwrap();
            assert_eq!(
                (media.thumbnail, media.thumbnail_file),
                (None, None),
                "{info}"
            );
        }
        // A `file` with a bad URI is no media at all, unless a `url` is there too.
        let bad = raw(&element_file(
            "https://evil/x",
            "aWF6-32KGYaC3A_FEUCk1Bt0JA37zP0wrStgmdCaW-0",
        ));
        assert_eq!(
            Media::from_content(Some("m.image"), "x", None, Some(&bad), None, None),
            None
        );
        let plain = Media::from_content(
            Some("m.image"),
            "x",
            Some("mxc://hs/p"),
            Some(&bad),
            None,
            None,
        )
        .unwrap();
        assert!(!plain.is_encrypted());
    }

    #[test]
    fn encrypted_drafts_send_file_and_thumbnail_file() {
        let (_, keys) = crate::crypto::attachment::encrypt(b"the image");
        let (_, thumb_keys) = crate::crypto::attachment::encrypt(b"the thumbnail");
        let draft = MediaDraft {
            kind: MediaKind::Image,
            url: Mxc::parse("mxc://hs/full").unwrap(),
            encryption: Some(keys.clone()),
            filename: "big.png".into(),
            caption: Some("look".into()),
            mimetype: "image/png".into(),
            size: 5_000_000,
            width: Some(4000),
            height: Some(3000),
            duration_ms: None,
            thumbnail: Some(ThumbnailDraft {
                url: Mxc::parse("mxc://hs/thumb").unwrap(),
                encryption: Some(thumb_keys.clone()),
                mimetype: "image/jpeg".into(),
                size: 90_000,
                width: 800,
                height: 600,
            }),
            blurhash: Some("LEHV6nWB2yk8pyo0adR*.7kCMdnj".into()),
        };
        let content = serde_json::to_value(crate::messaging::MessageOut::media(&draft)).unwrap();
        let file = |url: &str, keys: &EncryptionInfo| {
            serde_json::json!({"url": url, "key": {"kty": "oct", "key_ops": ["encrypt", "decrypt"], "alg": "A256CTR",
                "k": keys.key.k, "ext": true}, "iv": keys.iv, "hashes": {"sha256": keys.hashes["sha256"]}, "v": "v2"})
        };
        assert_eq!(
            content,
            serde_json::json!({"msgtype": "m.image", "body": "look", "filename": "big.png", "m.mentions": {},
                "file": file("mxc://hs/full", &keys),
                "info": {"mimetype": "image/png", "size": 5_000_000, "w": 4000, "h": 3000,
                    "thumbnail_file": file("mxc://hs/thumb", &thumb_keys),
                    "thumbnail_info": {"mimetype": "image/jpeg", "size": 90_000, "w": 800, "h": 600},
                    "xyz.amorgan.blurhash": "LEHV6nWB2yk8pyo0adR*.7kCMdnj"}})
        );
        // What we send reads back as the same media (the local echo and other devices agree).
        let parsed: crate::content::MessageContent = serde_json::from_value(content).unwrap();
        let media = Media::from_content(
            parsed.msgtype.as_deref(),
            "look",
            parsed.url.as_deref(),
            parsed.file.as_deref(),
            parsed.filename.as_deref(),
            parsed.info.as_deref(),
        )
        .unwrap();
        assert_eq!(media, draft.to_media());
    }

    #[test]
    fn requests_use_the_authenticated_endpoints() {
        let session = Session {
            homeserver: "http://hs".into(),
            user_id: ruma::owned_user_id!("@a:hs"),
            device_id: ruma::owned_device_id!("D"),
            access_token: "tok".into(),
        };
        let mxc = Mxc::parse("mxc://other.org/abc").unwrap();
        let download = download_request(&session, &mxc).unwrap();
        assert_eq!(
            download.uri(),
            "http://hs/_matrix/client/v1/media/download/other.org/abc"
        );
        assert_eq!(download.headers()["authorization"], "Bearer tok");
        let thumb = thumbnail_request(&session, &mxc, 800, 600).unwrap();
        assert_eq!(
            thumb.uri(),
            "http://hs/_matrix/client/v1/media/thumbnail/other.org/abc?width=800&height=600&method=scale&animated=true"
        );
        let upload = upload_request(&session, "image/png", "my cat.png").unwrap();
        assert_eq!(
            upload.uri(),
            "http://hs/_matrix/media/v3/upload?filename=my%20cat.png"
        );
        assert_eq!(upload.headers()["content-type"], "image/png");
        assert!(upload.body().is_empty());
        let encrypted = encrypted_upload_request(&session).unwrap();
        assert_eq!(encrypted.uri(), "http://hs/_matrix/media/v3/upload");
        assert_eq!(
            encrypted.headers()["content-type"],
            "application/octet-stream"
        );
        assert_eq!(
            config_request(&session).unwrap().uri(),
            "http://hs/_matrix/client/v1/media/config"
        );
        let response = |body: &'static str| {
            http::Response::builder()
                .status(200)
                .body(body.as_bytes())
                .unwrap()
        };
        assert_eq!(
            parse_upload(response(r#"{"content_uri":"mxc://hs/xyz"}"#)).unwrap(),
            Mxc::parse("mxc://hs/xyz").unwrap()
        );
        assert!(parse_upload(response(r#"{"content_uri":"mxc://hs/../x"}"#)).is_err());
        assert_eq!(
            parse_config(response(r#"{"m.upload.size":1048576}"#)).unwrap(),
            Some(1_048_576)
        );
        assert_eq!(parse_config(response("{}")).unwrap(), None);
    }

    #[test]
    fn words_for_sizes_durations_and_limits() {
        assert_eq!(format_size(812), "812 bytes");
        assert_eq!(format_size(4300), "4.2 KB");
        assert_eq!(format_size(5 * 1024 * 1024), "5 MB");
        assert_eq!(format_size(104_857_600), "100 MB");
        assert_eq!(format_size(1023 * 1024 + 1000), "1 MB");
        assert_eq!(format_size(1023 * 1024), "1023 KB");
        assert_eq!(format_size(u64::MAX), "16777216 TB");
        assert_eq!(format_duration(5_400), "0:05");
        assert_eq!(format_duration(192_000), "3:12");
        assert_eq!(format_duration(3_723_000), "1:02:03");
        assert_eq!(too_large("a.bin", 10, Some(100)), None);
        assert_eq!(too_large("a.bin", 10, None), None);
        assert_eq!(
            too_large("movie.mp4", 120 * 1024 * 1024, Some(100 * 1024 * 1024)).unwrap(),
            "“movie.mp4” is 120 MB; this server accepts files up to 100 MB."
        );
    }

    #[test]
    fn thumbnails_follow_elements_rules() {
        assert_eq!(thumbnail_size(4000, 3000), Some((800, 600)));
        assert_eq!(thumbnail_size(1000, 4000), Some((150, 600)));
        assert_eq!(thumbnail_size(640, 480), None);
        assert!(!thumbnail_worth_uploading("image/png", 30_000, 10_000));
        assert!(thumbnail_worth_uploading("image/png", 5_000_000, 90_000));
        assert!(!thumbnail_worth_uploading("image/png", 200_000, 190_000));
        assert!(thumbnail_worth_uploading("image/webp", 1_000, 900));
        assert_eq!(MediaKind::for_mimetype("image/svg+xml"), MediaKind::File);
        assert_eq!(
            MediaKind::for_mimetype("video/webm;codecs=vp8"),
            MediaKind::Video
        );
        assert_eq!(MediaKind::for_mimetype("audio/wav"), MediaKind::Audio);
        assert_eq!(MediaKind::for_mimetype(""), MediaKind::File);
    }
}
